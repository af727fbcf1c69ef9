//! A test driver for the core, like quinn-proto's `Pair`: it owns virtual
//! time, hands out fake pids and answers Spawn effects as the reactor would,
//! so tests read as event sequences with no sleeps and no processes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vigil_proto::api::{Change, ChangeId, ServiceStatus, UtcOffset};
use vigil_proto::plan::{Layer, Plan, Source};
use vigil_proto::signal::Signal;

use super::service::State;
use super::{
    Effect, ExitStatus, LogLevel, Now, Options, Pid, SpawnError, SpawnErrorKind, Supervisor,
};

/// How many deadlines [`Harness::run_until_idle`] goes through before it
/// declares a livelock.
const MAX_STEPS: usize = 100;

/// Builds a plan from one layer of YAML.
pub(super) fn plan(yaml: &str) -> Plan {
    let layer = Layer::parse(yaml, "test", "test", Source::Api("test".into()))
        .unwrap_or_else(|e| panic!("bad test layer: {e:?}\n{yaml}"));
    Plan::build(&[layer])
        .unwrap_or_else(|e| panic!("bad test plan: {e:?}\n{yaml}"))
        .plan
}

/// Names as the commands take them.
pub(super) fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The core under test, its clock and its fake processes.
pub(super) struct Harness {
    pub(super) sup: Supervisor,
    epoch: Instant,
    wall_epoch: SystemTime,
    /// Virtual time since the epoch.
    pub(super) elapsed: Duration,
    next_pid: i32,
    /// Effects seen since the last [`take`](Self::take), spawns answered.
    effects: Vec<Effect>,
    /// The next spawn of each service listed here fails with this error.
    failing_spawns: BTreeMap<String, SpawnError>,
    /// What each service "printed", for failed-start task logs.
    pub(super) output: BTreeMap<String, Vec<String>>,
}

impl Harness {
    /// A core for the plan in `yaml`, with seed 1 and local time at +01:00.
    pub(super) fn new(yaml: &str) -> Self {
        Self::with_options(yaml, |_| {})
    }

    /// As [`new`](Self::new), with `adjust` applied to the options.
    pub(super) fn with_options(yaml: &str, adjust: impl FnOnce(&mut Options)) -> Self {
        let mut options = Options {
            rng_seed: 1,
            utc_offset: UtcOffset::from_seconds(3600).unwrap(),
            ..Options::default()
        };
        adjust(&mut options);
        Self {
            sup: Supervisor::new(plan(yaml), options),
            epoch: Instant::now(),
            // 2025-03-01T09:00:00Z, 10:00 in the harness's zone.
            wall_epoch: UNIX_EPOCH + Duration::from_secs(1_740_819_600),
            elapsed: Duration::ZERO,
            next_pid: 100,
            effects: Vec::new(),
            failing_spawns: BTreeMap::new(),
            output: BTreeMap::new(),
        }
    }

    /// The virtual time now.
    pub(super) fn now(&self) -> Now {
        Now {
            monotonic: self.epoch + self.elapsed,
            wall: self.wall_epoch + self.elapsed,
        }
    }

    /// The monotonic instant `offset` after the epoch.
    pub(super) fn at(&self, offset: Duration) -> Instant {
        self.epoch + offset
    }

    /// Calls a command or input with the current time, then applies its
    /// effects as the reactor would.
    pub(super) fn send<R>(&mut self, input: impl FnOnce(&mut Supervisor, Now) -> R) -> R {
        let now = self.now();
        let result = input(&mut self.sup, now);
        self.drain();
        result
    }

    /// `start` and the change id.
    pub(super) fn start(&mut self, list: &[&str]) -> ChangeId {
        self.send(|s, now| s.start(&names(list), now)).unwrap()
    }

    /// `stop` and the change id.
    pub(super) fn stop(&mut self, list: &[&str]) -> ChangeId {
        self.send(|s, now| s.stop(&names(list), now)).unwrap()
    }

    /// `restart` and the change id.
    pub(super) fn restart(&mut self, list: &[&str]) -> ChangeId {
        self.send(|s, now| s.restart(&names(list), now)).unwrap()
    }

    /// Makes the next spawn of `service` fail.
    pub(super) fn fail_next_spawn(&mut self, service: &str, kind: SpawnErrorKind, message: &str) {
        self.failing_spawns.insert(
            service.to_owned(),
            SpawnError {
                kind,
                message: message.to_owned(),
            },
        );
    }

    /// Polls every effect, answering spawns with fresh pids (or the failure
    /// asked for) right away, as the reactor must.
    pub(super) fn drain(&mut self) {
        let now = self.now();
        while let Some(effect) = self.sup.poll_effect() {
            let spawn = match &effect {
                Effect::Spawn(request) => Some(request.service.clone()),
                _ => None,
            };
            self.effects.push(effect);
            if let Some(service) = spawn {
                let result = match self.failing_spawns.remove(&service) {
                    Some(error) => Err(error),
                    None => {
                        let pid = Pid::from_raw(self.next_pid);
                        self.next_pid += 1;
                        Ok(pid)
                    }
                };
                self.sup.handle_spawned(&service, result, now);
            }
        }
        self.check_invariants();
    }

