//! 2-D affine matrices in PDF's row-vector convention: `[a b c d e f]` maps `(x, y)` to
//! `(a·x + c·y + e, b·x + d·y + f)`, and `A.mul(B)` applies `A` first, then `B`.

/// An affine transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Matrix(pub(crate) [f32; 6]);

impl Matrix {
    /// The identity.
    pub(crate) const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    /// `self` then `o`.
    pub(crate) fn mul(&self, o: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [oa, ob, oc, od, oe, of] = o.0;
        Matrix([
            a * oa + b * oc,
            a * ob + b * od,
            c * oa + d * oc,
            c * ob + d * od,
            e * oa + f * oc + oe,
            e * ob + f * od + of,
        ])
    }

    /// Transforms a point.
    #[inline]
    pub(crate) fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        let [a, b, c, d, e, f] = self.0;
        (a * x + c * y + e, b * x + d * y + f)
    }

    /// Transforms a vector (no translation).
    #[inline]
    pub(crate) fn apply_vec(&self, x: f32, y: f32) -> (f32, f32) {
        let [a, b, c, d, ..] = self.0;
        (a * x + c * y, b * x + d * y)
    }

    /// Whether every entry is finite (junk operands can make them NaN or infinite).
    pub(crate) fn is_finite(&self) -> bool {
        self.0.iter().all(|v| v.is_finite())
    }
}
