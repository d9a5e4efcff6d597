//! Deterministic near-duplicate groups by the leader rule: records are visited from the best
//! (largest resolution, then smallest content id, then smallest uid) down; an unassigned
//! record becomes a group's representative and claims every unassigned record it matches.
//!
//! Unlike connected components this never chains A≈B≈C into one group when A and C differ,
//! and the representative is by construction the best member. The result depends only on the
//! set of records, never on their order in files, so one rank and four ranks agree.

use std::cmp::Ordering;

/// What decides which member of a group is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rank {
    /// Width × height.
    pub pixels: u64,
    /// Content id (sha256 of the stored bytes).
    pub id: String,
    /// Record id (unique).
    pub uid: String,
}

/// Best first: more pixels, then smaller id, then smaller uid.
pub fn best_first(a: &Rank, b: &Rank) -> Ordering {
    b.pixels
        .cmp(&a.pixels)
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.uid.cmp(&b.uid))
}

/// For each record, the index of its group's representative. `matches(i, out)` fills `out`
/// with the records that record `i` matches (it may include `i` and records already taken).
pub fn leaders(ranks: &[Rank], mut matches: impl FnMut(usize, &mut Vec<u32>)) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ranks.len()).collect();
    order.sort_by(|&a, &b| best_first(&ranks[a], &ranks[b]));
    let mut leader = vec![usize::MAX; ranks.len()];
    let mut found = Vec::new();
    for &i in &order {
        if leader[i] != usize::MAX {
            continue;
        }
        leader[i] = i;
        matches(i, &mut found);
        for &j in &found {
            let j = j as usize;
            if leader[j] == usize::MAX {
                leader[j] = i;
            }
        }
    }
    leader
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(pixels: u64, id: &str) -> Rank {
        Rank {
            pixels,
            id: id.into(),
            uid: id.into(),
        }
    }

    #[test]
    fn best_member_leads_and_chains_do_not_merge() {
        // 0≈1, 1≈2, but 0≉2: 1 (largest) leads and takes both; with 0 largest, 2 stays apart.
        let edges = [(0, 1), (1, 2)];
        let m = |i: usize, out: &mut Vec<u32>| {
            out.clear();
            for &(a, b) in &edges {
                if a == i {
                    out.push(b as u32);
                }
                if b == i {
                    out.push(a as u32);
                }
            }
        };
        assert_eq!(leaders(&[r(1, "a"), r(9, "b"), r(1, "c")], m), [1, 1, 1]);
        assert_eq!(leaders(&[r(9, "a"), r(1, "b"), r(1, "c")], m), [0, 0, 2]);
        // Equal size: the smaller id leads.
        assert_eq!(leaders(&[r(5, "z"), r(5, "y"), r(1, "c")], m), [1, 1, 1]);
    }
}
