//! Bicubic resize of 8-bit RGB, bit-identical to what the reference runs.
//!
//! The reference (`Qwen2VLImageProcessorFast`, `Qwen3VLVideoProcessor`) calls torchvision's
//! `F.resize(uint8 tensor, BICUBIC, antialias=True)`. On CPU torchvision keeps uint8 for
//! bicubic and PyTorch runs its Pillow-SIMD-derived integer kernel (`_upsample_bicubic2d_aa`,
//! uint8 path), not the float kernel and not PIL: the float kernel followed by clamp + round
//! differs by up to 11 grey levels on the bundled photos (see `tools/parity/processor_reference.py`).
//! The integer kernel is:
//!
//! - separable, horizontal pass first, with the intermediate image stored as **uint8**;
//! - per axis, `scale = in/out`, filter support `2·max(scale, 1)`, Keys cubic with `a = -0.5`
//!   evaluated at `(j + xmin - center + 0.5) / max(scale, 1)`, weights normalised to sum 1
//!   (all in f64, as PyTorch does);
//! - weights rounded to i16 in fixed point with the largest precision `p ≤ 22` for which the
//!   largest weight of the axis still fits, rounding half away from zero;
//! - each output `clamp((2^(p-1) + Σ w·x) >> p, 0, 255)` in i32 arithmetic.
//!
//! Reproducing those steps gives bit-identical pixels (the parity tests check SHA-256 of
//! `pixel_values`). Weights are computed once per axis; each pass is a row-parallel loop
//! over precomputed taps with no per-pixel allocation.

use rayon::prelude::*;

/// Channels of an RGB pixel.
const C: usize = 3;

/// Precomputed taps of one axis: for output `i`, input `start[i] .. start[i] + len[i]` with
/// weights `weights[i·stride ..][..len[i]]`, in fixed point with `precision` fractional bits.
#[derive(Debug, Clone)]
pub(super) struct Taps {
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<i32>,
    stride: usize,
    precision: u32,
}

/// Keys' cubic convolution kernel with `a = -0.5` (PyTorch's antialiasing bicubic filter),
/// with PyTorch's operation order so the f64 weights round the same way.
fn cubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
    } else {
        0.0
    }
}

impl Taps {
    /// Taps resampling `input` samples to `output` samples (both > 0).
    pub(super) fn new(input: usize, output: usize) -> Self {
        let scale = input as f64 / output as f64;
        let support = if scale >= 1.0 { 2.0 * scale } else { 2.0 };
        let stride = support.ceil() as usize * 2 + 1;
        let invscale = if scale >= 1.0 { 1.0 / scale } else { 1.0 };

        let mut start = Vec::with_capacity(output);
        let mut len = Vec::with_capacity(output);
        let mut wf = vec![0.0f64; output * stride];
        let mut wt_max = 0.0f64;
        for i in 0..output {
            let center = scale * (i as f64 + 0.5);
            // C++ `static_cast<int64_t>` truncates toward zero.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(input as i64);
            let n = (xmax - xmin).clamp(0, stride as i64) as usize;
            let w = &mut wf[i * stride..][..n];
            let mut total = 0.0;
            for (j, wj) in w.iter_mut().enumerate() {
                *wj = cubic(((j as i64 + xmin) as f64 - center + 0.5) * invscale);
                total += *wj;
            }
            if total != 0.0 {
                for wj in w.iter_mut() {
                    *wj /= total;
                    wt_max = wt_max.max(*wj);
                }
            }
            start.push(xmin as usize);
            len.push(n);
        }

        // The largest precision whose rounded largest weight still fits an i16 when doubled.
        let mut precision = 0u32;
        while precision < 22 {
            let next = (0.5 + wt_max * f64::from(1u32 << (precision + 1))) as i64;
            if next >= 1 << 15 {
                break;
            }
            precision += 1;
        }
        let unit = f64::from(1u32 << precision);
        let weights = wf
            .iter()
            .map(|&w| {
                let v = w * unit;
                // Round half away from zero, truncate to int, then to i16 as C++ does.
                (if v < 0.0 {
                    (-0.5 + v) as i32
                } else {
                    (0.5 + v) as i32
                }) as i16 as i32
            })
            .collect();
        Taps {
            start,
            len,
            weights,
            stride,
            precision,
        }
    }

