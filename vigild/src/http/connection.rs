//! One HTTP/1.1 server connection as a state machine that never touches a
//! socket, a clock or mio (the shape of rustls' `ConnectionCommon`).
//!
//! The caller moves bytes in with [`Connection::read_from`] and out with
//! [`Connection::write_to`], passing anything that implements `Read` and
//! `Write`: a non-blocking `UnixStream` or `TcpStream` today, rustls'
//! plaintext `reader()` and `writer()` later, an in-memory pipe in tests.
//! Time comes in as an argument. So this module upholds DESIGN.md
//! invariant 3 (nothing here can block: every read and write stops at
//! `WouldBlock`) and invariant 4 (every buffer has a bound from
//! [`limits`](super::limits)).

use std::io::{self, Read, Write};
use std::mem;
use std::time::Instant;

use vigil_proto::api::StatusCode;

use super::Peer;
use super::body::BodyDecoder;
use super::buffer::{InputBuffer, OutputBuffer};
use super::error::{CloseReason, RequestError, SendError};
use super::limits::{
    BODY_TIMEOUT, HEAD_TIMEOUT, IDLE_TIMEOUT, LINGER_TIMEOUT, MAX_BLANK_LINES, MAX_LINGER_BYTES,
    STREAM_BUFFER_LIMIT, WRITE_STALL_TIMEOUT,
};
use super::request::{HeadScanner, Request, Version};
use super::response::{
    CONTINUE, ConnectionHeader, Framing, LAST_CHUNK, Response, chunk_overhead, encode_head,
    push_chunk_size,
};
use super::timer::{Timer, TimerTable};

/// An HTTP/1.1 server connection.
///
/// Its methods come in four kinds:
///
/// - **getters** (`&self`): [`interest`](Self::interest),
///   [`deadline`](Self::deadline), [`closed`](Self::closed),
///   [`close_reason`](Self::close_reason), [`peer`](Self::peer),
///   [`stream_backlog`](Self::stream_backlog),
///   [`can_accept`](Self::can_accept) and a few state queries;
/// - **inputs**: [`read_from`](Self::read_from),
///   [`write_to`](Self::write_to) and
///   [`handle_timeout`](Self::handle_timeout);
/// - **output**: [`next_request`](Self::next_request);
/// - **commands**: [`respond`](Self::respond),
///   [`start_stream`](Self::start_stream),
///   [`send_chunk`](Self::send_chunk), [`end_stream`](Self::end_stream)
///   and [`close`](Self::close).
///
/// # Driving it
///
/// After accepting, the reactor creates the connection with the peer's
/// credentials and registers the socket with [`interest`](Self::interest).
/// Then, on **every** wake-up for this connection (readable, writable, its
/// deadline, or the API layer completing a parked request), it runs the same
/// turn:
///
/// 1. on a readable event, `read_from(&mut socket, now)`; on the deadline,
///    `handle_timeout(now)` (a spurious or early call is a no-op);
/// 2. `while let Some(request) = next_request()`: hand the request to the
///    API layer, which answers with `respond` (or `start_stream`) at once,
///    or parks it. A connection yields one request at a time: the next one
///    is parsed only once this one is answered, so the loop ends after a
///    parked request;
/// 3. `write_to(&mut socket, now)` if [`wants_write`](Self::wants_write),
///    always after a command queued output: nothing is delayed, each
///    chunk goes out as soon as the socket takes it;
/// 4. if [`read_pending`](Self::read_pending): answering freed the read
///    buffer after back-pressure, so go back to step 1 with a read (no
///    event will come for bytes that were already waiting);
/// 5. if [`closed`](Self::closed): drop any parked request or stream for
///    it, deregister and drop the socket. Otherwise re-register if
///    `interest()` changed, and re-arm the timer with `deadline()`.
///
/// Time must never go backwards between calls.
///
/// `interest()` may become empty (a parked request whose pipelined input
/// filled the read buffer, and nothing to write). Keep the registration
/// then: spurious events are harmless, and step 4 resumes reading once
/// there is room.
///
/// # Parked requests and the peer closing
///
/// While a request is parked or a stream is open, the connection keeps
/// reading (into its buffer, without parsing) only to notice the peer going
/// away: [`closed`](Self::closed) then becomes true, and the reactor drops
/// the waiter. A request that was already fully buffered when the peer shut
/// down its sending half is still answered, so `printf 'GET ...' | nc -N`
/// works; check `closed()` after answering, as in step 5.
#[derive(Debug)]
pub struct Connection {
    peer: Peer,
    input: InputBuffer,
    output: OutputBuffer,
    phase: Phase,
    timers: TimerTable,
    /// The head being received, in [`Phase::Head`].
    scanner: HeadScanner,
    /// Bytes of blank lines skipped before the current request line.
    blank: usize,
    /// The peer shut down its sending half: a read returned end of file.
    read_closed: bool,
    /// The last `read_from` stopped before `WouldBlock` (the buffer was
    /// full), so the source may hold bytes that no edge-triggered event
    /// will announce again.
    unread: bool,
    /// Input bytes thrown away during a lingering close.
    discarded: usize,
    close_reason: Option<CloseReason>,
}

