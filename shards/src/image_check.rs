//! Full image checks: "this image decodes" must mean the whole image, not just its header.
//!
//! The `image` crate's JPEG decoder (zune-jpeg) is lenient: a JPEG cut off mid-scan decodes
//! without error, the missing part filled in grey. PIL refuses such files ("image file is
//! truncated"), and a training sample with half a photo is wrong data, so JPEGs must also end
//! their last scan with an EOI marker.

use crate::Error;
use crate::sample::probe;

/// Decodes `bytes` completely; returns the format name and dimensions.
pub fn check_image(bytes: &[u8]) -> Result<(String, u32, u32), Error> {
    let (format, width, height) = probe(bytes)?;
    if format == "jpeg" && !jpeg_is_complete(bytes) {
        return Err(Error::Image(
            "truncated JPEG: no end-of-image marker after the last scan".into(),
        ));
    }
    image::load_from_memory(bytes).map_err(|e| Error::Image(e.to_string()))?;
    Ok((format, width, height))
}

/// True when an EOI marker (`FF D9`) follows the last start-of-scan (`FF DA`). Inside
/// entropy-coded data `FF` is always stuffed (`FF 00`) or a restart marker, so `FF D9` there
/// can only be the real end; an EXIF thumbnail's EOI comes before the main scan.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |marker: u8| {
        bytes
            .windows(2)
            .rposition(|w| w[0] == 0xFF && w[1] == marker)
    };
    match (last(0xDA), last(0xD9)) {
        (Some(sos), Some(eoi)) => eoi > sos,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        std::fs::read(root.join("examples/data/photos/rocket.jpg")).unwrap()
    }

    #[test]
    fn a_whole_jpeg_passes_and_a_truncated_one_fails() {
        let bytes = photo();
        let (format, w, h) = check_image(&bytes).unwrap();
        assert_eq!((format.as_str(), w, h), ("jpeg", 640, 427));
        for cut in [bytes.len() / 3, bytes.len() - 2] {
            let err = check_image(&bytes[..cut]).unwrap_err().to_string();
            assert!(err.contains("truncated"), "{err}");
        }
    }

    #[test]
    fn non_images_fail() {
        assert!(check_image(b"<html>not an image</html>").is_err());
    }
}
