//! Page quality: is the text layer usable as an OCR target, which language is it in, and
//! which pages are near-duplicates of each other.
//!
//! A page `needs_ocr` when it has no text layer, when its text layer is garbage (unmapped
//! glyphs, replacement characters, too few letters) or when the text is an invisible layer
//! laid over a scan — the output of some earlier OCR engine, whose errors we would otherwise
//! teach the model.

use std::collections::HashSet;

use serde::Serialize;

use crate::pdf::PageText;

/// The verdict on one page's text layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextQuality {
    /// True when the page should be transcribed by a model rather than trusted.
    pub needs_ocr: bool,
    /// Why (`no_text_layer`, `garbage_text`, `ocr_layer`), `None` when the text is usable.
    pub reason: Option<&'static str>,
    /// Share of glyphs without a Unicode mapping or mapped to U+FFFD.
    pub unmapped_ratio: f32,
    /// Share of glyphs drawn invisibly (render mode 3).
    pub invisible_ratio: f32,
    /// Share of non-space characters that are letters or digits (any script).
    pub alnum_ratio: f32,
}

/// Pages with fewer visible characters than this have no usable text layer.
pub const MIN_TEXT_CHARS: usize = 16;

/// Judges a page's text layer.
pub fn assess(text: &PageText, plain: &str) -> TextQuality {
    let glyphs = text.glyphs.max(1) as f32;
    let replacement = plain.chars().filter(|c| *c == '\u{FFFD}').count();
    let unmapped_ratio = (text.unmapped_glyphs.max(replacement)) as f32 / glyphs;
    let invisible_ratio = text.invisible_glyphs as f32 / glyphs;
    let non_space: Vec<char> = plain.chars().filter(|c| !c.is_whitespace()).collect();
    let alnum = non_space.iter().filter(|c| c.is_alphanumeric()).count();
    let alnum_ratio = if non_space.is_empty() {
        0.0
    } else {
        alnum as f32 / non_space.len() as f32
    };
    let reason = if non_space.len() < MIN_TEXT_CHARS {
        Some("no_text_layer")
    } else if invisible_ratio > 0.5 {
        Some("ocr_layer")
    } else if unmapped_ratio > 0.05 || alnum_ratio < 0.5 {
        Some("garbage_text")
    } else {
        None
    };
    TextQuality {
        needs_ocr: reason.is_some(),
        reason,
        unmapped_ratio,
        invisible_ratio,
        alnum_ratio,
    }
}

/// ISO 639-3 code of the text's language (`und` when unsure or too short).
pub fn language(text: &str) -> String {
    match whatlang::detect(text) {
        Some(info) if info.is_reliable() || text.chars().count() > 200 => {
            info.lang().code().to_string()
        }
        _ => "und".to_string(),
    }
}

/// Whitespace runs collapsed to single spaces, ends trimmed.
pub fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Character similarity of two texts: 1 − Levenshtein distance / longer length, over
/// characters with whitespace collapsed (1.0 for two empty texts). The measure the text
/// layer is checked with against poppler's `pdftotext`.
pub fn text_similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = collapse_whitespace(a).chars().collect();
    let b: Vec<char> = collapse_whitespace(b).chars().collect();
    let n = a.len().max(b.len());
    if n == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - prev[b.len()] as f64 / n as f64
}

/// MinHash signature length.
pub const MINHASH_PERMUTATIONS: usize = 128;
/// LSH bands × rows = [`MINHASH_PERMUTATIONS`]; 16 × 8 finds pairs above ~0.7 Jaccard.
pub const LSH_BANDS: usize = 16;

