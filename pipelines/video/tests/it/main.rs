//! Integration tests of the video pipeline (one test binary): decoding against ffprobe and the
//! ffmpeg CLI on the bundled real clips, whole pipeline runs through the engine (accounting,
//! bad input, determinism), the rendered prompt against the transformers fixture, and dense
//! captions end to end with the tiny native Qwen3-VL.

mod common;
mod decoding;
mod dense_captions;
mod pipeline;
mod prompt_parity;
