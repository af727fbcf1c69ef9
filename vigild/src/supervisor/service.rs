//! One service's lifecycle (spec supervision.md §2–§7 and §10): its states,
//! the events it reacts to, and the table that maps every pair to an action.
//!
//! `ServiceRecord::handle` is that table: one `match (state, event)` with
//! no catch-all arm, as s6-supervise's `actions[][]`. A new state or event
//! does not compile until every row has decided what to do; where an event
//! is ignored, a comment says why.
//!
//! Deadlines live both in the state (`Starting { okay_at }`, ...), so that
//! the state says everything about itself, and in the service's
//! `TimerTable`, which the supervisor scans. Only
//! `ServiceRecord::enter` changes the state, and it rewrites the table from
//! the new state, so the two cannot disagree and a timer of a state already
//! left cannot fire.

use std::time::{Duration, Instant, SystemTime};

use vigil_proto::api::{ServiceStatus, TaskId, quote};
use vigil_proto::duration;
use vigil_proto::plan::CheckAction;
use vigil_proto::signal::Signal;

use super::backoff::{BackoffCounter, Rng};
use super::config::ServiceConfig;
use super::timers::{TimerKind, TimerTable};
use super::{Effect, ExitStatus, LogLevel, Now, Pid, RecentOutput, SpawnError};
use crate::changes::Changes;

/// How long a new process must stay alive to count as started (spec
/// supervision.md §4). Pebble's `okayDelay`.
pub const OKAY_DELAY: Duration = Duration::from_secs(1);

/// How long after SIGKILL a stop gives up on a process that does not die,
/// for example one stuck in uninterruptible sleep (spec supervision.md §5).
/// Pebble's `failDelay`.
pub const FAIL_DELAY: Duration = Duration::from_secs(5);

/// How many lines of a service's most recent output a failed start shows in
/// its task log (spec supervision.md §4). Pebble's `lastLogLines`.
pub const LAST_OUTPUT_LINES: usize = 20;

/// Where a service is in its life. The variants carry what is valid in that
/// state only; their names are Pebble's (`initial`, `starting`, ...), plus
/// `Spawning`, which no one outside the core can observe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// In the plan, never started.
    Initial,
    /// A Spawn effect is out and the reactor has not answered yet. It
    /// answers through `handle_spawned` before any other input, so this
    /// state never outlives one turn of the loop. Shown as `active`.
    Spawning {
        /// What the spawn is for.
        purpose: SpawnPurpose,
        /// A stop arrived meanwhile: stop the process as soon as it exists.
        stop_requested: bool,
    },
    /// Spawned and inside the okay delay.
    Starting {
        /// The main process, leader of its process group.
        pid: Pid,
        /// When the okay delay ends.
        okay_at: Instant,
    },
    /// Alive past the okay delay, or restarted from backoff.
    Running {
        /// The main process.
        pid: Pid,
    },
    /// The stop signal was sent; waiting up to `kill-delay`.
    Terminating {
        /// The main process.
        pid: Pid,
        /// When SIGKILL follows.
        kill_at: Instant,
    },
    /// SIGKILL was sent; waiting for the process to go.
    Killing {
        /// The main process.
        pid: Pid,
        /// When the stop gives up, or `None` once it has: the process is
        /// stuck and the stop tasks have failed, but the service stays here
        /// until the process is reaped.
        fail_at: Option<Instant>,
    },
    /// Stopped on request, or exited 0 under `ignore`.
    Stopped,
    /// Waiting to be restarted.
    Backoff {
        /// When the restart happens (delay plus jitter).
        until: Instant,
        /// Which restart in a row this is, from 1.
        attempt: u32,
    },
    /// Exited or failed to spawn, and will not restart by itself.
    Exited,
}

/// Why a process is being spawned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpawnPurpose {
    /// A start task: the okay delay follows.
    Start,
    /// The end of a backoff: straight to `running`.
    Restart,
}

