//! The verifier table: equivalent and non-equivalent answer pairs per verifier.

use super::*;

fn q(kind: VerifierKind, answer: &str) -> Query {
    Query::new(kind, answer)
}

fn numeric_tol(answer: &str, tol: f64) -> Query {
    let mut q = q(VerifierKind::Numeric, answer);
    q.tolerance = Some(tol);
    q
}

fn choice(answer: &str, options: &[&str]) -> Query {
    let mut q = q(VerifierKind::Choice, answer);
    q.choices = options.iter().map(|s| s.to_string()).collect();
    q
}

fn ground(b: [f64; 4]) -> Query {
    let mut q = q(VerifierKind::Grounding, "x");
    q.target_box = Some(b);
    q
}

use Verdict::{Correct as C, NoAnswer as N, Wrong as W};
use VerifierKind::{Numeric as Num, String as Str};

#[test]
fn verifier_table() {
    let abcd = ["increased", "decreased", "unchanged", "unknown"];
    let cases: Vec<(Query, &str, Verdict)> = vec![
        // numeric: equivalent forms
        (q(Num, "6"), "The answer is 6.", C),
        (q(Num, "6"), "\\boxed{6}", C),
        (q(Num, "6"), "6.0", C),
        (q(Num, "1234567"), "1,234,567", C),
        (q(Num, "1234.5"), "The answer is 1,234.5", C),
        (q(Num, "0.75"), "3/4", C),
        (q(Num, "3/4"), "\\boxed{\\frac{3}{4}}", C),
        (q(Num, "-\\frac{2}{3}"), "$\\boxed{-\\frac{2}{3}}$", C),
        (q(Num, "-\\frac{2}{3}"), "\\boxed{-\\dfrac23}", C),
        (q(Num, "-2/3"), "Answer: -0.6666667", C),
        (q(Num, "1.5"), "1 1/2", C),
        (q(Num, "1500"), "1.5e3", C),
        (q(Num, "1500"), "\\boxed{1.5 \\times 10^{3}}", C),
        (q(Num, "0.00012"), "1.2E-4", C),
        (q(Num, "40%"), "40", C),
        (q(Num, "40%"), "0.4", C),
        (q(Num, "0.4"), "40%", C),
        (q(Num, "40%"), "\\boxed{40\\%}", C),
        (q(Num, "12"), "12 cm", C),
        (q(Num, "12 cm"), "\\boxed{12\\text{ cm}}", C),
        (q(Num, "8"), "$8.00", C),
        (q(Num, "45"), "\\boxed{45^\\circ}", C),
        (q(Num, "6"), "21 - 15 = 6. So they planted 6 trees", C),
        (numeric_tol("37/25", 0.005 + 1e-9), "1.48", C),
        (
            numeric_tol("37/25", 0.005 + 1e-9),
            "\\boxed{\\frac{37}{25}}",
            C,
        ),
        (numeric_tol("375/8%", 0.05 + 1e-9), "46.9%", C),
        // A percent reference's tolerance is in percentage points (46.875% ± 0.05).
        (numeric_tol("375/8%", 0.05), "46.85%", C),
        (numeric_tol("375/8%", 0.05), "0.469", C),
        // numeric: not equivalent
        (q(Num, "6"), "The answer is 7.", W),
        (q(Num, "6"), "\\boxed{6.5}", W),
        (q(Num, "0.75"), "4/3", W),
        (q(Num, "-\\frac{2}{3}"), "\\boxed{\\frac{2}{3}}", W),
        (q(Num, "40"), "0.4", W),
        (q(Num, "1500"), "1.5e4", W),
        (q(Num, "12 cm"), "12 m", W),
        (q(Num, "12"), "1,2", N),
        (numeric_tol("37/25", 0.005 + 1e-9), "1.49", W),
        (numeric_tol("375/8%", 0.05), "42%", W),
        (numeric_tol("375/8%", 0.05), "46.8%", W),
        (numeric_tol("375/8%", 0.05), "0.42", W),
        (q(Num, "6"), "I do not know.", N),
        (q(Num, "6"), "The answer is 6 and also \\boxed{5}", W),
        // string
        (q(Str, "Apple"), "apple", C),
        (q(Str, "Apple"), "The answer is **Apple**.", C),
        (q(Str, "香蕉"), "\\boxed{香蕉}", C),
        (q(Str, "[2,5)"), "\\boxed{[2, 5)}", C),
        (
            q(Str, "[2,5)"),
            "Final Answer: The final answer is $[2,5)$. I hope it is correct.",
            C,
        ),
        (q(Str, "[2,5)"), "\\boxed{\\left[2,5\\right)}", C),
        (q(Str, "Apple"), "Apples", W),
        (q(Str, "[2,5)"), "\\boxed{[2,5]}", W),
        (q(Str, "Север"), "Юг", W),
        // choice
        (choice("B", &abcd), "B", C),
        (choice("B", &abcd), "The answer is (B).", C),
        (choice("B", &abcd), "\\boxed{B}", C),
        (choice("B", &abcd), "Answer: decreased", C),
        (choice("B", &abcd), "Option B", C),
        (choice("B", &abcd), "b) decreased", C),
        (choice("B", &abcd), "A", W),
        (choice("B", &abcd), "Answer: increased", W),
        (choice("B", &abcd), "b) increased", N),
        (choice("B", &abcd), "E", N),
        // grounding
        (
            ground([100.0, 200.0, 300.0, 400.0]),
            "```json\n[{\"point_2d\": [150, 250], \"label\": \"x\"}]\n```",
            C,
        ),
        (
            ground([100.0, 200.0, 300.0, 400.0]),
            "{\"point_2d\": [100, 400]}",
            C,
        ),
        (
            ground([100.0, 200.0, 300.0, 400.0]),
            "The point is (120, 390).",
            C,
        ),
        (
            ground([100.0, 200.0, 300.0, 400.0]),
            "[{\"bbox_2d\": [110, 210, 300, 400]}]",
            C,
        ),
        (
            ground([100.0, 200.0, 300.0, 400.0]),
            "[100, 200, 280, 380]",
            C,
        ),
        (
            ground([100.0, 200.0, 300.0, 400.0]),
            "[{\"point_2d\": [99, 250]}]",
            W,
        ),
        (
            ground([100.0, 200.0, 300.0, 400.0]),
            "[{\"bbox_2d\": [200, 300, 400, 500]}]",
            W,
        ),
        (ground([100.0, 200.0, 300.0, 400.0]), "[0, 0, 120, 220]", W),
        (
            ground([100.0, 200.0, 300.0, 400.0]),
            "somewhere on the left",
            N,
        ),
    ];
    assert!(cases.len() >= 50, "{}", cases.len());
    let mut failures = Vec::new();
    for (query, response, want) in &cases {
        let got = verify(query, response);
        if got != *want {
            failures.push(format!(
                "{:?} {:?} vs {response:?}: got {got:?}, want {want:?}",
                query.verifier, query.answer
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn iou_edges() {
    assert_eq!(iou([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]), 1.0);
    assert_eq!(iou([0.0, 0.0, 10.0, 10.0], [10.0, 10.0, 20.0, 20.0]), 0.0);
    assert!((iou([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0]) - 0.5).abs() < 1e-12);
    assert_eq!(iou([5.0, 5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0]), 0.0);
}
