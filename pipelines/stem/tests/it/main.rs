//! The stem pipeline through the engine: synthesis, problem sets with bad rows, the pass-rate
//! filter with a scripted model (threshold edges, 0/n, retries, cache) and with the tiny
//! native Qwen3-VL checkpoint.

mod common;
mod filter;
mod pipeline;
