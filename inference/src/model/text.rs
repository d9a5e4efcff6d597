//! The Qwen3 decoder of Qwen3-VL: RMSNorm, q/k norms before rotary, GQA, SwiGLU, interleaved
//! MRoPE, DeepStack additions after the first layers, and a preallocated KV cache.
//!
//! Batches are left-padded: row `b` starts with `left_pad[b]` padding slots that no query may
//! attend to (each padding query attends to itself only, so no row of the softmax is empty and
//! no NaN can leak into real rows through the values).

use candle_core::{DType, Device, Tensor};

use super::layers::{Linear, RmsNorm, apply_rotary, softmax_f32};
use super::rope::{inv_freq, mrope_axis_of_slot, text_cos_sin};
use crate::config::TextConfig;
use crate::error::Result;
use crate::weights::Weights;

/// Query rows per attention block during prefill.
const QUERY_BLOCK: usize = 512;

struct Layer {
    input_norm: RmsNorm,
    post_norm: RmsNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// Keys and values of every layer for a batch of rows, with room to grow.
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    /// Filled positions (the same for every row: rows are left-padded).
    len: usize,
    /// Leading padding slots of each row.
    left_pad: Vec<usize>,
}

impl KvCache {
    /// Rows in the cache.
    pub fn rows(&self) -> usize {
        self.left_pad.len()
    }

    /// Filled positions, padding included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A cache whose row `i` is a copy of row `rows[i]` of this one (the `n` completions of a
    /// prompt share its prefill this way).
    pub fn select_rows(&self, rows: &[usize]) -> Result<KvCache> {
        let device = self.layers.first().map(|(k, _)| k.device().clone());
        let Some(device) = device else {
            return Ok(KvCache {
                layers: Vec::new(),
                len: self.len,
                left_pad: rows.iter().map(|&r| self.left_pad[r]).collect(),
            });
        };
        let idx = Tensor::from_vec(
            rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
            rows.len(),
            &device,
        )?;
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| Ok((k.index_select(&idx, 0)?, v.index_select(&idx, 0)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache {
            layers,
            len: self.len,
            left_pad: rows.iter().map(|&r| self.left_pad[r]).collect(),
        })
    }
}

/// The decoder with its embeddings and output head.
pub struct TextModel {
    cfg: TextConfig,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Linear,
    inv_freq: Vec<f32>,
    axis_of_slot: Vec<usize>,
}

/// Vision features to add to the residual stream after the first decoder layers.
pub struct DeepStack<'a> {
    /// Flat indices (`row·len + position`) of the vision tokens in the batch.
    pub positions: &'a Tensor,
    /// One `[vision tokens, hidden]` tensor per layer, rows in the order of `positions`.
    pub features: &'a [Tensor],
}

