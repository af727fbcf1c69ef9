//! The steps the transition table takes (see `service`): spawning,
//! stopping and killing, the exit actions of spec supervision.md §6, backoff
//! (§7) and the check actions (§10). Each step changes the state only
//! through `ServiceRecord::enter`.

use vigil_proto::api::{TaskId, quote};
use vigil_proto::duration;
use vigil_proto::plan::{CheckAction, ExitAction};
use vigil_proto::signal::Signal;

use super::config::ServiceConfig;
use super::service::{
    Ctx, FAIL_DELAY, LAST_OUTPUT_LINES, OKAY_DELAY, ServiceRecord, SpawnPurpose, State, deadline,
};
use super::timers::TimerKind;
use super::{Effect, ExitStatus, LogLevel, Pid, RecentOutput, SpawnRequest};
use crate::exit::{CHECK_FAILURE_SHUTDOWN, FAILURE_SHUTDOWN_AFTER_SUCCESS};

impl ServiceRecord {
    /// A start task runs in a state without a process.
    pub(super) fn begin_start(&mut self, task: TaskId, config: ServiceConfig, ctx: &mut Ctx<'_>) {
        // Spec §3: cancel any backoff (entering `spawning` clears its slot),
        // reset the counters and capture the active config.
        self.active = config;
        self.backoff.reset();
        self.restart_after_stop = false;
        self.start_task = Some(task);
        self.spawn(SpawnPurpose::Start, ctx);
    }

    /// Asks the reactor for a process with the active config.
    pub(super) fn spawn(&mut self, purpose: SpawnPurpose, ctx: &mut Ctx<'_>) {
        let config = &self.active;
        let text = format!(
            "Service {} starting: {}",
            quote(&self.name),
            config.argv.join(" ")
        );
        ctx.log(LogLevel::Info, &self.name, text);
        ctx.effects.push_back(Effect::Spawn(SpawnRequest {
            service: self.name.clone(),
            argv: config.argv.clone(),
            environment: config.environment.clone(),
            working_dir: config.working_dir.clone(),
            user: config.user.clone(),
            user_id: config.user_id,
            group: config.group.clone(),
            group_id: config.group_id,
            logs_forward: config.logs_forward,
        }));
        self.enter(
            State::Spawning {
                purpose,
                stop_requested: false,
            },
            ctx.now,
        );
    }

    /// The reactor spawned the process asked for.
    pub(super) fn spawned(
        &mut self,
        purpose: SpawnPurpose,
        stop_requested: bool,
        pid: Pid,
        ctx: &mut Ctx<'_>,
    ) {
        let now = ctx.now;
        self.start_count += 1;
        self.timers.set(
            TimerKind::BackoffReset,
            deadline(now.monotonic, self.active.backoff.limit),
        );
        match (purpose, stop_requested) {
            (SpawnPurpose::Start, false) => self.enter(
                State::Starting {
                    pid,
                    okay_at: deadline(now.monotonic, OKAY_DELAY),
                },
                now,
            ),
            (SpawnPurpose::Restart, false) => self.enter(State::Running { pid }, now),
            (SpawnPurpose::Start, true) => {
                let text = format!(
                    "stopped before the {} okay delay",
                    duration::format(OKAY_DELAY)
                );
                self.fail_start(&text, ctx);
                self.terminate(pid, None, ctx);
            }
            (SpawnPurpose::Restart, true) => self.terminate(pid, None, ctx),
        }
    }

    /// Sends the stop signal to the group and waits up to `kill-delay`. A
    /// `kill-delay` of zero makes the kill deadline `now`, which fires
    /// before the input returns: SIGKILL follows at once.
    pub(super) fn terminate(&mut self, pid: Pid, task: Option<TaskId>, ctx: &mut Ctx<'_>) {
        self.stop_tasks.extend(task);
        let text = format!(
            "Stopping service {} with {}",
            quote(&self.name),
            self.active.stop_signal
        );
        ctx.log(LogLevel::Debug, &self.name, text);
        self.signal(pid, self.active.stop_signal, ctx);
        self.enter(
            State::Terminating {
                pid,
                kill_at: deadline(ctx.now.monotonic, self.active.kill_delay),
            },
            ctx.now,
        );
    }

