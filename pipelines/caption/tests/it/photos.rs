//! Real photos for the tests: the bundled skimage photos and, when installed (setup.sh does),
//! the labelme example photos. Distinct scenes only — the grounding fixtures are re-encodes
//! of the same skimage photos and the labelme video frames are near-duplicates of each other,
//! so each scene appears once.

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (name, path) of every distinct real photo available.
pub fn distinct_photos() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for n in [
        "astronaut.jpg",
        "camera.png",
        "chelsea.jpg",
        "coffee.jpg",
        "coins.png",
        "rocket.jpg",
    ] {
        out.push((n.to_string(), repo().join("examples/data/photos").join(n)));
    }
    let lm = Path::new("/usr/share/doc/labelme-examples/examples");
    for rel in [
        "semantic_segmentation/data_dataset_voc/JPEGImages/2011_000003.jpg",
        "semantic_segmentation/data_dataset_voc/JPEGImages/2011_000006.jpg",
        "semantic_segmentation/data_dataset_voc/JPEGImages/2011_000025.jpg",
        "video_annotation/data_dataset_voc/JPEGImages/00000100.jpg",
        "tutorial/apc2016_obj3.jpg",
    ] {
        let p = lm.join(rel);
        if p.is_file() {
            out.push((p.file_name().unwrap().to_string_lossy().into_owned(), p));
        }
    }
    out
}

pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    match format {
        ImageFormat::Jpeg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
            DynamicImage::ImageRgb8(img.to_rgb8())
                .write_with_encoder(enc)
                .unwrap();
        }
        f => img
            .write_to(&mut std::io::Cursor::new(&mut out), f)
            .unwrap(),
    }
    out
}

pub fn jpeg_quality(img: &DynamicImage, q: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q);
    DynamicImage::ImageRgb8(img.to_rgb8())
        .write_with_encoder(enc)
        .unwrap();
    out
}

/// Rotates by `deg` degrees about the centre (bilinear), keeping the size; corners that fall
/// outside take the nearest edge pixel.
pub fn rotate(img: &DynamicImage, deg: f64) -> DynamicImage {
    let src = img.to_rgb8();
    let (w, h) = src.dimensions();
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let (s, c) = deg.to_radians().sin_cos();
    let px = |x: i64, y: i64| {
        *src.get_pixel(
            x.clamp(0, w as i64 - 1) as u32,
            y.clamp(0, h as i64 - 1) as u32,
        )
    };
    let out = RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (f64::from(x) + 0.5 - cx, f64::from(y) + 0.5 - cy);
        let (sx, sy) = (c * dx + s * dy + cx - 0.5, -s * dx + c * dy + cy - 0.5);
        let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
        let (fx, fy) = (sx - sx.floor(), sy - sy.floor());
        let mut v = [0u8; 3];
        for (ch, o) in v.iter_mut().enumerate() {
            let a = f64::from(px(x0, y0)[ch]) * (1.0 - fx) + f64::from(px(x0 + 1, y0)[ch]) * fx;
            let b =
                f64::from(px(x0, y0 + 1)[ch]) * (1.0 - fx) + f64::from(px(x0 + 1, y0 + 1)[ch]) * fx;
            *o = (a * (1.0 - fy) + b * fy).round().clamp(0.0, 255.0) as u8;
        }
        Rgb(v)
    });
    DynamicImage::ImageRgb8(out)
}

/// The named transformations of the near-duplicate test, as encoded files.
pub fn variants(img: &DynamicImage) -> Vec<(&'static str, Vec<u8>)> {
    let (w, h) = (img.width(), img.height());
    let crop = |f: f64| {
        let (cw, ch) = (
            (f64::from(w) * f).round() as u32,
            (f64::from(h) * f).round() as u32,
        );
        img.crop_imm((w - cw) / 2, (h - ch) / 2, cw, ch)
    };
    vec![
        (
            "resize_50",
            encode(
                &img.resize(w / 2, h / 2, image::imageops::FilterType::Triangle),
                ImageFormat::Png,
            ),
        ),
        ("jpeg_q40", jpeg_quality(img, 40)),
        ("crop_5", encode(&crop(0.95), ImageFormat::Png)),
        ("brighter_20", encode(&img.brighten(25), ImageFormat::Png)),
        ("rotate_3", encode(&rotate(img, 3.0), ImageFormat::Png)),
    ]
}
