//! HTTP/1.1 on one blocking stream: the request bytes, the response head
//! (parsed with httparse) and the body, framed by `Content-Length`, by
//! chunked encoding (RFC 9112 §7.1) or by the end of the connection.
//!
//! One request per connection: every request says `Connection: close`, so
//! no response is ever read past its end and no pool is needed. The body is
//! a [`Read`] that returns bytes as soon as they arrive, which is what
//! streams (`logs -f`) need: a chunk's trailing CRLF is consumed lazily, at
//! the next read, so a complete line never waits for the next chunk.
//!
//! Deadlines and Ctrl-C live in [`Conn`], below the framing: every read
//! there checks them, so neither a slow reply nor a long wait can hang the
//! CLI past its timeout or past Ctrl-C.

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Largest response head (status line and headers) we accept. vigild's own
/// heads are a few hundred bytes; this only stops a broken peer.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Most header fields in one response head.
const MAX_HEADERS: usize = 64;

/// Largest chunk-size line or trailer line in a chunked body.
const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// How often a blocking read wakes to look at the Ctrl-C flag. A signal
/// normally interrupts the read at once (the handler has no `SA_RESTART`);
/// this bounds the delay when it arrives just before the read starts.
const INTERRUPT_POLL: Duration = Duration::from_millis(200);

/// Why a read on a [`Conn`] stopped early. It travels inside an
/// [`io::Error`] so that it passes through `BufRead` and the framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The deadline of the request passed.
    TimedOut,
    /// Ctrl-C was pressed while waiting.
    Interrupted,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut => f.write_str("timed out"),
            Self::Interrupted => f.write_str("interrupted"),
        }
    }
}

impl StdError for Stop {}

impl Stop {
    /// The [`Stop`] inside `error`, if it carries one.
    pub fn of(error: &io::Error) -> Option<Self> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Self>())
            .copied()
    }

    /// This stop inside an [`io::Error`], as every read reports it.
    pub fn into_io(self) -> io::Error {
        let kind = match self {
            Self::TimedOut => io::ErrorKind::TimedOut,
            Self::Interrupted => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// A connected stream with an optional deadline and an optional Ctrl-C flag
/// that every read honours.
#[derive(Debug)]
pub struct Conn {
    stream: UnixStream,
    deadline: Option<Instant>,
    interrupt: Option<&'static AtomicBool>,
}

impl Conn {
    /// Wraps `stream`. Reads fail with [`Stop::TimedOut`] after `deadline`
    /// and with [`Stop::Interrupted`] once `interrupt` is set.
    pub fn new(
        stream: UnixStream,
        deadline: Option<Instant>,
        interrupt: Option<&'static AtomicBool>,
    ) -> Self {
        Self {
            stream,
            deadline,
            interrupt,
        }
    }

    /// Writes all of `bytes`, within the deadline if there is one.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let timeout = match self.deadline {
            Some(deadline) => Some(remaining(deadline).ok_or_else(|| Stop::TimedOut.into_io())?),
            None => None,
        };
        self.stream.set_write_timeout(timeout)?;
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }
}

/// The time left until `deadline`, or `None` once it has passed.
fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self
                .interrupt
                .is_some_and(|flag| flag.load(Ordering::SeqCst))
            {
                return Err(Stop::Interrupted.into_io());
            }
            let mut timeout = match self.deadline {
                Some(deadline) => {
                    Some(remaining(deadline).ok_or_else(|| Stop::TimedOut.into_io())?)
                }
                None => None,
            };
            if self.interrupt.is_some() {
                timeout = Some(timeout.map_or(INTERRUPT_POLL, |left| left.min(INTERRUPT_POLL)));
            }
            self.stream.set_read_timeout(timeout)?;
            match self.stream.read(buf) {
                // A timeout of the socket is only a wake-up: the loop checks
                // the deadline and the flag again.
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                result => return result,
            }
        }
    }
}