    /// Sends SIGKILL to the group and waits up to the fail delay.
    pub(super) fn kill(&mut self, pid: Pid, ctx: &mut Ctx<'_>) {
        self.signal(pid, Signal::KILL, ctx);
        self.enter(
            State::Killing {
                pid,
                fail_at: Some(deadline(ctx.now.monotonic, FAIL_DELAY)),
            },
            ctx.now,
        );
    }

    /// Signals the process group of `pid`.
    pub(super) fn signal(&self, pid: Pid, signal: Signal, ctx: &mut Ctx<'_>) {
        ctx.effects.push_back(Effect::Signal {
            service: self.name.clone(),
            pid,
            signal,
            group: true,
        });
    }

    /// D10: SIGKILL whatever is left in the group of a main process that has
    /// exited. The reactor sends it before it reaps the leader, so the group
    /// id cannot have been reused (spec §14).
    pub(super) fn kill_leftovers(&self, pid: Pid, ctx: &mut Ctx<'_>) {
        self.signal(pid, Signal::KILL, ctx);
    }

    /// The process exited while a stop was in progress.
    pub(super) fn stopped(&mut self, pid: Pid, ctx: &mut Ctx<'_>) {
        self.timers.clear(TimerKind::BackoffReset);
        self.kill_leftovers(pid, ctx);
        if self.restart_after_stop && !ctx.shutting_down {
            self.restart_after_stop = false;
            let text = format!(
                "Service {} exited after check failure, restarting",
                quote(&self.name)
            );
            ctx.log(LogLevel::Info, &self.name, text);
            self.back_off("on-check-failure", ctx);
            // Any stop task that joined cleared `restart_after_stop`, so
            // there is none to finish here.
            return;
        }
        self.restart_after_stop = false;
        ctx.log(
            LogLevel::Info,
            &self.name,
            format!("Service {} stopped", quote(&self.name)),
        );
        self.enter(State::Stopped, ctx.now);
        self.finish_stop_tasks(ctx);
    }

    /// The process exited on its own, in `starting` (with the output source
    /// for the task log) or `running`.
    pub(super) fn exited_on_its_own(
        &mut self,
        pid: Pid,
        status: ExitStatus,
        starting: Option<&dyn RecentOutput>,
        ctx: &mut Ctx<'_>,
    ) {
        self.timers.clear(TimerKind::BackoffReset);
        let (_, action) = self.action_for(status);
        if let Some(output) = starting
            && let Some(task) = self.start_task.take()
        {
            let lines = output.recent_lines(&self.name, LAST_OUTPUT_LINES);
            if !lines.is_empty() {
                let mut text = String::from("Most recent service output:");
                for line in lines {
                    text.push_str("\n    ");
                    text.push_str(&line);
                }
                ctx.changes.log(task, text, ctx.now);
            }
            let error = format!(
                "service start attempt: exited quickly with code {}, will {action}",
                status.code()
            );
            ctx.changes.fail(task, error, ctx.now);
        }
        let text = format!(
            "Service {} stopped unexpectedly with code {}",
            quote(&self.name),
            status.code()
        );
        let level = if status.is_success() {
            LogLevel::Info
        } else {
            LogLevel::Warning
        };
        ctx.log(level, &self.name, text);
        self.exit_action(Some(pid), status, ctx);
    }

    /// `on-success` or `on-failure` and its action for `status`.
    pub(super) fn action_for(&self, status: ExitStatus) -> (&'static str, ExitAction) {
        if status.is_success() {
            ("on-success", self.active.on_success)
        } else {
            ("on-failure", self.active.on_failure)
        }
    }

