//! A fixed reply ([`Response`]) and the encoding of response heads and
//! chunks onto the wire (RFC 9112 §4–§7).
//!
//! The status line always carries the exact reason phrase of
//! [`StatusCode`] (spec api.md §4.3): ops compares it. Fixed replies carry
//! `Content-Length`; streams use chunked encoding (or, for an HTTP/1.0
//! client, which cannot take chunks, end with the connection). No `Date`
//! header is sent: it would need the wall clock here, and no client of the
//! API reads it.

use std::borrow::Cow;

use serde::Serialize;
use vigil_proto::api::{self, StatusCode};

/// The content type of every JSON reply (api.md §4.1).
pub const JSON: &str = "application/json";

/// A complete reply, queued at once with
/// [`Connection::respond`](super::Connection::respond).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: StatusCode,
    content_type: Cow<'static, str>,
    headers: Vec<(Cow<'static, str>, String)>,
    body: Vec<u8>,
    close: bool,
}

impl Response {
    /// A reply with this status, content type and body.
    #[must_use]
    pub fn new(
        status: StatusCode,
        content_type: impl Into<Cow<'static, str>>,
        body: Vec<u8>,
    ) -> Self {
        Self {
            status,
            content_type: content_type.into(),
            headers: Vec::new(),
            body,
            close: false,
        }
    }

    /// A JSON reply carrying `envelope`, with its status.
    ///
    /// Serialising can only fail for a type whose `Serialize` refuses (a map
    /// with non-string keys): that is a bug in vigild, answered with a 500
    /// envelope rather than a panic.
    #[must_use]
    pub fn json<T: Serialize>(envelope: &api::Response<T>) -> Self {
        match serde_json::to_vec(envelope) {
            Ok(body) => Self::new(envelope.status(), JSON, body),
            Err(error) => Self::error(
                StatusCode::InternalServerError,
                format!("cannot encode response: {error}"),
            ),
        }
    }

    /// A JSON error envelope (api.md §4.1) with this status and message.
    #[must_use]
    pub fn error(status: StatusCode, message: impl Into<String>) -> Self {
        let envelope: api::Response = api::Response::error(status, message);
        match serde_json::to_vec(&envelope) {
            Ok(body) => Self::new(status, JSON, body),
            // Unreachable: the error envelope holds only strings and numbers.
            // The fallback still keeps the reply well-formed.
            Err(_) => Self::new(status, JSON, Vec::new()),
        }
    }

    /// This reply with one more header field. Fields that the connection
    /// writes itself (`Content-Type`, `Content-Length`, `Connection`,
    /// `Transfer-Encoding`) must not be added here. CR and LF in the value
    /// are replaced by spaces, so a value can never split the head.
    #[must_use]
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// This reply with `body` instead of its own, all else kept.
    #[must_use]
    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// This reply with the connection closed after it, whatever the client
    /// asked for.
    #[must_use]
    pub fn with_close(mut self) -> Self {
        self.close = true;
        self
    }

    /// The status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The content type.
    #[must_use]
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Whether the connection closes after this reply regardless of the
    /// request.
    #[must_use]
    pub fn closes(&self) -> bool {
        self.close
    }

    /// Encodes the head of this reply, and returns the body to send after
    /// it (empty for a reply to `HEAD`).
    pub(super) fn encode(
        self,
        connection: ConnectionHeader,
        head_only: bool,
    ) -> (Vec<u8>, Vec<u8>) {
        let mut head = Vec::with_capacity(128);
        let framing = Framing::Length(self.body.len());
        encode_head(
            &mut head,
            self.status,
            &self.content_type,
            &self.headers,
            framing,
            connection,
        );
        let body = if head_only { Vec::new() } else { self.body };
        (head, body)
    }
}

/// How the reply's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the connection closes (a stream to an
    /// HTTP/1.0 client).
    UntilClose,
}

/// What the `Connection` header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ConnectionHeader {
    /// Nothing: HTTP/1.1 keeps the connection by default.
    Omitted,
    /// `Connection: keep-alive`, for an HTTP/1.0 client that asked for it.
    KeepAlive,
    /// `Connection: close`: this is the last reply on the connection.
    Close,
}

