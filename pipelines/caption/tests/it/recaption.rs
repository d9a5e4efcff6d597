//! Recaptioning through the `VisionLanguageModel` trait with the tiny real-format Qwen3-VL
//! checkpoint: captions and their provenance land in `meta`, and a rerun into a fresh output
//! folder makes zero model calls (every answer comes from the cache). Changing a generation
//! parameter misses the cache, as it must.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use weft_engine::pipeline_file::PipelineFile;
use weft_engine::registry::KindInfo;
use weft_inference::{NativeModel, NativeOptions, Request, Response, VisionLanguageModel};

use crate::common::{assert_accounts, column, registry, run};
use crate::photos::{encode, repo};

/// Counts the requests that reach the model.
struct Counting {
    inner: NativeModel,
    calls: AtomicUsize,
}

impl VisionLanguageModel for Counting {
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn generate(&self, requests: &[Request]) -> Vec<weft_inference::Result<Response>> {
        self.calls.fetch_add(requests.len(), Ordering::SeqCst);
        self.inner.generate(requests)
    }
}

fn model() -> &'static Arc<Counting> {
    static M: OnceLock<Arc<Counting>> = OnceLock::new();
    M.get_or_init(|| {
        let dir = repo().join("inference/tests/fixtures/parity/two_images/model");
        Arc::new(Counting {
            inner: NativeModel::load(&dir, NativeOptions::default()).unwrap(),
            calls: AtomicUsize::new(0),
        })
    })
}

fn build_counted(t: &toml::Table) -> Result<Arc<dyn weft_engine::Stage>, String> {
    weft_pipeline_caption::build_recaption_with_model(t, model().clone())
}

#[test]
fn recaption_records_provenance_and_a_rerun_makes_no_model_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for name in ["astronaut.jpg", "coffee.jpg", "rocket.jpg"] {
        let img = image::open(repo().join("examples/data/photos").join(name)).unwrap();
        let small = img.resize(96, 96, image::imageops::FilterType::Triangle);
        std::fs::write(
            photos.join(name.replace(".jpg", ".png")),
            encode(&small, image::ImageFormat::Png),
        )
        .unwrap();
    }
    std::fs::write(photos.join("astronaut.txt"), "An astronaut with a flag").unwrap();
    let cache = tmp.path().join("cache");
    let text = |max_new: u32| {
        format!(
            r#"[pipeline]
name = "recaption-test"
seed = 1
[stages.source]
kind = "caption_source"
path = "photos"
[stages.images]
kind = "normalise_images"
inputs = ["source"]
[stages.recaption]
kind = "recaption_counted"
inputs = ["images"]
style = "detailed"
batch_size = 2
cache = "{}"
params = {{ max_new_tokens = {max_new}, temperature = 0.0 }}
[stages.samples]
kind = "caption_pairs"
inputs = ["recaption"]
source = "test"
"#,
            cache.display()
        )
    };
    let mut reg = registry();
    reg.register(KindInfo {
        name: "recaption_counted",
        source: false,
        about: "test",
        build: build_counted,
    });
    let pipeline = |max_new: u32| {
        let p = tmp.path().join("p.toml");
        std::fs::write(&p, text(max_new)).unwrap();
        PipelineFile::load(&p).unwrap()
    };
    let calls = || model().calls.load(Ordering::SeqCst);

    let first = tmp.path().join("first");
    assert_accounts(&run(pipeline(4), &reg, &first, 0, 1));
    assert_eq!(calls(), 3, "one request per image");
    let metas = column(&first, "samples", "meta");
    assert_eq!(metas.len(), 3);
    for m in &metas {
        let v: serde_json::Value = serde_json::from_str(m).unwrap();
        assert_eq!(v["caption_source"], "model");
        assert_eq!(v["caption_model"], model().model_id());
        assert!(v["prompt_id"].as_str().unwrap().starts_with("detailed@"));
        assert_eq!(v["generation"]["max_new_tokens"], 4);
        if v["uid"] == "astronaut.png" {
            assert_eq!(v["alt_text"], "An astronaut with a flag");
        } else {
            assert!(v["alt_text"].is_null());
        }
    }

    // A fresh output folder: every stage reruns, the model is not asked again.
    let second = tmp.path().join("second");
    assert_accounts(&run(pipeline(4), &reg, &second, 0, 1));
    assert_eq!(calls(), 3, "the rerun made model calls");
    assert_eq!(
        column(&first, "samples", "id"),
        column(&second, "samples", "id")
    );

    // Other generation parameters are another cache key.
    let third = tmp.path().join("third");
    run(pipeline(3), &reg, &third, 0, 1);
    assert_eq!(calls(), 6);
}
