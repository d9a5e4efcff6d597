//! Downloading a batch of image URLs without hanging or running out of memory — the failure
//! users of other curation tools report most.
//!
//! - **bounded concurrency**: at most `concurrency` requests in flight, and at most `per_host`
//!   to any one host (politeness: a list dominated by one CDN does not hammer it);
//! - **timeouts**: a connect timeout and a total per-request timeout (headers *and* body);
//! - **retries with exponential backoff** on timeouts, connection errors, 429 and 5xx; other
//!   statuses fail at once;
//! - **size cap**: refused from `Content-Length` when given, else while streaming the body;
//! - **content checks**: an HTML / text content type is refused (`not_an_image`); the bytes are
//!   decoded and checked later by `normalise_images` whatever the header said.
//!
//! Results come back in input order, each `Ok(bytes)` or `Err((reason, message))`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Semaphore;

fn d_concurrency() -> usize {
    32
}
fn d_per_host() -> usize {
    4
}
fn d_timeout() -> f64 {
    20.0
}
fn d_connect() -> f64 {
    5.0
}
fn d_retries() -> u32 {
    2
}
fn d_backoff() -> f64 {
    0.5
}
fn d_max_bytes() -> u64 {
    32 << 20
}
fn d_agent() -> String {
    concat!(
        "weft/",
        env!("CARGO_PKG_VERSION"),
        " (image-caption dataset builder)"
    )
    .into()
}

/// Download settings (the `fetch` table of `caption_source`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchOptions {
    /// Requests in flight at once.
    #[serde(default = "d_concurrency")]
    pub concurrency: usize,
    /// Requests in flight per host.
    #[serde(default = "d_per_host")]
    pub per_host: usize,
    /// Seconds per request attempt, body included.
    #[serde(default = "d_timeout")]
    pub timeout_s: f64,
    /// Seconds to connect.
    #[serde(default = "d_connect")]
    pub connect_timeout_s: f64,
    /// Extra attempts after a retryable failure.
    #[serde(default = "d_retries")]
    pub retries: u32,
    /// First backoff in seconds; doubles per attempt.
    #[serde(default = "d_backoff")]
    pub backoff_s: f64,
    /// Largest body accepted.
    #[serde(default = "d_max_bytes")]
    pub max_bytes: u64,
    /// User-Agent header.
    #[serde(default = "d_agent")]
    pub user_agent: String,
}

impl Default for FetchOptions {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

/// A failed download: (reason, message).
pub type FetchError = (String, String);

fn host_of(url: &str) -> Option<String> {
    reqwest::Url::parse(url).ok().and_then(|u| {
        u.host_str()
            .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
    })
}

/// Downloads every URL; results in input order.
pub fn fetch_all(urls: &[String], opts: &FetchOptions) -> Vec<Result<Vec<u8>, FetchError>> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let msg = format!("cannot start the download runtime: {e}");
            return urls
                .iter()
                .map(|_| Err(("fetch_setup".into(), msg.clone())))
                .collect();
        }
    };
    rt.block_on(fetch_async(urls, opts))
}

async fn fetch_async(urls: &[String], opts: &FetchOptions) -> Vec<Result<Vec<u8>, FetchError>> {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(opts.timeout_s))
        .connect_timeout(Duration::from_secs_f64(opts.connect_timeout_s))
        .user_agent(opts.user_agent.clone())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("cannot build the HTTP client: {e}");
            return urls
                .iter()
                .map(|_| Err(("fetch_setup".into(), msg.clone())))
                .collect();
        }
    };
    let global = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut hosts: BTreeMap<String, Arc<Semaphore>> = BTreeMap::new();
    let mut handles = Vec::with_capacity(urls.len());
    for url in urls {
        let Some(host) = host_of(url) else {
            handles.push(None);
            continue;
        };
        let host_sem = hosts
            .entry(host)
            .or_insert_with(|| Arc::new(Semaphore::new(opts.per_host.max(1))))
            .clone();
        let (client, global, url, opts) =
            (client.clone(), global.clone(), url.clone(), opts.clone());
        handles.push(Some(tokio::spawn(async move {
            fetch_one(&client, &url, &opts, &host_sem, &global).await
        })));
    }
    let mut out = Vec::with_capacity(urls.len());
    for (h, url) in handles.into_iter().zip(urls) {
        out.push(match h {
            None => Err((
                "bad_url".into(),
                format!("{url}: not an absolute http(s) URL"),
            )),
            Some(h) => h
                .await
                .unwrap_or_else(|e| Err(("fetch_panic".into(), e.to_string()))),
        });
    }
    out
}

enum Attempt {
    Done(Result<Vec<u8>, FetchError>),
    Retry(FetchError),
}

/// One URL with retries. The permits (per host, then global) are taken per attempt and
/// released before a backoff sleep, so a sleeping retry does not block other downloads.
async fn fetch_one(
    client: &reqwest::Client,
    url: &str,
    opts: &FetchOptions,
    host_sem: &Semaphore,
    global: &Semaphore,
) -> Result<Vec<u8>, FetchError> {
    let mut last: FetchError = ("fetch_failed".into(), String::new());
    for attempt in 0..=opts.retries {
        if attempt > 0 {
            let wait = opts.backoff_s * f64::from(1u32 << (attempt - 1).min(10));
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
        let result = {
            let _h = host_sem.acquire().await.expect("never closed");
            let _g = global.acquire().await.expect("never closed");
            try_once(client, url, opts).await
        };
        match result {
            Attempt::Done(r) => return r,
            Attempt::Retry(e) => last = e,
        }
    }
    last.1 = format!("{} (after {} attempts)", last.1, opts.retries + 1);
    Err(last)
}

fn classify(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect_error"
    } else {
        "fetch_failed"
    }
}

async fn try_once(client: &reqwest::Client, url: &str, opts: &FetchOptions) -> Attempt {
    let mut resp = match client.get(url).send().await {
        Ok(r) => r,
        Err(e) => return Attempt::Retry((classify(&e).into(), format!("{url}: {e}"))),
    };
    let status = resp.status();
    if !status.is_success() {
        let e = (
            format!("http_{}", status.as_u16()),
            format!("{url}: HTTP {status}"),
        );
        return if status.as_u16() == 429 || status.is_server_error() {
            Attempt::Retry(e)
        } else {
            Attempt::Done(Err(e))
        };
    }
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("text/") || ctype.contains("html") || ctype.contains("json") {
        return Attempt::Done(Err((
            "not_an_image".into(),
            format!("{url}: content type {ctype:?} is not an image"),
        )));
    }
    if let Some(len) = resp.content_length()
        && len > opts.max_bytes
    {
        return Attempt::Done(Err((
            "too_big".into(),
            format!("{url}: {len} bytes exceed max_bytes {}", opts.max_bytes),
        )));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                body.extend_from_slice(&c);
                if body.len() as u64 > opts.max_bytes {
                    return Attempt::Done(Err((
                        "too_big".into(),
                        format!("{url}: body over max_bytes {}", opts.max_bytes),
                    )));
                }
            }
            Ok(None) => break,
            Err(e) => return Attempt::Retry((classify(&e).into(), format!("{url}: {e}"))),
        }
    }
    Attempt::Done(Ok(body))
}
