//! Helpers for the integration tests: running the real binary.

pub mod fake;

use std::fmt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// One finished run of `vigil`.
pub struct Run {
    /// The command line, for failure messages.
    pub line: String,
    /// The exit code; `None` after a signal.
    pub code: Option<i32>,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "command: {}\nexit: {:?}\n--- stdout\n{}--- stderr\n{}---",
            self.line, self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Asserts the exit code and the whole of stdout and stderr, printing
    /// everything about the run when they differ.
    #[track_caller]
    pub fn expect(&self, code: i32, stdout: &str, stderr: &str) {
        assert!(
            self.code == Some(code) && self.stdout == stdout && self.stderr == stderr,
            "expected exit {code}\n--- stdout\n{stdout}--- stderr\n{stderr}---\ngot:\n{self}"
        );
    }
}

/// `vigil --socket SOCKET ARGS…`, in UTC and without the caller's vigil
/// environment, not yet waited for.
pub fn spawn(socket: &Path, args: &[&str]) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigil"));
    command
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env("TZ", "UTC")
        .env_remove("VIGIL_SOCKET")
        .env_remove("PEBBLE_SOCKET")
        .env_remove("PEBBLE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let line = format!("vigil --socket {} {}", socket.display(), args.join(" "));
    (command.spawn().unwrap(), line)
}

/// Waits for a spawned `vigil` and collects what it printed.
pub fn finish(child: Child, line: String) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        line,
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Runs `vigil --socket SOCKET ARGS…` to the end.
pub fn vigil(socket: &Path, args: &[&str]) -> Run {
    let (child, line) = spawn(socket, args);
    finish(child, line)
}

/// Sends SIGINT to a running `vigil`, as Ctrl-C would.
pub fn interrupt(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: `kill` has no memory effects; `pid` is our own child, which
    // has not been waited for, so it cannot have been reused.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
}
