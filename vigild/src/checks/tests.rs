//! Fake-clock tests of the check scheduler: issue 5's first acceptance item.
//! A `Harness` owns virtual time, answers nothing on its own, and asserts
//! after every turn that no check ever has two probes in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, UNIX_EPOCH};

use vigil_proto::plan::{Check, CheckLevel, Layer, Plan, Source};

use super::{CheckStatus, Checks, Effect, Now, ProbeFailure, ProbeId};

/// How many deadlines [`Harness::advance`] goes through before it declares
/// a livelock.
const MAX_STEPS: usize = 1_000;

fn checks_of(yaml: &str) -> BTreeMap<String, Check> {
    let layer = Layer::parse(yaml, "test", "test", Source::Api("test".into()))
        .unwrap_or_else(|e| panic!("bad test layer: {e:?}\n{yaml}"));
    let plan: Plan = Plan::build(&[layer])
        .unwrap_or_else(|e| panic!("bad test plan: {e:?}\n{yaml}"))
        .plan;
    plan.checks().clone()
}

fn opened(check: &str, recovering: bool) -> Effect {
    Effect::Opened {
        check: check.to_owned(),
        recovering,
        probe_kind: "TCP",
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn fail(message: &str) -> Result<(), ProbeFailure> {
    Err(ProbeFailure {
        message: message.to_owned(),
        details: vec!["detail line".to_owned()],
    })
}

struct Harness {
    checks: Checks,
    epoch: Instant,
    elapsed: Duration,
    /// Probes started and neither finished nor cancelled, by id.
    in_flight: BTreeMap<ProbeId, String>,
    /// Effects since the last `take`.
    effects: Vec<Effect>,
}

impl Harness {
    fn new(yaml: &str) -> Self {
        let epoch = Instant::now();
        let mut h = Self {
            checks: Checks::new(&BTreeMap::new(), now_at(epoch, Duration::ZERO)),
            epoch,
            elapsed: Duration::ZERO,
            in_flight: BTreeMap::new(),
            effects: Vec::new(),
        };
        h.checks = Checks::new(&checks_of(yaml), h.now());
        h.drain();
        h.take();
        h
    }

    fn now(&self) -> Now {
        now_at(self.epoch, self.elapsed)
    }

    /// Drains the effects, tracking probes in flight.
    fn drain(&mut self) {
        while let Some(effect) = self.checks.poll_effect() {
            match &effect {
                Effect::Probe { check, probe, .. } => {
                    assert!(
                        !self.in_flight.values().any(|c| c == check),
                        "two probes of {check} at once"
                    );
                    self.in_flight.insert(*probe, check.clone());
                }
                Effect::Cancel { probe, .. } | Effect::Finished { probe, .. } => {
                    self.in_flight.remove(probe);
                }
                Effect::Down { .. }
                | Effect::Up { .. }
                | Effect::Log { .. }
                | Effect::Opened { .. }
                | Effect::Closed { .. }
                | Effect::TaskLog { .. } => {}
            }
            self.effects.push(effect);
        }
    }

    /// Moves virtual time forward by `by`, firing every deadline on the way.
    fn advance(&mut self, by: Duration) {
        let target = self.elapsed + by;
        for _ in 0..MAX_STEPS {
            match self.checks.next_deadline() {
                Some(at) if at <= self.epoch + target => {
                    assert!(at >= self.epoch + self.elapsed, "deadline in the past");
                    self.elapsed = at - self.epoch;
                    self.checks.handle_timeout(self.now());
                    self.drain();
                }
                _ => {
                    self.elapsed = target;
                    return;
                }
            }
        }
        panic!("livelock: more than {MAX_STEPS} deadlines");
    }

    fn secs(&mut self, secs: u64) {
        self.advance(Duration::from_secs(secs));
    }

    fn respond(&mut self, probe: ProbeId, result: Result<(), ProbeFailure>) {
        self.checks.handle_result(probe, result, self.now());
        self.drain();
    }

    /// The one probe of `check` in flight.
    fn probe_of(&self, check: &str) -> ProbeId {
        let probes: Vec<ProbeId> = self
            .in_flight
            .iter()
            .filter(|(_, c)| *c == check)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(probes.len(), 1, "probes of {check} in flight: {probes:?}");
        probes[0]
    }

    /// Answers the probe of `check` in flight.
    fn answer(&mut self, check: &str, result: Result<(), ProbeFailure>) {
        let probe = self.probe_of(check);
        self.respond(probe, result);
    }

    fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// The effects since the last `take`, without logs.
    fn take_quiet(&mut self) -> Vec<Effect> {
        self.take()
            .into_iter()
            .filter(|e| !matches!(e, Effect::Log { .. } | Effect::TaskLog { .. }))
            .collect()
    }

    fn status(&self, check: &str) -> (CheckStatus, u64, u32) {
        let info = &self.checks.checks(None, &names(&[check]))[0];
        (info.status, info.successes, info.failures)
    }

    fn probes_started(effects: &[Effect]) -> usize {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Probe { .. }))
            .count()
    }
}

