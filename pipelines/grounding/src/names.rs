//! Category names and referring expressions as they appear in prompts and labels.
//!
//! Datasets spell categories differently (`teddy_bear` in LVIS, `Other Shoes` in Objects365,
//! `_background_` in labelme exports), and a prompt reads "How many teddy bears…". Names are
//! normalised once, in the readers, so two spellings of one category count together:
//! underscores become spaces, runs of whitespace collapse, and capitalised words are
//! lower-cased while acronyms and mixed-case words (`TV`, `SUV`, `iPhone`) are kept.
//! Expressions keep their case; they are compared for duplicates case-insensitively, with
//! whitespace collapsed and trailing punctuation ignored.

/// The normalised form of a category name (see the module docs). Empty for a blank name.
pub fn normalise_category(raw: &str) -> String {
    raw.replace('_', " ")
        .split_whitespace()
        .map(|w| {
            let upper = w.chars().filter(|c| c.is_uppercase()).count();
            let lower = w.chars().filter(|c| c.is_lowercase()).count();
            let first_upper = w.chars().next().is_some_and(char::is_uppercase);
            let acronym = upper >= 2 && lower == 0;
            let mixed = upper >= 1 && !(first_upper && upper == 1);
            if acronym || mixed {
                w.to_string()
            } else {
                w.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A referring expression with whitespace collapsed and trimmed.
pub fn normalise_expression(raw: &str) -> String {
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key under which two expressions are duplicates: normalised, lower-case, without
/// trailing `.`, `!`, `?` or `,`.
pub fn expression_key(raw: &str) -> String {
    normalise_expression(raw)
        .to_lowercase()
        .trim_end_matches(['.', '!', '?', ','])
        .trim_end()
        .to_string()
}

/// Nouns whose plural is the singular (or that are plural already).
const UNCHANGED: &[&str] = &[
    "sheep",
    "deer",
    "fish",
    "bison",
    "moose",
    "aircraft",
    "series",
    "species",
    "skis",
    "scissors",
    "glasses",
    "sunglasses",
    "pants",
    "jeans",
    "shorts",
    "trousers",
    "binoculars",
    "tongs",
    "pliers",
    "headphones",
    "earphones",
    "people",
    "clothes",
    "broccoli",
    "luggage",
    "furniture",
    "equipment",
];

/// Irregular plurals of common object words.
const IRREGULAR: &[(&str, &str)] = &[
    ("person", "people"),
    ("man", "men"),
    ("woman", "women"),
    ("child", "children"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("mouse", "mice"),
    ("goose", "geese"),
    ("ox", "oxen"),
    ("knife", "knives"),
    ("leaf", "leaves"),
    ("shelf", "shelves"),
    ("wolf", "wolves"),
    ("calf", "calves"),
    ("half", "halves"),
    ("loaf", "loaves"),
    ("scarf", "scarves"),
    ("life", "lives"),
    ("wife", "wives"),
    ("potato", "potatoes"),
    ("tomato", "tomatoes"),
    ("hero", "heroes"),
    ("cactus", "cacti"),
];

/// The English plural of a noun phrase, for prompts like "How many {{ labels }}…": the last
/// word is pluralised (irregular words, then -s/-es/-ies rules); a phrase ending in a
/// parenthesis (`bow (weapon)`) pluralises the word before it.
pub fn plural(phrase: &str) -> String {
    if let Some(open) = phrase.rfind(" (").filter(|_| phrase.ends_with(')')) {
        return format!("{}{}", plural(&phrase[..open]), &phrase[open..]);
    }
    let (head, last) = match phrase.rfind(' ') {
        Some(i) => (&phrase[..=i], &phrase[i + 1..]),
        None => ("", phrase),
    };
    format!("{head}{}", plural_word(last))
}

fn plural_word(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.is_empty() || UNCHANGED.contains(&lower.as_str()) {
        return word.to_string();
    }
    if let Some((_, p)) = IRREGULAR.iter().find(|(s, _)| *s == lower) {
        // Keep a leading capital.
        return if word.starts_with(char::is_uppercase) {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        } else {
            p.to_string()
        };
    }
    if word.chars().all(|c| c.is_uppercase() || c.is_ascii_digit()) && word.len() >= 2 {
        return format!("{word}s"); // TVs, SUVs
    }
    let ends = |s: &str| lower.ends_with(s);
    let consonant_y = ends("y")
        && lower
            .chars()
            .rev()
            .nth(1)
            .is_some_and(|c| !"aeiou".contains(c));
    if consonant_y {
        format!("{}ies", &word[..word.len() - 1])
    } else if ends("s") || ends("x") || ends("z") || ends("ch") || ends("sh") {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_spellings_normalise_to_one_name() {
        assert_eq!(normalise_category("teddy_bear"), "teddy bear");
        assert_eq!(normalise_category("  Other   Shoes "), "other shoes");
        assert_eq!(normalise_category("Person"), "person");
        assert_eq!(normalise_category("TV"), "TV");
        assert_eq!(normalise_category("iPhone case"), "iPhone case");
        assert_eq!(normalise_category("_background_"), "background");
        assert_eq!(normalise_category("bow_(weapon)"), "bow (weapon)");
        assert_eq!(normalise_category("   "), "");
    }

    #[test]
    fn expressions_compare_loosely() {
        assert_eq!(
            normalise_expression("  the  man\tin red "),
            "the man in red"
        );
        assert_eq!(
            expression_key("The man in red."),
            expression_key("the man  in red")
        );
        assert_ne!(expression_key("left man"), expression_key("right man"));
    }

    #[test]
    fn plurals_of_coco_and_voc_names() {
        for (s, p) in [
            ("coin", "coins"),
            ("person", "people"),
            ("bus", "buses"),
            ("bench", "benches"),
            ("knife", "knives"),
            ("sheep", "sheep"),
            ("skis", "skis"),
            ("teddy bear", "teddy bears"),
            ("wine glass", "wine glasses"),
            ("butterfly", "butterflies"),
            ("toy", "toys"),
            ("TV", "TVs"),
            ("potted plant", "potted plants"),
            ("bow (weapon)", "bows (weapon)"),
            ("mouse", "mice"),
            ("box", "boxes"),
        ] {
            assert_eq!(plural(s), p, "{s}");
        }
    }
}
