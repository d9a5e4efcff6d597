//! Decode-time products `x Wᵀ` with few rows of `x`, on the CPU.
//!
//! Why our own kernel: decoding is almost only such products, and they are bound by how fast the
//! weights stream from memory. candle sends them through its general GEMM, which reads f32
//! weights at about half the machine's bandwidth and bf16 weights at under 1 GB/s (no bf16
//! matvec kernel; measured in docs/dependencies.md). Here each weight row is read once for all
//! rows of `x`, converted to f32 in registers (bf16 → f32 is a shift), accumulated in f32 and
//! split over threads by output rows, so the loop runs at memory speed for f32 and bf16 alike.

use candle_core::{CpuStorage, DType, Device, Storage, Tensor};
use half::bf16;
use rayon::prelude::*;

use crate::error::Result;

/// Most rows of `x` handled here; larger batches go to GEMM, which then wins on reuse.
pub const MAX_ROWS: usize = 16;

/// Output rows per parallel task.
const BLOCK: usize = 32;

/// `x` `[rows, k]` times `w` `[n, k]` transposed, when `w` is a contiguous f32 or bf16 CPU tensor
/// and `rows ≤ MAX_ROWS`; `None` when the general path should be used.
pub fn small_batch(x: &Tensor, w: &Tensor) -> Result<Option<Tensor>> {
    let (rows, k) = x.dims2()?;
    if rows > MAX_ROWS || !matches!(w.device(), Device::Cpu) {
        return Ok(None);
    }
    let (n, wk) = w.dims2()?;
    if wk != k {
        return Ok(None);
    }
    let xs: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let (storage, layout) = w.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else {
        return Ok(None);
    };
    let Storage::Cpu(cpu) = &*storage else {
        return Ok(None);
    };
    let mut out = vec![0f32; rows * n];
    match cpu {
        CpuStorage::F32(v) => run(&v[start..end], &xs, rows, k, n, &mut out, dot_f32),
        CpuStorage::BF16(v) => run(&v[start..end], &xs, rows, k, n, &mut out, dot_bf16),
        _ => return Ok(None),
    }
    drop(storage);
    let y = Tensor::from_vec(out, (rows, n), &Device::Cpu)?;
    Ok(Some(y.to_dtype(x.dtype())?))
}

/// Fills `out` `[rows, n]`; tasks own disjoint blocks of output columns, written through a
/// transposed scratch so each task touches one contiguous slice.
fn run<W: Sync>(
    w: &[W],
    x: &[f32],
    rows: usize,
    k: usize,
    n: usize,
    out: &mut [f32],
    dot: fn(&[W], &[f32]) -> f32,
) {
    let mut scratch = vec![0f32; n * rows];
    scratch
        .par_chunks_mut(BLOCK * rows)
        .enumerate()
        .for_each(|(b, chunk)| {
            for (i, cell) in chunk.chunks_mut(rows).enumerate() {
                let o = b * BLOCK + i;
                let wrow = &w[o * k..(o + 1) * k];
                for (r, c) in cell.iter_mut().enumerate() {
                    *c = dot(wrow, &x[r * k..(r + 1) * k]);
                }
            }
        });
    for o in 0..n {
        for r in 0..rows {
            out[r * n + o] = scratch[o * rows + r];
        }
    }
}

/// Eight independent accumulators so the compiler can keep vector registers busy.
fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (wc, xc) = (w.chunks_exact(8), x.chunks_exact(8));
    let tail: f32 = wc
        .remainder()
        .iter()
        .zip(xc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in wc.zip(xc) {
        for i in 0..8 {
            acc[i] += a[i] * b[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn dot_bf16(w: &[bf16], x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (wc, xc) = (w.chunks_exact(8), x.chunks_exact(8));
    let tail: f32 = wc
        .remainder()
        .iter()
        .zip(xc.remainder())
        .map(|(a, b)| a.to_f32() * b)
        .sum();
    for (a, b) in wc.zip(xc) {
        for i in 0..8 {
            acc[i] += f32::from_bits(u32::from(a[i].to_bits()) << 16) * b[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &Tensor, w: &Tensor) -> Vec<f32> {
        x.to_dtype(DType::F32)
            .unwrap()
            .matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn matches_gemm_for_f32_and_bf16_weights() {
        let dev = Device::Cpu;
        for rows in [1, 3, 16] {
            let x = Tensor::randn(0f32, 1.0, (rows, 67), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (45, 67), &dev).unwrap();
            for wt in [w.clone(), w.to_dtype(DType::BF16).unwrap()] {
                let got: Vec<f32> = small_batch(&x, &wt)
                    .unwrap()
                    .expect("handled")
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let want = reference(&x, &wt);
                let err = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(err < 1e-4, "rows {rows} {:?}: {err}", wt.dtype());
            }
        }
    }

    #[test]
    fn large_batches_and_views_fall_back_to_gemm() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((17, 8), DType::F32, &dev).unwrap();
        let w = Tensor::zeros((4, 8), DType::F32, &dev).unwrap();
        assert!(small_batch(&x, &w).unwrap().is_none());
        let wt = Tensor::zeros((8, 4), DType::F32, &dev)
            .unwrap()
            .t()
            .unwrap();
        let x1 = Tensor::zeros((1, 8), DType::F32, &dev).unwrap();
        assert!(small_batch(&x1, &wt).unwrap().is_none());
    }
}
