//! Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p,
//! after a repetition penalty — the order and semantics of transformers' logits processors
//! (penalty, then temperature, top-k, top-p), so settings copied from a model card mean the same.
//!
//! Each completion owns a ChaCha stream seeded from `(seed, completion index)`: the tokens of
//! completion `i` never depend on how many other completions or requests share the batch.

use rand::RngExt;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::api::SamplingParams;

/// Per-completion sampling state.
pub struct Sampler {
    params: SamplingParams,
    rng: ChaCha20Rng,
}

impl Sampler {
    /// The sampler of completion `index` of a request with these params.
    pub fn new(params: &SamplingParams, index: usize) -> Self {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&params.seed.to_le_bytes());
        seed[8..16].copy_from_slice(&(index as u64).to_le_bytes());
        Sampler {
            params: params.clone(),
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    /// Picks the next token. `seen` holds the prompt and the tokens generated so far (for the
    /// repetition penalty). `logits` is modified in place.
    pub fn next(&mut self, logits: &mut [f32], seen: &[u32]) -> u32 {
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            apply_repetition_penalty(logits, seen, p.repetition_penalty as f32);
        }
        if p.temperature == 0.0 {
            return argmax(logits);
        }
        let t = p.temperature as f32;
        let mut cand: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l / t))
            .filter(|(_, l)| l.is_finite())
            .collect();
        if cand.is_empty() {
            return argmax(logits);
        }
        // Highest first; ties by lower id so the order is total and reproducible. With top-k
        // only the k best are sorted (a partition first): sorting the whole vocabulary per token
        // and completion would cost more than it needs.
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.top_k > 0 && p.top_k < cand.len() {
            cand.select_nth_unstable_by(p.top_k - 1, order);
            cand.truncate(p.top_k);
        }
        cand.sort_unstable_by(order);
        let max = cand[0].1;
        let mut probs: Vec<f64> = cand.iter().map(|c| f64::from(c.1 - max).exp()).collect();
        let sum: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|x| *x /= sum);
        if p.top_p < 1.0 {
            // Keep the smallest prefix whose mass reaches top_p (always at least one token).
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, &q) in probs.iter().enumerate() {
                acc += q;
                if acc >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            cand.truncate(keep);
            let s: f64 = probs.iter().sum();
            probs.iter_mut().for_each(|x| *x /= s);
        }
        let u: f64 = self.rng.random::<f64>();
        let mut acc = 0.0;
        for (c, q) in cand.iter().zip(&probs) {
            acc += q;
            if u < acc {
                return c.0;
            }
        }
        cand[cand.len() - 1].0
    }
}

/// Index of the largest logit; the first one on ties (as `torch.argmax`).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// CTRL penalty as transformers applies it: each distinct seen token's logit is divided by the
/// penalty when positive and multiplied by it when negative.
fn apply_repetition_penalty(logits: &mut [f32], seen: &[u32], penalty: f32) {
    let mut done = std::collections::HashSet::with_capacity(seen.len());
    for &t in seen {
        let i = t as usize;
        if i < logits.len() && done.insert(t) {
            let l = logits[i];
            logits[i] = if l < 0.0 { l * penalty } else { l / penalty };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f64, top_k: usize, top_p: f64, seed: u64) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k,
            top_p,
            seed,
            ..SamplingParams::default()
        }
    }

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut s = Sampler::new(&params(0.0, 0, 1.0, 0), 0);
        assert_eq!(s.next(&mut [0.1, 3.0, 3.0, -1.0], &[]), 1);
    }

    #[test]
    fn top_k_one_is_greedy_whatever_the_temperature() {
        let mut s = Sampler::new(&params(5.0, 1, 1.0, 7), 3);
        for _ in 0..20 {
            assert_eq!(s.next(&mut [0.0, 1.0, 0.5, 0.9], &[]), 1);
        }
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // Probabilities ≈ [0.88, 0.12, ~0]: top_p 0.5 keeps only the first.
        let mut s = Sampler::new(&params(1.0, 0, 0.5, 1), 0);
        for _ in 0..50 {
            assert_eq!(s.next(&mut [4.0, 2.0, -10.0], &[]), 0);
        }
    }

    #[test]
    fn sampling_follows_the_distribution_and_is_seeded() {
        let draw = |seed, index| {
            let mut s = Sampler::new(&params(1.0, 0, 1.0, seed), index);
            (0..4000)
                .map(|_| s.next(&mut [0.0, (3f32).ln()], &[]))
                .collect::<Vec<_>>()
        };
        let a = draw(42, 0);
        assert_eq!(a, draw(42, 0), "same seed and index, same tokens");
        assert_ne!(a, draw(42, 1), "another completion index, another stream");
        // p(1) = 3/4.
        let ones = a.iter().filter(|&&t| t == 1).count() as f64 / a.len() as f64;
        assert!((ones - 0.75).abs() < 0.03, "{ones}");
    }

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative_logits_once() {
        let mut l = [2.0, -2.0, 1.0];
        apply_repetition_penalty(&mut l, &[0, 1, 0, 1], 2.0);
        assert_eq!(l, [1.0, -4.0, 1.0]);
    }
}