impl TextModel {
    /// Loads `model.language_model.*` and `lm_head` (or ties it to the embeddings).
    pub fn load(w: &Weights, cfg: &TextConfig, tied: bool) -> Result<Self> {
        let p = "model.language_model";
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (nq, nkv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let eps = cfg.rms_norm_eps;
        let bias = cfg.attention_bias;
        let embed = w.get(&format!("{p}.embed_tokens.weight"), &[cfg.vocab_size, h])?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = format!("{p}.layers.{i}");
                Ok(Layer {
                    input_norm: RmsNorm::load(w, &format!("{l}.input_layernorm"), h, eps)?,
                    post_norm: RmsNorm::load(w, &format!("{l}.post_attention_layernorm"), h, eps)?,
                    q_proj: Linear::load(w, &format!("{l}.self_attn.q_proj"), h, nq * hd, bias)?,
                    k_proj: Linear::load(w, &format!("{l}.self_attn.k_proj"), h, nkv * hd, bias)?,
                    v_proj: Linear::load(w, &format!("{l}.self_attn.v_proj"), h, nkv * hd, bias)?,
                    o_proj: Linear::load(w, &format!("{l}.self_attn.o_proj"), nq * hd, h, bias)?,
                    q_norm: RmsNorm::load(w, &format!("{l}.self_attn.q_norm"), hd, eps)?,
                    k_norm: RmsNorm::load(w, &format!("{l}.self_attn.k_norm"), hd, eps)?,
                    gate: Linear::load(
                        w,
                        &format!("{l}.mlp.gate_proj"),
                        h,
                        cfg.intermediate_size,
                        false,
                    )?,
                    up: Linear::load(
                        w,
                        &format!("{l}.mlp.up_proj"),
                        h,
                        cfg.intermediate_size,
                        false,
                    )?,
                    down: Linear::load(
                        w,
                        &format!("{l}.mlp.down_proj"),
                        cfg.intermediate_size,
                        h,
                        false,
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::load(w, &format!("{p}.norm"), h, eps)?;
        let lm_head = if tied {
            Linear::new(embed.clone(), None)
        } else {
            Linear::load(w, "lm_head", h, cfg.vocab_size, false)?
        };
        Ok(TextModel {
            inv_freq: inv_freq(hd, cfg.rope_theta),
            axis_of_slot: mrope_axis_of_slot(cfg.mrope_section, cfg.mrope_interleaved),
            cfg: cfg.clone(),
            embed,
            layers,
            norm,
            lm_head,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TextConfig {
        &self.cfg
    }

    /// An empty cache for `left_pad.len()` rows with room for `capacity` positions.
    pub fn new_cache(&self, left_pad: Vec<usize>, capacity: usize) -> Result<KvCache> {
        let shape = (
            left_pad.len(),
            self.cfg.num_key_value_heads,
            capacity.max(1),
            self.cfg.head_dim,
        );
        let (dtype, device) = (self.embed.dtype(), self.embed.device());
        let layers = (0..self.layers.len())
            .map(|_| {
                Ok((
                    Tensor::zeros(shape, dtype, device)?,
                    Tensor::zeros(shape, dtype, device)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache {
            layers,
            len: 0,
            left_pad,
        })
    }

    /// Token embeddings `[rows, len, hidden]` of `ids` (row-major `rows × len`).
    pub fn embed(&self, ids: &[u32], rows: usize) -> Result<Tensor> {
        let len = ids.len() / rows.max(1);
        let t = Tensor::from_vec(ids.to_vec(), ids.len(), self.embed.device())?;
        Ok(self
            .embed
            .index_select(&t, 0)?
            .reshape((rows, len, self.cfg.hidden_size))?)
    }

    /// Runs the decoder over `hidden` `[rows, len, hidden]` whose 3-axis positions are
    /// `positions` (`[3][rows·len]`, row-major), appending to `cache`; returns the final-norm
    /// hidden states `[rows, len, hidden]`.
    pub fn forward(
        &self,
        hidden: Tensor,
        positions: &[Vec<i64>; 3],
        cache: &mut KvCache,
        deepstack: Option<DeepStack<'_>>,
    ) -> Result<Tensor> {
        let (rows, len, h) = hidden.dims3()?;
        let device = hidden.device().clone();
        let (cos, sin) = text_cos_sin(
            positions,
            rows,
            len,
            &self.inv_freq,
            &self.axis_of_slot,
            &device,
        )?;
        let past = cache.len;
        let total = past + len;
        ensure_capacity(cache, total)?;
        let mask = self.mask(&cache.left_pad, past, len, hidden.dtype(), &device)?;
        let mut x = hidden;
        for (i, layer) in self.layers.iter().enumerate() {
            x = self.layer_forward(
                layer,
                &x,
                &cos,
                &sin,
                &mut cache.layers[i],
                past,
                mask.as_ref(),
            )?;
            if let Some(ds) = &deepstack
                && let Some(feat) = ds.features.get(i)
            {
                let flat = x.reshape((rows * len, h))?;
                let feat = feat.to_dtype(flat.dtype())?;
                x = flat
                    .index_add(ds.positions, &feat, 0)?
                    .reshape((rows, len, h))?;
            }
        }
        cache.len = total;
        self.norm.forward(&x)
    }

    /// Logits `[…, vocab]` of final hidden states.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(hidden)
    }

    /// Additive mask `[rows, 1, 1, len, past+len]`, or `None` when nothing needs masking
    /// (one new token per row and no padding).
    fn mask(
        &self,
        left_pad: &[usize],
        past: usize,
        len: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<Option<Tensor>> {
        if len == 1 && left_pad.iter().all(|&p| p == 0) {
            return Ok(None);
        }
        let total = past + len;
        let mut m = Vec::with_capacity(left_pad.len() * len * total);
        for &pad in left_pad {
            for q in 0..len {
                let qa = past + q;
                for k in 0..total {
                    let ok = k == qa || (k < qa && k >= pad);
                    m.push(if ok { 0f32 } else { f32::NEG_INFINITY });
                }
            }
        }
        Ok(Some(
            Tensor::from_vec(m, (left_pad.len(), 1, 1, len, total), device)?.to_dtype(dtype)?,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn layer_forward(
        &self,
        l: &Layer,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        kv: &mut (Tensor, Tensor),
        past: usize,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (rows, len, _) = x.dims3()?;
        let (hd, nq, nkv) = (
            self.cfg.head_dim,
            self.cfg.num_attention_heads,
            self.cfg.num_key_value_heads,
        );
        let rep = nq / nkv;
        let y = l.input_norm.forward(x)?;
        let q = l
            .q_norm
            .forward(&l.q_proj.forward(&y)?.reshape((rows, len, nq, hd))?)?;
        let k = l
            .k_norm
            .forward(&l.k_proj.forward(&y)?.reshape((rows, len, nkv, hd))?)?;
        let v = l.v_proj.forward(&y)?.reshape((rows, len, nkv, hd))?;
        let q = apply_rotary(&q.transpose(1, 2)?, cos, sin)?.contiguous()?;
        let k = apply_rotary(&k.transpose(1, 2)?, cos, sin)?.contiguous()?;
        let v = v.transpose(1, 2)?.contiguous()?;
        kv.0.slice_set(&k, 2, past)?;
        kv.1.slice_set(&v, 2, past)?;
        let total = past + len;
        let k_all = kv.0.narrow(2, 0, total)?;
        let v_all = kv.1.narrow(2, 0, total)?;
        // GQA without copying keys: the `rep` query heads of one kv head share its matmul.
        // Long prefills go in blocks of queries so the score matrix stays small (a 32K-token
        // document would otherwise need heads × 32K² scores at once).
        let q6 = q.reshape((rows, nkv, rep, len, hd))?;
        let k_t = k_all.t()?;
        let scale = (hd as f64).powf(-0.5);
        let mut blocks = Vec::with_capacity(len.div_ceil(QUERY_BLOCK));
        let mut q0 = 0;
        while q0 < len {
            let n = QUERY_BLOCK.min(len - q0);
            let qb = if n == len {
                q6.reshape((rows, nkv, rep * n, hd))?
            } else {
                q6.narrow(3, q0, n)?
                    .contiguous()?
                    .reshape((rows, nkv, rep * n, hd))?
            };
            let scores = (qb.matmul(&k_t)? * scale)?;
            let scores = match mask {
                Some(m) => scores
                    .reshape((rows, nkv, rep, n, total))?
                    .broadcast_add(&m.narrow(3, q0, n)?)?
                    .reshape((rows, nkv, rep * n, total))?,
                None => scores,
            };
            let out = softmax_f32(&scores)?.matmul(&v_all)?;
            blocks.push(out.reshape((rows, nkv, rep, n, hd))?);
            q0 += n;
        }
        let attn = if blocks.len() == 1 {
            blocks.pop().expect("one block")
        } else {
            Tensor::cat(&blocks, 3)?
        };
        let attn = attn
            .reshape((rows, nq, len, hd))?
            .transpose(1, 2)?
            .reshape((rows, len, nq * hd))?;
        let x = (x + l.o_proj.forward(&attn)?)?;
        let y = l.post_norm.forward(&x)?;
        let mlp = l
            .down
            .forward(&(candle_nn::ops::silu(&l.gate.forward(&y)?)? * l.up.forward(&y)?)?)?;
        Ok((x + mlp)?)
    }
}

/// Grows every layer's buffers (doubling) so that `needed` positions fit.
fn ensure_capacity(cache: &mut KvCache, needed: usize) -> Result<()> {
    let Some((k0, _)) = cache.layers.first() else {
        return Ok(());
    };
    let cap = k0.dim(2)?;
    if needed <= cap {
        return Ok(());
    }
    let new_cap = needed.max(cap * 2);
    for (k, v) in &mut cache.layers {
        let (r, h, _, d) = k.dims4()?;
        let grow = |t: &Tensor| -> Result<Tensor> {
            let fresh = Tensor::zeros((r, h, new_cap, d), t.dtype(), t.device())?;
            fresh.slice_set(&t.narrow(2, 0, cache.len)?.contiguous()?, 2, 0)?;
            Ok(fresh)
        };
        *k = grow(k)?;
        *v = grow(v)?;
    }
    Ok(())
}
