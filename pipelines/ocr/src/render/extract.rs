//! Image XObjects as image files, for interleaved image-text samples.
//!
//! - `DCTDecode` streams are already JPEG files: they are passed through byte for byte (the
//!   bytes are decoded once to check they are a usable JPEG), so no generation loss is added.
//!   CMYK JPEGs and JPEGs with an inverting `/Decode` are decoded instead, because viewers
//!   other than PDF readers show them with wrong colours.
//! - `FlateDecode`, `LZWDecode`, `RunLengthDecode`, ASCII filters and unfiltered data are
//!   decoded with lopdf; `CCITTFaxDecode`, `JBIG2Decode`, `JPXDecode` (and filter chains ending
//!   in `DCTDecode`) with hayro's decoders. Pixels are converted from DeviceGray/RGB/CMYK,
//!   CalGray/CalRGB, ICCBased (by component count; the profile itself is not applied) and
//!   Indexed over those, at 1/2/4/8/16 bits per component, honouring `/Decode`, then stored as
//!   8-bit greyscale or RGB PNG.
//! - An `/SMask` is *applied* to decoded images by compositing over white, which is how the
//!   image looks on a page: otherwise logos whose transparent parts hold black pixels would
//!   come out as black boxes. It is ignored for passed-through JPEGs (their bytes must stay
//!   untouched). `/Mask` (stencil or colour-key masking) is ignored.
//! - Separation, DeviceN, Lab and Pattern spaces are refused with `unsupported_color_space`.

use image::{ExtendedColorType, GrayImage, ImageFormat};
use lopdf::{Dictionary, Document, Object};

use super::encode::{EncodedImage, png_from_raw};
use super::{MAX_IMAGE_PIXELS, RenderError, guard};

/// Returns image XObject `object` of `doc` as a JPEG (passed through) or PNG (decoded) file.
/// Never panics: decoder panics become [`RenderError::Panic`].
pub fn extract_image(doc: &Document, object: (u32, u16)) -> Result<EncodedImage, RenderError> {
    guard(|| extract(doc, object))
}

/// Decoded samples and how to read them.
struct Pixels {
    width: u32,
    height: u32,
    /// Packed rows, each starting on a byte boundary.
    data: Vec<u8>,
    bpc: u8,
    space: Space,
    /// `/Decode` pairs, one per component; `None` for the default.
    decode: Option<Vec<f32>>,
    /// Alpha channel from the decoder (JPX), 8-bit, one byte per pixel.
    alpha: Option<Vec<u8>>,
}

/// A colour space reduced to what conversion needs.
#[derive(Debug, Clone)]
enum Space {
    Gray,
    Rgb,
    Cmyk,
    /// Base space and `(hival + 1) × base components` palette bytes.
    Indexed(Box<Space>, u32, Vec<u8>),
}

impl Space {
    fn components(&self) -> usize {
        match self {
            Space::Gray | Space::Indexed(..) => 1,
            Space::Rgb => 3,
            Space::Cmyk => 4,
        }
    }
}

fn extract(doc: &Document, id: (u32, u16)) -> Result<EncodedImage, RenderError> {
    let not_image = |reason: String| RenderError::NotAnImage { object: id, reason };
    let obj = doc.get_object(id).map_err(|e| not_image(e.to_string()))?;
    let stream = obj
        .as_stream()
        .map_err(|_| not_image(format!("a {}", obj.enum_variant())))?;
    let dict = &stream.dict;
    match name_of(doc, dict.get(b"Subtype").ok()) {
        Some(b"Image") => {}
        other => {
            let found = other.map_or("no /Subtype".into(), |n| {
                format!("/Subtype /{}", String::from_utf8_lossy(n))
            });
            return Err(not_image(found));
        }
    }
    let filters = filters(doc, dict);
    let is_dct = |f: &Vec<u8>| f == b"DCTDecode";
    if filters.len() == 1
        && is_dct(&filters[0])
        && !bool_of(doc, dict, b"ImageMask")
        && let Some(jpeg) = jpeg_passthrough(doc, dict, &stream.content)?
    {
        return Ok(jpeg);
    }
    let pixels = decode_pixels(doc, id, stream, false)?;
    let (mut data, channels) = to_gray_or_rgb(&pixels)?;
    let mut alpha = pixels.alpha.clone();
    if alpha.is_none()
        && let Ok(Object::Reference(mask_id)) = dict.get(b"SMask")
    {
        alpha = Some(soft_mask(doc, *mask_id, pixels.width, pixels.height)?);
    }
    if let Some(alpha) = alpha {
        composite_on_white(&mut data, channels, &alpha);
    }
    let color = if channels == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    let bytes = png_from_raw(&data, pixels.width, pixels.height, color)?;
    Ok(EncodedImage {
        bytes,
        format: "png",
        width: pixels.width,
        height: pixels.height,
    })
}

