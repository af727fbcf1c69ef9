//! Reading services' stdout and stderr on the loop (supervision.md §15):
//! non-blocking, never closed early, split into lines, stored, and
//! forwarded to vigild's stdout.

use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::time::Instant;

use mio::Token;
use mio::unix::SourceFd;
use vigil_proto::api::LogStream;

use super::{Reactor, Slot};
use crate::logs::{LineSplitter, PARTIAL_LINE_TIMEOUT};
use crate::supervisor::Now;

/// Bytes read from one pipe per turn before the loop moves on, so that a
/// service writing flat out cannot starve the others (the rest is read on
/// the next turn).
const READ_BUDGET: usize = 256 * 1024;

/// One read end of a service's output.
#[derive(Debug)]
pub(super) struct Pipe {
    fd: OwnedFd,
    service: String,
    stream: LogStream,
    /// `logs-forward: enabled`: copy each line to vigild's stdout.
    forward: bool,
    /// The service process that opened it.
    pid: i32,
    splitter: LineSplitter,
    last_read: Instant,
}

impl Pipe {
    pub(super) fn new(
        fd: OwnedFd,
        service: String,
        stream: LogStream,
        forward: bool,
        pid: i32,
        now: Instant,
    ) -> Pipe {
        Pipe {
            fd,
            service,
            stream,
            forward,
            pid,
            splitter: LineSplitter::new(),
            last_read: now,
        }
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// When a partial line is due to be emitted on its own.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.splitter
            .has_partial()
            .then(|| self.last_read + PARTIAL_LINE_TIMEOUT)
    }
}

/// What a read pass found.
enum ReadEnd {
    /// Drained until it would block.
    Drained,
    /// The budget ran out first.
    Budget,
    /// End of file: every writer has closed it.
    Eof,
}

impl Reactor {
    /// Reads a pipe until it would block, its budget runs out or it ends.
    pub(super) fn read_pipe(&mut self, token: Token, now: Now) {
        let Some(Slot::Pipe(mut pipe)) = self.slots.remove(&token) else {
            return;
        };
        let mut lines = Vec::new();
        let mut buffer = [0u8; 16 * 1024];
        let mut total = 0;
        let end = loop {
            match nix::unistd::read(&pipe.fd, &mut buffer) {
                Ok(0) => break ReadEnd::Eof,
                Ok(n) => {
                    pipe.splitter.push(&buffer[..n], &mut lines);
                    pipe.last_read = now.monotonic;
                    total += n;
                    if total >= READ_BUDGET {
                        break ReadEnd::Budget;
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => break ReadEnd::Drained,
                Err(errno) => {
                    self.warn(&format!(
                        "cannot read output of service \"{}\": {}",
                        pipe.service,
                        io::Error::from(errno)
                    ));
                    break ReadEnd::Eof;
                }
            }
        };
        if matches!(end, ReadEnd::Eof) {
            pipe.splitter.finish(&mut lines);
        }
        self.store_lines(&pipe, lines, now);
        match end {
            ReadEnd::Eof => {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&pipe.raw_fd()));
            }
            ReadEnd::Budget => {
                self.unfinished.push(token);
                self.slots.insert(token, Slot::Pipe(pipe));
            }
            ReadEnd::Drained => {
                self.slots.insert(token, Slot::Pipe(pipe));
            }
        }
    }

    /// Reads the pipes of process `pid` before its exit is handled, so that
    /// a failed start can show its last lines.
    pub(super) fn drain_pipes_of(&mut self, pid: i32, now: Now) {
        let tokens: Vec<Token> = self
            .slots
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Pipe(pipe) if pipe.pid == pid))
            .map(|(token, _)| *token)
            .collect();
        for token in tokens {
            self.read_pipe(token, now);
        }
    }

    /// Closes a pipe at shutdown, keeping its partial line.
    pub(super) fn close_pipe(&mut self, token: Token, now: Now) {
        if let Some(Slot::Pipe(mut pipe)) = self.slots.remove(&token) {
            let mut lines = Vec::new();
            pipe.splitter.finish(&mut lines);
            self.store_lines(&pipe, lines, now);
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&pipe.raw_fd()));
        }
    }

    /// Emits partial lines that waited long enough.
    pub(super) fn pipe_timeouts(&mut self, now: Now) {
        let due: Vec<Token> = self
            .slots
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Pipe(pipe) if pipe.deadline().is_some_and(|d| d <= now.monotonic)))
            .map(|(token, _)| *token)
            .collect();
        for token in due {
            if let Some(Slot::Pipe(mut pipe)) = self.slots.remove(&token) {
                let mut lines = Vec::new();
                pipe.splitter.flush(&mut lines);
                self.store_lines(&pipe, lines, now);
                self.slots.insert(token, Slot::Pipe(pipe));
            }
        }
    }

    fn store_lines(&mut self, pipe: &Pipe, lines: Vec<String>, now: Now) {
        if lines.is_empty() {
            return;
        }
        let mut forwarded = Vec::new();
        for line in lines {
            if pipe.forward {
                forwarded.clear();
                crate::logs::format::write_forwarded(
                    &mut forwarded,
                    now.wall,
                    &pipe.service,
                    &line,
                );
                self.streams.push_output(&forwarded);
            }
            self.state
                .logs
                .push(&pipe.service, pipe.stream, line, now.wall);
        }
        self.new_output = true;
        self.watch_streams();
    }
}
