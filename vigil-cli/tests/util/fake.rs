//! A fake vigild for tests: a real Unix socket in a fresh directory, served
//! by a thread that answers each connection with the next canned reply and
//! records what it was asked.
//!
//! The client code is then exercised end to end (connect, request bytes,
//! response parsing, timeouts, Ctrl-C) without a daemon. Both the unit
//! tests (through `#[path]`) and the integration tests use this file.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the server waits for the next connection, or for a held client
/// to go away, before it gives up so that a broken test fails instead of
/// hanging.
const PATIENCE: Duration = Duration::from_secs(20);

/// How a chunked reply ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// The last chunk (`0\r\n\r\n`), then close.
    Finish,
    /// Close without the last chunk.
    Close,
    /// Keep the connection open until the client closes it.
    Hold,
}

/// One canned answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// A chunked body: each part is one chunk, sent after its delay.
    Chunks {
        /// The HTTP status.
        status: u16,
        /// Chunk text and the delay before it, in milliseconds.
        parts: Vec<(Vec<u8>, u64)>,
        /// What happens after the parts.
        then: After,
    },
    /// No answer: wait until the client closes the connection.
    Hold,
    /// Close the connection without answering.
    Close,
}

impl Reply {
    /// A JSON reply with `Content-Length`.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        let body = body.to_string();
        Self::Raw(
            format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                reason(status),
                body.len()
            )
            .into_bytes(),
        )
    }

    /// A sync envelope around `result`.
    pub fn sync(result: serde_json::Value) -> Self {
        Self::json(
            200,
            serde_json::json!({"type": "sync", "status-code": 200, "status": "OK", "result": result}),
        )
    }

    /// A sync envelope around `result`, given as JSON text so that its key
    /// order is exactly as written.
    pub fn sync_text(result: &str) -> Self {
        let body =
            format!(r#"{{"type":"sync","status-code":200,"status":"OK","result":{result}}}"#);
        Self::Raw(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        )
    }

    /// An async envelope naming `change`.
    pub fn change(change: u64) -> Self {
        Self::json(
            202,
            serde_json::json!({"type": "async", "status-code": 202, "status": "Accepted",
                               "change": change.to_string(), "result": null}),
        )
    }

    /// An error envelope.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({"type": "error", "status-code": status, "status": reason(status),
                               "result": {"message": message}}),
        )
    }

    /// A chunked reply of `parts` (text, delay in ms), properly finished.
    pub fn chunks(status: u16, parts: &[(&str, u64)]) -> Self {
        Self::Chunks {
            status,
            parts: parts
                .iter()
                .map(|(text, delay)| (text.as_bytes().to_vec(), *delay))
                .collect(),
            then: After::Finish,
        }
    }

    /// A chunked reply of `parts` that ends as `then` says.
    pub fn chunks_then(status: u16, parts: &[(&str, u64)], then: After) -> Self {
        match Self::chunks(status, parts) {
            Self::Chunks { status, parts, .. } => Self::Chunks {
                status,
                parts,
                then,
            },
            other => other,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        _ => "Whatever",
    }
}

/// A request as the fake server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query as sent.
    pub target: String,
    /// The `Authorization` header, if one came.
    pub authorization: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// The server: a socket in its own directory and the thread behind it.
#[derive(Debug)]
pub struct FakeServer {
    dir: PathBuf,
    socket: PathBuf,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Binds a fresh socket and answers one connection per reply, in order.
    pub fn start(replies: Vec<Reply>) -> Self {
        let dir = fresh_dir();
        let socket = dir.join("vigild.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let thread = thread::spawn(move || serve(&listener, replies, &record));
        Self {
            dir,
            socket,
            seen,
            thread: Some(thread),
        }
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// How many requests have arrived so far.
    pub fn requests_so_far(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Waits until at least `count` requests have arrived, or panics after a
    /// while.
    pub fn wait_for_requests(&self, count: usize) {
        let give_up = Instant::now() + PATIENCE;
        while self.requests_so_far() < count {
            assert!(
                Instant::now() < give_up,
                "only {} of {count} requests arrived",
                self.requests_so_far()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until every reply was given (or the server gave up) and returns
    /// the requests, in order.
    pub fn finish(mut self) -> Vec<Seen> {
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new empty directory under the system's temporary directory.
pub fn fresh_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!(
        "vigil-cli-test-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn serve(listener: &UnixListener, replies: Vec<Reply>, seen: &Mutex<Vec<Seen>>) {
    for reply in replies {
        let Some(mut stream) = accept(listener) else {
            break;
        };
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        match read_request(&mut stream) {
            Ok(request) => seen.lock().unwrap().push(request),
            Err(_) => continue,
        }
        // The client may be gone already (a test of its timeout); that is
        // not the server's failure.
        let _ = answer(&mut stream, reply);
    }
}

fn accept(listener: &UnixListener) -> Option<UnixStream> {
    let give_up = Instant::now() + PATIENCE;
    while Instant::now() < give_up {
        match listener.accept() {
            Ok((stream, _)) => return Some(stream),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(_) => return None,
        }
    }
    None
}

fn read_request(stream: &mut UnixStream) -> io::Result<Seen> {
    let mut bytes = Vec::new();
    let mut buf = [0; 4096];
    let head_end = loop {
        if let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let count = stream.read(&mut buf)?;
        if count == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(&buf[..count]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let fields: Vec<(&str, &str)> = lines.filter_map(|line| line.split_once(':')).collect();
    let field = |wanted: &str| {
        fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.trim().to_owned())
    };
    let length: usize = field("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let authorization = field("authorization");
    let mut body = bytes[head_end..].to_vec();
    while body.len() < length {
        let count = stream.read(&mut buf)?;
        if count == 0 {
            break;
        }
        body.extend_from_slice(&buf[..count]);
    }
    Ok(Seen {
        method,
        target,
        authorization,
        body,
    })
}

fn answer(stream: &mut UnixStream, reply: Reply) -> io::Result<()> {
    match reply {
        Reply::Raw(bytes) => stream.write_all(&bytes),
        Reply::Chunks {
            status,
            parts,
            then,
        } => {
            let head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n",
                reason(status)
            );
            stream.write_all(head.as_bytes())?;
            for (part, delay) in parts {
                thread::sleep(Duration::from_millis(delay));
                let mut chunk = format!("{:x}\r\n", part.len()).into_bytes();
                chunk.extend_from_slice(&part);
                chunk.extend_from_slice(b"\r\n");
                stream.write_all(&chunk)?;
            }
            match then {
                After::Finish => stream.write_all(b"0\r\n\r\n"),
                After::Close => Ok(()),
                After::Hold => hold(stream),
            }
        }
        Reply::Hold => hold(stream),
        Reply::Close => Ok(()),
    }
}

/// Waits for the client to close; `PATIENCE` bounds it.
fn hold(stream: &mut UnixStream) -> io::Result<()> {
    let mut buf = [0; 256];
    while stream.read(&mut buf)? > 0 {}
    Ok(())
}
