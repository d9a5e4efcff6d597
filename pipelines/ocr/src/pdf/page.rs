//! Page geometry: inherited attributes, crop box, rotation, and the transform from PDF user
//! space to the displayed page frame of `types.rs` (top-left origin, y down).
//!
//! /MediaBox, /CropBox, /Rotate and /Resources may sit on any ancestor in the page tree; lopdf
//! resolves only /Resources this way, so we walk the /Parent chain ourselves (bounded, with a
//! cycle guard).

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::matrix::Matrix;
use super::objects::{as_dict, num_array, resolve};
use super::types::PageGeometry;

/// Looks `key` up on the page or its nearest ancestor that has it.
pub(crate) fn inherited<'a>(
    doc: &'a Document,
    page: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Object> {
    let mut node = page;
    let mut seen: Vec<ObjectId> = Vec::new();
    for _ in 0..64 {
        if let Ok(v) = node.get(key)
            && let Some(v) = resolve(doc, v)
        {
            return Some(v);
        }
        let parent = node.get(b"Parent").ok()?;
        if let Object::Reference(id) = parent {
            if seen.contains(id) {
                return None;
            }
            seen.push(*id);
        }
        node = as_dict(resolve(doc, parent)?)?;
    }
    None
}

fn normalise(b: [f32; 4]) -> [f32; 4] {
    [
        b[0].min(b[2]),
        b[1].min(b[3]),
        b[0].max(b[2]),
        b[1].max(b[3]),
    ]
}

/// The geometry of `page` (index `index`).
pub(crate) fn geometry(doc: &Document, page: &Dictionary, index: usize) -> PageGeometry {
    const LETTER: [f32; 4] = [0.0, 0.0, 612.0, 792.0];
    let media = inherited(doc, page, b"MediaBox")
        .and_then(|o| num_array::<4>(doc, o))
        .map(normalise)
        .filter(|b| b[2] - b[0] >= 1.0 && b[3] - b[1] >= 1.0)
        .unwrap_or(LETTER);
    let crop = inherited(doc, page, b"CropBox")
        .and_then(|o| num_array::<4>(doc, o))
        .map(normalise)
        .map(|c| {
            [
                c[0].max(media[0]),
                c[1].max(media[1]),
                c[2].min(media[2]),
                c[3].min(media[3]),
            ]
        })
        .filter(|c| c[2] - c[0] >= 1.0 && c[3] - c[1] >= 1.0)
        .unwrap_or(media);
    let rotate = inherited(doc, page, b"Rotate")
        .and_then(|o| super::objects::num(doc, o))
        .unwrap_or(0.0) as i64;
    let rotation = (((rotate % 360) + 360) % 360 / 90 * 90) as i32;
    let (w, h) = (crop[2] - crop[0], crop[3] - crop[1]);
    let (width, height) = if rotation % 180 == 0 { (w, h) } else { (h, w) };
    PageGeometry {
        index,
        width,
        height,
        rotation,
        media_box: media,
        crop_box: crop,
    }
}

/// The matrix from PDF user space to the displayed page frame.
pub(crate) fn display_matrix(g: &PageGeometry) -> Matrix {
    let [x0, y0, x1, y1] = g.crop_box;
    match g.rotation {
        90 => Matrix([0.0, 1.0, 1.0, 0.0, -y0, -x0]),
        180 => Matrix([-1.0, 0.0, 0.0, 1.0, x1, -y0]),
        270 => Matrix([0.0, -1.0, -1.0, 0.0, y1, x1]),
        _ => Matrix([1.0, 0.0, 0.0, -1.0, -x0, y1]),
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;

    fn geom(rotation: i32) -> PageGeometry {
        let crop = [10.0, 20.0, 110.0, 220.0];
        PageGeometry {
            index: 0,
            width: 0.0,
            height: 0.0,
            rotation,
            media_box: crop,
            crop_box: crop,
        }
    }

    #[test]
    fn display_matrix_maps_the_crop_box_corners() {
        // The user-space top-left corner of an unrotated page shows at the origin; rotated by
        // 90° clockwise, the bottom-left corner does.
        let cases = [
            (0, (10.0, 220.0)),
            (90, (10.0, 20.0)),
            (180, (110.0, 20.0)),
            (270, (110.0, 220.0)),
        ];
        for (rot, (x, y)) in cases {
            let m = display_matrix(&geom(rot));
            let (dx, dy) = m.apply(x, y);
            assert!(
                dx.abs() < 1e-4 && dy.abs() < 1e-4,
                "rotation {rot}: ({dx}, {dy})"
            );
            let (fx, fy) = m.apply(60.0, 120.0);
            let (w, h) = if rot % 180 == 0 {
                (100.0, 200.0)
            } else {
                (200.0, 100.0)
            };
            assert!(
                (fx - w / 2.0).abs() < 1e-4 && (fy - h / 2.0).abs() < 1e-4,
                "rotation {rot}: centre"
            );
        }
    }
}
