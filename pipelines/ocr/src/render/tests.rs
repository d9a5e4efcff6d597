//! Tests against the bundled samples, with poppler's `pdftoppm` as the reference renderer
//! (poppler-utils is a test dependency of the project; see the set-up script).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::RgbImage;
use lopdf::{Document, Object};

use super::page::output_size;
use super::*;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `pdftoppm` rendering of one page scaled to exactly `w × h`. Annotations are hidden: poppler
/// draws hyperref's link borders (coloured boxes round every link, which print and hayro
/// leave out and which are noise in a training image), and they would dominate the
/// difference on pdfTeX pages.
fn pdftoppm(name: &str, page_index: usize, w: u32, h: u32) -> RgbImage {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p");
    let page = (page_index + 1).to_string();
    let status = Command::new("pdftoppm")
        .args([
            "-png",
            "-singlefile",
            "-hide-annotations",
            "-f",
            &page,
            "-l",
            &page,
            "-scale-to-x",
            &w.to_string(),
            "-scale-to-y",
        ])
        .arg(h.to_string())
        .arg(sample(name))
        .arg(&out)
        .status()
        .expect("pdftoppm not found: install poppler-utils (the set-up script does)");
    assert!(status.success(), "pdftoppm failed on {name} page {page}");
    image::open(dir.path().join("p.png")).unwrap().to_rgb8()
}

/// How far a rendering is from the reference.
#[derive(Debug, Clone, Copy)]
struct Diff {
    /// Mean absolute difference per channel, 0–255, as rendered.
    mad: f64,
    /// Peak signal-to-noise ratio as rendered, dB.
    psnr: f64,
    /// The whole-pixel shift of ours (within ±1 px) that matches the reference best: the two
    /// renderers round glyph origins and image edges differently.
    shift: (i32, i32),
    /// Ink-relative difference of grey levels after that shift: Σ|ours − ref| / Σ(255 − ref).
    /// 0 is identical, 1 is what a blank white page scores; unlike MAD it does not shrink on
    /// pages that are mostly paper.
    rel: f64,
    /// `rel` after 4×4 box-averaging both (≈36 dpi): what is drawn where, ignoring
    /// anti-aliasing and the resampling kernel applied to scanned images.
    rel4: f64,
}

fn compare(a: &RgbImage, b: &RgbImage) -> Diff {
    assert_eq!(a.dimensions(), b.dimensions());
    let (mut abs, mut sq) = (0u64, 0u64);
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = u64::from(x.abs_diff(*y));
        abs += d;
        sq += d * d;
    }
    let n = a.as_raw().len() as f64;
    let mse = sq as f64 / n;
    let psnr = if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    };
    let (la, lb) = (luma(a), luma(b));
    let (w, h) = (a.width() as usize, a.height() as usize);
    // Interior window, so every shift stays inside the image.
    let (cw, ch) = (w - 2, h - 2);
    let window = |l: &[u8], dx: i32, dy: i32| -> Vec<u8> {
        let mut out = Vec::with_capacity(cw * ch);
        for y in 0..ch {
            let row = (y as i32 + 1 + dy) as usize * w;
            let x0 = (1 + dx) as usize;
            out.extend_from_slice(&l[row + x0..row + x0 + cw]);
        }
        out
    };
    let reference = window(&lb, 0, 0);
    let ink: u64 = reference
        .iter()
        .map(|&v| u64::from(255 - v))
        .sum::<u64>()
        .max(1);
    let (mut best, mut shift, mut best_win) = (u64::MAX, (0, 0), Vec::new());
    for dy in -1..=1 {
        for dx in -1..=1 {
            let win = window(&la, dx, dy);
            let d: u64 = win
                .iter()
                .zip(&reference)
                .map(|(x, y)| u64::from(x.abs_diff(*y)))
                .sum();
            if d < best {
                (best, shift, best_win) = (d, (dx, dy), win);
            }
        }
    }
    let (a4, b4) = (box4(&best_win, cw, ch), box4(&reference, cw, ch));
    let ink4: f64 = b4.iter().map(|v| 255.0 - v).sum::<f64>().max(1.0);
    let abs4: f64 = a4.iter().zip(&b4).map(|(x, y)| (x - y).abs()).sum();
    Diff {
        mad: abs as f64 / n,
        psnr,
        shift,
        rel: best as f64 / ink as f64,
        rel4: abs4 / ink4,
    }
}

fn luma(img: &RgbImage) -> Vec<u8> {
    img.pixels()
        .map(|p| ((u16::from(p.0[0]) + u16::from(p.0[1]) + u16::from(p.0[2])) / 3) as u8)
        .collect()
}

