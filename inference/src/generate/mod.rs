//! The decode loop: one batched prefill for all prompts, each prompt's cache rows copied for its
//! `n` completions (so 16 samples of a pass-rate query cost one prefill), then batched decode
//! steps; rows that stop are dropped from the batch so the rest keep running at full speed.

mod sampler;

use candle_core::DType;

pub use sampler::{Sampler, argmax};

use crate::api::{FinishReason, SamplingParams};
use crate::error::Result;
use crate::model::{PrefillRow, Qwen3Vl};
use crate::tokenizer::Prompt;

/// Tokens of one completion and why it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedTokens {
    /// Generated ids, without the stop token.
    pub tokens: Vec<u32>,
    /// Why it ended.
    pub finish_reason: FinishReason,
}

/// Generates `params.n` completions for each prompt. `stop` ends a completion (the stop token is
/// not returned); an empty `stop` runs every completion to `max_new_tokens`.
pub fn generate(
    model: &Qwen3Vl,
    prompts: &[(&Prompt, &SamplingParams)],
    stop: &[u32],
    pad: u32,
) -> Result<Vec<Vec<GeneratedTokens>>> {
    if prompts.is_empty() {
        return Ok(Vec::new());
    }
    for (_, p) in prompts {
        p.validate()?;
    }
    let rows: Vec<PrefillRow<'_>> = prompts
        .iter()
        .map(|(p, _)| PrefillRow {
            input_ids: &p.input_ids,
            images: &p.images,
            videos: &p.videos,
        })
        .collect();
    let most_new = prompts
        .iter()
        .map(|(_, p)| p.max_new_tokens)
        .max()
        .unwrap_or(0);
    let prefill = model.prefill(&rows, false, most_new, pad)?;
    let first_logits = prefill.logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;

    // One decode row per completion.
    struct Row {
        request: usize,
        index: usize,
        sampler: Sampler,
        seen: Vec<u32>,
        out: Vec<u32>,
        max_new: usize,
    }
    let mut live: Vec<Row> = Vec::new();
    for (r, (prompt, params)) in prompts.iter().enumerate() {
        for index in 0..params.n {
            live.push(Row {
                request: r,
                index,
                sampler: Sampler::new(params, index),
                seen: prompt.input_ids.clone(),
                out: Vec::new(),
                max_new: params.max_new_tokens,
            });
        }
    }
    let src_rows: Vec<usize> = live.iter().map(|r| r.request).collect();
    let mut cache = prefill.cache.select_rows(&src_rows)?;
    let mut deltas: Vec<i64> = src_rows.iter().map(|&r| prefill.deltas[r]).collect();
    let mut results: Vec<Vec<Option<GeneratedTokens>>> =
        prompts.iter().map(|(_, p)| vec![None; p.n]).collect();
    let mut logits: Vec<Vec<f32>> = live
        .iter()
        .map(|r| first_logits[r.request].clone())
        .collect();
    loop {
        // Sample one token per live row; retire rows that stop or reach their limit.
        let mut next = Vec::with_capacity(live.len());
        let mut still: Vec<Row> = Vec::with_capacity(live.len());
        let mut keep = Vec::with_capacity(live.len());
        for (i, mut row) in live.into_iter().enumerate() {
            let finish = if row.max_new == 0 {
                Some(FinishReason::Length)
            } else {
                let tok = row.sampler.next(&mut logits[i], &row.seen);
                if stop.contains(&tok) {
                    Some(FinishReason::Stop)
                } else {
                    row.out.push(tok);
                    row.seen.push(tok);
                    (row.out.len() >= row.max_new).then_some(FinishReason::Length)
                }
            };
            match finish {
                Some(finish_reason) => {
                    results[row.request][row.index] = Some(GeneratedTokens {
                        tokens: std::mem::take(&mut row.out),
                        finish_reason,
                    });
                }
                None => {
                    next.push(*row.out.last().expect("a token was just added"));
                    keep.push(i);
                    still.push(row);
                }
            }
        }
        live = still;
        if live.is_empty() {
            break;
        }
        if keep.len() != cache.rows() {
            cache = cache.select_rows(&keep)?;
            deltas = keep.iter().map(|&i| deltas[i]).collect();
        }
        logits = model
            .decode(&next, &mut cache, &deltas)?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?;
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|c| c.expect("every completion finishes"))
                .collect()
        })
        .collect())
}
