//! vigild's stdout, where forwarded service output goes, written without
//! ever blocking the loop (supervision.md §15).
//!
//! The descriptor is shared with passthrough services, so it is never
//! switched to non-blocking mode (that would surprise them). Instead a write
//! happens only when `poll` says the descriptor is writable, and in pieces of
//! at most [`PIPE_CHUNK`] bytes, which a writable pipe always takes whole.
//! Up to [`MAX_BUFFERED`] bytes wait in memory; beyond that, whole lines are
//! dropped and counted.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Output held while stdout is not being read. Large enough to ride out a
/// slow log collector; small next to the budget of a few MB of RSS.
pub const MAX_BUFFERED: usize = 1024 * 1024;

/// A writable pipe has room for at least one page; writing no more than that
/// at a time cannot block.
pub const PIPE_CHUNK: usize = 4096;

/// A buffered, never-blocking writer for one descriptor.
#[derive(Debug)]
pub struct Output {
    fd: RawFd,
    buffer: VecDeque<u8>,
    /// Lines dropped since the last [`Output::take_dropped`].
    dropped: u64,
    /// Set after a write error other than "would block": the reader is gone
    /// and further output is discarded.
    broken: bool,
}

impl Output {
    /// A writer for vigild's stdout.
    pub fn stdout() -> Output {
        Output::new(io::stdout().as_raw_fd())
    }

    /// A writer for `fd`, which the caller keeps open.
    pub fn new(fd: RawFd) -> Output {
        Output {
            fd,
            buffer: VecDeque::new(),
            dropped: 0,
            broken: false,
        }
    }

    /// The descriptor, for registering interest in writability while
    /// output is pending.
    pub fn raw_fd(&self) -> RawFd {
        self.fd
    }

    /// Queues one complete line (newline included) and writes what can be
    /// written now. A line that does not fit in the buffer is dropped whole.
    pub fn push_line(&mut self, line: &[u8]) {
        if self.broken {
            return;
        }
        if self.buffer.len() + line.len() > MAX_BUFFERED {
            self.dropped += 1;
            return;
        }
        self.buffer.extend(line);
        self.flush();
    }

    /// Writes buffered output while the descriptor is writable.
    pub fn flush(&mut self) {
        while !self.buffer.is_empty() && !self.broken && self.writable() {
            let (front, _) = self.buffer.as_slices();
            let chunk = &front[..front.len().min(PIPE_CHUNK)];
            // SAFETY: the descriptor stays open for vigild's lifetime and the
            // buffer is valid for `chunk.len()` bytes.
            let written = unsafe { libc::write(self.fd, chunk.as_ptr().cast(), chunk.len()) };
            if written < 0 {
                match io::Error::last_os_error().kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => return,
                    _ => {
                        self.broken = true;
                        self.buffer.clear();
                        return;
                    }
                }
            }
            self.buffer.drain(..written as usize);
        }
    }

    /// Whether output is waiting for the descriptor to become writable.
    pub fn pending(&self) -> bool {
        !self.buffer.is_empty() && !self.broken
    }

    /// Lines dropped since the last call, for a warning.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    fn writable(&self) -> bool {
        // SAFETY: the descriptor stays open for the writer's lifetime.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO) {
            Ok(n) if n > 0 => fds[0].revents().is_some_and(|r| {
                r.intersects(nix::poll::PollFlags::POLLOUT | nix::poll::PollFlags::POLLERR)
            }),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;
    use std::os::fd::OwnedFd;

    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        let (read, write) = nix::unistd::pipe().unwrap();
        (read, write)
    }

    #[test]
    fn a_stalled_reader_never_blocks_the_writer() {
        let (read, write) = pipe();
        let mut output = Output::new(write.as_raw_fd());
        let line = vec![b'x'; 1023]
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        // 2 MiB of lines into a 64 KiB pipe nobody reads: returns at once,
        // keeps 1 MiB, drops the rest and counts it.
        for _ in 0..2048 {
            output.push_line(&line);
        }
        assert!(output.pending());
        let dropped = output.take_dropped();
        assert!(dropped > 900 && dropped < 1024, "dropped {dropped}");
        // Once the reader drains the pipe, everything buffered arrives whole.
        let mut file = std::fs::File::from(read);
        let mut total = 0;
        let mut chunk = vec![0u8; 65536];
        while output.pending() {
            total += file.read(&mut chunk).unwrap();
            output.flush();
        }
        drop(write);
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).unwrap();
        total += rest.len();
        assert_eq!(total % 1024, 0);
        assert_eq!(total / 1024, 2048 - dropped as usize);
    }

    #[test]
    fn a_closed_reader_discards_output() {
        let (read, write) = pipe();
        drop(read);
        let mut output = Output::new(write.as_raw_fd());
        output.push_line(b"hello\n");
        assert!(!output.pending());
    }
}