/// The JPEG as stored, if it decodes and shows correctly outside a PDF reader; `None` sends
/// it through full decoding instead.
fn jpeg_passthrough(
    doc: &Document,
    dict: &Dictionary,
    bytes: &[u8],
) -> Result<Option<EncodedImage>, RenderError> {
    let img = image::load_from_memory_with_format(bytes, ImageFormat::Jpeg)
        .map_err(|e| RenderError::BadImage(format!("embedded JPEG does not decode: {e}")))?;
    let components = jpeg_components(bytes);
    let inverted =
        numbers(doc, dict.get(b"Decode").ok()).is_some_and(|d| d.len() >= 2 && d[0] > d[1]);
    if components == Some(4) || inverted {
        return Ok(None);
    }
    Ok(Some(EncodedImage {
        bytes: bytes.to_vec(),
        format: "jpeg",
        width: img.width(),
        height: img.height(),
    }))
}

/// Number of colour components from a JPEG's start-of-frame marker.
fn jpeg_components(b: &[u8]) -> Option<u8> {
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            i += 1;
            continue;
        }
        let marker = b[i + 1];
        if marker == 0xFF || marker == 0x01 || (0xD0..=0xD8).contains(&marker) {
            i += if marker == 0xFF { 1 } else { 2 };
            continue;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            return b.get(i + 9).copied();
        }
        i += 2 + len;
    }
    None
}

/// Decodes an image stream to packed samples; `force_gray` reads it as DeviceGray whatever
/// the dictionary says (soft masks are grey by definition; some writers misstate it).
fn decode_pixels(
    doc: &Document,
    id: (u32, u16),
    stream: &lopdf::Stream,
    force_gray: bool,
) -> Result<Pixels, RenderError> {
    let dict = &stream.dict;
    let filters = &filters(doc, dict);
    let width = positive(doc, dict, b"Width")?;
    let height = positive(doc, dict, b"Height")?;
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(RenderError::TooLarge { width, height });
    }
    let image_mask = bool_of(doc, dict, b"ImageMask");
    let bpc = if image_mask {
        1
    } else {
        int_of(doc, dict, b"BitsPerComponent").unwrap_or(8)
    };
    let bpc = u8::try_from(bpc)
        .ok()
        .filter(|b| matches!(b, 1 | 2 | 4 | 8 | 16))
        .ok_or_else(|| RenderError::BadImage(format!("/BitsPerComponent {bpc}")))?;
    let space = match dict.get(b"ColorSpace").ok() {
        _ if image_mask || force_gray => Some(Space::Gray),
        None => None,
        Some(cs) => Some(color_space(doc, cs, 0)?),
    };
    let decode = numbers(doc, dict.get(b"Decode").ok());
    let lopdf_filter = |f: &Vec<u8>| {
        matches!(
            f.as_slice(),
            // Full names only: the abbreviations belong to inline images, not XObjects.
            b"FlateDecode"
                | b"LZWDecode"
                | b"ASCII85Decode"
                | b"ASCIIHexDecode"
                | b"RunLengthDecode"
        )
    };
    if filters.iter().all(lopdf_filter) {
        let space = space.ok_or_else(|| RenderError::BadImage("no /ColorSpace".into()))?;
        let row = (width as usize * space.components() * usize::from(bpc)).div_ceil(8);
        let expected = row * height as usize;
        let mut data = stream
            .decompressed_content_with_limit(expected.saturating_mul(2).saturating_add(1 << 16))
            .map_err(|e| RenderError::BadImage(format!("stream: {e}")))?;
        if data.len() < row {
            return Err(RenderError::BadImage(format!(
                "{} bytes of data for {expected}",
                data.len()
            )));
        }
        // Short data: viewers show the missing rows as zero samples; so do we.
        data.resize(expected, 0);
        return Ok(Pixels {
            width,
            height,
            data,
            bpc,
            space,
            decode,
            alpha: None,
        });
    }
    for f in filters {
        let known = lopdf_filter(f)
            || matches!(
                f.as_slice(),
                b"DCTDecode" | b"CCITTFaxDecode" | b"JBIG2Decode" | b"JPXDecode"
            );
        if !known {
            return Err(RenderError::UnsupportedFilter(
                String::from_utf8_lossy(f).into_owned(),
            ));
        }
    }
    hayro_decode(doc, id, width, height, bpc, space, decode, filters)
}

