//! weft-inference's integration tests (one binary): reference parity on tiny random models,
//! bad inputs, and the real Qwen3-VL-2B tensor layout.

mod bad_input;
mod parity;
mod released_layout;
