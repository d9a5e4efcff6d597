//! Bad input through the whole pipeline: a real loopback HTTP server serving 404s, 500s,
//! a flaky 503-then-OK, a stalled response, an oversized body, HTML as an image; and files that
//! are truncated, corrupt, a 50 000 × 50 000 PNG header, unsupported or too small. Every record
//! is kept, dropped or quarantined with its reason, the run goes on, and counts add up.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{assert_accounts, column, counts, pipeline, quarantined, registry, run};
use crate::photos::repo;

fn png_header(w: u32, h: u32) -> Vec<u8> {
    // The same bytes as the unit test's helper: signature, IHDR claiming w×h, tiny IDAT, IEND.
    let mut img = image::RgbImage::new(1, 1);
    img.put_pixel(0, 0, image::Rgb([1, 2, 3]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    // Patch the IHDR size (bytes 16..24) and its CRC (bytes 29..33).
    out[16..20].copy_from_slice(&w.to_be_bytes());
    out[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&out[12..29]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

struct Server {
    port: u16,
}

fn respond(mut s: TcpStream, status: &str, ctype: &str, body: &[u8], extra: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}

fn serve(jpeg: Arc<Vec<u8>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let flaky = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (jpeg, flaky) = (jpeg.clone(), flaky.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                match path.as_str() {
                    "/good.jpg" => respond(stream, "200 OK", "image/jpeg", &jpeg, ""),
                    "/octet" => respond(stream, "200 OK", "application/octet-stream", &jpeg, ""),
                    "/page.jpg" => respond(
                        stream,
                        "200 OK",
                        "text/html; charset=utf-8",
                        b"<html><body>Not found</body></html>",
                        "",
                    ),
                    "/disguised.jpg" => respond(
                        stream,
                        "200 OK",
                        "image/jpeg",
                        b"<!DOCTYPE html><html><body>login</body></html>",
                        "",
                    ),
                    "/missing.jpg" => respond(stream, "404 Not Found", "text/plain", b"no", ""),
                    "/broken.jpg" => respond(
                        stream,
                        "500 Internal Server Error",
                        "text/plain",
                        b"boom",
                        "",
                    ),
                    "/flaky.jpg" => {
                        if flaky.fetch_add(1, Ordering::SeqCst) == 0 {
                            respond(stream, "503 Service Unavailable", "text/plain", b"busy", "")
                        } else {
                            respond(stream, "200 OK", "image/jpeg", &jpeg, "")
                        }
                    }
                    "/slow.jpg" => {
                        std::thread::sleep(Duration::from_secs(3));
                        respond(stream, "200 OK", "image/jpeg", &jpeg, "");
                    }
                    "/big.jpg" => {
                        let mut s = stream;
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n");
                        let _ = s.write_all(&jpeg);
                    }
                    "/bomb.png" => respond(
                        stream,
                        "200 OK",
                        "image/png",
                        &png_header(50_000, 50_000),
                        "",
                    ),
                    "/truncated.jpg" => {
                        respond(stream, "200 OK", "image/jpeg", &jpeg[..jpeg.len() / 2], "")
                    }
                    _ => respond(stream, "404 Not Found", "text/plain", b"", ""),
                }
            });
        }
    });
    Server { port }
}

#[test]
fn bad_urls_are_quarantined_with_reasons_and_counts_add_up() {
    let jpeg = Arc::new(std::fs::read(repo().join("examples/data/photos/coffee.jpg")).unwrap());
    let server = serve(jpeg);
    let tmp = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{}", server.port);
    let mut csv = String::from("url,alt_text\n");
    for (p, alt) in [
        ("good.jpg", "A cup of coffee"),
        ("octet", "Coffee again"),
        ("flaky.jpg", "A flaky coffee"),
        ("page.jpg", ""),
        ("disguised.jpg", ""),
        ("missing.jpg", ""),
        ("broken.jpg", ""),
        ("slow.jpg", ""),
        ("big.jpg", ""),
        ("bomb.png", ""),
        ("truncated.jpg", ""),
    ] {
        csv.push_str(&format!("{base}/{p},\"{alt}\"\n"));
    }
    csv.push_str("not a url,\"\"\n");
    let list = tmp.path().join("urls.csv");
    std::fs::write(&list, csv).unwrap();
    let out = tmp.path().join("out");
    let sets = vec![
        format!("source.path=\"{}\"", list.display()),
        "source.fetch={ timeout_s = 1.0, retries = 1, backoff_s = 0.05, max_bytes = 5000000, per_host = 2 }".into(),
    ];
    let report = run(pipeline(&sets), &registry(), &out, 0, 1);
    assert_accounts(&report);

    let src = counts(&out, "source");
    assert_eq!(src.input, 12);
    // Fetched: good, octet, flaky (after one retry), disguised, bomb, truncated.
    assert_eq!(src.out, 6, "{src:?}");
    let q: Vec<(String, String)> = quarantined(&out, "source")
        .into_iter()
        .map(|(s, r)| (s.replace(&base, ""), r))
        .collect();
    assert_eq!(
        q,
        [
            ("/big.jpg".to_string(), "too_big".to_string()),
            ("/broken.jpg".into(), "http_500".into()),
            ("/missing.jpg".into(), "http_404".into()),
            ("/page.jpg".into(), "not_an_image".into()),
            ("/slow.jpg".into(), "timeout".into()),
            ("not a url".into(), "bad_url".into()),
        ]
    );
    let norm: Vec<(String, String)> = quarantined(&out, "images")
        .into_iter()
        .map(|(s, r)| (s.replace(&base, ""), r))
        .collect();
    assert_eq!(
        norm,
        [
            ("/bomb.png".to_string(), "too_large".to_string()),
            ("/disguised.jpg".into(), "not_an_image".into()),
            ("/truncated.jpg".into(), "truncated".into()),
        ]
    );
    // good, octet and flaky are the same bytes: one survives, captioned from the list.
    assert_eq!(counts(&out, "unique_images").dropped["exact_duplicate"], 2);
    let metas = column(&out, "samples", "meta");
    assert_eq!(metas.len(), 1);
    let m: serde_json::Value = serde_json::from_str(&metas[0]).unwrap();
    assert_eq!(m["path"], format!("{base}/good.jpg"));
    assert_eq!(m["alt_text"], "A cup of coffee");
}

