//! Boxes and points in original-image pixels, and the rules every reader applies to them.
//!
//! Pixel coordinates are continuous: `x` runs from 0 at the left edge of the first column to
//! `W` at the right edge of the last, so a box covering the whole image is `[0, 0, W, H]` and
//! a box is `[x1, y1, x2, y2]` with `x1 ≤ x2`, `y1 ≤ y2` (COCO's `[x, y, w, h]` converts
//! exactly). Validation happens once, in the readers, through [`check_box`]:
//!
//! | box | outcome |
//! |---|---|
//! | a NaN or infinite number | quarantined, `non_finite_coordinate` |
//! | negative width or height | quarantined, `negative_size` |
//! | no overlap with the image | quarantined, `box_outside_image` |
//! | partly outside | clipped to the image, kept, marked `clipped` |
//! | under 1 px wide or tall after clipping | dropped, `degenerate_box` |

use serde::{Deserialize, Serialize};

/// An axis-aligned box `[x1, y1, x2, y2]` in original-image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x1: f64,
    /// Top edge.
    pub y1: f64,
    /// Right edge.
    pub x2: f64,
    /// Bottom edge.
    pub y2: f64,
}

/// What [`check_box`] decided about one annotation box.
#[derive(Debug, Clone, PartialEq)]
pub enum BoxVerdict {
    /// Usable; `clipped` when it had to be cut to the image.
    Keep {
        /// The box inside the image.
        bbox: BBox,
        /// Whether clipping changed it.
        clipped: bool,
    },
    /// Dropped on purpose with this reason (`degenerate_box`).
    Drop(&'static str, String),
    /// Bad data: quarantined with this reason.
    Quarantine(&'static str, String),
}

impl BBox {
    /// From corners.
    pub fn new(x1: f64, y1: f64, x2: f64, y2: f64) -> Self {
        BBox { x1, y1, x2, y2 }
    }

    /// From COCO's `[x, y, width, height]`.
    pub fn from_xywh(v: [f64; 4]) -> Self {
        BBox::new(v[0], v[1], v[0] + v[2], v[1] + v[3])
    }

    /// Width in pixels.
    pub fn width(&self) -> f64 {
        self.x2 - self.x1
    }

    /// Height in pixels.
    pub fn height(&self) -> f64 {
        self.y2 - self.y1
    }

    /// Area in square pixels.
    pub fn area(&self) -> f64 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    /// Centre point.
    pub fn center(&self) -> [f64; 2] {
        [(self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0]
    }

    /// The box cut to `[0, W] × [0, H]`.
    pub fn clip(&self, width: f64, height: f64) -> BBox {
        BBox::new(
            self.x1.clamp(0.0, width),
            self.y1.clamp(0.0, height),
            self.x2.clamp(0.0, width),
            self.y2.clamp(0.0, height),
        )
    }

    /// The four numbers as an array.
    pub fn to_array(&self) -> [f64; 4] {
        [self.x1, self.y1, self.x2, self.y2]
    }
}

/// Validates a COCO `[x, y, w, h]` box against a `width × height` image (see the module table).
pub fn check_box(xywh: [f64; 4], width: u32, height: u32) -> BoxVerdict {
    if xywh.iter().any(|v| !v.is_finite()) {
        return BoxVerdict::Quarantine(
            "non_finite_coordinate",
            format!("bbox {xywh:?} has a NaN or infinite value"),
        );
    }
    if xywh[2] < 0.0 || xywh[3] < 0.0 {
        return BoxVerdict::Quarantine(
            "negative_size",
            format!("bbox {xywh:?} has a negative width or height"),
        );
    }
    check_corners(BBox::from_xywh(xywh), width, height)
}

/// Validates a box given by its corners (see the module table); corners in the wrong order
/// are a `negative_size`.
pub fn check_corners(b: BBox, width: u32, height: u32) -> BoxVerdict {
    let (w, h) = (f64::from(width), f64::from(height));
    let arr = b.to_array();
    if arr.iter().any(|v| !v.is_finite()) {
        return BoxVerdict::Quarantine(
            "non_finite_coordinate",
            format!("box {arr:?} has a NaN or infinite value"),
        );
    }
    if b.x2 < b.x1 || b.y2 < b.y1 {
        return BoxVerdict::Quarantine(
            "negative_size",
            format!("box {arr:?} has x2 < x1 or y2 < y1"),
        );
    }
    if b.x2 <= 0.0 || b.y2 <= 0.0 || b.x1 >= w || b.y1 >= h {
        return BoxVerdict::Quarantine(
            "box_outside_image",
            format!("box {arr:?} lies outside the {width}×{height} image"),
        );
    }
    let clipped_box = b.clip(w, h);
    let clipped = clipped_box != b;
    if clipped_box.width() < 1.0 || clipped_box.height() < 1.0 {
        return BoxVerdict::Drop(
            "degenerate_box",
            format!(
                "box {:?} is under 1 px wide or tall{}",
                clipped_box.to_array(),
                if clipped { " after clipping" } else { "" }
            ),
        );
    }
    BoxVerdict::Keep {
        bbox: clipped_box,
        clipped,
    }
}

/// Checks a point lies on a `width × height` image (edges included); the quarantine reason and
/// message when it does not.
pub fn check_point(p: [f64; 2], width: u32, height: u32) -> Result<(), (&'static str, String)> {
    if !p[0].is_finite() || !p[1].is_finite() {
        return Err((
            "non_finite_coordinate",
            format!("point {p:?} has a NaN or infinite value"),
        ));
    }
    if p[0] < 0.0 || p[1] < 0.0 || p[0] > f64::from(width) || p[1] > f64::from(height) {
        return Err((
            "point_outside_image",
            format!("point {p:?} lies outside the {width}×{height} image"),
        ));
    }
    Ok(())
}

/// Even-odd test of `p` against polygons given as flat `[x0, y0, x1, y1, …]` lists.
pub fn inside(polygons: &[Vec<f64>], p: [f64; 2]) -> bool {
    let mut odd = false;
    for poly in polygons {
        let n = poly.len() / 2;
        for i in 0..n {
            let (xi, yi) = (poly[2 * i], poly[2 * i + 1]);
            let j = (i + n - 1) % n;
            let (xj, yj) = (poly[2 * j], poly[2 * j + 1]);
            if (yi > p[1]) != (yj > p[1]) && p[0] < (xj - xi) * (p[1] - yi) / (yj - yi) + xi {
                odd = !odd;
            }
        }
    }
    odd
}

/// Signed area and centroid of one flat polygon.
fn area_centroid(poly: &[f64]) -> (f64, [f64; 2]) {
    let n = poly.len() / 2;
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x0, y0) = (poly[2 * i], poly[2 * i + 1]);
        let (x1, y1) = (poly[2 * ((i + 1) % n)], poly[2 * ((i + 1) % n) + 1]);
        let cross = x0 * y1 - x1 * y0;
        a += cross;
        cx += (x0 + x1) * cross;
        cy += (y0 + y1) * cross;
    }
    a /= 2.0;
    if a.abs() < 1e-9 {
        return (0.0, [f64::NAN, f64::NAN]);
    }
    (a, [cx / (6.0 * a), cy / (6.0 * a)])
}

/// A point guaranteed to lie inside an object's polygons, for point grounding from
/// segmentation masks: the centroid of the largest polygon when it is inside (convex and
/// most compact shapes), else the middle of the widest inside span of the horizontal line
/// through that centroid (rings, crescents, occluded objects), else of the line through the
/// polygon's vertical middle. `None` for fewer than three points or zero area.
pub fn interior_point(polygons: &[Vec<f64>]) -> Option<[f64; 2]> {
    let valid: Vec<Vec<f64>> = polygons
        .iter()
        .filter(|p| p.len() >= 6 && p.len() % 2 == 0 && p.iter().all(|v| v.is_finite()))
        .cloned()
        .collect();
    let (largest, (_, centroid)) = valid
        .iter()
        .map(|p| (p, area_centroid(p)))
        .filter(|(_, (a, _))| a.abs() > 1e-9)
        .max_by(|a, b| a.1.0.abs().total_cmp(&b.1.0.abs()))?;
    if inside(&valid, centroid) {
        return Some(centroid);
    }
    let ys = largest.iter().skip(1).step_by(2);
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(*y), hi.max(*y))
    });
    for y in [centroid[1], (lo + hi) / 2.0] {
        if let Some(p) = widest_span_middle(&valid, y) {
            return Some(p);
        }
    }
    None
}