    /// No two services share a pid, and each timer table agrees with its
    /// state.
    fn check_invariants(&self) {
        let mut pids = BTreeSet::new();
        for service in self.sup.services.values() {
            if let Some(pid) = service.state.pid() {
                assert!(pids.insert(pid), "pid {pid} owned twice");
            }
            let expected = match service.state {
                State::Starting { okay_at, .. } => Some(okay_at),
                State::Terminating { kill_at, .. } => Some(kill_at),
                State::Killing { fail_at, .. } => fail_at,
                State::Backoff { until, .. } => Some(until),
                State::Initial
                | State::Spawning { .. }
                | State::Running { .. }
                | State::Stopped
                | State::Exited => None,
            };
            use super::timers::TimerKind;
            let armed = [
                TimerKind::Okay,
                TimerKind::Kill,
                TimerKind::Fail,
                TimerKind::Backoff,
            ]
            .into_iter()
            .filter_map(|kind| service.timers.get(kind))
            .collect::<Vec<_>>();
            assert_eq!(
                armed,
                expected.into_iter().collect::<Vec<_>>(),
                "timers of {} disagree with {:?}",
                service.name,
                service.state
            );
            assert!(
                !matches!(service.state, State::Spawning { .. }),
                "{} left in spawning after its spawn was answered",
                service.name
            );
        }
    }

    /// Every effect since the last call.
    pub(super) fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Moves time forward by `by`, firing each deadline on the way at its
    /// own time, as the reactor's timerfd would.
    pub(super) fn advance(&mut self, by: Duration) {
        let target = self.elapsed + by;
        while let Some(at) = self.sup.next_deadline() {
            let offset = at.saturating_duration_since(self.epoch);
            if offset > target {
                break;
            }
            self.elapsed = self.elapsed.max(offset);
            self.send(|s, now| s.handle_timeout(now));
        }
        self.elapsed = target;
        self.send(|s, now| s.handle_timeout(now));
    }

    /// Moves time to the next deadline and fires it; `false` when nothing
    /// is pending.
    pub(super) fn advance_to_next_deadline(&mut self) -> bool {
        let Some(at) = self.sup.next_deadline() else {
            return false;
        };
        self.elapsed = self.elapsed.max(at.saturating_duration_since(self.epoch));
        self.send(|s, now| s.handle_timeout(now));
        true
    }

    /// Fires deadlines until no service has a timer armed; fails after
    /// [`MAX_STEPS`], which means a livelock.
    pub(super) fn run_until_idle(&mut self) {
        for _ in 0..MAX_STEPS {
            if self
                .sup
                .services
                .values()
                .all(|s| s.timers.next().is_none())
            {
                return;
            }
            self.advance_to_next_deadline();
        }
        panic!("not idle after {MAX_STEPS} deadlines: livelock");
    }

    /// The main process of `service`.
    pub(super) fn pid(&self, service: &str) -> Pid {
        self.state(service)
            .pid()
            .unwrap_or_else(|| panic!("{service} has no process: {:?}", self.state(service)))
    }

    /// The internal state of `service`.
    pub(super) fn state(&self, service: &str) -> State {
        self.sup
            .services
            .get(service)
            .map(|s| s.state)
            .unwrap_or_else(|| panic!("no service {service}"))
    }

    /// The API status of `service`.
    pub(super) fn status(&self, service: &str) -> ServiceStatus {
        self.sup.services(&names(&[service]))[0].current
    }

    /// The main process of `service` exits with `status`.
    pub(super) fn exit(&mut self, service: &str, status: ExitStatus) {
        let pid = self.pid(service);
        self.exit_pid(pid, status);
    }

    /// Process `pid` exits with `status`.
    pub(super) fn exit_pid(&mut self, pid: Pid, status: ExitStatus) {
        let now = self.now();
        let output = &self.output;
        let recent = |service: &str, max: usize| -> Vec<String> {
            let lines = output.get(service).cloned().unwrap_or_default();
            let skip = lines.len().saturating_sub(max);
            lines.into_iter().skip(skip).collect()
        };
        self.sup.handle_exit(pid, status, now, &recent);
        self.drain();
    }

    /// A change as the API shows it.
    pub(super) fn change(&self, id: ChangeId) -> Change {
        self.sup.change(id).expect("change exists")
    }
}

/// The services spawned, in order.
pub(super) fn spawns(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Spawn(request) => Some(request.service.clone()),
            _ => None,
        })
        .collect()
}

/// The signals sent, as `(service, signal, group)`.
pub(super) fn signals(effects: &[Effect]) -> Vec<(String, Signal, bool)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Signal {
                service,
                signal,
                group,
                ..
            } => Some((service.clone(), *signal, *group)),
            _ => None,
        })
        .collect()
}

/// The log messages at `level` or above.
pub(super) fn logs(effects: &[Effect], level: LogLevel) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log {
                level: l, message, ..
            } if *l >= level => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// The exit codes announced.
pub(super) fn exits(effects: &[Effect]) -> Vec<u8> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Exit { code } => Some(*code),
            _ => None,
        })
        .collect()
}

/// Shorthand for a signal tuple.
pub(super) fn sig(service: &str, signal: Signal, group: bool) -> (String, Signal, bool) {
    (service.to_owned(), signal, group)
}

/// `n` seconds.
pub(super) const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `n` milliseconds.
pub(super) const fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}
