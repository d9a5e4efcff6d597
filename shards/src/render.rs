//! A sample through the Qwen3-VL chat template, with every vision pad expanded to its exact
//! token count — what the model will actually see, for `weft shards render` and token budgets.
//!
//! The built-in template follows the released Qwen3-VL template for plain chats (no default
//! system prompt, `<|im_start|>{role}\n…<|im_end|>\n`, one
//! `<|vision_start|><|image_pad|><|vision_end|>` per image, one `…<|video_pad|>…` per video).
//! A model folder's own template (`chat_template.json` or `tokenizer_config.json`) can be used
//! instead; it runs under Jinja settings matching transformers (`trim_blocks`,
//! `lstrip_blocks`, Python string methods, `raise_exception`).
//!
//! Pad expansion mirrors `processing_qwen3_vl.py` of current transformers:
//! - the i-th `<|image_pad|>` becomes (h̄/32)·(w̄/32) pads for the i-th image part;
//! - the i-th video's `<|vision_start|><|video_pad|><|vision_end|>` triplet is *replaced as a
//!   whole* by, per temporal patch, `<{t:.1f} seconds><|vision_start|><|video_pad|>×n<|vision_end|>`
//!   (a bare `<|video_pad|>` is replaced when the template emits no triplet); a sample whose
//!   `meta.timestamp_format` is `"hms"` gets `<hh:mm:ss.s>` labels instead ([`TimestampFormat`]),
//!   the hh:mm:ss variant Qwen3-VL mixes into training. mistral.rs
//!   instead replaces only the pad and keeps the outer markers; transformers is the reference.
//!
//! Text tokens are *estimated* (no tokenizer here): every `<|…|>` special token counts 1 and
//! other text counts one token per [`BYTES_PER_TEXT_TOKEN`] bytes, rounded up per run. Vision
//! tokens are exact.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, ErrorKind, Value};

use crate::Error;
use crate::sample::{Content, Sample};
use crate::vision::VisionParams;

/// Bytes of plain text per estimated token (about 4 for English BPE vocabularies).
pub const BYTES_PER_TEXT_TOKEN: usize = 4;
/// The image placeholder token.
pub const IMAGE_PAD: &str = "<|image_pad|>";
/// The video placeholder token.
pub const VIDEO_PAD: &str = "<|video_pad|>";
/// Opens a vision span.
pub const VISION_START: &str = "<|vision_start|>";
/// Closes a vision span.
pub const VISION_END: &str = "<|vision_end|>";

/// `meta` key naming a sample's video timestamp format: `"seconds"` (default) or `"hms"`.
pub const TIMESTAMP_FORMAT_KEY: &str = "timestamp_format";

/// How a temporal patch's time is written before its vision span.
///
/// `Seconds` is the reference processor's `<{t:.1f} seconds>`; `Hms` is the hh:mm:ss variant
/// Qwen3-VL mixes into training, written `<hh:mm:ss.s>` with the same one-decimal rounding so
/// both formats name the same clock (`<3.0 seconds>` = `<00:00:03.0>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    /// `<3.0 seconds>`.
    #[default]
    Seconds,
    /// `<00:00:03.0>`.
    Hms,
}

impl TimestampFormat {
    /// The format a sample asks for in `meta[TIMESTAMP_FORMAT_KEY]` (seconds when absent).
    pub fn of(meta: &serde_json::Map<String, serde_json::Value>) -> Result<Self, Error> {
        match meta.get(TIMESTAMP_FORMAT_KEY) {
            None | Some(serde_json::Value::Null) => Ok(Self::Seconds),
            Some(v) => match v.as_str() {
                Some("seconds") => Ok(Self::Seconds),
                Some("hms") => Ok(Self::Hms),
                _ => Err(Error::Schema(format!(
                    "meta.{TIMESTAMP_FORMAT_KEY} is {v}; expected \"seconds\" or \"hms\""
                ))),
            },
        }
    }

    /// The name stored in `meta` (`seconds`, `hms`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Hms => "hms",
        }
    }

    /// The label of time `t` (seconds), angle brackets included.
    pub fn label(self, t: f64) -> String {
        match self {
            Self::Seconds => format!("<{t:.1} seconds>"),
            Self::Hms => {
                // Round exactly as the seconds label does, then split the tenths.
                let tenths: i64 = format!("{:.1}", t.max(0.0))
                    .replace('.', "")
                    .parse()
                    .unwrap_or(0);
                let (h, rest) = (tenths / 36_000, tenths % 36_000);
                let (m, rest) = (rest / 600, rest % 600);
                format!("<{h:02}:{m:02}:{:02}.{}>", rest / 10, rest % 10)
            }
        }
    }
}

