//! Plan validation must point at the exact file, line and key that is wrong.

use std::path::Path;

use crate::Error;
use crate::pipeline_file::PipelineFile;
use crate::plan::Plan;
use crate::registry::Registry;

fn plan(text: &str) -> Result<Plan, Error> {
    let file = PipelineFile::parse(Path::new("p.toml"), text.to_string())?;
    Plan::build(file, &Registry::builtin())
}

fn error_text(text: &str) -> String {
    match plan(text) {
        Ok(_) => panic!("plan unexpectedly valid:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str =
    "[pipeline]\nname = \"t\"\n\n[stages.photos]\nkind = \"image_folder\"\npath = \"x\"\n";

#[test]
fn valid_plan_orders_stages_and_marks_outputs() {
    let text = format!(
        "{HEAD}\n[stages.samples]\nkind = \"caption_samples\"\ninputs = [\"sized\"]\nsource = \"s\"\n\n[stages.sized]\nkind = \"filter_images\"\ninputs = [\"photos\"]\n"
    );
    let p = plan(&text).unwrap();
    let order: Vec<_> = p.stages.iter().map(|s| s.spec.name.as_str()).collect();
    assert_eq!(order, ["photos", "sized", "samples"]);
    assert_eq!(p.sinks(), ["samples"]);
    assert!(
        p.render()
            .contains("samples  caption_samples    <- sized  [output]"),
        "{}",
        p.render()
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = format!(
        "{HEAD}\n[stages.sized]\nkind = \"filter_images\"\ninputs = [\"photos\"]\nmin_sid = 3\n"
    );
    let e = error_text(&text);
    assert!(
        e.starts_with("p.toml:11: stage `sized` (filter_images): unknown field `min_sid`"),
        "{e}"
    );
}

#[test]
fn unknown_kind_names_the_kind_line() {
    let text = format!("{HEAD}\n[stages.x]\ninputs = [\"photos\"]\nkind = \"nope\"\n");
    let e = error_text(&text);
    assert!(
        e.starts_with("p.toml:10: stage `x`: unknown kind `nope`"),
        "{e}"
    );
}

#[test]
fn missing_input_names_the_inputs_line() {
    let text = format!("{HEAD}\n[stages.sized]\nkind = \"filter_images\"\ninputs = [\"fotos\"]\n");
    let e = error_text(&text);
    assert!(
        e.contains("p.toml:10: stage `sized`: inputs names `fotos`, which is not a stage"),
        "{e}"
    );
}

#[test]
fn cycles_are_named_in_data_flow_order() {
    let text = format!(
        "{HEAD}\n[stages.a]\nkind = \"filter_images\"\ninputs = [\"b\"]\n\n[stages.b]\nkind = \"filter_images\"\ninputs = [\"a\"]\n"
    );
    let e = error_text(&text);
    assert!(
        e.contains("stages form a cycle: b -> a -> b")
            || e.contains("stages form a cycle: a -> b -> a"),
        "{e}"
    );
}

#[test]
fn schema_mismatch_names_both_stages_and_the_column() {
    let text = format!(
        "{HEAD}\n[stages.g]\nkind = \"exact_duplicates\"\ninputs = [\"photos\"]\n\n[stages.s]\nkind = \"caption_samples\"\ninputs = [\"g\"]\nsource = \"x\"\n"
    );
    let e = error_text(&text);
    assert!(e.contains("p.toml:14: stage `s` (caption_samples) cannot read the output of `g`: input has no column `path`"), "{e}");
}

#[test]
fn malformed_toml_names_the_line() {
    let e = error_text("[pipeline]\nname = \"t\"\n\n[stages.a]\nkind = = 3\n");
    assert!(e.starts_with("p.toml:5:"), "{e}");
}

#[test]
fn a_source_with_inputs_and_a_transform_without_are_rejected() {
    let text = "[pipeline]\nname = \"t\"\n[stages.p]\nkind = \"image_folder\"\npath = \"x\"\ninputs = [\"q\"]\n[stages.q]\nkind = \"filter_images\"\n";
    let e = error_text(text);
    assert!(
        e.contains("p.toml:6: stage `p`: kind `image_folder` is a source and takes no `inputs`"),
        "{e}"
    );
    assert!(
        e.contains("p.toml:7: stage `q`: kind `filter_images` needs `inputs`"),
        "{e}"
    );
}

#[test]
fn a_pipeline_built_in_rust_plans_like_its_toml() {
    let cfg = |t: &str| -> toml::Table { toml::from_str(t).unwrap() };
    let rust = PipelineFile::new("t", 0, Path::new("."))
        .with_stage("photos", "image_folder", &[], &[], cfg("path = \"x\""))
        .with_stage(
            "sized",
            "filter_images",
            &["photos"],
            &[],
            cfg("min_side = 8"),
        );
    let from_rust = Plan::build(rust, &Registry::builtin()).unwrap();
    let text = format!(
        "{HEAD}\n[stages.sized]\nkind = \"filter_images\"\ninputs = [\"photos\"]\nmin_side = 8\n"
    );
    let from_toml = plan(&text).unwrap();
    let fps = |p: &Plan| {
        p.stages
            .iter()
            .map(|s| s.config_fingerprint.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(fps(&from_rust), fps(&from_toml));
}

#[test]
fn overrides_set_typed_values_and_reject_unknown_stages() {
    let mut file = PipelineFile::parse(
        Path::new("p.toml"),
        format!("{HEAD}\n[stages.sized]\nkind = \"filter_images\"\ninputs = [\"photos\"]\n"),
    )
    .unwrap();
    file.set("sized.min_side=100").unwrap();
    file.set("photos.path=/data/my photos").unwrap();
    assert_eq!(file.stages[1].config["min_side"], toml::Value::Integer(100));
    assert_eq!(
        file.stages[0].config["path"],
        toml::Value::String("/data/my photos".into())
    );
    assert!(
        file.set("nope.x=1")
            .unwrap_err()
            .to_string()
            .contains("no stage `nope`")
    );
    file.set("sized.min_sid=1").unwrap();
    let e = Plan::build(file, &Registry::builtin())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("unknown field `min_sid`"), "{e}");
}

#[test]
fn stage_names_must_be_safe_folder_names() {
    for bad in ["\"..\"", "\"a/b\"", "_markers", "quarantine"] {
        let text = format!(
            "[pipeline]\nname = \"t\"\n\n[stages.{bad}]\nkind = \"image_folder\"\npath = \"x\"\n"
        );
        let e = error_text(&text);
        assert!(e.contains("p.toml:4: stage name"), "{bad}: {e}");
    }
}
