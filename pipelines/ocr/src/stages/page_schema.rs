//! The page table: one row per PDF page, written by `pdf_pages` and read by every sample
//! builder. Keeping the parsed layout (as JSON) and the rendered image side by side means each
//! PDF is parsed and rendered exactly once, however many sample kinds are built from it.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Float32Builder, Int32Builder,
    ListBuilder, RecordBatch, StringBuilder, StructBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Float32Type, Int32Type, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::pdf::{Block, PageGeometry, Rect};

/// A figure (embedded image) cut out of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Encoded bytes (JPEG passed through, others PNG).
    pub bytes: Vec<u8>,
    /// `jpeg` or `png`.
    pub format: String,
    /// Pixel width.
    pub width: u32,
    /// Pixel height.
    pub height: u32,
    /// Where it is drawn on the page (displayed-page points).
    pub bbox: Rect,
}

/// The parsed layout of a page, stored as JSON in the `layout` column.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Layout {
    /// Text blocks in reading order.
    pub blocks: Vec<Block>,
}

/// One page as the sample builders see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRow {
    /// Content hash of the PDF file.
    pub doc_id: String,
    /// Path relative to the input root.
    pub doc_path: String,
    /// 0-based page index.
    pub page: u32,
    /// Pages in the document.
    pub pages: u32,
    /// `ok`, or the reason the page could not be processed.
    pub status: String,
    /// The error text when `status` is not `ok`.
    pub error: Option<String>,
    /// Displayed page size in points.
    pub width_pt: f32,
    /// Displayed page height in points.
    pub height_pt: f32,
    /// Encoded page image.
    pub image: Vec<u8>,
    /// `png` or `jpeg`.
    pub image_format: String,
    /// Image width in pixels.
    pub image_width: u32,
    /// Image height in pixels.
    pub image_height: u32,
    /// Plain text in reading order.
    pub text: String,
    /// Blocks with boxes and fonts.
    pub layout: Layout,
    /// Embedded figures.
    pub figures: Vec<Figure>,
    /// Whether the text layer cannot be trusted.
    pub needs_ocr: bool,
    /// Why it cannot.
    pub quality: Option<String>,
    /// ISO 639-3 language code or `und`.
    pub lang: String,
    /// Document metadata as JSON.
    pub doc_meta: String,
}

impl PageRow {
    /// `doc_id:path-hash:page`, unique per page of each input file (byte-identical PDFs at two
    /// paths are two documents, whose pages the near-duplicate phase then collapses), sortable.
    pub fn uid(&self) -> String {
        let path = self
            .doc_path
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("{}:{:016x}:{:06}", self.doc_id, path, self.page)
    }

    /// A row for a page that could not be processed.
    pub fn failed(
        doc_id: &str,
        doc_path: &str,
        page: u32,
        pages: u32,
        geometry: Option<&PageGeometry>,
        status: &str,
        error: String,
    ) -> Self {
        PageRow {
            doc_id: doc_id.into(),
            doc_path: doc_path.into(),
            page,
            pages,
            status: status.into(),
            error: Some(error),
            width_pt: geometry.map_or(0.0, |g| g.width),
            height_pt: geometry.map_or(0.0, |g| g.height),
            image: Vec::new(),
            image_format: String::new(),
            image_width: 0,
            image_height: 0,
            text: String::new(),
            layout: Layout::default(),
            figures: Vec::new(),
            needs_ocr: false,
            quality: None,
            lang: "und".into(),
            doc_meta: "{}".into(),
        }
    }
}

fn figure_fields() -> Vec<Field> {
    vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("format", DataType::Utf8, true),
        Field::new("width", DataType::Int32, true),
        Field::new("height", DataType::Int32, true),
        Field::new(
            "bbox",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float32, true))),
            true,
        ),
    ]
}

