//! Tests on the real PDFs in `samples/` and on damaged copies of them made here.
//!
//! Text similarity is `1 − Levenshtein(a, b) / max(|a|, |b|)` over characters, after both
//! texts are whitespace-normalised (every run of white space becomes one space). It compares
//! against `pdftotext -f N -l N` (no `-layout`: its reading order follows text flow, as ours
//! does), which the project's setup script installs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lopdf::{Object, Stream};

use super::{Limits, PdfDocument, PdfError, Rect};
use crate::quality::text_similarity;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

fn open(name: &str) -> PdfDocument {
    PdfDocument::open(&sample(name), &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn pdftotext(path: &Path, page: usize) -> String {
    let out = Command::new("pdftotext")
        .args(["-q", "-enc", "UTF-8", "-f", &page.to_string(), "-l", &page.to_string()])
        .arg(path)
        .arg("-")
        .output()
        .expect("`pdftotext` (poppler-utils) is required by these tests: run the project's setup script");
    assert!(
        out.status.success(),
        "pdftotext failed on {}",
        path.display()
    );
    String::from_utf8(out.stdout).expect("pdftotext writes UTF-8")
}

fn inside(r: &Rect, w: f32, h: f32) -> bool {
    let eps = 0.01;
    r.x0 >= -eps
        && r.y0 >= -eps
        && r.x1 <= w + eps
        && r.y1 <= h + eps
        && r.x0 <= r.x1
        && r.y0 <= r.y1
}

#[test]
fn text_matches_pdftotext_on_text_pages() {
    let cases: &[(&str, &[usize])] = &[
        (
            "GeoBase_NHNC1_Data_Model_UML_EN.pdf",
            &[1, 2, 3, 4, 5, 6, 7, 8],
        ),
        ("pdflatex-outline.pdf", &[1, 2, 3, 4]),
        ("jpeg.pdf", &[1]),
        ("multilang.pdf", &[1]),
    ];
    let mut failures = Vec::new();
    for (name, pages) in cases {
        let doc = open(name);
        for &p in *pages {
            let ours = doc
                .page_content(p - 1, later())
                .expect("page reads")
                .text
                .plain_text();
            let theirs = pdftotext(&sample(name), p);
            let sim = text_similarity(&ours, &theirs);
            eprintln!(
                "similarity {name} p{p}: {sim:.4} ({} vs {} chars)",
                ours.len(),
                theirs.len()
            );
            if sim < 0.95 {
                failures.push(format!(
                    "{name} p{p}: {sim:.3}\n--- ours\n{ours}\n--- pdftotext\n{theirs}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "similarity below 0.95:\n{}",
        failures.join("\n")
    );
}

#[test]
fn multilang_page_has_arabic_cyrillic_and_cjk() {
    let text = open("multilang.pdf").page_content(0, later()).unwrap().text;
    let s = text.plain_text();
    let has = |lo: u32, hi: u32| s.chars().any(|c| (lo..=hi).contains(&(c as u32)));
    assert!(has(0x0600, 0x06ff), "no Arabic in {s:?}");
    assert!(has(0x0400, 0x04ff), "no Cyrillic in {s:?}");
    assert!(has(0x4e00, 0x9fff), "no CJK ideographs in {s:?}");
    assert_eq!(text.unmapped_glyphs, 0);
    // Every ideograph pdftotext finds, we find too.
    let cjk = |t: &str| {
        t.chars()
            .filter(|c| (0x4e00..=0x9fff).contains(&(*c as u32)))
            .count()
    };
    assert!(cjk(&s) >= cjk(&pdftotext(&sample("multilang.pdf"), 1)));
}

#[test]
fn ocr_layer_pages_are_invisible_text() {
    let doc = open("Seige_of_Vicksburg_Sample_OCR.pdf");
    assert_eq!(doc.page_count(), 6);
    for p in 0..doc.page_count() {
        let t = doc.page_content(p, later()).unwrap().text;
        assert!(t.invisible_glyphs > 0, "page {p}: no invisible glyphs");
        assert!(t.plain_text().len() > 100, "page {p}: OCR text missing");
    }
}

#[test]
fn scanned_pages_have_no_glyphs_and_one_image() {
    for name in ["linn.pdf", "epson.pdf"] {
        let doc = open(name);
        let g = doc.page_geometry(0).unwrap();
        let c = doc.page_content(0, later()).unwrap();
        assert_eq!(c.text.glyphs, 0, "{name}");
        assert!(c.text.blocks.is_empty(), "{name}");
        assert_eq!(c.images.len(), 1, "{name}");
        let img = &c.images[0];
        // The scan covers the page.
        assert!(
            img.bbox.width() > 0.9 * g.width && img.bbox.height() > 0.9 * g.height,
            "{name}: {:?}",
            img.bbox
        );
    }
    let c = open("linn.pdf").page_content(0, later()).unwrap();
    assert_eq!((c.images[0].width_px, c.images[0].height_px), (2550, 3300));
}

#[test]
fn embedded_jpeg_is_placed_inside_the_page() {
    let doc = open("jpeg.pdf");
    let g = doc.page_geometry(0).unwrap();
    let c = doc.page_content(0, later()).unwrap();
    assert_eq!(c.images.len(), 1);
    let img = &c.images[0];
    assert_eq!((img.width_px, img.height_px), (800, 600));
    assert_eq!(img.object, Some((4, 0)));
    assert!(inside(&img.bbox, g.width, g.height), "{:?}", img.bbox);
    // Drawn at the image's aspect ratio.
    assert!(
        (img.bbox.width() / img.bbox.height() - 800.0 / 600.0).abs() < 0.02,
        "{:?}",
        img.bbox
    );
}

#[test]
fn all_boxes_lie_within_their_page() {
    for name in [
        "GeoBase_NHNC1_Data_Model_UML_EN.pdf",
        "pdflatex-outline.pdf",
        "multilang.pdf",
        "jpeg.pdf",
        "Seige_of_Vicksburg_Sample_OCR.pdf",
    ] {
        let doc = open(name);
        for p in 0..doc.page_count() {
            let g = doc.page_geometry(p).unwrap();
            let c = doc.page_content(p, later()).unwrap();
            for b in &c.text.blocks {
                assert!(
                    inside(&b.bbox, g.width, g.height),
                    "{name} p{p} block {:?}",
                    b.bbox
                );
                for l in &b.lines {
                    for s in &l.spans {
                        assert!(
                            inside(&s.bbox, g.width, g.height),
                            "{name} p{p} span {:?}",
                            s.bbox
                        );
                        assert!(
                            s.font_size > 1.0 && s.font_size < 200.0,
                            "{name}: size {}",
                            s.font_size
                        );
                    }
                }
            }
            for i in &c.images {
                assert!(
                    inside(&i.bbox, g.width, g.height),
                    "{name} p{p} image {:?}",
                    i.bbox
                );
            }
        }
    }
}

#[test]
fn fonts_sizes_and_styles_come_through() {
    // pdfTeX paper: a bold 12pt section heading above 10pt body text.
    let doc = open("pdflatex-outline.pdf");
    let t = doc.page_content(0, later()).unwrap().text;
    let spans: Vec<_> = t
        .blocks
        .iter()
        .flat_map(|b| &b.lines)
        .flat_map(|l| &l.spans)
        .collect();
    assert!(
        spans.iter().any(|s| s.bold && s.font.starts_with("CMBX")),
        "no bold CMBX span"
    );
    assert!(
        spans
            .iter()
            .any(|s| !s.bold && s.font == "CMR10" && (s.font_size - 9.96).abs() < 0.1)
    );
    assert!(
        spans.iter().all(|s| !s.font.contains('+')),
        "subset prefix kept"
    );
}

/// Saves `doc` after `edit` and reopens it from bytes.
fn edited(
    name: &str,
    limits: &Limits,
    edit: impl FnOnce(&mut lopdf::Document),
) -> Result<PdfDocument, PdfError> {
    let mut doc = lopdf::Document::load(sample(name)).expect("sample loads");
    edit(&mut doc);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).expect("lopdf saves");
    PdfDocument::from_bytes(bytes, limits)
}

fn first_page(doc: &lopdf::Document) -> lopdf::ObjectId {
    *doc.get_pages().get(&1).expect("page 1")
}

#[test]
fn rotated_page_swaps_width_and_height_and_keeps_text() {
    let plain = open("pdflatex-outline.pdf");
    let g0 = plain.page_geometry(0).unwrap();
    let doc = edited("pdflatex-outline.pdf", &Limits::default(), |d| {
        let id = first_page(d);
        d.get_dictionary_mut(id)
            .unwrap()
            .set("Rotate", Object::Integer(90));
    })
    .unwrap();
    let g = doc.page_geometry(0).unwrap();
    assert_eq!(g.rotation, 90);
    assert_eq!((g.width, g.height), (g0.height, g0.width));
    let c = doc.page_content(0, later()).unwrap();
    for b in &c.text.blocks {
        assert!(inside(&b.bbox, g.width, g.height), "{:?}", b.bbox);
    }
    // Text runs top to bottom now; reading it back gives the same words.
    let a = plain.page_content(0, later()).unwrap().text.plain_text();
    let b = c.text.plain_text();
    let sim = text_similarity(&a, &b);
    assert!(sim > 0.9, "rotated text differs: {sim}");
    // The first line of the unrotated page was near the top; rotated 90° clockwise it is
    // near the right edge.
    let first = &c.text.blocks[0].bbox;
    assert!(first.x0 > g.width / 2.0, "{first:?}");
}

#[test]
fn bad_inputs_fail_with_their_reason() {
    let limits = Limits::default();
    let dir = tempfile::tempdir().unwrap();

    // A text file named .pdf.
    let txt = dir.path().join("linn.pdf");
    std::fs::copy(sample("linn.txt"), &txt).unwrap();
    assert_eq!(
        PdfDocument::open(&txt, &limits).unwrap_err().reason(),
        "not_pdf"
    );
    assert_eq!(
        PdfDocument::from_bytes(Vec::new(), &limits)
            .unwrap_err()
            .reason(),
        "not_pdf"
    );

    // Missing file.
    assert_eq!(
        PdfDocument::open(&dir.path().join("absent.pdf"), &limits)
            .unwrap_err()
            .reason(),
        "io"
    );

    // Encrypted with a user password.
    let e = PdfDocument::open(&sample("encrypted-file.pdf"), &limits).unwrap_err();
    assert_eq!(e.reason(), "encrypted", "{e}");

    // Truncated to its first tenth: the page tree is gone.
    let bytes = std::fs::read(sample("GeoBase_NHNC1_Data_Model_UML_EN.pdf")).unwrap();
    let e = PdfDocument::from_bytes(bytes[..bytes.len() / 10].to_vec(), &limits).unwrap_err();
    assert!(matches!(e.reason(), "corrupt" | "no_pages"), "{e}");
    // Only the header survives.
    let e = PdfDocument::from_bytes(bytes[..20].to_vec(), &limits).unwrap_err();
    assert_eq!(e.reason(), "corrupt", "{e}");

    // A page tree claiming millions of pages is refused before it is walked.
    let e = edited("jpeg.pdf", &limits, |d| {
        let pages = d
            .catalog()
            .unwrap()
            .get(b"Pages")
            .unwrap()
            .as_reference()
            .unwrap();
        d.get_dictionary_mut(pages)
            .unwrap()
            .set("Count", Object::Integer(5_000_000));
    })
    .unwrap_err();
    assert!(matches!(e, PdfError::TooManyPages(5_000_000)), "{e}");
    assert_eq!(e.reason(), "too_many_pages");

    // Zero pages.
    let e = edited("jpeg.pdf", &limits, |d| {
        let pages = d
            .catalog()
            .unwrap()
            .get(b"Pages")
            .unwrap()
            .as_reference()
            .unwrap();
        let p = d.get_dictionary_mut(pages).unwrap();
        p.set("Kids", Object::Array(Vec::new()));
        p.set("Count", Object::Integer(0));
    })
    .unwrap_err();
    assert_eq!(e.reason(), "no_pages", "{e}");

    // A decompression bomb: 32 MiB of zeros deflated to a few KiB, as the page content.
    let small = Limits {
        max_stream_bytes: 8 << 20,
        ..Limits::default()
    };
    let doc = edited("jpeg.pdf", &small, |d| {
        let mut s = Stream::new(lopdf::Dictionary::new(), vec![b' '; 32 << 20]);
        s.compress().unwrap();
        assert!(s.content.len() < 100_000);
        let id = d.add_object(s);
        let page = first_page(d);
        d.get_dictionary_mut(page)
            .unwrap()
            .set("Contents", Object::Reference(id));
    })
    .unwrap();
    let e = doc.page_content(0, later()).unwrap_err();
    assert_eq!(e.reason(), "decompression_bomb", "{e}");

    // Out of time.
    let doc = open("jpeg.pdf");
    let e = doc
        .page_content(0, Instant::now() - Duration::from_millis(1))
        .unwrap_err();
    assert_eq!(e.reason(), "timeout");
    let zero = Limits {
        time_budget: Duration::ZERO,
        ..Limits::default()
    };
    let e = PdfDocument::open(&sample("jpeg.pdf"), &zero).unwrap_err();
    assert_eq!(e.reason(), "timeout");
}

#[test]
fn broken_xref_is_repaired_to_the_same_text() {
    let mut bytes = std::fs::read(sample("pdflatex-outline.pdf")).unwrap();
    // Garble every digit of the cross-reference section and the startxref offset.
    let at = bytes
        .windows(9)
        .rposition(|w| w == b"startxref")
        .expect("startxref");
    for b in &mut bytes[at..] {
        if b.is_ascii_digit() {
            *b = b'7';
        }
    }
    let repaired =
        PdfDocument::from_bytes(bytes, &Limits::default()).expect("lopdf rebuilds the xref");
    let original = open("pdflatex-outline.pdf");
    assert_eq!(repaired.page_count(), original.page_count());
    let a = repaired.page_content(1, later()).unwrap().text.plain_text();
    let b = original.page_content(1, later()).unwrap().text.plain_text();
    assert_eq!(a, b);
}

#[test]
fn random_damage_never_panics() {
    // Deterministic byte flips and truncations over every sample: each must end in Ok or a
    // reasoned error, never a panic or hang.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in ["pdflatex-outline.pdf", "multilang.pdf", "jpeg.pdf"] {
        let orig = std::fs::read(sample(name)).unwrap();
        for round in 0..6 {
            let mut b = orig.clone();
            for _ in 0..(20 * (round + 1)) {
                let i = (rnd() as usize) % b.len();
                b[i] = rnd() as u8;
            }
            if round % 2 == 1 {
                b.truncate(b.len() * (round + 3) / 10);
            }
            if let Ok(doc) = PdfDocument::from_bytes(b, &Limits::default()) {
                for p in 0..doc.page_count() {
                    let _ = doc.page_geometry(p);
                    match doc.page_content(p, later()) {
                        Ok(_) => {}
                        Err(e) => assert!(!e.reason().is_empty()),
                    }
                }
            }
        }
    }
}

#[test]
fn metadata_reads_the_info_dictionary() {
    let m = open("GeoBase_NHNC1_Data_Model_UML_EN.pdf").metadata();
    assert_eq!(m.pages, 19);
    assert_eq!(m.producer.as_deref(), Some("Microsoft® Word 2010"));
    assert_eq!(m.creator.as_deref(), Some("Microsoft® Word 2010"));
    assert_eq!(m.title, None);
}
