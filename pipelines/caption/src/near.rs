//! Near-duplicate groups over whole data sets: images by pHash (indexed) confirmed by dHash,
//! captions by MinHash LSH. Both return, for every record, the index of its group's
//! representative under [`crate::groups::leaders`].

use rayon::prelude::*;

use crate::groups::{Rank, leaders};
use crate::mih::HashIndex;
use crate::minhash::{Lsh, MinHasher, similarity};

/// Default pHash threshold: bits (of 64) that may differ between near-duplicates.
pub const PHASH_THRESHOLD: u32 = 12;
/// Default dHash threshold.
pub const DHASH_THRESHOLD: u32 = 16;
/// Default caption similarity (estimated Jaccard of character 5-grams).
pub const CAPTION_THRESHOLD: f64 = 0.8;

/// Matching thresholds for images.
#[derive(Debug, Clone, Copy)]
pub struct ImageThresholds {
    /// Most differing pHash bits.
    pub phash: u32,
    /// Most differing dHash bits.
    pub dhash: u32,
}

impl Default for ImageThresholds {
    fn default() -> Self {
        ImageThresholds {
            phash: PHASH_THRESHOLD,
            dhash: DHASH_THRESHOLD,
        }
    }
}

/// Leader of every image: two images match when both hash distances are within the
/// thresholds (pHash is indexed, dHash confirms).
pub fn image_leaders(
    ranks: &[Rank],
    phash: &[u64],
    dhash: &[u64],
    t: ImageThresholds,
) -> Vec<usize> {
    let index = HashIndex::new(phash.to_vec(), t.phash);
    // Every record's matches, found in parallel (they do not depend on the grouping); the
    // leader pass itself is sequential and cheap.
    let matches: Vec<Vec<u32>> = (0..ranks.len())
        .into_par_iter()
        .map_init(Vec::new, |found, i| {
            index.neighbours(phash[i], t.phash, found);
            found
                .iter()
                .copied()
                .filter(|&j| {
                    j as usize != i && (dhash[j as usize] ^ dhash[i]).count_ones() <= t.dhash
                })
                .collect()
        })
        .collect();
    leaders(ranks, |i, out| {
        out.clear();
        out.extend_from_slice(&matches[i]);
    })
}

/// Leader of every record by caption similarity; records without text lead themselves.
pub fn caption_leaders(
    ranks: &[Rank],
    texts: &[Option<&str>],
    threshold: f64,
    seed: u64,
) -> Vec<usize> {
    let hasher = MinHasher::new(seed);
    let sigs: Vec<Option<Vec<u64>>> = texts
        .iter()
        .map(|t| t.and_then(|t| hasher.signature(t)))
        .collect();
    let lsh = Lsh::new(&sigs);
    let mut cands = Vec::new();
    leaders(ranks, |i, out| {
        out.clear();
        let Some(s) = &sigs[i] else { return };
        lsh.candidates(s, &mut cands);
        out.extend(cands.iter().copied().filter(|&j| {
            sigs[j as usize]
                .as_ref()
                .is_some_and(|o| similarity(s, o) >= threshold)
        }));
    })
}