/// The middle of the widest inside span of the horizontal line `y` (even-odd rule).
fn widest_span_middle(polygons: &[Vec<f64>], y: f64) -> Option<[f64; 2]> {
    let mut xs = Vec::new();
    for poly in polygons {
        let n = poly.len() / 2;
        for i in 0..n {
            let (x0, y0) = (poly[2 * i], poly[2 * i + 1]);
            let (x1, y1) = (poly[2 * ((i + 1) % n)], poly[2 * ((i + 1) % n) + 1]);
            if (y0 > y) != (y1 > y) {
                xs.push(x0 + (y - y0) * (x1 - x0) / (y1 - y0));
            }
        }
    }
    xs.sort_by(f64::total_cmp);
    xs.chunks_exact(2)
        .filter(|s| s[1] > s[0])
        .max_by(|a, b| (a[1] - a[0]).total_cmp(&(b[1] - b[0])))
        .map(|s| [(s[0] + s[1]) / 2.0, y])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(v: BoxVerdict) -> (BBox, bool) {
        match v {
            BoxVerdict::Keep { bbox, clipped } => (bbox, clipped),
            other => panic!("expected keep, got {other:?}"),
        }
    }

    #[test]
    fn boxes_inside_are_kept_unchanged() {
        let (b, clipped) = keep(check_box([10.0, 20.0, 30.5, 40.25], 100, 80));
        assert_eq!(b, BBox::new(10.0, 20.0, 40.5, 60.25));
        assert!(!clipped);
        // Touching the far edges is inside.
        let (b, clipped) = keep(check_box([0.0, 0.0, 100.0, 80.0], 100, 80));
        assert_eq!(b.to_array(), [0.0, 0.0, 100.0, 80.0]);
        assert!(!clipped);
    }

    #[test]
    fn boxes_partly_outside_are_clipped() {
        let (b, clipped) = keep(check_box([-5.0, 70.0, 20.0, 30.0], 100, 80));
        assert_eq!(b.to_array(), [0.0, 70.0, 15.0, 80.0]);
        assert!(clipped);
    }

    #[test]
    fn bad_boxes_are_quarantined_or_dropped_with_their_reason() {
        let reason = |v: BoxVerdict| match v {
            BoxVerdict::Keep { .. } => "keep",
            BoxVerdict::Drop(r, _) | BoxVerdict::Quarantine(r, _) => r,
        };
        assert_eq!(
            reason(check_box([f64::NAN, 0.0, 1.0, 1.0], 10, 10)),
            "non_finite_coordinate"
        );
        assert_eq!(
            reason(check_box([1.0, 1.0, f64::INFINITY, 1.0], 10, 10)),
            "non_finite_coordinate"
        );
        assert_eq!(
            reason(check_box([1.0, 1.0, -3.0, 2.0], 10, 10)),
            "negative_size"
        );
        assert_eq!(
            reason(check_box([12.0, 1.0, 3.0, 2.0], 10, 10)),
            "box_outside_image"
        );
        assert_eq!(
            reason(check_box([-4.0, 1.0, 4.0, 2.0], 10, 10)),
            "box_outside_image"
        );
        assert_eq!(
            reason(check_box([1.0, 1.0, 0.5, 5.0], 10, 10)),
            "degenerate_box"
        );
        // 1.5 px wide but only 0.5 px of it on the image.
        assert!(matches!(
            check_box([9.5, 1.0, 1.5, 5.0], 10, 10),
            BoxVerdict::Drop("degenerate_box", m) if m.contains("after clipping")
        ));
        assert_eq!(
            reason(check_corners(BBox::new(5.0, 1.0, 2.0, 4.0), 10, 10)),
            "negative_size"
        );
    }

    #[test]
    fn points_on_the_edge_are_inside_and_beyond_it_are_not() {
        assert!(check_point([0.0, 10.0], 10, 10).is_ok());
        assert_eq!(
            check_point([10.01, 1.0], 10, 10).unwrap_err().0,
            "point_outside_image"
        );
        assert_eq!(
            check_point([f64::NAN, 1.0], 10, 10).unwrap_err().0,
            "non_finite_coordinate"
        );
    }

    #[test]
    fn interior_point_of_a_convex_polygon_is_its_centroid() {
        let square = vec![vec![0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0]];
        assert_eq!(interior_point(&square), Some([5.0, 5.0]));
    }

    #[test]
    fn interior_point_of_a_ring_lies_on_the_ring() {
        // A "C" shape whose centroid falls in the opening.
        let c = vec![vec![
            0.0, 0.0, 10.0, 0.0, 10.0, 2.0, 2.0, 2.0, 2.0, 8.0, 10.0, 8.0, 10.0, 10.0, 0.0, 10.0,
        ]];
        let p = interior_point(&c).unwrap();
        assert!(inside(&c, p), "{p:?}");
        // An L shape.
        let l = vec![vec![
            0.0, 0.0, 1.0, 0.0, 1.0, 9.0, 9.0, 9.0, 9.0, 10.0, 0.0, 10.0,
        ]];
        let p = interior_point(&l).unwrap();
        assert!(inside(&l, p), "{p:?}");
    }

    #[test]
    fn interior_point_needs_a_real_polygon() {
        assert_eq!(interior_point(&[]), None);
        assert_eq!(interior_point(&[vec![1.0, 2.0, 3.0, 4.0]]), None);
        assert_eq!(
            interior_point(&[vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0]]),
            None,
            "collinear"
        );
    }
}
