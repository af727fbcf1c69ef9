//! The reactor contract's types: the time an input carries, pids and exit
//! statuses in, spawn requests and every other [`Effect`] out.
//!
//! They are plain values: nothing here reads a clock or touches a process.

use std::fmt;
use std::time::{Instant, SystemTime};

use vigil_proto::api::{ChangeId, ChangeStatus};
use vigil_proto::plan::{LogsForward, StringMap};
use vigil_proto::signal::Signal;

/// The time of an input, on both clocks: deadlines use the monotonic one,
/// reported times (`current-since`, change times, task logs) the wall one.
///
/// The reactor reads both clocks once per turn, in its one clock function,
/// and passes the same `Now` to every input of that turn. Neither may go
/// backwards between inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// For deadlines.
    pub monotonic: Instant,
    /// For times shown to people.
    pub wall: SystemTime,
}

/// A process id: the main process of a service, leader of its own process
/// group (so the group id is the same number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(i32);

impl Pid {
    /// The pid with this number, as `fork` or `pidfd` return it.
    #[must_use]
    pub const fn from_raw(pid: i32) -> Self {
        Self(pid)
    }

    /// The number, for `kill(2)` (negate it for the group) or `pidfd_open`.
    #[must_use]
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a process ended, as the reaper read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this status (`WEXITSTATUS`).
    Exited(u8),
    /// It was killed by this signal number (`WTERMSIG`).
    Signaled(u8),
}

impl ExitStatus {
    /// The exit code (spec §1): the status for a normal exit, 128 + S for a
    /// death by signal S (SIGKILL gives 137).
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Exited(code) => code,
            Self::Signaled(signal) => 128u8.saturating_add(signal),
        }
    }

    /// Whether this is a success: a normal exit with status 0.
    #[must_use]
    pub const fn is_success(self) -> bool {
        matches!(self, Self::Exited(0))
    }
}

/// Why the reactor could not spawn a service's process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpawnError {
    /// What kind of failure it was.
    pub kind: SpawnErrorKind,
    /// The whole task error, as the spec words it (§3, §17): for example
    /// `cannot start service: exec: "webd": executable file not found in $PATH`
    /// or `user "web" not found`.
    pub message: String,
}

impl SpawnError {
    /// The exit code a failed automatic restart counts as (§3): 127 when
    /// the program was not found, 126 otherwise, as a shell reports them.
    #[must_use]
    pub const fn exit_code(&self) -> u8 {
        match self.kind {
            SpawnErrorKind::NotFound => 127,
            SpawnErrorKind::Other => 126,
        }
    }
}

/// The kinds of spawn failure, which differ only in their exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnErrorKind {
    /// The program was not found (`ENOENT` from `execve` or the `PATH`
    /// search).
    NotFound,
    /// Anything else: permissions, user lookup, `chdir`, resources.
    Other,
}

/// A process to start: everything the reactor needs from the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpawnRequest {
    /// The service it is for; answer with
    /// [`Supervisor::handle_spawned`](super::Supervisor::handle_spawned) under this name.
    pub service: String,
    /// The argument vector; never empty for a valid plan (an empty one must
    /// fail the spawn with `command is empty`).
    pub argv: Vec<String>,
    /// Variables to lay over the daemon's environment: the workload's, then
    /// the service's. The reactor adds `HOME` and `USER` for a user unless
    /// this sets them (§17).
    pub environment: StringMap,
    /// `working-dir`, or `None` for vigild's own.
    pub working_dir: Option<String>,
    /// `user`, from the service or its workload.
    pub user: Option<String>,
    /// `user-id`, from the service or its workload.
    pub user_id: Option<u32>,
    /// `group`, from the service or its workload.
    pub group: Option<String>,
    /// `group-id`, from the service or its workload.
    pub group_id: Option<u32>,
    /// How its output is handled (§15).
    pub logs_forward: LogsForward,
}

/// The level of a line for vigild's own log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal operation: starts, stops, exit actions.
    Info,
    /// Something went wrong and was handled: a kill after the kill delay.
    Warning,
    /// Something went wrong and was not handled: a failed spawn, a stuck
    /// process.
    Error,
}

/// What the reactor must do; drained with [`Supervisor::poll_effect`](super::Supervisor::poll_effect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Start a process in its own process group, then call
    /// [`Supervisor::handle_spawned`](super::Supervisor::handle_spawned) with the outcome **before any other
    /// input**.
    Spawn(SpawnRequest),
    /// Send `signal` to the process group `pid` (`group`), or to the process
    /// alone through its pidfd. A group signal for a process that has exited
    /// (the SIGKILL for leftover members, D10) comes from
    /// [`Supervisor::handle_exit`](super::Supervisor::handle_exit): send it before reaping the leader.
    Signal {
        /// The service the process belongs to.
        service: String,
        /// The main process.
        pid: Pid,
        /// The signal.
        signal: Signal,
        /// Whether the whole group gets it.
        group: bool,
    },
    /// Write a line to vigild's own log.
    Log {
        /// Its level.
        level: LogLevel,
        /// The service it is about, for the JSON log's `service` field.
        service: Option<String>,
        /// The message, naming the service, the plan key and the action.
        message: String,
    },
    /// A change's status changed: record a `change-update` notice.
    ChangeUpdated {
        /// The change.
        change: ChangeId,
        /// Its new status.
        status: ChangeStatus,
    },
    /// A change became ready: answer the `/wait` requests parked on it.
    /// Always right after the [`Effect::ChangeUpdated`] that made it ready.
    ChangeReady(ChangeId),
    /// A service left the plan and has no process any more: drop its log
    /// buffer, push connections and metrics.
    ServiceRemoved {
        /// The service.
        service: String,
    },
    /// Every service is down after a shutdown: exit with `code` (§13), or
    /// re-exec for a daemon restart.
    Exit {
        /// The exit code.
        code: u8,
    },
}

/// The last lines a service wrote, which a failed start shows (§4). The log
/// store, which the reactor owns, provides them; a closure
/// `Fn(&str, usize) -> Vec<String>` will do.
pub trait RecentOutput {
    /// At most `max` of `service`'s most recent output lines, oldest first.
    /// Empty under `logs-forward: passthrough`, where nothing is captured.
    fn recent_lines(&self, service: &str, max: usize) -> Vec<String>;
}

impl<F: Fn(&str, usize) -> Vec<String>> RecentOutput for F {
    fn recent_lines(&self, service: &str, max: usize) -> Vec<String> {
        self(service, max)
    }
}

/// A [`RecentOutput`] with nothing to show.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOutput;

impl RecentOutput for NoOutput {
    fn recent_lines(&self, _service: &str, _max: usize) -> Vec<String> {
        Vec::new()
    }
}
