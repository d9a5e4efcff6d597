//! Image embeddings from a native Qwen3-VL model for clustering: the model's own image
//! processor (smart resize, normalisation, patches), its vision tower, and the mean over the
//! merged vision tokens — the features the language model would see, pooled per image.
//!
//! Uses only public `weft-inference` API (`ProcessorConfig::process_image`,
//! `Qwen3Vl::encode_vision`), so the features are exactly those of the model's forward pass.

use weft_inference::NativeModel;
use weft_inference::candle::{D, DType};

/// Pooled vision features (length = the vision tower's output width) of one image.
pub fn image_embedding(model: &NativeModel, image: &image::RgbImage) -> Result<Vec<f32>, String> {
    let patches = model
        .processor()
        .process_image(image)
        .map_err(|e| e.to_string())?;
    let feats = model
        .model()
        .encode_vision(&[&patches])
        .map_err(|e| e.to_string())?
        .ok_or("the vision tower returned nothing")?;
    feats
        .merged
        .to_dtype(DType::F32)
        .and_then(|t| t.mean(D::Minus2))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| e.to_string())
}
