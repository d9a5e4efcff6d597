//! Annotations of a streamed COCO file, kept on disk and chained by image.
//!
//! COCO files do not group annotations by image, so a reader must hold them somewhere until
//! every image's annotations are known. Holding them in memory grows with the file (about
//! 100 bytes each even when compact; pycocotools holds kilobytes). Here each annotation is
//! appended, in a small binary record, to an unnamed temporary file, and each record points
//! back to the previous record of the same image: memory holds one offset per image, and an
//! image's annotations are read back by walking its chain (records sit in the page cache, so
//! this costs a few microseconds per annotation). Annotations that arrive before their image
//! (a file listing `annotations` before `images`) are linked afterwards from a small side
//! table.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Mutex;

use super::{IdKey, Problem};

const NONE: u64 = u64::MAX;

/// Problem reasons a record can carry (stored as their index).
const REASONS: &[&str] = &["missing_field", "bad_bbox", "unknown_category"];

/// One annotation as stored: its category is the reader's interned key, not yet resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnn {
    /// The annotation id.
    pub id: IdKey,
    /// Interned category key.
    pub category: Option<u32>,
    /// `[x, y, w, h]` as written.
    pub bbox: [f64; 4],
    /// `iscrowd`.
    pub crowd: bool,
    /// A point inside the polygons.
    pub point: Option<[f64; 2]>,
    /// Why the entry cannot be used.
    pub problem: Option<Problem>,
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

