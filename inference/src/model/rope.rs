//! Position ids and rotary tables: the 3-axis (T, H, W) text positions of `get_rope_index`,
//! the interleaved MRoPE frequency layout, and the vision tower's 2-D rotary.
//!
//! Everything here is plain integer/f32 arithmetic on the CPU, done once per prefill; the
//! decoder only multiplies by the resulting cos/sin tables. Getting a position wrong shifts every
//! token after an image, so the rules are spelled out next to the code.

use candle_core::{Device, Tensor};

use crate::error::{InferenceError, Result};

/// Ids the position rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VisionIds {
    /// `<|image_pad|>`.
    pub image_pad: u32,
    /// `<|video_pad|>`.
    pub video_pad: u32,
    /// `<|vision_start|>`.
    pub vision_start: u32,
}

/// 3-axis positions of one sequence and its decode offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RopePositions {
    /// `[3][len]`: T, H and W position of each token.
    pub axes: [Vec<i64>; 3],
    /// `max position + 1 − len`: added to the cache position when decoding.
    pub delta: i64,
}

/// `get_rope_index` for one unpadded sequence. `grids` are the `(t, h, w)` patch grids of its
/// vision blocks in order of appearance, with videos already split into one `(1, h, w)` block
/// per temporal patch. Text gets consecutive positions on all three axes; a block of
/// `(h/m)·(w/m)` pads gets T = start, H = start + row, W = start + col; text after a block
/// continues at the block's max + 1.
pub fn rope_index(
    input_ids: &[u32],
    grids: &[[usize; 3]],
    merge: usize,
    ids: VisionIds,
) -> Result<RopePositions> {
    let n = input_ids.len();
    let mut axes: [Vec<i64>; 3] = [
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    ];
    let mut next: i64 = 0;
    let mut st = 0usize;
    let mut grid_iter = grids.iter();
    let blocks = input_ids
        .windows(2)
        .filter(|w| w[0] == ids.vision_start && (w[1] == ids.image_pad || w[1] == ids.video_pad))
        .count();
    if blocks != grids.len() {
        return Err(InferenceError::Request(format!(
            "{blocks} vision blocks in the prompt but {} image/video grids",
            grids.len()
        )));
    }
    for _ in 0..blocks {
        let ed = input_ids[st..]
            .iter()
            .position(|&t| t == ids.image_pad || t == ids.video_pad)
            .map(|p| p + st)
            .ok_or_else(|| InferenceError::Request("vision block without pads".into()))?;
        let &[t, h, w] = grid_iter.next().expect("counted above");
        let (gh, gw) = (h / merge, w / merge);
        for i in 0..(ed - st) as i64 {
            for a in &mut axes {
                a.push(next + i);
            }
        }
        let base = next + (ed - st) as i64;
        let tokens = t * gh * gw;
        if ed + tokens > n {
            return Err(InferenceError::Request(format!(
                "a vision block of {tokens} tokens starts at {ed} but the prompt has {n} tokens"
            )));
        }
        let mut max = base;
        for ti in 0..t {
            for r in 0..gh {
                for c in 0..gw {
                    let p = [base + ti as i64, base + r as i64, base + c as i64];
                    for (a, v) in axes.iter_mut().zip(p) {
                        a.push(v);
                        max = max.max(v);
                    }
                }
            }
        }
        next = max + 1;
        st = ed + tokens;
    }
    for i in 0..(n - st) as i64 {
        for a in &mut axes {
            a.push(next + i);
        }
    }
    let max = axes
        .iter()
        .flat_map(|a| a.iter())
        .copied()
        .max()
        .unwrap_or(-1);
    Ok(RopePositions {
        axes,
        delta: max + 1 - n as i64,
    })
}

/// Inverse frequencies `theta^(−2j/dim)` for `j < dim/2`, in f32 as the reference computes them.
pub fn inv_freq(dim: usize, theta: f64) -> Vec<f32> {
    (0..dim / 2)
        .map(|j| {
            let exponent = (2 * j) as f32 / dim as f32;
            1.0 / (theta as f32).powf(exponent)
        })
        .collect()
}

/// Which axis (0 = T, 1 = H, 2 = W) drives each frequency slot under interleaved MRoPE:
/// slot j is H when `j % 3 == 1 && j < 3·section[1]`, W when `j % 3 == 2 && j < 3·section[2]`,
/// else T. (Chunked Qwen2-VL layout when `interleaved` is false.)
pub fn mrope_axis_of_slot(section: [usize; 3], interleaved: bool) -> Vec<usize> {
    let half: usize = section.iter().sum();
    (0..half)
        .map(|j| {
            if interleaved {
                if j % 3 == 1 && j < 3 * section[1] {
                    1
                } else if j % 3 == 2 && j < 3 * section[2] {
                    2
                } else {
                    0
                }
            } else if j < section[0] {
                0
            } else if j < section[0] + section[1] {
                1
            } else {
                2
            }
        })
        .collect()
}

