//! The health-check scheduler: when each check probes, what a probe's result
//! does to the check's counters and status, and when a check goes down or
//! comes back up, as a pure state machine.
//!
//! It is fully deterministic: time comes only from the inputs (a [`Now`]) and
//! it never touches a file descriptor, a process, a socket or a clock. It
//! says what to do as [`Effect`]s (run a probe, cancel one, report a
//! threshold crossing or a recovery, log) and the reactor applies them
//! (`reactor/probes.rs`). That
//! is how it is tested, with a fake clock (DESIGN.md invariant 6, "time is
//! injected").
//!
//! - `state`: one check's settings, counters, schedule and transitions;
//! - [`probe`]: the blocking HTTP and TCP probes that probe threads run,
//!   the one part of `checks` that touches sockets;
//! - [`tracker`]: the `perform-check` and `recover-check` changes;
//! - `tests`: the fake-clock harness and the acceptance tests of issue 5.
//!
//! The rules are the spec's checks-and-alerts.md §1–§8; section numbers in
//! comments refer to it.
//!
//! The `perform-check` and `recover-check` changes of §6 live in the
//! supervisor's change store; the core only says when one opens
//! ([`Effect::Opened`]), what its task logs ([`Effect::TaskLog`]) and how it
//! ends ([`Effect::Down`], [`Effect::Up`], [`Effect::Closed`]).
//! [`tracker`] keeps the change ids and applies those effects.
#![deny(missing_docs)]

pub mod probe;
mod state;
pub mod tracker;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use vigil_proto::api::quote;
use vigil_proto::plan::{Check, CheckLevel, ExecProbe, HttpProbe, Startup, TcpProbe};

pub use crate::supervisor::{LogLevel, Now};

use self::state::{CheckConfig, CheckRecord};

/// The id of one probe: one execution of a check's request, connect or
/// command. A result is matched to its probe by this id, so the result of a
/// cancelled probe is dropped when it arrives (§3, "Cancellation").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProbeId(u64);

impl fmt::Display for ProbeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "probe {}", self.0)
    }
}

/// What a probe does, copied from the plan (§4).
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeSpec {
    /// `GET` the URL (§4.1).
    Http(HttpProbe),
    /// Connect to the port (§4.2).
    Tcp(TcpProbe),
    /// Run the command (§4.3).
    Exec(ExecProbe),
}

impl ProbeSpec {
    /// The word used in change summaries: `HTTP`, `TCP` or `exec` (§6).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Http(_) => "HTTP",
            ProbeSpec::Tcp(_) => "TCP",
            ProbeSpec::Exec(_) => "exec",
        }
    }
}

/// Why a probe failed (§5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeFailure {
    /// The one-line message, exactly as §5 gives it, such as
    /// `non-2xx status code 503`.
    pub message: String,
    /// Extra lines: the start of the body, the end of the output.
    pub details: Vec<String>,
}

/// A check's status in `GET /v1/checks` (§6, "Status rule").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    /// Running, with fewer consecutive failures than the threshold.
    Up,
    /// Running, with at least `threshold` consecutive failures.
    Down,
    /// Not running.
    Inactive,
}

impl CheckStatus {
    /// The wire spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Up => "up",
            CheckStatus::Down => "down",
            CheckStatus::Inactive => "inactive",
        }
    }
}

/// One check as `GET /v1/checks` shows it (without `change-id`, which the
/// changes will add).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckInfo {
    /// The check's name.
    pub name: String,
    /// `level`, if set.
    pub level: Option<CheckLevel>,
    /// `startup`; unset means enabled.
    pub startup: Startup,
    /// Up, down or inactive.
    pub status: CheckStatus,
    /// Successful probes since the check was last started.
    pub successes: u64,
    /// Consecutive failed probes.
    pub failures: u32,
    /// The effective threshold (3 when unset).
    pub threshold: u32,
}

/// A check's figures for `GET /v1/metrics` (§6, "Metrics").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckMetrics {
    /// The check's name.
    pub name: String,
    /// The status; `vigil_check_up` is absent when it is inactive.
    pub status: CheckStatus,
    /// `vigil_check_success_count`: every successful probe, refresh
    /// included, since vigild started; never reset.
    pub success_count: u64,
    /// `vigil_check_failure_count`, likewise.
    pub failure_count: u64,
}