/// Means over 4×4 blocks of a `w × h` grey image (partial blocks at the edges dropped).
fn box4(l: &[u8], w: usize, h: usize) -> Vec<f64> {
    let (bw, bh) = (w / 4, h / 4);
    let mut out = vec![0.0; bw * bh];
    for y in 0..bh * 4 {
        for x in 0..bw * 4 {
            out[(y / 4) * bw + x / 4] += f64::from(l[y * w + x]) / 16.0;
        }
    }
    out
}

/// Image XObjects of a document: `(id, width, height, filter names)`.
fn image_objects(doc: &Document) -> Vec<((u32, u16), i64, i64, String)> {
    let mut out = Vec::new();
    for (id, obj) in &doc.objects {
        let Object::Stream(s) = obj else { continue };
        if s.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Image".as_slice()) {
            continue;
        }
        let int = |k: &[u8]| s.dict.get(k).and_then(Object::as_i64).unwrap_or(0);
        let filter = match s.dict.get(b"Filter") {
            Ok(Object::Name(n)) => String::from_utf8_lossy(n).into_owned(),
            Ok(Object::Array(a)) => a
                .iter()
                .filter_map(|o| o.as_name().ok())
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect::<Vec<_>>()
                .join("+"),
            _ => String::new(),
        };
        out.push((*id, int(b"Width"), int(b"Height"), filter));
    }
    out.sort();
    out
}

/// The first image XObject whose filter is `filter` and whose size is `w × h`.
fn find_image(doc: &Document, filter: &str, w: i64, h: i64) -> (u32, u16) {
    image_objects(doc)
        .into_iter()
        .find(|(_, iw, ih, f)| f == filter && *iw == w && *ih == h)
        .unwrap_or_else(|| panic!("no {filter} {w}x{h} image in {:?}", image_objects(doc)))
        .0
}

fn decode(e: &EncodedImage) -> image::DynamicImage {
    let fmt = if e.format == "jpeg" {
        image::ImageFormat::Jpeg
    } else {
        image::ImageFormat::Png
    };
    let img = image::load_from_memory_with_format(&e.bytes, fmt).unwrap();
    assert_eq!((img.width(), img.height()), (e.width, e.height));
    img
}

fn mean_luma(img: &image::DynamicImage) -> f64 {
    let g = img.to_luma8();
    g.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / g.as_raw().len() as f64
}

// ---- sizing ------------------------------------------------------------------------------

#[test]
fn output_size_follows_dpi_inside_the_budget() {
    let opts = RenderOptions::default();
    assert_eq!(output_size(612.0, 792.0, &opts).unwrap(), (1224, 1584));
    assert_eq!(output_size(595.276, 841.89, &opts).unwrap(), (1191, 1684));
    let at72 = RenderOptions { dpi: 72.0, ..opts };
    assert_eq!(output_size(612.0, 792.0, &at72).unwrap(), (612, 792));
}

#[test]
fn output_size_caps_and_raises_pixels_keeping_aspect() {
    let opts = RenderOptions {
        dpi: 1200.0,
        ..RenderOptions::default()
    };
    let (w, h) = output_size(612.0, 792.0, &opts).unwrap();
    assert!(u64::from(w) * u64::from(h) <= opts.max_pixels, "{w}x{h}");
    assert!(
        u64::from(w) * u64::from(h) > opts.max_pixels * 99 / 100,
        "{w}x{h} wastes budget"
    );
    assert!((f64::from(w) / f64::from(h) - 612.0 / 792.0).abs() < 1e-3);

    let (w, h) = output_size(30.0, 20.0, &RenderOptions::default()).unwrap();
    assert!(u64::from(w) * u64::from(h) >= 65_536, "{w}x{h}");
    assert!((f64::from(w) / f64::from(h) - 1.5).abs() < 0.01);

    // A max_pixels above the hard cap is held to MAX_RENDER_PIXELS.
    let huge = RenderOptions {
        dpi: 2400.0,
        max_pixels: u64::MAX,
        min_pixels: 0,
    };
    let (w, h) = output_size(1190.0, 1684.0, &huge).unwrap();
    assert!(u64::from(w) * u64::from(h) <= MAX_RENDER_PIXELS);
    // Sides stay within the rasteriser's u16 range even for a banner-shaped page.
    let (w, h) = output_size(14_400.0, 10.0, &huge).unwrap();
    assert!(w <= u32::from(u16::MAX) && h >= 1, "{w}x{h}");
}