    #[inline]
    fn at(&self, i: usize) -> (usize, &[i32]) {
        (
            self.start[i],
            &self.weights[i * self.stride..][..self.len[i]],
        )
    }

    #[inline]
    fn finish(&self, acc: i32) -> u8 {
        (acc >> self.precision).clamp(0, 255) as u8
    }

    #[inline]
    fn bias(&self) -> i32 {
        1 << (self.precision - 1)
    }
}

/// Resizes interleaved RGB `src` (`width × height`) to `out_w × out_h` with the reference's
/// uint8 bicubic kernel. Equal sizes return a copy, as the reference does.
pub(super) fn resize_rgb(
    src: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<u8> {
    debug_assert_eq!(src.len(), width * height * C);
    let horizontal = if out_w != width {
        horizontal_pass(src, width, height, out_w)
    } else {
        src.to_vec()
    };
    if out_h != height {
        vertical_pass(&horizontal, out_w, height, out_h)
    } else {
        horizontal
    }
}

fn horizontal_pass(src: &[u8], width: usize, height: usize, out_w: usize) -> Vec<u8> {
    let taps = Taps::new(width, out_w);
    let mut out = vec![0u8; out_w * height * C];
    // Upscaling has 5-weight windows and mild downscaling 7: fixed-length, unrolled loops.
    match taps.stride {
        5 if width >= 5 => horizontal_fixed::<5>(src, width, &taps, &mut out),
        7 if width >= 7 => horizontal_fixed::<7>(src, width, &taps, &mut out),
        _ => horizontal_any(src, width, &taps, &mut out),
    }
    out
}

/// Horizontal pass with every window widened to `K` weights: the start is moved left where
/// the window would leave the row and the added weights are zero, so each sum is unchanged.
fn horizontal_fixed<const K: usize>(src: &[u8], width: usize, taps: &Taps, out: &mut [u8]) {
    let out_w = taps.start.len();
    let mut starts = Vec::with_capacity(out_w);
    let mut windows = Vec::with_capacity(out_w);
    for x in 0..out_w {
        let (start, w) = taps.at(x);
        let s = start.min(width - K);
        let mut window = [0i32; K];
        window[start - s..][..w.len()].copy_from_slice(w);
        starts.push(s);
        windows.push(window);
    }
    let bias = taps.bias();
    out.par_chunks_mut(out_w * C)
        .zip(src.par_chunks(width * C))
        .for_each(|(row_out, row_in)| {
            for ((px, &s), w) in row_out.chunks_exact_mut(C).zip(&starts).zip(&windows) {
                let pixels = &row_in[s * C..][..K * C];
                let mut acc = [bias; C];
                for j in 0..K {
                    acc[0] += w[j] * i32::from(pixels[j * C]);
                    acc[1] += w[j] * i32::from(pixels[j * C + 1]);
                    acc[2] += w[j] * i32::from(pixels[j * C + 2]);
                }
                for (o, a) in px.iter_mut().zip(acc) {
                    *o = taps.finish(a);
                }
            }
        });
}

fn horizontal_any(src: &[u8], width: usize, taps: &Taps, out: &mut [u8]) {
    let out_w = taps.start.len();
    let bias = taps.bias();
    out.par_chunks_mut(out_w * C)
        .zip(src.par_chunks(width * C))
        .for_each(|(row_out, row_in)| {
            for (x, px) in row_out.chunks_exact_mut(C).enumerate() {
                let (start, w) = taps.at(x);
                let pixels = &row_in[start * C..][..w.len() * C];
                let mut acc = [bias; C];
                for (&wj, p) in w.iter().zip(pixels.chunks_exact(C)) {
                    acc[0] += wj * i32::from(p[0]);
                    acc[1] += wj * i32::from(p[1]);
                    acc[2] += wj * i32::from(p[2]);
                }
                for (o, a) in px.iter_mut().zip(acc) {
                    *o = taps.finish(a);
                }
            }
        });
}

fn vertical_pass(src: &[u8], width: usize, height: usize, out_h: usize) -> Vec<u8> {
    let taps = Taps::new(height, out_h);
    let bias = taps.bias();
    let row = width * C;
    let mut out = vec![0u8; row * out_h];
    out.par_chunks_mut(row).enumerate().for_each_init(
        || vec![0i32; row],
        |acc, (y, row_out)| {
            let (start, w) = taps.at(y);
            acc.fill(bias);
            for (j, &wj) in w.iter().enumerate() {
                let row_in = &src[(start + j) * row..][..row];
                for (a, &p) in acc.iter_mut().zip(row_in) {
                    *a += wj * i32::from(p);
                }
            }
            for (o, &a) in row_out.iter_mut().zip(acc.iter()) {
                *o = taps.finish(a);
            }
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point_and_fill_i16() {
        for (i, o) in [
            (451, 448),
            (300, 288),
            (640, 64),
            (20, 32),
            (600, 608),
            (3, 7),
        ] {
            let t = Taps::new(i, o);
            let unit = 1i64 << t.precision;
            let max = t.weights.iter().map(|w| w.abs()).max().unwrap();
            assert!((1 << 13..1 << 15).contains(&max), "{i}->{o}: {max}");
            for k in 0..o {
                let (start, w) = t.at(k);
                assert!(start + w.len() <= i);
                let sum: i64 = w.iter().map(|&x| i64::from(x)).sum();
                // Rounding each weight moves the sum by at most half a unit per tap.
                assert!(
                    (sum - unit).abs() <= w.len() as i64,
                    "{i}->{o} at {k}: {sum} vs {unit}"
                );
            }
        }
    }

    #[test]
    fn fixed_windows_equal_variable_windows() {
        let src: Vec<u8> = (0..61 * 3 * 3)
            .map(|i| ((i * 2_654_435_761usize) >> 7) as u8)
            .collect();
        for out_w in [64, 60, 45, 97, 7] {
            let taps = Taps::new(61, out_w);
            let mut any = vec![0u8; out_w * 3 * 3];
            horizontal_any(&src, 61, &taps, &mut any);
            let mut fixed = vec![0u8; out_w * 3 * 3];
            match taps.stride {
                5 => horizontal_fixed::<5>(&src, 61, &taps, &mut fixed),
                7 => horizontal_fixed::<7>(&src, 61, &taps, &mut fixed),
                k => {
                    assert!(out_w < 40, "61 -> {out_w}: stride {k}");
                    continue;
                }
            }
            assert_eq!(fixed, any, "61 -> {out_w}");
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let src = vec![77u8; 45 * 31 * 3];
        for (w, h) in [(64, 32), (32, 64), (10, 7), (45, 96)] {
            let out = resize_rgb(&src, 45, 31, w, h);
            assert_eq!(out.len(), w * h * 3);
            assert!(out.iter().all(|&v| v == 77), "{w}x{h}");
        }
    }

    #[test]
    fn same_size_is_a_copy_and_one_axis_touches_only_that_axis() {
        let src: Vec<u8> = (0..20 * 10 * 3).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(resize_rgb(&src, 20, 10, 20, 10), src);
        // Only the height changes: every column is resampled on its own.
        let out = resize_rgb(&src, 20, 10, 20, 13);
        let col = |img: &[u8], h: usize, x: usize| -> Vec<u8> {
            (0..h).map(|y| img[(y * 20 + x) * 3]).collect()
        };
        let single: Vec<u8> = col(&src, 10, 5).iter().flat_map(|&v| [v, 0, 0]).collect();
        let alone = resize_rgb(&single, 1, 10, 1, 13);
        let alone: Vec<u8> = alone.chunks(3).map(|p| p[0]).collect();
        assert_eq!(col(&out, 13, 5), alone);
    }

    #[test]
    fn overshoot_is_clamped_not_wrapped() {
        // A hard edge upsampled with a negative-lobed kernel rings below 0 and above 255;
        // wrapping instead of clamping would put ~250 on the dark side and ~5 on the bright one.
        let src: Vec<u8> = (0..8)
            .flat_map(|x| if x < 4 { [0u8; 3] } else { [255u8; 3] })
            .collect();
        let out = resize_rgb(&src, 8, 1, 29, 1);
        let (dark, bright) = (&out[..12 * 3], &out[17 * 3..]);
        assert!(dark.iter().all(|&v| v < 40), "{dark:?}");
        assert!(bright.iter().all(|&v| v > 215), "{bright:?}");
    }
}
