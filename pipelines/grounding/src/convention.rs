//! Coordinate conventions: the only place where original-image pixels become the numbers a
//! model generation reads and writes (see `shared/design/anchors.md` §5.3).
//!
//! | convention | box | point | numbers |
//! |---|---|---|---|
//! | `qwen3` (default) | ```` ```json ```` list of `{"bbox_2d": [x1, y1, x2, y2], "label": …}` | `{"point_2d": [x, y], "label": …}` | relative: `round(x / W · 1000)`, clamped to [0, 1000] |
//! | `qwen2.5` | the same JSON | the same JSON | absolute pixels of the smart-resized image: `round(x · (W̄ / W))`, clamped to [0, W̄ − 1] |
//! | `qwen2` | `<\|object_ref_start\|>label<\|object_ref_end\|><\|box_start\|>(x1,y1),(x2,y2)<\|box_end\|>` | — (none in Qwen2-VL) | relative 0–1000 as for `qwen3` |
//!
//! **Rounding** is Python's `round` (half to even) applied to exactly the float expression of
//! Qwen's `process_bbox.ipynb` (`x / w * 1000`; `x * (new_w / w)`), so weft and the reference
//! script agree to the last digit, ties included. `W̄ × H̄` is `smart_resize` (factor 28,
//! 3136 ≤ pixels ≤ 1,003,520 by default, the notebook's values; configurable) of the image as
//! stored in the shard; `W` is the width the annotation was made on.
//!
//! Converting out and back (`Space::x_to_pixels`) recovers a coordinate within one unit of the
//! convention: ½ unit of rounding plus, for the `qwen2.5` right/bottom edge, the clamp to
//! `W̄ − 1`.
//!
//! JSON listings follow Qwen's own outputs: a fenced `json` block, one object per line indented
//! with a tab, `", "` and `": "` separators, labels as JSON strings; an empty listing is
//! ```` ```json\n[]\n``` ````.

use std::fmt::Write as _;
use std::str::FromStr;

use serde::Deserialize;
use weft_shards::vision::smart_resize;

use crate::error::GroundingError;
use crate::geometry::BBox;

/// Qwen2.5-VL `smart_resize` parameters for absolute-pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeParams {
    /// Resize granularity (patch 14 × merge 2).
    #[serde(default = "d_factor")]
    pub factor: u32,
    /// Lower pixel bound.
    #[serde(default = "d_min_pixels")]
    pub min_pixels: u64,
    /// Upper pixel bound.
    #[serde(default = "d_max_pixels")]
    pub max_pixels: u64,
}

fn d_factor() -> u32 {
    28
}
fn d_min_pixels() -> u64 {
    56 * 56
}
fn d_max_pixels() -> u64 {
    14 * 14 * 4 * 1280
}

impl Default for ResizeParams {
    /// The defaults of Qwen's `convert_to_qwen25vl_format` (`process_bbox.ipynb`).
    fn default() -> Self {
        ResizeParams {
            factor: d_factor(),
            min_pixels: d_min_pixels(),
            max_pixels: d_max_pixels(),
        }
    }
}

/// A model generation's grounding output convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    /// Qwen3-VL: JSON, relative 0–1000.
    Qwen3,
    /// Qwen2.5-VL: JSON, absolute pixels of the smart-resized image.
    Qwen25(ResizeParams),
    /// Qwen2-VL: box tokens, relative 0–1000; no points.
    Qwen2,
}

impl FromStr for Convention {
    type Err = GroundingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "qwen3" | "qwen3-vl" => Ok(Convention::Qwen3),
            "qwen2.5" | "qwen2.5-vl" | "qwen25" => Ok(Convention::Qwen25(ResizeParams::default())),
            "qwen2" | "qwen2-vl" => Ok(Convention::Qwen2),
            other => Err(GroundingError::Config(format!(
                "unknown convention `{other}`: expected `qwen3`, `qwen2.5` or `qwen2`"
            ))),
        }
    }
}

/// A coordinate in a listing: a box or a point, in convention units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geom {
    /// `[x1, y1, x2, y2]`.
    Box([i64; 4]),
    /// `[x, y]`.
    Point([i64; 2]),
}

/// One entry of a listing answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The label shown with the coordinates.
    pub label: String,
    /// Box or point.
    pub geom: Geom,
}

