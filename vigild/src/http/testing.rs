//! Test helpers: drive a [`Connection`] over an in-memory pipe, with a fake
//! clock, the way the reactor drives it over a socket.
//!
//! [`Duplex`] plays the socket: reads return `WouldBlock` when nothing is
//! buffered, writes stop at a configurable amount of room. [`Driver`] plays
//! the reactor, with readable events edge-triggered as with mio: an event
//! comes when new bytes arrive while registered for reads, or when a
//! re-registration adds reads while bytes wait, and never otherwise. So a
//! connection that stops reading before `WouldBlock` and forgets to resume
//! stalls here as it would on a real socket. [`Driver::pump`] repeats the
//! reactor's turn until nothing moves (bounded, so a livelock fails the test
//! instead of hanging it). [`parse_responses`] reads what the server wrote
//! back.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::{Connection, Interest, Peer, Request, Response};

/// An in-memory stand-in for a non-blocking stream socket, seen from the
/// server's side.
#[derive(Debug)]
pub(crate) struct Duplex {
    /// Bytes the client sent that the server has not read.
    pub(crate) inbound: VecDeque<u8>,
    /// Bytes the server wrote that the test has not taken.
    pub(crate) outbound: Vec<u8>,
    /// The client shut down its sending half: reads return end of file once
    /// `inbound` is empty.
    pub(crate) client_closed: bool,
    /// Most bytes a single read returns (1 splits every request into
    /// one-byte reads).
    pub(crate) read_size: usize,
    /// How many more bytes the client's side takes before writes would
    /// block; `None` for no limit.
    pub(crate) write_room: Option<usize>,
    /// Read calls the server made, `WouldBlock` ones included.
    pub(crate) reads: usize,
    /// An edge is pending: bytes (or end of file) arrived since the last
    /// readable event was delivered.
    pub(crate) readable: bool,
}

impl Default for Duplex {
    fn default() -> Self {
        Self {
            inbound: VecDeque::new(),
            outbound: Vec::new(),
            client_closed: false,
            read_size: usize::MAX,
            write_room: None,
            reads: 0,
            readable: false,
        }
    }
}

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.inbound.is_empty() {
            if self.client_closed {
                return Ok(0);
            }
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let count = buf.len().min(self.read_size).min(self.inbound.len());
        for (slot, byte) in buf.iter_mut().zip(self.inbound.drain(..count)) {
            *slot = byte;
        }
        Ok(count)
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.write_room.unwrap_or(usize::MAX);
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let count = buf.len().min(room);
        self.outbound.extend_from_slice(&buf[..count]);
        if let Some(room) = &mut self.write_room {
            *room -= count;
        }
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connection, its pipe and a fake clock, driven like the reactor does.
#[derive(Debug)]
pub(crate) struct Driver {
    pub(crate) connection: Connection,
    pub(crate) io: Duplex,
    pub(crate) now: Instant,
    /// The interest the pipe is registered with, as mio would hold it.
    registered: Interest,
}

impl Driver {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        let connection = Connection::new(Peer::default(), now);
        Self {
            registered: connection.interest(),
            connection,
            io: Duplex::default(),
            now,
        }
    }

    /// The client sends `bytes`; the server reacts.
    pub(crate) fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.io.inbound.extend(bytes.as_ref());
        self.io.readable = true;
        self.pump();
    }

    /// The client shuts down its sending half; the server reacts.
    pub(crate) fn shut_down_client(&mut self) {
        self.io.client_closed = true;
        self.io.readable = true;
        self.pump();
    }

    /// The reactor's turns (read on a readable event or when a read is
    /// pending, write, re-register) until nothing changes. Panics after
    /// 10,000 turns: a livelock.
    pub(crate) fn pump(&mut self) {
        for _ in 0..10_000 {
            let before = self.snapshot();
            // Edge-triggered: an event is delivered once, and only while
            // registered for reads; without that registration it is lost.
            let event = std::mem::take(&mut self.io.readable) && self.registered.read;
            if event || self.connection.read_pending() {
                self.connection.read_from(&mut self.io, self.now);
            }
            if self.connection.wants_write() {
                self.connection.write_to(&mut self.io, self.now);
            }
            self.reregister();
            if before == self.snapshot() {
                return;
            }
        }
        panic!("the connection did not settle in 10,000 turns");
    }

    /// Re-registers when the interest changed and is not empty. Adding reads
    /// to a source that has bytes waiting delivers an event, as
    /// `EPOLL_CTL_MOD` does.
    fn reregister(&mut self) {
        let interest = self.connection.interest();
        if interest.is_empty() || interest == self.registered {
            return;
        }
        if interest.read
            && !self.registered.read
            && (!self.io.inbound.is_empty() || self.io.client_closed)
        {
            self.io.readable = true;
        }
        self.registered = interest;
    }

    fn snapshot(&self) -> (usize, usize, bool, Interest) {
        (
            self.io.inbound.len(),
            self.io.outbound.len(),
            self.io.readable,
            self.connection.interest(),
        )
    }

    /// The next request, which must be complete.
    pub(crate) fn request(&mut self) -> Request {
        match self.connection.next_request() {
            Some(request) => request,
            None => panic!("no complete request: {:?}", self.connection),
        }
    }

    /// Answers the request taken last, then lets the server write it.
    pub(crate) fn respond(&mut self, response: Response) {
        let result = self.connection.respond(response, self.now);
        assert_eq!(result, Ok(()));
        self.pump();
    }

    /// Everything the server wrote since the last call, as text.
    pub(crate) fn output(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.io.outbound)).expect("UTF-8 output")
    }

    /// Moves the clock forward by `by`, fires due timers, and pumps.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.connection.handle_timeout(self.now);
        self.pump();
    }

    /// Moves the clock to the connection's deadline, which must be set, and
    /// returns how far it moved.
    pub(crate) fn advance_to_deadline(&mut self) -> Duration {
        let deadline = self.connection.deadline().expect("a deadline");
        let by = deadline - self.now;
        self.advance(by);
        by
    }
}

