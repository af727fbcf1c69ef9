//! vigild's stdout, where forwarded service output goes, written without
//! ever blocking the loop (supervision.md §15, §18 "Blocking on stdout").
//!
//! The descriptor is shared with passthrough services, so its file status
//! flags are never changed: switching it to non-blocking mode would surprise
//! them. How a write is kept from blocking depends on what stdout is:
//!
//! - a **pipe, FIFO or terminal** (a container runtime's pipe, `docker -t`'s
//!   pty): vigild opens its own file description of the same object through
//!   `/proc/self/fd/1`, non-blocking, and writes there. Waiting for room in a
//!   terminal cannot be done any other way: a terminal reports POLLOUT while
//!   its room is far smaller than a page, and a blocking write then sleeps
//!   until the reader drains it all;
//! - a **socket** (journald's stdout stream): `send` with `MSG_DONTWAIT`,
//!   which is non-blocking for that one call;
//! - a **regular file**: plain writes, which do not wait for a reader.
//!
//! When `/proc` is missing, a pipe falls back to writing only when `poll`
//! says it is writable, in pieces of at most [`PIPE_CHUNK`] bytes, which a
//! writable pipe always takes whole (a terminal has no such guarantee).
//!
//! Up to [`MAX_BUFFERED`] bytes wait in memory; beyond that, whole lines are
//! dropped and counted.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};

/// Output held while stdout is not being read. Large enough to ride out a
/// slow log collector; small next to the budget of a few MB of RSS.
pub const MAX_BUFFERED: usize = 1024 * 1024;

/// A writable pipe has room for at least one page; writing no more than that
/// at a time cannot block.
pub const PIPE_CHUNK: usize = 4096;

/// How a write reaches the descriptor without blocking.
#[derive(Debug)]
enum Writer {
    /// vigild's own non-blocking file description of the pipe, FIFO or
    /// terminal.
    Own(OwnedFd),
    /// A socket: `send` with `MSG_DONTWAIT`.
    Socket(RawFd),
    /// A regular file, or a pipe that could not be reopened: a write only
    /// when `poll` says writable, at most [`PIPE_CHUNK`] bytes at a time.
    Shared(RawFd),
}

/// A buffered, never-blocking writer for one descriptor.
#[derive(Debug)]
pub struct Output {
    writer: Writer,
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
            writer: writer_for(fd),
            buffer: VecDeque::new(),
            dropped: 0,
            broken: false,
        }
    }

    /// The descriptor to register for writability while output is pending.
    pub fn raw_fd(&self) -> RawFd {
        match &self.writer {
            Writer::Own(fd) => fd.as_raw_fd(),
            Writer::Socket(fd) | Writer::Shared(fd) => *fd,
        }
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

    /// Writes buffered output until it is all written or the descriptor
    /// would block.
    pub fn flush(&mut self) {
        while !self.buffer.is_empty() && !self.broken {
            let (front, _) = self.buffer.as_slices();
            let written = match &self.writer {
                // SAFETY: the descriptor is open (owned here) and the buffer
                // is valid for `front.len()` bytes.
                Writer::Own(fd) => unsafe {
                    libc::write(fd.as_raw_fd(), front.as_ptr().cast(), front.len())
                },
                // SAFETY: the caller keeps the descriptor open; the buffer
                // is valid for `front.len()` bytes.
                Writer::Socket(fd) => unsafe {
                    libc::send(
                        *fd,
                        front.as_ptr().cast(),
                        front.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                },
                Writer::Shared(fd) => {
                    if !writable(*fd) {
                        return;
                    }
                    let chunk = &front[..front.len().min(PIPE_CHUNK)];
                    // SAFETY: the caller keeps the descriptor open; the
                    // buffer is valid for `chunk.len()` bytes.
                    unsafe { libc::write(*fd, chunk.as_ptr().cast(), chunk.len()) }
                }
            };
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
}

/// Chooses how to write to `fd` without blocking (see the module doc).
fn writer_for(fd: RawFd) -> Writer {
    // SAFETY: the caller keeps the descriptor open while the writer lives.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let Ok(stat) = nix::sys::stat::fstat(borrowed) else {
        return Writer::Shared(fd);
    };
    match stat.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => Writer::Socket(fd),
        libc::S_IFIFO | libc::S_IFCHR => reopen(fd).map_or(Writer::Shared(fd), Writer::Own),
        _ => Writer::Shared(fd),
    }
}

/// A new, non-blocking, close-on-exec file description of the pipe or
/// character device behind `fd`. `O_NOCTTY`: a terminal opened by a session
/// leader must not become vigild's controlling terminal.
fn reopen(fd: RawFd) -> Option<OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).ok()?;
    let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: `path` is a valid C string; the result is checked.
    let reopened = unsafe { libc::open(path.as_ptr(), flags) };
    // SAFETY: a non-negative result is a descriptor that nothing else owns.
    (reopened >= 0).then(|| unsafe { OwnedFd::from_raw_fd(reopened) })
}