    /// Applies the exit action (spec §6). `pid` is the exited process, or
    /// `None` for a restart that could not spawn.
    pub(super) fn exit_action(&mut self, pid: Option<Pid>, status: ExitStatus, ctx: &mut Ctx<'_>) {
        let (key, action) = self.action_for(status);
        let code = status.code();
        let name = quote(&self.name);
        let after = if status.is_success() {
            State::Stopped
        } else {
            State::Exited
        };
        if ctx.shutting_down {
            // Spec §6: once shutdown has begun, exits trigger no action. The
            // group is cleaned now: a group whose leader is reaped can never
            // be signalled again.
            if let Some(pid) = pid {
                self.kill_leftovers(pid, ctx);
            }
            let text = format!("Service {name} {key} action not applied: daemon is shutting down");
            ctx.log(LogLevel::Info, &self.name, text);
            self.enter(after, ctx.now);
            return;
        }
        match action {
            ExitAction::Restart => {
                if let Some(pid) = pid {
                    self.kill_leftovers(pid, ctx);
                }
                self.back_off(key, ctx);
            }
            ExitAction::Ignore => {
                // D10: leftovers are kept, a one-shot job may leave a helper.
                let text = format!(
                    "Service {name} {key} action is \"ignore\", not doing anything further"
                );
                ctx.log(LogLevel::Info, &self.name, text);
                self.enter(after, ctx.now);
            }
            ExitAction::Shutdown | ExitAction::SuccessShutdown | ExitAction::FailureShutdown => {
                let exit_code = match action {
                    ExitAction::SuccessShutdown => 0,
                    ExitAction::FailureShutdown if code == 0 => FAILURE_SHUTDOWN_AFTER_SUCCESS,
                    ExitAction::Shutdown
                    | ExitAction::FailureShutdown
                    | ExitAction::Restart
                    | ExitAction::Ignore => code,
                };
                // D10 says shutdown stops everything anyway; but a group
                // whose leader is reaped can never be signalled safely
                // again, so its leftovers are stopped now.
                if let Some(pid) = pid {
                    self.kill_leftovers(pid, ctx);
                }
                let text = format!(
                    "Service {name} {key} action is \"{action}\", shutting down with exit code {exit_code} (service exit code {code})"
                );
                ctx.log(LogLevel::Info, &self.name, text);
                self.enter(State::Exited, ctx.now);
                ctx.request_shutdown(exit_code);
            }
        }
    }

    /// Counts a restart and waits out its delay plus jitter.
    pub(super) fn back_off(&mut self, key: &str, ctx: &mut Ctx<'_>) {
        let delay = self.backoff.advance(&self.active.backoff);
        let jitter = ctx.rng.jitter(delay);
        let text = format!(
            "Service {} {key} action is \"restart\", waiting ~{} before restart (backoff {})",
            quote(&self.name),
            duration::format(delay),
            self.backoff.attempt
        );
        ctx.log(LogLevel::Info, &self.name, text);
        self.enter(
            State::Backoff {
                until: deadline(ctx.now.monotonic, delay + jitter),
                attempt: self.backoff.attempt,
            },
            ctx.now,
        );
    }

    /// The shutdown and ignore rows of spec §10's table.
    pub(super) fn check_action(&mut self, check: &str, action: CheckAction, ctx: &mut Ctx<'_>) {
        let code = match action {
            CheckAction::Shutdown => CHECK_FAILURE_SHUTDOWN,
            CheckAction::SuccessShutdown => 0,
            CheckAction::Ignore | CheckAction::Restart => return,
        };
        let text = format!(
            "Service {} on-check-failure action for check {} is \"{action}\", shutting down with exit code {code}",
            quote(&self.name),
            quote(check)
        );
        ctx.log(LogLevel::Info, &self.name, text);
        ctx.request_shutdown(code);
    }

    /// A stop task that found no process: logs `what` and is done.
    pub(super) fn stop_done(&mut self, task: Option<TaskId>, what: &str, ctx: &mut Ctx<'_>) {
        if let Some(task) = task {
            let text = format!("Service {} {what}", quote(&self.name));
            ctx.changes.log(task, text, ctx.now);
            ctx.changes.finish(task, ctx.now);
        }
    }

    /// The process is gone: every waiting stop task is done.
    pub(super) fn finish_stop_tasks(&mut self, ctx: &mut Ctx<'_>) {
        for task in std::mem::take(&mut self.stop_tasks) {
            ctx.changes.finish(task, ctx.now);
        }
    }

    /// Fails the start task, if one is waiting, with `error`.
    pub(super) fn fail_start(&mut self, error: &str, ctx: &mut Ctx<'_>) {
        if let Some(task) = self.start_task.take() {
            ctx.changes.fail(task, error, ctx.now);
        }
    }

    /// The error of a stop that gave up on its process (spec §3).
    pub(super) fn stuck_message(&self) -> String {
        format!(
            "cannot stop service: process still running after {} and SIGKILL",
            self.active.stop_signal
        )
    }
}
