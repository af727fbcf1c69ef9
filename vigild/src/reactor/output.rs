//! vigild's stdout, where forwarded service output goes, and its stderr,
//! where its own log goes, written without ever blocking the loop
//! (supervision.md §15, §18 "Blocking on stdout"): [`Streams`] holds one
//! [`Output`] for each, or one for both when they are the same file.
//!
//! The descriptor is shared with passthrough services, so its file status
//! flags are never changed: switching it to non-blocking mode would surprise
//! them. How a write is kept from blocking depends on what the descriptor is:
//!
//! - a **pipe, FIFO or terminal** (a container runtime's pipe, `docker -t`'s
//!   pty): vigild opens its own file description of the same object through
//!   `/proc/self/fd/N`, non-blocking, and writes there. Waiting for room in a
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
    /// written now. A line that does not fit in the buffer is dropped whole
    /// and counted; the result says whether the line was kept (or written
    /// to a reader that is gone).
    pub fn push_line(&mut self, line: &[u8]) -> bool {
        if self.broken {
            return true;
        }
        if self.buffer.len() + line.len() > MAX_BUFFERED {
            self.dropped += 1;
            return false;
        }
        self.buffer.extend(line);
        self.flush();
        true
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

/// Which of vigild's two streams a writer serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// stdout: forwarded service output.
    Stdout,
    /// stderr: vigild's own log.
    Stderr,
}

/// vigild's stdout and stderr on the loop: forwarded service output and
/// vigild's own log, both buffered and never blocking.
///
/// When stderr is the same file as stdout (`2>&1`, a terminal), one writer
/// takes both, so that lines keep their order and a line of one is never
/// cut into by a line of the other after a partial write.
#[derive(Debug)]
pub struct Streams {
    stdout: Output,
    /// `None` when stderr is the same file as stdout.
    stderr: Option<Output>,
    /// Service lines dropped since the last [`Streams::take_dropped_output`].
    dropped_output: u64,
    /// Log lines dropped since the last [`Streams::take_dropped_log`].
    dropped_log: u64,
}

impl Streams {
    /// Writers for vigild's own stdout and stderr.
    pub fn standard() -> Streams {
        Streams::new(io::stdout().as_raw_fd(), io::stderr().as_raw_fd())
    }

    /// Writers for `stdout` and `stderr`, which the caller keeps open.
    pub fn new(stdout: RawFd, stderr: RawFd) -> Streams {
        let stderr = (!same_file(stdout, stderr)).then(|| Output::new(stderr));
        Streams {
            stdout: Output::new(stdout),
            stderr,
            dropped_output: 0,
            dropped_log: 0,
        }
    }

    /// Queues a line of service output for stdout.
    pub fn push_output(&mut self, line: &[u8]) {
        if !self.stdout.push_line(line) {
            self.dropped_output += 1;
        }
    }

    /// Queues a line of vigild's log for stderr.
    pub fn push_log(&mut self, line: &[u8]) {
        if !self.log_writer().push_line(line) {
            self.dropped_log += 1;
        }
    }

    /// Writes what each stream can take now.
    pub fn flush(&mut self) {
        self.stdout.flush();
        if let Some(stderr) = &mut self.stderr {
            stderr.flush();
        }
    }

