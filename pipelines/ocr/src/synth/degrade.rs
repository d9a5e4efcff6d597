//! Image degradations: rotation, padding, backgrounds, ink colour, blur and sensor noise.
//!
//! Everything is hand-rolled on `f32` buffers with a seeded [`Rng`] instead of pulling in an
//! image-processing crate: the operations are a few lines each, and owning them keeps the
//! output bytes a pure function of the seed.

use image::RgbImage;
use serde_json::{Value, json};

use super::layout::Mask;
use super::rng::Rng;

/// Rotates `mask` by `degrees` (counter-clockwise) about its centre, growing the canvas so
/// no ink is cut off. Bilinear sampling.
pub(crate) fn rotate(mask: &Mask, degrees: f64) -> Mask {
    if degrees == 0.0 {
        return mask.clone();
    }
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (w, h) = (mask.width as f64, mask.height as f64);
    let nw = (w * cos.abs() + h * sin.abs()).ceil() as usize + 2;
    let nh = (w * sin.abs() + h * cos.abs()).ceil() as usize + 2;
    let mut out = Mask::new(nw, nh);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (ncx, ncy) = (nw as f64 / 2.0, nh as f64 / 2.0);
    let sample = |x: i64, y: i64| -> f32 {
        if x < 0 || y < 0 || x >= mask.width as i64 || y >= mask.height as i64 {
            0.0
        } else {
            mask.data[y as usize * mask.width + x as usize]
        }
    };
    for y in 0..nh {
        for x in 0..nw {
            // Inverse map the destination pixel centre. Image y points down, so a
            // counter-clockwise turn on screen is a clockwise one in these coordinates.
            let dx = x as f64 + 0.5 - ncx;
            let dy = y as f64 + 0.5 - ncy;
            let sx = cos * dx - sin * dy + cx - 0.5;
            let sy = sin * dx + cos * dy + cy - 0.5;
            let (fx, fy) = (sx.floor(), sy.floor());
            let (tx, ty) = ((sx - fx) as f32, (sy - fy) as f32);
            let (ix, iy) = (fx as i64, fy as i64);
            let top = sample(ix, iy) * (1.0 - tx) + sample(ix + 1, iy) * tx;
            let bottom = sample(ix, iy + 1) * (1.0 - tx) + sample(ix + 1, iy + 1) * tx;
            out.data[y * nw + x] = top * (1.0 - ty) + bottom * ty;
        }
    }
    out
}

/// Places `mask` on a larger canvas with the given margins `[left, top, right, bottom]`.
pub(crate) fn pad(mask: &Mask, margins: [usize; 4]) -> Mask {
    let [l, t, r, b] = margins;
    let mut out = Mask::new(mask.width + l + r, mask.height + t + b);
    for y in 0..mask.height {
        let src = &mask.data[y * mask.width..(y + 1) * mask.width];
        let start = (y + t) * out.width + l;
        out.data[start..start + mask.width].copy_from_slice(src);
    }
    out
}

/// Rec. 709 luma of a gamma-encoded colour in `[0, 1]` (good enough to judge contrast).
pub(crate) fn luma(c: [f32; 3]) -> f32 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

fn to_u8(c: [f32; 3]) -> [u8; 3] {
    c.map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
}

/// A grey of luma `level` with a small random tint, clamped to `[0, 1]`.
fn tinted(rng: &mut Rng, level: f64, tint: f64) -> [f32; 3] {
    [0; 3].map(|_| (level + rng.range(-tint, tint)).clamp(0.0, 1.0) as f32)
}

/// The background kinds, chosen per line.
#[derive(Debug, Clone)]
pub(crate) enum Background {
    Solid {
        rgb: [f32; 3],
    },
    /// Linear gradient between two colours along `angle` degrees.
    Gradient {
        from: [f32; 3],
        to: [f32; 3],
        angle: f64,
    },
    /// Paper: base colour with low-frequency blotches (value noise) and per-pixel grain.
    Paper {
        base: [f32; 3],
        blotch: f32,
        cell: usize,
        grain: f32,
    },
}

impl Background {
    /// The colours the text must contrast with.
    pub(crate) fn extremes(&self) -> Vec<[f32; 3]> {
        match self {
            Background::Solid { rgb } => vec![*rgb],
            Background::Gradient { from, to, .. } => vec![*from, *to],
            Background::Paper { base, blotch, .. } => {
                vec![base.map(|v| v - blotch), base.map(|v| v + blotch)]
            }
        }
    }

    /// Mean colour, to tell ink from background in tests.
    #[cfg(test)]
    pub(crate) fn mean(&self) -> [f32; 3] {
        match self {
            Background::Solid { rgb } => *rgb,
            Background::Gradient { from, to, .. } => [0, 1, 2].map(|i| (from[i] + to[i]) / 2.0),
            Background::Paper { base, .. } => *base,
        }
    }