/// Decodes with hayro's image filters (CCITT, JBIG2, JPX, DCT in a chain). hayro reads whole
/// documents, so the lopdf document is serialised once for this; these filters are rare
/// enough (scans) that the copy does not matter.
#[allow(clippy::too_many_arguments)]
fn hayro_decode(
    doc: &Document,
    id: (u32, u16),
    width: u32,
    height: u32,
    bpc: u8,
    space: Option<Space>,
    decode: Option<Vec<f32>>,
    filters: &[Vec<u8>],
) -> Result<Pixels, RenderError> {
    use hayro::hayro_syntax::Pdf;
    use hayro::hayro_syntax::object::stream::{ImageColorSpace, ImageDecodeParams};
    use hayro::hayro_syntax::object::{ObjectIdentifier, Stream};

    let mut copy = doc.clone();
    let mut bytes = Vec::new();
    copy.save_to(&mut bytes)
        .map_err(|e| RenderError::BadImage(format!("re-serialising the PDF: {e}")))?;
    let pdf = Pdf::new(bytes)
        .map_err(|e| RenderError::BadImage(format!("hayro cannot read the PDF: {e:?}")))?;
    let stream: Stream<'_> = pdf
        .xref()
        .get(ObjectIdentifier::new(id.0, i32::from(id.1)))
        .ok_or_else(|| RenderError::BadImage("hayro cannot find the image stream".into()))?;
    let is_indexed = matches!(space, Some(Space::Indexed(..)));
    let params = ImageDecodeParams {
        is_indexed,
        bpc: Some(bpc),
        num_components: space.as_ref().map(|s| s.components() as u8),
        target_dimension: None,
        width,
        height,
    };
    let result = stream.decoded_image(&params).map_err(|e| {
        let names: Vec<_> = filters
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        RenderError::BadImage(format!("{} decoding failed: {e:?}", names.join("+")))
    })?;
    let mut data = result.data.into_owned();
    let Some(info) = result.image_data else {
        let space = space.ok_or_else(|| RenderError::BadImage("no /ColorSpace".into()))?;
        return Ok(Pixels {
            width,
            height,
            data,
            bpc,
            space,
            decode,
            alpha: None,
        });
    };
    let jpx = filters.last().is_some_and(|f| f == b"JPXDecode");
    let decoded_space = match info.color_space {
        Some(ImageColorSpace::Gray) => Some(Space::Gray),
        Some(ImageColorSpace::Rgb) => Some(Space::Rgb),
        Some(ImageColorSpace::Cmyk) => Some(Space::Cmyk),
        Some(ImageColorSpace::Unknown(n)) => {
            return Err(RenderError::UnsupportedColorSpace(format!(
                "{n}-channel decoded image"
            )));
        }
        None => None,
    };
    // The dictionary's space wins when it describes the decoded samples (an Indexed JPX, a
    // CCITT image in an Indexed space); otherwise the decoder's.
    let space = match (space, decoded_space) {
        (Some(s), Some(d)) if s.components() == d.components() && (is_indexed || !jpx) => s,
        (_, Some(d)) => d,
        (Some(s), None) => s,
        (None, None) => return Err(RenderError::BadImage("no /ColorSpace".into())),
    };
    let (w, h, bpc) = (info.width, info.height, info.bits_per_component);
    let row = (w as usize * space.components() * usize::from(bpc)).div_ceil(8);
    if data.len() < row * h as usize {
        data.resize(row * h as usize, 0);
    }
    // /Decode is ignored for JPX (ISO 32000 8.9.5.2). The CCITT and JBIG2 decoders return
    // 0 = black, 255 = white (BlackIs1 applied), so an inverting /Decode still applies there.
    let decode = if jpx { None } else { decode };
    Ok(Pixels {
        width: w,
        height: h,
        data,
        bpc,
        space,
        decode,
        alpha: info.alpha,
    })
}

/// The `/SMask` image as one alpha byte per pixel of a `width × height` image.
fn soft_mask(
    doc: &Document,
    id: (u32, u16),
    width: u32,
    height: u32,
) -> Result<Vec<u8>, RenderError> {
    let stream = doc
        .get_object(id)
        .and_then(Object::as_stream)
        .map_err(|e| RenderError::BadImage(format!("/SMask: {e}")))?;
    let mask = decode_pixels(doc, id, stream, true)?;
    let (gray, _) = to_gray_or_rgb(&mask)?;
    let img = GrayImage::from_raw(mask.width, mask.height, gray)
        .ok_or_else(|| RenderError::BadImage("/SMask size".into()))?;
    let img = if img.dimensions() == (width, height) {
        img
    } else {
        image::imageops::resize(&img, width, height, image::imageops::FilterType::Triangle)
    };
    Ok(img.into_raw())
}