/// What the connection wants from the event loop; the reactor maps it to
/// mio's `Interest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    /// Register for readable events.
    pub read: bool,
    /// Register for writable events.
    pub write: bool,
}

impl Interest {
    /// Whether the connection wants neither (see [`Connection`] on what to
    /// do then).
    #[must_use]
    pub fn is_empty(self) -> bool {
        !self.read && !self.write
    }
}

/// What the reply to the current request must respect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Exchange {
    /// Whether the connection stays open after the reply.
    keep_alive: bool,
    /// The request is `HEAD`: the reply has a head and no body.
    head_only: bool,
    version: Version,
}

/// How a streamed body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamEncoding {
    /// Chunked transfer coding (HTTP/1.1).
    Chunked,
    /// Raw bytes ended by closing the connection (HTTP/1.0).
    UntilClose,
}

/// Where the connection is in its request/response cycle, in lifecycle
/// order.
#[derive(Debug)]
enum Phase {
    /// Waiting for a request, or reading its head.
    Head,
    /// Reading the body of a request whose head has arrived.
    Body {
        request: Request,
        exchange: Exchange,
        decoder: BodyDecoder,
    },
    /// A complete request waits to be taken by `next_request`.
    Ready {
        request: Request,
        exchange: Exchange,
    },
    /// The request was taken and is not answered yet (a parked long-poll,
    /// or the API layer is about to answer).
    Awaiting(Exchange),
    /// A streamed reply is being sent.
    Streaming {
        exchange: Exchange,
        encoding: StreamEncoding,
    },
    /// No more requests: flush the output, then close. With `linger`, keep
    /// reading and discarding input meanwhile and wait for the peer to close
    /// (or for the linger timer), so that closing does not reset the
    /// connection under an unread error reply.
    Closing { linger: bool },
    /// Finished; the reactor drops the connection.
    Closed,
}

/// The reason reported for a parked request or stream whose peer went away.
static PEER_CLOSED: CloseReason = CloseReason::PeerClosed;

impl Connection {
    /// A new connection, accepted at `now`, from `peer`.
    #[must_use]
    pub fn new(peer: Peer, now: Instant) -> Self {
        let mut timers = TimerTable::default();
        timers.set(Timer::Idle, now + IDLE_TIMEOUT);
        Self {
            peer,
            input: InputBuffer::default(),
            output: OutputBuffer::default(),
            phase: Phase::Head,
            timers,
            scanner: HeadScanner::default(),
            blank: 0,
            read_closed: false,
            unread: false,
            discarded: 0,
            close_reason: None,
        }
    }

    /// Who is at the other end, as the reactor learnt at accept time.
    #[must_use]
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// The peer, to complete what is learnt after accept: an HTTPS
    /// client's certificates once the handshake is done.
    pub fn peer_mut(&mut self) -> &mut Peer {
        &mut self.peer
    }

    /// Whether the connection wants readable events: it has room in its
    /// read buffer and a use for the bytes.
    #[must_use]
    pub fn wants_read(&self) -> bool {
        if self.read_closed || self.input.is_full() {
            return false;
        }
        match self.phase {
            Phase::Closing { linger } => linger,
            Phase::Closed => false,
            Phase::Head
            | Phase::Body { .. }
            | Phase::Ready { .. }
            | Phase::Awaiting(_)
            | Phase::Streaming { .. } => true,
        }
    }

    /// Whether [`read_from`](Self::read_from) must be called again now,
    /// without waiting for an event: it last stopped because the read buffer
    /// was full, and there is room again. Readiness is edge-triggered, so
    /// bytes that were already waiting then will not be announced again.
    #[must_use]
    pub fn read_pending(&self) -> bool {
        self.unread && self.wants_read()
    }

    /// Whether output is waiting for writable events.
    #[must_use]
    pub fn wants_write(&self) -> bool {
        !self.output.is_empty()
    }

