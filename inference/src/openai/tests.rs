//! The client against a real HTTP server on loopback (see `test_server`): what goes on the wire,
//! what comes back, retries, timeouts, the concurrency bound and result order.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::test_server::{Reply, TestServer, echo};
use super::{OpenAiClient, OpenAiConfig, call};
use crate::api::{
    Content, FinishReason, ImageSource, Message, Request, SamplingParams, VideoClip, VideoSource,
    VisionLanguageModel,
};
use crate::error::InferenceError;

/// A config with test-sized timeouts and waits.
fn fast_config(base_url: &str) -> OpenAiConfig {
    OpenAiConfig {
        api_key: Some("sk-test".into()),
        timeout_secs: 5.0,
        connect_timeout_secs: 2.0,
        max_retries: 3,
        initial_backoff_secs: 0.01,
        max_backoff_secs: 0.05,
        ..OpenAiConfig::new(base_url, "qwen-test")
    }
}

fn client(cfg: OpenAiConfig) -> OpenAiClient {
    OpenAiClient::build(cfg, false).expect("client")
}

fn text_request(text: &str) -> Request {
    Request {
        messages: vec![Message::user(vec![Content::Text(text.into())])],
        params: SamplingParams::greedy(16),
    }
}

fn echo_server() -> TestServer {
    TestServer::start(|seen, _| Reply::json(200, echo(seen)))
}

/// The bytes inside a `data:<mime>;base64,` URL, after checking the media type.
fn data_url_bytes(url: &Value, mime: &str) -> Vec<u8> {
    let url = url.as_str().expect("url is a string");
    let prefix = format!("data:{mime};base64,");
    let b64 = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{} does not start with {prefix}", &url[..40.min(url.len())]));
    STANDARD.decode(b64).expect("valid base64")
}

fn gradient(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 40) as u8, (y * 60) as u8, 7]))
}

fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn forwards_messages_media_and_params() {
    let server = echo_server();
    let dir = tempfile::tempdir().unwrap();
    let jpeg = encode(&gradient(6, 4), image::ImageFormat::Jpeg);
    let decoded = Arc::new(gradient(5, 3));
    let bmp_path = dir.path().join("page.bmp");
    std::fs::write(&bmp_path, encode(&gradient(4, 4), image::ImageFormat::Bmp)).unwrap();
    let video_path = dir.path().join("clip.mp4");
    let video: Vec<u8> = [&b"\0\0\0\x18ftypisom"[..], &[1, 2, 3, 250, 251]].concat();
    std::fs::write(&video_path, &video).unwrap();

    let sampled = Request {
        messages: vec![
            Message::system("Be brief."),
            Message::user(vec![
                Content::Image(ImageSource::Bytes(jpeg.clone().into())),
                Content::Image(ImageSource::Decoded(decoded.clone())),
                Content::Image(ImageSource::Path(bmp_path)),
                Content::Video(VideoSource::Path(video_path)),
                Content::Text("describe".into()),
            ]),
        ],
        params: SamplingParams {
            max_new_tokens: 33,
            temperature: 0.7,
            top_p: 0.9,
            top_k: 20,
            repetition_penalty: 1.1,
            n: 3,
            seed: u64::MAX,
        },
    };
    // A trailing `/` on base_url is ignored.
    let c = client(fast_config(&format!("{}/", server.base_url)));
    assert_eq!(
        c.model_id(),
        format!("openai:qwen-test@{}", server.base_url)
    );
    let results = c.generate(&[sampled, text_request("plain")]);

    // What the server received.
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one POST per request");
    let first = seen
        .iter()
        .find(|s| s.body["n"] == 3)
        .expect("the sampled request");
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    let b = &first.body;
    assert_eq!(b["model"], "qwen-test");
    assert_eq!(b["max_tokens"], 33);
    assert_eq!(b["temperature"], 0.7);
    assert_eq!(b["top_p"], 0.9);
    assert_eq!(b["top_k"], 20);
    assert_eq!(b["repetition_penalty"], 1.1);
    assert_eq!(
        b["seed"],
        i64::MAX,
        "seed kept within a signed 64-bit integer"
    );
    assert_eq!(
        b["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    let parts = b["messages"][1]["content"].as_array().unwrap();
    assert_eq!(b["messages"][1]["role"], "user");
    assert_eq!(parts.len(), 5);
    // JPEG bytes travel untouched.
    assert_eq!(parts[0]["type"], "image_url");
    assert_eq!(
        data_url_bytes(&parts[0]["image_url"]["url"], "image/jpeg"),
        jpeg
    );
    // A decoded image becomes a lossless PNG of the same pixels.
    let png = data_url_bytes(&parts[1]["image_url"]["url"], "image/png");
    let back = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
    assert_eq!(back.to_rgb8(), *decoded);
    // A BMP file is read and re-encoded as PNG, pixels unchanged.
    let png = data_url_bytes(&parts[2]["image_url"]["url"], "image/png");
    let back = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
    assert_eq!(back.to_rgb8(), gradient(4, 4));
    // The video file goes as it is.
    assert_eq!(parts[3]["type"], "video_url");
    assert_eq!(
        data_url_bytes(&parts[3]["video_url"]["url"], "video/mp4"),
        video
    );
    assert_eq!(parts[4], json!({"type": "text", "text": "describe"}));

    let plain = seen.iter().find(|s| s.body["n"] == 1).unwrap();
    let b = &plain.body;
    assert_eq!(b["temperature"], 0.0);
    assert_eq!(b["seed"], 0);
    assert_eq!(b["max_tokens"], 16);
    assert!(b.get("top_k").is_none(), "top_k 0 is left out: {b}");
    assert!(
        b.get("repetition_penalty").is_none(),
        "penalty 1 is left out: {b}"
    );

    // What came back: choices sorted by index, reasons mapped, usage read.
    let r = results[0].as_ref().expect("sampled request succeeds");
    let texts: Vec<&str> = r.completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["describe#0", "describe#1", "describe#2"]);
    let reasons: Vec<FinishReason> = r.completions.iter().map(|c| c.finish_reason).collect();
    assert_eq!(
        reasons,
        [FinishReason::Stop, FinishReason::Length, FinishReason::Stop]
    );
    assert!(r.completions.iter().all(|c| c.token_ids.is_empty()));
    // echo(): 1 part (system string) + 5 parts, times 10, plus 2 messages.
    assert_eq!(r.prompt_tokens, 62);
    let r = results[1].as_ref().expect("plain request succeeds");
    assert_eq!(r.completions.len(), 1);
    assert_eq!(r.completions[0].text, "plain#0");
    assert_eq!(r.prompt_tokens, 11);
}

#[test]
fn retries_server_errors_then_succeeds() {
    let server = TestServer::start(|seen, arrival| {
        if arrival < 2 {
            Reply::json(503, json!({"message": "warming up"}))
        } else {
            Reply::json(200, echo(seen))
        }
    });
    let results = client(fast_config(&server.base_url)).generate(&[text_request("again")]);
    let r = results[0].as_ref().expect("third attempt succeeds");
    assert_eq!(r.completions[0].text, "again#0");
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "two 503s, then the answer");
    assert!(
        seen.iter().all(|s| s.body == seen[0].body),
        "same body each time"
    );
}

#[test]
fn client_errors_are_not_retried_and_quote_the_server() {
    let long_tail = "x".repeat(5000);
    let server = TestServer::start(move |_, _| {
        Reply::json(
            400,
            json!({"object": "error", "message": format!("unsupported image {long_tail}")}),
        )
    });
    let c = client(fast_config(&server.base_url));
    let err = c.generate(&[text_request("bad")]).remove(0).unwrap_err();
    assert_eq!(server.seen().len(), 1, "a 400 is final");
    let msg = err.to_string();
    assert!(matches!(err, InferenceError::Server(_)), "{msg}");
    assert!(msg.contains(c.url()), "names the URL: {msg}");
    assert!(msg.contains("400"), "names the status: {msg}");
    assert!(msg.contains("unsupported image"), "quotes the body: {msg}");
    assert!(msg.len() < 1000, "body truncated ({} chars)", msg.len());
}