impl Convention {
    /// Short name written to `meta.convention`.
    pub fn name(&self) -> &'static str {
        match self {
            Convention::Qwen3 => "qwen3",
            Convention::Qwen25(_) => "qwen2.5",
            Convention::Qwen2 => "qwen2",
        }
    }

    /// What the numbers mean, written to `meta.coordinates`.
    pub fn coordinates(&self) -> &'static str {
        match self {
            Convention::Qwen3 | Convention::Qwen2 => "relative_0_1000",
            Convention::Qwen25(_) => "absolute_smart_resized",
        }
    }

    /// Whether answers are JSON (templates see this as `json`).
    pub fn is_json(&self) -> bool {
        !matches!(self, Convention::Qwen2)
    }

    /// Whether the convention has a point syntax.
    pub fn has_points(&self) -> bool {
        self.is_json()
    }

    /// The coordinate space of an image annotated at `original` size and stored at `stored`
    /// size (equal unless the reader had to downscale it).
    pub fn space(&self, original: (u32, u32), stored: (u32, u32)) -> Result<Space, GroundingError> {
        let (w, h) = (f64::from(original.0), f64::from(original.1));
        if original.0 == 0 || original.1 == 0 {
            return Err(GroundingError::Geometry(format!(
                "image size {}×{} has a zero side",
                original.0, original.1
            )));
        }
        Ok(match self {
            Convention::Qwen3 | Convention::Qwen2 => Space {
                relative: true,
                width: w,
                height: h,
                scale_x: 1.0,
                scale_y: 1.0,
                max_x: 1000,
                max_y: 1000,
            },
            Convention::Qwen25(p) => {
                let (nh, nw) =
                    smart_resize(stored.1, stored.0, p.factor, p.min_pixels, p.max_pixels)
                        .map_err(|e| GroundingError::Geometry(e.to_string()))?;
                Space {
                    relative: false,
                    width: w,
                    height: h,
                    scale_x: f64::from(nw) / w,
                    scale_y: f64::from(nh) / h,
                    max_x: i64::from(nw) - 1,
                    max_y: i64::from(nh) - 1,
                }
            }
        })
    }

    /// Formats a listing answer (see the module docs). `qwen2` has no empty-list form and no
    /// points: an empty listing is `None` there (the caller words it), a point is an error.
    pub fn format_listing(&self, items: &[Item]) -> Result<Option<String>, GroundingError> {
        if self.is_json() {
            return Ok(Some(format_json(items)));
        }
        if items.is_empty() {
            return Ok(None);
        }
        let mut out = String::new();
        let mut last: Option<&str> = None;
        for it in items {
            let Geom::Box([x1, y1, x2, y2]) = it.geom else {
                return Err(GroundingError::Config(
                    "the qwen2 convention has no point syntax".into(),
                ));
            };
            if last != Some(it.label.as_str()) {
                let _ = write!(out, "<|object_ref_start|>{}<|object_ref_end|>", it.label);
                last = Some(&it.label);
            }
            let _ = write!(out, "<|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>");
        }
        Ok(Some(out))
    }

    /// Parses a listing back (the inverse of [`Convention::format_listing`]): the check behind
    /// "every JSON answer parses", usable on any shard text. Text around the listing is ignored.
    pub fn parse_listing(&self, text: &str) -> Result<Vec<Item>, String> {
        if self.is_json() {
            parse_json(text)
        } else {
            parse_tokens(text)
        }
    }
}