impl State {
    /// The internal name, as in Pebble and the spec's state table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Initial => "initial",
            State::Spawning { .. } => "spawning",
            State::Starting { .. } => "starting",
            State::Running { .. } => "running",
            State::Terminating { .. } => "terminating",
            State::Killing { .. } => "killing",
            State::Stopped => "stopped",
            State::Backoff { .. } => "backoff",
            State::Exited => "exited",
        }
    }

    /// The main process, in the states that have one.
    pub(crate) fn pid(self) -> Option<Pid> {
        match self {
            State::Starting { pid, .. }
            | State::Running { pid }
            | State::Terminating { pid, .. }
            | State::Killing { pid, .. } => Some(pid),
            State::Initial
            | State::Spawning { .. }
            | State::Stopped
            | State::Backoff { .. }
            | State::Exited => None,
        }
    }

    /// Whether the service has a process or is getting one.
    pub(crate) fn is_live(self) -> bool {
        self.pid().is_some() || matches!(self, State::Spawning { .. })
    }

    /// Whether the service is starting or running (`active` in the API).
    pub(crate) fn is_active(self) -> bool {
        self.status() == ServiceStatus::Active
    }

    /// The API's `current` (spec supervision.md §2).
    pub(crate) fn status(self) -> ServiceStatus {
        match self {
            State::Spawning { .. } | State::Starting { .. } | State::Running { .. } => {
                ServiceStatus::Active
            }
            State::Initial | State::Terminating { .. } | State::Killing { .. } | State::Stopped => {
                ServiceStatus::Inactive
            }
            State::Backoff { .. } => ServiceStatus::Backoff,
            State::Exited => ServiceStatus::Error,
        }
    }

    /// The deadline this state waits for, if any.
    fn deadline(self) -> Option<(TimerKind, Instant)> {
        match self {
            State::Starting { okay_at, .. } => Some((TimerKind::Okay, okay_at)),
            State::Terminating { kill_at, .. } => Some((TimerKind::Kill, kill_at)),
            State::Killing {
                fail_at: Some(at), ..
            } => Some((TimerKind::Fail, at)),
            State::Backoff { until, .. } => Some((TimerKind::Backoff, until)),
            State::Initial
            | State::Spawning { .. }
            | State::Running { .. }
            | State::Killing { fail_at: None, .. }
            | State::Stopped
            | State::Exited => None,
        }
    }
}

/// What can happen to a service.
pub(crate) enum Event<'a> {
    /// A start task runs, with the config to capture as the active one.
    Start {
        /// The task.
        task: TaskId,
        /// The service's config in the current plan.
        config: Box<ServiceConfig>,
    },
    /// A stop task runs, or daemon shutdown stops the service (no task).
    Stop {
        /// The task, if a change asked.
        task: Option<TaskId>,
    },
    /// The reactor's answer to a Spawn effect.
    Spawned(Result<Pid, SpawnError>),
    /// The main process exited.
    Exit {
        /// How it exited.
        status: ExitStatus,
        /// The service's last output lines, for a failed start.
        output: &'a dyn RecentOutput,
    },
    /// A timer of the service's table fired.
    Timer(TimerKind),
    /// The change holding the start task was aborted.
    AbortStart,
    /// A second shutdown signal: SIGKILL now, no more grace.
    KillNow,
    /// A check the service maps in `on-check-failure` went down.
    CheckFailed {
        /// The check.
        check: &'a str,
        /// The action the service maps it to.
        action: CheckAction,
    },
}

/// What a transition may touch besides the service itself.
pub(crate) struct Ctx<'a> {
    /// The time of the input being handled.
    pub(crate) now: Now,
    /// The changes, to log and finish tasks.
    pub(crate) changes: &'a mut Changes,
    /// The effects for the reactor.
    pub(crate) effects: &'a mut std::collections::VecDeque<Effect>,
    /// The jitter source.
    pub(crate) rng: &'a mut Rng,
    /// Whether daemon shutdown has begun: exits no longer trigger actions.
    pub(crate) shutting_down: bool,
    /// Set by an exit or check action that shuts the daemon down, with the
    /// exit code; the first one wins.
    pub(crate) shutdown_request: &'a mut Option<u8>,
}