    fn params(&self) -> Value {
        match self {
            Background::Solid { rgb } => json!({"kind": "solid", "rgb": to_u8(*rgb)}),
            Background::Gradient { from, to, angle } => json!({
                "kind": "gradient", "from": to_u8(*from), "to": to_u8(*to),
                "angle_deg": round2(*angle),
            }),
            Background::Paper {
                base,
                blotch,
                cell,
                grain,
            } => json!({
                "kind": "paper", "rgb": to_u8(*base), "blotch": round2(f64::from(*blotch)),
                "cell_px": cell, "grain": round2(f64::from(*grain)),
            }),
        }
    }

    fn paint(&self, w: usize, h: usize, rng: &mut Rng) -> Vec<[f32; 3]> {
        match self {
            Background::Solid { rgb } => vec![*rgb; w * h],
            Background::Gradient { from, to, angle } => {
                let (s, c) = angle.to_radians().sin_cos();
                let proj = |x: usize, y: usize| x as f64 * c + y as f64 * s;
                let corners = [proj(0, 0), proj(w, 0), proj(0, h), proj(w, h)];
                let lo = corners.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = corners.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let span = (hi - lo).max(1e-6);
                let mut out = Vec::with_capacity(w * h);
                for y in 0..h {
                    for x in 0..w {
                        let t = ((proj(x, y) - lo) / span) as f32;
                        out.push([0, 1, 2].map(|i| from[i] + (to[i] - from[i]) * t));
                    }
                }
                out
            }
            Background::Paper {
                base,
                blotch,
                cell,
                grain,
            } => {
                let octave1 = value_noise(w, h, *cell, rng);
                let octave2 = value_noise(w, h, (*cell / 3).max(2), rng);
                let mut out = Vec::with_capacity(w * h);
                for i in 0..w * h {
                    let shade = blotch * (0.7 * octave1[i] + 0.3 * octave2[i]);
                    let g = grain * (rng.unit() as f32 * 2.0 - 1.0);
                    out.push(base.map(|v| v + shade + g));
                }
                out
            }
        }
    }
}

/// Smooth noise in `[-1, 1]`: random values on a `cell`-pixel lattice, bilinearly
/// interpolated with a smoothstep.
fn value_noise(w: usize, h: usize, cell: usize, rng: &mut Rng) -> Vec<f32> {
    let gw = w / cell + 2;
    let gh = h / cell + 2;
    let lattice: Vec<f32> = (0..gw * gh)
        .map(|_| rng.unit() as f32 * 2.0 - 1.0)
        .collect();
    let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let (gy, ty) = (y / cell, smooth((y % cell) as f32 / cell as f32));
        for x in 0..w {
            let (gx, tx) = (x / cell, smooth((x % cell) as f32 / cell as f32));
            let at = |i: usize, j: usize| lattice[j * gw + i];
            let top = at(gx, gy) * (1.0 - tx) + at(gx + 1, gy) * tx;
            let bottom = at(gx, gy + 1) * (1.0 - tx) + at(gx + 1, gy + 1) * tx;
            out.push(top * (1.0 - ty) + bottom * ty);
        }
    }
    out
}

/// Minimum luma difference between ink and every background extreme.
pub(crate) const MIN_CONTRAST: f32 = 0.4;

/// Colours and degradation strengths for one line, drawn up front from the render stream.
#[derive(Debug, Clone)]
pub(crate) struct Look {
    pub(crate) background: Background,
    pub(crate) ink: [f32; 3],
    pub(crate) ink_opacity: f32,
    /// Light text on a dark background.
    pub(crate) inverted: bool,
    pub(crate) blur_sigma: f64,
    pub(crate) noise_sigma: f64,
    pub(crate) noise_mono: bool,
}

/// Largest Gaussian blur sigma, in pixels.
pub(crate) const MAX_BLUR: f64 = 1.3;
/// Largest noise standard deviation, as a fraction of full scale (≈ 10/255).
pub(crate) const MAX_NOISE: f64 = 0.04;