/// What the reactor must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Run one probe of `check`. It must report back through
    /// [`Checks::handle_result`] with the same `probe` id, unless it is
    /// cancelled first. `timeout` is the effective timeout (§3); the core
    /// also enforces it, so a runner that overruns is cancelled.
    Probe {
        /// The check.
        check: String,
        /// The id to report the result with.
        probe: ProbeId,
        /// What to run.
        spec: ProbeSpec,
        /// `min(timeout, period)`.
        timeout: Duration,
    },
    /// Stop the probe `probe` of `check` now: SIGKILL an exec probe's process
    /// group, drop an HTTP or TCP probe's result when it arrives. Its result
    /// is ignored from now on.
    Cancel {
        /// The check.
        check: String,
        /// The probe to cancel.
        probe: ProbeId,
    },
    /// A probe has ended, by a result or by the core's timeout. A parked
    /// `POST /v1/checks/refresh` waiting on `probe` answers with `result`.
    /// A cancelled probe gets no `Finished`.
    Finished {
        /// The check.
        check: String,
        /// The probe.
        probe: ProbeId,
        /// Its outcome.
        result: Result<(), ProbeFailure>,
    },
    /// `check` has just reached its threshold: once per crossing, never once
    /// per failed probe (§7). The open `perform-check` change ends `Error`
    /// (its task has already logged the failure), alerts fire and
    /// `on-check-failure` actions run; an [`Effect::Opened`] for the
    /// `recover-check` change follows.
    Down {
        /// The check.
        check: String,
        /// The failure that crossed the threshold.
        failure: ProbeFailure,
    },
    /// `check` was down and a probe has just succeeded: the open
    /// `recover-check` change ends `Done` (§6), alerts fire, no service
    /// action; an [`Effect::Opened`] for a new `perform-check` follows.
    Up {
        /// The check.
        check: String,
    },
    /// The check is now running with a fresh change: a `perform-check`
    /// change, or a `recover-check` change right after [`Effect::Down`]
    /// (§6). Any change of the check still open was ended before this.
    Opened {
        /// The check.
        check: String,
        /// Whether the change is a `recover-check`.
        recovering: bool,
        /// `HTTP`, `TCP` or `exec`, for the summary.
        probe_kind: &'static str,
    },
    /// The check stopped running (stopped, restarted with a new config,
    /// removed, or its change aborted): its open change ends `Hold` (api.md
    /// §7, "Abort"). Neither alerts nor service actions follow.
    Closed {
        /// The check.
        check: String,
    },
    /// A line for the task of the check's open change (§6): `Info` for
    /// `succeeded after 2 failures`, `Error` for a failure and its details.
    TaskLog {
        /// The check.
        check: String,
        /// `Info` or `Error`.
        level: LogLevel,
        /// The line.
        text: String,
    },
    /// A line for the daemon log.
    Log {
        /// How important.
        level: LogLevel,
        /// The check.
        check: String,
        /// The line.
        message: String,
    },
}

/// Names a command was given that are not checks of the plan. The command
/// did nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownChecks(pub Vec<String>);

impl fmt::Display for UnknownChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(|name| quote(name)).collect();
        let noun = if self.0.len() == 1 { "check" } else { "checks" };
        write!(f, "cannot find {noun} {}", names.join(", "))
    }
}

impl std::error::Error for UnknownChecks {}

