//! Recaptioning prompts from a replaceable TOML file of minijinja templates (`templates.toml`
//! next to the crate is the default, compiled in). Each style has the `prompt` sent to the
//! model and the `instruction` a training sample asks; a prompt's id is the style plus a hash
//! of its template text, so a changed template is a new prompt for the cache and in `meta`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The compiled-in templates file.
pub const DEFAULT: &str = include_str!("../templates.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Style {
    instruction: String,
    prompt: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    styles: BTreeMap<String, Style>,
}

/// One style, ready to render.
#[derive(Debug, Clone)]
pub struct Template {
    /// `<style>@<8 hex>`.
    pub id: String,
    /// The training sample's user instruction.
    pub instruction: String,
    source: String,
}

impl Template {
    /// Loads `style` from `path` (or the compiled-in file when `None`), checking the template
    /// compiles.
    pub fn load(path: Option<&Path>, style: &str) -> Result<Template, String> {
        let (text, shown) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
                p.display().to_string(),
            ),
            None => (DEFAULT.to_string(), "templates.toml (built in)".into()),
        };
        let file: File = toml::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
        let s = file.styles.get(style).ok_or_else(|| {
            format!(
                "{shown}: no style {style:?} (have: {})",
                file.styles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let mut env = minijinja::Environment::new();
        env.add_template("p", &s.prompt)
            .map_err(|e| format!("{shown}: style {style}: {e}"))?;
        let digest = hex::encode(Sha256::digest(s.prompt.as_bytes()));
        Ok(Template {
            id: format!("{style}@{}", &digest[..8]),
            instruction: s.instruction.clone(),
            source: s.prompt.clone(),
        })
    }

    /// The prompt for one image.
    pub fn render(
        &self,
        alt_text: Option<&str>,
        width: u32,
        height: u32,
    ) -> Result<String, String> {
        let env = minijinja::Environment::new();
        env.render_str(
            &self.source,
            minijinja::context! { alt_text => alt_text.unwrap_or(""), width => width, height => height },
        )
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("prompt {}: {e}", self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_style_renders_with_and_without_alt_text() {
        for style in ["brief", "detailed", "dense"] {
            let t = Template::load(None, style).unwrap();
            assert!(t.id.starts_with(&format!("{style}@")));
            let with = t.render(Some("A cat on a mat"), 640, 480).unwrap();
            assert!(with.contains("\"A cat on a mat\""), "{with}");
            let without = t.render(None, 640, 480).unwrap();
            assert!(!without.contains("alt text"), "{without}");
        }
        assert!(
            Template::load(None, "poetic")
                .unwrap_err()
                .contains("brief, dense, detailed")
        );
    }
}