/// The bytes of a request: request line, headers and body.
///
/// `target` is the path and query, already percent-encoded;
/// `authorization` is a whole `Authorization` value. A body is sent as JSON
/// with its `Content-Length`.
pub fn encode_request(
    method: &str,
    target: &str,
    authorization: Option<&str>,
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
    // `Host` is not required by vigild (api.md §2.4) but HTTP/1.1 wants one;
    // over a Unix socket there is no name to give, so say `localhost` as
    // Pebble's client does.
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: vigil/{}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    );
    out.extend_from_slice(head.as_bytes());
    if let Some(value) = authorization {
        out.extend_from_slice(format!("Authorization: {value}\r\n").as_bytes());
    }
    if let Some(body) = body {
        let framing = format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        out.extend_from_slice(framing.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if let Some(body) = body {
        out.extend_from_slice(body);
    }
    out
}

/// Appends `text` to `out` percent-encoded for a path segment or a query
/// value: only RFC 3986's unreserved characters stay as they are.
pub fn percent_encode(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

/// A response whose head has been read; its body is read through
/// [`body`](Self::body).
pub struct Response<R> {
    /// The status code.
    pub status: u16,
    /// The header fields, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body, framed as the head says.
    pub body: BodyReader<R>,
}

impl<R> fmt::Debug for Response<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// What is wrong with a response at the HTTP level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The head did not parse.
    Head(String),
    /// The head is larger than [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// The connection closed before the head was complete.
    ClosedInHead,
    /// `Content-Length` is not a number.
    ContentLength(String),
    /// A chunk-size line is not hexadecimal, or a chunk is not followed by
    /// CRLF.
    Chunk(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Head(detail) => write!(f, "malformed response head: {detail}"),
            Self::HeadTooLarge => {
                write!(f, "response head larger than {} KiB", MAX_HEAD_BYTES / 1024)
            }
            Self::ClosedInHead => f.write_str("connection closed before a response"),
            Self::ContentLength(value) => write!(f, "invalid Content-Length {value:?}"),
            Self::Chunk(detail) => write!(f, "malformed chunked body: {detail}"),
        }
    }
}

impl StdError for ProtocolError {}

impl ProtocolError {
    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }

    /// The [`ProtocolError`] inside `error`, if it carries one.
    pub fn of(error: &io::Error) -> Option<&Self> {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Self>())
    }
}

/// What follows a response head: the bytes read past the head, then the
/// rest of the stream, buffered for the framing.
pub type Incoming<R> = BufReader<io::Chain<Cursor<Vec<u8>>, R>>;

/// Reads one response head from `reader` and frames its body.
///
/// Interim `1xx` responses are skipped. A response to a request whose body
/// must be empty (`204`, `304`) gets an empty body.
pub fn read_response<R: Read>(mut reader: R) -> io::Result<Response<Incoming<R>>> {
    let mut buffer = Vec::with_capacity(1024);
    let mut scratch = [0; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(&buffer) {
            Ok(httparse::Status::Complete(length)) => {
                let status = parsed
                    .code
                    .ok_or_else(|| ProtocolError::Head("no status code".into()).into_io())?;
                let fields: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|header| {
                        (
                            header.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(header.value).trim().to_owned(),
                        )
                    })
                    .collect();
                if (100..200).contains(&status) {
                    buffer.drain(..length);
                    continue;
                }
                let framing = framing(status, &fields)?;
                let rest = buffer.split_off(length);
                return Ok(Response {
                    status,
                    headers: fields,
                    body: BodyReader::new(BufReader::new(Cursor::new(rest).chain(reader)), framing),
                });
            }
            Ok(httparse::Status::Partial) => {}
            Err(error) => return Err(ProtocolError::Head(error.to_string()).into_io()),
        }
        if buffer.len() >= MAX_HEAD_BYTES {
            return Err(ProtocolError::HeadTooLarge.into_io());
        }
        let count = reader.read(&mut scratch)?;
        if count == 0 {
            return Err(ProtocolError::ClosedInHead.into_io());
        }
        buffer.extend_from_slice(&scratch[..count]);
    }
}

/// How the body of a response ends (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// After this many bytes.
    Length(u64),
    /// With the last chunk.
    Chunked,
    /// When the connection closes.
    UntilClose,
}