#[test]
fn a_slow_server_times_out_in_bounded_time() {
    let server =
        TestServer::start(|seen, _| Reply::json(200, echo(seen)).after(Duration::from_secs(20)));
    let cfg = OpenAiConfig {
        timeout_secs: 0.3,
        max_retries: 1,
        ..fast_config(&server.base_url)
    };
    let started = Instant::now();
    let err = client(cfg)
        .generate(&[text_request("slow")])
        .remove(0)
        .unwrap_err();
    let elapsed = started.elapsed();
    let msg = err.to_string();
    assert!(msg.contains("timed out"), "{msg}");
    assert!(msg.contains("gave up after 2 attempts"), "{msg}");
    assert_eq!(server.seen().len(), 2, "a timeout is retried");
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(4),
        "two 0.3 s attempts took {elapsed:?}"
    );
}

#[test]
fn concurrency_is_bounded_and_results_keep_request_order() {
    // Later requests are answered sooner, so answers arrive out of order.
    let server = TestServer::start(|seen, _| {
        let text = seen.body["messages"][0]["content"].as_str().unwrap_or("");
        let k: u64 = text.trim_start_matches("req-").parse().unwrap_or(0);
        Reply::json(200, echo(seen)).after(Duration::from_millis(60 + (12 - k) * 15))
    });
    let cfg = OpenAiConfig {
        max_concurrency: 3,
        ..fast_config(&server.base_url)
    };
    let requests: Vec<Request> = (0..12).map(|k| text_request(&format!("req-{k}"))).collect();
    let results = client(cfg).generate(&requests);
    let texts: Vec<String> = results
        .iter()
        .map(|r| r.as_ref().expect("all succeed").completions[0].text.clone())
        .collect();
    let expected: Vec<String> = (0..12).map(|k| format!("req-{k}#0")).collect();
    assert_eq!(texts, expected);
    let max = server.max_in_flight();
    assert!(max <= 3, "{max} requests in flight with max_concurrency 3");
    assert!(max > 1, "requests were sent one at a time");
    let order = server.answer_order();
    assert_eq!(order.len(), 12);
    assert!(
        order.windows(2).any(|w| w[0] > w[1]),
        "server answered in arrival order {order:?}; the test proves nothing"
    );
}

#[test]
fn retry_after_is_honoured() {
    let server = TestServer::start(|seen, arrival| {
        if arrival == 0 {
            Reply::json(429, json!({"message": "slow down"})).header("retry-after", "1")
        } else {
            Reply::json(200, echo(seen))
        }
    });
    let started = Instant::now();
    let results = client(fast_config(&server.base_url)).generate(&[text_request("patience")]);
    let elapsed = started.elapsed();
    assert_eq!(
        results[0].as_ref().unwrap().completions[0].text,
        "patience#0"
    );
    assert_eq!(server.seen().len(), 2);
    assert!(
        elapsed >= Duration::from_secs(1),
        "retried after {elapsed:?} although the server asked for 1 s (backoff is 10 ms)"
    );
}

