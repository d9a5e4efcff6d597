//! A [`VisionLanguageModel`] backed by an OpenAI-compatible chat-completions server (vLLM,
//! SGLang), for when a pipeline runs on a cluster next to a serving fleet instead of on the
//! native model.
//!
//! Why a blocking API over async HTTP: pipelines call `generate` from rayon workers, so the
//! client owns a small tokio runtime and blocks on it. Inside, every request of a batch is its
//! own task; a semaphore shared by all `generate` calls on the client keeps at most
//! `max_concurrency` of them at the server, so rayon's parallelism and the batch size can grow
//! without overrunning it. Results come back in request order whatever order the server answers
//! in, and each request fails on its own: one bad image or one exhausted retry budget is that
//! record's quarantine reason, not the batch's end.
//!
//! Files: `config` (settings), `body` (request → JSON, media as data URLs), `call` (one
//! POST, retries and backoff), `reply` (JSON → [`Response`]).

mod body;
mod call;
mod config;
mod reply;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::api::{Request, Response, VisionLanguageModel};
use crate::error::{InferenceError, Result};

pub use config::OpenAiConfig;

/// Sends [`Request`]s to `{base_url}/chat/completions` of an OpenAI-compatible server.
///
/// Media are sent inline as base64 data URLs; pre-sampled video frames
/// ([`crate::VideoSource::Frames`]) are refused for their request, since the chat API has no
/// way to carry their timestamps. Completions carry no token ids (servers do not return them).
pub struct OpenAiClient {
    shared: Arc<Shared>,
    id: String,
    /// `Option` only so `Drop` can shut it down without blocking (see there).
    runtime: Option<tokio::runtime::Runtime>,
}

/// What every request task needs.
struct Shared {
    config: OpenAiConfig,
    url: String,
    api_key: Option<String>,
    http: reqwest::Client,
    slots: Semaphore,
}

impl OpenAiClient {
    /// Checks `config` and builds the client; nothing is sent until [`VisionLanguageModel::generate`].
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        Self::build(config, true)
    }

    /// `proxy_from_env: false` ignores `HTTP(S)_PROXY`, so the loopback tests never go through a
    /// proxy configured on the machine running them.
    fn build(config: OpenAiConfig, proxy_from_env: bool) -> Result<Self> {
        config.validate()?;
        let root = config.api_root()?;
        let api_key = config
            .api_key
            .clone()
            .or_else(|| std::env::var("OPENAI_API_KEY").ok())
            .filter(|k| !k.is_empty());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("weft-openai")
            .enable_all()
            .build()
            .map_err(|e| {
                InferenceError::Server(format!("cannot start the HTTP client runtime: {e}"))
            })?;
        let mut http = reqwest::Client::builder()
            .timeout(config.timeout())
            .connect_timeout(config.connect_timeout())
            .pool_max_idle_per_host(config.max_concurrency)
            .user_agent(concat!("weft-inference/", env!("CARGO_PKG_VERSION")));
        if !proxy_from_env {
            http = http.no_proxy();
        }
        let http = {
            let _in_runtime = runtime.enter();
            http.build()
                .map_err(|e| InferenceError::Server(format!("cannot build the HTTP client: {e}")))?
        };
        Ok(OpenAiClient {
            id: format!("openai:{}@{root}", config.model),
            shared: Arc::new(Shared {
                url: format!("{root}/chat/completions"),
                slots: Semaphore::new(config.max_concurrency),
                config,
                api_key,
                http,
            }),
            runtime: Some(runtime),
        })
    }

    /// The endpoint requests are posted to.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    async fn run_batch(&self, requests: &[Request]) -> Vec<Result<Response>> {
        let tasks: Vec<_> = requests
            .iter()
            .enumerate()
            .map(|(i, request)| {
                let shared = Arc::clone(&self.shared);
                let request = request.clone();
                tokio::spawn(async move { shared.complete(i as u64, request).await })
            })
            .collect();
        let mut results = Vec::with_capacity(tasks.len());
        for task in tasks {
            results.push(task.await.unwrap_or_else(|e| {
                Err(InferenceError::Server(format!(
                    "{}: request task failed: {e}",
                    self.shared.url
                )))
            }));
        }
        results
    }
}

impl Shared {
    /// One request, start to end: checks, a slot, the body, attempts, the parsed answer.
    async fn complete(&self, index: u64, request: Request) -> Result<Response> {
        request.params.validate()?;
        let n = request.params.n;
        // Held from building the body to the last attempt, so at most `max_concurrency` bodies
        // (images inline) are in memory and requests at the server, retries and waits included.
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| InferenceError::Server(format!("{}: {e}", self.url)))?;
        let model = self.config.model.clone();
        let body = tokio::task::spawn_blocking(move || body::chat_body(&model, &request))
            .await
            .map_err(|e| {
                InferenceError::Server(format!("{}: building the request failed: {e}", self.url))
            })??;
        let answer = self.post_with_retries(index, body).await?;
        reply::parse(&answer, n)
            .map_err(|reason| InferenceError::Server(format!("POST {}: {reason}", self.url)))
    }

    async fn post_with_retries(&self, index: u64, body: Vec<u8>) -> Result<Vec<u8>> {
        let cfg = &self.config;
        let salt = call::splitmix64(u64::from(std::process::id())) ^ index;
        let mut attempt = 0;
        loop {
            let failure =
                match call::attempt(&self.http, &self.url, self.api_key.as_deref(), body.clone())
                    .await
                {
                    Ok(answer) => return Ok(answer),
                    Err(f) => f,
                };
            match failure {
                call::Failure::Final(reason) => {
                    return Err(InferenceError::Server(format!(
                        "POST {}: {reason}",
                        self.url
                    )));
                }
                call::Failure::Transient { reason, .. } if attempt >= cfg.max_retries => {
                    return Err(InferenceError::Server(format!(
                        "POST {}: gave up after {} attempts; last: {reason}",
                        self.url,
                        attempt + 1
                    )));
                }
                call::Failure::Transient { retry_after, .. } => {
                    let wait = call::wait_before_retry(cfg, attempt, salt, retry_after);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }
}

impl VisionLanguageModel for OpenAiClient {
    fn model_id(&self) -> &str {
        &self.id
    }

    /// Sends all requests concurrently (bounded by `max_concurrency`) and waits for all of them.
    /// Callable from any thread, an async one included (it then blocks on a scoped thread,
    /// since a runtime cannot be blocked on from inside another).
    fn generate(&self, requests: &[Request]) -> Vec<Result<Response>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        let run = || runtime.block_on(self.run_batch(requests));
        if tokio::runtime::Handle::try_current().is_err() {
            return run();
        }
        std::thread::scope(|s| match s.spawn(run).join() {
            Ok(results) => results,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }
}

impl Drop for OpenAiClient {
    /// Dropping a runtime blocks, which panics inside an async context; this does not.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
