//! One check: its settings with the defaults filled in, its counters, its
//! schedule and the probe in flight, and what each input does to them.
//!
//! A check has two deadlines, like a tiny quinn-proto `TimerTable`: the next
//! scheduled probe (only while running) and the timeout of the probe in
//! flight. Each is replaced or cleared by the transition that moves it, so a
//! stale deadline cannot fire.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use vigil_proto::api::quote;
use vigil_proto::duration;
use vigil_proto::plan::{Check, Startup};

use super::{CheckInfo, CheckStatus, Effect, LogLevel, ProbeFailure, ProbeId, ProbeSpec};

/// `period` when unset.
pub(crate) const DEFAULT_PERIOD: Duration = Duration::from_secs(10);
/// `timeout` when unset (then clamped to the period).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// `threshold` when unset.
pub(crate) const DEFAULT_THRESHOLD: u32 = 3;

/// A check's settings with the defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CheckConfig {
    /// The plan entry as merged, for `level`, `startup` and comparisons.
    pub(crate) check: Check,
    pub(crate) period: Duration,
    /// The effective timeout: `min(timeout, period)` (§3).
    pub(crate) timeout: Duration,
    pub(crate) threshold: u32,
    /// Before the first probe: `delay` when set, else one period (D7).
    pub(crate) first_delay: Duration,
    pub(crate) spec: ProbeSpec,
}

impl CheckConfig {
    /// The settings of `check`; `None` when it has no probe, which the plan
    /// rejects.
    pub(crate) fn resolve(check: &Check) -> Option<CheckConfig> {
        let spec = match (&check.http, &check.tcp, &check.exec) {
            (Some(http), None, None) => ProbeSpec::Http(http.clone()),
            (None, Some(tcp), None) => ProbeSpec::Tcp(tcp.clone()),
            (None, None, Some(exec)) => ProbeSpec::Exec(exec.clone()),
            _ => return None,
        };
        let period = check.period.unwrap_or(DEFAULT_PERIOD);
        Some(CheckConfig {
            check: check.clone(),
            period,
            timeout: check.timeout.unwrap_or(DEFAULT_TIMEOUT).min(period),
            threshold: check.threshold.unwrap_or(DEFAULT_THRESHOLD).max(1),
            first_delay: check.delay.unwrap_or(period),
            spec,
        })
    }

    /// Whether probing differs: the comparison ignores `override`,
    /// `startup` and `level` (§2, "What counts as a config change").
    fn probes_differently(&self, other: &CheckConfig) -> bool {
        let strip = |check: &Check| Check {
            override_: None,
            startup: None,
            level: None,
            ..check.clone()
        };
        strip(&self.check) != strip(&other.check)
    }
}

/// Whether the check is running (has a perform-check or recover-check
/// change, once those exist).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activity {
    /// Not running: no scheduled probe; status `inactive`.
    Inactive,
    /// Running: the next scheduled probe is due at `next_probe_at`.
    Running { next_probe_at: Instant },
}

/// The probe in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub(crate) id: ProbeId,
    /// The core fails the probe and cancels it at this instant.
    pub(crate) timeout_at: Instant,
    /// Whether its result changes the counters: false for a refresh of a
    /// check that was not running (§2).
    pub(crate) counts: bool,
}

/// One check of the plan.
#[derive(Clone, Debug)]
pub(crate) struct CheckRecord {
    pub(crate) name: String,
    pub(crate) config: CheckConfig,
    pub(crate) activity: Activity,
    pub(crate) probe: Option<InFlight>,
    /// Successful probes since the check was last started.
    pub(crate) successes: u64,
    /// Consecutive failed probes.
    pub(crate) failures: u32,
    /// Metrics: every success, never reset.
    pub(crate) success_count: u64,
    /// Metrics: every failure, never reset.
    pub(crate) failure_count: u64,
}

impl CheckRecord {
    pub(crate) fn new(name: &str, config: CheckConfig) -> Self {
        Self {
            name: name.to_owned(),
            config,
            activity: Activity::Inactive,
            probe: None,
            successes: 0,
            failures: 0,
            success_count: 0,
            failure_count: 0,
        }
    }

    /// `startup` is not `disabled`.
    pub(crate) fn enabled(&self) -> bool {
        self.config.check.startup != Some(Startup::Disabled)
    }