/// Text rotary tables for positions `[3][rows·len]` (row-major): cos and sin of shape
/// `[rows, 1, len, head_dim]` in f32, ready to broadcast over heads.
pub fn text_cos_sin(
    positions: &[Vec<i64>; 3],
    rows: usize,
    len: usize,
    inv_freq: &[f32],
    axis_of_slot: &[usize],
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = inv_freq.len();
    let dim = 2 * half;
    let mut cos = Vec::with_capacity(rows * len * dim);
    let mut sin = Vec::with_capacity(rows * len * dim);
    let mut row_freqs = vec![0f32; half];
    let triples = positions[0]
        .iter()
        .zip(&positions[1])
        .zip(&positions[2])
        .take(rows * len);
    for ((&t, &h), &w) in triples {
        let p = [t, h, w];
        for (j, f) in row_freqs.iter_mut().enumerate() {
            *f = p[axis_of_slot[j]] as f32 * inv_freq[j];
        }
        for _ in 0..2 {
            cos.extend(row_freqs.iter().map(|f| f.cos()));
            sin.extend(row_freqs.iter().map(|f| f.sin()));
        }
    }
    Ok((
        Tensor::from_vec(cos, (rows, 1, len, dim), device)?,
        Tensor::from_vec(sin, (rows, 1, len, dim), device)?,
    ))
}

/// The vision tower's 2-D rotary for patches in merge-block order: for each grid `(t, h, w)`,
/// each frame's patch at (block row, block col, intra row, intra col) gets
/// `cat(freq[row], freq[col])`; cos/sin of `cat(emb, emb)`. Shape `[patches, 1, head_dim]`.
pub fn vision_cos_sin(
    grids: &[[usize; 3]],
    merge: usize,
    head_dim: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    // The reference builds its table for head_dim/2 with theta 1e4: head_dim/4 frequencies.
    let freqs = inv_freq(head_dim / 2, 10_000.0);
    let q = freqs.len();
    let total: usize = grids.iter().map(|g| g[0] * g[1] * g[2]).sum();
    let mut cos = Vec::with_capacity(total * head_dim);
    let mut sin = Vec::with_capacity(total * head_dim);
    let mut emb = vec![0f32; 2 * q];
    for &[t, h, w] in grids {
        for _ in 0..t {
            for br in 0..h / merge {
                for bc in 0..w / merge {
                    for ir in 0..merge {
                        for ic in 0..merge {
                            let (row, col) = ((br * merge + ir) as f32, (bc * merge + ic) as f32);
                            for j in 0..q {
                                emb[j] = row * freqs[j];
                                emb[q + j] = col * freqs[j];
                            }
                            for _ in 0..2 {
                                cos.extend(emb.iter().map(|f| f.cos()));
                                sin.extend(emb.iter().map(|f| f.sin()));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok((
        Tensor::from_vec(cos, (total, 1, head_dim), device)?,
        Tensor::from_vec(sin, (total, 1, head_dim), device)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: VisionIds = VisionIds {
        image_pad: 9,
        video_pad: 8,
        vision_start: 7,
    };

    #[test]
    fn text_only_positions_are_consecutive() {
        let p = rope_index(&[1, 2, 3, 4], &[], 2, IDS).unwrap();
        assert_eq!(p.axes[0], vec![0, 1, 2, 3]);
        assert_eq!(p.axes[1], p.axes[0]);
        assert_eq!(p.delta, 0);
    }

    #[test]
    fn image_block_positions_follow_the_grid_and_text_resumes_after_its_max() {
        // 2 text tokens, start, 6 pads of a (1, 4, 6) grid (2×3 merged), end, 1 text token.
        let mut ids = vec![1, 2, 7];
        ids.extend([9; 6]);
        ids.extend([10, 3]);
        let p = rope_index(&ids, &[[1, 4, 6]], 2, IDS).unwrap();
        // text: 0,1,2 (start token is text); block base = 3.
        assert_eq!(&p.axes[0][..3], &[0, 1, 2]);
        assert_eq!(&p.axes[0][3..9], &[3; 6]);
        assert_eq!(&p.axes[1][3..9], &[3, 3, 3, 4, 4, 4]);
        assert_eq!(&p.axes[2][3..9], &[3, 4, 5, 3, 4, 5]);
        // block max = 5, so the end token is 6 and the last text 7.
        assert_eq!(&p.axes[0][9..], &[6, 7]);
        assert_eq!(p.delta, 8 - ids.len() as i64);
    }

    #[test]
    fn grid_count_mismatch_is_an_error() {
        let ids = vec![7, 9, 9, 9, 9, 10];
        assert!(rope_index(&ids, &[], 2, IDS).is_err());
        assert!(rope_index(&ids, &[[1, 4, 4], [1, 4, 4]], 2, IDS).is_err());
        assert!(rope_index(&ids, &[[1, 8, 8]], 2, IDS).is_err());
    }

    #[test]
    fn interleaved_slots_match_the_reference_layout() {
        let axes = mrope_axis_of_slot([24, 20, 20], true);
        assert_eq!(axes.len(), 64);
        assert_eq!(axes.iter().filter(|&&a| a == 0).count(), 24);
        assert_eq!(axes.iter().filter(|&&a| a == 1).count(), 20);
        assert_eq!(&axes[..7], &[0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(&axes[57..], &[0, 1, 2, 0, 0, 0, 0]);
        // Small sections as in the parity fixtures.
        assert_eq!(
            mrope_axis_of_slot([4, 2, 2], true),
            vec![0, 1, 2, 0, 1, 2, 0, 0]
        );
    }
}