fn format_json(items: &[Item]) -> String {
    if items.is_empty() {
        return "```json\n[]\n```".into();
    }
    let mut out = String::from("```json\n[\n");
    for (i, it) in items.iter().enumerate() {
        let label = serde_json::to_string(&it.label).expect("a string serialises");
        match it.geom {
            Geom::Box([a, b, c, d]) => {
                let _ = write!(
                    out,
                    "\t{{\"bbox_2d\": [{a}, {b}, {c}, {d}], \"label\": {label}}}"
                );
            }
            Geom::Point([a, b]) => {
                let _ = write!(out, "\t{{\"point_2d\": [{a}, {b}], \"label\": {label}}}");
            }
        }
        out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n```");
    out
}

fn parse_json(text: &str) -> Result<Vec<Item>, String> {
    let start = text.find("```json").ok_or("no ```json fence")? + "```json".len();
    let len = text[start..].find("```").ok_or("unclosed ```json fence")?;
    let value: serde_json::Value =
        serde_json::from_str(&text[start..start + len]).map_err(|e| e.to_string())?;
    let list = value.as_array().ok_or("the JSON is not a list")?;
    let ints = |v: &serde_json::Value, n: usize, key: &str| -> Result<Vec<i64>, String> {
        let a = v
            .as_array()
            .filter(|a| a.len() == n)
            .ok_or_else(|| format!("`{key}` is not a list of {n} numbers"))?;
        a.iter()
            .map(|x| x.as_i64().ok_or_else(|| format!("`{key}` holds {x}")))
            .collect()
    };
    list.iter()
        .map(|o| {
            let label = o
                .get("label")
                .and_then(|l| l.as_str())
                .ok_or("an entry without a string `label`")?
                .to_string();
            let geom = match (o.get("bbox_2d"), o.get("point_2d")) {
                (Some(b), None) => {
                    let v = ints(b, 4, "bbox_2d")?;
                    Geom::Box([v[0], v[1], v[2], v[3]])
                }
                (None, Some(p)) => {
                    let v = ints(p, 2, "point_2d")?;
                    Geom::Point([v[0], v[1]])
                }
                _ => return Err("an entry needs exactly one of bbox_2d, point_2d".into()),
            };
            Ok(Item { label, geom })
        })
        .collect()
}

fn parse_tokens(text: &str) -> Result<Vec<Item>, String> {
    const REF_OPEN: &str = "<|object_ref_start|>";
    const REF_CLOSE: &str = "<|object_ref_end|>";
    const BOX_OPEN: &str = "<|box_start|>";
    const BOX_CLOSE: &str = "<|box_end|>";
    let mut items = Vec::new();
    let mut label: Option<String> = None;
    let mut rest = text;
    loop {
        let next_ref = rest.find(REF_OPEN);
        let next_box = rest.find(BOX_OPEN);
        match (next_ref, next_box) {
            (Some(r), b) if b.is_none_or(|b| r < b) => {
                let after = &rest[r + REF_OPEN.len()..];
                let end = after.find(REF_CLOSE).ok_or("unclosed object_ref")?;
                label = Some(after[..end].to_string());
                rest = &after[end + REF_CLOSE.len()..];
            }
            (_, Some(b)) => {
                let after = &rest[b + BOX_OPEN.len()..];
                let end = after.find(BOX_CLOSE).ok_or("unclosed box")?;
                let nums: Vec<i64> = after[..end]
                    .split(|c: char| !(c.is_ascii_digit() || c == '-'))
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse::<i64>().map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?;
                if nums.len() != 4 {
                    return Err(format!(
                        "box `{}` has {} numbers",
                        &after[..end],
                        nums.len()
                    ));
                }
                items.push(Item {
                    label: label.clone().ok_or("a box before any object_ref")?,
                    geom: Geom::Box([nums[0], nums[1], nums[2], nums[3]]),
                });
                rest = &after[end + BOX_CLOSE.len()..];
            }
            _ => break,
        }
    }
    Ok(items)
}

/// The mapping of one image's original pixels into a convention's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Space {
    relative: bool,
    width: f64,
    height: f64,
    scale_x: f64,
    scale_y: f64,
    max_x: i64,
    max_y: i64,
}

/// Python's `round`: nearest integer, ties to even.
fn round_py(v: f64) -> i64 {
    v.round_ties_even() as i64
}

impl Space {
    /// An x coordinate in convention units.
    pub fn x(&self, px: f64) -> i64 {
        let v = if self.relative {
            round_py(px / self.width * 1000.0)
        } else {
            round_py(px * self.scale_x)
        };
        v.clamp(0, self.max_x)
    }

    /// A y coordinate in convention units.
    pub fn y(&self, px: f64) -> i64 {
        let v = if self.relative {
            round_py(px / self.height * 1000.0)
        } else {
            round_py(px * self.scale_y)
        };
        v.clamp(0, self.max_y)
    }

    /// A box in convention units.
    pub fn bbox(&self, b: &BBox) -> [i64; 4] {
        [self.x(b.x1), self.y(b.y1), self.x(b.x2), self.y(b.y2)]
    }

