//! Draws a [`ChartTable`] with plotters into an RGB buffer and encodes it as PNG.
//!
//! Every drawn element that questions can point at (a bar, a line marker, a scatter point, a
//! pie slice) is returned as an [`Element`] whose pixel position comes from the very mapping
//! that drew it — plotters' `backend_coord` for cartesian charts, our own polar mapping for
//! pies — so grounding answers cannot drift from the picture.

use std::io::Cursor;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{ChartKind, ChartTable};
use crate::fonts::{self, FAMILY};

/// Series colours (matplotlib's tab10, first six): distinct, and none is white, black or grey.
pub const PALETTE: [[u8; 3]; 6] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
];

/// Radius of line and scatter markers, pixels.
pub const MARKER_RADIUS: i32 = 5;
const LEGEND_WIDTH: u32 = 170;

/// A drawn element questions can refer to, in image pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// Series index (pie: 0).
    pub series: usize,
    /// Category index (scatter: point index).
    pub index: usize,
    /// A pixel on the element: a bar's top centre (3 px inside), a marker's centre, a point
    /// inside a pie slice (mid-angle, 0.6 radius).
    pub point: [f64; 2],
    /// The element's extent `[x1, y1, x2, y2]`.
    pub bbox: [f64; 4],
    /// Its fill colour.
    pub colour: [u8; 3],
}

/// A rendered chart.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// PNG bytes.
    pub png: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Every element, series by series.
    pub elements: Vec<Element>,
}

fn colour(i: usize) -> RGBColor {
    let [r, g, b] = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(&BLACK)
}

fn pe<E: std::fmt::Display>(e: E) -> String {
    format!("drawing: {e}")
}

/// A round upper bound for the value axis.
fn nice_top(max: f64) -> f64 {
    let m = max * 1.15;
    let step = 10f64.powf(m.log10().floor()) / 2.0;
    (m / step).ceil() * step
}

/// Renders `table` at `width × height` (each at most 1000, so one relative 0–1000 unit is at
/// most one pixel).
pub fn render(table: &ChartTable, width: u32, height: u32) -> Result<Rendered, String> {
    fonts::ensure()?;
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    let elements = {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let els = match table.kind {
            ChartKind::Bar | ChartKind::GroupedBar => bars(&root, table, width)?,
            ChartKind::Line => lines(&root, table, width)?,
            ChartKind::Scatter => scatter(&root, table, width)?,
            ChartKind::Pie => pie(&root, table, width, height)?,
        };
        let names: Vec<&str> = if table.kind == ChartKind::Pie {
            table.categories.iter().map(String::as_str).collect()
        } else {
            table.series.iter().map(|s| s.name.as_str()).collect()
        };
        legend(&root, &names, width)?;
        root.present().map_err(pe)?;
        els
    };
    let img = image::RgbImage::from_raw(width, height, buf).ok_or("buffer size")?;
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| format!("png: {e}"))?;
    Ok(Rendered {
        png,
        width,
        height,
        elements,
    })
}

/// A tick label: whole numbers without decimals, others with up to two.
fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}").trim_end_matches('0').to_string()
    }
}

type Root<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

