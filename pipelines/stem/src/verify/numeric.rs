//! Numbers as people and models write them: `1,234.5`, `-3/4`, `\frac{3}{4}`, `-\dfrac23`,
//! `1 1/2`, `12%`, `1.5e3`, `1.5 \times 10^{3}`, `$5.00`, `12 cm`, `45^\circ`. Parsed by hand
//! (a small grammar; no crate covers LaTeX fractions and units together).

/// A parsed number: its value, whether it carried a percent sign, and a unit word if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    /// The value as written (a percent sign does not divide by 100 here).
    pub value: f64,
    /// Written with `%`.
    pub percent: bool,
    /// Trailing unit (`cm`, `kg`, …), lower-case; empty when none.
    pub unit: String,
}

fn strip_latex(s: &str) -> String {
    let mut t = s.to_string();
    for (from, to) in [
        ("\\left", ""),
        ("\\right", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("\\ ", ""),
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("\\%", "%"),
        ("\\$", ""),
        ("^\\circ", "°"),
        ("^{\\circ}", "°"),
        ("\\degree", "°"),
        ("\\cdot", "*"),
        ("\\times", "*"),
        ("×", "*"),
        ("·", "*"),
        ("−", "-"),
        ("{,}", ""),
    ] {
        t = t.replace(from, to);
    }
    // \text{cm} / \mathrm{cm} → cm
    for cmd in ["\\text", "\\mathrm", "\\textbf", "\\mbox"] {
        while let Some(p) = t.find(&format!("{cmd}{{")) {
            let body = &t[p + cmd.len() + 1..];
            let Some(e) = body.find('}') else { break };
            t = format!("{} {}{}", &t[..p], &body[..e], &body[e + 1..]);
        }
    }
    t.replace(['$', '{', '}'], " ").trim().to_string()
}

/// `\frac a b` with the braces already turned into spaces by `strip_latex` is awkward, so
/// fractions are rewritten first: `\frac{a}{b}` and `\frac ab` → `(a)/(b)`.
fn rewrite_frac(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(p) = rest.find("\\frac") {
        out.push_str(&rest[..p]);
        let mut r = &rest[p + 5..];
        let mut args = Vec::new();
        for _ in 0..2 {
            r = r.trim_start();
            if let Some(body) = r.strip_prefix('{') {
                let mut depth = 1;
                let mut end = body.len();
                for (i, c) in body.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = i;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                args.push(body[..end].to_string());
                r = body.get(end + 1..).unwrap_or("");
            } else if let Some(c) = r.chars().next() {
                args.push(c.to_string());
                r = &r[c.len_utf8()..];
            }
        }
        if args.len() == 2 {
            out.push_str(&format!("{}/{}", args[0], args[1]));
        }
        rest = r;
    }
    out.push_str(rest);
    out
}

fn plain(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    // Thousands separators: 1,234,567 (groups of three only, so "1,2" is not 12).
    let t = if s.contains(',') {
        let (int, frac) = s.split_once('.').map_or((s, None), |(a, b)| (a, Some(b)));
        let groups: Vec<&str> = int.trim_start_matches(['-', '+']).split(',').collect();
        let ok = groups.len() > 1
            && !groups[0].is_empty()
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3);
        if !ok {
            return None;
        }
        let joined = int.replace(',', "");
        match frac {
            Some(f) => format!("{joined}.{f}"),
            None => joined,
        }
    } else {
        s.to_string()
    };
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Value of a product/fraction expression without units: `a`, `a/b`, `a*10^k`, `a e k`,
/// `w a/b` (mixed number).
fn expression(s: &str) -> Option<f64> {
    let mut s = s.trim().replace("(", "").replace(")", "");
    if s.contains('*') || s.contains('^') {
        s.retain(|c| c != ' ');
    }
    let s = s.trim();
    if let Some((m, e)) = s.split_once("*10^") {
        return Some(expression(m)? * 10f64.powf(plain(e.trim())?));
    }
    if let Some(e) = s.strip_prefix("10^") {
        return Some(10f64.powf(plain(e)?));
    }
    if let Some((a, b)) = s.split_once('/') {
        let (neg, a) = match a.trim().strip_prefix('-') {
            Some(r) => (true, r.trim()),
            None => (false, a.trim()),
        };
        // Mixed number "1 1/2".
        let (whole, num) = match a.rsplit_once(' ') {
            Some((w, n)) => (plain(w)?, plain(n)?),
            None => (0.0, plain(a)?),
        };
        let den = plain(b)?;
        if den == 0.0 {
            return None;
        }
        let v = whole + num / den;
        return Some(if neg { -v } else { v });
    }
    plain(&s.replace(' ', ""))
}

/// Parses `text` as one number with optional sign, percent and unit; `None` when it is not a
/// single number.
pub fn parse(text: &str) -> Option<Number> {
    let pre = text
        .trim()
        .replace("\\dfrac", "\\frac")
        .replace("\\tfrac", "\\frac");
    let t = strip_latex(&rewrite_frac(&pre));
    let mut t = t.trim().trim_end_matches('.').trim().to_string();
    // Currency prefixes.
    for c in ["US$", "$", "€", "£", "¥"] {
        if let Some(r) = t.strip_prefix(c) {
            t = r.trim().to_string();
        }
        if let Some(r) = t.strip_prefix(&format!("-{c}")) {
            t = format!("-{}", r.trim());
        }
    }
    let mut percent = false;
    if let Some(r) = t.strip_suffix('%') {
        percent = true;
        t = r.trim().to_string();
    } else if let Some(r) = t.strip_suffix("percent") {
        percent = true;
        t = r.trim().to_string();
    }
    let mut unit = String::new();
    if let Some(r) = t.strip_suffix('°') {
        unit = "°".into();
        t = r.trim().to_string();
    }
    // A trailing unit word: letters after the number ("12 cm", "5kg", "3 apples").
    let cut = t
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic() || *c == ' ' || *c == '²' || *c == '³')
        .last()
        .map(|(i, _)| i);
    if let Some(i) = cut
        && i > 0
    {
        let word = t[i..].trim();
        // `e` alone is scientific notation's, not a unit.
        if !word.is_empty() && !word.eq_ignore_ascii_case("e") {
            unit = word.to_lowercase();
            t = t[..i].trim().to_string();
        }
    }
    if let Some(r) = t.strip_suffix('%') {
        percent = true;
        t = r.trim().to_string();
    }
    let value = expression(&t)?;
    Some(Number {
        value,
        percent,
        unit,
    })
}