/// Whether `poll` says `fd` is writable now.
fn writable(fd: RawFd) -> bool {
    // SAFETY: the caller keeps the descriptor open while the writer lives.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
    match nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO) {
        Ok(n) if n > 0 => fds[0].revents().is_some_and(|r| {
            r.intersects(nix::poll::PollFlags::POLLOUT | nix::poll::PollFlags::POLLERR)
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Read as _;
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    use super::*;

    const LINE: usize = 1024;
    const LINES: usize = 2048;

    /// Pushes 2 MiB of 1 KiB lines into `fd` while nobody reads it. This
    /// runs on a thread, so that a write that blocks fails the test instead
    /// of hanging it. Returns the writer and how many lines it dropped.
    fn fill(fd: RawFd) -> (Output, u64) {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut output = Output::new(fd);
            let mut line = vec![b'x'; LINE - 1];
            line.push(b'\n');
            for _ in 0..LINES {
                output.push_line(&line);
            }
            let dropped = output.take_dropped();
            let _ = done.send((output, dropped));
        });
        finished
            .recv_timeout(Duration::from_secs(10))
            .expect("writing to a stalled reader blocked")
    }

    /// Reads everything from `reader` while `output` flushes into it, then
    /// closes both writers (`output` and `writer`) and reads to the end.
    /// Returns the number of lines received.
    fn drain(mut output: Output, writer: OwnedFd, reader: &mut File) -> usize {
        let mut received = Vec::new();
        let mut chunk = vec![0u8; 65536];
        // While output is pending, the last write would have blocked, so
        // there is something to read.
        while output.pending() {
            let n = reader.read(&mut chunk).unwrap();
            received.extend_from_slice(&chunk[..n]);
            output.flush();
        }
        drop(output);
        drop(writer);
        // End of file, or EIO from a terminal whose other side closed.
        while let Ok(n) = reader.read(&mut chunk) {
            if n == 0 {
                break;
            }
            received.extend_from_slice(&chunk[..n]);
        }
        received.iter().filter(|&&b| b == b'\n').count()
    }

    /// The descriptor's file status flags.
    fn flags(fd: RawFd) -> i32 {
        // SAFETY: the test keeps the descriptor open.
        unsafe { libc::fcntl(fd, libc::F_GETFL) }
    }

    #[test]
    fn a_stalled_pipe_never_blocks_the_writer() {
        let (read, write) = nix::unistd::pipe().unwrap();
        // 2 MiB into a 64 KiB pipe nobody reads: returns at once, keeps
        // 1 MiB, drops the rest and counts it.
        let (output, dropped) = fill(write.as_raw_fd());
        assert!(matches!(output.writer, Writer::Own(_)), "{output:?}");
        assert!(output.pending());
        assert!(dropped > 900 && dropped < 1024, "dropped {dropped}");
        // The shared description keeps its flags: passthrough services
        // write to it.
        assert_eq!(flags(write.as_raw_fd()) & libc::O_NONBLOCK, 0);
        // Once the reader drains the pipe, everything buffered arrives whole.
        let mut reader = File::from(read);
        assert_eq!(drain(output, write, &mut reader), LINES - dropped as usize);
    }

    #[test]
    fn a_stalled_terminal_never_blocks_the_writer() {
        // A pty nobody reads, as with `docker run -t` and a slow client: a
        // terminal reports POLLOUT with far less than a page of room.
        // SAFETY: plain libc calls whose results are checked; `name` is
        // large enough for a pty's path and NUL-terminated by ptsname_r.
        let (master, slave) = unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            assert!(master >= 0, "posix_openpt: {}", io::Error::last_os_error());
            let master = OwnedFd::from_raw_fd(master);
            assert_eq!(libc::grantpt(master.as_raw_fd()), 0);
            assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(
                libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
                0
            );
            let slave = libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            assert!(slave >= 0, "open the pty: {}", io::Error::last_os_error());
            (master, OwnedFd::from_raw_fd(slave))
        };
        let (output, dropped) = fill(slave.as_raw_fd());
        assert!(matches!(output.writer, Writer::Own(_)), "{output:?}");
        assert!(output.pending());
        assert!(dropped > 0, "dropped {dropped}");
        assert_eq!(flags(slave.as_raw_fd()) & libc::O_NONBLOCK, 0);
        let mut reader = File::from(master);
        assert_eq!(drain(output, slave, &mut reader), LINES - dropped as usize);
    }

    #[test]
    fn a_stalled_socket_never_blocks_the_writer() {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
        let (read, write) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let (output, dropped) = fill(write.as_raw_fd());
        assert!(matches!(output.writer, Writer::Socket(_)), "{output:?}");
        assert!(output.pending());
        assert!(dropped > 0, "dropped {dropped}");
        assert_eq!(flags(write.as_raw_fd()) & libc::O_NONBLOCK, 0);
        let mut reader = File::from(read);
        assert_eq!(drain(output, write, &mut reader), LINES - dropped as usize);
    }

    #[test]
    fn a_regular_file_takes_everything() {
        let path = std::env::temp_dir().join(format!("vigild-output-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        let (output, dropped) = fill(file.as_raw_fd());
        assert!(matches!(output.writer, Writer::Shared(_)), "{output:?}");
        assert!(!output.pending());
        assert_eq!(dropped, 0);
        drop(output);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            (LINE * LINES) as u64
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_closed_reader_discards_output() {
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        let mut output = Output::new(write.as_raw_fd());
        output.push_line(b"hello\n");
        assert!(!output.pending());
    }
}
