//! Opening PDFs safely and reading pages out of them.
//!
//! lopdf parses the file (and repairs broken cross-reference tables); around it we add what
//! a batch pipeline fed untrusted files needs: a header check, file-size and per-stream
//! decompression caps, a refusal of encrypted files we cannot open, a page-count check on the
//! page tree's /Count *before* walking it, a page-tree walk with a cycle guard, a per-document
//! time budget, and `catch_unwind` around lopdf's loader and the page interpreter so a panic
//! deep in a dependency becomes a `Corrupt` error instead of taking the worker down.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use lopdf::{Document, LoadOptions, Object, ObjectId};

use super::error::{Limits, PdfError};
use super::interpreter::{FontCache, Interpreter};
use super::objects::{as_dict, get, get_name, resolve, stream_bytes, text_string};
use super::page::{display_matrix, geometry, inherited};
use super::types::{DocMeta, PageContent, PageGeometry};

/// An opened, readable PDF.
pub struct PdfDocument {
    doc: Document,
    pages: Vec<ObjectId>,
    limits: Limits,
    fonts: FontCache,
    /// End of the per-document time budget.
    budget_end: Instant,
}

impl std::fmt::Debug for PdfDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfDocument")
            .field("pages", &self.pages.len())
            .finish_non_exhaustive()
    }
}