fn now_at(epoch: Instant, elapsed: Duration) -> Now {
    Now {
        monotonic: epoch + elapsed,
        wall: UNIX_EPOCH + Duration::from_secs(1_740_819_600) + elapsed,
    }
}

fn downs(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Down { .. }))
        .count()
}

fn ups(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Up { .. }))
        .count()
}

const TCP: &str = "checks:\n  db:\n    period: 1s\n    threshold: 3\n    tcp: {port: 5432}\n";

#[test]
fn defaults_and_the_first_probe_one_period_after_the_start() {
    let mut h = Harness::new("checks:\n  db:\n    tcp: {port: 5432}\n");
    let info = &h.checks.checks(None, &[])[0];
    assert_eq!((info.threshold, info.status), (3, CheckStatus::Up));
    assert_eq!(h.take_quiet(), vec![]);
    h.advance(Duration::from_millis(9_999));
    assert_eq!(Harness::probes_started(&h.take()), 0);
    h.advance(Duration::from_millis(1));
    match h.take_quiet().as_slice() {
        [Effect::Probe { check, timeout, .. }] => {
            assert_eq!((check.as_str(), *timeout), ("db", Duration::from_secs(3)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn delay_zero_probes_at_once_and_timeout_is_clamped_to_period() {
    let h = Harness::new(
        "checks:\n  db:\n    delay: 0s\n    period: 2s\n    timeout: 5s\n    tcp: {port: 1}\n",
    );
    let mut h = h;
    assert_eq!(h.checks.next_deadline(), Some(h.now().monotonic));
    h.advance(Duration::ZERO);
    match h.take_quiet().as_slice() {
        [Effect::Probe { timeout, .. }] => assert_eq!(*timeout, Duration::from_secs(2)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn threshold_crossing_fires_down_exactly_once() {
    let mut h = Harness::new(TCP);
    let mut all = Vec::new();
    for round in 1..=6u32 {
        h.secs(1);
        h.answer(
            "db",
            fail("dial tcp 127.0.0.1:5432: connect: connection refused"),
        );
        all.extend(h.take());
        let expected = if round >= 3 {
            CheckStatus::Down
        } else {
            CheckStatus::Up
        };
        assert_eq!(h.status("db"), (expected, 0, round));
    }
    assert_eq!(downs(&all), 1);
    let down_at = all
        .iter()
        .position(|e| matches!(e, Effect::Down { .. }))
        .unwrap();
    // The third failure's Finished comes just before it.
    let finished_before = all[..down_at]
        .iter()
        .filter(|e| matches!(e, Effect::Finished { .. }))
        .count();
    assert_eq!(finished_before, 3);
    match &all[down_at] {
        Effect::Down { check, failure } => {
            assert_eq!(check, "db");
            assert!(failure.message.contains("connection refused"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!h.checks.healthy(None, &[]));
}

#[test]
fn failures_log_the_message_and_details_and_a_success_resets_them() {
    let mut h = Harness::new(TCP);
    h.secs(1);
    h.answer("db", fail("boom"));
    let logs: Vec<String> = h
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Log { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(logs, ["check \"db\": boom", "check \"db\": detail line"]);
    h.secs(1);
    h.answer("db", Ok(()));
    assert!(h.take().iter().any(|e| matches!(
        e,
        Effect::Log { message, .. } if message == "check \"db\": succeeded after 1 failure"
    )));
    assert_eq!(h.status("db"), (CheckStatus::Up, 1, 0));
}

#[test]
fn recovery_fires_up_once_and_the_next_crossing_fires_down_again() {
    let mut h = Harness::new(TCP);
    for _ in 0..4 {
        h.secs(1);
        h.answer("db", fail("refused"));
    }
    assert_eq!(downs(&h.take()), 1);
    h.secs(1);
    h.answer("db", Ok(()));
    let effects = h.take();
    assert_eq!((ups(&effects), downs(&effects)), (1, 0));
    assert_eq!(h.status("db"), (CheckStatus::Up, 1, 0));
    h.secs(1);
    h.answer("db", Ok(()));
    assert_eq!(ups(&h.take()), 0);
    assert_eq!(h.status("db"), (CheckStatus::Up, 2, 0));
    for _ in 0..3 {
        h.secs(1);
        h.answer("db", fail("refused"));
    }
    assert_eq!(downs(&h.take()), 1);
}

#[test]
fn a_probe_slower_than_its_period_is_not_doubled() {
    // timeout 5s is clamped to the 1s period: the core times the probe out
    // at the instant the next one is due, then starts the next one.
    let mut h = Harness::new(
        "checks:\n  db:\n    period: 1s\n    timeout: 5s\n    threshold: 2\n    exec: {command: sleep 60}\n",
    );
    h.secs(1);
    let first = h.probe_of("db");
    h.take();
    h.secs(1);
    let effects = h.take_quiet();
    assert!(matches!(&effects[0], Effect::Cancel { probe, .. } if *probe == first));
    match &effects[1] {
        Effect::Finished {
            probe,
            result: Err(failure),
            ..
        } => {
            assert_eq!(*probe, first);
            assert_eq!(failure.message, "check timed out after 1s");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(effects[2], Effect::Probe { .. }));
    assert_eq!(effects.len(), 3);
    // The late result of the first probe is dropped.
    h.respond(first, Ok(()));
    assert_eq!(h.take(), vec![]);
    assert_eq!(h.status("db"), (CheckStatus::Up, 0, 1));
    // A hung probe every period: down once after two, never two at once
    // (the harness asserts that on every Probe).
    h.secs(10);
    let effects = h.take();
    assert_eq!(downs(&effects), 1);
    assert_eq!(Harness::probes_started(&effects), 10);
    assert_eq!(h.status("db"), (CheckStatus::Down, 0, 11));
}

#[test]
fn a_due_probe_is_skipped_while_a_refresh_probe_runs_and_the_schedule_holds() {
    let mut h =
        Harness::new("checks:\n  db:\n    period: 4s\n    timeout: 4s\n    tcp: {port: 1}\n");
    h.secs(2);
    let refresh = h.checks.refresh("db", h.now()).unwrap();
    h.drain();
    h.secs(2); // the scheduled probe at 4s: the refresh probe still runs
    assert_eq!(Harness::probes_started(&h.take()), 1);
    h.respond(refresh, Ok(()));
    assert_eq!(h.status("db"), (CheckStatus::Up, 1, 0));
    h.secs(3);
    assert_eq!(Harness::probes_started(&h.take()), 0);
    h.secs(1); // 8s: on the original schedule
    assert_eq!(Harness::probes_started(&h.take()), 1);
}

#[test]
fn after_a_long_pause_one_probe_runs_and_the_schedule_continues_from_then() {
    let mut h = Harness::new(TCP);
    h.secs(1);
    h.answer("db", Ok(()));
    h.take();
    // The reactor wakes 10.5 periods late: one probe, not ten.
    h.elapsed += Duration::from_millis(10_500);
    h.checks.handle_timeout(h.now());
    h.drain();
    assert_eq!(Harness::probes_started(&h.take()), 1);
    h.answer("db", Ok(()));
    assert_eq!(
        h.checks.next_deadline(),
        Some(h.now().monotonic + Duration::from_secs(1))
    );
}

#[test]
fn spurious_and_early_timeouts_do_nothing() {
    let mut h = Harness::new(TCP);
    for _ in 0..3 {
        h.checks.handle_timeout(h.now());
        h.drain();
    }
    h.advance(Duration::from_millis(500));
    h.checks.handle_timeout(h.now());
    h.drain();
    assert_eq!(h.take(), vec![]);
    assert_eq!(
        h.checks.next_deadline(),
        Some(h.epoch + Duration::from_secs(1))
    );
}

#[test]
fn refresh_of_a_running_check_counts_without_shifting_the_schedule() {
    let mut h = Harness::new(TCP);
    h.advance(Duration::from_millis(300));
    let probe = h.checks.refresh("db", h.now()).unwrap();
    h.drain();
    // A second refresh while it runs waits for the same probe.
    assert_eq!(h.checks.refresh("db", h.now()).unwrap(), probe);
    h.drain();
    assert_eq!(Harness::probes_started(&h.take()), 1);
    h.respond(probe, fail("refused"));
    let effects = h.take_quiet();
    assert!(
        matches!(&effects[..], [Effect::Finished { probe: p, result: Err(_), .. }] if *p == probe)
    );
    assert_eq!(h.status("db"), (CheckStatus::Up, 0, 1));
    assert_eq!(
        h.checks.next_deadline(),
        Some(h.epoch + Duration::from_secs(1))
    );
    assert!(h.checks.refresh("nope", h.now()).is_err());
}

#[test]
fn refresh_of_a_stopped_check_is_a_one_off_that_changes_no_counter() {
    let mut h = Harness::new(TCP);
    h.checks.stop(&names(&["db"])).unwrap();
    h.drain();
    let probe = h.checks.refresh("db", h.now()).unwrap();
    h.drain();
    h.respond(probe, fail("refused"));
    assert_eq!(h.status("db"), (CheckStatus::Inactive, 0, 0));
    assert_eq!(h.checks.metrics()[0].failure_count, 1);
    assert_eq!(h.checks.next_deadline(), None);
    assert!(h.checks.healthy(None, &[]));
}

#[test]
fn stop_cancels_the_probe_and_keeps_counters_start_resets_them() {
    let mut h = Harness::new(TCP);
    h.secs(1);
    h.answer("db", fail("refused"));
    h.secs(1);
    let probe = h.probe_of("db");
    h.take();
    assert_eq!(h.checks.stop(&names(&["db"])).unwrap(), names(&["db"]));
    h.drain();
    assert_eq!(
        h.take_quiet(),
        vec![
            Effect::Cancel {
                check: "db".into(),
                probe
            },
            Effect::Closed { check: "db".into() }
        ]
    );
    assert_eq!(h.status("db"), (CheckStatus::Inactive, 0, 1));
    assert_eq!(h.checks.next_deadline(), None);
    // The cancelled probe's late result is dropped.
    h.respond(probe, fail("refused"));
    assert_eq!(h.take(), vec![]);
    assert_eq!(
        h.checks.stop(&names(&["db"])).unwrap(),
        Vec::<String>::new()
    );
    h.secs(5);
    assert_eq!(h.take(), vec![]);

    assert_eq!(
        h.checks.start(&names(&["db"]), h.now()).unwrap(),
        names(&["db"])
    );
    h.drain();
    assert_eq!(h.take_quiet(), vec![opened("db", false)]);
    assert_eq!(h.status("db"), (CheckStatus::Up, 0, 0));
    assert_eq!(
        h.checks.start(&names(&["db"]), h.now()).unwrap(),
        Vec::<String>::new()
    );
    h.secs(1);
    assert_eq!(Harness::probes_started(&h.take()), 1);
}

#[test]
fn commands_with_an_unknown_name_do_nothing() {
    let mut h = Harness::new(TCP);
    let err = h.checks.stop(&names(&["db", "nope"])).unwrap_err();
    assert_eq!(err.to_string(), "cannot find check \"nope\"");
    h.drain();
    assert_eq!(h.status("db").0, CheckStatus::Up);
    assert!(h.checks.start(&names(&["x", "y"]), h.now()).is_err());
}

#[test]
fn stopping_a_down_check_fires_nothing_and_restarting_it_is_up() {
    let mut h = Harness::new(TCP);
    for _ in 0..3 {
        h.secs(1);
        h.answer("db", fail("refused"));
    }
    h.take();
    h.checks.stop(&names(&["db"])).unwrap();
    h.checks.start(&names(&["db"]), h.now()).unwrap();
    h.drain();
    let effects = h.take();
    assert_eq!((ups(&effects), downs(&effects)), (0, 0));
    assert_eq!(h.status("db"), (CheckStatus::Up, 0, 0));
}

#[test]
fn disabled_checks_start_inactive_and_replan_starts_stopped_enabled_ones() {
    let yaml = "checks:\n  db:\n    period: 1s\n    tcp: {port: 1}\n  off:\n    startup: disabled\n    period: 1s\n    tcp: {port: 2}\n";
    let mut h = Harness::new(yaml);
    assert_eq!(h.status("off").0, CheckStatus::Inactive);
    h.checks.stop(&names(&["db"])).unwrap();
    h.drain();
    h.checks.replan(&checks_of(yaml), h.now());
    h.drain();
    assert_eq!(h.status("db").0, CheckStatus::Up);
    assert_eq!(h.status("off").0, CheckStatus::Inactive);
    let info = h.checks.checks(None, &names(&["off"]));
    assert_eq!(info[0].startup, vigil_proto::plan::Startup::Disabled);
}

#[test]
fn update_plan_starts_new_restarts_changed_and_forgets_removed_checks() {
    let mut h = Harness::new(
        "checks:\n  db:\n    period: 1s\n    tcp: {port: 1}\n  old:\n    period: 1s\n    tcp: {port: 2}\n  same:\n    period: 1s\n    tcp: {port: 3}\n",
    );
    h.secs(1);
    h.answer("db", fail("refused"));
    let old = h.probe_of("old");
    h.answer("same", fail("refused"));
    h.advance(Duration::from_millis(500));
    h.take();
    // db changes its port, same only its level, old goes, new comes.
    h.checks.update_plan(
        &checks_of(
            "checks:\n  db:\n    period: 1s\n    tcp: {port: 9}\n  same:\n    level: alive\n    period: 1s\n    tcp: {port: 3}\n  new:\n    period: 1s\n    tcp: {port: 4}\n",
        ),
        h.now(),
    );
    h.drain();
    let effects = h.take_quiet();
    assert_eq!(
        effects,
        vec![
            Effect::Cancel {
                check: "old".into(),
                probe: old
            },
            Effect::Closed {
                check: "old".into()
            },
            Effect::Closed { check: "db".into() },
            opened("db", false),
            opened("new", false),
        ]
    );
    assert!(h.checks.checks(None, &names(&["old"])).is_empty());
    assert_eq!(h.status("db"), (CheckStatus::Up, 0, 0));
    assert_eq!(h.status("same"), (CheckStatus::Up, 0, 1));
    assert_eq!(h.status("new"), (CheckStatus::Up, 0, 0));
    assert_eq!(h.checks.checks(Some(CheckLevel::Alive), &[]).len(), 1);
    // `same` keeps its schedule (2s); db and new start over (2.5s).
    h.advance(Duration::from_millis(500));
    let started: BTreeSet<String> = h
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Probe { check, .. } => Some(check),
            _ => None,
        })
        .collect();
    assert_eq!(started, ["same".to_owned()].into());
    h.advance(Duration::from_millis(500));
    assert_eq!(Harness::probes_started(&h.take()), 2);
    // The removed check's late result is dropped.
    h.respond(old, Ok(()));
    assert_eq!(h.take(), vec![]);
}

#[test]
fn a_changed_running_check_with_a_probe_in_flight_cancels_it_and_restarts() {
    let mut h = Harness::new(TCP);
    h.secs(1);
    let probe = h.probe_of("db");
    h.take();
    h.checks.update_plan(
        &checks_of("checks:\n  db:\n    period: 2s\n    threshold: 3\n    tcp: {port: 5432}\n"),
        h.now(),
    );
    h.drain();
    assert_eq!(
        h.take_quiet(),
        vec![
            Effect::Cancel {
                check: "db".into(),
                probe
            },
            Effect::Closed { check: "db".into() },
            opened("db", false),
        ]
    );
    assert_eq!(
        h.checks.next_deadline(),
        Some(h.now().monotonic + Duration::from_secs(2))
    );
}

#[test]
fn a_changed_disabled_check_that_is_not_running_stays_inactive() {
    let yaml = "checks:\n  db:\n    startup: disabled\n    period: 1s\n    tcp: {port: 1}\n";
    let mut h = Harness::new(yaml);
    h.checks.update_plan(
        &checks_of("checks:\n  db:\n    startup: disabled\n    period: 2s\n    tcp: {port: 1}\n"),
        h.now(),
    );
    h.drain();
    assert_eq!(h.status("db").0, CheckStatus::Inactive);
    assert_eq!(h.checks.next_deadline(), None);
}

#[test]
fn health_levels_ready_includes_alive() {
    let yaml = "checks:\n  live:\n    level: alive\n    period: 1s\n    threshold: 1\n    tcp: {port: 1}\n  ready:\n    level: ready\n    period: 1s\n    threshold: 1\n    tcp: {port: 2}\n  plain:\n    period: 1s\n    threshold: 1\n    tcp: {port: 3}\n";
    let mut h = Harness::new(yaml);
    h.secs(1);
    h.answer("live", fail("refused"));
    h.answer("ready", Ok(()));
    h.answer("plain", Ok(()));
    assert!(!h.checks.healthy(Some(CheckLevel::Alive), &[]));
    assert!(!h.checks.healthy(Some(CheckLevel::Ready), &[]));
    assert!(!h.checks.healthy(None, &[]));
    assert!(h.checks.healthy(None, &names(&["ready", "plain"])));
    assert!(h.checks.healthy(None, &names(&["unknown"])));
    h.checks.stop(&names(&["live"])).unwrap();
    assert!(h.checks.healthy(None, &[]));
}

#[test]
fn the_task_logs_failures_and_the_changes_turn_at_down_and_up() {
    let mut h = Harness::new(TCP);
    let task_log = |effects: &[Effect]| -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::TaskLog { level, text, .. } => Some(format!("{level:?} {text}")),
                _ => None,
            })
            .collect()
    };
    for _ in 0..2 {
        h.secs(1);
        h.answer("db", fail("refused"));
    }
    let effects = h.take();
    assert_eq!(
        task_log(&effects),
        ["Error refused", "Info detail line"].repeat(2)
    );
    h.secs(1);
    h.answer("db", fail("refused"));
    let lifecycle: Vec<Effect> = h
        .take_quiet()
        .into_iter()
        .filter(|e| !matches!(e, Effect::Probe { .. } | Effect::Finished { .. }))
        .collect();
    assert_eq!(
        lifecycle,
        vec![
            Effect::Down {
                check: "db".into(),
                failure: ProbeFailure {
                    message: "refused".into(),
                    details: vec!["detail line".into()],
                },
            },
            opened("db", true),
        ]
    );
    h.secs(1);
    h.answer("db", Ok(()));
    let lifecycle: Vec<Effect> = h
        .take_quiet()
        .into_iter()
        .filter(|e| !matches!(e, Effect::Probe { .. } | Effect::Finished { .. }))
        .collect();
    assert_eq!(
        lifecycle,
        vec![Effect::Up { check: "db".into() }, opened("db", false)]
    );
    // A success after failures below the threshold says so in the task.
    h.secs(1);
    h.answer("db", fail("refused"));
    h.secs(1);
    h.answer("db", Ok(()));
    assert_eq!(
        task_log(&h.take()),
        [
            "Error refused",
            "Info detail line",
            "Info succeeded after 1 failure"
        ]
    );
}
