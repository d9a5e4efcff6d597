//! Bundled word lists and how a text line is composed from them.
//!
//! The lists (`pipelines/ocr/corpus/*.txt`, MIT, from Faker — see the README there) are
//! compiled in with `include_str!` so generation needs no data files at run time. Lines are
//! random runs of real words with script-appropriate spacing and punctuation: OCR targets need
//! real orthography (diacritics, Arabic joining, CJK without spaces), not grammar.

use super::Script;
use super::rng::Rng;

/// One language's raw word list.
pub(crate) struct Source {
    pub(crate) code: &'static str,
    pub(crate) script: Script,
    pub(crate) text: &'static str,
}

/// Every bundled language, in a fixed order (the order is part of the determinism contract).
pub(crate) const SOURCES: &[Source] = &[
    Source {
        code: "en",
        script: Script::Latin,
        text: include_str!("../../corpus/en.txt"),
    },
    Source {
        code: "de",
        script: Script::Latin,
        text: include_str!("../../corpus/de.txt"),
    },
    Source {
        code: "fr",
        script: Script::Latin,
        text: include_str!("../../corpus/fr.txt"),
    },
    Source {
        code: "ru",
        script: Script::Cyrillic,
        text: include_str!("../../corpus/ru.txt"),
    },
    Source {
        code: "uk",
        script: Script::Cyrillic,
        text: include_str!("../../corpus/uk.txt"),
    },
    Source {
        code: "zh",
        script: Script::Cjk,
        text: include_str!("../../corpus/zh.txt"),
    },
    Source {
        code: "ja",
        script: Script::Cjk,
        text: include_str!("../../corpus/ja.txt"),
    },
    Source {
        code: "ar",
        script: Script::Arabic,
        text: include_str!("../../corpus/ar.txt"),
    },
    Source {
        code: "fa",
        script: Script::Arabic,
        text: include_str!("../../corpus/fa.txt"),
    },
];

impl Source {
    pub(crate) fn words(&self) -> impl Iterator<Item = &'static str> {
        self.text
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty() && !w.starts_with('#'))
    }
}

/// A language ready for sampling: words and punctuation already filtered to what every font
/// of its script can render.
#[derive(Debug)]
pub(crate) struct Lang {
    pub(crate) code: &'static str,
    pub(crate) script: Script,
    pub(crate) words: Vec<&'static str>,
    /// Mid-line separators (after a word), e.g. `,` `،` `，`.
    pub(crate) commas: Vec<&'static str>,
    /// Line-final punctuation.
    pub(crate) stops: Vec<&'static str>,
    /// Opening/closing quote pairs.
    pub(crate) quotes: Vec<(&'static str, &'static str)>,
}

/// Candidate punctuation per language, before the font-coverage filter.
pub(crate) fn punctuation(
    code: &str,
) -> (
    Vec<&'static str>,
    Vec<&'static str>,
    Vec<(&'static str, &'static str)>,
) {
    match code {
        "zh" => (
            vec!["，", "、"],
            vec!["。", "！", "？"],
            vec![("“", "”"), ("《", "》")],
        ),
        "ja" => (vec!["、"], vec!["。", "！", "？"], vec![("「", "」")]),
        "ar" | "fa" => (vec!["،"], vec![".", "؟", "!", ":"], vec![("«", "»")]),
        "ru" | "uk" => (
            vec![",", ";"],
            vec![".", "!", "?", ":", "…"],
            vec![("«", "»")],
        ),
        "de" => (vec![",", ";"], vec![".", "!", "?", ":"], vec![("„", "“")]),
        "fr" => (vec![",", ";"], vec![".", "!", "?", ":"], vec![("« ", " »")]),
        _ => (
            vec![",", ";"],
            vec![".", "!", "?", ":"],
            vec![("“", "”"), ("(", ")")],
        ),
    }
}

impl Lang {
    /// Longest line, in characters. CJK glyphs are full-width, so fewer fit the width cap.
    fn max_chars(&self) -> usize {
        match self.script {
            Script::Cjk => 18,
            _ => 42,
        }
    }

    /// Composes one line: 2–8 words, occasionally with a number, a comma, quotes, a stop.
    pub(crate) fn compose(&self, rng: &mut Rng) -> String {
        let cjk = self.script == Script::Cjk;
        let sep = if cjk { "" } else { " " };
        let target = rng.between(2, 8);
        let mut words: Vec<String> = Vec::with_capacity(target);
        let mut chars = 0;
        while words.len() < target {
            let w = *rng.pick(&self.words);
            let n = w.chars().count() + usize::from(!words.is_empty() && !cjk);
            if !words.is_empty() && chars + n > self.max_chars() {
                break;
            }
            chars += n;
            words.push(w.to_string());
        }
        // Digits would need a bidi pass inside right-to-left text; keep them to LTR scripts.
        if self.script != Script::Arabic && rng.chance(0.15) {
            let number = match rng.below(4) {
                0 => rng.between(1, 99).to_string(),
                1 => rng.between(1800, 2030).to_string(),
                2 => format!("{}.{}", rng.between(1, 999), rng.between(0, 99)),
                _ => rng.between(100, 99_999).to_string(),
            };
            let at = rng.below(words.len() + 1);
            words.insert(at, number);
        }
        if matches!(self.script, Script::Latin | Script::Cyrillic) {
            match rng.below(10) {
                0..=4 => capitalise_first(&mut words[0]),
                5 => words.iter_mut().for_each(|w| *w = w.to_uppercase()),
                6 => words.iter_mut().for_each(capitalise_first),
                _ => {}
            }
        }
        if words.len() > 2 && !self.quotes.is_empty() && rng.chance(0.08) {
            let (open, close) = *rng.pick(&self.quotes);
            let i = rng.below(words.len());
            words[i] = format!("{open}{}{close}", words[i]);
        }
        if words.len() > 2 && !self.commas.is_empty() && rng.chance(0.3) {
            let i = rng.below(words.len() - 1);
            let comma = *rng.pick(&self.commas);
            words[i].push_str(comma);
        }
        let mut line = words.join(sep);
        if !self.stops.is_empty() && rng.chance(0.45) {
            let stop = *rng.pick(&self.stops);
            line.push_str(stop);
        }
        line
    }
}

fn capitalise_first(word: &mut String) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        *word = first.to_uppercase().chain(chars).collect();
    }
}
