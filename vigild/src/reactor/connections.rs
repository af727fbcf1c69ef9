//! API connections on the loop: accepting, moving bytes between the socket
//! and the HTTP state machine, handing requests to the API layer, and the
//! replies that wait (change waits, log streams).
//!
//! The call order on each wake-up is the one `http::Connection` documents:
//! read, take requests, write, read again while bytes are pending, then
//! close or re-register with the interest the connection asks for.

use std::time::{Duration, Instant};

use mio::net::UnixStream;
use mio::{Interest, Token};
use vigil_proto::api::{ChangeId, StatusCode};

use super::{MAX_CONNECTIONS, Reactor, Slot};
use crate::api::{self, Reply};
use crate::http::{self, Credentials, Peer};
use crate::logs::{Cursor, Seq};
use crate::supervisor::Now;

/// A reply that waits.
#[derive(Debug)]
enum Parked {
    /// For a change to become ready.
    Wait {
        change: ChangeId,
        deadline: Option<Instant>,
        timeout: Duration,
    },
    /// A stream of log entries; `until` ends a reply without follow at the
    /// first entry written after the request.
    Logs { cursor: Cursor, until: Option<Seq> },
}

/// One accepted connection.
#[derive(Debug)]
pub(super) struct ApiConnection {
    stream: UnixStream,
    http: http::Connection,
    parked: Option<Parked>,
    registered: Interest,
}

impl ApiConnection {
    /// The earliest of the HTTP layer's timers and a wait's deadline.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let wait = match &self.parked {
            Some(Parked::Wait { deadline, .. }) => *deadline,
            _ => None,
        };
        match (self.http.deadline(), wait) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
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
    /// Accepts waiting connections, up to [`MAX_CONNECTIONS`].
    pub(super) fn accept(&mut self, now: Now) {
        while self.connections < MAX_CONNECTIONS {
            let (mut stream, peer) = match self.socket.accept() {
                Ok(Some(accepted)) => accepted,
                Ok(None) => return,
                Err(error) => {
                    // EMFILE and friends: the connection stays in the backlog
                    // and is retried when another one closes.
                    self.warn(&format!("cannot accept an API connection: {error}"));
                    return;
                }
            };
            let token = self.token();
            if self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE)
                .is_err()
            {
                continue;
            }
            let credentials = Credentials {
                uid: peer.uid,
                gid: peer.gid,
                pid: peer.pid,
            };
            let connection = ApiConnection {
                stream,
                http: http::Connection::new(Peer::local(credentials), now.monotonic),
                parked: None,
                registered: Interest::READABLE,
            };
            self.connections += 1;
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
            }
            readable = false;
            while connection.parked.is_none() {
                let Some(request) = connection.http.next_request() else {
                    break;
                };
                let peer = connection.http.peer().clone();
                let reply = api::handle(&mut self.state, &request, &peer, now);
                self.answer(&mut connection, reply, now);
                // A handler's effects (a spawn, above all) are applied before
                // any other input reaches the supervisor.
                self.apply_effects(now);
            }
            if connection.parked.is_some() {
                self.pump_logs(&mut connection, now);
            }
            if connection.http.wants_write() {
                connection
                    .http
                    .write_to(&mut connection.stream, now.monotonic);
            }
            if !connection.http.read_pending() {
                break;
            }
        }
        if connection.http.closed() {
            let _ = self.poll.registry().deregister(&mut connection.stream);
            self.connections -= 1;
            drop(connection);
            // A connection waiting in the backlog may fit now.
            self.accept(now);
            return;
        }
        if let Some(wanted) = mio_interest(connection.http.interest())
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
            Reply::Logs {
                filter,
                count,
                follow,
            } => {
                if connection
                    .http
                    .start_stream(StatusCode::Ok, "application/x-ndjson", now.monotonic)
                    .is_err()
                {
                    return;
                }
                // Taken in the same turn, the backlog's end and the live
                // part's start are the same point: no gap, no repeat.
                let until = (!follow).then(|| self.state.logs.next_seq());
                let cursor = self.state.logs.cursor_at_tail(filter, count);
                connection.parked = Some(Parked::Logs { cursor, until });
            }
        }
    }

    /// Writes log entries to a parked log stream while they fit in its
    /// output buffer; the rest stay in the ring until the client has read
    /// enough, and the next pass (on WRITABLE, or on new output) continues
    /// from there. Entries that a slow reader lets the ring evict are
    /// skipped silently (api.md §6.9); the producers never wait for it.
    fn pump_logs(&mut self, connection: &mut ApiConnection, now: Now) {
        let Some(Parked::Logs { cursor, until }) = &mut connection.parked else {
            return;
        };
        let until = *until;
        let http = &mut connection.http;
        let mut line = Vec::new();
        let mut reached_end = false;
        let mut full = false;
        self.state.logs.take_while(cursor, |entry| {
            if until.is_some_and(|until| entry.seq >= until) {
                reached_end = true;
                return false;
            }
            line.clear();
            if serde_json::to_writer(&mut line, &entry.to_log_entry()).is_err() {
                return true;
            }
            line.push(b'\n');
            if !http.can_accept(line.len()) {
                // An entry too large for even an empty buffer would wait
                // for ever: it is skipped instead. That cannot happen with
                // lines of at most 16 KiB, even escaped. A stream that is
                // gone takes nothing more.
                if http.stream_backlog() > 0 || !http.can_accept(0) {
                    full = true;
                    return false;
                }
                return true;
            }
            let _ = http.send_chunk(&line, now.monotonic);
            true
        });
        // Without follow, the reply ends with the backlog: at the first
        // entry written after the request, or when none is left.
        if until.is_some() && (reached_end || !full) {
            let _ = connection.http.end_stream(now.monotonic);
            connection.parked = None;
        }
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
                matches!(slot, Slot::Connection(c) if matches!(c.parked, Some(Parked::Logs { .. })))
            })
            .map(|(token, _)| *token)
            .collect();
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
                let _ = connection.http.respond(response, now.monotonic);
            }
            self.drive_connection(token, now, false);
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
                    let _ = connection
                        .http
                        .respond(api::wait_timed_out(timeout), now.monotonic);
                }
                connection.http.handle_timeout(now.monotonic);
            }
            self.drive_connection(token, now, false);
        }
    }
}