#[test]
fn invalid_options_and_empty_pages_are_errors() {
    let bad = RenderOptions {
        dpi: f32::NAN,
        ..RenderOptions::default()
    };
    assert_eq!(
        output_size(612.0, 792.0, &bad).unwrap_err().reason(),
        "invalid_options"
    );
    let zero = RenderOptions {
        max_pixels: 0,
        ..RenderOptions::default()
    };
    assert_eq!(
        output_size(612.0, 792.0, &zero).unwrap_err().reason(),
        "invalid_options"
    );
    assert_eq!(
        output_size(0.0, 792.0, &RenderOptions::default())
            .unwrap_err()
            .reason(),
        "empty_page"
    );
}

// ---- rendering ---------------------------------------------------------------------------

/// Pages checked against pdftoppm, with the largest `rel4` allowed (see [`Diff`]; a blank
/// page scores 1.0). Measured over all 33 sample pages: born-digital text 0.07–0.31 (the high
/// end is GeoBase's non-embedded Arial, which poppler replaces with a wider font), scans
/// 0.12–0.18 (different downsampling kernels), the JPEG page 0.011. Each bound is the page's
/// measured value plus ~60 %, and all stay far below what a missing text run or image gives.
const AGREEMENT: &[(&str, usize, f64)] = &[
    ("pdflatex-outline.pdf", 0, 0.23),
    ("GeoBase_NHNC1_Data_Model_UML_EN.pdf", 8, 0.18),
    ("jpeg.pdf", 0, 0.05),
    ("epson.pdf", 0, 0.30),
    ("Seige_of_Vicksburg_Sample_OCR.pdf", 1, 0.22),
];