    /// The status rule of §6.
    pub(crate) fn status(&self) -> CheckStatus {
        match self.activity {
            Activity::Inactive => CheckStatus::Inactive,
            Activity::Running { .. } if self.failures >= self.config.threshold => CheckStatus::Down,
            Activity::Running { .. } => CheckStatus::Up,
        }
    }

    pub(crate) fn info(&self) -> CheckInfo {
        CheckInfo {
            name: self.name.clone(),
            level: self.config.check.level,
            startup: self.config.check.startup.unwrap_or(Startup::Enabled),
            status: self.status(),
            successes: self.successes,
            failures: self.failures,
            threshold: self.config.threshold,
        }
    }

    /// The earliest of the two deadlines.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let scheduled = match self.activity {
            Activity::Inactive => None,
            Activity::Running { next_probe_at } => Some(next_probe_at),
        };
        let timeout = self.probe.map(|p| p.timeout_at);
        scheduled.into_iter().chain(timeout).min()
    }

    /// Starts the check if it is not running: counters at 0, first probe
    /// after the first delay. Returns whether it was started. A one-off
    /// refresh probe in flight stays a one-off.
    pub(crate) fn start(&mut self, now: Instant, out: &mut VecDeque<Effect>) -> bool {
        match self.activity {
            Activity::Running { .. } => false,
            Activity::Inactive => {
                self.successes = 0;
                self.failures = 0;
                self.activity = Activity::Running {
                    next_probe_at: now + self.config.first_delay,
                };
                self.log(out, LogLevel::Debug, "started".to_owned());
                self.opened(false, out);
                true
            }
        }
    }

    /// Stops the check if it is running, cancelling its counted probe;
    /// counters are kept. Returns whether it was running.
    pub(crate) fn stop(&mut self, out: &mut VecDeque<Effect>) -> bool {
        match self.activity {
            Activity::Inactive => false,
            Activity::Running { .. } => {
                self.activity = Activity::Inactive;
                if self.probe.is_some_and(|p| p.counts) {
                    self.cancel(out);
                }
                self.log(out, LogLevel::Debug, "stopped".to_owned());
                self.closed(out);
                true
            }
        }
    }

    /// The check left the plan: cancel whatever probe is in flight.
    pub(crate) fn forget(&mut self, out: &mut VecDeque<Effect>) {
        let was_running = self.activity != Activity::Inactive;
        self.activity = Activity::Inactive;
        self.cancel(out);
        if was_running {
            self.closed(out);
        }
        self.log(out, LogLevel::Info, "removed from the plan".to_owned());
    }

    /// New settings from the plan (§2's table).
    pub(crate) fn reconfigure(
        &mut self,
        config: CheckConfig,
        now: Instant,
        out: &mut VecDeque<Effect>,
    ) {
        let restart = self.config.probes_differently(&config);
        // `level` and `startup` apply at once; they never restart anything.
        self.config = config;
        if !restart {
            return;
        }
        self.cancel(out);
        let was_running = self.activity != Activity::Inactive;
        if was_running {
            self.closed(out);
        }
        self.activity = Activity::Inactive;
        if was_running || self.enabled() {
            self.log(
                out,
                LogLevel::Info,
                "configuration changed; restarting".to_owned(),
            );
            self.start(now, out);
        }
    }

    /// Starts a probe now and returns its id. Counted when the check runs.
    pub(crate) fn launch(
        &mut self,
        next_id: &mut u64,
        now: Instant,
        out: &mut VecDeque<Effect>,
    ) -> ProbeId {
        let id = ProbeId(*next_id);
        *next_id += 1;
        self.probe = Some(InFlight {
            id,
            timeout_at: now + self.config.timeout,
            counts: self.activity != Activity::Inactive,
        });
        out.push_back(Effect::Probe {
            check: self.name.clone(),
            probe: id,
            spec: self.config.spec.clone(),
            timeout: self.config.timeout,
        });
        id
    }

    /// Fires whatever is due at `now`: first the timeout of the probe in
    /// flight, so that a probe due at the same instant can start, then the
    /// scheduled probe.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        next_id: &mut u64,
        out: &mut VecDeque<Effect>,
    ) {
        if let Some(probe) = self.probe.filter(|p| p.timeout_at <= now) {
            self.cancel(out);
            let failure = ProbeFailure {
                message: format!(
                    "check timed out after {}",
                    duration::format(self.config.timeout)
                ),
                details: Vec::new(),
            };
            self.end(probe, Err(failure), out);
        }
        let Activity::Running { next_probe_at } = self.activity else {
            return;
        };
        if next_probe_at > now {
            return;
        }
        // Fixed rate from the scheduled time; after a long pause, continue
        // from now instead of running the missed probes in a burst (§3).
        let mut next = next_probe_at + self.config.period;
        if next <= now {
            next = now + self.config.period;
        }
        self.activity = Activity::Running {
            next_probe_at: next,
        };
        match self.probe {
            Some(running) => self.log(
                out,
                LogLevel::Debug,
                format!("{} still running; skipping a scheduled probe", running.id),
            ),
            None => {
                self.launch(next_id, now, out);
            }
        }
    }

    /// The probe in flight reported `result`.
    pub(crate) fn finish(&mut self, result: Result<(), ProbeFailure>, out: &mut VecDeque<Effect>) {
        if let Some(probe) = self.probe.take() {
            self.end(probe, result, out);
        }
    }

    /// Cancels the probe in flight, if any.
    fn cancel(&mut self, out: &mut VecDeque<Effect>) {
        if let Some(probe) = self.probe.take() {
            out.push_back(Effect::Cancel {
                check: self.name.clone(),
                probe: probe.id,
            });
        }
    }

    /// `probe` (no longer in flight) ended with `result`: report it, then
    /// count it (§6).
    fn end(
        &mut self,
        probe: InFlight,
        result: Result<(), ProbeFailure>,
        out: &mut VecDeque<Effect>,
    ) {
        out.push_back(Effect::Finished {
            check: self.name.clone(),
            probe: probe.id,
            result: result.clone(),
        });
        match &result {
            Ok(()) => self.success_count += 1,
            Err(_) => self.failure_count += 1,
        }
        // A one-off refresh changes no counter. A counted probe cannot end
        // while inactive (stopping cancels it), but say so in the match.
        if !probe.counts || self.activity == Activity::Inactive {
            return;
        }
        match result {
            Ok(()) if self.failures >= self.config.threshold => {
                // recover-check: the first success brings the check back up.
                self.successes = 1;
                self.failures = 0;
                self.log(out, LogLevel::Info, "recovered".to_owned());
                out.push_back(Effect::Up {
                    check: self.name.clone(),
                });
                self.opened(false, out);
            }
            Ok(()) => {
                if self.failures > 0 {
                    let noun = if self.failures == 1 {
                        "failure"
                    } else {
                        "failures"
                    };
                    let message = format!("succeeded after {} {noun}", self.failures);
                    self.task_log(out, LogLevel::Info, message.clone());
                    self.log(out, LogLevel::Info, message);
                }
                self.successes += 1;
                self.failures = 0;
            }
            Err(failure) => {
                self.failures = self.failures.saturating_add(1);
                self.log(out, LogLevel::Error, failure.message.clone());
                self.task_log(out, LogLevel::Error, failure.message.clone());
                // The details follow as INFO lines, so that the task's last
                // ERROR line (what `vigil checks` shows) and the change's
                // `err` are the failure messages themselves.
                for line in &failure.details {
                    self.log(out, LogLevel::Error, line.clone());
                    self.task_log(out, LogLevel::Info, line.clone());
                }
                // Exactly at the threshold: once per crossing, never once per
                // failed probe (§7). Later failures only count.
                if self.failures == self.config.threshold {
                    self.log(
                        out,
                        LogLevel::Error,
                        format!("down after {} failures", self.failures),
                    );
                    out.push_back(Effect::Down {
                        check: self.name.clone(),
                        failure,
                    });
                    self.opened(true, out);
                }
            }
        }
    }

    /// The check runs under a new change.
    fn opened(&self, recovering: bool, out: &mut VecDeque<Effect>) {
        out.push_back(Effect::Opened {
            check: self.name.clone(),
            recovering,
            probe_kind: self.config.spec.kind(),
        });
    }

    /// The check's change ends without an outcome.
    fn closed(&self, out: &mut VecDeque<Effect>) {
        out.push_back(Effect::Closed {
            check: self.name.clone(),
        });
    }

    /// A line for the task of the check's change.
    fn task_log(&self, out: &mut VecDeque<Effect>, level: LogLevel, text: String) {
        out.push_back(Effect::TaskLog {
            check: self.name.clone(),
            level,
            text,
        });
    }

    /// A log line naming the check.
    fn log(&self, out: &mut VecDeque<Effect>, level: LogLevel, message: String) {
        out.push_back(Effect::Log {
            level,
            check: self.name.clone(),
            message: format!("check {}: {message}", quote(&self.name)),
        });
    }
}
