//! k-means with k-means++ seeding from a fixed seed (Arthur & Vassilvitskii 2007) and Lloyd
//! iterations. The assignment step — the whole cost — is one matrix product per block of rows
//! (‖x − c‖² = ‖x‖² − 2·x·c + ‖c‖²) through candle's CPU gemm, which is already in the build
//! for the native model; centroid updates and seeding are plain loops.
//!
//! Determinism: seeding draws from ChaCha8(seed); sums run in row order; ties go to the
//! smaller centroid index; empty clusters are re-seeded with the point farthest from its
//! centroid (smallest index on ties). Same data + seed ⇒ same clusters.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use weft_inference::candle::{Device, Tensor};

/// Result of [`kmeans`].
#[derive(Debug, Clone)]
pub struct KMeans {
    /// `k × d` centroids, row-major.
    pub centroids: Vec<f32>,
    /// Cluster of each point.
    pub assignment: Vec<u32>,
    /// Sum of squared distances to the assigned centroids.
    pub inertia: f64,
    /// Lloyd iterations run.
    pub iterations: usize,
}

/// Options of [`kmeans`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Clusters (clamped to the number of points).
    pub k: usize,
    /// Seed of the k-means++ draws.
    pub seed: u64,
    /// Most Lloyd iterations.
    pub max_iter: usize,
    /// Stop when the relative inertia change falls below this.
    pub tol: f64,
}

const BLOCK_ROWS: usize = 4096;

fn sq_norms(data: &[f32], d: usize) -> Vec<f32> {
    data.par_chunks(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// Nearest centroid and squared distance of every row.
fn assign(data: &[f32], norms: &[f32], d: usize, cents: &[f32]) -> Result<Vec<(u32, f32)>, String> {
    let k = cents.len() / d;
    let c_norms = sq_norms(cents, d);
    let ct = Tensor::from_slice(cents, (k, d), &Device::Cpu)
        .and_then(|t| t.t())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(norms.len());
    for (b, rows) in data.chunks(BLOCK_ROWS * d).enumerate() {
        let n = rows.len() / d;
        let x = Tensor::from_slice(rows, (n, d), &Device::Cpu).map_err(|e| e.to_string())?;
        let dots: Vec<f32> = x
            .matmul(&ct)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1())
            .map_err(|e| e.to_string())?;
        let base = b * BLOCK_ROWS;
        let part: Vec<(u32, f32)> = dots
            .par_chunks(k)
            .enumerate()
            .map(|(i, row)| {
                let mut best = (0u32, f32::INFINITY);
                for (j, &dot) in row.iter().enumerate() {
                    let dist = (norms[base + i] - 2.0 * dot + c_norms[j]).max(0.0);
                    if dist < best.1 {
                        best = (j as u32, dist);
                    }
                }
                best
            })
            .collect();
        out.extend(part);
    }
    Ok(out)
}

fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-means++ seeding: each next centre is drawn with probability ∝ squared distance.
fn seed_centres(data: &[f32], d: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = data.len() / d;
    let mut cents = Vec::with_capacity(k * d);
    let first = rng.random_range(0..n);
    cents.extend_from_slice(&data[first * d..(first + 1) * d]);
    let mut dist: Vec<f32> = data
        .par_chunks(d)
        .map(|r| sq_dist(r, &cents[..d]))
        .collect();
    for _ in 1..k {
        let total: f64 = dist.iter().map(|&v| f64::from(v)).sum();
        let next = if total <= 0.0 {
            // Fewer distinct points than k: reuse the first point not yet a centre.
            0
        } else {
            let mut target = rng.random_range(0.0..total);
            let mut pick = n - 1;
            for (i, &v) in dist.iter().enumerate() {
                target -= f64::from(v);
                if target < 0.0 {
                    pick = i;
                    break;
                }
            }
            pick
        };
        let c = data[next * d..(next + 1) * d].to_vec();
        dist.par_iter_mut()
            .zip(data.par_chunks(d))
            .for_each(|(dv, r)| *dv = dv.min(sq_dist(r, &c)));
        cents.extend_from_slice(&c);
    }
    cents
}

/// Clusters `n = data.len() / d` points of dimension `d`.
pub fn kmeans(data: &[f32], d: usize, opts: &Options) -> Result<KMeans, String> {
    if d == 0 || !data.len().is_multiple_of(d) {
        return Err(format!("{} values are not rows of {d}", data.len()));
    }
    let n = data.len() / d;
    if n == 0 {
        return Ok(KMeans {
            centroids: Vec::new(),
            assignment: Vec::new(),
            inertia: 0.0,
            iterations: 0,
        });
    }
    let k = opts.k.clamp(1, n);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut cents = seed_centres(data, d, k, &mut rng);
    let norms = sq_norms(data, d);
    let mut prev = f64::INFINITY;
    let mut assigned = assign(data, &norms, d, &cents)?;
    let mut iterations = 0;
    for _ in 0..opts.max_iter {
        iterations += 1;
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0u64; k];
        for (row, &(c, _)) in data.chunks(d).zip(&assigned) {
            counts[c as usize] += 1;
            for (s, &v) in sums[c as usize * d..(c as usize + 1) * d]
                .iter_mut()
                .zip(row)
            {
                *s += f64::from(v);
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                // Re-seed an empty cluster with the point farthest from its centre.
                let far = assigned
                    .iter()
                    .enumerate()
                    .fold(
                        (0usize, -1f32),
                        |b, (i, &(_, dist))| if dist > b.1 { (i, dist) } else { b },
                    )
                    .0;
                cents[c * d..(c + 1) * d].copy_from_slice(&data[far * d..(far + 1) * d]);
                assigned[far].1 = 0.0;
            } else {
                for j in 0..d {
                    cents[c * d + j] = (sums[c * d + j] / counts[c] as f64) as f32;
                }
            }
        }
        assigned = assign(data, &norms, d, &cents)?;
        let inertia: f64 = assigned.iter().map(|&(_, v)| f64::from(v)).sum();
        let done = (prev - inertia).abs() <= opts.tol * inertia.max(f64::MIN_POSITIVE);
        prev = inertia;
        if done {
            break;
        }
    }
    Ok(KMeans {
        centroids: cents,
        inertia: assigned.iter().map(|&(_, v)| f64::from(v)).sum(),
        assignment: assigned.into_iter().map(|(c, _)| c).collect(),
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_blobs_and_is_deterministic() {
        // Three tight blobs in 8-D; points interleaved so order does not give them away.
        let centres = [[0f32; 8], [5f32; 8], [-5f32; 8]];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for i in 0..300 {
            let c = i % 3;
            truth.push(c);
            for v in centres[c] {
                data.push(v + rng.random_range(-0.5..0.5));
            }
        }
        let opts = Options {
            k: 3,
            seed: 7,
            max_iter: 50,
            tol: 1e-6,
        };
        let a = kmeans(&data, 8, &opts).unwrap();
        let b = kmeans(&data, 8, &opts).unwrap();
        assert_eq!(a.assignment, b.assignment);
        // Same partition as the truth up to renaming.
        for i in 0..300 {
            for j in 0..300 {
                assert_eq!(truth[i] == truth[j], a.assignment[i] == a.assignment[j]);
            }
        }
        assert!(a.inertia < 300.0 * 8.0 * 0.1);
    }
}
