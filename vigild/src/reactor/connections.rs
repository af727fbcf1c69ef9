//! API connections on the loop: accepting, moving bytes between the socket
//! and the HTTP state machine, handing requests to the API layer, and the
//! replies that wait (change waits, log streams).
//!
//! The call order on each wake-up is the one `http::Connection` documents:
//! read, take requests, write, read again while bytes are pending, then
//! close or re-register with the interest the connection asks for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mio::{Interest, Token};
use vigil_proto::api::{ChangeId, StatusCode};

use super::tcp::ApiStream;
use super::{MAX_CONNECTIONS, Reactor, Slot, listener_index};
use crate::api::{self, Reply};
use crate::http::{self, Credentials, Peer, Transport};
use crate::logs::format::{lagged_comment, write_sse_comment};
use crate::logs::{Cursor, Entry, Seq, StreamFormat};
use crate::supervisor::Now;

/// A quiet SSE stream gets a `: ping` comment after this long without
/// output (api.md §6.9), so that proxies and clients do not take it for
/// dead. It is the connection's own deadline on the reactor's one timer:
/// no thread, no extra timer fd, and no wake-up when nobody follows.
pub(super) const PING_INTERVAL: Duration = Duration::from_secs(15);

/// Room kept free in a stream's output for the `: lagged: skipped N
/// entries` comment, which goes before the entries that follow the skip:
/// the comment with the largest `u64` takes 48 bytes.
const LAG_REPORT_ROOM: usize = 64;

/// At most this many framed bytes are kept in a [`FrameCache`]; past it,
/// the cache starts over. What one stream's buffer can take in one pass:
/// followers that keep up are within that of each other.
const FRAME_CACHE_LIMIT: usize = 1024 * 1024;

/// Entries already framed, shared by every stream that sends them: fifty
/// followers of one service serialise each entry once, not fifty times.
///
/// An entry never changes once stored and its [`Seq`] is never reused, so a
/// frame stays valid for as long as it is kept; the cache is only bounded,
/// by [`FRAME_CACHE_LIMIT`], and its memory is given back when no stream
/// is left.
#[derive(Debug, Default)]
pub(super) struct FrameCache {
    /// The frames, back to back.
    bytes: Vec<u8>,
    /// Where each frame is in `bytes`.
    frames: HashMap<(StreamFormat, Seq), (usize, usize)>,
    /// A buffer for serialising, reused.
    scratch: Vec<u8>,
}

impl FrameCache {
    /// Appends `entry` to `out` in `format`, framing it first if no stream
    /// has sent it yet.
    fn write(&mut self, format: StreamFormat, entry: &Entry<'_>, out: &mut Vec<u8>) {
        let key = (format, entry.seq);
        let (start, end) = match self.frames.get(&key) {
            Some(&range) => range,
            None => {
                if self.bytes.len() > FRAME_CACHE_LIMIT {
                    self.clear();
                }
                let start = self.bytes.len();
                format.write_entry(entry, &mut self.bytes, &mut self.scratch);
                let range = (start, self.bytes.len());
                self.frames.insert(key, range);
                range
            }
        };
        out.extend_from_slice(&self.bytes[start..end]);
    }

    /// Forgets every frame, keeping the memory for the next ones.
    fn clear(&mut self) {
        self.bytes.clear();
        self.frames.clear();
    }

    /// Forgets every frame and gives the memory back.
    fn release(&mut self) {
        *self = Self::default();
    }
}

/// A reply that waits.
#[derive(Debug)]
enum Parked {
    /// For a change to become ready.
    Wait {
        change: ChangeId,
        deadline: Option<Instant>,
        timeout: Duration,
    },
    /// A stream of log entries.
    Logs(Box<LogFeed>),
    /// For a refresh probe to end (`POST /v1/checks/refresh`).
    Refresh { probe: crate::checks::ProbeId },
}

/// Where a log stream is, and what it still owes its reader.
#[derive(Debug)]
struct LogFeed {
    /// The next entries to send.
    cursor: Cursor,
    /// Ends a reply without follow at the first entry written after the
    /// request.
    until: Option<Seq>,
    format: StreamFormat,
    /// Entries the ring evicted before this reader got them, not reported
    /// yet (SSE only: the other formats skip silently).
    missed: u64,
    /// When the next `: ping` is due (SSE only).
    ping_at: Option<Instant>,
}

/// One accepted connection.
#[derive(Debug)]
pub(super) struct ApiConnection {
    stream: ApiStream,
    /// The listener it came through, whose count it holds.
    transport: Transport,
    http: http::Connection,
    parked: Option<Parked>,
    registered: Interest,
}

