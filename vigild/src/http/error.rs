//! What can go wrong on a connection: a bad request ([`RequestError`]), a
//! command that does not fit the connection's state ([`SendError`]), and why
//! a connection ended ([`CloseReason`]).
//!
//! A [`RequestError`] is answered by the connection itself with the JSON
//! error envelope (spec api.md §3, §4.1) and then the connection closes. Its
//! `Display` text has the detail for the daemon's log; the envelope carries
//! the spec's fixed message ([`RequestError::message`]), which clients may
//! compare.

use std::fmt;
use std::io;

use vigil_proto::api::StatusCode;

use super::limits::{MAX_BODY, MAX_CHUNK_LINE, MAX_HEADER_SECTION, MAX_HEADERS, MAX_REQUEST_LINE};

/// A request the HTTP layer refuses before the API layer sees it.
///
/// Each variant maps to one status ([`status`](Self::status)); every one of
/// them closes the connection after the reply, because the framing of
/// whatever follows cannot be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The request line is longer than [`MAX_REQUEST_LINE`], usually a URL
    /// with a huge query string. Answered with 414.
    RequestLineTooLong,
    /// The header section is larger than [`MAX_HEADER_SECTION`] bytes (or a
    /// chunked body's trailer section is). Answered with 431.
    HeaderSectionTooLarge,
    /// The head (or a trailer section) has more than [`MAX_HEADERS`] fields.
    /// Answered with 431.
    TooManyHeaders,
    /// The body is larger than [`MAX_BODY`]: declared so by
    /// `Content-Length`, or found so while decoding chunks. Answered with
    /// 413.
    BodyTooLarge,
    /// The head did not complete within
    /// [`HEAD_TIMEOUT`](super::limits::HEAD_TIMEOUT) of its first byte: a
    /// stalled or very slow client. Answered with 408.
    HeadTimeout,
    /// The request line or a header line is not HTTP/1.x syntax: not HTTP at
    /// all, HTTP/2's preface, a bad header name, a bare CR. Carries the
    /// parser's description. Answered with 400.
    Malformed(&'static str),
    /// The request target is not an absolute path (or an absolute URL, or
    /// `*`), has an invalid percent-escape, or decodes to bytes that are not
    /// UTF-8. Answered with 400.
    InvalidTarget,
    /// `Content-Length` is not a decimal number, or two of them disagree.
    /// Answered with 400.
    InvalidContentLength,
    /// `Transfer-Encoding` names a coding other than a single `chunked`
    /// (vigild decodes no compression). Answered with 400.
    UnsupportedTransferEncoding,
    /// Both `Content-Length` and `Transfer-Encoding` are present: the spec
    /// refuses the ambiguity that request smuggling relies on (api.md §2.4,
    /// RFC 9112 §6.3). Answered with 400.
    ConflictingFraming,
    /// A chunked body breaks the chunk syntax: a size that is not hex, a
    /// size line longer than [`MAX_CHUNK_LINE`], or chunk data not followed
    /// by CRLF. Answered with 400.
    MalformedChunk,
}

impl RequestError {
    /// The status of the error reply.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::RequestLineTooLong => StatusCode::RequestUriTooLong,
            Self::HeaderSectionTooLarge | Self::TooManyHeaders => {
                StatusCode::RequestHeaderFieldsTooLarge
            }
            Self::BodyTooLarge => StatusCode::RequestEntityTooLarge,
            Self::HeadTimeout => StatusCode::RequestTimeout,
            Self::Malformed(_)
            | Self::InvalidTarget
            | Self::InvalidContentLength
            | Self::UnsupportedTransferEncoding
            | Self::ConflictingFraming
            | Self::MalformedChunk => StatusCode::BadRequest,
        }
    }

    /// The envelope's `result.message`, exactly as the spec's table of bad
    /// input gives it (api.md §3).
    #[must_use]
    pub fn message(&self) -> &'static str {
        match self {
            Self::RequestLineTooLong => "request line too long",
            Self::HeaderSectionTooLarge | Self::TooManyHeaders => "request headers too large",
            Self::BodyTooLarge => "request body too large",
            Self::HeadTimeout => "request timeout",
            Self::Malformed(_)
            | Self::InvalidTarget
            | Self::InvalidContentLength
            | Self::UnsupportedTransferEncoding
            | Self::ConflictingFraming
            | Self::MalformedChunk => "malformed HTTP request",
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RequestLineTooLong => {
                write!(f, "request line longer than {MAX_REQUEST_LINE} bytes")
            }
            Self::HeaderSectionTooLarge => {
                write!(f, "header section larger than {MAX_HEADER_SECTION} bytes")
            }
            Self::TooManyHeaders => write!(f, "more than {MAX_HEADERS} header fields"),
            Self::BodyTooLarge => write!(f, "request body larger than {MAX_BODY} bytes"),
            Self::HeadTimeout => f.write_str("request head not received in time"),
            Self::Malformed(detail) => write!(f, "malformed request head: {detail}"),
            Self::InvalidTarget => f.write_str(
                "invalid request target (expected an absolute path with valid percent-escapes)",
            ),
            Self::InvalidContentLength => f.write_str("invalid Content-Length"),
            Self::UnsupportedTransferEncoding => {
                f.write_str("unsupported Transfer-Encoding (only chunked is accepted)")
            }
            Self::ConflictingFraming => {
                f.write_str("both Content-Length and Transfer-Encoding are present")
            }
            Self::MalformedChunk => write!(
                f,
                "malformed chunked body (bad chunk size, size line over {MAX_CHUNK_LINE} bytes, or missing CRLF)"
            ),
        }
    }
}