fn framing(status: u16, fields: &[(String, String)]) -> io::Result<Framing> {
    if status == 204 || status == 304 {
        return Ok(Framing::Length(0));
    }
    let chunked = fields.iter().any(|(name, value)| {
        name == "transfer-encoding"
            && value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    if chunked {
        return Ok(Framing::Chunked);
    }
    match fields.iter().find(|(name, _)| name == "content-length") {
        Some((_, value)) => value
            .parse()
            .map(Framing::Length)
            .map_err(|_| ProtocolError::ContentLength(value.clone()).into_io()),
        None => Ok(Framing::UntilClose),
    }
}

/// Where a chunked body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk, with this many bytes left.
    Data(u64),
    /// After a chunk's data, before its CRLF.
    DataEnd,
    /// After the last chunk, before the end of the trailers.
    Trailers,
}

/// A response body as a [`Read`]: it ends (returns 0) exactly where the
/// framing says, and fails with `UnexpectedEof` if the connection closes
/// first.
#[derive(Debug)]
pub struct BodyReader<R> {
    inner: R,
    state: BodyState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyState {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

impl<R: BufRead> BodyReader<R> {
    /// The body read from `inner` with `framing`.
    pub fn new(inner: R, framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => BodyState::Done,
            Framing::Length(length) => BodyState::Length(length),
            Framing::Chunked => BodyState::Chunked(Chunk::Size),
            Framing::UntilClose => BodyState::UntilClose,
        };
        Self { inner, state }
    }

    /// Reads one line of the chunked framing, without its line end.
    fn framing_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        let count = (&mut self.inner)
            .take(MAX_CHUNK_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if count == 0 {
            return Err(closed_early());
        }
        if line.last() != Some(&b'\n') {
            return Err(match line.len() > MAX_CHUNK_LINE_BYTES {
                true => ProtocolError::Chunk("line too long".into()).into_io(),
                false => closed_early(),
            });
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line).map_err(|_| ProtocolError::Chunk("not ASCII".into()).into_io())
    }

    /// Copies up to `limit` bytes that are already available into `buf`.
    fn copy(&mut self, buf: &mut [u8], limit: u64) -> io::Result<usize> {
        let available = self.inner.fill_buf()?;
        if available.is_empty() {
            return Err(closed_early());
        }
        let count = available
            .len()
            .min(buf.len())
            .min(usize::try_from(limit).unwrap_or(usize::MAX));
        buf[..count].copy_from_slice(&available[..count]);
        self.inner.consume(count);
        Ok(count)
    }
}

fn closed_early() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed before the reply was complete",
    )
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                BodyState::Done => return Ok(0),
                BodyState::UntilClose => return self.inner.read(buf),
                BodyState::Length(left) => {
                    let count = self.copy(buf, left)?;
                    let left = left - count as u64;
                    self.state = match left {
                        0 => BodyState::Done,
                        left => BodyState::Length(left),
                    };
                    return Ok(count);
                }
                BodyState::Chunked(Chunk::Size) => {
                    let line = self.framing_line()?;
                    let digits = line.split(';').next().unwrap_or_default().trim();
                    let size = u64::from_str_radix(digits, 16).map_err(|_| {
                        ProtocolError::Chunk(format!("invalid chunk size {digits:?}")).into_io()
                    })?;
                    self.state = BodyState::Chunked(match size {
                        0 => Chunk::Trailers,
                        size => Chunk::Data(size),
                    });
                }
                BodyState::Chunked(Chunk::Data(left)) => {
                    let count = self.copy(buf, left)?;
                    let left = left - count as u64;
                    self.state = BodyState::Chunked(match left {
                        0 => Chunk::DataEnd,
                        left => Chunk::Data(left),
                    });
                    return Ok(count);
                }
                BodyState::Chunked(Chunk::DataEnd) => {
                    if !self.framing_line()?.is_empty() {
                        return Err(
                            ProtocolError::Chunk("chunk data longer than its size".into())
                                .into_io(),
                        );
                    }
                    self.state = BodyState::Chunked(Chunk::Size);
                }
                BodyState::Chunked(Chunk::Trailers) => {
                    if self.framing_line()?.is_empty() {
                        self.state = BodyState::Done;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes `step` at a time, as a socket
    /// might, to check that framing does not depend on how bytes arrive.
    struct Trickle {
        bytes: Vec<u8>,
        position: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let end = (self.position + self.step)
                .min(self.bytes.len())
                .min(self.position + buf.len());
            let count = end - self.position;
            buf[..count].copy_from_slice(&self.bytes[self.position..end]);
            self.position = end;
            Ok(count)
        }
    }

    fn trickle(bytes: &[u8], step: usize) -> Trickle {
        Trickle {
            bytes: bytes.to_vec(),
            position: 0,
            step,
        }
    }

    fn body_of(raw: &[u8], step: usize) -> io::Result<(u16, Vec<u8>)> {
        let mut response = read_response(trickle(raw, step))?;
        let mut body = Vec::new();
        response.body.read_to_end(&mut body)?;
        Ok((response.status, body))
    }

    #[test]
    fn request_bytes() {
        let bytes = encode_request("POST", "/v1/services", None, Some(br#"{"a":1}"#));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("POST /v1/services HTTP/1.1\r\nHost: localhost\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.contains("\r\nContent-Type: application/json\r\nContent-Length: 7\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"a\":1}"));
        let get = String::from_utf8(encode_request("GET", "/v1/x", None, None)).unwrap();
        assert!(!get.contains("Content-Length"));
        assert!(!get.contains("Authorization"));
        let auth = encode_request("GET", "/v1/x", Some("Basic YTpi"), None);
        let auth = String::from_utf8(auth).unwrap();
        assert!(auth.contains("\r\nAuthorization: Basic YTpi\r\n"), "{auth}");
        assert!(get.ends_with("\r\n\r\n"));
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        let mut out = String::new();
        percent_encode("web-1.a_b~c", &mut out);
        assert_eq!(out, "web-1.a_b~c");
        out.clear();
        percent_encode("a,b c/d&e=f+g%é", &mut out);
        assert_eq!(out, "a%2Cb%20c%2Fd%26e%3Df%2Bg%25%C3%A9");
    }

    #[test]
    fn content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        for step in [1, 3, 1000] {
            assert_eq!(
                body_of(raw, step).unwrap(),
                (200, b"hello".to_vec()),
                "step {step}"
            );
        }
    }

    #[test]
    fn chunked_body_in_any_split() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                    5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nEXTRA";
        for step in 1..=raw.len() {
            assert_eq!(
                body_of(raw, step).unwrap(),
                (200, b"hello 0123456789".to_vec()),
                "step {step}"
            );
        }
    }

    #[test]
    fn chunked_errors() {
        let bad_size = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let error = body_of(bad_size, 100).unwrap_err();
        assert_eq!(
            ProtocolError::of(&error),
            Some(&ProtocolError::Chunk("invalid chunk size \"zz\"".into()))
        );
        let long = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n";
        assert!(ProtocolError::of(&body_of(long, 100).unwrap_err()).is_some());
        let truncated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
        assert_eq!(
            body_of(truncated, 100).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let no_last_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n";
        assert_eq!(
            body_of(no_last_chunk, 100).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn chunk_data_is_returned_before_its_crlf_arrives() {
        // Only the chunk's data has arrived: a read must return it without
        // waiting for the CRLF (a stream's line would otherwise lag).
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nline\r\n";
        let mut response = read_response(&raw[..]).unwrap();
        let mut buf = [0; 64];
        let count = response.body.read(&mut buf).unwrap();
        assert_eq!(&buf[..count], b"line\r\n");
    }

    #[test]
    fn body_until_close_and_empty_statuses() {
        let raw = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        assert_eq!(body_of(raw, 2).unwrap().1, b"all of it");
        let raw = b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(body_of(raw, 2).unwrap(), (204, Vec::new()));
    }

    #[test]
    fn interim_responses_are_skipped() {
        let raw =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(body_of(raw, 7).unwrap(), (202, b"{}".to_vec()));
    }

    #[test]
    fn head_errors() {
        let error = body_of(b"HTTP/1.1 200 OK\r\nContent-Le", 5).unwrap_err();
        assert_eq!(
            ProtocolError::of(&error),
            Some(&ProtocolError::ClosedInHead)
        );
        let error = body_of(b"SMTP ready\r\n\r\n", 5).unwrap_err();
        assert!(matches!(
            ProtocolError::of(&error),
            Some(ProtocolError::Head(_))
        ));
        let error = body_of(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 100).unwrap_err();
        assert_eq!(
            ProtocolError::of(&error),
            Some(&ProtocolError::ContentLength("x".into()))
        );
        let mut huge = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 10, b'a');
        let error = body_of(&huge, 4096).unwrap_err();
        assert_eq!(
            ProtocolError::of(&error),
            Some(&ProtocolError::HeadTooLarge)
        );
    }

    #[test]
    fn headers_are_lower_case_and_trimmed() {
        let raw =
            b"HTTP/1.1 200 OK\r\nContent-Type:  application/json \r\nContent-Length: 0\r\n\r\n";
        let response = read_response(&raw[..]).unwrap();
        assert_eq!(
            response.headers,
            [
                ("content-type".to_owned(), "application/json".to_owned()),
                ("content-length".to_owned(), "0".to_owned())
            ]
        );
    }
}