#[test]
fn one_bad_request_does_not_stop_the_batch() {
    let server = echo_server();
    let frames = Request {
        messages: vec![Message::user(vec![
            Content::Text("what happens".into()),
            Content::Video(VideoSource::Frames(VideoClip {
                frames: vec![Arc::new(gradient(2, 2))],
                timestamps: vec![0.0],
            })),
        ])],
        params: SamplingParams::greedy(8),
    };
    let garbage = Request {
        messages: vec![Message::user(vec![Content::Image(ImageSource::Bytes(
            b"not an image at all".to_vec().into(),
        ))])],
        params: SamplingParams::greedy(8),
    };
    let missing = Request {
        messages: vec![Message::user(vec![Content::Image(ImageSource::Path(
            "/nonexistent/weft/page.png".into(),
        ))])],
        params: SamplingParams::greedy(8),
    };
    let zero_n = Request {
        params: SamplingParams {
            n: 0,
            ..SamplingParams::greedy(8)
        },
        ..text_request("none")
    };
    let batch = [
        text_request("a"),
        frames,
        garbage,
        text_request("b"),
        missing,
        zero_n,
    ];
    let results = client(fast_config(&server.base_url)).generate(&batch);
    assert_eq!(results.len(), 6);
    assert_eq!(results[0].as_ref().unwrap().completions[0].text, "a#0");
    assert_eq!(results[3].as_ref().unwrap().completions[0].text, "b#0");
    let err = |i: usize| results[i].as_ref().unwrap_err();
    assert!(
        matches!(err(1), InferenceError::Unsupported(m) if m.contains("message 0, part 1") && m.contains("Frames")),
        "{}",
        err(1)
    );
    assert!(
        matches!(err(2), InferenceError::Media(m) if m.contains("unrecognised image format")),
        "{}",
        err(2)
    );
    assert!(
        matches!(err(4), InferenceError::Io { path, .. } if path.ends_with("page.png")),
        "{}",
        err(4)
    );
    assert!(matches!(err(5), InferenceError::Request(_)), "{}", err(5));
    assert_eq!(
        server.seen().len(),
        2,
        "bad requests never reach the server"
    );
}

#[test]
fn unusable_answers_are_errors() {
    let server = TestServer::start(|seen, _| {
        let text = seen.body["messages"][0]["content"].as_str().unwrap_or("");
        let mut answer = echo(seen);
        match text {
            "tool" => answer["choices"][0]["finish_reason"] = json!("tool_calls"),
            "null" => answer["choices"][0]["finish_reason"] = Value::Null,
            "few" => answer["choices"].as_array_mut().unwrap().truncate(1),
            "nousage" => {
                answer.as_object_mut().unwrap().remove("usage");
            }
            "nocontent" => answer["choices"][0]["message"]["content"] = Value::Null,
            _ => {
                return Reply {
                    status: 200,
                    headers: Vec::new(),
                    body: "<html>proxy error</html>".into(),
                    delay: Duration::ZERO,
                };
            }
        }
        Reply::json(200, answer)
    });
    let few = Request {
        params: SamplingParams {
            n: 2,
            ..SamplingParams::greedy(8)
        },
        ..text_request("few")
    };
    let batch = [
        text_request("tool"),
        text_request("null"),
        few,
        text_request("nousage"),
        text_request("nocontent"),
        text_request("html"),
    ];
    let results = client(fast_config(&server.base_url)).generate(&batch);
    let expect = [
        "\"tool_calls\" is neither",
        "finish_reason null is neither",
        "asked for 2 choices, got 1",
        "no usage.prompt_tokens",
        "choice 0: no message content",
        "<html>proxy error</html>",
    ];
    for (r, want) in results.iter().zip(expect) {
        let msg = r.as_ref().unwrap_err().to_string();
        assert!(msg.contains(want), "{msg:?} lacks {want:?}");
        assert!(msg.contains("/v1/chat/completions"), "{msg}");
    }
    assert_eq!(
        server.seen().len(),
        6,
        "a 200 that cannot be used is not retried"
    );
}

#[test]
fn connection_refused_is_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = OpenAiConfig {
        max_retries: 2,
        ..fast_config(&format!("http://127.0.0.1:{port}/v1"))
    };
    let started = Instant::now();
    let err = client(cfg)
        .generate(&[text_request("anyone")])
        .remove(0)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("POST http://127.0.0.1:{port}/v1/chat/completions")),
        "{msg}"
    );
    assert!(msg.contains("gave up after 3 attempts"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn generate_can_be_called_from_async_code() {
    let server = echo_server();
    let c = client(fast_config(&server.base_url));
    let results = c.generate(&[text_request("inside")]);
    assert_eq!(results[0].as_ref().unwrap().completions[0].text, "inside#0");
    assert!(c.generate(&[]).is_empty());
    drop(c); // dropping the client's runtime here must not panic
}

#[test]
fn max_concurrency_is_shared_by_concurrent_generate_calls() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let server = TestServer::start(move |seen, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        Reply::json(200, echo(seen)).after(Duration::from_millis(80))
    });
    let cfg = OpenAiConfig {
        max_concurrency: 2,
        ..fast_config(&server.base_url)
    };
    let c = client(cfg);
    let batch: Vec<Request> = (0..4).map(|k| text_request(&format!("t{k}"))).collect();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let results = c.generate(&batch);
                assert!(results.iter().all(|r| r.is_ok()));
            });
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 12);
    let max = server.max_in_flight();
    assert!(
        max == 2,
        "{max} in flight over three generate calls with max_concurrency 2"
    );
}

