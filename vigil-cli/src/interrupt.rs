//! Ctrl-C while waiting: a SIGINT handler that only sets a flag.
//!
//! Until [`catch`] is called, SIGINT keeps its default action and ends the
//! process, which is right for ordinary requests. Commands that wait (for a
//! change, or on `logs -f`) call [`catch`] and hand the flag to the
//! [`Client`](crate::client::Client), whose reads then stop with
//! `Error::Interrupted` so the command can say what it must and exit with
//! its own code (cli.md §2.2, §3.5).
//!
//! The handler is installed without `SA_RESTART`, so a blocked `read`
//! returns `EINTR` at once; the client's reads also wake every 200 ms to
//! look at the flag, which covers a signal that lands just before a read
//! begins.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by the handler; never cleared.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches SIGINT from now on and returns the flag it sets.
pub fn catch() -> io::Result<&'static AtomicBool> {
    // SAFETY: `action` is fully initialised (zeroed, then the handler and an
    // empty mask set) before `sigaction` reads it, and the handler only
    // stores to an atomic, which is async-signal-safe.
    let result = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut())
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(&INTERRUPTED)
}
