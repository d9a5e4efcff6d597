//! Caption / alt-text near-duplicates: MinHash signatures over character 5-gram shingles of
//! the normalised text, banded LSH for candidates, the signature's Jaccard estimate to
//! confirm. Written here (about a hundred lines) rather than taken from `gaoya`, whose
//! dependency tree pins an old `rand`; the permutations come from our seeded ChaCha stream so
//! signatures are identical on every machine and rank.

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mersenne prime 2^61 − 1: universal hashing `(a·x + b) mod p` as permutations.
const P: u64 = (1 << 61) - 1;

/// Signature length and banding: 32 bands × 4 rows.
pub const PERMS: usize = 128;
const BANDS: usize = 32;
const ROWS: usize = PERMS / BANDS;
const SHINGLE: usize = 5;

/// MinHash signer with fixed permutations.
pub struct MinHasher {
    a: Vec<u64>,
    b: Vec<u64>,
}

/// Lower-cased words (letters and digits) joined by single spaces.
pub fn normalise(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h % P
}

fn mulmod(a: u64, b: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(P)) as u64
}

impl MinHasher {
    /// Permutations drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = (0..PERMS).map(|_| rng.random_range(1..P)).collect();
        let b = (0..PERMS).map(|_| rng.random_range(0..P)).collect();
        MinHasher { a, b }
    }

    /// The signature of `text`; `None` when the normalised text is empty.
    pub fn signature(&self, text: &str) -> Option<Vec<u64>> {
        let norm: Vec<char> = normalise(text).chars().collect();
        if norm.is_empty() {
            return None;
        }
        let mut shingles: Vec<u64> = if norm.len() <= SHINGLE {
            vec![fnv1a(norm.iter().collect::<String>().as_bytes())]
        } else {
            norm.windows(SHINGLE)
                .map(|w| fnv1a(w.iter().collect::<String>().as_bytes()))
                .collect()
        };
        shingles.sort_unstable();
        shingles.dedup();
        Some(
            (0..PERMS)
                .map(|k| {
                    shingles
                        .iter()
                        .map(|&x| (mulmod(self.a[k], x) + self.b[k]) % P)
                        .min()
                        .expect("non-empty")
                })
                .collect(),
        )
    }
}

/// Estimated Jaccard similarity of two signatures.
pub fn similarity(a: &[u64], b: &[u64]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len().max(1) as f64
}

/// Banded LSH buckets over a set of signatures.
pub struct Lsh {
    buckets: Vec<HashMap<u64, Vec<u32>>>,
}

fn band_key(sig: &[u64], band: usize) -> u64 {
    sig[band * ROWS..(band + 1) * ROWS]
        .iter()
        .fold(0xcbf29ce484222325u64, |h, &v| {
            (h ^ v).wrapping_mul(0x100000001b3)
        })
}

impl Lsh {
    /// Buckets every signature (`None`s are skipped).
    pub fn new(sigs: &[Option<Vec<u64>>]) -> Self {
        let mut buckets: Vec<HashMap<u64, Vec<u32>>> = vec![HashMap::new(); BANDS];
        for (i, s) in sigs.iter().enumerate() {
            if let Some(s) = s {
                for (band, map) in buckets.iter_mut().enumerate() {
                    map.entry(band_key(s, band)).or_default().push(i as u32);
                }
            }
        }
        Lsh { buckets }
    }

    /// Candidates sharing at least one band with `sig`, ascending and unique.
    pub fn candidates(&self, sig: &[u64], out: &mut Vec<u32>) {
        out.clear();
        for (band, map) in self.buckets.iter().enumerate() {
            if let Some(v) = map.get(&band_key(sig, band)) {
                out.extend_from_slice(v);
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_identical_captions_match_and_different_ones_do_not() {
        let m = MinHasher::new(1);
        let a = m
            .signature("A red double-decker bus parked on a busy London street.")
            .unwrap();
        let b = m
            .signature("a red double decker bus parked on a busy london street")
            .unwrap();
        let c = m
            .signature("A red double-decker bus parked on a busy London street at night.")
            .unwrap();
        let d = m
            .signature("Two cats sleeping on a sofa next to a window.")
            .unwrap();
        assert_eq!(similarity(&a, &b), 1.0);
        assert!(similarity(&a, &c) > 0.75, "{}", similarity(&a, &c));
        assert!(similarity(&a, &d) < 0.2);
        assert!(m.signature(" !! ").is_none());
        let sigs = vec![Some(a.clone()), Some(c), Some(d), None];
        let lsh = Lsh::new(&sigs);
        let mut out = Vec::new();
        lsh.candidates(&a, &mut out);
        assert_eq!(out, [0, 1]);
    }
}
