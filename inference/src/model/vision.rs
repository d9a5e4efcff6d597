//! The Qwen3-VL vision tower: patch embedding (the Conv3d as one matmul), the learned position
//! table interpolated with align-corners bilinear sampling, pre-norm blocks with 2-D rotary
//! attention restricted to each frame, the 2×2 patch merger and the DeepStack mergers.

use candle_core::{Device, Tensor};

use super::layers::{LayerNorm, Linear, apply_rotary, softmax_f32};
use super::rope::vision_cos_sin;
use crate::config::VisionConfig;
use crate::error::{InferenceError, Result};
use crate::weights::Weights;

/// Output of the tower for a set of images/videos.
#[derive(Debug, Clone)]
pub struct VisionFeatures {
    /// `[tokens, out_hidden]`: one row per LLM vision token, in input order.
    pub merged: Tensor,
    /// One `[tokens, out_hidden]` tensor per DeepStack layer.
    pub deepstack: Vec<Tensor>,
}

struct Block {
    norm1: LayerNorm,
    norm2: LayerNorm,
    qkv: Linear,
    proj: Linear,
    fc1: Linear,
    fc2: Linear,
}

struct Merger {
    norm: LayerNorm,
    postshuffle: bool,
    fc1: Linear,
    fc2: Linear,
}

/// The vision tower with its weights.
pub struct VisionTower {
    cfg: VisionConfig,
    patch_embed: Linear,
    pos_table: Tensor,
    blocks: Vec<Block>,
    merger: Merger,
    deepstack: Vec<Merger>,
}

const EPS: f64 = 1e-6;

/// Query rows per attention block (see `block_forward`).
const QUERY_BLOCK: usize = 256;

impl Merger {
    fn load(w: &Weights, prefix: &str, cfg: &VisionConfig, postshuffle: bool) -> Result<Self> {
        let unit = cfg.hidden_size * cfg.spatial_merge_size * cfg.spatial_merge_size;
        let norm_dim = if postshuffle { unit } else { cfg.hidden_size };
        Ok(Merger {
            norm: LayerNorm::load(w, &format!("{prefix}.norm"), norm_dim, EPS)?,
            postshuffle,
            fc1: Linear::load(w, &format!("{prefix}.linear_fc1"), unit, unit, true)?,
            fc2: Linear::load(
                w,
                &format!("{prefix}.linear_fc2"),
                unit,
                cfg.out_hidden_size,
                true,
            )?,
        })
    }

    /// `x` is `[patches, hidden]` in merge-block order; 4 consecutive rows form one token.
    fn forward(&self, x: &Tensor, unit: usize) -> Result<Tensor> {
        let x = if self.postshuffle {
            self.norm.forward(&x.reshape(((), unit))?)?
        } else {
            self.norm.forward(x)?.reshape(((), unit))?
        };
        let h = self.fc1.forward(&x)?.gelu_erf()?;
        self.fc2.forward(&h)
    }
}