/// The page table schema.
pub fn page_schema() -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    let i = |n: &str| Field::new(n, DataType::Int32, true);
    let f = |n: &str| Field::new(n, DataType::Float32, true);
    Arc::new(Schema::new(vec![
        Field::new("uid", DataType::Utf8, false),
        s("doc_id"),
        s("doc_path"),
        i("page"),
        i("pages"),
        s("status"),
        s("error"),
        f("width_pt"),
        f("height_pt"),
        Field::new("image", DataType::Binary, true),
        s("image_format"),
        i("image_width"),
        i("image_height"),
        s("text"),
        s("layout"),
        Field::new(
            "figures",
            DataType::List(Arc::new(Field::new_list_field(
                DataType::Struct(Fields::from(figure_fields())),
                true,
            ))),
            true,
        ),
        Field::new("needs_ocr", DataType::Boolean, true),
        s("quality"),
        s("lang"),
        s("doc_meta"),
    ]))
}

/// Page rows → a batch of [`page_schema`].
pub fn pages_to_batch(rows: &[PageRow]) -> Result<RecordBatch, String> {
    let mut strs: Vec<StringBuilder> = (0..11).map(|_| StringBuilder::new()).collect();
    let mut ints: Vec<Int32Builder> = (0..4).map(|_| Int32Builder::new()).collect();
    let mut floats: Vec<Float32Builder> = (0..2).map(|_| Float32Builder::new()).collect();
    let mut image = BinaryBuilder::new();
    let mut needs = BooleanBuilder::new();
    let mut figures =
        ListBuilder::new(StructBuilder::from_fields(Fields::from(figure_fields()), 0));
    for r in rows {
        let layout = serde_json::to_string(&r.layout).map_err(|e| e.to_string())?;
        let uid = r.uid();
        let texts: [Option<&str>; 11] = [
            Some(&uid),
            Some(&r.doc_id),
            Some(&r.doc_path),
            Some(&r.status),
            r.error.as_deref(),
            Some(&r.image_format),
            Some(&r.text),
            Some(&layout),
            r.quality.as_deref(),
            Some(&r.lang),
            Some(&r.doc_meta),
        ];
        for (b, t) in strs.iter_mut().zip(texts) {
            b.append_option(t);
        }
        for (b, v) in ints
            .iter_mut()
            .zip([r.page, r.pages, r.image_width, r.image_height])
        {
            b.append_value(v as i32);
        }
        floats[0].append_value(r.width_pt);
        floats[1].append_value(r.height_pt);
        image.append_value(&r.image);
        needs.append_value(r.needs_ocr);
        let fb = figures.values();
        for fig in &r.figures {
            fb.field_builder::<BinaryBuilder>(0)
                .expect("bytes")
                .append_value(&fig.bytes);
            fb.field_builder::<StringBuilder>(1)
                .expect("format")
                .append_value(&fig.format);
            fb.field_builder::<Int32Builder>(2)
                .expect("w")
                .append_value(fig.width as i32);
            fb.field_builder::<Int32Builder>(3)
                .expect("h")
                .append_value(fig.height as i32);
            let bb = fb
                .field_builder::<ListBuilder<Box<dyn arrow::array::ArrayBuilder>>>(4)
                .expect("bbox");
            for v in [fig.bbox.x0, fig.bbox.y0, fig.bbox.x1, fig.bbox.y1] {
                bb.values()
                    .as_any_mut()
                    .downcast_mut::<Float32Builder>()
                    .expect("f32")
                    .append_value(v);
            }
            bb.append(true);
            fb.append(true);
        }
        figures.append(true);
    }
    let mut s = strs
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut n = ints
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut f = floats
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let next = |it: &mut dyn Iterator<Item = ArrayRef>| it.next().expect("column");
    let columns: Vec<ArrayRef> = vec![
        next(&mut s), // uid
        next(&mut s), // doc_id
        next(&mut s), // doc_path
        next(&mut n), // page
        next(&mut n), // pages
        next(&mut s), // status
        next(&mut s), // error
        next(&mut f), // width_pt
        next(&mut f), // height_pt
        Arc::new(image.finish()),
        next(&mut s), // image_format
        next(&mut n), // image_width
        next(&mut n), // image_height
        next(&mut s), // text
        next(&mut s), // layout
        Arc::new(figures.finish()),
        Arc::new(needs.finish()),
        next(&mut s), // quality
        next(&mut s), // lang
        next(&mut s), // doc_meta
    ];
    let schema = page_schema();
    let columns = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(c, fld)| arrow::compute::cast(&c, fld.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

/// A batch of [`page_schema`] → page rows.
pub fn pages_from_batch(batch: &RecordBatch) -> Result<Vec<PageRow>, String> {
    let col = |n: &str| {
        batch
            .column_by_name(n)
            .ok_or_else(|| format!("page table has no column `{n}`"))
    };
    let s = |n: &str| -> Result<arrow::array::StringArray, String> {
        Ok(col(n)?.as_string::<i32>().clone())
    };
    let i = |n: &str| -> Result<arrow::array::Int32Array, String> {
        Ok(col(n)?.as_primitive::<Int32Type>().clone())
    };
    let f = |n: &str| -> Result<arrow::array::Float32Array, String> {
        Ok(col(n)?.as_primitive::<Float32Type>().clone())
    };
    let (doc_id, doc_path, status, error, image_format, text, layout, quality, lang, doc_meta) = (
        s("doc_id")?,
        s("doc_path")?,
        s("status")?,
        s("error")?,
        s("image_format")?,
        s("text")?,
        s("layout")?,
        s("quality")?,
        s("lang")?,
        s("doc_meta")?,
    );
    let (page, pages, iw, ih) = (
        i("page")?,
        i("pages")?,
        i("image_width")?,
        i("image_height")?,
    );
    let (wpt, hpt) = (f("width_pt")?, f("height_pt")?);
    let image = col("image")?.as_binary::<i32>().clone();
    let needs = col("needs_ocr")?.as_boolean().clone();
    let figures = col("figures")?.as_list::<i32>().clone();
    let opt =
        |a: &arrow::array::StringArray, r: usize| (!a.is_null(r)).then(|| a.value(r).to_string());
    let mut out = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let mut figs = Vec::new();
        if !figures.is_null(r) {
            let list = figures.value(r);
            let st = list.as_struct();
            let bytes = st.column(0).as_binary::<i32>();
            let format = st.column(1).as_string::<i32>();
            let w = st.column(2).as_primitive::<Int32Type>();
            let h = st.column(3).as_primitive::<Int32Type>();
            let bbox = st.column(4).as_list::<i32>();
            for k in 0..st.len() {
                let b = bbox.value(k);
                let b = b.as_primitive::<Float32Type>();
                if b.len() != 4 {
                    return Err(format!("figure bbox with {} values", b.len()));
                }
                figs.push(Figure {
                    bytes: bytes.value(k).to_vec(),
                    format: format.value(k).to_string(),
                    width: w.value(k) as u32,
                    height: h.value(k) as u32,
                    bbox: Rect {
                        x0: b.value(0),
                        y0: b.value(1),
                        x1: b.value(2),
                        y1: b.value(3),
                    },
                });
            }
        }
        out.push(PageRow {
            doc_id: doc_id.value(r).to_string(),
            doc_path: doc_path.value(r).to_string(),
            page: page.value(r) as u32,
            pages: pages.value(r) as u32,
            status: status.value(r).to_string(),
            error: opt(&error, r),
            width_pt: wpt.value(r),
            height_pt: hpt.value(r),
            image: image.value(r).to_vec(),
            image_format: image_format.value(r).to_string(),
            image_width: iw.value(r) as u32,
            image_height: ih.value(r) as u32,
            text: text.value(r).to_string(),
            layout: serde_json::from_str(layout.value(r))
                .map_err(|e| format!("layout JSON: {e}"))?,
            figures: figs,
            needs_ocr: needs.value(r),
            quality: opt(&quality, r),
            lang: lang.value(r).to_string(),
            doc_meta: doc_meta.value(r).to_string(),
        });
    }
    Ok(out)
}
