//! Executing vigild again for `POST /v1/vigild {"action":"restart"}`
//! (supervision.md §12): the same binary, with the argument vector and
//! environment it was started with, in the same process, so the pid (1, in
//! a container) stays.
//!
//! [`Relaunch::capture`] runs first thing in `main`, before vigild blocks
//! its signals, and keeps what the new image must get. [`Relaunch::exec`]
//! runs after the reactor has finished the shutdown and dropped every
//! descriptor it had (all close-on-exec anyway; the socket file is
//! removed), and undoes the signal set-up so that the new image starts as a
//! fresh vigild does.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use nix::sys::signal::SigSet;

use crate::reactor::signals;

/// What the new image gets.
#[derive(Debug)]
pub struct Relaunch {
    argv: Vec<CString>,
    environment: Vec<CString>,
    /// The signal mask vigild was started with.
    mask: SigSet,
    /// The binary's path as the kernel knew it at boot, for when `/proc` is
    /// gone by the time of the restart.
    exe: Option<PathBuf>,
}

/// Why [`Relaunch::exec`] returned.
#[derive(Debug)]
pub enum NotRelaunched {
    /// SIGTERM, SIGINT or SIGQUIT arrived during the last steps: vigild
    /// was asked to stop, so it exits (0) rather than comes back.
    StopSignal,
    /// `execve` failed (exit 71).
    Failed(String),
}

impl Relaunch {
    /// Captures argv, the environment and the signal mask as vigild found
    /// them. Call it before [`signals::block`].
    #[must_use]
    pub fn capture() -> Relaunch {
        let c_string = |bytes: &[u8]| {
            // An argument or variable cannot hold a NUL: the kernel passed
            // them as C strings. Dropping the byte keeps this total.
            CString::new(
                bytes
                    .iter()
                    .copied()
                    .filter(|&b| b != 0)
                    .collect::<Vec<u8>>(),
            )
            .unwrap_or_default()
        };
        let argv = std::env::args_os()
            .map(|arg| c_string(arg.as_bytes()))
            .collect();
        let environment = std::env::vars_os()
            .map(|(name, value)| {
                let mut pair = name.as_bytes().to_vec();
                pair.push(b'=');
                pair.extend_from_slice(value.as_bytes());
                c_string(&pair)
            })
            .collect();
        Relaunch {
            argv,
            environment,
            mask: SigSet::thread_get_mask().unwrap_or_else(|_| SigSet::empty()),
            exe: std::env::current_exe().ok(),
        }
    }

    /// Executes vigild again. It returns only if it did not: a stop signal
    /// was pending, or `execve` failed.
    ///
    /// The handled signals are unblocked only now, after the ones still
    /// pending were taken: a pending SIGHUP must not kill vigild on its way
    /// out. One that arrives between that and the `execve` gets its default
    /// action (ignored as PID 1, fatal otherwise), as it would before
    /// vigild's `main` blocks it.
    pub fn exec(&self) -> Result<Infallible, NotRelaunched> {
        match signals::release(&self.mask) {
            Ok(true) => return Err(NotRelaunched::StopSignal),
            Ok(false) => {}
            Err(error) => {
                return Err(NotRelaunched::Failed(format!(
                    "cannot restore the signal mask: {error}"
                )));
            }
        }
        let mut paths = vec![c"/proc/self/exe".to_owned()];
        if let Some(exe) = &self.exe
            && let Ok(path) = CString::new(exe.as_os_str().as_bytes())
        {
            paths.push(path);
        }
        let mut failure = String::new();
        for path in &paths {
            let Err(error) = nix::unistd::execve(path, &self.argv, &self.environment);
            failure = format!(
                "cannot execute {} again: {}",
                path.to_string_lossy(),
                error.desc()
            );
        }
        // Back to the state the daemon ran in, though nothing runs now.
        let _ = signals::block();
        Err(NotRelaunched::Failed(failure))
    }
}