/// Blends `data` (1 or 3 channels) over white with per-pixel `alpha`.
fn composite_on_white(data: &mut [u8], channels: usize, alpha: &[u8]) {
    for (px, &a) in data.chunks_exact_mut(channels).zip(alpha) {
        let a = u32::from(a);
        for c in px {
            *c = ((u32::from(*c) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
}

/// Unpacks, applies `/Decode` and converts to 8-bit grey (1 channel) or RGB (3 channels).
fn to_gray_or_rgb(p: &Pixels) -> Result<(Vec<u8>, usize), RenderError> {
    let comps = p.space.components();
    let (bpc, data) = if p.bpc == 16 {
        // Keep the high byte of each sample: 8 bits are all an 8-bit output can hold.
        (
            8u8,
            p.data.chunks_exact(2).map(|s| s[0]).collect::<Vec<_>>(),
        )
    } else {
        (p.bpc, p.data.clone())
    };
    let max_code = (1u32 << bpc) - 1;
    // One lookup table per component: sample code → output byte (or palette index).
    let luts: Vec<Vec<u8>> = (0..comps)
        .map(|c| {
            let (d0, d1) = match &p.decode {
                Some(d) if d.len() >= 2 * (c + 1) => (d[2 * c], d[2 * c + 1]),
                _ => match &p.space {
                    Space::Indexed(..) => (0.0, max_code as f32),
                    _ => (0.0, 1.0),
                },
            };
            (0..=max_code)
                .map(|code| {
                    let v = d0 + code as f32 * (d1 - d0) / max_code as f32;
                    match &p.space {
                        Space::Indexed(_, hival, _) => v.round().clamp(0.0, *hival as f32) as u8,
                        _ => (v * 255.0).round().clamp(0.0, 255.0) as u8,
                    }
                })
                .collect()
        })
        .collect();
    let (w, h) = (p.width as usize, p.height as usize);
    let row_bytes = (w * comps * usize::from(bpc)).div_ceil(8);
    let mut samples = Vec::with_capacity(w * h * comps);
    for row in data.chunks(row_bytes).take(h) {
        for i in 0..w * comps {
            let code = if bpc == 8 {
                row.get(i).copied().unwrap_or(0)
            } else {
                let bit = i * usize::from(bpc);
                let byte = row.get(bit / 8).copied().unwrap_or(0);
                (byte >> (8 - usize::from(bpc) - bit % 8)) & (max_code as u8)
            };
            samples.push(luts[i % comps][usize::from(code)]);
        }
    }
    samples.resize(w * h * comps, 0);
    Ok(match &p.space {
        Space::Gray => (samples, 1),
        Space::Rgb => (samples, 3),
        Space::Cmyk => (cmyk_to_rgb(&samples), 3),
        Space::Indexed(base, _, palette) => {
            let bc = base.components();
            let mut expanded = Vec::with_capacity(samples.len() * bc);
            for &i in &samples {
                let start = usize::from(i) * bc;
                match palette.get(start..start + bc) {
                    Some(entry) => expanded.extend_from_slice(entry),
                    None => expanded.extend(std::iter::repeat_n(0, bc)),
                }
            }
            match base.as_ref() {
                Space::Gray => (expanded, 1),
                Space::Rgb => (expanded, 3),
                Space::Cmyk => (cmyk_to_rgb(&expanded), 3),
                Space::Indexed(..) => {
                    return Err(RenderError::BadImage("Indexed over Indexed".into()));
                }
            }
        }
    })
}

/// Naive (uncalibrated) CMYK → RGB: good enough to read text and see pictures.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            let k = 255 - u32::from(p[3]);
            [0, 1, 2].map(|i| ((255 - u32::from(p[i])) * k / 255) as u8)
        })
        .collect()
}

/// Resolves an image colour space object.
fn color_space(doc: &Document, cs: &Object, depth: u8) -> Result<Space, RenderError> {
    let cs = deref(doc, cs);
    let unsupported = |what: &[u8]| {
        RenderError::UnsupportedColorSpace(String::from_utf8_lossy(what).into_owned())
    };
    match cs {
        Object::Name(n) => device_space(n).ok_or_else(|| unsupported(n)),
        Object::Array(a) => {
            let family = a
                .first()
                .and_then(|o| deref(doc, o).as_name().ok())
                .unwrap_or(b"?");
            match family {
                b"ICCBased" => {
                    let n = a
                        .get(1)
                        .and_then(|o| deref(doc, o).as_stream().ok())
                        .and_then(|s| int_of(doc, &s.dict, b"N"))
                        .ok_or_else(|| RenderError::BadImage("ICCBased without /N".into()))?;
                    match n {
                        1 => Ok(Space::Gray),
                        3 => Ok(Space::Rgb),
                        4 => Ok(Space::Cmyk),
                        _ => Err(RenderError::UnsupportedColorSpace(format!(
                            "ICCBased /N {n}"
                        ))),
                    }
                }
                b"Indexed" | b"I" if depth == 0 => {
                    let base = a
                        .get(1)
                        .ok_or_else(|| RenderError::BadImage("Indexed without base".into()))?;
                    let base = color_space(doc, base, depth + 1)?;
                    let hival = a
                        .get(2)
                        .and_then(|o| deref(doc, o).as_i64().ok())
                        .filter(|h| (0..=255).contains(h))
                        .ok_or_else(|| RenderError::BadImage("Indexed hival".into()))?
                        as u32;
                    let lookup = match a.get(3).map(|o| deref(doc, o)) {
                        Some(Object::String(s, _)) => s.clone(),
                        Some(Object::Stream(s)) => s
                            .get_plain_content()
                            .map_err(|e| RenderError::BadImage(format!("Indexed lookup: {e}")))?,
                        _ => return Err(RenderError::BadImage("Indexed lookup table".into())),
                    };
                    Ok(Space::Indexed(Box::new(base), hival, lookup))
                }
                _ => a
                    .first()
                    .map(|o| deref(doc, o))
                    .and_then(|o| device_space(o.as_name().ok()?))
                    .filter(|_| a.len() == 1)
                    .ok_or_else(|| unsupported(family)),
            }
        }
        other => Err(RenderError::UnsupportedColorSpace(
            other.enum_variant().into(),
        )),
    }
}

/// Device and calibrated families with one name.
fn device_space(name: &[u8]) -> Option<Space> {
    match name {
        b"DeviceGray" | b"G" | b"CalGray" => Some(Space::Gray),
        b"DeviceRGB" | b"RGB" | b"CalRGB" => Some(Space::Rgb),
        b"DeviceCMYK" | b"CMYK" => Some(Space::Cmyk),
        _ => None,
    }
}

/// Follows references (bounded, as lopdf does).
fn deref<'a>(doc: &'a Document, o: &'a Object) -> &'a Object {
    doc.dereference(o).map_or(o, |(_, o)| o)
}

fn name_of<'a>(doc: &'a Document, o: Option<&'a Object>) -> Option<&'a [u8]> {
    o.and_then(|o| deref(doc, o).as_name().ok())
}

fn int_of(doc: &Document, dict: &Dictionary, key: &[u8]) -> Option<i64> {
    dict.get(key).ok().and_then(|o| deref(doc, o).as_i64().ok())
}

fn bool_of(doc: &Document, dict: &Dictionary, key: &[u8]) -> bool {
    dict.get(key)
        .ok()
        .and_then(|o| deref(doc, o).as_bool().ok())
        .unwrap_or(false)
}

fn positive(doc: &Document, dict: &Dictionary, key: &[u8]) -> Result<u32, RenderError> {
    int_of(doc, dict, key)
        .and_then(|v| u32::try_from(v).ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| {
            RenderError::BadImage(format!(
                "missing or invalid /{}",
                String::from_utf8_lossy(key)
            ))
        })
}

fn numbers(doc: &Document, o: Option<&Object>) -> Option<Vec<f32>> {
    let a = deref(doc, o?).as_array().ok()?;
    a.iter().map(|v| deref(doc, v).as_float().ok()).collect()
}

/// `/Filter` as a list of names (a single name or an array).
fn filters(doc: &Document, dict: &Dictionary) -> Vec<Vec<u8>> {
    match dict.get(b"Filter").ok().map(|o| deref(doc, o)) {
        Some(Object::Name(n)) => vec![n.clone()],
        Some(Object::Array(a)) => a
            .iter()
            .filter_map(|o| deref(doc, o).as_name().ok().map(<[u8]>::to_vec))
            .collect(),
        _ => Vec::new(),
    }
}