fn legend(root: &Root, names: &[&str], width: u32) -> Result<(), String> {
    let x = (width - LEGEND_WIDTH + 12) as i32;
    for (i, name) in names.iter().enumerate() {
        let y = 60 + 26 * i as i32;
        root.draw(&Rectangle::new(
            [(x, y), (x + 14, y + 14)],
            colour(i).filled(),
        ))
        .map_err(pe)?;
        root.draw(&Text::new(
            name.to_string(),
            (x + 22, y + 7),
            font(15).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(pe)?;
    }
    Ok(())
}

fn category_labels<F: Fn(usize) -> (i32, i32)>(
    root: &Root,
    table: &ChartTable,
    at: F,
) -> Result<(), String> {
    for (i, c) in table.categories.iter().enumerate() {
        let (x, y) = at(i);
        root.draw(&Text::new(
            c.clone(),
            (x, y + 8),
            font(14).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(pe)?;
    }
    Ok(())
}

fn bars(root: &Root, table: &ChartTable, width: u32) -> Result<Vec<Element>, String> {
    let (plot, _) = root.split_horizontally(width - LEGEND_WIDTH);
    let n = table.categories.len();
    let max = table
        .series
        .iter()
        .flat_map(|s| &s.values)
        .copied()
        .max()
        .unwrap_or(1);
    let top = nice_top(table.plotted(max));
    let mut chart = ChartBuilder::on(&plot)
        .caption(&table.title, font(22))
        .margin(14)
        .x_label_area_size(56)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)
        .map_err(pe)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|v| tick(*v))
        .label_style(font(13))
        .axis_desc_style(font(15))
        .x_desc(table.x_label.clone())
        .y_desc(table.y_label.clone())
        .draw()
        .map_err(pe)?;
    let k = table.series.len();
    let w = 0.7 / k as f64;
    let mut els = Vec::new();
    for (j, s) in table.series.iter().enumerate() {
        for (i, &v) in s.values.iter().enumerate() {
            let v = table.plotted(v);
            let x0 = i as f64 + 0.15 + j as f64 * w;
            let x1 = x0 + w;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x1, v)],
                    colour(j).filled(),
                )))
                .map_err(pe)?;
            let (px0, py0) = chart.backend_coord(&(x0, v));
            let (px1, py1) = chart.backend_coord(&(x1, 0.0));
            let inset = 3.min((py1 - py0) / 2);
            els.push(Element {
                series: j,
                index: i,
                point: [f64::from(px0 + px1) / 2.0, f64::from(py0 + inset)],
                bbox: [px0.into(), py0.into(), px1.into(), py1.into()],
                colour: PALETTE[j % PALETTE.len()],
            });
        }
    }
    category_labels(root, table, |i| chart.backend_coord(&(i as f64 + 0.5, 0.0)))?;
    Ok(els)
}

fn marker(p: (i32, i32), series: usize, index: usize) -> Element {
    let r = f64::from(MARKER_RADIUS);
    let (x, y) = (f64::from(p.0), f64::from(p.1));
    Element {
        series,
        index,
        point: [x, y],
        bbox: [x - r, y - r, x + r, y + r],
        colour: PALETTE[series % PALETTE.len()],
    }
}

fn lines(root: &Root, table: &ChartTable, width: u32) -> Result<Vec<Element>, String> {
    let (plot, _) = root.split_horizontally(width - LEGEND_WIDTH);
    let n = table.categories.len();
    let max = table
        .series
        .iter()
        .flat_map(|s| &s.values)
        .copied()
        .max()
        .unwrap_or(1);
    let min = table
        .series
        .iter()
        .flat_map(|s| &s.values)
        .copied()
        .min()
        .unwrap_or(0);
    let (lo, hi) = (table.plotted(min), table.plotted(max));
    // Values far from zero (prices) get an axis around them, as chart tools do.
    let (bottom, top) = if lo > 0.5 * hi {
        let pad = ((hi - lo) * 0.15).max(10f64.powi(-(table.decimals as i32)));
        (lo - pad, hi + pad)
    } else {
        (0.0, nice_top(hi))
    };
    let mut chart = ChartBuilder::on(&plot)
        .caption(&table.title, font(22))
        .margin(14)
        .x_label_area_size(56)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, bottom..top)
        .map_err(pe)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|v| tick(*v))
        .label_style(font(13))
        .axis_desc_style(font(15))
        .x_desc(table.x_label.clone())
        .y_desc(table.y_label.clone())
        .draw()
        .map_err(pe)?;
    // All lines first, then all markers: a line never crosses a marker drawn before it.
    for (j, s) in table.series.iter().enumerate() {
        let pts = s
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, table.plotted(v)));
        chart
            .draw_series(LineSeries::new(pts, colour(j).stroke_width(2)))
            .map_err(pe)?;
    }
    let mut els = Vec::new();
    for (j, s) in table.series.iter().enumerate() {
        for (i, &v) in s.values.iter().enumerate() {
            let v = table.plotted(v);
            chart
                .draw_series(std::iter::once(Circle::new(
                    (i as f64, v),
                    MARKER_RADIUS,
                    colour(j).filled(),
                )))
                .map_err(pe)?;
            els.push(marker(chart.backend_coord(&(i as f64, v)), j, i));
        }
    }
    category_labels(root, table, |i| chart.backend_coord(&(i as f64, bottom)))?;
    Ok(els)
}

