//! A tiny, self-contained SplitMix64 generator.
//!
//! Why not `rand`: the synthetic data must be byte-identical for a given seed across crate
//! upgrades. `rand`'s `StdRng` explicitly reserves the right to change its algorithm between
//! versions, and its distributions changed output in the past. SplitMix64 is ten lines, passes
//! BigCrush, and is fixed forever here.

/// SplitMix64's finaliser: a bijective 64-bit mix, also used to derive per-line seeds.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic pseudo-random stream.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `[0, n)` (`n > 0`), by multiply-shift (bias < 2^-32 for our sizes).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform integer in `[lo, hi]`.
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Approximately standard-normal sample (Irwin–Hall of four 16-bit uniforms, rescaled to
    /// unit variance): cheap per pixel and free of libm, so noise is identical everywhere.
    pub(crate) fn gaussish(&mut self) -> f32 {
        let r = self.next_u64();
        let sum: u32 = (0..4).map(|i| ((r >> (16 * i)) & 0xFFFF) as u32).sum();
        // Each term is uniform on [0, 65535]: mean 2 * 65535, variance 4 * 65536^2 / 12.
        let centred = sum as f32 / 65535.0 - 2.0;
        centred * 3.0_f32.sqrt()
    }
}