/// weft's built-in Qwen3-VL chat template (see the module docs).
pub const BUILTIN_TEMPLATE: &str = "\
{%- for message in messages -%}
<|im_start|>{{ message.role }}
{% if message.content is string %}{{ message.content }}{% else %}\
{% for part in message.content %}\
{% if part.type == 'image' %}<|vision_start|><|image_pad|><|vision_end|>\
{% elif part.type == 'video' %}<|vision_start|><|video_pad|><|vision_end|>\
{% elif part.type == 'text' %}{{ part.text }}{% endif %}\
{% endfor %}{% endif %}<|im_end|>
{% endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}";

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// A Jinja chat template; the built-in Qwen3-VL one when `None`.
    pub template: Option<String>,
    /// Processor parameters for the vision-token counts.
    pub vision: VisionParams,
    /// Append `<|im_start|>assistant\n`.
    pub add_generation_prompt: bool,
    /// Print runs of pads as `<|image_pad|>×256` instead of 256 copies (token counts unchanged).
    pub collapse_pads: bool,
}

impl RenderOptions {
    /// Options reading template and vision parameters from a Hugging Face model folder.
    pub fn from_model_dir(dir: &Path) -> Result<Self, Error> {
        Ok(RenderOptions {
            template: Some(load_template(dir)?),
            vision: VisionParams::from_model_dir(dir)?,
            ..RenderOptions::default()
        })
    }
}

/// A rendered sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The prompt text with pads expanded (or collapsed, per [`RenderOptions::collapse_pads`]).
    pub text: String,
    /// `<|image_pad|>` tokens per image part, in the order the parts appear.
    pub image_tokens: Vec<usize>,
    /// `<|video_pad|>` tokens per video part (all temporal patches), in order of appearance.
    pub video_tokens: Vec<usize>,
    /// Estimated non-pad tokens (see the module docs for the rule).
    pub text_tokens_estimate: usize,
}

impl Rendered {
    /// Exact vision tokens.
    pub fn vision_tokens(&self) -> usize {
        self.image_tokens.iter().sum::<usize>() + self.video_tokens.iter().sum::<usize>()
    }

    /// Vision tokens plus the text estimate.
    pub fn total_tokens(&self) -> usize {
        self.vision_tokens() + self.text_tokens_estimate
    }
}

/// Reads the chat template of a model folder in transformers' order: `chat_template.json`
/// (`{"chat_template": …}`), else `chat_template.jinja` (the raw template), else
/// `tokenizer_config.json`'s `chat_template` (a string, or a list of named templates of which
/// `default` is used).
pub fn load_template(dir: &Path) -> Result<String, Error> {
    for (file, key) in [
        ("chat_template.json", "chat_template"),
        ("chat_template.jinja", ""),
        ("tokenizer_config.json", "chat_template"),
    ] {
        let path = dir.join(file);
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        if key.is_empty() {
            return Ok(text);
        }
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        match json.get(key) {
            Some(serde_json::Value::String(t)) => return Ok(t.clone()),
            Some(serde_json::Value::Array(named)) => {
                let default = named
                    .iter()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                    .and_then(|t| t.get("template"))
                    .and_then(|t| t.as_str());
                if let Some(t) = default {
                    return Ok(t.to_string());
                }
            }
            _ => {}
        }
    }
    Err(Error::Config(format!(
        "{}: no chat template (looked in chat_template.json, chat_template.jinja and \
         tokenizer_config.json)",
        dir.display()
    )))
}

/// Estimated tokens of `text` without a tokenizer: `<|…|>` specials count 1 except image and
/// video pads (counted as vision tokens), other text one per [`BYTES_PER_TEXT_TOKEN`] bytes.
pub fn estimate_text_tokens(text: &str) -> usize {
    let mut n = 0;
    let mut rest = text;
    while let Some(start) = rest.find("<|") {
        n += rest[..start].len().div_ceil(BYTES_PER_TEXT_TOKEN);
        let after = &rest[start..];
        match after.find("|>") {
            Some(end) => {
                let special = &after[..end + 2];
                if special != IMAGE_PAD && special != VIDEO_PAD {
                    n += 1;
                }
                rest = &after[end + 2..];
            }
            None => {
                rest = after;
                break;
            }
        }
    }
    n + rest.len().div_ceil(BYTES_PER_TEXT_TOKEN)
}

