//! Final-answer extraction from a free-form response: the last `\boxed{…}` (balanced braces,
//! also `\fbox{…}` and `\boxed 5`), else what follows the last "answer is" / "answer:" (the
//! forms GSM8K and MATH solutions use), else the whole response. Written by hand because the
//! rules are a few lines of balanced-brace scanning; a regex cannot balance braces.

/// The text inside the last `\boxed{…}` / `\fbox{…}`, braces balanced.
pub fn last_boxed(text: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for tag in ["\\boxed", "\\fbox"] {
        let Some(pos) = text.rfind(tag) else { continue };
        let rest = &text[pos + tag.len()..];
        let inner = if let Some(body) = rest.strip_prefix('{') {
            let mut depth = 1usize;
            let mut end = None;
            for (i, c) in body.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            end.map(|e| body[..e].to_string())
        } else {
            // `\boxed 5$`: up to the next `$` or end of line.
            rest.strip_prefix(' ')
                .map(|body| body.split(['$', '\n']).next().unwrap_or("").to_string())
        };
        if let Some(inner) = inner
            && best.as_ref().is_none_or(|(p, _)| pos > *p)
        {
            best = Some((pos, inner.trim().to_string()));
        }
    }
    best.map(|(_, s)| s)
}

/// What follows the last "answer is" / "answer:" marker (case-insensitive), to the end of
/// that line, without a final full stop.
pub fn after_answer_marker(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    // Byte offsets agree between `text` and `lower` only for ASCII; search markers on a
    // char-aligned copy instead when the text is not ASCII.
    if lower.len() != text.len() {
        return None;
    }
    let mut best: Option<usize> = None;
    for m in ["answer is", "answer:", "answer is:", "答案是", "答案："] {
        if let Some(p) = lower.rfind(m) {
            let end = p + m.len();
            if best.is_none_or(|b| end > b) {
                best = Some(end);
            }
        }
    }
    let start = best?;
    let line = text[start..].lines().next().unwrap_or("").trim();
    let line = line.trim_end_matches(['.', '。']).trim();
    let line = line
        .strip_suffix("I hope it is correct")
        .unwrap_or(line)
        .trim()
        .trim_end_matches('.')
        .trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// The final answer of a response and whether an explicit marker (boxed, "answer") found it.
pub fn final_answer(text: &str) -> (String, bool) {
    if let Some(b) = last_boxed(text) {
        return (b, true);
    }
    if let Some(a) = after_answer_marker(text) {
        // "The final answer is $\boxed{..}$" is handled above; "is $24$" keeps the dollars,
        // which the verifiers strip.
        return (a, true);
    }
    (text.trim().to_string(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction() {
        assert_eq!(
            last_boxed("so $\\boxed{\\frac{1}{2}}$."),
            Some("\\frac{1}{2}".into())
        );
        assert_eq!(last_boxed("\\boxed{1} then \\boxed{2}"), Some("2".into()));
        assert_eq!(last_boxed("\\boxed 5$ done"), Some("5".into()));
        assert_eq!(last_boxed("\\boxed{unclosed"), None);
        assert_eq!(
            final_answer("21 - 15 = 6. The answer is 6.").0,
            "6".to_string()
        );
        assert_eq!(
            final_answer("Final Answer: The final answer is $[2,5)$. I hope it is correct.").0,
            "$[2,5)$"
        );
        assert_eq!(final_answer("Answer: B").0, "B");
        assert_eq!(final_answer("  42 ").0, "42");
        assert!(!final_answer("42").1);
    }
}
