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

#[cfg(test)]
mod tests {
    use super::*;
    use weft_inference::NativeOptions;

    #[test]
    fn embedding_is_the_token_mean_of_the_models_vision_forward() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let model = NativeModel::load(
            &root.join("inference/tests/fixtures/parity/two_images/model"),
            NativeOptions::default(),
        )
        .unwrap();
        let load = |n: &str| {
            image::open(root.join("examples/data/photos").join(n))
                .unwrap()
                .resize(64, 64, image::imageops::FilterType::Triangle)
                .to_rgb8()
        };
        let (a, b) = (load("coffee.jpg"), load("rocket.jpg"));
        let ea = image_embedding(&model, &a).unwrap();
        // The forward pass itself, pooled by hand over its token rows.
        let patches = model.processor().process_image(&a).unwrap();
        let merged = model
            .model()
            .encode_vision(&[&patches])
            .unwrap()
            .unwrap()
            .merged;
        let rows: Vec<Vec<f32>> = merged.to_dtype(DType::F32).unwrap().to_vec2().unwrap();
        assert!(rows.len() > 1);
        assert_eq!(ea.len(), rows[0].len());
        for (j, v) in ea.iter().enumerate() {
            let mean = rows.iter().map(|r| r[j]).sum::<f32>() / rows.len() as f32;
            assert!((v - mean).abs() < 1e-5, "dim {j}: {v} vs {mean}");
        }
        assert_eq!(ea, image_embedding(&model, &a).unwrap());
        assert_ne!(ea, image_embedding(&model, &b).unwrap());
    }
}