impl VisionTower {
    /// Loads `model.visual.*`.
    pub fn load(w: &Weights, cfg: &VisionConfig) -> Result<Self> {
        let p = "model.visual";
        let hidden = cfg.hidden_size;
        let conv = w.get(
            &format!("{p}.patch_embed.proj.weight"),
            &[
                hidden,
                cfg.in_channels,
                cfg.temporal_patch_size,
                cfg.patch_size,
                cfg.patch_size,
            ],
        )?;
        let bias = w.get(&format!("{p}.patch_embed.proj.bias"), &[hidden])?;
        // Stride equals kernel: the Conv3d is one matmul with the flattened (C, T, P, P) kernel.
        let patch_embed = Linear::new(conv.reshape((hidden, cfg.patch_values()))?, Some(bias));
        let pos_table = w.get(
            &format!("{p}.pos_embed.weight"),
            &[cfg.num_position_embeddings, hidden],
        )?;
        let blocks = (0..cfg.depth)
            .map(|i| {
                let b = format!("{p}.blocks.{i}");
                Ok(Block {
                    norm1: LayerNorm::load(w, &format!("{b}.norm1"), hidden, EPS)?,
                    norm2: LayerNorm::load(w, &format!("{b}.norm2"), hidden, EPS)?,
                    qkv: Linear::load(w, &format!("{b}.attn.qkv"), hidden, 3 * hidden, true)?,
                    proj: Linear::load(w, &format!("{b}.attn.proj"), hidden, hidden, true)?,
                    fc1: Linear::load(
                        w,
                        &format!("{b}.mlp.linear_fc1"),
                        hidden,
                        cfg.intermediate_size,
                        true,
                    )?,
                    fc2: Linear::load(
                        w,
                        &format!("{b}.mlp.linear_fc2"),
                        cfg.intermediate_size,
                        hidden,
                        true,
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let merger = Merger::load(w, &format!("{p}.merger"), cfg, false)?;
        let deepstack = (0..cfg.deepstack_visual_indexes.len())
            .map(|k| Merger::load(w, &format!("{p}.deepstack_merger_list.{k}"), cfg, true))
            .collect::<Result<Vec<_>>>()?;
        Ok(VisionTower {
            cfg: cfg.clone(),
            patch_embed,
            pos_table,
            blocks,
            merger,
            deepstack,
        })
    }

    /// Runs the tower over `pixel_values` `[patches, C·T·P·P]` holding the given grids in order.
    pub fn forward(&self, pixel_values: &Tensor, grids: &[[usize; 3]]) -> Result<VisionFeatures> {
        let cfg = &self.cfg;
        let m = cfg.spatial_merge_size;
        let total: usize = grids.iter().map(|g| g[0] * g[1] * g[2]).sum();
        let (rows, cols) = pixel_values.dims2()?;
        if rows != total || cols != cfg.patch_values() {
            return Err(InferenceError::Request(format!(
                "pixel_values is [{rows}, {cols}] but the grids need [{total}, {}]",
                cfg.patch_values()
            )));
        }
        if let Some(g) = grids
            .iter()
            .find(|g| g[1] % m != 0 || g[2] % m != 0 || g[0] == 0)
        {
            return Err(InferenceError::Request(format!(
                "grid {g:?} is not a whole number of {m}×{m} merge blocks"
            )));
        }
        let device = pixel_values.device().clone();
        let dtype = self.pos_table.dtype();
        let x = self.patch_embed.forward(&pixel_values.to_dtype(dtype)?)?;
        let mut x = (x + self.position_embeddings(grids, &device)?)?;
        let (cos, sin) = vision_cos_sin(grids, m, cfg.head_dim(), &device)?;
        let frames: Vec<usize> = grids
            .iter()
            .flat_map(|&[t, h, w]| std::iter::repeat_n(h * w, t))
            .collect();
        let unit = cfg.hidden_size * m * m;
        let mut deepstack = Vec::with_capacity(self.deepstack.len());
        for (i, block) in self.blocks.iter().enumerate() {
            x = self.block_forward(block, &x, &cos, &sin, &frames)?;
            if let Some(k) = cfg.deepstack_visual_indexes.iter().position(|&d| d == i) {
                deepstack.push((k, self.deepstack[k].forward(&x, unit)?));
            }
        }
        deepstack.sort_by_key(|(k, _)| *k);
        Ok(VisionFeatures {
            merged: self.merger.forward(&x, unit)?,
            deepstack: deepstack.into_iter().map(|(_, t)| t).collect(),
        })
    }

    fn block_forward(
        &self,
        b: &Block,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        frames: &[usize],
    ) -> Result<Tensor> {
        let heads = self.cfg.num_heads;
        let hd = self.cfg.head_dim();
        let n = x.dim(0)?;
        let qkv = b
            .qkv
            .forward(&b.norm1.forward(x)?)?
            .reshape((n, 3, heads, hd))?;
        let q = apply_rotary(&qkv.narrow(1, 0, 1)?.squeeze(1)?, cos, sin)?;
        let k = apply_rotary(&qkv.narrow(1, 1, 1)?.squeeze(1)?, cos, sin)?;
        let v = qkv.narrow(1, 2, 1)?.squeeze(1)?;
        // [heads, n, hd]
        let q = q.transpose(0, 1)?.contiguous()?;
        let k = k.transpose(0, 1)?.contiguous()?;
        let v = v.transpose(0, 1)?.contiguous()?;
        let scale = (hd as f64).powf(-0.5);
        let mut outs = Vec::with_capacity(frames.len());
        let mut start = 0;
        for &len in frames {
            let kt = k.narrow(1, start, len)?.t()?;
            let vf = v.narrow(1, start, len)?;
            // Queries in blocks: a 1024×768 frame has 3072 patches, and its full score matrix
            // (16 heads × 3072²) would be 600 MB written and read three times; blocks of
            // QUERY_BLOCK rows stay in cache.
            let mut q0 = 0;
            while q0 < len {
                let n = QUERY_BLOCK.min(len - q0);
                let qf = (q.narrow(1, start + q0, n)? * scale)?;
                let scores = qf.matmul(&kt)?;
                outs.push(softmax_f32(&scores)?.matmul(&vf)?);
                q0 += n;
            }
            start += len;
        }
        let attn = Tensor::cat(&outs, 1)?
            .transpose(0, 1)?
            .reshape((n, heads * hd))?;
        let x = (x + b.proj.forward(&attn)?)?;
        let h = b.fc1.forward(&b.norm2.forward(&x)?)?.gelu()?;
        Ok((&x + b.fc2.forward(&h)?)?)
    }

    /// The learned `side×side` table bilinearly sampled at `linspace(0, side−1, h)` ×
    /// `linspace(0, side−1, w)` (align-corners), repeated per frame, in merge-block order.
    fn position_embeddings(&self, grids: &[[usize; 3]], device: &Device) -> Result<Tensor> {
        let side = self.cfg.position_grid_side();
        let m = self.cfg.spatial_merge_size;
        let mut idx: [Vec<u32>; 4] = Default::default();
        let mut wts: [Vec<f32>; 4] = Default::default();
        for &[t, h, w] in grids {
            let hs = torch_linspace(0.0, (side - 1) as f32, h);
            let ws = torch_linspace(0.0, (side - 1) as f32, w);
            // Rows of the (h·w) grid in merge-block order, repeated for every frame.
            for _ in 0..t {
                for br in 0..h / m {
                    for bc in 0..w / m {
                        for ir in 0..m {
                            for ic in 0..m {
                                let (r, c) = (br * m + ir, bc * m + ic);
                                let (fh, fw) = (hs[r] as usize, ws[c] as usize);
                                let (ch, cw) = ((fh + 1).min(side - 1), (fw + 1).min(side - 1));
                                let (dh, dw) = (hs[r] - fh as f32, ws[c] - fw as f32);
                                let corners = [
                                    (fh * side + fw, (1.0 - dh) * (1.0 - dw)),
                                    (fh * side + cw, (1.0 - dh) * dw),
                                    (ch * side + fw, dh * (1.0 - dw)),
                                    (ch * side + cw, dh * dw),
                                ];
                                for (k, (i, wt)) in corners.into_iter().enumerate() {
                                    idx[k].push(i as u32);
                                    wts[k].push(wt);
                                }
                            }
                        }
                    }
                }
            }
        }
        let n = idx[0].len();
        let dtype = self.pos_table.dtype();
        let mut sum: Option<Tensor> = None;
        for k in 0..4 {
            let ids = Tensor::from_vec(std::mem::take(&mut idx[k]), n, device)?;
            let wt =
                Tensor::from_vec(std::mem::take(&mut wts[k]), (n, 1), device)?.to_dtype(dtype)?;
            let term = self.pos_table.index_select(&ids, 0)?.broadcast_mul(&wt)?;
            sum = Some(match sum {
                None => term,
                Some(s) => (s + term)?,
            });
        }
        Ok(sum.expect("four corners"))
    }

    /// Tokens the tower produces for one grid.
    pub fn tokens_for(&self, grid: [usize; 3]) -> usize {
        let m = self.cfg.spatial_merge_size;
        grid[0] * grid[1] * grid[2] / (m * m)
    }
}

/// `torch.linspace(start, end, steps)` in f32, with torch's symmetric evaluation (the first half
/// counts up from `start`, the second half down from `end`), so sample points match bit for bit.
fn torch_linspace(start: f32, end: f32, steps: usize) -> Vec<f32> {
    match steps {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let step = (end - start) / (steps - 1) as f32;
            let half = steps / 2;
            (0..steps)
                .map(|i| {
                    if i < half {
                        start + step * i as f32
                    } else {
                        end - step * (steps - 1 - i) as f32
                    }
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::torch_linspace;

    #[test]
    fn linspace_hits_both_ends_exactly() {
        let v = torch_linspace(0.0, 47.0, 7);
        assert_eq!(v[0], 0.0);
        assert_eq!(v[6], 47.0);
        assert!((v[3] - 23.5).abs() < 1e-6);
        assert_eq!(torch_linspace(0.0, 7.0, 1), vec![0.0]);
    }
}