#[test]
fn config_reads_with_defaults_and_refuses_unknown_or_bad_values() {
    let cfg: OpenAiConfig =
        serde_json::from_value(json!({"base_url": "http://h:8000/v1", "model": "m"})).unwrap();
    assert_eq!(cfg, OpenAiConfig::new("http://h:8000/v1", "m"));
    assert_eq!(cfg.max_concurrency, 16);
    assert_eq!(cfg.timeout_secs, 300.0);
    assert_eq!(cfg.max_retries, 4);
    assert_eq!(cfg.initial_backoff_secs, 0.5);
    let err = serde_json::from_value::<OpenAiConfig>(
        json!({"base_url": "http://h/v1", "model": "m", "timeout": 3}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `timeout`"), "{err}");

    let secret = OpenAiConfig {
        api_key: Some("sk-secret".into()),
        ..cfg.clone()
    };
    assert!(
        !serde_json::to_string(&secret)
            .unwrap()
            .contains("sk-secret")
    );
    assert!(!format!("{secret:?}").contains("sk-secret"));

    for (bad, field) in [
        (OpenAiConfig::new("ftp://h/v1", "m"), "scheme"),
        (OpenAiConfig::new("not a url", "m"), "base_url"),
        (OpenAiConfig::new("http://h/v1", " "), "model"),
        (
            OpenAiConfig {
                max_concurrency: 0,
                ..cfg.clone()
            },
            "max_concurrency",
        ),
        (
            OpenAiConfig {
                timeout_secs: 0.0,
                ..cfg.clone()
            },
            "timeout_secs",
        ),
        (
            OpenAiConfig {
                initial_backoff_secs: f64::NAN,
                ..cfg.clone()
            },
            "initial_backoff_secs",
        ),
    ] {
        let msg = OpenAiClient::new(bad).err().expect("refused").to_string();
        assert!(msg.contains(field), "{msg:?} should name {field}");
    }
}

#[test]
fn backoff_doubles_with_bounded_deterministic_jitter() {
    let cfg = OpenAiConfig {
        initial_backoff_secs: 0.5,
        max_backoff_secs: 4.0,
        ..OpenAiConfig::new("http://h/v1", "m")
    };
    for salt in [0u64, 1, 99, u64::MAX] {
        for attempt in 0..8u32 {
            let d = call::backoff(&cfg, attempt, salt).as_secs_f64();
            let base = 0.5 * 2f64.powi(attempt as i32);
            assert!(
                d >= (0.75 * base).min(4.0) && d < 1.25 * base && d <= 4.0,
                "attempt {attempt}: {d} s for base {base} s"
            );
            assert_eq!(call::backoff(&cfg, attempt, salt).as_secs_f64(), d);
        }
    }
    let spread: std::collections::BTreeSet<u128> = (0..32)
        .map(|salt| call::backoff(&cfg, 1, salt).as_nanos())
        .collect();
    assert!(spread.len() > 16, "jitter spreads requests: {spread:?}");
    // Retry-After wins, bounded by the per-attempt timeout.
    let wait = call::wait_before_retry(&cfg, 0, 0, Some(Duration::from_secs(7)));
    assert_eq!(wait, Duration::from_secs(7));
    let wait = call::wait_before_retry(&cfg, 0, 0, Some(Duration::from_secs(7200)));
    assert_eq!(wait, cfg.timeout());
}
