//! Every bound and timeout of the HTTP layer, with the reason for its size
//! (spec api.md §3; DESIGN.md invariant 4: bounded everything).
//!
//! Hitting a size bound answers with an error envelope (413, 414, 431) and
//! closes, or stops reading (back-pressure); it never grows a buffer past its
//! bound. Hitting a timeout answers 408 or closes silently, as each constant
//! says.

use std::time::Duration;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Longest request line (method, target and version, without the line end).
///
/// 8 KiB is the spec's figure and what common servers accept by default; it
/// holds any API URL, including a `/v1/files?path=` query with a long
/// percent-encoded path. Longer gets 414 `request line too long`.
pub const MAX_REQUEST_LINE: usize = 8 * KIB;

/// Largest header section: every byte after the request line up to and
/// including the blank line that ends the head.
///
/// 32 KiB is the spec's figure: room for a long `Authorization` header and
/// the usual dozen headers many times over, while one connection can pin at
/// most this much head. Larger gets 431 `request headers too large`.
pub const MAX_HEADER_SECTION: usize = 32 * KIB;

/// Most header fields in one request head (and in the trailer section of a
/// chunked body).
///
/// 100 is the spec's figure; real clients send fewer than 20. The parser
/// keeps one slot per field on the stack, so this also bounds that array.
/// More gets 431.
pub const MAX_HEADERS: usize = 100;

/// Most bytes of blank lines accepted before a request line.
///
/// RFC 9112 §2.2 asks servers to ignore at least one blank line there
/// (some clients send a CRLF after a body). A peer that sends nothing else
/// must neither keep the reactor reading for ever nor keep the connection
/// out of its idle timeout; 64 bytes is 32 such lines. More gets 400
/// `malformed HTTP request`.
pub const MAX_BLANK_LINES: usize = 64;

/// Largest request body held in memory, counted after chunked decoding.
///
/// 4 MiB is the spec's limit for JSON bodies: a layer posted to
/// `/v1/layers` is a few KiB, so this is generous while keeping what one
/// client can make the daemon hold small. Larger gets 413 `request body too
/// large`; a `Content-Length` over the limit is refused before any body byte
/// is read.
pub const MAX_BODY: usize = 4 * MIB;

/// Longest chunk-size line of a chunked body (hex size, extensions and line
/// end).
///
/// Extensions carry nothing vigild uses; 4 KiB tolerates any client that
/// sends them while stopping a peer that streams an endless extension. Longer
/// gets 400 `malformed HTTP request`.
pub const MAX_CHUNK_LINE: usize = 4 * KIB;

/// Capacity of a connection's read buffer, which it never grows past.
///
/// It must hold the largest head the limits allow (request line plus header
/// section, asserted below), so a head is always parsed from one contiguous
/// slice. Body bytes move out of it as they arrive, so it never has to hold
/// a body. The buffer starts small and grows on demand, so an idle
/// connection does not pin 64 KiB.
pub const READ_BUFFER_LIMIT: usize = 64 * KIB;

/// Most output bytes that a stream may have queued and not yet written.
///
/// 1 MiB is the spec's figure: a few thousand log lines, enough to ride out
/// a client that pauses briefly. A follower that falls further behind is
/// told so by [`crate::http::Connection::can_accept`], and the logs layer
/// skips entries instead of buffering them (spec §6.9). Fixed replies are
/// not limited by this: their body was already built in memory by a handler
/// whose own data is bounded.
pub const STREAM_BUFFER_LIMIT: usize = MIB;

/// How long a request head may take to arrive, from its first byte.
///
/// 30 s is the spec's figure: generous for a human typing into `nc`, short
/// enough that a slow-loris client cannot hold one of the
/// [`MAX_CONNECTIONS`] slots for long. Expiry answers 408 `request timeout`
/// and closes.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a keep-alive connection may sit idle between two requests.
///
/// 120 s is the spec's figure; clients reconnect cheaply over a Unix socket,
/// and an idle connection still holds a slot. Expiry closes the connection
/// silently, as HTTP/1.1 allows (RFC 9112 §9.8). It does not apply while a
/// request is parked (a long-poll) or a stream is open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a request body may go without a single byte arriving.
///
/// 60 s is the spec's figure: an upload that stalls that long has failed.
/// Expiry closes the connection without a reply.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long output may stay pending while the client takes no byte of it.
///
/// 60 s is the spec's figure and applies to streams too: a client that
/// stops reading must not hold its buffers for ever. Expiry closes the
/// connection.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a connection closed because of a bad request keeps reading and
/// discarding input, after queuing its error reply.
///
/// Closing a TCP socket with unread input makes the kernel send a reset,
/// which can destroy the error reply before the client reads it (the reason
/// Go's server waits after a bad request, and RFC 9112 §9.6 advises a
/// lingering close). 2 s is enough for a client to read a small reply and
/// close; the time, and [`MAX_LINGER_BYTES`], bound what it costs.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// Most input bytes discarded during a lingering close before the
/// connection is closed anyway.
///
/// Discarding costs no memory, but it costs reactor time; 256 KiB covers the
/// rest of any body a well-behaved client was sending when it was refused.
pub const MAX_LINGER_BYTES: usize = 256 * KIB;

/// Most open connections per listener. The reactor enforces it: it stops
/// accepting until one closes, and further clients wait in the kernel's
/// backlog (spec §3).
///
/// The worst case of one connection is about 5 MiB (a full read buffer, a
/// body at [`MAX_BODY`] and a full stream buffer), reached only if every
/// client attacks at once; an idle connection costs a few hundred bytes.
/// 256 is far more than the local tools and charms that talk to vigild.
pub const MAX_CONNECTIONS: usize = 256;

// The read buffer must hold the largest head the limits let through, plus
// its line ends, or a legal head could be refused.
const _: () = assert!(READ_BUFFER_LIMIT >= MAX_REQUEST_LINE + 2 + MAX_HEADER_SECTION);