impl Ctx<'_> {
    pub(super) fn log(&mut self, level: LogLevel, service: &str, message: String) {
        self.effects.push_back(Effect::Log {
            level,
            service: Some(service.to_owned()),
            message,
        });
    }

    pub(super) fn request_shutdown(&mut self, code: u8) {
        if self.shutdown_request.is_none() {
            *self.shutdown_request = Some(code);
        }
    }
}

/// `now + delay`. Linux keeps an [`Instant`] in 64-bit seconds and plan
/// durations are at most 290 years, so the sum always fits; the fallback
/// only keeps this panic-free.
pub(crate) fn deadline(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay).unwrap_or(now)
}

/// A service and everything the core knows about it.
#[derive(Debug)]
pub(crate) struct ServiceRecord {
    /// The service's name.
    pub(crate) name: String,
    /// Where it is in its life.
    pub(crate) state: State,
    /// Its deadlines: the state's own, and the backoff reset.
    pub(crate) timers: TimerTable,
    /// The config captured at the last explicit start (spec
    /// supervision.md §1), reused by automatic restarts; before the first
    /// start, the plan's config.
    pub(crate) active: ServiceConfig,
    /// The backoff counters.
    pub(crate) backoff: BackoffCounter,
    /// The start task waiting for the okay delay (or the spawn).
    pub(crate) start_task: Option<TaskId>,
    /// The stop tasks waiting for the process to go.
    pub(crate) stop_tasks: Vec<TaskId>,
    /// An `on-check-failure: restart` is stopping the process: when it has
    /// gone, go through backoff instead of `stopped` (spec §10).
    pub(crate) restart_after_stop: bool,
    /// The service left the plan: forget it once it has no process.
    pub(crate) removed: bool,
    /// When the state last changed (`current-since`); `None` until the
    /// service first leaves `initial`.
    pub(crate) since: Option<SystemTime>,
    /// How many times a process was spawned (`vigil_service_start_count`).
    pub(crate) start_count: u64,
}

impl ServiceRecord {
    /// A service that was never started.
    pub(crate) fn new(name: &str, config: ServiceConfig) -> Self {
        Self {
            name: name.to_owned(),
            state: State::Initial,
            timers: TimerTable::default(),
            active: config,
            backoff: BackoffCounter::default(),
            start_task: None,
            stop_tasks: Vec::new(),
            restart_after_stop: false,
            removed: false,
            since: None,
            start_count: 0,
        }
    }