/// Shingles of a text: 5-word windows for spaced scripts, 5-character windows for text with few
/// spaces (CJK), so both get comparable sets.
pub fn shingles(text: &str) -> HashSet<u64> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let chars: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).collect();
    let spaced = words.len() * 3 >= chars.len() / 4; // average word shorter than ~12 chars
    // FNV-1a, not std's DefaultHasher: its algorithm may change between Rust releases, and
    // dedup decisions must not.
    let fnv = |parts: &mut dyn Iterator<Item = u32>| {
        parts.fold(0xcbf2_9ce4_8422_2325u64, |h, p| {
            (h ^ u64::from(p)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let mut out = HashSet::new();
    if spaced {
        let word_hashes: Vec<u32> = words
            .iter()
            .map(|w| fnv(&mut w.chars().map(u32::from)) as u32)
            .collect();
        for w in word_hashes.windows(5.min(word_hashes.len()).max(1)) {
            out.insert(fnv(&mut w.iter().copied()));
        }
    } else {
        for w in chars.windows(5.min(chars.len()).max(1)) {
            out.insert(fnv(&mut w.iter().map(|c| u32::from(*c))));
        }
    }
    out
}

/// splitmix64: a fixed, platform-independent mixer for the MinHash permutations.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// MinHash signature of a shingle set (empty set → all `u64::MAX`).
pub fn minhash(shingles: &HashSet<u64>) -> Vec<u64> {
    (0..MINHASH_PERMUTATIONS as u64)
        .map(|k| {
            shingles
                .iter()
                .map(|s| mix(s ^ mix(k)))
                .min()
                .unwrap_or(u64::MAX)
        })
        .collect()
}

/// Estimated Jaccard similarity of two signatures.
pub fn similarity(a: &[u64], b: &[u64]) -> f32 {
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f32 / a.len().max(1) as f32
}

/// LSH band keys of a signature: pages sharing a key are candidate near-duplicates.
pub fn band_keys(sig: &[u64]) -> Vec<u64> {
    let rows = sig.len() / LSH_BANDS;
    sig.chunks(rows)
        .enumerate()
        .map(|(band, chunk)| chunk.iter().fold(mix(band as u64), |h, v| mix(h ^ v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(glyphs: usize, unmapped: usize, invisible: usize) -> PageText {
        PageText {
            blocks: vec![],
            glyphs,
            unmapped_glyphs: unmapped,
            invisible_glyphs: invisible,
        }
    }

    const PROSE: &str =
        "The quick brown fox jumps over the lazy dog while the cat watches from the window sill.";

    #[test]
    fn verdicts_cover_each_reason() {
        assert_eq!(assess(&page(90, 0, 0), PROSE).reason, None);
        assert_eq!(assess(&page(0, 0, 0), "").reason, Some("no_text_layer"));
        assert_eq!(assess(&page(90, 0, 80), PROSE).reason, Some("ocr_layer"));
        assert_eq!(assess(&page(90, 30, 0), PROSE).reason, Some("garbage_text"));
        assert_eq!(
            assess(&page(40, 0, 0), "#$%^ &*() {}[] <>?! ~~~~ ||||").reason,
            Some("garbage_text")
        );
    }

    #[test]
    fn similarity_counts_edits_over_characters() {
        assert_eq!(text_similarity("", "  "), 1.0);
        assert_eq!(text_similarity("abcd", "abcd"), 1.0);
        assert_eq!(text_similarity("abcd", "abed"), 0.75);
        assert_eq!(text_similarity("a  b\nc", "a b c"), 1.0);
        assert_eq!(text_similarity("abc", ""), 0.0);
    }

    #[test]
    fn language_of_real_sentences() {
        assert_eq!(language(PROSE), "eng");
        assert_eq!(
            language(
                "Съешь же ещё этих мягких французских булок, да выпей чаю. Это русский текст."
            ),
            "rus"
        );
        assert_eq!(language("x"), "und");
    }

    #[test]
    fn near_duplicates_score_high_and_different_texts_low() {
        let a = format!("{PROSE} {PROSE} Page footer 1 of 10.");
        let b = format!("{PROSE} {PROSE} Page footer 2 of 10.");
        let c = "Completely different words about quantum chromodynamics and lattice gauge theory results in four dimensions.";
        let (sa, sb, sc) = (
            minhash(&shingles(&a)),
            minhash(&shingles(&b)),
            minhash(&shingles(c)),
        );
        assert!(similarity(&sa, &sb) > 0.7, "{}", similarity(&sa, &sb));
        assert!(similarity(&sa, &sc) < 0.1);
        assert!(
            band_keys(&sa)
                .iter()
                .zip(band_keys(&sb))
                .any(|(x, y)| *x == y)
        );
        // CJK text shingles by characters.
        assert!(shingles("文字認識は画像から文字を読み取る技術です").len() > 10);
    }
}
