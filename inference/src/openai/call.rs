//! One request over HTTP: POST, classify the failure, wait, try again.
//!
//! What is retried is what can pass on its own: connection failures, timeouts, 408, 429 and 5xx.
//! Any other 4xx means the request itself is wrong, so it fails at once with the server's reason.
//! Waits double from `initial_backoff_secs` up to `max_backoff_secs`, or follow the server's
//! `Retry-After`. The jitter that keeps a fleet of ranks from retrying in lockstep is a hash of
//! (process, request index, attempt): it only moves *when* an attempt is sent, never what is
//! sent or what comes back, so results stay a function of the requests.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

use super::config::OpenAiConfig;

/// The most bytes of a server's body quoted in an error.
const EXCERPT_BYTES: usize = 512;

/// Why an attempt failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// Worth another attempt; the server may have said how long to wait.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Another attempt would fail the same way.
    Final(String),
}

/// Sends `body` once. `Ok` is the body of a 2xx answer.
pub(super) async fn attempt(
    http: &reqwest::Client,
    url: &str,
    api_key: Option<&str>,
    body: Vec<u8>,
) -> Result<Vec<u8>, Failure> {
    let mut post = http
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(key) = api_key {
        post = post.bearer_auth(key);
    }
    let answer = post.send().await.map_err(transport_failure)?;
    let status = answer.status();
    let retry_after = retry_after(answer.headers());
    let bytes = answer.bytes().await.map_err(transport_failure)?.to_vec();
    if status.is_success() {
        return Ok(bytes);
    }
    let reason = format!("HTTP {status}: {}", excerpt(&bytes));
    if is_transient(status) {
        Err(Failure::Transient {
            reason,
            retry_after,
        })
    } else {
        Err(Failure::Final(reason))
    }
}

fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Network-level errors: everything that reached no HTTP status. Connection, timeout, reset and
/// truncated-body errors may pass; a request reqwest could not even build will not.
fn transport_failure(e: reqwest::Error) -> Failure {
    let reason = error_chain(&e);
    if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() {
        Failure::Transient {
            reason,
            retry_after: None,
        }
    } else {
        Failure::Final(reason)
    }
}

/// `Retry-After` in seconds (HTTP dates are not worth a date parser here; they fall back to the
/// backoff).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
}

/// How long to wait after failed attempt `attempt` (0-based) of request `salt`.
/// `Retry-After` wins over the backoff, bounded by the per-attempt timeout so a server asking
/// for an hour does not stall a batch for an hour.
pub(super) fn wait_before_retry(
    cfg: &OpenAiConfig,
    attempt: u32,
    salt: u64,
    retry_after: Option<Duration>,
) -> Duration {
    match retry_after {
        Some(d) => d.min(cfg.timeout()),
        None => backoff(cfg, attempt, salt),
    }
}

/// `initial × 2^attempt`, scaled by a jitter factor in [0.75, 1.25), capped at the maximum.
pub(super) fn backoff(cfg: &OpenAiConfig, attempt: u32, salt: u64) -> Duration {
    let base = cfg.initial_backoff_secs * 2f64.powi(attempt.min(60) as i32);
    let unit = (splitmix64(salt ^ (u64::from(attempt) << 48)) >> 11) as f64 / (1u64 << 53) as f64;
    let secs = (base * (0.75 + 0.5 * unit)).min(cfg.max_backoff_secs);
    Duration::from_secs_f64(secs)
}

/// A well-mixed 64-bit hash (SplitMix64's finaliser).
pub(super) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The error and its causes, `a: b: c` (reqwest's own message hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}

/// The start of a body as text, for error messages.
pub(super) fn excerpt(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".into();
    }
    let cut = body.len().min(EXCERPT_BYTES);
    let text = String::from_utf8_lossy(&body[..cut]);
    let text = text.trim_end_matches('\u{fffd}').trim();
    if cut < body.len() {
        format!("{text}… ({} bytes in all)", body.len())
    } else {
        text.to_string()
    }
}
