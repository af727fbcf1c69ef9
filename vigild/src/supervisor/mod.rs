//! The supervision core: service state machines, lanes and ordering,
//! backoff, exit actions, replan diffing and daemon shutdown, as a pure state
//! machine.
//!
//! It is fully deterministic: time comes only from the inputs (a [`Now`]
//! carries both clocks) and randomness from a seeded generator. It never
//! touches a file descriptor, a process or a clock: it says what to do as
//! [`Effect`]s, and the reactor applies them (spawns, signals, logs, answers
//! to parked waits, exit). That is how it is tested, with a fake clock and
//! fake pids (DESIGN.md invariant 6, "time is injected").
//!
//! - `contract`: what goes in and comes out ([`Now`], [`Effect`], ...);
//! - `commands`: start, stop, restart, autostart, abort, shutdown;
//! - `tasks`: running the tasks of changes;
//! - `service`: one service's states and the transition table;
//! - `steps`: what the table's rows do (spawn, stop, exit actions, backoff);
//! - `lanes`: which services a request touches, their order and lanes;
//! - `backoff`: restart delays and their jitter;
//! - `replan`: what a new plan changes;
//! - `shutdown`: stopping everything in reverse dependency order;
//! - `config`: a service's settings with the defaults filled in;
//! - `timers`: a service's timer table.
//!
//! The rules are the spec's supervision.md and api.md §7; section numbers in
//! comments refer to supervision.md unless they say otherwise.
#![deny(missing_docs)]

mod backoff;
mod checks;
mod commands;
mod config;
mod contract;
mod lanes;
mod replan;
mod service;
mod shutdown;
mod steps;
mod tasks;
mod timers;

#[cfg(test)]
mod harness;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use vigil_proto::api::{
    Change, ChangeId, ChangeSelect, ServiceInfo, ServiceStartup, TaskId, Timestamp, UtcOffset,
    quote,
};
use vigil_proto::plan::{CheckAction, Plan};
use vigil_proto::signal::Signal;

use self::backoff::Rng;
use self::config::ServiceConfig;
use self::service::{Ctx, Event, ServiceRecord};
use self::shutdown::Shutdown;
use self::tasks::Work;
use crate::changes::{Changes, MAX_CHANGES};

pub use self::backoff::JITTER_DIVISOR;
pub use self::checks::CheckTaskEnd;
pub use self::commands::ActionError;
pub use self::contract::{
    Effect, ExitStatus, LogLevel, NoOutput, Now, Pid, RecentOutput, SpawnError, SpawnErrorKind,
    SpawnRequest,
};
pub use self::service::{FAIL_DELAY, LAST_OUTPUT_LINES, OKAY_DELAY};

/// Settings of the core that do not come from the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `vigild --args SERVICE ARG… ;`: arguments that replace a service's
    /// `[ default arguments ]`.
    pub args: Vec<(String, Vec<String>)>,
    /// The seed of the backoff jitter; the reactor takes it from the OS,
    /// tests fix it.
    pub rng_seed: u64,
    /// How many changes are kept ([`MAX_CHANGES`] by default).
    pub change_limit: usize,
    /// The local zone's offset, for times shown in the API.
    pub utc_offset: UtcOffset,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            args: Vec::new(),
            rng_seed: 0,
            change_limit: MAX_CHANGES,
            utc_offset: UtcOffset::UTC,
        }
    }
}

/// A service's figures for `GET /v1/metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceMetrics {
    /// The service.
    pub name: String,
    /// `vigil_service_active`: starting or running.
    pub active: bool,
    /// `vigil_service_start_count`: processes spawned since vigild started.
    pub start_count: u64,
}