    /// A point in convention units.
    pub fn point(&self, p: [f64; 2]) -> [i64; 2] {
        [self.x(p[0]), self.y(p[1])]
    }

    /// An x value back in original pixels (the inverse used by consumers: `v / 1000 · W` or
    /// `v / scale`).
    pub fn x_to_pixels(&self, v: i64) -> f64 {
        if self.relative {
            v as f64 / 1000.0 * self.width
        } else {
            v as f64 / self.scale_x
        }
    }

    /// A y value back in original pixels.
    pub fn y_to_pixels(&self, v: i64) -> f64 {
        if self.relative {
            v as f64 / 1000.0 * self.height
        } else {
            v as f64 / self.scale_y
        }
    }

    /// One unit of the convention, in original pixels, along x and y.
    pub fn unit(&self) -> (f64, f64) {
        if self.relative {
            (self.width / 1000.0, self.height / 1000.0)
        } else {
            (1.0 / self.scale_x, 1.0 / self.scale_y)
        }
    }

    /// The largest value along x and y (1000, or the resized side minus one).
    pub fn max(&self) -> (i64, i64) {
        (self.max_x, self.max_y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;
    use weft_engine::rng::seeded;

    #[test]
    fn qwen3_numbers_match_the_reference_formula_including_ties() {
        let s = Convention::Qwen3.space((2000, 1000), (2000, 1000)).unwrap();
        // 1 / 2000 * 1000 = 0.5 exactly: Python's round gives 0, 3 / 2000 * 1000 = 1.5 → 2.
        assert_eq!(s.x(1.0), 0);
        assert_eq!(s.x(3.0), 2);
        assert_eq!(s.x(5.0), 2);
        assert_eq!(s.x(2000.0), 1000);
        assert_eq!(s.x(-3.0), 0);
        assert_eq!(s.x(2500.0), 1000);
        // The labelme photo 2011_000003 (500×338): person at COCO [191, 107, 123, 221].
        let s = Convention::Qwen3.space((500, 338), (500, 338)).unwrap();
        let b = BBox::from_xywh([191.0, 107.0, 123.0, 221.0]);
        // 191/500*1000 = 382, 107/338*1000 = 316.57, 314/500*1000 = 628, 328/338*1000 = 970.41
        assert_eq!(s.bbox(&b), [382, 317, 628, 970]);
    }

    #[test]
    fn qwen25_numbers_use_the_smart_resized_size_and_clamp_to_the_last_pixel() {
        let c = Convention::Qwen25(ResizeParams::default());
        // 500×338 → smart_resize(338, 500, 28, 3136, 1003520) = (336, 504).
        let s = c.space((500, 338), (500, 338)).unwrap();
        assert_eq!(s.max(), (503, 335));
        let b = BBox::from_xywh([191.0, 107.0, 123.0, 221.0]);
        // 191 * (504/500) = 192.528 → 193; 107 * (336/338) = 106.37 → 106;
        // 314 * 1.008 = 316.512 → 317; 328 * 0.99408 = 326.06 → 326.
        assert_eq!(s.bbox(&b), [193, 106, 317, 326]);
        assert_eq!(s.x(500.0), 503, "right edge clamps to W̄ − 1");
        // A large image is bounded by max_pixels.
        let s = c.space((4000, 3000), (4000, 3000)).unwrap();
        let (mx, my) = s.max();
        assert!(((mx + 1) * (my + 1)) as u64 <= ResizeParams::default().max_pixels);
        assert_eq!((mx + 1) % 28, 0);
    }

    #[test]
    fn qwen25_resize_is_computed_from_the_stored_image() {
        // Annotated on 4000×3000, stored downscaled to 2000×1500: the same resized grid as
        // the original would give, reached from the stored size.
        let c = Convention::Qwen25(ResizeParams::default());
        let a = c.space((4000, 3000), (2000, 1500)).unwrap();
        let b = c.space((2000, 1500), (2000, 1500)).unwrap();
        assert_eq!(a.max(), b.max());
        assert_eq!(a.x(4000.0 / 3.0), b.x(2000.0 / 3.0));
    }

    /// Property: out and back recovers every coordinate within one unit, for random images
    /// and boxes, in every convention.
    #[test]
    fn round_trip_is_within_one_unit() {
        let mut rng = seeded(7, "round-trip", "");
        for conv in [
            Convention::Qwen3,
            Convention::Qwen2,
            Convention::Qwen25(ResizeParams::default()),
        ] {
            for _ in 0..3000 {
                let w: u32 = rng.random_range(16..5000);
                let h: u32 = rng.random_range(16..5000);
                if w.max(h) / w.min(h) > 150 {
                    continue;
                }
                let s = conv.space((w, h), (w, h)).unwrap();
                let (ux, uy) = s.unit();
                let x1 = rng.random_range(0.0..f64::from(w));
                let x2 = rng.random_range(x1..=f64::from(w));
                let y1 = rng.random_range(0.0..f64::from(h));
                let y2 = rng.random_range(y1..=f64::from(h));
                let b = BBox::new(x1, y1, x2, y2);
                let [a, bb, c, d] = s.bbox(&b);
                for (v, px, unit, is_x) in [
                    (a, x1, ux, true),
                    (bb, y1, uy, false),
                    (c, x2, ux, true),
                    (d, y2, uy, false),
                ] {
                    let back = if is_x {
                        s.x_to_pixels(v)
                    } else {
                        s.y_to_pixels(v)
                    };
                    assert!(
                        (back - px).abs() <= unit + 1e-9,
                        "{}: {w}×{h}, {px} → {v} → {back} (unit {unit})",
                        conv.name()
                    );
                }
                assert!(a <= c && bb <= d, "corner order kept: {:?}", [a, bb, c, d]);
            }
        }
    }

    #[test]
    fn json_listings_are_formatted_like_qwen_and_parse_back() {
        let items = vec![
            Item {
                label: "coin".into(),
                geom: Geom::Box([55, 106, 174, 244]),
            },
            Item {
                label: "say \"hi\"".into(),
                geom: Geom::Point([5, 1000]),
            },
        ];
        let text = Convention::Qwen3.format_listing(&items).unwrap().unwrap();
        assert_eq!(
            text,
            "```json\n[\n\t{\"bbox_2d\": [55, 106, 174, 244], \"label\": \"coin\"},\n\t{\"point_2d\": [5, 1000], \"label\": \"say \\\"hi\\\"\"}\n]\n```"
        );
        assert_eq!(Convention::Qwen3.parse_listing(&text).unwrap(), items);
        let empty = Convention::Qwen3.format_listing(&[]).unwrap().unwrap();
        assert_eq!(empty, "```json\n[]\n```");
        assert!(Convention::Qwen3.parse_listing(&empty).unwrap().is_empty());
        assert!(Convention::Qwen3.parse_listing("no listing here").is_err());
    }

    #[test]
    fn qwen2_listings_use_box_tokens_and_parse_back() {
        let items = vec![
            Item {
                label: "bus".into(),
                geom: Geom::Box([162, 53, 868, 1000]),
            },
            Item {
                label: "bus".into(),
                geom: Geom::Box([0, 256, 218, 757]),
            },
            Item {
                label: "car".into(),
                geom: Geom::Box([816, 448, 996, 691]),
            },
        ];
        let text = Convention::Qwen2.format_listing(&items).unwrap().unwrap();
        assert_eq!(
            text,
            "<|object_ref_start|>bus<|object_ref_end|><|box_start|>(162,53),(868,1000)<|box_end|><|box_start|>(0,256),(218,757)<|box_end|><|object_ref_start|>car<|object_ref_end|><|box_start|>(816,448),(996,691)<|box_end|>"
        );
        assert_eq!(Convention::Qwen2.parse_listing(&text).unwrap(), items);
        assert_eq!(Convention::Qwen2.format_listing(&[]).unwrap(), None);
        let point = [Item {
            label: "x".into(),
            geom: Geom::Point([1, 2]),
        }];
        assert!(Convention::Qwen2.format_listing(&point).is_err());
    }

    #[test]
    fn convention_names_parse() {
        assert_eq!("qwen3".parse::<Convention>().unwrap(), Convention::Qwen3);
        assert_eq!("Qwen2-VL".parse::<Convention>().unwrap(), Convention::Qwen2);
        assert!(matches!(
            "qwen2.5".parse::<Convention>().unwrap(),
            Convention::Qwen25(_)
        ));
        assert!("qwen4".parse::<Convention>().is_err());
    }
}
