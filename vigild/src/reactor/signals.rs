//! The signals vigild handles, read from a signalfd on the event loop.
//!
//! A signalfd only sees signals that are blocked, and a blocked mask is
//! inherited by threads and survives `exec`. So [`block`] runs in `main`
//! before any thread exists, and every child unblocks everything before it
//! execs (see `children.rs`).

use std::os::fd::{AsRawFd, RawFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// The signals read through the signalfd (supervision.md §12).
pub const HANDLED: [Signal; 7] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Signals vigild ignores: as PID 1 a default disposition would be dropped
/// anyway, and as a plain process SIGPIPE would kill it on a closed socket.
pub const IGNORED: [Signal; 6] = [
    Signal::SIGPIPE,
    Signal::SIGWINCH,
    Signal::SIGURG,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

fn mask() -> SigSet {
    let mut mask = SigSet::empty();
    for signal in HANDLED {
        mask.add(signal);
    }
    mask
}

/// Blocks the handled signals for this thread and every thread started after
/// it, and ignores the ones vigild does not act on. Call first thing in
/// `main`.
pub fn block() -> nix::Result<()> {
    mask().thread_block()?;
    block_ignored();
    Ok(())
}

/// Sets the dispositions of [`IGNORED`] to "ignore".
pub fn block_ignored() {
    for signal in IGNORED {
        // SAFETY: SIG_IGN installs no handler code; nothing runs in signal
        // context. It cannot fail for these valid, catchable signals.
        let _ = unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn) };
    }
}

/// Undoes [`block`] before vigild executes itself again: takes the handled
/// signals still pending, gives the ignored ones their default action back,
/// and sets the thread's mask to `original`, the one vigild started with.
/// Returns whether a pending signal asked vigild to stop (SIGTERM, SIGINT
/// or SIGQUIT).
pub fn release(original: &SigSet) -> nix::Result<bool> {
    let handled = mask();
    let mut stop = false;
    loop {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: the set and the timespec are valid for the call, and a
        // null siginfo pointer is allowed.
        let number = unsafe { libc::sigtimedwait(handled.as_ref(), std::ptr::null_mut(), &zero) };
        if number < 0 {
            match nix::errno::Errno::last() {
                nix::errno::Errno::EINTR => continue,
                nix::errno::Errno::EAGAIN => break,
                error => return Err(error),
            }
        }
        stop |= [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&number);
    }
    for signal in IGNORED {
        // SAFETY: SIG_DFL installs no handler code.
        unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl)? };
    }
    original.thread_set_mask()?;
    Ok(stop)
}

/// The signalfd, non-blocking and close-on-exec.
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Opens the signalfd for the handled signals (which [`block`] must have
    /// blocked already).
    pub fn new() -> nix::Result<Signals> {
        let fd = SignalFd::with_flags(&mask(), SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// The fd to register for readability.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads every pending signal (drain until it would block).
    pub fn drain(&mut self, out: &mut Vec<Signal>) {
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => {
                    if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
                        out.push(signal);
                    }
                }
                Ok(None) => return,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
        }
    }
}