impl Look {
    pub(crate) fn draw(rng: &mut Rng) -> Look {
        let inverted = rng.chance(0.15);
        let (bg_lo, bg_hi) = if inverted { (0.0, 0.3) } else { (0.72, 1.0) };
        let level = rng.range(bg_lo, bg_hi);
        // Mostly near-neutral paper, sometimes a pastel/deep colour.
        let tint = if rng.chance(0.25) { 0.15 } else { 0.04 };
        let base = tinted(rng, level, tint);
        let background = match rng.below(3) {
            0 => Background::Solid { rgb: base },
            1 => {
                let shift = rng.range(-0.15, 0.15);
                let level2 = (level + shift).clamp(bg_lo, bg_hi);
                Background::Gradient {
                    from: base,
                    to: tinted(rng, level2, tint),
                    angle: rng.range(0.0, 360.0),
                }
            }
            _ => Background::Paper {
                base,
                blotch: rng.range(0.02, 0.08) as f32,
                cell: rng.between(12, 48),
                grain: rng.range(0.0, 0.04) as f32,
            },
        };
        let mut ink = if rng.chance(0.2) {
            // Coloured ink (blue/red/green pens, coloured print).
            let mut c = [0.0f32; 3];
            c[rng.below(3)] = rng.range(0.35, 0.8) as f32;
            if inverted {
                c.map(|v| 1.0 - v * 0.5)
            } else {
                c
            }
        } else if inverted {
            let level = rng.range(0.75, 1.0);
            tinted(rng, level, 0.05)
        } else {
            let level = rng.range(0.0, 0.3);
            tinted(rng, level, 0.05)
        };
        // Push the ink towards black/white until it clears every background extreme.
        let target = if inverted { 1.0 } else { 0.0 };
        for _ in 0..20 {
            let worst = background
                .extremes()
                .iter()
                .map(|b| (luma(*b) - luma(ink)).abs())
                .fold(f32::INFINITY, f32::min);
            if worst >= MIN_CONTRAST {
                break;
            }
            ink = ink.map(|v| v + (target - v) * 0.25);
        }
        let blur_sigma = if rng.chance(0.35) {
            0.0
        } else {
            rng.range(0.3, MAX_BLUR)
        };
        let noise_sigma = if rng.chance(0.3) {
            0.0
        } else {
            rng.range(0.005, MAX_NOISE)
        };
        Look {
            background,
            ink,
            ink_opacity: rng.range(0.85, 1.0) as f32,
            inverted,
            blur_sigma,
            noise_sigma,
            noise_mono: rng.chance(0.6),
        }
    }

    /// Paints the background, composites the ink through `mask`, blurs, adds noise.
    pub(crate) fn render(&self, mask: &Mask, rng: &mut Rng) -> RgbImage {
        let (w, h) = (mask.width, mask.height);
        let background = self.background.paint(w, h, rng);
        // Planar channels: the per-pixel loops below stay simple slices (fast even unoptimised).
        let mut planes: [Vec<f32>; 3] =
            [0, 1, 2].map(|c| background.iter().map(|p| p[c]).collect());
        for (plane, &ink) in planes.iter_mut().zip(&self.ink) {
            for (v, &a) in plane.iter_mut().zip(&mask.data) {
                *v += (ink - *v) * (a * self.ink_opacity);
            }
        }
        if self.blur_sigma > 0.0 {
            let kernel = gaussian_kernel(self.blur_sigma);
            for plane in &mut planes {
                blur_plane(plane, w, h, &kernel);
            }
        }
        if self.noise_sigma > 0.0 {
            let s = self.noise_sigma as f32;
            for i in 0..w * h {
                if self.noise_mono {
                    let n = s * rng.gaussish();
                    planes.iter_mut().for_each(|p| p[i] += n);
                } else {
                    planes.iter_mut().for_each(|p| p[i] += s * rng.gaussish());
                }
            }
        }
        let [r, g, b] = &planes;
        let mut bytes = Vec::with_capacity(w * h * 3);
        for ((&r, &g), &b) in r.iter().zip(g).zip(b) {
            bytes.extend_from_slice(&to_u8([r, g, b]));
        }
        RgbImage::from_raw(w as u32, h as u32, bytes).expect("buffer sized to the image")
    }

    pub(crate) fn params(&self) -> Value {
        json!({
            "background": self.background.params(),
            "text_rgb": to_u8(self.ink),
            "ink_opacity": round2(f64::from(self.ink_opacity)),
            "inverted": self.inverted,
            "blur_sigma": round2(self.blur_sigma),
            "noise_sigma": round2(self.noise_sigma * 255.0),
            "noise_mono": self.noise_mono,
        })
    }
}

/// Normalised Gaussian taps for `sigma`, radius `ceil(3 sigma)`.
pub(crate) fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as i64;
    let taps: Vec<f64> = (-radius..=radius)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = taps.iter().sum();
    taps.iter().map(|t| (t / total) as f32).collect()
}

/// Separable blur of one channel with `kernel` (odd length), edges clamped.
pub(crate) fn blur_plane(plane: &mut [f32], w: usize, h: usize, kernel: &[f32]) {
    let r = kernel.len() / 2;
    let mut tmp = vec![0.0f32; w * h];
    let mut row = vec![0.0f32; w + 2 * r];
    for (src, dst) in plane.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
        row[..r].fill(src[0]);
        row[r..r + w].copy_from_slice(src);
        row[r + w..].fill(src[w - 1]);
        for (x, out) in dst.iter_mut().enumerate() {
            *out = row[x..x + kernel.len()]
                .iter()
                .zip(kernel)
                .map(|(v, k)| v * k)
                .sum();
        }
    }
    for (y, dst) in plane.chunks_exact_mut(w).enumerate() {
        dst.fill(0.0);
        for (k, &weight) in kernel.iter().enumerate() {
            let sy = (y + k).saturating_sub(r).min(h - 1);
            for (out, &v) in dst.iter_mut().zip(&tmp[sy * w..(sy + 1) * w]) {
                *out += v * weight;
            }
        }
    }
}

/// Rounds to two decimals for readable metadata.
pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