fn scatter(root: &Root, table: &ChartTable, width: u32) -> Result<Vec<Element>, String> {
    let (plot, _) = root.split_horizontally(width - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot)
        .caption(&table.title, font(22))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(56)
        .build_cartesian_2d(-5f64..105f64, -5f64..105f64)
        .map_err(pe)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(font(13))
        .axis_desc_style(font(15))
        .x_desc(table.x_label.clone())
        .y_desc(table.y_label.clone())
        .draw()
        .map_err(pe)?;
    let mut els = Vec::new();
    for (j, s) in table.series.iter().enumerate() {
        for (i, p) in s.points.iter().enumerate() {
            let c = (p[0] as f64, p[1] as f64);
            chart
                .draw_series(std::iter::once(Circle::new(
                    c,
                    MARKER_RADIUS,
                    colour(j).filled(),
                )))
                .map_err(pe)?;
            els.push(marker(chart.backend_coord(&c), j, i));
        }
    }
    Ok(els)
}

/// Pixel of polar (angle in degrees, clockwise from 12 o'clock; radius) around `c`.
fn polar(c: (f64, f64), deg: f64, r: f64) -> (f64, f64) {
    let a = (deg - 90.0).to_radians();
    (c.0 + r * a.cos(), c.1 + r * a.sin())
}

fn pie(root: &Root, table: &ChartTable, width: u32, height: u32) -> Result<Vec<Element>, String> {
    root.draw(&Text::new(
        table.title.clone(),
        (((width - LEGEND_WIDTH) / 2) as i32, 14),
        font(22).pos(Pos::new(HPos::Center, VPos::Top)),
    ))
    .map_err(pe)?;
    let c = (
        f64::from(width - LEGEND_WIDTH) / 2.0,
        f64::from(height) / 2.0 + 20.0,
    );
    let r = (f64::from(width - LEGEND_WIDTH).min(f64::from(height) - 60.0) * 0.42).floor();
    let values = &table.series[0].values;
    let total: i64 = values.iter().sum();
    let mut start = 0.0;
    let mut els = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        let sweep = 360.0 * v as f64 / total as f64;
        let mut poly = vec![(c.0.round() as i32, c.1.round() as i32)];
        let steps = (sweep.ceil() as usize).max(2);
        let mut xs = vec![c.0];
        let mut ys = vec![c.1];
        for s in 0..=steps {
            let (x, y) = polar(c, start + sweep * s as f64 / steps as f64, r);
            poly.push((x.round() as i32, y.round() as i32));
            xs.push(x);
            ys.push(y);
        }
        root.draw(&Polygon::new(poly, colour(i).filled()))
            .map_err(pe)?;
        let mid = polar(c, start + sweep / 2.0, r * 0.6);
        let fold = |v: &[f64], f: fn(f64, f64) -> f64| v.iter().copied().reduce(f).unwrap_or(0.0);
        els.push(Element {
            series: 0,
            index: i,
            point: [mid.0.round(), mid.1.round()],
            bbox: [
                fold(&xs, f64::min),
                fold(&ys, f64::min),
                fold(&xs, f64::max),
                fold(&ys, f64::max),
            ],
            colour: PALETTE[i % PALETTE.len()],
        });
        start += sweep;
    }
    Ok(els)
}