#[test]
fn bad_files_are_quarantined_or_dropped_with_reasons() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let photos = repo().join("examples/data/photos");
    let jpg = std::fs::read(photos.join("chelsea.jpg")).unwrap();
    std::fs::write(dir.join("good.jpg"), &jpg).unwrap();
    std::fs::write(dir.join("good.txt"), "A cat").unwrap();
    std::fs::write(dir.join("truncated.jpg"), &jpg[..jpg.len() * 2 / 3]).unwrap();
    let mut corrupt = std::fs::read(photos.join("coins.png")).unwrap();
    for b in &mut corrupt[300..600] {
        *b = !*b;
    }
    std::fs::write(dir.join("corrupt.png"), corrupt).unwrap();
    std::fs::write(dir.join("bomb.png"), png_header(50_000, 50_000)).unwrap();
    std::fs::write(
        dir.join("page.jpg"),
        b"<html><head><title>403</title></head></html>",
    )
    .unwrap();
    std::fs::write(
        dir.join("netpbm.bmp"),
        b"P6\n4 4\n255\n"
            .iter()
            .copied()
            .chain([7u8; 48])
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let tiny = image::DynamicImage::new_rgb8(20, 20);
    tiny.save(dir.join("tiny.png")).unwrap();
    let strip = image::DynamicImage::new_rgb8(8000, 70);
    strip.save(dir.join("strip.png")).unwrap();
    // GIF, TIFF: decoded and re-encoded as PNG.
    let cat = image::load_from_memory(&jpg).unwrap();
    cat.resize(200, 200, image::imageops::FilterType::Triangle)
        .save(dir.join("cat.gif"))
        .unwrap();
    let out = tmp.path().join("out");
    let sets = vec![
        format!("source.path=\"{}\"", dir.display()),
        "images.max_aspect_ratio=100.0".into(),
    ];
    let report = run(pipeline(&sets), &registry(), &out, 0, 1);
    assert_accounts(&report);
    assert_eq!(
        quarantined(&out, "images"),
        [
            ("bomb.png".to_string(), "too_large".to_string()),
            ("corrupt.png".into(), "undecodable".into()),
            ("netpbm.bmp".into(), "unsupported_format".into()),
            ("page.jpg".into(), "not_an_image".into()),
            ("truncated.jpg".into(), "truncated".into()),
        ]
    );
    let c = counts(&out, "images");
    assert_eq!((c.input, c.out), (9, 2), "{c:?}");
    assert_eq!((c.dropped["too_small"], c.dropped["aspect_ratio"]), (1, 1));
    // cat.gif is the same scene as good.jpg at a smaller size: a near-duplicate.
    assert_eq!(counts(&out, "unique_images").dropped["near_duplicate"], 1);
    let metas = column(&out, "samples", "meta");
    assert_eq!(metas.len(), 1, "only good.jpg has a caption");
}

#[test]
fn corrupt_shards_are_quarantined_and_shard_uids_do_not_collide() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let photos = repo().join("examples/data/photos");
    std::fs::copy(photos.join("chelsea.jpg"), files.join("cat.jpg")).unwrap();
    std::fs::write(files.join("cat.txt"), "A cat").unwrap();
    let first = tmp.path().join("first");
    let reg = registry();
    run(
        pipeline(&[format!("source.path=\"{}\"", files.display())]),
        &reg,
        &first,
        0,
        1,
    );
    // Two copies of one shard (same sample ids) in different folders, and a corrupt shard.
    let shards = tmp.path().join("shards");
    std::fs::create_dir_all(shards.join("b")).unwrap();
    let made: Vec<_> = std::fs::read_dir(first.join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    std::fs::copy(&made[0], shards.join("a.parquet")).unwrap();
    std::fs::copy(&made[0], shards.join("b/a.parquet")).unwrap();
    std::fs::write(
        shards.join("corrupt.parquet"),
        b"PAR1 this is not parquet PAR1",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let sets = vec![
        format!("source.path=\"{}\"", shards.display()),
        "source.input=\"shards\"".into(),
    ];
    let report = run(pipeline(&sets), &reg, &out, 0, 1);
    assert_accounts(&report);
    let q = quarantined(&out, "source");
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(q[0].0.ends_with("corrupt.parquet"), "{q:?}");
    assert_eq!(q[0].1, "corrupt_shard");
    let c = counts(&out, "source");
    assert_eq!((c.input, c.out), (3, 2), "{c:?}");
    let uids = column(&out, "source", "uid");
    assert_eq!(uids.len(), 2);
    assert_ne!(
        uids[0], uids[1],
        "same sample id in two shards must give two uids"
    );
}
