//! Rasterising one page with hayro at the size the sample will store.

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_interpret::util::TransformExt;
use hayro::hayro_syntax::{LoadPdfError, Pdf};
use hayro::kurbo::Affine;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::vello_cpu::{Pixmap, RasterizerSettings, RenderContext, Resources, TargetInit};
use hayro::{RenderCache, RenderSettings, render_into};
use image::RgbImage;

use super::{MAX_RENDER_PIXELS, RenderError, RenderOptions, guard};

/// Largest side the rasteriser's `u16` coordinates allow.
const MAX_SIDE: f64 = u16::MAX as f64;

/// A parsed PDF ready to render pages from; parse once, render many pages.
pub struct PdfRenderer {
    pdf: Pdf,
}

impl std::fmt::Debug for PdfRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfRenderer")
            .field("pages", &self.page_count())
            .finish()
    }
}

impl PdfRenderer {
    /// Parses `pdf_bytes` (copied; the renderer keeps its own reference-counted buffer).
    pub fn new(pdf_bytes: &[u8]) -> Result<Self, RenderError> {
        let data = pdf_bytes.to_vec();
        let pdf = guard(|| {
            Pdf::new(data).map_err(|e| match e {
                LoadPdfError::Decryption(d) => RenderError::Encrypted(format!("{d:?}")),
                LoadPdfError::Invalid => RenderError::Load("no readable xref or page tree".into()),
            })
        })?;
        Ok(PdfRenderer { pdf })
    }

    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.pdf.pages().len()
    }

    /// Displayed `(width, height)` of a page in points (crop box, rotation applied), as the
    /// renderer sees it.
    pub fn page_size(&self, page_index: usize) -> Result<(f32, f32), RenderError> {
        let pages = self.pdf.pages();
        let page = pages.get(page_index).ok_or(RenderError::PageOutOfRange {
            index: page_index,
            pages: pages.len(),
        })?;
        Ok(page.render_dimensions())
    }

    /// Renders page `page_index` (0-based) on a white background; see [`render_page`].
    pub fn render(&self, page_index: usize, opts: &RenderOptions) -> Result<RgbImage, RenderError> {
        let (w_pt, h_pt) = self.page_size(page_index)?;
        let (w, h) = output_size(w_pt, h_pt, opts)?;
        guard(|| {
            let page = &self.pdf.pages()[page_index];
            let cache = RenderCache::new();
            let mut ctx = RenderContext::new(w as u16, h as u16);
            // Non-uniform by less than a pixel: makes the page fill exactly `w × h`.
            let transform = Affine::scale_non_uniform(
                f64::from(w) / f64::from(w_pt),
                f64::from(h) / f64::from(h_pt),
            ) * page.initial_transform(true).to_kurbo();
            render_into(
                page,
                &cache,
                &InterpreterSettings::default(),
                &RenderSettings::default(),
                &mut ctx,
                transform,
            );
            ctx.flush();
            let mut pixmap = Pixmap::new(w as u16, h as u16);
            ctx.render_with(
                &mut pixmap,
                &mut Resources::default(),
                RasterizerSettings {
                    target_init: TargetInit::Clear(WHITE),
                    ..Default::default()
                },
            );
            // Opaque background, so premultiplied RGBA is plain RGBA: drop alpha.
            let rgb: Vec<u8> = pixmap
                .data_as_u8_slice()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            RgbImage::from_raw(w, h, rgb)
                .ok_or_else(|| RenderError::Panic("pixmap size does not match the page".into()))
        })
    }
}

/// Renders page `page_index` (0-based) of a PDF to an RGB image on white.
///
/// The size is the page at `opts.dpi`, then scaled (aspect kept, like
/// `weft_shards::vision::smart_resize` but without snapping to multiples of 32) into
/// `[opts.min_pixels, opts.max_pixels]` and under [`MAX_RENDER_PIXELS`]; the page is
/// rasterised directly at that size. Parses the PDF on every call: use [`PdfRenderer`] for
/// several pages of one document.
pub fn render_page(
    pdf_bytes: &[u8],
    page_index: usize,
    opts: &RenderOptions,
) -> Result<RgbImage, RenderError> {
    PdfRenderer::new(pdf_bytes)?.render(page_index, opts)
}

/// Output `(width, height)` in pixels for a `w_pt × h_pt` page.
pub(crate) fn output_size(
    w_pt: f32,
    h_pt: f32,
    opts: &RenderOptions,
) -> Result<(u32, u32), RenderError> {
    if !(opts.dpi.is_finite() && opts.dpi > 0.0) {
        return Err(RenderError::InvalidOptions(format!(
            "dpi must be positive, got {}",
            opts.dpi
        )));
    }
    if opts.max_pixels == 0 {
        return Err(RenderError::InvalidOptions(
            "max_pixels must be positive".into(),
        ));
    }
    if !(w_pt.is_finite() && h_pt.is_finite() && w_pt > 0.0 && h_pt > 0.0) {
        return Err(RenderError::EmptyPage {
            width: w_pt,
            height: h_pt,
        });
    }
    let scale = f64::from(opts.dpi) / 72.0;
    let w0 = (f64::from(w_pt) * scale).round().max(1.0);
    let h0 = (f64::from(h_pt) * scale).round().max(1.0);
    let pixels = w0 * h0;
    let max = opts.max_pixels.min(MAX_RENDER_PIXELS) as f64;
    let min = (opts.min_pixels as f64).min(max);
    let (mut w, mut h) = if pixels > max {
        let beta = (pixels / max).sqrt();
        ((w0 / beta).floor().max(1.0), (h0 / beta).floor().max(1.0))
    } else if pixels < min {
        let beta = (min / pixels).sqrt();
        let (w, h) = ((w0 * beta).ceil(), (h0 * beta).ceil());
        // Rounding up can cross `max` when the bounds are close: round down then.
        if w * h > max {
            ((w0 * beta).floor().max(1.0), (h0 * beta).floor().max(1.0))
        } else {
            (w, h)
        }
    } else {
        (w0, h0)
    };
    if w > MAX_SIDE || h > MAX_SIDE {
        let beta = (w / MAX_SIDE).max(h / MAX_SIDE);
        (w, h) = ((w / beta).floor().max(1.0), (h / beta).floor().max(1.0));
    }
    Ok((w as u32, h as u32))
}