impl ApiConnection {
    /// The earliest of the HTTP layer's timers and a wait's deadline.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let wait = match &self.parked {
            Some(Parked::Wait { deadline, .. }) => *deadline,
            Some(Parked::Logs(feed)) => feed.ping_at,
            // The probe ends by its timeout at the latest.
            Some(Parked::Refresh { .. }) | None => None,
        };
        [self.http.deadline(), wait, self.handshake_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When an HTTPS handshake under way times out.
    fn handshake_deadline(&self) -> Option<Instant> {
        match &self.stream {
            ApiStream::Tls(tls) => tls.deadline(),
            ApiStream::Unix(_) | ApiStream::Tcp(_) => None,
        }
    }
}

fn mio_interest(interest: http::Interest) -> Option<Interest> {
    match (interest.read, interest.write) {
        (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
        (true, false) => Some(Interest::READABLE),
        (false, true) => Some(Interest::WRITABLE),
        (false, false) => None,
    }
}

impl Reactor {
    /// Accepts the connections waiting on a listener, up to
    /// [`MAX_CONNECTIONS`] open on it.
    pub(super) fn accept(&mut self, transport: Transport, now: Now) {
        let index = listener_index(transport);
        while self.connections[index] < MAX_CONNECTIONS {
            let accepted = match transport {
                Transport::Unix => self.socket.accept().map(|accepted| {
                    accepted.map(|(stream, peer)| {
                        let credentials = Credentials {
                            uid: peer.uid,
                            gid: peer.gid,
                            pid: peer.pid,
                        };
                        (ApiStream::Unix(stream), Peer::local(credentials))
                    })
                }),
                Transport::Http | Transport::Https => {
                    let listener = match transport {
                        Transport::Https => self.https.as_ref(),
                        Transport::Http | Transport::Unix => self.http.as_ref(),
                    };
                    let Some(listener) = listener else {
                        return;
                    };
                    listener
                        .accept()
                        .map(|accepted| accepted.map(|stream| (stream, Peer::tcp(transport))))
                }
            };
            let (mut stream, peer) = match accepted {
                Ok(Some(accepted)) => accepted,
                Ok(None) => return,
                Err(error) => {
                    // EMFILE and friends: the connection stays in the backlog
                    // and is retried when another one closes.
                    self.warn(&format!(
                        "cannot accept an API connection ({}): {error}",
                        transport.as_str()
                    ));
                    return;
                }
            };
            if let Some(tls) = stream.tls() {
                tls.start(now.monotonic);
            }
            let token = self.token();
            if self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE)
                .is_err()
            {
                continue;
            }
            let connection = ApiConnection {
                stream,
                transport,
                http: http::Connection::new(peer, now.monotonic),
                parked: None,
                registered: Interest::READABLE,
            };
            self.connections[index] += 1;
            self.slots
                .insert(token, Slot::Connection(Box::new(connection)));
            self.drive_connection(token, now, true);
        }
    }

    /// Runs a connection until it has nothing more to do this turn.
    pub(super) fn drive_connection(&mut self, token: Token, now: Now, mut readable: bool) {
        let Some(Slot::Connection(mut connection)) = self.slots.remove(&token) else {
            return;
        };
        loop {
            if readable || connection.http.read_pending() {
                connection
                    .http
                    .read_from(&mut connection.stream, now.monotonic);
                // Requests come only after the handshake: the client's
                // certificates are on the peer before the first one.
                if let Some(certificates) = connection
                    .stream
                    .tls()
                    .and_then(|tls| tls.take_certificates())
                {
                    connection.http.peer_mut().certificates = certificates;
                }
            }
            readable = false;
            while connection.parked.is_none() {
                let Some(request) = connection.http.next_request() else {
                    break;
                };
                let peer = connection.http.peer().clone();
                let reply = api::handle(&mut self.state, &request, &peer, now);
                for warning in std::mem::take(&mut self.state.security_warnings) {
                    self.warn(&warning);
                }
                self.answer(&mut connection, reply, now);
                // A handler's effects (a spawn, above all) are applied before
                // any other input reaches the supervisor.
                self.apply_effects(now);
            }
            let full = connection.parked.is_some() && self.pump_logs(&mut connection, now);
            if connection.http.wants_write() {
                connection
                    .http
                    .write_to(&mut connection.stream, now.monotonic);
            } else if connection.stream.wants_write() {
                // TLS records (a handshake message, the tail of a reply)
                // that the socket did not take last time.
                let _ = std::io::Write::flush(&mut connection.stream);
            }
            if full && !connection.http.wants_write() {
                // The socket took everything a log stream had queued, so no
                // writability event will come; it has more entries to
                // send. Next turn, not now: one stream must not hold the
                // loop for its whole backlog.
                self.unfinished.push(token);
            }
            if !connection.http.read_pending() {
                break;
            }
        }
        if connection.http.closed() {
            if let Some(tls) = connection.stream.tls() {
                tls.close();
            }
            let _ = self.poll.registry().deregister(&mut connection.stream);
            let transport = connection.transport;
            self.connections[listener_index(transport)] -= 1;
            drop(connection);
            // A connection waiting in the backlog may fit now.
            self.accept(transport, now);
            return;
        }
        let mut interest = connection.http.interest();
        interest.write |= connection.stream.wants_write();
        if let Some(wanted) = mio_interest(interest)
            && wanted != connection.registered
        {
            let _ = self
                .poll
                .registry()
                .reregister(&mut connection.stream, token, wanted);
            connection.registered = wanted;
        }
        self.slots.insert(token, Slot::Connection(connection));
    }

    fn answer(&mut self, connection: &mut ApiConnection, reply: Reply, now: Now) {
        match reply {
            Reply::Now(response) => {
                let response = api::daemon::maintained(&self.state, response);
                let _ = connection.http.respond(response, now.monotonic);
            }
            Reply::Wait {
                change,
                deadline,
                timeout,
            } => {
                connection.parked = Some(Parked::Wait {
                    change,
                    deadline,
                    timeout,
                });
            }
            Reply::Refresh { probe } => {
                connection.parked = Some(Parked::Refresh { probe });
            }
            Reply::Logs {
                filter,
                count,
                follow,
                format,
            } => {
                if connection
                    .http
                    .start_stream(StatusCode::Ok, format.content_type(), now.monotonic)
                    .is_err()
                {
                    return;
                }
                // Taken in the same turn, the backlog's end and the live
                // part's start are the same point: no gap, no repeat.
                let until = (!follow).then(|| self.state.logs.next_seq());
                let cursor = self.state.logs.cursor_at_tail(filter, count);
                connection.parked = Some(Parked::Logs(Box::new(LogFeed {
                    cursor,
                    until,
                    format,
                    missed: 0,
                    ping_at: format.is_sse().then(|| now.monotonic + PING_INTERVAL),
                })));
            }
        }
    }

    /// Writes log entries to a parked log stream while they fit in its
    /// output buffer, as one chunk; the rest stay in the ring until the
    /// client has read enough, and the next pass (on WRITABLE, or on new
    /// output) continues from there. Entries that a slow reader lets the
    /// ring evict are skipped: an SSE reader is told how many with a
    /// `: lagged` comment before the entries that follow the skip, the
    /// other formats skip silently (api.md §6.9). The producers never wait
    /// for a reader, and one pass writes at most the 1 MiB the buffer
    /// holds. Returns whether it stopped because the buffer was full, with
    /// entries left to send.
    fn pump_logs(&mut self, connection: &mut ApiConnection, now: Now) -> bool {
        let Some(Parked::Logs(feed)) = &mut connection.parked else {
            return false;
        };
        let http = &mut connection.http;
        let (format, until) = (feed.format, feed.until);
        let reserve = if format.is_sse() { LAG_REPORT_ROOM } else { 0 };
        let mut out = Vec::new();
        let frames = &mut self.frames;
        let mut reached_end = false;
        let mut full = false;
        let missed = self.state.logs.take_while(&mut feed.cursor, |entry| {
            if until.is_some_and(|until| entry.seq >= until) {
                reached_end = true;
                return false;
            }
            let before = out.len();
            frames.write(format, &entry, &mut out);
            if http.can_accept(reserve + out.len()) {
                return true;
            }
            out.truncate(before);
            // An entry too large for even an empty buffer would wait for
            // ever: it is skipped instead. That cannot happen with lines of
            // at most 16 KiB, even escaped. A stream that is gone takes
            // nothing more.
            if out.is_empty() && http.stream_backlog() == 0 && http.can_accept(0) {
                return true;
            }
            full = true;
            false
        });
        feed.missed += missed;
        if feed.missed > 0 {
            if !format.is_sse() {
                feed.missed = 0;
            } else {
                let mut report = Vec::with_capacity(LAG_REPORT_ROOM + out.len());
                write_sse_comment(&mut report, &lagged_comment(feed.missed));
                if http.can_accept(report.len() + out.len()) {
                    report.append(&mut out);
                    out = report;
                    feed.missed = 0;
                }
            }
        }
        if !out.is_empty() && http.send_chunk(&out, now.monotonic).is_ok() && format.is_sse() {
            feed.ping_at = Some(now.monotonic + PING_INTERVAL);
        }
        // Without follow, the reply ends with the backlog: at the first
        // entry written after the request, or when none is left.
        if until.is_some() && (reached_end || !full) {
            let _ = connection.http.end_stream(now.monotonic);
            connection.parked = None;
        }
        full
    }

    /// Sends `: ping` to an SSE stream that has been quiet for
    /// [`PING_INTERVAL`]. A reader whose buffer is full is not pinged (it
    /// has bytes to read), and its next ping is due an interval later.
    fn ping(connection: &mut ApiConnection, now: Now) {
        let Some(Parked::Logs(feed)) = &mut connection.parked else {
            return;
        };
        if feed.ping_at.is_none_or(|at| at > now.monotonic) {
            return;
        }
        let mut ping = Vec::with_capacity(8);
        write_sse_comment(&mut ping, "ping");
        if connection.http.can_accept(ping.len()) {
            let _ = connection.http.send_chunk(&ping, now.monotonic);
        }
        feed.ping_at = Some(now.monotonic + PING_INTERVAL);
    }

    /// New output was stored: feed every log stream.
    pub(super) fn feed_followers(&mut self, now: Now) {
        if !std::mem::take(&mut self.new_output) {
            return;
        }
        let tokens: Vec<Token> = self
            .slots
            .iter()
            .filter(|(_, slot)| {
                matches!(slot, Slot::Connection(c) if matches!(c.parked, Some(Parked::Logs(_))))
            })
            .map(|(token, _)| *token)
            .collect();
        if tokens.is_empty() {
            self.frames.release();
        }
        for token in tokens {
            self.drive_connection(token, now, false);
        }
    }

    /// Answers the waits parked on a change that became ready.
    pub(super) fn change_ready(&mut self, change: ChangeId, now: Now) {
        let tokens: Vec<Token> = self
            .slots
            .iter()
            .filter(|(_, slot)| {
                matches!(slot, Slot::Connection(c)
                    if matches!(c.parked, Some(Parked::Wait { change: waited, .. }) if waited == change))
            })
            .map(|(token, _)| *token)
            .collect();
        for token in tokens {
            if let Some(Slot::Connection(connection)) = self.slots.get_mut(&token) {
                connection.parked = None;
                let response = api::wait_done(&self.state, change);
                let response = api::daemon::maintained(&self.state, response);
                let _ = connection.http.respond(response, now.monotonic);
            }
            self.drive_connection(token, now, false);
        }
    }

    /// Answers the refreshes parked on probes that ended this turn.
    pub(super) fn refreshes_done(&mut self, now: Now) {
        for (check, probe, outcome) in std::mem::take(&mut self.probes.finished) {
            let tokens: Vec<Token> = self
                .slots
                .iter()
                .filter(|(_, slot)| {
                    matches!(slot, Slot::Connection(c)
                        if matches!(&c.parked, Some(Parked::Refresh { probe: waited }) if *waited == probe))
                })
                .map(|(token, _)| *token)
                .collect();
            for token in tokens {
                if let Some(Slot::Connection(connection)) = self.slots.get_mut(&token) {
                    connection.parked = None;
                    let response = api::refresh_done(&self.state, &check, outcome.clone());
                    let response = api::daemon::maintained(&self.state, response);
                    let _ = connection.http.respond(response, now.monotonic);
                }
                self.drive_connection(token, now, false);
            }
        }
    }

    /// Writes what every connection has queued, as far as its socket takes
    /// it without blocking: the last chance before the daemon exits.
    pub(super) fn flush_connections(&mut self, now: Now) {
        for slot in self.slots.values_mut() {
            if let Slot::Connection(connection) = slot
                && connection.http.wants_write()
            {
                connection
                    .http
                    .write_to(&mut connection.stream, now.monotonic);
                if let Some(tls) = connection.stream.tls() {
                    tls.close();
                }
            }
        }
    }

    /// Fires due HTTP timers and wait deadlines.
    pub(super) fn connection_timeouts(&mut self, now: Now) {
        let due: Vec<Token> = self
            .slots
            .iter()
            .filter(|(_, slot)| {
                matches!(slot, Slot::Connection(c) if c.deadline().is_some_and(|d| d <= now.monotonic))
            })
            .map(|(token, _)| *token)
            .collect();
        for token in due {
            if let Some(Slot::Connection(connection)) = self.slots.get_mut(&token) {
                if let Some(Parked::Wait {
                    deadline: Some(deadline),
                    timeout,
                    ..
                }) = connection.parked
                    && deadline <= now.monotonic
                {
                    connection.parked = None;
                    let response =
                        api::daemon::maintained(&self.state, api::wait_timed_out(timeout));
                    let _ = connection.http.respond(response, now.monotonic);
                }
                Self::ping(connection, now);
                connection.http.handle_timeout(now.monotonic);
                if connection
                    .handshake_deadline()
                    .is_some_and(|deadline| deadline <= now.monotonic)
                {
                    // A TLS handshake that is not done in time (api.md §3).
                    connection.http.close();
                }
            }
            self.drive_connection(token, now, false);
        }
    }
}