/// The supervision core. One value supervises every service of the plan.
///
/// # Kinds of methods
///
/// - **Queries** (`&self`): [`services`](Self::services),
///   [`change`](Self::change), [`changes`](Self::changes),
///   [`owns`](Self::owns), [`metrics`](Self::metrics),
///   [`is_shutting_down`](Self::is_shutting_down), [`plan`](Self::plan).
/// - **Commands** from API handlers and boot: [`start`](Self::start),
///   [`stop`](Self::stop), [`restart`](Self::restart),
///   [`autostart`](Self::autostart), [`replan`](Self::replan),
///   [`update_plan`](Self::update_plan),
///   [`abort`](Self::abort), [`send_signal`](Self::send_signal),
///   [`boot`](Self::boot), [`shutdown`](Self::shutdown),
///   [`kill_all`](Self::kill_all). They validate, create the change and
///   return at once; the work shows up as effects.
/// - **Inputs** from the reactor: [`handle_spawned`](Self::handle_spawned),
///   [`handle_exit`](Self::handle_exit),
///   [`handle_timeout`](Self::handle_timeout),
///   [`handle_signal_forward`](Self::handle_signal_forward),
///   [`handle_check_failure`](Self::handle_check_failure).
/// - **Outputs**: [`poll_effect`](Self::poll_effect) and
///   [`next_deadline`](Self::next_deadline).
///
/// # Call order
///
/// After **every** command or input, the reactor:
///
/// 1. calls [`poll_effect`](Self::poll_effect) until it returns `None`,
///    applying each effect in order. For an [`Effect::Spawn`] it calls
///    [`handle_spawned`](Self::handle_spawned) right away, before polling
///    the next effect and before any other input; that call may queue more
///    effects, which the same loop drains.
/// 2. then arms its one timer to [`next_deadline`](Self::next_deadline)
///    (disarms it on `None`), and waits.
///
/// When the timer fires, call [`handle_timeout`](Self::handle_timeout); a
/// spurious or early call is a harmless no-op. For each reaped child, ask
/// [`owns`](Self::owns) and, if so, call [`handle_exit`](Self::handle_exit)
/// while the child is still a zombie (peeked with `WNOWAIT`), apply the
/// effects (a SIGKILL to its group may be among them), and only then reap
/// it. Every input carries the time it happened; time must never go
/// backwards from one input to the next.
#[derive(Debug)]
pub struct Supervisor {
    plan: Plan,
    options: Options,
    /// Every service of the plan, and removed ones until their process has
    /// gone.
    services: BTreeMap<String, ServiceRecord>,
    changes: Changes,
    /// What each task that has not run yet will do.
    work: BTreeMap<TaskId, Work>,
    effects: VecDeque<Effect>,
    rng: Rng,
    shutdown: Option<Shutdown>,
    /// An exit or check action asked for a shutdown with this code.
    shutdown_request: Option<u8>,
}

/// How many rounds of timers, tasks and shutdown steps one input may take
/// before the core stops and reports a livelock (a bug): each round must
/// make progress, and a few per service is the most any input needs.
const MAX_SETTLE_ROUNDS: usize = 10_000;

impl Supervisor {
    /// A core for `plan` with no service started yet; call
    /// [`boot`](Self::boot) to autostart.
    #[must_use]
    pub fn new(plan: Plan, options: Options) -> Self {
        let services = plan
            .services()
            .keys()
            .filter_map(|name| {
                ServiceConfig::resolve(&plan, name, &options.args)
                    .map(|config| (name.clone(), ServiceRecord::new(name, config)))
            })
            .collect();
        Self {
            changes: Changes::new(options.change_limit, options.utc_offset),
            rng: Rng::new(options.rng_seed),
            plan,
            options,
            services,
            work: BTreeMap::new(),
            effects: VecDeque::new(),
            shutdown: None,
            shutdown_request: None,
        }
    }

    // ---- Queries.

    /// The plan in force.
    #[must_use]
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Whether `pid` is the main process of a service. The reaper drops
    /// (and logs) exits nobody owns.
    #[must_use]
    pub fn owns(&self, pid: Pid) -> bool {
        self.services.values().any(|s| s.state.pid() == Some(pid))
    }