    /// The writer of `stream`, if it has one of its own, and whether output
    /// waits in it: while it does, its descriptor is to be watched for
    /// writability.
    pub fn writer(&self, stream: Stream) -> Option<(RawFd, bool)> {
        let output = match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => self.stderr.as_ref()?,
        };
        Some((output.raw_fd(), output.pending()))
    }

    /// Whether the log's writer has nothing waiting, so that a warning
    /// about dropped log lines would not be dropped in turn.
    pub fn log_is_idle(&self) -> bool {
        match &self.stderr {
            Some(stderr) => !stderr.pending(),
            None => !self.stdout.pending(),
        }
    }

    /// Service lines dropped since the last call, for a warning.
    pub fn take_dropped_output(&mut self) -> u64 {
        std::mem::take(&mut self.dropped_output)
    }

    /// Log lines dropped since the last call, for a warning.
    pub fn take_dropped_log(&mut self) -> u64 {
        std::mem::take(&mut self.dropped_log)
    }

    /// At exit: waits up to `limit` for the readers to take what is left,
    /// then gives up on the rest.
    pub fn drain(&mut self, limit: std::time::Duration) {
        let until = std::time::Instant::now() + limit;
        loop {
            self.flush();
            let waiting: Vec<RawFd> = [Stream::Stdout, Stream::Stderr]
                .into_iter()
                .filter_map(|stream| self.writer(stream))
                .filter(|&(_, pending)| pending)
                .map(|(fd, _)| fd)
                .collect();
            let Some(left) = until.checked_duration_since(std::time::Instant::now()) else {
                return;
            };
            if waiting.is_empty() || left.is_zero() {
                return;
            }
            // SAFETY: the descriptors stay open while the writers live.
            let borrowed: Vec<BorrowedFd<'_>> = waiting
                .iter()
                .map(|&fd| unsafe { BorrowedFd::borrow_raw(fd) })
                .collect();
            let mut fds: Vec<nix::poll::PollFd<'_>> = borrowed
                .iter()
                .map(|fd| nix::poll::PollFd::new(*fd, nix::poll::PollFlags::POLLOUT))
                .collect();
            let millis = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(millis));
        }
    }

    fn log_writer(&mut self) -> &mut Output {
        match &mut self.stderr {
            Some(stderr) => stderr,
            None => &mut self.stdout,
        }
    }
}

/// Whether `a` and `b` are the same open file (the same pipe, terminal or
/// regular file), however they were opened.
fn same_file(a: RawFd, b: RawFd) -> bool {
    // SAFETY: the caller keeps both descriptors open.
    let (a, b) = unsafe { (BorrowedFd::borrow_raw(a), BorrowedFd::borrow_raw(b)) };
    match (nix::sys::stat::fstat(a), nix::sys::stat::fstat(b)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
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
    fn stdout_and_stderr_on_one_pipe_share_one_writer() {
        let (read, write) = nix::unistd::pipe().unwrap();
        let mut streams = Streams::new(write.as_raw_fd(), write.as_raw_fd());
        assert!(streams.writer(Stream::Stderr).is_none());
        streams.push_output(b"2025-03-01T10:15:30.123Z [web] one\n");
        streams.push_log(b"2025-03-01T10:15:30.124Z INFO two\n");
        streams.push_output(b"2025-03-01T10:15:30.125Z [web] three\n");
        drop(streams);
        drop(write);
        let mut text = String::new();
        File::from(read).read_to_string(&mut text).unwrap();
        assert_eq!(
            text,
            "2025-03-01T10:15:30.123Z [web] one\n\
             2025-03-01T10:15:30.124Z INFO two\n\
             2025-03-01T10:15:30.125Z [web] three\n"
        );
    }

    #[test]
    fn a_stalled_stderr_never_blocks_the_log() {
        let (out_read, out_write) = nix::unistd::pipe().unwrap();
        let (err_read, err_write) = nix::unistd::pipe().unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let (stdout, stderr) = (out_write.as_raw_fd(), err_write.as_raw_fd());
        std::thread::spawn(move || {
            let mut streams = Streams::new(stdout, stderr);
            let line = [
                b"2025-03-01T10:15:30.124Z INFO ".as_slice(),
                &[b'x'; 994],
                b"\n",
            ]
            .concat();
            // 2 MiB of log into a 64 KiB pipe nobody reads.
            for _ in 0..LINES {
                streams.push_log(&line);
            }
            let _ = done.send(streams);
        });
        let mut streams = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("logging to a stalled stderr blocked");
        assert!(!streams.log_is_idle());
        let dropped = streams.take_dropped_log();
        assert!(dropped > 900 && dropped < 1024, "dropped {dropped}");
        assert_eq!(streams.take_dropped_output(), 0);
        // stdout is not held up by it.
        assert_eq!(
            streams.writer(Stream::Stdout).map(|(_, pending)| pending),
            Some(false)
        );
        streams.push_output(b"still flowing\n");
        drop(streams);
        drop((out_write, err_read));
        let mut text = String::new();
        File::from(out_read).read_to_string(&mut text).unwrap();
        assert_eq!(text, "still flowing\n");
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