    /// Both wants at once, for registration.
    #[must_use]
    pub fn interest(&self) -> Interest {
        Interest {
            read: self.wants_read(),
            write: self.wants_write(),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called,
    /// if ever.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Whether the connection is finished and should be dropped: after an
    /// I/O error, a timeout, the last reply of a closing connection, or the
    /// peer closing while its request was parked or its stream open.
    #[must_use]
    pub fn closed(&self) -> bool {
        match self.phase {
            Phase::Closed => true,
            Phase::Awaiting(_) | Phase::Streaming { .. } => self.read_closed,
            Phase::Head | Phase::Body { .. } | Phase::Ready { .. } | Phase::Closing { .. } => false,
        }
    }

    /// Why the connection is [`closed`](Self::closed), for the log.
    #[must_use]
    pub fn close_reason(&self) -> Option<&CloseReason> {
        match self.phase {
            Phase::Closed => self.close_reason.as_ref(),
            Phase::Awaiting(_) | Phase::Streaming { .. } if self.read_closed => Some(&PEER_CLOSED),
            _ => None,
        }
    }

    /// Whether a request was taken with [`next_request`](Self::next_request)
    /// and waits for [`respond`](Self::respond) or
    /// [`start_stream`](Self::start_stream).
    #[must_use]
    pub fn is_awaiting_response(&self) -> bool {
        matches!(self.phase, Phase::Awaiting(_))
    }

    /// Whether a streamed reply is open.
    #[must_use]
    pub fn is_streaming(&self) -> bool {
        matches!(self.phase, Phase::Streaming { .. })
    }

    /// Output bytes queued and not yet taken by the client. A stream
    /// writer compares it with
    /// [`STREAM_BUFFER_LIMIT`](super::limits::STREAM_BUFFER_LIMIT) to see how
    /// far behind its client is.
    #[must_use]
    pub fn stream_backlog(&self) -> usize {
        self.output.len()
    }

    /// Whether a chunk of `length` data bytes would be accepted by
    /// [`send_chunk`](Self::send_chunk) now. False when no stream is open
    /// or the peer is gone.
    #[must_use]
    pub fn can_accept(&self, length: usize) -> bool {
        match self.phase {
            Phase::Streaming { encoding, .. } if !self.read_closed => {
                self.output.len() + encoded_length(encoding, length) <= STREAM_BUFFER_LIMIT
            }
            _ => false,
        }
    }

    /// Reads from `source` until it would block, the read buffer is full, or
    /// the peer closes, parsing as it goes. An error other than `WouldBlock`
    /// or `Interrupted` closes the connection.
    pub fn read_from<R: Read + ?Sized>(&mut self, source: &mut R, now: Instant) {
        self.unread = true;
        while self.wants_read() {
            match source.read(self.input.space()) {
                Ok(0) => self.read_closed = true,
                Ok(count) => {
                    self.input.commit(count);
                    if let Phase::Closing { linger: true } = self.phase {
                        self.discard_input(count);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.unread = false;
                    break;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.finish(CloseReason::Io(error));
                    return;
                }
            }
            self.advance(now);
        }
        self.advance(now);
    }

    /// Writes queued output to `sink` until it would block or the output is
    /// empty. `Ok(0)` from `sink` counts as "would block" (rustls' writer
    /// says so when its own buffer is full); the write-stall timeout bounds
    /// how long that may last. Another error closes the connection.
    pub fn write_to<W: Write + ?Sized>(&mut self, sink: &mut W, now: Instant) {
        let mut wrote = false;
        while let Some(bytes) = self.output.front() {
            match sink.write(bytes) {
                Ok(0) => break,
                Ok(count) => {
                    self.output.advance(count);
                    wrote = true;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.finish(CloseReason::Io(error));
                    return;
                }
            }
        }
        if wrote {
            match sink.flush() {
                Ok(()) => {}
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(error) => {
                    self.finish(CloseReason::Io(error));
                    return;
                }
            }
            if self.output.is_empty() {
                self.timers.clear(Timer::WriteStall);
                // The idle time between requests counts from the end of the
                // last reply, not from when it was queued.
                if matches!(self.phase, Phase::Head) && self.timers.is_set(Timer::Idle) {
                    self.timers.set(Timer::Idle, now + IDLE_TIMEOUT);
                }
            } else {
                self.timers
                    .set(Timer::WriteStall, now + WRITE_STALL_TIMEOUT);
            }
        }
        self.close_if_done();
    }

    /// Acts on every timer due at `now`. Calling it early, or twice, does
    /// nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.take_expired(now) {
            match timer {
                Timer::Idle => {
                    if !matches!(self.phase, Phase::Head) || !self.input.is_empty() {
                        continue;
                    }
                    if self.output.is_empty() {
                        self.finish(CloseReason::IdleTimeout);
                    } else {
                        // Still writing the last reply: that is not idle,
                        // and the write-stall timer watches it.
                        self.timers.set(Timer::Idle, now + IDLE_TIMEOUT);
                    }
                }
                Timer::Head => {
                    if matches!(self.phase, Phase::Head) {
                        self.refuse(RequestError::HeadTimeout, now);
                    }
                }
                Timer::Body => {
                    if matches!(self.phase, Phase::Body { .. }) {
                        self.finish(CloseReason::BodyTimeout);
                    }
                }
                Timer::WriteStall => {
                    if !self.output.is_empty() {
                        self.finish(CloseReason::WriteStalled);
                    }
                }
                Timer::Linger => {
                    if matches!(self.phase, Phase::Closing { .. }) {
                        self.finish(CloseReason::Finished);
                    }
                }
            }
        }
    }

    /// The next complete request, once its head and body have arrived. The
    /// connection then waits for the reply before it parses anything else.
    pub fn next_request(&mut self) -> Option<Request> {
        match mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Ready { request, exchange } => {
                self.phase = Phase::Awaiting(exchange);
                Some(request)
            }
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Queues `response` as the reply to the request taken last, then goes
    /// on with the next pipelined request, if one is buffered. The
    /// connection closes after the reply when the client asked for that, or
    /// `response` does ([`Response::with_close`]).
    pub fn respond(&mut self, response: Response, now: Instant) -> Result<(), SendError> {
        let exchange = self.awaiting()?;
        let keep_alive = exchange.keep_alive && !response.closes();
        let (head, body) = response.encode(
            connection_header(exchange.version, keep_alive),
            exchange.head_only,
        );
        self.queue(head, now);
        self.queue(body, now);
        self.end_exchange(keep_alive, now);
        Ok(())
    }

    /// Starts a streamed reply to the request taken last: chunked for
    /// HTTP/1.1, raw bytes ended by closing the connection for HTTP/1.0
    /// (which has no chunks). Follow with [`send_chunk`](Self::send_chunk)
    /// and [`end_stream`](Self::end_stream).
    pub fn start_stream(
        &mut self,
        status: StatusCode,
        content_type: &str,
        now: Instant,
    ) -> Result<(), SendError> {
        let exchange = self.awaiting()?;
        let (encoding, framing, keep_alive) = match exchange.version {
            Version::Http11 => (
                StreamEncoding::Chunked,
                Framing::Chunked,
                exchange.keep_alive,
            ),
            Version::Http10 => (StreamEncoding::UntilClose, Framing::UntilClose, false),
        };
        let mut head = Vec::with_capacity(128);
        encode_head(
            &mut head,
            status,
            content_type,
            &[],
            framing,
            connection_header(exchange.version, keep_alive),
        );
        self.queue(head, now);
        self.phase = Phase::Streaming {
            exchange: Exchange {
                keep_alive,
                ..exchange
            },
            encoding,
        };
        Ok(())
    }

    /// Queues `data` as one chunk of the open stream. An empty `data` sends
    /// nothing (an empty chunk would end the stream). Refused with
    /// [`SendError::Full`], queuing nothing, when the chunk would take the
    /// output past [`STREAM_BUFFER_LIMIT`].
    pub fn send_chunk(&mut self, data: &[u8], now: Instant) -> Result<(), SendError> {
        let (exchange, encoding) = self.streaming()?;
        if data.is_empty() || exchange.head_only {
            return Ok(());
        }
        if !self.can_accept(data.len()) {
            return Err(SendError::Full);
        }
        match encoding {
            StreamEncoding::Chunked => {
                let mut size = Vec::with_capacity(20);
                push_chunk_size(&mut size, data.len());
                self.queue_slice(&size, now);
                self.queue_slice(data, now);
                self.queue_slice(b"\r\n", now);
            }
            StreamEncoding::UntilClose => self.queue_slice(data, now),
        }
        Ok(())
    }

    /// Ends the open stream: writes the last chunk, then goes on with the
    /// next request (or closes, for HTTP/1.0 and `Connection: close`).
    pub fn end_stream(&mut self, now: Instant) -> Result<(), SendError> {
        let (exchange, encoding) = match self.phase {
            Phase::Streaming { exchange, encoding } => (exchange, encoding),
            Phase::Closed => return Err(SendError::Closed),
            _ => return Err(SendError::NoStream),
        };
        if encoding == StreamEncoding::Chunked && !exchange.head_only {
            self.queue_slice(LAST_CHUNK, now);
        }
        self.end_exchange(exchange.keep_alive, now);
        Ok(())
    }

    /// Closes the connection at once, dropping any queued output: for a
    /// stream that cannot keep up, or a daemon shutting down.
    pub fn close(&mut self) {
        let reason = if self.closed() {
            CloseReason::PeerClosed
        } else {
            CloseReason::Aborted
        };
        self.finish(reason);
    }

    /// Parses what the buffered input allows, then applies the peer's end
    /// of file if it came.
    fn advance(&mut self, now: Instant) {
        loop {
            let progressed = match self.phase {
                Phase::Head => self.parse_head(now),
                Phase::Body { .. } => self.read_body(now),
                Phase::Ready { .. }
                | Phase::Awaiting(_)
                | Phase::Streaming { .. }
                | Phase::Closing { .. }
                | Phase::Closed => false,
            };
            if !progressed {
                break;
            }
        }
        if self.read_closed {
            match self.phase {
                Phase::Head => {
                    let reason = if self.input.is_empty() {
                        CloseReason::Finished
                    } else {
                        CloseReason::PeerClosed
                    };
                    self.begin_close(reason, false, now);
                }
                Phase::Body { .. } => self.begin_close(CloseReason::PeerClosed, false, now),
                // A complete request is still answered: the peer may have
                // shut down only its sending half. A parked request or an
                // open stream is reported by `closed()` for the reactor to
                // drop.
                Phase::Ready { .. }
                | Phase::Awaiting(_)
                | Phase::Streaming { .. }
                | Phase::Closing { .. }
                | Phase::Closed => {}
            }
        }
        self.close_if_done();
    }

    /// Tries to parse a request head from the buffered input. True if it
    /// moved to the next phase.
    fn parse_head(&mut self, now: Instant) -> bool {
        // RFC 9112 §2.2: blank lines before a request line are ignored
        // (some clients send a CRLF after a POST body).
        let blank = self
            .input
            .filled()
            .iter()
            .take_while(|&&byte| byte == b'\r' || byte == b'\n')
            .count();
        if blank > 0 {
            self.input.consume(blank);
            self.scanner = HeadScanner::default();
            self.blank += blank;
            if self.blank > MAX_BLANK_LINES {
                self.refuse(
                    RequestError::Malformed("too many blank lines before the request line"),
                    now,
                );
                return false;
            }
        }
        if self.input.is_empty() {
            self.input.shrink();
            return false;
        }
        if !self.timers.is_set(Timer::Head) {
            self.timers.clear(Timer::Idle);
            self.timers.set(Timer::Head, now + HEAD_TIMEOUT);
        }
        let head = match self.scanner.parse(self.input.filled()) {
            Ok(Some((length, head))) => {
                self.input.consume(length);
                self.scanner = HeadScanner::default();
                self.blank = 0;
                head
            }
            Ok(None) => return false,
            Err(error) => {
                self.refuse(error, now);
                return false;
            }
        };
        self.timers.clear(Timer::Head);
        let exchange = Exchange {
            keep_alive: head.keep_alive,
            head_only: head.request.method() == "HEAD",
            version: head.request.version(),
        };
        match head.body {
            None => {
                self.phase = Phase::Ready {
                    request: head.request,
                    exchange,
                };
            }
            Some(decoder) => {
                // RFC 9110 §10.1.1: no need for 100 Continue once body
                // bytes have arrived anyway.
                if head.expect_continue && self.input.is_empty() {
                    self.queue_slice(CONTINUE, now);
                }
                self.timers.set(Timer::Body, now + BODY_TIMEOUT);
                self.phase = Phase::Body {
                    request: head.request,
                    exchange,
                    decoder,
                };
            }
        }
        true
    }

    /// Decodes buffered body bytes. True if the body is complete.
    fn read_body(&mut self, now: Instant) -> bool {
        let Phase::Body {
            request, decoder, ..
        } = &mut self.phase
        else {
            return false;
        };
        if self.input.is_empty() {
            return false;
        }
        let (used, done) = match decoder.decode(self.input.filled(), &mut request.body) {
            Ok(progress) => progress,
            Err(error) => {
                self.refuse(error, now);
                return false;
            }
        };
        self.input.consume(used);
        if used > 0 {
            self.timers.set(Timer::Body, now + BODY_TIMEOUT);
        }
        if !done {
            return false;
        }
        self.timers.clear(Timer::Body);
        self.phase = match mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Body {
                request, exchange, ..
            } => Phase::Ready { request, exchange },
            other => other,
        };
        true
    }

    /// Answers a bad request with its error envelope and closes, lingering.
    fn refuse(&mut self, error: RequestError, now: Instant) {
        let (head, body) =
            Response::error(error.status(), error.message()).encode(ConnectionHeader::Close, false);
        self.queue(head, now);
        self.queue(body, now);
        self.begin_close(CloseReason::BadRequest(error), true, now);
    }

    fn awaiting(&self) -> Result<Exchange, SendError> {
        match self.phase {
            Phase::Awaiting(exchange) => Ok(exchange),
            Phase::Closed => Err(SendError::Closed),
            _ => Err(SendError::NoRequest),
        }
    }

    fn streaming(&self) -> Result<(Exchange, StreamEncoding), SendError> {
        match self.phase {
            Phase::Streaming { .. } if self.read_closed => Err(SendError::Closed),
            Phase::Streaming { exchange, encoding } => Ok((exchange, encoding)),
            Phase::Closed => Err(SendError::Closed),
            _ => Err(SendError::NoStream),
        }
    }

    /// After the reply is queued: on to the next request, or closing.
    fn end_exchange(&mut self, keep_alive: bool, now: Instant) {
        if keep_alive {
            self.phase = Phase::Head;
            self.timers.set(Timer::Idle, now + IDLE_TIMEOUT);
            self.advance(now);
        } else {
            self.begin_close(CloseReason::Finished, false, now);
            self.close_if_done();
        }
    }

    fn begin_close(&mut self, reason: CloseReason, linger: bool, now: Instant) {
        if self.close_reason.is_none() {
            self.close_reason = Some(reason);
        }
        self.phase = Phase::Closing { linger };
        self.input.clear();
        self.scanner = HeadScanner::default();
        self.timers.clear(Timer::Idle);
        self.timers.clear(Timer::Head);
        self.timers.clear(Timer::Body);
        if linger {
            self.timers.set(Timer::Linger, now + LINGER_TIMEOUT);
        }
    }

    fn close_if_done(&mut self) {
        if let Phase::Closing { linger } = self.phase
            && self.output.is_empty()
            && (!linger || self.read_closed)
        {
            self.finish(CloseReason::Finished);
        }
    }

    /// Ends the connection now; the first reason recorded is kept.
    fn finish(&mut self, reason: CloseReason) {
        if self.close_reason.is_none() {
            self.close_reason = Some(reason);
        }
        self.phase = Phase::Closed;
        self.input = InputBuffer::default();
        self.output.clear();
        self.timers.clear_all();
    }

    fn discard_input(&mut self, count: usize) {
        self.input.clear();
        self.discarded += count;
        if self.discarded > MAX_LINGER_BYTES {
            self.finish(CloseReason::Finished);
        }
    }

    fn queue(&mut self, bytes: Vec<u8>, now: Instant) {
        self.arm_write_stall(bytes.len(), now);
        self.output.push(bytes);
    }

    fn queue_slice(&mut self, bytes: &[u8], now: Instant) {
        self.arm_write_stall(bytes.len(), now);
        self.output.extend(bytes);
    }

    /// Output that starts pending starts the write-stall clock.
    fn arm_write_stall(&mut self, length: usize, now: Instant) {
        if self.output.is_empty() && length > 0 {
            self.timers
                .set(Timer::WriteStall, now + WRITE_STALL_TIMEOUT);
        }
    }
}

/// The `Connection` header of a reply.
fn connection_header(version: Version, keep_alive: bool) -> ConnectionHeader {
    match (keep_alive, version) {
        (false, _) => ConnectionHeader::Close,
        (true, Version::Http10) => ConnectionHeader::KeepAlive,
        (true, Version::Http11) => ConnectionHeader::Omitted,
    }
}

/// Bytes that `length` data bytes take on the wire in a stream.
fn encoded_length(encoding: StreamEncoding, length: usize) -> usize {
    match encoding {
        StreamEncoding::Chunked if length > 0 => length + chunk_overhead(length),
        StreamEncoding::Chunked | StreamEncoding::UntilClose => length,
    }
}