fn messages_value(sample: &Sample) -> Value {
    let part = |c: &Content| {
        let mut m = BTreeMap::new();
        match c {
            Content::Text { text } => {
                m.insert("type".to_string(), Value::from("text"));
                m.insert("text".to_string(), Value::from(text.as_str()));
            }
            Content::Image { .. } => {
                m.insert("type".to_string(), Value::from("image"));
            }
            Content::Video { .. } => {
                m.insert("type".to_string(), Value::from("video"));
            }
        }
        Value::from(m)
    };
    sample
        .messages
        .iter()
        .map(|msg| {
            let mut m = BTreeMap::new();
            m.insert("role".to_string(), Value::from(msg.role.as_str()));
            m.insert(
                "content".to_string(),
                msg.content.iter().map(part).collect::<Value>(),
            );
            Value::from(m)
        })
        .collect()
}

fn template_error(e: minijinja::Error) -> Error {
    Error::Config(format!("chat template: {e:#}"))
}

/// A Jinja environment configured as transformers renders chat templates: `trim_blocks`,
/// `lstrip_blocks`, Python string methods (`startswith`, `split`, `strip`…) and
/// `raise_exception`. Shared with the inference crate so shard rendering and model prompts run
/// templates the same way.
pub fn chat_template_env() -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(template_error)?;
    env.set_syntax(syntax);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |msg: String| -> Result<String, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
        },
    );
    Ok(env)
}

/// Runs the chat template only (pads not expanded).
pub fn apply_template(
    sample: &Sample,
    template: Option<&str>,
    add_generation_prompt: bool,
) -> Result<String, Error> {
    let env = chat_template_env()?;
    let tmpl = env
        .template_from_str(template.unwrap_or(BUILTIN_TEMPLATE))
        .map_err(template_error)?;
    tmpl.render(minijinja::context! {
        messages => messages_value(sample),
        add_generation_prompt => add_generation_prompt,
    })
    .map_err(template_error)
}

/// Renders `sample` through the chat template and expands every pad (see the module docs).
pub fn render(sample: &Sample, opts: &RenderOptions) -> Result<Rendered, Error> {
    let templated = apply_template(sample, opts.template.as_deref(), opts.add_generation_prompt)?;
    let parts: Vec<&Content> = sample.messages.iter().flat_map(|m| &m.content).collect();

    let mut image_tokens = Vec::new();
    for c in &parts {
        if let Content::Image { index } = c {
            let img = sample.images.get(*index as usize).ok_or_else(|| {
                Error::Schema(format!("image part points at missing image {index}"))
            })?;
            image_tokens.push(opts.vision.image_tokens(img.width, img.height)?);
        }
    }
    let mut layouts = Vec::new();
    for c in &parts {
        if let Content::Video { index } = c {
            let v = sample.videos.get(*index as usize).ok_or_else(|| {
                Error::Schema(format!("video part points at missing video {index}"))
            })?;
            let (w, h) = v.frames.first().map_or((0, 0), |f| (f.width, f.height));
            layouts.push(opts.vision.video_layout(&v.timestamps, w, h)?);
        }
    }

    // Images: the i-th pad is the i-th image part.
    let pieces: Vec<&str> = templated.split(IMAGE_PAD).collect();
    if pieces.len() - 1 != image_tokens.len() {
        return Err(Error::Config(format!(
            "the chat template emitted {} image pads for {} image parts",
            pieces.len() - 1,
            image_tokens.len()
        )));
    }
    let mut text = String::with_capacity(
        templated.len() + image_tokens.iter().sum::<usize>() * IMAGE_PAD.len(),
    );
    for (i, piece) in pieces.iter().enumerate() {
        text.push_str(piece);
        if let Some(&n) = image_tokens.get(i) {
            text.push_str(&IMAGE_PAD.repeat(n));
        }
    }

    // Videos: replace the i-th triplet (or bare pad) after the previous expansion.
    let time_format = TimestampFormat::of(&sample.meta)?;
    let triplet = format!("{VISION_START}{VIDEO_PAD}{VISION_END}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    for layout in &layouts {
        let (at, len) = match (rest.find(&triplet), rest.find(VIDEO_PAD)) {
            (Some(t), _) => (t, triplet.len()),
            (None, Some(p)) => (p, VIDEO_PAD.len()),
            (None, None) => {
                return Err(Error::Config(format!(
                    "the chat template emitted fewer video pads than {} video parts",
                    layouts.len()
                )));
            }
        };
        out.push_str(&rest[..at]);
        for &t in &layout.patch_times {
            out.push_str(&time_format.label(t));
            out.push_str(VISION_START);
            out.push_str(&VIDEO_PAD.repeat(layout.tokens_per_patch));
            out.push_str(VISION_END);
        }
        rest = &rest[at + len..];
    }
    if rest.contains(VIDEO_PAD) {
        return Err(Error::Config(format!(
            "the chat template emitted more video pads than {} video parts",
            layouts.len()
        )));
    }
    out.push_str(rest);

    let text_tokens_estimate = estimate_text_tokens(&out);
    let text = if opts.collapse_pads {
        collapse_pads(&out)
    } else {
        out
    };
    Ok(Rendered {
        text,
        image_tokens,
        video_tokens: layouts.iter().map(|l| l.total_tokens()).collect(),
        text_tokens_estimate,
    })
}