/// Writes a status line and header section, blank line included.
pub(super) fn encode_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    content_type: &str,
    headers: &[(Cow<'static, str>, String)],
    framing: Framing,
    connection: ConnectionHeader,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, usize::from(status.code()));
    out.push(b' ');
    out.extend_from_slice(status.reason().as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    push_value(out, content_type);
    out.extend_from_slice(b"\r\n");
    match framing {
        Framing::Length(length) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, length);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::UntilClose => {}
    }
    match connection {
        ConnectionHeader::Omitted => {}
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        ConnectionHeader::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    for (name, value) in headers {
        push_value(out, name);
        out.extend_from_slice(b": ");
        push_value(out, value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The interim reply to `Expect: 100-continue` (RFC 9110 §15.2.1).
pub(super) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The last chunk of a chunked body, with an empty trailer section.
pub(super) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// How many bytes a chunk of `length` data bytes takes on the wire: hex
/// size, CRLF, data, CRLF.
pub(super) fn chunk_overhead(length: usize) -> usize {
    hex_digits(length) + 4
}

/// Writes the size line of a chunk of `length` bytes (`length > 0`).
pub(super) fn push_chunk_size(out: &mut Vec<u8>, length: usize) {
    let digits = hex_digits(length);
    for shift in (0..digits).rev() {
        let nibble = (length >> (shift * 4)) & 0xf;
        out.push(b"0123456789abcdef"[nibble]);
    }
    out.extend_from_slice(b"\r\n");
}

fn hex_digits(value: usize) -> usize {
    let bits = usize::BITS - value.leading_zeros();
    (bits as usize).div_ceil(4).max(1)
}

fn push_decimal(out: &mut Vec<u8>, value: usize) {
    let mut digits = [0u8; 20];
    let mut index = digits.len();
    let mut rest = value;
    loop {
        index -= 1;
        // `rest % 10` is below 10, so the cast cannot truncate.
        digits[index] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[index..]);
}

/// Writes a header name or value, with CR and LF replaced by spaces so that
/// no value can end the field early (response splitting).
fn push_value(out: &mut Vec<u8>, value: &str) {
    out.extend(value.bytes().map(|byte| {
        if byte == b'\r' || byte == b'\n' {
            b' '
        } else {
            byte
        }
    }));
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vigil_proto::api::HealthInfo;

    use super::*;

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn fixed_reply_head() {
        let (head, body) = Response::new(StatusCode::NotFound, "text/plain", b"nope".to_vec())
            .with_header("X-Extra", "a\r\nInjected: yes")
            .encode(ConnectionHeader::Omitted, false);
        assert_eq!(
            text(&head),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nX-Extra: a  Injected: yes\r\n\r\n"
        );
        assert_eq!(body, b"nope");
    }

    #[test]
    fn head_only_keeps_the_length() {
        let (head, body) = Response::new(StatusCode::Ok, JSON, b"{}".to_vec())
            .encode(ConnectionHeader::Close, true);
        assert_eq!(
            text(&head),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        );
        assert!(body.is_empty());
    }

    #[test]
    fn every_status_line_uses_the_exact_phrase() {
        for status in StatusCode::ALL {
            let mut head = Vec::new();
            encode_head(
                &mut head,
                status,
                JSON,
                &[],
                Framing::Chunked,
                ConnectionHeader::KeepAlive,
            );
            let first = text(&head).lines().next().unwrap().to_owned();
            assert_eq!(
                first,
                format!("HTTP/1.1 {} {}", status.code(), status.reason())
            );
        }
        let mut head = Vec::new();
        encode_head(
            &mut head,
            StatusCode::RequestHeaderFieldsTooLarge,
            JSON,
            &[],
            Framing::UntilClose,
            ConnectionHeader::KeepAlive,
        );
        assert_eq!(
            text(&head),
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn json_and_error_envelopes() {
        let reply = Response::json(&api::Response::sync(HealthInfo { healthy: true }));
        assert_eq!(reply.status(), StatusCode::Ok);
        assert_eq!(reply.content_type(), JSON);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(reply.body()).unwrap(),
            json!({"type": "sync", "status-code": 200, "status": "OK", "result": {"healthy": true}})
        );
        let error = Response::error(StatusCode::RequestEntityTooLarge, "request body too large");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(error.body()).unwrap(),
            json!({"type": "error", "status-code": 413, "status": "Request Entity Too Large",
                   "result": {"message": "request body too large"}})
        );
        assert!(!error.closes());
        assert!(error.with_close().closes());
    }

    #[test]
    fn json_that_cannot_be_encoded_is_a_500() {
        let mut map = std::collections::HashMap::new();
        map.insert((1, 2), 3);
        let reply = Response::json(&api::Response::sync(map));
        assert_eq!(reply.status(), StatusCode::InternalServerError);
        let value: serde_json::Value = serde_json::from_slice(reply.body()).unwrap();
        assert_eq!(value["status"], "Internal Server Error");
    }

    #[test]
    fn numbers() {
        for (value, decimal, hex) in [
            (0, "0", "0"),
            (9, "9", "9"),
            (10, "10", "a"),
            (255, "255", "ff"),
            (4096, "4096", "1000"),
            (usize::MAX, "18446744073709551615", "ffffffffffffffff"),
        ] {
            let mut out = Vec::new();
            push_decimal(&mut out, value);
            assert_eq!(text(&out), decimal);
            let mut out = Vec::new();
            push_chunk_size(&mut out, value);
            assert_eq!(text(&out), format!("{hex}\r\n"));
            assert_eq!(chunk_overhead(value), hex.len() + 4);
        }
    }
}