/// A response as read back from the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WireResponse {
    /// `HTTP/1.1 404 Not Found`.
    pub(crate) status_line: String,
    pub(crate) code: u16,
    /// Header fields in order, names as sent.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, decoded from chunks if it was chunked.
    pub(crate) body: Vec<u8>,
    /// The raw chunk framing of a chunked body, for tests of the encoding.
    pub(crate) raw_body: Vec<u8>,
}

impl WireResponse {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Splits `wire` into the responses it holds: interim (1xx) ones, fixed
/// ones by `Content-Length`, chunked ones, and a last one that runs to the
/// end. Panics on anything malformed, or on a response to a `HEAD` request
/// (whose length cannot be known from the bytes alone).
pub(crate) fn parse_responses(wire: &[u8]) -> Vec<WireResponse> {
    let mut responses = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut slots);
        let length = match parsed.parse(rest) {
            Ok(httparse::Status::Complete(length)) => length,
            other => panic!(
                "bad response head ({other:?}): {:?}",
                String::from_utf8_lossy(rest)
            ),
        };
        let code = parsed.code.expect("a status code");
        let status_line =
            String::from_utf8_lossy(&rest[..rest.iter().position(|&b| b == b'\r').unwrap()])
                .into_owned();
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|field| {
                (
                    field.name.to_owned(),
                    String::from_utf8_lossy(field.value).into_owned(),
                )
            })
            .collect();
        rest = &rest[length..];
        let mut response = WireResponse {
            status_line,
            code,
            headers,
            body: Vec::new(),
            raw_body: Vec::new(),
        };
        if (100..200).contains(&code) {
            responses.push(response);
            continue;
        }
        if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().expect("a numeric Content-Length");
            response.body = rest[..length].to_vec();
            response.raw_body = response.body.clone();
            rest = &rest[length..];
        } else if response.header("transfer-encoding") == Some("chunked") {
            let start = rest;
            loop {
                let line_end = rest
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .expect("a size line");
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16)
                        .expect("a hex chunk size");
                rest = &rest[line_end + 2..];
                if size == 0 {
                    assert_eq!(&rest[..2], b"\r\n", "no trailers expected");
                    rest = &rest[2..];
                    break;
                }
                response.body.extend_from_slice(&rest[..size]);
                assert_eq!(&rest[size..size + 2], b"\r\n", "chunk data ends in CRLF");
                rest = &rest[size + 2..];
            }
            response.raw_body = start[..start.len() - rest.len()].to_vec();
        } else {
            response.body = rest.to_vec();
            response.raw_body = response.body.clone();
            rest = &[];
        }
        responses.push(response);
    }
    responses
}

/// Parses one complete request from `bytes` through a real connection, for
/// tests of code that takes a [`Request`] (the API layer's handlers).
pub(crate) fn request(bytes: impl AsRef<[u8]>) -> Request {
    let mut driver = Driver::new();
    driver.send(bytes);
    driver.request()
}