    /// Whether daemon shutdown has begun: POST requests other than
    /// `/v1/vigild` get 503 (api.md §4.3).
    #[must_use]
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_some()
    }

    /// `GET /v1/services`: the services named in `names` (all when empty),
    /// sorted by name; unknown names are dropped. A removed service is
    /// listed until its process has gone.
    #[must_use]
    pub fn services(&self, names: &[String]) -> Vec<ServiceInfo> {
        self.services
            .values()
            .filter(|s| names.is_empty() || names.contains(&s.name))
            .map(|s| {
                let startup = self
                    .plan
                    .services()
                    .get(&s.name)
                    .and_then(|service| service.startup)
                    .or((s.removed).then_some(s.active.startup));
                ServiceInfo {
                    name: s.name.clone(),
                    startup: match startup {
                        Some(vigil_proto::plan::Startup::Enabled) => ServiceStartup::Enabled,
                        Some(vigil_proto::plan::Startup::Disabled) | None => {
                            ServiceStartup::Disabled
                        }
                    },
                    current: s.state.status(),
                    current_since: s
                        .since
                        .map(|at| Timestamp::new(at, self.options.utc_offset)),
                }
            })
            .collect()
    }

    /// Figures for `GET /v1/metrics`, sorted by name: every service of the
    /// plan, started or not. A removed service is left out at once, even
    /// while its process is still stopping (api.md §6.17).
    #[must_use]
    pub fn metrics(&self) -> Vec<ServiceMetrics> {
        self.services
            .values()
            .filter(|s| !s.removed)
            .map(|s| ServiceMetrics {
                name: s.name.clone(),
                active: s.state.is_active(),
                start_count: s.start_count,
            })
            .collect()
    }

    /// `GET /v1/changes/{id}`.
    #[must_use]
    pub fn change(&self, id: ChangeId) -> Option<Change> {
        self.changes.change(id)
    }

    /// `GET /v1/changes?select=&for=`, sorted by id.
    #[must_use]
    pub fn changes(&self, select: ChangeSelect, service: Option<&str>) -> Vec<Change> {
        self.changes.list(select, service)
    }

    // ---- Inputs.

    /// The outcome of an [`Effect::Spawn`] for `service`: call it right after
    /// applying the effect, before any other input.
    pub fn handle_spawned(&mut self, service: &str, result: Result<Pid, SpawnError>, now: Now) {
        if self.services.contains_key(service) {
            self.deliver(service, Event::Spawned(result), now);
        } else if let Ok(pid) = result {
            // Not a service: never keep a process the core does not track.
            self.log(
                LogLevel::Warning,
                format!(
                    "Process {pid} spawned for unknown service {}; killing it",
                    quote(service)
                ),
            );
            self.effects.push_back(Effect::Signal {
                service: service.to_owned(),
                pid,
                signal: Signal::KILL,
                group: true,
            });
        }
        self.settle(now);
    }

    /// A service's main process `pid` exited with `status`. `output` gives
    /// the service's last output lines for a failed start (§4). Call it
    /// before reaping the process; see the call order above.
    pub fn handle_exit(
        &mut self,
        pid: Pid,
        status: ExitStatus,
        now: Now,
        output: &dyn RecentOutput,
    ) {
        let owner = self
            .services
            .values()
            .find(|s| s.state.pid() == Some(pid))
            .map(|s| s.name.clone());
        if let Some(name) = owner {
            self.deliver(&name, Event::Exit { status, output }, now);
        }
        self.settle(now);
    }

    /// The deadline from [`next_deadline`](Self::next_deadline) has passed:
    /// fire every timer due at `now`. A spurious or early call does nothing.
    pub fn handle_timeout(&mut self, now: Now) {
        self.settle(now);
    }

    /// vigild received SIGHUP, SIGUSR1 or SIGUSR2 (§12): forward it to the
    /// process group of every service that has a live process.
    pub fn handle_signal_forward(&mut self, signal: Signal) {
        for service in self.services.values() {
            if let Some(pid) = service.state.pid() {
                self.effects.push_back(Effect::Signal {
                    service: service.name.clone(),
                    pid,
                    signal,
                    group: true,
                });
            }
        }
    }

    /// Check `check` went down and `service` maps it to `action` in
    /// `on-check-failure` (§10). Ignored once shutdown has begun.
    pub fn handle_check_failure(
        &mut self,
        service: &str,
        check: &str,
        action: CheckAction,
        now: Now,
    ) {
        if self.shutdown.is_none() {
            self.deliver(service, Event::CheckFailed { check, action }, now);
        }
        self.settle(now);
    }

    // ---- Outputs.

    /// The next thing for the reactor to do, oldest first.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next:
    /// the earliest timer of any service, or the expiry of the oldest ready
    /// change. `None` when nothing is pending, so an idle daemon never
    /// wakes.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.services
            .values()
            .filter_map(|s| s.timers.next())
            .chain(self.changes.next_expiry())
            .min()
    }

    // ---- Internals.

    fn refuse_during_shutdown(&self) -> Result<(), ActionError> {
        if self.shutdown.is_some() {
            Err(ActionError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    fn enabled_services(&self) -> Vec<String> {
        self.plan
            .services()
            .iter()
            .filter(|(_, s)| s.startup == Some(vigil_proto::plan::Startup::Enabled))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Sends `event` to service `name`, if it exists.
    fn deliver(&mut self, name: &str, event: Event<'_>, now: Now) {
        let Some(record) = self.services.get_mut(name) else {
            return;
        };
        let mut ctx = Ctx {
            now,
            changes: &mut self.changes,
            effects: &mut self.effects,
            rng: &mut self.rng,
            shutting_down: self.shutdown.is_some(),
            shutdown_request: &mut self.shutdown_request,
        };
        record.handle(event, &mut ctx);
    }

    /// Runs everything an input made due, until nothing more is: timers at
    /// or before `now`, tasks whose prerequisites are done, shutdown steps,
    /// removed services that have stopped. Then reports change transitions.
    fn settle(&mut self, now: Now) {
        self.changes.prune_expired(now);
        let mut rounds = 0;
        loop {
            // A shutdown asked for by an exit or check action begins first,
            // so that nothing else starts once it is decided.
            let mut busy = false;
            if let Some(code) = self.shutdown_request.take() {
                if self.shutdown.is_none() {
                    self.begin_shutdown(code, now);
                }
                busy = true;
            }
            busy |= self.fire_timers(now);
            busy |= self.run_tasks(now);
            busy |= self.advance_shutdown(now);
            busy |= self.forget_removed();
            if !busy {
                break;
            }
            rounds += 1;
            if rounds >= MAX_SETTLE_ROUNDS {
                // Each round makes progress, so this is a bug; keep serving
                // rather than spin, and leave the rest to the next input.
                self.log(
                    LogLevel::Error,
                    "internal error: supervision did not settle; continuing".into(),
                );
                debug_assert!(false, "supervision did not settle");
                break;
            }
        }
        for update in self.changes.take_updates() {
            self.effects.push_back(Effect::ChangeUpdated {
                change: update.change,
                status: update.status,
            });
            if update.became_ready {
                self.effects.push_back(Effect::ChangeReady(update.change));
            }
        }
    }

    /// Fires every timer due at `now`, earliest first per service.
    fn fire_timers(&mut self, now: Now) -> bool {
        let due: Vec<String> = self
            .services
            .values()
            .filter(|s| s.timers.next().is_some_and(|at| at <= now.monotonic))
            .map(|s| s.name.clone())
            .collect();
        for name in &due {
            while let Some(kind) = self
                .services
                .get_mut(name)
                .and_then(|s| s.timers.pop_expired(now.monotonic))
            {
                self.deliver(name, Event::Timer(kind), now);
            }
        }
        !due.is_empty()
    }

    /// Forgets removed services whose process has gone.
    fn forget_removed(&mut self) -> bool {
        let gone: Vec<String> = self
            .services
            .values()
            .filter(|s| s.removed && !s.state.is_live())
            .map(|s| s.name.clone())
            .collect();
        for name in &gone {
            self.services.remove(name);
            self.effects.push_back(Effect::ServiceRemoved {
                service: name.clone(),
            });
        }
        !gone.is_empty()
    }

    fn log(&mut self, level: LogLevel, message: String) {
        self.effects.push_back(Effect::Log {
            level,
            service: None,
            message,
        });
    }
}