fn encode(prev: u64, a: &StoredAnn) -> Vec<u8> {
    let mut b = Vec::with_capacity(96);
    b.extend_from_slice(&prev.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // payload length, set below
    match &a.id {
        IdKey::Int(i) => {
            b.push(0);
            b.extend_from_slice(&i.to_le_bytes());
        }
        IdKey::Str(s) => {
            b.push(1);
            put_str(&mut b, s);
        }
    }
    b.extend_from_slice(&a.category.unwrap_or(u32::MAX).to_le_bytes());
    for v in a.bbox {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.push(u8::from(a.crowd));
    match a.point {
        Some([x, y]) => {
            b.push(1);
            b.extend_from_slice(&x.to_le_bytes());
            b.extend_from_slice(&y.to_le_bytes());
        }
        None => b.push(0),
    }
    match &a.problem {
        Some(p) => {
            let code = REASONS
                .iter()
                .position(|r| *r == p.reason)
                .expect("a reason the store knows");
            b.push(code as u8 + 1);
            put_str(&mut b, &p.message);
        }
        None => b.push(0),
    }
    let len = (b.len() - 12) as u32;
    b[8..12].copy_from_slice(&len.to_le_bytes());
    b
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> std::io::Result<&[u8]> {
        if self.0.len() < n {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "short annotation record",
            ));
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }
    fn u8(&mut self) -> std::io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn f64(&mut self) -> std::io::Result<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn string(&mut self) -> std::io::Result<String> {
        let n = self.u32()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

fn decode(payload: &[u8]) -> std::io::Result<StoredAnn> {
    let mut c = Cursor(payload);
    let id = match c.u8()? {
        0 => IdKey::Int(i64::from_le_bytes(c.take(8)?.try_into().expect("8"))),
        _ => IdKey::Str(c.string()?.into()),
    };
    let category = Some(c.u32()?).filter(|v| *v != u32::MAX);
    let bbox = [c.f64()?, c.f64()?, c.f64()?, c.f64()?];
    let crowd = c.u8()? != 0;
    let point = match c.u8()? {
        0 => None,
        _ => Some([c.f64()?, c.f64()?]),
    };
    let problem = match c.u8()? {
        0 => None,
        code => {
            let reason = REASONS
                .get(usize::from(code) - 1)
                .copied()
                .unwrap_or("missing_field");
            Some(Problem::new(reason, c.string()?))
        }
    };
    Ok(StoredAnn {
        id,
        category,
        bbox,
        crowd,
        point,
        problem,
    })
}

/// Builds a store while a file streams.
pub struct StoreWriter {
    out: BufWriter<File>,
    pos: u64,
    heads: Vec<u64>,
}

impl StoreWriter {
    /// A store in a new unnamed temporary file (removed when the store is dropped).
    pub fn new() -> std::io::Result<Self> {
        Ok(StoreWriter {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            pos: 0,
            heads: Vec::new(),
        })
    }

    /// Declares the next image (images are numbered in the order they are added).
    pub fn add_image(&mut self) {
        self.heads.push(NONE);
    }

    /// Appends an annotation, chained under `image` when known; returns its offset.
    pub fn append(&mut self, image: Option<u32>, a: &StoredAnn) -> std::io::Result<u64> {
        let prev = image.map_or(NONE, |i| self.heads[i as usize]);
        let rec = encode(prev, a);
        self.out.write_all(&rec)?;
        let at = self.pos;
        if let Some(i) = image {
            self.heads[i as usize] = at;
        }
        self.pos += rec.len() as u64;
        Ok(at)
    }

    /// Ends writing.
    pub fn finish(self) -> std::io::Result<AnnStore> {
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(AnnStore {
            file: Mutex::new(file),
            heads: self.heads,
            late: HashMap::new(),
            bytes: self.pos,
        })
    }
}

/// A finished store: read an image's annotations back in file order.
#[derive(Debug)]
pub struct AnnStore {
    file: Mutex<File>,
    heads: Vec<u64>,
    late: HashMap<u32, Vec<u64>>,
    bytes: u64,
}

impl AnnStore {
    /// Links a record written before its image was known.
    pub fn attach(&mut self, image: u32, offset: u64) {
        self.late.entry(image).or_default().push(offset);
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn read_record(file: &mut File, at: u64) -> std::io::Result<(u64, StoredAnn)> {
        file.seek(SeekFrom::Start(at))?;
        let mut head = [0u8; 12];
        file.read_exact(&mut head)?;
        let prev = u64::from_le_bytes(head[..8].try_into().expect("8"));
        let len = u32::from_le_bytes(head[8..].try_into().expect("4")) as usize;
        let mut payload = vec![0u8; len];
        file.read_exact(&mut payload)?;
        Ok((prev, decode(&payload)?))
    }

    /// The annotations of image `i`, in file order.
    pub fn read_image(&self, i: u32) -> std::io::Result<Vec<StoredAnn>> {
        let mut file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("annotation store lock poisoned"))?;
        let mut found: Vec<(u64, StoredAnn)> = Vec::new();
        let mut at = self.heads[i as usize];
        while at != NONE {
            let (prev, a) = Self::read_record(&mut file, at)?;
            found.push((at, a));
            at = prev;
        }
        for &off in self.late.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            let (_, a) = Self::read_record(&mut file, off)?;
            found.push((off, a));
        }
        found.sort_by_key(|(off, _)| *off); // offsets follow the file's order
        Ok(found.into_iter().map(|(_, a)| a).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(id: i64, problem: Option<Problem>) -> StoredAnn {
        StoredAnn {
            id: IdKey::Int(id),
            category: Some(3),
            bbox: [1.5, f64::NAN, 3.0, 1.0 / 3.0],
            crowd: id % 2 == 0,
            point: (id % 3 == 0).then_some([0.25, 9.0]),
            problem,
        }
    }

    #[test]
    fn records_come_back_exactly_grouped_by_image_in_file_order() {
        let mut w = StoreWriter::new().unwrap();
        w.add_image();
        w.add_image();
        let mut written = Vec::new();
        for id in 0..10 {
            let a = ann(id, (id == 4).then(|| Problem::new("bad_bbox", "box ✗")));
            w.append(Some((id % 2) as u32), &a).unwrap();
            written.push(a);
        }
        let late = StoredAnn {
            id: IdKey::Str("late one".into()),
            category: None,
            ..ann(11, None)
        };
        let late_at = w.append(None, &late).unwrap();
        let mut store = w.finish().unwrap();
        store.attach(1, late_at);
        let even: Vec<StoredAnn> = written.iter().step_by(2).cloned().collect();
        let got = store.read_image(0).unwrap();
        assert_eq!(got.len(), 5);
        for (g, w) in got.iter().zip(&even) {
            assert_eq!(
                (&g.id, g.category, g.crowd, g.point),
                (&w.id, w.category, w.crowd, w.point)
            );
            assert!(g.bbox[1].is_nan() && g.bbox[3] == 1.0 / 3.0);
        }
        assert_eq!(got[2].problem, Some(Problem::new("bad_bbox", "box ✗")));
        let odd = store.read_image(1).unwrap();
        assert_eq!(odd.len(), 6);
        assert_eq!(odd[5].id, IdKey::Str("late one".into()));
        assert_eq!(odd[5].category, None);
    }
}
