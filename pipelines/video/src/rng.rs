//! Seeded choices keyed by record, not by split: the same video gets the same timestamp
//! format and phrasing however the run was cut into splits or ranks.
//!
//! A SHA-256 of (seed, purpose, key) is all that is needed for a handful of draws per sample,
//! so no RNG crate: the first 8 bytes give a uniform `u64`.

use sha2::{Digest, Sha256};

/// A uniform draw in `[0, 1)` for (`seed`, `purpose`, `key`).
pub fn unit(seed: u64, purpose: &str, key: &str) -> f64 {
    (draw(seed, purpose, key) >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform index below `n` (`n > 0`).
pub fn index(seed: u64, purpose: &str, key: &str, n: usize) -> usize {
    (draw(seed, purpose, key) % n.max(1) as u64) as usize
}

fn draw(seed: u64, purpose: &str, key: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update((purpose.len() as u64).to_le_bytes());
    h.update(purpose.as_bytes());
    h.update(key.as_bytes());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("32-byte digest"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_stable_and_spread() {
        assert_eq!(unit(1, "a", "x"), unit(1, "a", "x"));
        assert_ne!(unit(1, "a", "x"), unit(2, "a", "x"));
        let share = (0..2000)
            .filter(|i| unit(7, "fmt", &i.to_string()) < 0.3)
            .count() as f64
            / 2000.0;
        assert!((share - 0.3).abs() < 0.04, "{share}");
        assert!((0..100).all(|i| index(3, "q", &i.to_string(), 5) < 5));
    }
}
