//! Pass rates in exact rational arithmetic. The threshold is read from its shortest decimal
//! form (`0.9` → 9/10), and "pass rate > threshold" is decided as `correct · den > num · n` in
//! integers, so 15/16 = 0.9375 is dropped and 14/16 = 0.875 kept without any float fuzz, and
//! a threshold of exactly 9/10 against 9/10 keeps.

use serde::Deserialize;

/// A threshold `num / den` in lowest terms, 0 ≤ value ≤ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// Numerator.
    pub num: u64,
    /// Denominator.
    pub den: u64,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Threshold {
    /// From a config float through its shortest round-trip decimal (`0.9` is 9/10 exactly,
    /// not 0.90000000000000002220…).
    pub fn from_f64(x: f64) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&x) {
            return Err(format!("pass-rate threshold {x} must be within [0, 1]"));
        }
        Self::parse(&format!("{x}"))
    }

    /// From a decimal string (`0.9`, `1`, `0.875`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("pass-rate threshold {s:?} is not a decimal in [0, 1]");
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 15
            || int.is_empty()
            || !(int.chars().chain(frac.chars())).all(|c| c.is_ascii_digit())
        {
            return Err(bad());
        }
        let den = 10u64.pow(frac.len() as u32);
        let num = int.parse::<u64>().map_err(|_| bad())? * den
            + if frac.is_empty() {
                0
            } else {
                frac.parse::<u64>().map_err(|_| bad())?
            };
        if num > den {
            return Err(bad());
        }
        let g = gcd(num, den).max(1);
        Ok(Threshold {
            num: num / g,
            den: den / g,
        })
    }

    /// Whether `correct / n` is strictly above the threshold.
    pub fn exceeded_by(&self, correct: u64, n: u64) -> bool {
        u128::from(correct) * u128::from(self.den) > u128::from(self.num) * u128::from(n)
    }
}

/// What happens to a query no response solved (0/n): unsolvable, or mislabeled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroRule {
    /// Keep it (RL may still learn from it with other rewards).
    Keep,
    /// Drop it, counted under `zero_pass_rate`.
    Drop,
    /// Quarantine it under `zero_pass_rate` for review (likely a wrong reference answer).
    Quarantine,
}

/// The filter's decision for one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Kept for training.
    Keep,
    /// Dropped: pass rate above the threshold (`too_easy`).
    TooEasy,
    /// 0/n: dropped or quarantined per [`ZeroRule`].
    Zero(ZeroRule),
}

/// Decides one query: 0/n first (its own rule, even when the threshold is 0), then the
/// threshold.
pub fn decide(correct: u64, n: u64, threshold: Threshold, zero: ZeroRule) -> Decision {
    if correct == 0 {
        return match zero {
            ZeroRule::Keep => Decision::Keep,
            z => Decision::Zero(z),
        };
    }
    if threshold.exceeded_by(correct, n) {
        Decision::TooEasy
    } else {
        Decision::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_edges_at_nine_tenths_over_sixteen() {
        let t = Threshold::from_f64(0.9).unwrap();
        assert_eq!(t, Threshold { num: 9, den: 10 });
        let d = |c| decide(c, 16, t, ZeroRule::Drop);
        assert_eq!(d(14), Decision::Keep, "14/16 = 0.875 ≤ 0.9");
        assert_eq!(d(15), Decision::TooEasy, "15/16 = 0.9375 > 0.9");
        assert_eq!(d(16), Decision::TooEasy, "16/16");
        assert_eq!(d(1), Decision::Keep);
        assert_eq!(d(0), Decision::Zero(ZeroRule::Drop));
        assert_eq!(decide(0, 16, t, ZeroRule::Keep), Decision::Keep);
        assert_eq!(
            decide(0, 16, t, ZeroRule::Quarantine),
            Decision::Zero(ZeroRule::Quarantine)
        );
    }

    #[test]
    fn equality_with_the_threshold_keeps() {
        // 9/10 is not above 0.9: exact, where 9.0 / 10.0 > 0.9 in floats would be a coin toss.
        let t = Threshold::from_f64(0.9).unwrap();
        assert_eq!(decide(9, 10, t, ZeroRule::Drop), Decision::Keep);
        assert_eq!(decide(18, 20, t, ZeroRule::Drop), Decision::Keep);
        assert_eq!(decide(19, 20, t, ZeroRule::Drop), Decision::TooEasy);
        // 0.7 = 7/10: 7/10 keeps, though 0.1 * 7.0 = 0.7000000000000001 in floats.
        let s = Threshold::from_f64(0.7).unwrap();
        assert!(!s.exceeded_by(7, 10));
        assert!(s.exceeded_by(71, 100));
        assert!(!Threshold::from_f64(1.0).unwrap().exceeded_by(16, 16));
        assert!(Threshold::from_f64(0.0).unwrap().exceeded_by(1, 16));
    }

    #[test]
    fn bad_thresholds_are_refused() {
        assert!(Threshold::from_f64(1.5).is_err());
        assert!(Threshold::from_f64(-0.1).is_err());
        assert!(Threshold::from_f64(f64::NAN).is_err());
        assert!(Threshold::parse("0.x").is_err());
        assert_eq!(
            Threshold::parse("0.875").unwrap(),
            Threshold { num: 7, den: 8 }
        );
    }
}