/// Rewrites each run of two or more identical pads as `<|image_pad|>×n`.
pub fn collapse_pads(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(1 << 16));
    let mut rest = text;
    loop {
        let next = [IMAGE_PAD, VIDEO_PAD]
            .into_iter()
            .filter_map(|p| rest.find(p).map(|i| (i, p)))
            .min();
        let Some((at, pad)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let mut n = 0;
        while let Some(r) = rest.strip_prefix(pad) {
            rest = r;
            n += 1;
        }
        out.push_str(pad);
        if n > 1 {
            out.push_str(&format!("×{n}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Image, Message, Video};

    fn image(width: u32, height: u32) -> Image {
        Image {
            bytes: vec![],
            path: None,
            width,
            height,
            format: "png".into(),
        }
    }

    fn caption_sample(width: u32, height: u32) -> Sample {
        let user = Message::new(
            "user",
            vec![
                Content::Image { index: 0 },
                Content::text("Describe this image."),
            ],
        );
        Sample::new(
            "caption",
            "t",
            vec![user],
            vec![image(width, height)],
            vec![],
            Default::default(),
        )
    }

    #[test]
    fn canonical_caption_prompt() {
        let opts = RenderOptions {
            add_generation_prompt: true,
            ..Default::default()
        };
        let r = render(&caption_sample(640, 480), &opts).unwrap();
        let want = format!(
            "<|im_start|>user\n<|vision_start|>{}<|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n",
            IMAGE_PAD.repeat(300)
        );
        assert_eq!(r.text, want);
        assert_eq!(r.image_tokens, vec![300]);
        // 5 specials (im_start, vision_start, vision_end, im_end, im_start) + "user\n" (2)
        // + "Describe this image." (5) + "\n" (1) + "assistant\n" (3).
        assert_eq!(r.text_tokens_estimate, 5 + 2 + 5 + 1 + 3);
        assert_eq!(r.total_tokens(), 300 + 16);

        let collapsed = render(
            &caption_sample(640, 480),
            &RenderOptions {
                collapse_pads: true,
                ..opts
            },
        )
        .unwrap();
        assert!(
            collapsed
                .text
                .contains("<|vision_start|><|image_pad|>×300<|vision_end|>Describe"),
            "{}",
            collapsed.text
        );
        assert_eq!(collapsed.text_tokens_estimate, r.text_tokens_estimate);
    }

    #[test]
    fn conversation_without_generation_prompt() {
        let mut s = caption_sample(10, 10);
        s.messages
            .insert(0, Message::new("system", vec![Content::text("Be brief.")]));
        s.messages
            .push(Message::new("assistant", vec![Content::text("A cat.")]));
        let r = render(
            &s,
            &RenderOptions {
                collapse_pads: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            r.text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|>×64<|vision_end|>\
             Describe this image.<|im_end|>\n<|im_start|>assistant\nA cat.<|im_end|>\n"
        );
    }

    #[test]
    fn video_triplet_is_replaced_per_temporal_patch() {
        let frames = (0..4).map(|_| image(640, 480)).collect();
        let video = Video {
            frames,
            timestamps: vec![0.0, 0.5, 1.0, 1.5],
            fps: 2.0,
            duration: 2.0,
            path: None,
        };
        let user = Message::new(
            "user",
            vec![Content::Video { index: 0 }, Content::text("What happens?")],
        );
        let s = Sample::new(
            "vqa",
            "t",
            vec![user],
            vec![],
            vec![video],
            Default::default(),
        );
        let r = render(
            &s,
            &RenderOptions {
                collapse_pads: true,
                ..Default::default()
            },
        )
        .unwrap();
        // 4 frames of 640×480 = 1228800 px > 786432: β = sqrt(1.5625) = 1.25 → 384×512 → 12·16.
        assert_eq!(r.video_tokens, vec![2 * 192]);
        assert_eq!(
            r.text,
            "<|im_start|>user\n<0.2 seconds><|vision_start|><|video_pad|>×192<|vision_end|>\
             <1.2 seconds><|vision_start|><|video_pad|>×192<|vision_end|>What happens?<|im_end|>\n"
        );
    }

    #[test]
    fn hms_timestamps_follow_meta_and_round_like_seconds() {
        assert_eq!(TimestampFormat::Seconds.label(3.0), "<3.0 seconds>");
        assert_eq!(TimestampFormat::Hms.label(3.0), "<00:00:03.0>");
        assert_eq!(TimestampFormat::Hms.label(3725.25), "<01:02:05.2>");
        assert_eq!(TimestampFormat::Seconds.label(3725.25), "<3725.2 seconds>");
        assert_eq!(TimestampFormat::Hms.label(59.96), "<00:01:00.0>");
        let frames = (0..4).map(|_| image(64, 64)).collect();
        let video = Video {
            frames,
            timestamps: vec![0.0, 0.5, 1.0, 1.5],
            fps: 2.0,
            duration: 2.0,
            path: None,
        };
        let user = Message::new("user", vec![Content::Video { index: 0 }]);
        let mut meta = serde_json::Map::new();
        meta.insert(TIMESTAMP_FORMAT_KEY.into(), "hms".into());
        let s = Sample::new("vqa", "t", vec![user], vec![], vec![video], meta);
        let opts = RenderOptions {
            collapse_pads: true,
            ..Default::default()
        };
        let r = render(&s, &opts).unwrap();
        assert!(
            r.text
                .starts_with("<|im_start|>user\n<00:00:00.2><|vision_start|>"),
            "{}",
            r.text
        );
        assert!(
            r.text.contains("<00:00:01.2><|vision_start|>"),
            "{}",
            r.text
        );
        let mut bad = s.clone();
        bad.meta
            .insert(TIMESTAMP_FORMAT_KEY.into(), "minutes".into());
        assert!(render(&bad, &opts).is_err());
    }

    #[test]
    fn model_templates_get_python_methods_and_pad_checks() {
        let dir = tempfile::tempdir().unwrap();
        let tmpl = "{% for m in messages %}{% if m.role.startswith('us') %}U:{% endif %}\
                    {% for c in m.content %}{% if c.type == 'image' %}<|image_pad|>{% else %}{{ c.text.strip() }}{% endif %}{% endfor %}{% endfor %}";
        std::fs::write(
            dir.path().join("chat_template.json"),
            serde_json::json!({ "chat_template": tmpl }).to_string(),
        )
        .unwrap();
        let opts = RenderOptions::from_model_dir(dir.path()).unwrap();
        let r = render(&caption_sample(640, 480), &opts).unwrap();
        assert_eq!(
            r.text,
            format!("U:{}Describe this image.", IMAGE_PAD.repeat(300))
        );

        let dropped = RenderOptions {
            template: Some("{{ messages | length }}".into()),
            ..Default::default()
        };
        let err = render(&caption_sample(640, 480), &dropped)
            .unwrap_err()
            .to_string();
        assert!(err.contains("0 image pads for 1 image parts"), "{err}");

        let raising = RenderOptions {
            template: Some("{{ raise_exception('no system') }}".into()),
            ..Default::default()
        };
        assert!(
            render(&caption_sample(640, 480), &raising)
                .unwrap_err()
                .to_string()
                .contains("no system")
        );
        assert!(load_template(Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn text_estimate_rule() {
        assert_eq!(estimate_text_tokens(""), 0);
        assert_eq!(estimate_text_tokens("abcde"), 2);
        assert_eq!(
            estimate_text_tokens("<|im_start|>ab<|image_pad|><|image_pad|>"),
            2
        );
        assert_eq!(estimate_text_tokens("a <| b"), 2);
    }
}
