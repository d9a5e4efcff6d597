//! A scriptable OpenAI-compatible server on loopback for the client tests: hand-written
//! HTTP/1.1 (keep-alive, `Content-Length` bodies) on tokio, on its own thread and runtime so the
//! blocking client under test can call it. It records every request and the most requests it
//! ever held at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request target, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer, after `delay`.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Decides the answer from the request and its arrival number (0-based, over the server's life).
pub type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

struct State {
    handler: Box<Handler>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    answered: Mutex<Vec<usize>>,
}

pub struct TestServer {
    /// `http://127.0.0.1:PORT/v1`, the client's `base_url`.
    pub base_url: String,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        let state = Arc::new(State {
            handler: Box::new(handler),
            seen: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            answered: Mutex::new(Vec::new()),
        });
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let st = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((conn, _)) = listener.accept().await else {
                            continue;
                        };
                        tokio::spawn(serve(conn, Arc::clone(&st)));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            rt.shutdown_background();
        });
        TestServer {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Arrival numbers in the order their answers were sent.
    pub fn answer_order(&self) -> Vec<usize> {
        self.state.answered.lock().unwrap().clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves requests on one connection until the client closes it.
async fn serve(conn: TcpStream, state: Arc<State>) {
    let (read, mut write) = conn.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if read.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .expect("the client sends Content-Length");
        let mut raw = vec![0u8; len];
        if read.read_exact(&mut raw).await.is_err() {
            return;
        }
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let seen = Seen {
            path,
            headers,
            body: serde_json::from_slice(&raw)
                .unwrap_or_else(|e| json!({ "unparsable": e.to_string() })),
        };
        let arrival = {
            let mut all = state.seen.lock().unwrap();
            all.push(seen.clone());
            all.len() - 1
        };
        let reply = (state.handler)(&seen, arrival);
        tokio::time::sleep(reply.delay).await;
        // Counted out before answering: the client holds its slot until it has the answer, so
        // the server's count can never run ahead of the client's limit.
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        state.answered.lock().unwrap().push(arrival);
        let mut head = format!(
            "HTTP/1.1 {} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if write.write_all(head.as_bytes()).await.is_err()
            || write.write_all(reply.body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

/// A normal answer: choice `i` is `"<all text of the last message>#i"`, choices listed in
/// reverse index order (the client must sort them), even indices `stop`, odd ones `length`;
/// `prompt_tokens` is the number of content parts in all messages times 10 plus the message
/// count, so the test can check it came from this request.
pub fn echo(seen: &Seen) -> Value {
    let body = &seen.body;
    let n = body["n"].as_u64().unwrap_or(1);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let last = messages.last().cloned().unwrap_or(Value::Null);
    let text = match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    };
    let parts: usize = messages
        .iter()
        .map(|m| m["content"].as_array().map_or(1, Vec::len))
        .sum();
    let choices: Vec<Value> = (0..n)
        .rev()
        .map(|i| {
            json!({
                "index": i,
                "message": { "role": "assistant", "content": format!("{text}#{i}") },
                "finish_reason": if i % 2 == 0 { "stop" } else { "length" },
                "logprobs": null,
            })
        })
        .collect();
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": body["model"],
        "choices": choices,
        "usage": {
            "prompt_tokens": parts * 10 + messages.len(),
            "completion_tokens": 1,
            "total_tokens": parts * 10 + messages.len() + 1,
        },
    })
}