#[test]
fn render_agrees_with_pdftoppm() {
    let opts = RenderOptions::default();
    let mut failures = Vec::new();
    for &(name, page, bound) in AGREEMENT {
        let ours = render_page(&read(name), page, &opts).unwrap();
        let reference = pdftoppm(name, page, ours.width(), ours.height());
        let d = compare(&ours, &reference);
        eprintln!("{name} p{page}: {}x{} {d:?}", ours.width(), ours.height());
        if d.rel4 > bound {
            failures.push(format!(
                "{name} p{page}: rel4 {:.3} > {bound} (shift {:?})",
                d.rel4, d.shift
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn a_blank_rendering_would_fail_the_agreement_check() {
    // Guards the metric: an all-white page of the same size must be far from the reference.
    let ours = render_page(&read("pdflatex-outline.pdf"), 0, &RenderOptions::default()).unwrap();
    let reference = pdftoppm("pdflatex-outline.pdf", 0, ours.width(), ours.height());
    let blank = RgbImage::from_pixel(ours.width(), ours.height(), image::Rgb([255, 255, 255]));
    let d = compare(&blank, &reference);
    assert!(d.rel4 > 0.95 && d.rel > 0.95, "blank page {d:?}");
    assert!(AGREEMENT.iter().all(|a| a.2 < 0.5));
}

#[test]
fn rendered_sizes_respect_the_pixel_budget() {
    let pdf = read("GeoBase_NHNC1_Data_Model_UML_EN.pdf");
    let r = PdfRenderer::new(&pdf).unwrap();
    assert_eq!(r.page_count(), 19);
    let opts = RenderOptions {
        dpi: 300.0,
        max_pixels: 400_000,
        min_pixels: 65_536,
    };
    let img = r.render(0, &opts).unwrap();
    let (w, h) = img.dimensions();
    assert!(u64::from(w) * u64::from(h) <= 400_000, "{w}x{h}");
    assert!(u64::from(w) * u64::from(h) >= 390_000, "{w}x{h}");
    assert!((f64::from(w) / f64::from(h) - 612.0 / 792.0).abs() < 0.005);
    // Not blank: a page of text has dark pixels.
    assert!(img.pixels().filter(|p| p.0[0] < 100).count() > 1000);

    let small = RenderOptions {
        dpi: 5.0,
        ..RenderOptions::default()
    };
    let img = r.render(0, &small).unwrap();
    assert!(u64::from(img.width()) * u64::from(img.height()) >= 65_536);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert_eq!(
        render_page(b"not a pdf at all", 0, &RenderOptions::default())
            .unwrap_err()
            .reason(),
        "pdf_unreadable"
    );
    let pdf = read("multilang.pdf");
    let err = render_page(&pdf, 1, &RenderOptions::default()).unwrap_err();
    assert_eq!(err.reason(), "page_out_of_range");
    // A truncated file either renders what it can or fails cleanly.
    let cut = &pdf[..pdf.len() / 2];
    if let Err(e) = render_page(cut, 0, &RenderOptions::default()) {
        assert!(
            ["pdf_unreadable", "render_panic"].contains(&e.reason()),
            "{e}"
        );
    }
    assert_eq!(
        guard::<()>(|| panic!("boom")).unwrap_err().to_string(),
        "renderer panicked: boom"
    );
}

// ---- embedded images ---------------------------------------------------------------------

#[test]
fn jpeg_is_passed_through_unchanged() {
    let doc = Document::load(sample("jpeg.pdf")).unwrap();
    let id = find_image(&doc, "DCTDecode", 800, 600);
    let raw = doc
        .get_object(id)
        .unwrap()
        .as_stream()
        .unwrap()
        .content
        .clone();
    let e = extract_image(&doc, id).unwrap();
    assert_eq!(e.format, "jpeg");
    assert_eq!((e.width, e.height), (800, 600));
    assert!(e.bytes == raw, "JPEG bytes changed");
    decode(&e);
}

#[test]
fn flate_images_decode_to_png_of_the_right_size() {
    let doc = Document::load(sample("GeoBase_NHNC1_Data_Model_UML_EN.pdf")).unwrap();
    // 8-bit RGB with an 8-bit soft mask.
    let e = extract_image(&doc, find_image(&doc, "FlateDecode", 623, 507)).unwrap();
    assert_eq!((e.format, e.width, e.height), ("png", 623, 507));
    let img = decode(&e).to_rgb8();
    // A diagram: mostly light background, with some colour.
    assert!(mean_luma(&image::DynamicImage::ImageRgb8(img.clone())) > 150.0);
    assert!(
        img.pixels().any(|p| p.0[0] != p.0[1] || p.0[1] != p.0[2]),
        "colour lost"
    );
    // 1-bit DeviceGray.
    let e = extract_image(&doc, find_image(&doc, "FlateDecode", 236, 65)).unwrap();
    let img = decode(&e).to_luma8();
    assert!(
        img.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255),
        "1-bit image must stay bilevel"
    );
    assert!(img.pixels().any(|p| p.0[0] == 0) && img.pixels().any(|p| p.0[0] == 255));
}

#[test]
fn indexed_images_decode_through_the_palette() {
    // 8-bit Indexed over RGB (a photo).
    let doc = Document::load(sample("palette.pdf")).unwrap();
    let (id, w, h, _) = image_objects(&doc)[0].clone();
    let e = extract_image(&doc, id).unwrap();
    assert_eq!((e.width, e.height), (w as u32, h as u32));
    let img = decode(&e).to_rgb8();
    let distinct: std::collections::HashSet<_> = img.pixels().map(|p| p.0).collect();
    assert!(
        distinct.len() > 16,
        "palette not applied: {} colours",
        distinct.len()
    );
    // 1-bit Indexed (a scanned page): mostly the light entry.
    let doc = Document::load(sample("issue-3850-1bit-indexed-flate.pdf")).unwrap();
    let id = find_image(&doc, "FlateDecode", 2550, 3300);
    let e = extract_image(&doc, id).unwrap();
    assert_eq!((e.width, e.height), (2550, 3300));
    let luma = mean_luma(&decode(&e));
    assert!(luma > 200.0 && luma < 255.0, "mean luma {luma}");
}

#[test]
fn scan_filters_decode_via_hayro() {
    // CCITT G4 fax-style page, JBIG2 page: mostly white paper with black text.
    for (name, filter, w, h) in [
        ("epson.pdf", "CCITTFaxDecode", 2480, 3507),
        ("linn.pdf", "JBIG2Decode", 2550, 3300),
    ] {
        let doc = Document::load(sample(name)).unwrap();
        let e = extract_image(&doc, find_image(&doc, filter, w, h)).unwrap();
        assert_eq!(
            (e.format, e.width, e.height),
            ("png", w as u32, h as u32),
            "{name}"
        );
        let luma = mean_luma(&decode(&e));
        assert!(luma > 180.0 && luma < 253.0, "{name}: mean luma {luma}");
    }
    // JPEG 2000 scan.
    let doc = Document::load(sample("Seige_of_Vicksburg_Sample_OCR.pdf")).unwrap();
    let e = extract_image(&doc, find_image(&doc, "JPXDecode", 600, 900)).unwrap();
    assert_eq!((e.format, e.width, e.height), ("png", 600, 900));
    let luma = mean_luma(&decode(&e));
    assert!(luma > 60.0 && luma < 250.0, "mean luma {luma}");
}

#[test]
fn non_images_are_refused() {
    let doc = Document::load(sample("jpeg.pdf")).unwrap();
    let err = extract_image(&doc, (9999, 0)).unwrap_err();
    assert_eq!(err.reason(), "not_an_image");
    let page = *doc.get_pages().values().next().unwrap();
    assert_eq!(
        extract_image(&doc, page).unwrap_err().reason(),
        "not_an_image"
    );
}

// ---- encoding ----------------------------------------------------------------------------

#[test]
fn png_is_lossless_and_grey_pages_are_stored_as_grey() {
    let img = render_page(&read("pdflatex-outline.pdf"), 0, &RenderOptions::default()).unwrap();
    let png = encode_png(&img);
    let back = image::load_from_memory(&png).unwrap();
    assert_eq!(
        back.color(),
        image::ColorType::L8,
        "a black-and-white page is written as L8"
    );
    assert_eq!(back.to_rgb8(), img);

    let mut colour = img.clone();
    colour.put_pixel(3, 3, image::Rgb([200, 10, 10]));
    let back = image::load_from_memory(&encode_png(&colour)).unwrap();
    assert_eq!(back.to_rgb8(), colour);

    let jpeg = encode_jpeg(&colour, 85);
    let back = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((back.width(), back.height()), colour.dimensions());
    assert!(compare(&back.to_rgb8(), &colour).mad < 3.0);
}

#[test]
fn page_encoding_is_png_for_text_and_jpeg_for_photos() {
    let text = render_page(&read("pdflatex-outline.pdf"), 0, &RenderOptions::default()).unwrap();
    assert_eq!(encode_page(&text).format, "png");
    // A photographic page: smooth gradients plus sensor-like noise.
    let mut seed = 0x2545_f491_u32;
    let photo = RgbImage::from_fn(800, 1000, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed % 24) as u8;
        image::Rgb([
            ((x / 4) as u8).saturating_add(n),
            ((y / 4) as u8).saturating_add(n),
            ((x + y) / 8) as u8 + n,
        ])
    });
    let e = encode_page(&photo);
    assert_eq!(e.format, "jpeg");
    assert_eq!((e.width, e.height), (800, 1000));
}

// ---- measurement (not a test) ------------------------------------------------------------

/// Renders every sample page with hayro and pdftoppm at 144 dpi and prints quality, speed and
/// encoded sizes. `cargo test --release -p weft-pipeline-ocr --lib render::tests::measure --
/// --ignored --nocapture`.
#[test]
#[ignore = "measurement for ARCHITECTURE.md; slow"]
fn measure() {
    let files = [
        "GeoBase_NHNC1_Data_Model_UML_EN.pdf",
        "pdflatex-outline.pdf",
        "multilang.pdf",
        "jpeg.pdf",
        "Seige_of_Vicksburg_Sample_OCR.pdf",
        "linn.pdf",
        "epson.pdf",
    ];
    let opts = RenderOptions::default();
    println!(
        "| file | pages | hayro ms/page | pdftoppm ms/page | MAD | PSNR dB (min) | rel | rel4 (worst page) | PNG KiB/page | JPEG q90 KiB/page |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for name in files {
        let pdf = read(name);
        let r = PdfRenderer::new(&pdf).unwrap();
        let n = r.page_count();
        let (mut t_ours, mut t_ref) = (0.0, 0.0);
        let mut diffs = Vec::new();
        let (mut png_bytes, mut jpeg_bytes) = (0usize, 0usize);
        for p in 0..n {
            let t = Instant::now();
            let ours = r.render(p, &opts).unwrap();
            t_ours += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let reference = pdftoppm(name, p, ours.width(), ours.height());
            t_ref += t.elapsed().as_secs_f64();
            let d = compare(&ours, &reference);
            println!("  {name} p{p}: {d:?}");
            diffs.push(d);
            png_bytes += encode_png(&ours).len();
            jpeg_bytes += encode_jpeg(&ours, 90).len();
        }
        let mean = |f: fn(&Diff) -> f64| diffs.iter().map(f).sum::<f64>() / n as f64;
        let (worst, wd) = diffs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.rel4.total_cmp(&b.1.rel4))
            .unwrap();
        println!(
            "| {name} | {n} | {:.1} | {:.1} | {:.2} | {:.1} | {:.3} | {:.3} ({:.3} p{worst}) | {:.0} | {:.0} |",
            1e3 * t_ours / n as f64,
            1e3 * t_ref / n as f64,
            mean(|d| d.mad),
            diffs.iter().map(|d| d.psnr).fold(f64::INFINITY, f64::min),
            mean(|d| d.rel),
            mean(|d| d.rel4),
            wd.rel4,
            png_bytes as f64 / 1024.0 / n as f64,
            jpeg_bytes as f64 / 1024.0 / n as f64,
        );
    }
}