/// Every check of the plan, with its schedule and counters.
///
/// # Kinds of methods
///
/// - **Queries** (`&self`): [`checks`](Self::checks),
///   [`healthy`](Self::healthy), [`metrics`](Self::metrics).
/// - **Commands** from API handlers, boot and replan:
///   [`start`](Self::start), [`stop`](Self::stop),
///   [`stop_all`](Self::stop_all), [`refresh`](Self::refresh),
///   [`update_plan`](Self::update_plan), [`replan`](Self::replan). They
///   validate and return at once; the work shows up as effects.
/// - **Inputs** from the reactor: [`handle_timeout`](Self::handle_timeout)
///   and [`handle_result`](Self::handle_result).
/// - **Outputs**: [`poll_effect`](Self::poll_effect) and
///   [`next_deadline`](Self::next_deadline).
///
/// # Call order
///
/// After **every** command or input, the reactor calls
/// [`poll_effect`](Self::poll_effect) until it returns `None`, applying each
/// effect in order, then arms its timer to
/// [`next_deadline`](Self::next_deadline) (disarms it on `None`). When the
/// timer fires, it calls [`handle_timeout`](Self::handle_timeout); a
/// spurious or early call is a harmless no-op. A result for a probe that was
/// cancelled, or that the core already timed out, is ignored. Time must never
/// go backwards from one input to the next.
///
/// # Never two probes at once
///
/// Each check has at most one probe in flight. The core ends it at its
/// effective timeout ([`Effect::Cancel`], then a failed
/// [`Effect::Finished`]) before the next scheduled probe of the same instant
/// starts. A scheduled probe that comes due while another probe of the check
/// is still running (a refresh started mid-period, a late reactor) is
/// skipped, and the schedule goes on (§3: missed probes are not run in a
/// burst).
#[derive(Debug, Default)]
pub struct Checks {
    checks: BTreeMap<String, CheckRecord>,
    effects: VecDeque<Effect>,
    /// The id of the next probe.
    next_probe: u64,
}

impl Checks {
    /// The checks of `plan_checks`, each enabled one started at `now`, as at
    /// boot (§2: checks start as soon as their layer is loaded).
    #[must_use]
    pub fn new(plan_checks: &BTreeMap<String, Check>, now: Now) -> Self {
        let mut checks = Self {
            checks: BTreeMap::new(),
            effects: VecDeque::new(),
            next_probe: 1,
        };
        checks.update_plan(plan_checks, now);
        checks
    }

    // ---- Queries.

    /// `GET /v1/checks?level=&names=`: the checks named in `names` (all when
    /// empty) whose level is exactly `level` (any when `None`), sorted by
    /// name. Unknown names are dropped.
    #[must_use]
    pub fn checks(&self, level: Option<CheckLevel>, names: &[String]) -> Vec<CheckInfo> {
        self.checks
            .values()
            .filter(|c| names.is_empty() || names.contains(&c.name))
            .filter(|c| level.is_none() || c.config.check.level == level)
            .map(CheckRecord::info)
            .collect()
    }

    /// `GET /v1/health?level=&names=` (§8): false when a matching check is
    /// down. `Ready` matches `ready` and `alive` checks; `None` matches every
    /// check.
    #[must_use]
    pub fn healthy(&self, level: Option<CheckLevel>, names: &[String]) -> bool {
        !self
            .checks
            .values()
            .filter(|c| names.is_empty() || names.contains(&c.name))
            .filter(|c| match (level, c.config.check.level) {
                (None, _) => true,
                (Some(CheckLevel::Alive), level) => level == Some(CheckLevel::Alive),
                (Some(CheckLevel::Ready), level) => level.is_some(),
            })
            .any(|c| c.status() == CheckStatus::Down)
    }

    /// Whether `check` is down (§6's status rule).
    #[must_use]
    pub fn is_down(&self, check: &str) -> bool {
        self.checks
            .get(check)
            .is_some_and(|c| c.status() == CheckStatus::Down)
    }

    /// Figures for `GET /v1/metrics`, sorted by name.
    #[must_use]
    pub fn metrics(&self) -> Vec<CheckMetrics> {
        self.checks
            .values()
            .map(|c| CheckMetrics {
                name: c.name.clone(),
                status: c.status(),
                success_count: c.success_count,
                failure_count: c.failure_count,
            })
            .collect()
    }

    // ---- Commands.

    /// `POST /v1/checks` start: starts the named checks that are not
    /// running, with counters reset, and returns them (the `changed` list).
    /// Running checks are left alone and not listed.
    pub fn start(&mut self, names: &[String], now: Now) -> Result<Vec<String>, UnknownChecks> {
        self.known(names)?;
        let mut changed = Vec::new();
        for name in names {
            if let Some(check) = self.checks.get_mut(name)
                && check.start(now.monotonic, &mut self.effects)
                && !changed.contains(name)
            {
                changed.push(name.clone());
            }
        }
        Ok(changed)
    }

    /// `POST /v1/checks` stop: stops the named running checks, cancelling
    /// their probes; counters are kept. Returns the checks that were running.
    pub fn stop(&mut self, names: &[String]) -> Result<Vec<String>, UnknownChecks> {
        self.known(names)?;
        let mut changed = Vec::new();
        for name in names {
            if let Some(check) = self.checks.get_mut(name)
                && check.stop(&mut self.effects)
                && !changed.contains(name)
            {
                changed.push(name.clone());
            }
        }
        Ok(changed)
    }

