//! Rescale + normalise + patchify, fused into one pass over the resized uint8 frames.
//!
//! The reference fuses rescale into normalisation (`mean/rescale`, `std/rescale`, computed in
//! f32), then computes `(x - mean') / std'` in f32 on the uint8 values. Since only 256 inputs
//! exist per channel, a 3×256 table holds every possible output, computed with the same f32
//! operations, so the values are bit-identical and the patch loop is a gather.
//!
//! Layout: frames are padded to a multiple of `T` by repeating the last; then
//! `(gt, T, C, gh/m, m, P, gw/m, m, P)` is permuted to `(gt, gh/m, gw/m, m, m, C, T, P, P)` and
//! flattened to `[gt·gh·gw, C·T·P·P]` — rows in merge-block order (each 2×2 block of patches
//! that the merger turns into one token is contiguous).

use rayon::prelude::*;

/// Per-channel output value of every uint8 input.
pub(super) struct Lut([[f32; 256]; 3]);

impl Lut {
    /// `(x - mean·(1/rescale)) / (std·(1/rescale))` in f32, as the fused reference computes it.
    pub(super) fn new(mean: [f32; 3], std: [f32; 3], rescale_factor: f32) -> Self {
        let inv = inverse_rescale(rescale_factor);
        let mut lut = [[0.0f32; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            let (m, s) = (mean[c] * inv, std[c] * inv);
            for (x, v) in table.iter_mut().enumerate() {
                *v = (x as f32 - m) / s;
            }
        }
        Lut(lut)
    }
}

/// `1.0 / rescale_factor` as torch applies it: computed on the Python (f64) value, then used as
/// an f32 scalar. The config keeps the factor as f32, whose reciprocal is not the reference's
/// (f32(1/255) inverts to 254.99998, Python's 1/(1/255) is 255.0), so when the f32 value is
/// the rounding of `1/k` for a whole `k` — 1/255 and 1 in every known config — the f64 `1/k`
/// the JSON held is recovered first.
fn inverse_rescale(rescale_factor: f32) -> f32 {
    let r = f64::from(rescale_factor);
    let k = (1.0 / r).round();
    let r = if k >= 1.0 && (1.0 / k) as f32 == rescale_factor {
        1.0 / k
    } else {
        r
    };
    (1.0 / r) as f32
}

/// Geometry of one patchify call.
pub(super) struct Grid {
    /// Patch side in pixels.
    pub patch: usize,
    /// Patches merged per side.
    pub merge: usize,
    /// Frames per temporal patch.
    pub temporal: usize,
    /// Frame width in pixels (a multiple of `patch · merge`).
    pub width: usize,
    /// Frame height in pixels (a multiple of `patch · merge`).
    pub height: usize,
}

/// Patchifies interleaved RGB `frames` (each `width × height`, at least one) into
/// `([rows·cols], [gt, gh, gw])`.
pub(super) fn patchify(frames: &[&[u8]], grid: &Grid, lut: &Lut) -> (Vec<f32>, [usize; 3]) {
    let Grid {
        patch: p,
        merge: m,
        temporal: t,
        width,
        height,
    } = *grid;
    debug_assert!(!frames.is_empty() && width % (p * m) == 0 && height % (p * m) == 0);
    let gt = frames.len().div_ceil(t);
    let (gh, gw) = (height / p, width / p);
    let cols = 3 * t * p * p;
    let rows = gt * gh * gw;
    let mut out = vec![0.0f32; rows * cols];
    out.par_chunks_mut(cols).enumerate().for_each(|(r, row)| {
        // r = ((it·gh/m + bh)·gw/m + bw)·m² + mh·m + mw
        let (mw, r) = (r % m, r / m);
        let (mh, r) = (r % m, r / m);
        let (bw, r) = (r % (gw / m), r / (gw / m));
        let (bh, it) = (r % (gh / m), r / (gh / m));
        let y0 = (bh * m + mh) * p;
        let x0 = (bw * m + mw) * p;
        let mut lines = row.chunks_exact_mut(p);
        for (c, table) in lut.0.iter().enumerate() {
            for dt in 0..t {
                let frame = frames[(it * t + dt).min(frames.len() - 1)];
                for y in y0..y0 + p {
                    let line = &frame[(y * width + x0) * 3..][..p * 3];
                    let dst = lines.next().expect("C·T·P lines of P values per row");
                    for (d, px) in dst.iter_mut().zip(line.chunks_exact(3)) {
                        *d = table[usize::from(px[c])];
                    }
                }
            }
        }
    });
    (out, [gt, gh, gw])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_constants_map_0_and_255_to_minus_one_and_one() {
        let lut = Lut::new([0.5; 3], [0.5; 3], 1.0 / 255.0);
        assert_eq!(lut.0[0][0], -1.0);
        assert_eq!(lut.0[1][255], 1.0);
        assert_eq!(lut.0[2][128], (128.0f32 - 127.5) / 127.5);
        assert_eq!(inverse_rescale(1.0 / 255.0), 255.0);
        assert_eq!(inverse_rescale(1.0), 1.0);
        assert_eq!(inverse_rescale(0.25), 4.0);
        assert_eq!(inverse_rescale(0.3), (1.0 / 0.3f32 as f64) as f32);
    }

    /// Patchify against the reference's reshape/permute written out index by index.
    #[test]
    fn layout_matches_the_reference_permutation() {
        let (p, m, t, w, h) = (2, 2, 2, 8, 4);
        // Three frames (padded to four), each pixel value encoding (frame, y, x, c).
        let frames: Vec<Vec<u8>> = (0..3)
            .map(|f| {
                (0..h * w * 3)
                    .map(|i| (f * 64 + (i / 3) * 2 + i % 3) as u8)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let lut = Lut::new([0.0; 3], [1.0; 3], 1.0);
        let grid = Grid {
            patch: p,
            merge: m,
            temporal: t,
            width: w,
            height: h,
        };
        let (vals, thw) = patchify(&refs, &grid, &lut);
        assert_eq!(thw, [2, 2, 4]);
        let (gt, gh, gw) = (2, h / p, w / p);
        let cols = 3 * t * p * p;
        assert_eq!(vals.len(), gt * gh * gw * cols);
        // Source tensor index (gt, T, C, gh/m, m, P, gw/m, m, P) -> output position
        // (gt, gh/m, gw/m, m, m, C, T, P, P).
        for it in 0..gt {
            for dt in 0..t {
                for c in 0..3 {
                    for bh in 0..gh / m {
                        for mh in 0..m {
                            for py in 0..p {
                                for bw in 0..gw / m {
                                    for mw in 0..m {
                                        for px in 0..p {
                                            let f = (it * t + dt).min(2);
                                            let y = (bh * m + mh) * p + py;
                                            let x = (bw * m + mw) * p + px;
                                            let want = frames[f][(y * w + x) * 3 + c] as f32;
                                            let row =
                                                ((it * (gh / m) + bh) * (gw / m) + bw) * m * m
                                                    + mh * m
                                                    + mw;
                                            let col = ((c * t + dt) * p + py) * p + px;
                                            assert_eq!(vals[row * cols + col], want);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
