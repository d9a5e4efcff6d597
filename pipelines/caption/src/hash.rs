//! Perceptual signatures of a decoded image: a 64-bit pHash (DCT of a 16×16 grey thumbnail,
//! low frequencies against their median — the `imagehash.phash` recipe) and a 64-bit dHash
//! (signs of horizontal gradients), both from `image_hasher`, plus a cheap colour feature
//! for clustering when no model is configured.
//!
//! The image is first shrunk to a 64×64 grey thumbnail with `image`'s box-sampling
//! `thumbnail` (one pass over the pixels); hashing then works on 4 K pixels whatever the
//! photo size. The hashes are robust to that step by design (they average far coarser).

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage};
use image_hasher::{HashAlg, Hasher, HasherConfig};

/// Side of the grey thumbnail both hashes start from.
const THUMB: u32 = 64;

/// Number of floats in [`colour_feature`].
pub const COLOUR_FEATURE_DIMS: usize = 4 * 4 * 3 + 6;

/// pHash and dHash of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// 64-bit DCT hash.
    pub phash: u64,
    /// 64-bit gradient hash.
    pub dhash: u64,
}

/// Reusable hashers (their DCT tables are built once).
pub struct Hashers {
    phash: Hasher,
    dhash: Hasher,
}

impl Default for Hashers {
    fn default() -> Self {
        Self::new()
    }
}

impl Hashers {
    /// pHash (8×8 of a 16×16 DCT, median) and dHash (8×8 gradients).
    pub fn new() -> Self {
        Hashers {
            phash: HasherConfig::new()
                .hash_size(8, 8)
                .hash_alg(HashAlg::Median)
                .preproc_dct()
                .resize_filter(FilterType::Triangle)
                .to_hasher(),
            dhash: HasherConfig::new()
                .hash_size(8, 8)
                .hash_alg(HashAlg::Gradient)
                .resize_filter(FilterType::Triangle)
                .to_hasher(),
        }
    }

    /// Both hashes of `img`.
    pub fn signature(&self, img: &DynamicImage) -> Signature {
        self.signature_of_grey(&grey_thumbnail(img))
    }

    /// Both hashes of an already shrunk grey image.
    pub fn signature_of_grey(&self, grey: &GrayImage) -> Signature {
        Signature {
            phash: to_u64(self.phash.hash_image(grey).as_bytes()),
            dhash: to_u64(self.dhash.hash_image(grey).as_bytes()),
        }
    }
}

/// The 64×64 grey thumbnail the hashes start from.
pub fn grey_thumbnail(img: &DynamicImage) -> GrayImage {
    match img {
        DynamicImage::ImageLuma8(g) => image::imageops::thumbnail(g, THUMB, THUMB),
        _ => {
            let rgb = image::imageops::thumbnail(&img.to_rgb8(), THUMB, THUMB);
            DynamicImage::ImageRgb8(rgb).to_luma8()
        }
    }
}

fn to_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// Bits that differ.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// A cheap content feature for k-means without a model: the 4×4 mean-colour layout (RGB in
/// 0–1) and the global mean and standard deviation per channel.
pub fn colour_feature(img: &DynamicImage) -> Vec<f32> {
    let small = image::imageops::thumbnail(&img.to_rgb8(), 32, 32);
    let mut out = Vec::with_capacity(COLOUR_FEATURE_DIMS);
    let (w, h) = small.dimensions();
    for gy in 0..4 {
        for gx in 0..4 {
            let mut sum = [0f64; 3];
            let mut n = 0f64;
            for y in (gy * h / 4)..((gy + 1) * h / 4) {
                for x in (gx * w / 4)..((gx + 1) * w / 4) {
                    let p = small.get_pixel(x, y);
                    for c in 0..3 {
                        sum[c] += f64::from(p[c]);
                    }
                    n += 1.0;
                }
            }
            for s in sum {
                out.push((s / n.max(1.0) / 255.0) as f32);
            }
        }
    }
    let n = f64::from(w * h).max(1.0);
    for c in 0..3 {
        let mean = small.pixels().map(|p| f64::from(p[c])).sum::<f64>() / n;
        let var = small
            .pixels()
            .map(|p| (f64::from(p[c]) - mean).powi(2))
            .sum::<f64>()
            / n;
        out.push((mean / 255.0) as f32);
        out.push((var.sqrt() / 255.0) as f32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_stable_and_differ_between_photos() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/photos");
        let a = image::open(dir.join("astronaut.jpg")).unwrap();
        let b = image::open(dir.join("coffee.jpg")).unwrap();
        let h = Hashers::new();
        assert_eq!(h.signature(&a), h.signature(&a));
        let (sa, sb) = (h.signature(&a), h.signature(&b));
        assert!(hamming(sa.phash, sb.phash) > 16, "{sa:?} {sb:?}");
        // A half-size copy hashes (almost) the same.
        let half = a.resize(a.width() / 2, a.height() / 2, FilterType::Triangle);
        assert!(hamming(sa.phash, h.signature(&half).phash) <= 4);
        assert_eq!(colour_feature(&a).len(), COLOUR_FEATURE_DIMS);
    }
}