    /// Stops every check: daemon shutdown stops checks first.
    pub fn stop_all(&mut self) {
        for check in self.checks.values_mut() {
            check.stop(&mut self.effects);
        }
    }

    /// `POST /v1/checks/refresh`: runs one probe of `name` now and returns
    /// its id; the reply waits for the [`Effect::Finished`] (or
    /// [`Effect::Cancel`]) of that id. When a probe of the check is already
    /// running, that probe's id is returned instead of starting a second one.
    /// A running check counts the probe like a scheduled one, without
    /// shifting its schedule; for a check that is not running it is a
    /// one-off that changes no counter (§2).
    pub fn refresh(&mut self, name: &str, now: Now) -> Result<ProbeId, UnknownChecks> {
        let Some(check) = self.checks.get_mut(name) else {
            return Err(UnknownChecks(vec![name.to_owned()]));
        };
        if let Some(running) = &check.probe {
            return Ok(running.id);
        }
        Ok(check.launch(&mut self.next_probe, now.monotonic, &mut self.effects))
    }

    /// The plan's checks are now `plan_checks` (boot, `POST /v1/layers`,
    /// replan): new checks start unless disabled, changed ones restart with
    /// counters reset, removed ones stop and are forgotten (§2). A change of
    /// `level` or `startup` alone restarts nothing.
    pub fn update_plan(&mut self, plan_checks: &BTreeMap<String, Check>, now: Now) {
        let removed: Vec<String> = self
            .checks
            .keys()
            .filter(|name| !plan_checks.contains_key(*name))
            .cloned()
            .collect();
        for name in removed {
            if let Some(mut check) = self.checks.remove(&name) {
                check.forget(&mut self.effects);
            }
        }
        for (name, entry) in plan_checks {
            let Some(config) = CheckConfig::resolve(entry) else {
                // The plan checked that each check has exactly one probe.
                continue;
            };
            match self.checks.get_mut(name) {
                None => {
                    let mut check = CheckRecord::new(name, config);
                    if check.enabled() {
                        check.start(now.monotonic, &mut self.effects);
                    }
                    self.checks.insert(name.clone(), check);
                }
                Some(check) => check.reconfigure(config, now.monotonic, &mut self.effects),
            }
        }
    }

    /// Replan: also starts every check that is not running and whose
    /// `startup` is not disabled, such as one stopped through the API (§2).
    pub fn replan(&mut self, plan_checks: &BTreeMap<String, Check>, now: Now) {
        self.update_plan(plan_checks, now);
        for check in self.checks.values_mut() {
            if check.enabled() {
                check.start(now.monotonic, &mut self.effects);
            }
        }
    }

    // ---- Inputs.

    /// The deadline from [`next_deadline`](Self::next_deadline) has passed:
    /// time out overdue probes, then start every probe due at `now`. A
    /// spurious or early call does nothing.
    pub fn handle_timeout(&mut self, now: Now) {
        for check in self.checks.values_mut() {
            check.handle_timeout(now.monotonic, &mut self.next_probe, &mut self.effects);
        }
    }

    /// The probe `probe` ended with `result`. A result for a probe the core
    /// no longer waits for (cancelled, timed out, its check removed) is
    /// ignored.
    pub fn handle_result(&mut self, probe: ProbeId, result: Result<(), ProbeFailure>, _now: Now) {
        if let Some(check) = self
            .checks
            .values_mut()
            .find(|c| c.probe.as_ref().is_some_and(|p| p.id == probe))
        {
            check.finish(result, &mut self.effects);
        }
    }

    // ---- Outputs.

    /// The next effect to apply, in order.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the
    /// earliest scheduled probe or probe timeout.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.checks
            .values()
            .filter_map(CheckRecord::next_deadline)
            .min()
    }

    // ---- Helpers.

    /// Fails with every name in `names` that is not a check.
    fn known(&self, names: &[String]) -> Result<(), UnknownChecks> {
        let unknown: Vec<String> = names
            .iter()
            .filter(|name| !self.checks.contains_key(*name))
            .cloned()
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(UnknownChecks(unknown))
        }
    }
}