    /// The transition table: what `event` does in each state.
    #[allow(clippy::too_many_lines)] // one row per pair, on purpose
    pub(crate) fn handle(&mut self, event: Event<'_>, ctx: &mut Ctx<'_>) {
        use State::{
            Backoff, Exited, Initial, Killing, Running, Spawning, Starting, Stopped, Terminating,
        };
        let now = ctx.now;
        match (self.state, event) {
            // ---- A start task runs.
            (Initial | Stopped | Exited | Backoff { .. }, Event::Start { task, config }) => {
                self.begin_start(task, *config, ctx);
            }
            (Spawning { .. } | Starting { .. } | Running { .. }, Event::Start { task, .. }) => {
                let text = format!("Service {} already started.", quote(&self.name));
                ctx.changes.log(task, text, now);
                ctx.changes.finish(task, now);
            }
            (Terminating { .. } | Killing { .. }, Event::Start { task, .. }) => {
                let text = format!("cannot start service while {}", self.state.name());
                ctx.changes.fail(task, text, now);
            }

            // ---- A stop task runs, or daemon shutdown stops the service.
            (Initial, Event::Stop { task }) => self.stop_done(task, "has never been started.", ctx),
            (Stopped, Event::Stop { task }) => self.stop_done(task, "already stopped.", ctx),
            (Exited, Event::Stop { task }) => {
                self.enter(Stopped, now);
                self.stop_done(task, "had already exited.", ctx);
            }
            (Backoff { .. }, Event::Stop { task }) => {
                let text = format!(
                    "Service {} stopped while waiting for backoff",
                    quote(&self.name)
                );
                ctx.log(LogLevel::Info, &self.name, text);
                self.enter(Stopped, now);
                if let Some(task) = task {
                    ctx.changes.finish(task, now);
                }
            }
            (Spawning { purpose, .. }, Event::Stop { task }) => {
                // Not reachable while the reactor keeps its contract (it
                // answers a spawn before any other input); handled anyway:
                // the process is stopped as soon as it exists.
                self.stop_tasks.extend(task);
                self.restart_after_stop = false;
                self.enter(
                    Spawning {
                        purpose,
                        stop_requested: true,
                    },
                    now,
                );
            }
            (Starting { pid, .. }, Event::Stop { task }) => {
                self.fail_start(
                    &format!(
                        "stopped before the {} okay delay",
                        duration::format(OKAY_DELAY)
                    ),
                    ctx,
                );
                self.terminate(pid, task, ctx);
            }
            (Running { pid }, Event::Stop { task }) => self.terminate(pid, task, ctx),
            (
                Terminating { .. }
                | Killing {
                    fail_at: Some(_), ..
                },
                Event::Stop { task },
            ) => {
                // A stop is in progress: this one waits for it. An explicit
                // stop wins over a check-failure restart.
                self.restart_after_stop = false;
                self.stop_tasks.extend(task);
            }
            (Killing { fail_at: None, .. }, Event::Stop { task }) => {
                // The stop in progress already gave up on the process.
                self.restart_after_stop = false;
                if let Some(task) = task {
                    ctx.changes.fail(task, self.stuck_message(), now);
                }
            }

            // ---- The reactor answers a spawn.
            (
                Spawning {
                    purpose,
                    stop_requested,
                },
                Event::Spawned(Ok(pid)),
            ) => self.spawned(purpose, stop_requested, pid, ctx),
            (
                Spawning {
                    purpose: SpawnPurpose::Start,
                    stop_requested,
                },
                Event::Spawned(Err(error)),
            ) => {
                let text = format!(
                    "Service {} failed to start: {}",
                    quote(&self.name),
                    error.message
                );
                ctx.log(LogLevel::Error, &self.name, text);
                self.fail_start(&error.message, ctx);
                // D11: `exited` (API `error`), where Pebble shows `inactive`.
                self.enter(if stop_requested { Stopped } else { Exited }, now);
                self.finish_stop_tasks(ctx);
            }
            (
                Spawning {
                    purpose: SpawnPurpose::Restart,
                    stop_requested,
                },
                Event::Spawned(Err(error)),
            ) => {
                let text = format!(
                    "Service {} failed to restart: {}",
                    quote(&self.name),
                    error.message
                );
                ctx.log(LogLevel::Error, &self.name, text);
                if stop_requested {
                    self.enter(Stopped, now);
                    self.finish_stop_tasks(ctx);
                } else {
                    // D11: a failed automatic restart is a failed exit, so
                    // on-failure applies and restarts keep trying.
                    self.exit_action(None, ExitStatus::Exited(error.exit_code()), ctx);
                }
            }
            (
                Initial
                | Starting { .. }
                | Running { .. }
                | Terminating { .. }
                | Killing { .. }
                | Stopped
                | Backoff { .. }
                | Exited,
                Event::Spawned(result),
            ) => {
                // No spawn was asked for: a reactor bug. Never keep a process
                // the core does not track.
                if let Ok(pid) = result {
                    let text = format!(
                        "Service {} got process {pid} it did not ask for; killing it",
                        quote(&self.name)
                    );
                    ctx.log(LogLevel::Warning, &self.name, text);
                    self.signal(pid, Signal::KILL, ctx);
                }
            }

            // ---- The main process exits.
            (Starting { pid, .. }, Event::Exit { status, output }) => {
                self.exited_on_its_own(pid, status, Some(output), ctx);
            }
            (Running { pid }, Event::Exit { status, .. }) => {
                self.exited_on_its_own(pid, status, None, ctx);
            }
            (Terminating { pid, .. } | Killing { pid, .. }, Event::Exit { .. }) => {
                self.stopped(pid, ctx);
            }
            (Initial | Spawning { .. } | Stopped | Backoff { .. } | Exited, Event::Exit { .. }) => {
                // No process in these states, and exits are routed by pid.
            }

            // ---- Timers.
            (Starting { pid, .. }, Event::Timer(TimerKind::Okay)) => {
                self.enter(Running { pid }, now);
                if let Some(task) = self.start_task.take() {
                    ctx.changes.finish(task, now);
                }
            }
            (
                Initial
                | Spawning { .. }
                | Running { .. }
                | Terminating { .. }
                | Killing { .. }
                | Stopped
                | Backoff { .. }
                | Exited,
                Event::Timer(TimerKind::Okay),
            ) => {
                // Only `starting` waits out the okay delay; `enter` clears
                // the slot on leaving it, so this is a spurious call.
            }
            (Backoff { .. }, Event::Timer(TimerKind::Backoff)) => {
                self.spawn(SpawnPurpose::Restart, ctx);
            }
            (
                Initial
                | Spawning { .. }
                | Starting { .. }
                | Running { .. }
                | Terminating { .. }
                | Killing { .. }
                | Stopped
                | Exited,
                Event::Timer(TimerKind::Backoff),
            ) => {
                // The backoff was cancelled by a start or a stop: a backoff
                // timer that fires after the service left `backoff` does
                // nothing (spec §7).
            }
            (Running { .. }, Event::Timer(TimerKind::BackoffReset)) => {
                self.backoff.reset();
                let text = format!(
                    "Service {} ran for {}, backoff reset",
                    quote(&self.name),
                    duration::format(self.active.backoff.limit)
                );
                ctx.log(LogLevel::Debug, &self.name, text);
            }
            (
                Initial
                | Spawning { .. }
                | Starting { .. }
                | Terminating { .. }
                | Killing { .. }
                | Stopped
                | Backoff { .. }
                | Exited,
                Event::Timer(TimerKind::BackoffReset),
            ) => {
                // The counters reset only if the service is still running
                // when the reset timer fires (spec §7).
            }
            (Terminating { pid, .. }, Event::Timer(TimerKind::Kill)) => {
                let text = format!(
                    "Service {} still running {} after {}, sending SIGKILL",
                    quote(&self.name),
                    duration::format(self.active.kill_delay),
                    self.active.stop_signal
                );
                ctx.log(LogLevel::Warning, &self.name, text);
                self.kill(pid, ctx);
            }
            (
                Initial
                | Spawning { .. }
                | Starting { .. }
                | Running { .. }
                | Killing { .. }
                | Stopped
                | Backoff { .. }
                | Exited,
                Event::Timer(TimerKind::Kill),
            ) => {
                // The process went before the kill delay ended.
            }
            (
                Killing {
                    pid,
                    fail_at: Some(_),
                },
                Event::Timer(TimerKind::Fail),
            ) => {
                let text = format!(
                    "Service {} still running after {} and SIGKILL",
                    quote(&self.name),
                    self.active.stop_signal
                );
                ctx.log(LogLevel::Error, &self.name, text);
                self.enter(Killing { pid, fail_at: None }, now);
                let error = self.stuck_message();
                for task in std::mem::take(&mut self.stop_tasks) {
                    ctx.changes.fail(task, error.clone(), now);
                }
                // An on-check-failure restart of a stuck process is not
                // tried again: it would only pile up.
                self.restart_after_stop = false;
            }
            (
                Initial
                | Spawning { .. }
                | Starting { .. }
                | Running { .. }
                | Terminating { .. }
                | Killing { fail_at: None, .. }
                | Stopped
                | Backoff { .. }
                | Exited,
                Event::Timer(TimerKind::Fail),
            ) => {
                // The process went within the fail delay, or the stop has
                // already given up.
            }

            // ---- The change holding the start task was aborted.
            (Starting { pid, .. }, Event::AbortStart) => {
                // Spec §4: SIGKILL to the group. The service shows
                // `inactive` at once and becomes `stopped` when the process
                // is reaped; `killing` meanwhile keeps a second process from
                // starting before the first has gone.
                self.signal(pid, Signal::KILL, ctx);
                self.fail_start("start aborted, sent SIGKILL to process", ctx);
                self.enter(
                    Killing {
                        pid,
                        fail_at: Some(deadline(now.monotonic, FAIL_DELAY)),
                    },
                    now,
                );
            }
            (Spawning { .. }, Event::AbortStart) => {
                // Not reachable while the reactor keeps its contract; the
                // start task stays in `Abort` and ends with the okay delay.
            }
            (
                Initial
                | Running { .. }
                | Terminating { .. }
                | Killing { .. }
                | Stopped
                | Backoff { .. }
                | Exited,
                Event::AbortStart,
            ) => {
                // No start is waiting out its okay delay.
            }

            // ---- A second shutdown signal: SIGKILL, no more grace.
            (Starting { pid, .. }, Event::KillNow) => {
                self.fail_start("start aborted, sent SIGKILL to process", ctx);
                self.kill(pid, ctx);
            }
            (
                Running { pid }
                | Terminating { pid, .. }
                | Killing {
                    pid,
                    fail_at: Some(_),
                },
                Event::KillNow,
            ) => self.kill(pid, ctx),
            (Killing { fail_at: None, .. }, Event::KillNow) => {
                // Already given up on: the process ignores SIGKILL.
            }
            (Spawning { purpose, .. }, Event::KillNow) => {
                // Not reachable while the reactor keeps its contract.
                self.enter(
                    Spawning {
                        purpose,
                        stop_requested: true,
                    },
                    now,
                );
            }
            (Backoff { .. }, Event::KillNow) => self.enter(Stopped, now),
            (Initial | Stopped | Exited, Event::KillNow) => {
                // No process.
            }

            // ---- A check went down (spec §10).
            (Running { pid }, Event::CheckFailed { check, action }) => match action {
                CheckAction::Restart => {
                    let text = format!(
                        "Service {} on-check-failure action for check {} is \"restart\", terminating process before restarting",
                        quote(&self.name),
                        quote(check)
                    );
                    ctx.log(LogLevel::Info, &self.name, text);
                    self.restart_after_stop = true;
                    self.terminate(pid, None, ctx);
                }
                CheckAction::Shutdown | CheckAction::SuccessShutdown | CheckAction::Ignore => {
                    self.check_action(check, action, ctx);
                }
            },
            (Backoff { .. }, Event::CheckFailed { check, action }) => match action {
                CheckAction::Restart => {
                    let text = format!(
                        "Service {} on-check-failure action for check {} is \"restart\", waiting for current backoff",
                        quote(&self.name),
                        quote(check)
                    );
                    ctx.log(LogLevel::Info, &self.name, text);
                }
                CheckAction::Shutdown | CheckAction::SuccessShutdown | CheckAction::Ignore => {
                    self.check_action(check, action, ctx);
                }
            },
            (Exited, Event::CheckFailed { check, action }) => match action {
                CheckAction::Restart => self.back_off("on-check-failure", ctx),
                CheckAction::Shutdown | CheckAction::SuccessShutdown | CheckAction::Ignore => {
                    self.check_action(check, action, ctx);
                }
            },
            (
                Initial
                | Spawning { .. }
                | Starting { .. }
                | Terminating { .. }
                | Killing { .. }
                | Stopped,
                Event::CheckFailed { .. },
            ) => {
                // Nothing: an operator's stop is respected, and a service
                // still starting is not judged yet (spec §10).
            }
        }
    }

    /// Moves to `state`: stamps `current-since` when the state changes and
    /// rewrites the timer slots from it. The backoff-reset slot belongs to
    /// the process, not the state, and is left alone.
    pub(crate) fn enter(&mut self, state: State, now: Now) {
        if std::mem::discriminant(&state) != std::mem::discriminant(&self.state) {
            self.since = Some(now.wall);
        }
        for kind in [
            TimerKind::Okay,
            TimerKind::Backoff,
            TimerKind::Kill,
            TimerKind::Fail,
        ] {
            self.timers.clear(kind);
        }
        if let Some((kind, at)) = state.deadline() {
            self.timers.set(kind, at);
        }
        self.state = state;
    }
}