impl std::error::Error for RequestError {}

/// A response command that the connection refused; nothing was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// `respond` or `start_stream` was called while no request is waiting
    /// for a reply: none was taken with `next_request`, or it was answered
    /// already. A bug in the caller.
    NoRequest,
    /// `send_chunk` or `end_stream` was called while no stream is open. A
    /// bug in the caller.
    NoStream,
    /// The chunk would take the queued output past
    /// [`STREAM_BUFFER_LIMIT`](super::limits::STREAM_BUFFER_LIMIT): the
    /// client reads more slowly than the stream produces. The caller skips
    /// output or closes; check [`can_accept`](super::Connection::can_accept)
    /// first to avoid building a chunk for nothing.
    Full,
    /// The connection is closed (see
    /// [`close_reason`](super::Connection::close_reason)), typically because
    /// the peer went away while its request was parked.
    Closed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoRequest => "no request is waiting for a response",
            Self::NoStream => "no stream is open",
            Self::Full => "stream output buffer is full",
            Self::Closed => "connection is closed",
        })
    }
}

impl std::error::Error for SendError {}

/// Why a connection ended, for the daemon's log.
#[derive(Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// The exchange ended normally: a `Connection: close` request or an
    /// HTTP/1.0 request without keep-alive was answered, or the peer closed
    /// between requests.
    Finished,
    /// The peer closed its side while its request was parked or its stream
    /// was open, or in the middle of sending a request.
    PeerClosed,
    /// No request arrived within [`IDLE_TIMEOUT`](super::limits::IDLE_TIMEOUT).
    IdleTimeout,
    /// No body byte arrived within
    /// [`BODY_TIMEOUT`](super::limits::BODY_TIMEOUT).
    BodyTimeout,
    /// The client took no output byte within
    /// [`WRITE_STALL_TIMEOUT`](super::limits::WRITE_STALL_TIMEOUT).
    WriteStalled,
    /// The request was refused with an error reply.
    BadRequest(RequestError),
    /// The caller closed the connection with `close`.
    Aborted,
    /// Reading or writing failed with an I/O error other than `WouldBlock`
    /// and `Interrupted` (a reset, a broken pipe, a TLS error).
    Io(io::Error),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Finished => f.write_str("finished"),
            Self::PeerClosed => f.write_str("closed by the peer"),
            Self::IdleTimeout => f.write_str("idle timeout"),
            Self::BodyTimeout => f.write_str("request body timeout"),
            Self::WriteStalled => f.write_str("client stopped reading"),
            Self::BadRequest(error) => write!(f, "bad request: {error}"),
            Self::Aborted => f.write_str("closed by the daemon"),
            Self::Io(error) => write!(f, "i/o error: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages_follow_the_spec() {
        let cases = [
            (
                RequestError::RequestLineTooLong,
                414,
                "request line too long",
            ),
            (
                RequestError::HeaderSectionTooLarge,
                431,
                "request headers too large",
            ),
            (
                RequestError::TooManyHeaders,
                431,
                "request headers too large",
            ),
            (RequestError::BodyTooLarge, 413, "request body too large"),
            (RequestError::HeadTimeout, 408, "request timeout"),
            (RequestError::Malformed("x"), 400, "malformed HTTP request"),
            (RequestError::InvalidTarget, 400, "malformed HTTP request"),
            (
                RequestError::ConflictingFraming,
                400,
                "malformed HTTP request",
            ),
        ];
        for (error, code, message) in cases {
            assert_eq!(error.status().code(), code, "{error}");
            assert_eq!(error.message(), message, "{error}");
        }
    }
}