fn map_load_error(e: lopdf::Error) -> PdfError {
    use lopdf::Error as E;
    match e {
        E::Parse(lopdf::ParseError::InvalidFileHeader) => {
            PdfError::NotPdf("invalid %PDF- header".into())
        }
        E::Decompress(lopdf::DecompressError::MemoryLimitExceeded { limit }) => {
            PdfError::StreamTooLarge {
                what: "object stream".into(),
                limit: limit as u64,
            }
        }
        E::Decryption(_)
        | E::InvalidPassword
        | E::UnsupportedSecurityHandler(_)
        | E::AlreadyEncrypted => PdfError::Encrypted,
        E::IO(io) => PdfError::Io(io),
        other => PdfError::Corrupt(other.to_string()),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

impl PdfDocument {
    /// Opens the PDF at `path`.
    pub fn open(path: &Path, limits: &Limits) -> Result<Self, PdfError> {
        let len = std::fs::metadata(path)?.len();
        if len > limits.max_file_bytes {
            return Err(PdfError::StreamTooLarge {
                what: "file".into(),
                limit: limits.max_file_bytes,
            });
        }
        Self::from_bytes(std::fs::read(path)?, limits)
    }

    /// Parses a PDF held in memory.
    pub fn from_bytes(bytes: Vec<u8>, limits: &Limits) -> Result<Self, PdfError> {
        let start = Instant::now();
        let budget_end = start + limits.time_budget;
        if bytes.len() as u64 > limits.max_file_bytes {
            return Err(PdfError::StreamTooLarge {
                what: "file".into(),
                limit: limits.max_file_bytes,
            });
        }
        let head = &bytes[..bytes.len().min(1024)];
        if !head.windows(5).any(|w| w == b"%PDF-") {
            let what = if bytes.is_empty() {
                "empty file".to_string()
            } else {
                "no %PDF- header in the first 1 KiB".into()
            };
            return Err(PdfError::NotPdf(what));
        }
        let options = LoadOptions {
            max_decompressed_size: Some(
                usize::try_from(limits.max_stream_bytes).unwrap_or(usize::MAX),
            ),
            ..LoadOptions::default()
        };
        let doc = catch_unwind(AssertUnwindSafe(|| {
            Document::load_mem_with_options(&bytes, options)
        }))
        .map_err(|p| PdfError::Corrupt(format!("parser panicked: {}", panic_message(p.as_ref()))))?
        .map_err(map_load_error)?;
        drop(bytes);
        if Instant::now() > budget_end {
            return Err(PdfError::Timeout);
        }
        // lopdf opens files with an empty user password itself; anything still carrying
        // /Encrypt without a decryption state needs a password.
        if doc.trailer.has(b"Encrypt") && !doc.was_encrypted() {
            return Err(PdfError::Encrypted);
        }
        let pages = Self::walk_pages(&doc, limits, budget_end)?;
        // A rebuilt cross-reference table plus pages whose content objects are gone: the file
        // was cut short or overwritten. Refuse it rather than yield silently empty pages.
        if doc.xref_recovery == Some(lopdf::xref::XrefRecovery::Reconstructed) {
            let lost = pages
                .iter()
                .filter(|id| Self::contents_missing(&doc, id))
                .count();
            if lost > 0 {
                return Err(PdfError::Corrupt(format!(
                    "{lost} of {} pages lost their content (truncated or damaged file)",
                    pages.len()
                )));
            }
        }
        Ok(PdfDocument {
            doc,
            pages,
            limits: limits.clone(),
            fonts: FontCache::default(),
            budget_end,
        })
    }

    /// Collects page ids in order, checking the claimed /Count first.
    fn walk_pages(
        doc: &Document,
        limits: &Limits,
        budget_end: Instant,
    ) -> Result<Vec<ObjectId>, PdfError> {
        let catalog = doc
            .trailer
            .get(b"Root")
            .ok()
            .and_then(|r| resolve(doc, r))
            .and_then(as_dict)
            .ok_or_else(|| PdfError::Corrupt("no document catalog (/Root)".into()))?;
        let root = catalog
            .get(b"Pages")
            .map_err(|_| PdfError::Corrupt("catalog has no /Pages".into()))?;
        let root_dict = resolve(doc, root)
            .and_then(as_dict)
            .ok_or_else(|| PdfError::Corrupt("/Pages is not a dictionary".into()))?;
        if let Some(count) = get(doc, root_dict, b"Count").and_then(|c| c.as_i64().ok())
            && count > limits.max_pages as i64
        {
            return Err(PdfError::TooManyPages(
                usize::try_from(count).unwrap_or(usize::MAX),
            ));
        }
        let mut pages = Vec::new();
        let mut seen: HashSet<ObjectId> = HashSet::new();
        // Depth-first, kids in order; a stack of (kids, next index).
        let mut stack: Vec<(&Vec<Object>, usize)> = Vec::new();
        if let Some(Object::Array(kids)) = get(doc, root_dict, b"Kids") {
            stack.push((kids, 0));
        } else if let Object::Reference(id) = root
            && get_name(doc, root_dict, b"Type") == Some(b"Page")
        {
            pages.push(*id);
        }
        while let Some((kids, i)) = stack.last_mut() {
            let Some(kid) = kids.get(*i) else {
                stack.pop();
                continue;
            };
            *i += 1;
            if pages.len() & 1023 == 0 && Instant::now() > budget_end {
                return Err(PdfError::Timeout);
            }
            let Object::Reference(id) = kid else { continue };
            if !seen.insert(*id) || stack.len() > 64 {
                continue; // cycle, repeat or absurd depth
            }
            let Some(node) = doc.objects.get(id).and_then(as_dict) else {
                continue;
            };
            match (get_name(doc, node, b"Type"), get(doc, node, b"Kids")) {
                (Some(b"Pages"), Some(Object::Array(k))) | (None, Some(Object::Array(k))) => {
                    stack.push((k, 0))
                }
                (Some(b"Pages"), _) => {}
                _ => {
                    pages.push(*id);
                    if pages.len() > limits.max_pages {
                        return Err(PdfError::TooManyPages(pages.len()));
                    }
                }
            }
        }
        if pages.is_empty() {
            return Err(PdfError::NoPages);
        }
        Ok(pages)
    }

    /// Whether page `id` refers to content-stream objects that do not exist.
    fn contents_missing(doc: &Document, id: &ObjectId) -> bool {
        let Some(page) = doc.objects.get(id).and_then(as_dict) else {
            return true;
        };
        let dangling =
            |o: &Object| matches!(o, Object::Reference(r) if !doc.objects.contains_key(r));
        match page.get(b"Contents") {
            Ok(Object::Array(parts)) => parts.iter().any(dangling),
            Ok(Object::Reference(r)) => match doc.objects.get(r) {
                None => true,
                Some(Object::Array(parts)) => parts.iter().any(dangling),
                Some(_) => false,
            },
            _ => false,
        }
    }

    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The underlying lopdf document.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// Document information (/Info) and the page count.
    pub fn metadata(&self) -> DocMeta {
        let info = self
            .doc
            .trailer
            .get(b"Info")
            .ok()
            .and_then(|i| resolve(&self.doc, i))
            .and_then(as_dict);
        let field = |k: &[u8]| {
            info.and_then(|d| get(&self.doc, d, k))
                .and_then(text_string)
        };
        DocMeta {
            title: field(b"Title"),
            author: field(b"Author"),
            subject: field(b"Subject"),
            creator: field(b"Creator"),
            producer: field(b"Producer"),
            pages: self.pages.len(),
        }
    }

    fn page_dict(&self, index: usize) -> Result<&lopdf::Dictionary, PdfError> {
        let id = self.pages.get(index).ok_or(PdfError::PageOutOfRange {
            index,
            pages: self.pages.len(),
        })?;
        self.doc.objects.get(id).and_then(as_dict).ok_or_else(|| {
            PdfError::Corrupt(format!("page {index} ({} {} R) is missing", id.0, id.1))
        })
    }

    /// Size, rotation and boxes of page `index` (0-based).
    pub fn page_geometry(&self, index: usize) -> Result<PageGeometry, PdfError> {
        Ok(geometry(&self.doc, self.page_dict(index)?, index))
    }

    /// Text (blocks in reading order) and placed images of page `index`.
    ///
    /// Stops with [`PdfError::Timeout`] at `deadline` or at the end of the document's time
    /// budget ([`Limits::time_budget`] from `open`), whichever comes first.
    pub fn page_content(&self, index: usize, deadline: Instant) -> Result<PageContent, PdfError> {
        let deadline = deadline.min(self.budget_end);
        if Instant::now() > deadline {
            return Err(PdfError::Timeout);
        }
        catch_unwind(AssertUnwindSafe(|| {
            self.page_content_inner(index, deadline)
        }))
        .unwrap_or_else(|p| {
            Err(PdfError::Corrupt(format!(
                "page {index}: panic: {}",
                panic_message(p.as_ref())
            )))
        })
    }

    fn page_content_inner(&self, index: usize, deadline: Instant) -> Result<PageContent, PdfError> {
        let page = self.page_dict(index)?;
        if Self::contents_missing(&self.doc, &self.pages[index]) {
            return Err(PdfError::Corrupt(format!(
                "page {index}: content stream object missing"
            )));
        }
        let geom = geometry(&self.doc, page, index);
        let content = self.page_stream(page)?;
        let resources = inherited(&self.doc, page, b"Resources").and_then(as_dict);
        let mut it = Interpreter::new(
            &self.doc,
            &self.limits,
            deadline,
            &self.fonts,
            display_matrix(&geom),
            geom.width,
            geom.height,
        );
        it.run(&content, resources)?;
        let ex = it.finish();
        let text = super::layout::layout(&ex);
        Ok(PageContent {
            text,
            images: ex.images,
        })
    }

    /// The page's content streams, decoded and concatenated.
    fn page_stream(&self, page: &lopdf::Dictionary) -> Result<Vec<u8>, PdfError> {
        let limit = self.limits.max_stream_bytes;
        let mut out = Vec::new();
        let mut add = |obj: &Object| -> Result<(), PdfError> {
            if let Some(Object::Stream(s)) = resolve(&self.doc, obj) {
                match stream_bytes(s, limit, "page content stream") {
                    Ok(b) => {
                        out.extend_from_slice(&b);
                        out.push(b'\n');
                    }
                    Err(e @ PdfError::StreamTooLarge { .. }) => return Err(e),
                    // One undecodable part of /Contents should not hide the others.
                    Err(_) => {}
                }
                if out.len() as u64 > limit {
                    return Err(PdfError::StreamTooLarge {
                        what: "page content".into(),
                        limit,
                    });
                }
            }
            Ok(())
        };
        match page
            .get(b"Contents")
            .ok()
            .and_then(|c| resolve(&self.doc, c))
        {
            Some(Object::Array(parts)) => {
                for p in parts {
                    add(p)?;
                }
            }
            Some(other) => add(other)?,
            None => {}
        }
        Ok(out)
    }
}