/// The last number-looking token of a text (used only when a response has no boxed answer or
/// "answer" marker, as lm-eval's flexible extraction does).
pub fn last_number(text: &str) -> Option<Number> {
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '=' || c == ':')
        .filter(|t| t.chars().any(|c| c.is_ascii_digit()))
        .collect();
    tokens.iter().rev().find_map(|t| {
        parse(t.trim_matches(|c: char| {
            !c.is_ascii_alphanumeric() && c != '%' && c != '-' && c != '.' && c != '/' && c != '$'
        }))
    })
}

/// Whether two numbers agree: within `tolerance` (absolute, in the reference's own scale) when
/// given, else within 1e-6 relative. Differing units on both sides never match (`5 cm` ≠ `5 m`).
///
/// Percents:
/// - a reference written with `%` is compared on the percent scale, so its tolerance is in
///   percentage points (`375/8%` ± 0.05 accepts `46.9%`, not `42%`). A response with `%` is
///   taken as written; one without is taken as written (`40` for `40%`) or, when it looks like
///   a fraction (|x| ≤ 1), also ×100 (`0.4` for `40%`);
/// - a reference without `%` against a response with it: the response as written (`40%` for
///   `40`) or ÷100 (`40%` for `0.4`), tolerance in the reference's scale.
pub fn equal(reference: &Number, response: &Number, tolerance: Option<f64>) -> bool {
    if !reference.unit.is_empty()
        && !response.unit.is_empty()
        && reference.unit != response.unit
        && reference.unit.trim_end_matches('s') != response.unit.trim_end_matches('s')
    {
        return false;
    }
    let close = |a: f64, b: f64| match tolerance {
        Some(t) => (a - b).abs() <= t,
        None => (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1e-9),
    };
    let r = response.value;
    if reference.percent {
        let fraction_like = !response.percent && r.abs() <= 1.0;
        return close(reference.value, r) || (fraction_like && close(reference.value, r * 100.0));
    }
    if response.percent {
        return close(reference.value, r) || close(reference.value, r / 100.0);
    }
    close(reference.value, r)
}
