//! The JSON files of a Hugging Face model folder, parsed and validated before any weight is read.

mod generation;
mod model;

pub use generation::GenerationConfig;
pub use model::{ModelConfig, ParseError, TextConfig, VisionConfig};
