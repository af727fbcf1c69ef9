//! Exit actions (§6) and the exit codes they give vigild (§13), and the
//! `on-check-failure` table (§10).

use vigil_proto::plan::CheckAction;
use vigil_proto::signal::Signal;

use super::super::harness::{Harness, exits, logs, secs, sig, signals};
use super::super::service::State;
use super::super::{ExitStatus, LogLevel};

/// A service with `key: action`, started and running.
fn running(key: &str, action: &str) -> Harness {
    let mut h = Harness::new(&format!(
        "services:\n  web:\n    command: webd\n    {key}: {action}\n"
    ));
    h.start(&["web"]);
    h.advance(secs(1));
    h.take();
    h
}

/// The state and vigild exit code after the service exits with `status`.
fn outcome(key: &str, action: &str, status: ExitStatus) -> (State, Vec<u8>) {
    let mut h = running(key, action);
    h.exit("web", status);
    let effects = h.take();
    (h.state("web"), exits(&effects))
}

#[test]
fn every_action_gives_its_state_and_exit_code() {
    use ExitStatus::{Exited, Signaled};
    let cases: &[(&str, &str, ExitStatus, &str, &[u8])] = &[
        // on-success
        ("on-success", "restart", Exited(0), "backoff", &[]),
        ("on-success", "ignore", Exited(0), "stopped", &[]),
        ("on-success", "shutdown", Exited(0), "exited", &[0]),
        ("on-success", "success-shutdown", Exited(0), "exited", &[0]),
        ("on-success", "failure-shutdown", Exited(0), "exited", &[10]),
        // on-failure
        ("on-failure", "restart", Exited(1), "backoff", &[]),
        ("on-failure", "ignore", Exited(1), "exited", &[]),
        ("on-failure", "shutdown", Exited(7), "exited", &[7]),
        ("on-failure", "shutdown", Signaled(15), "exited", &[143]),
        ("on-failure", "success-shutdown", Exited(3), "exited", &[0]),
        ("on-failure", "failure-shutdown", Exited(3), "exited", &[3]),
        (
            "on-failure",
            "failure-shutdown",
            Signaled(9),
            "exited",
            &[137],
        ),
    ];
    for (key, action, status, state, codes) in cases {
        let (got_state, got_codes) = outcome(key, action, *status);
        assert_eq!(
            (got_state.name(), got_codes.as_slice()),
            (*state, *codes),
            "{key}: {action} after {status:?}"
        );
    }
}

#[test]
fn actions_are_logged_with_service_key_action_and_code() {
    let mut h = running("on-failure", "shutdown");
    h.exit("web", ExitStatus::Exited(7));
    let lines = logs(&h.take(), LogLevel::Info);
    assert!(
        lines.contains(
            &"Service \"web\" on-failure action is \"shutdown\", shutting down with exit code 7 (service exit code 7)"
                .to_owned()
        ),
        "{lines:#?}"
    );
    let mut h = running("on-success", "ignore");
    h.exit("web", ExitStatus::Exited(0));
    assert_eq!(
        logs(&h.take(), LogLevel::Info),
        [
            "Service \"web\" stopped unexpectedly with code 0",
            "Service \"web\" on-success action is \"ignore\", not doing anything further",
        ]
    );
}

#[test]
fn leftovers_are_killed_on_restart_but_kept_under_ignore() {
    // D10.
    let mut h = running("on-failure", "restart");
    h.exit("web", ExitStatus::Exited(1));
    assert_eq!(signals(&h.take()), [sig("web", Signal::KILL, true)]);
    let mut h = running("on-failure", "ignore");
    h.exit("web", ExitStatus::Exited(1));
    assert!(signals(&h.take()).is_empty());
    let mut h = running("on-success", "ignore");
    h.exit("web", ExitStatus::Exited(0));
    assert!(signals(&h.take()).is_empty());
}

#[test]
fn a_shutdown_action_waits_for_the_other_services_to_stop() {
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd\n    on-failure: shutdown\n  db:\n    command: db\n    kill-delay: 2s\n",
    );
    h.start(&["web", "db"]);
    h.advance(secs(1));
    h.take();
    h.exit("web", ExitStatus::Exited(42));
    let effects = h.take();
    assert!(exits(&effects).is_empty());
    assert_eq!(
        signals(&effects),
        [
            sig("web", Signal::KILL, true),
            sig("db", Signal::TERM, true)
        ]
    );
    assert!(h.sup.is_shutting_down());
    h.advance(secs(2));
    assert_eq!(signals(&h.take()), [sig("db", Signal::KILL, true)]);
    h.exit("db", ExitStatus::Signaled(9));
    assert_eq!(exits(&h.take()), [42]);
}

#[test]
fn exits_during_shutdown_trigger_no_action_and_the_first_code_wins() {
    let mut h = Harness::new(
        "services:\n  a:\n    command: a\n    on-failure: shutdown\n  b:\n    command: b\n    on-failure: failure-shutdown\n  c:\n    command: c\n",
    );
    h.start(&["a", "b", "c"]);
    h.advance(secs(1));
    h.exit("a", ExitStatus::Exited(5));
    // b dies on its own while being stopped: no new action, no new code.
    h.exit("b", ExitStatus::Exited(6));
    assert_eq!(h.state("b"), State::Stopped);
    h.take();
    h.exit("c", ExitStatus::Signaled(15));
    assert_eq!(exits(&h.take()), [5]);
    // A later trigger changes nothing either.
    h.send(|s, now| s.shutdown(0, now));
    assert!(exits(&h.take()).is_empty());
}

#[test]
fn an_exit_not_caused_by_the_stop_during_shutdown_is_not_acted_on() {
    let mut h = Harness::new(
        "services:\n  a:\n    command: a\n  b:\n    command: b\n    after: [a]\n    kill-delay: 10s\n",
    );
    h.start(&["a", "b"]);
    h.advance(secs(1));
    h.send(|s, now| s.shutdown(0, now));
    // b is stopped first; a waits, and dies on its own meanwhile.
    assert!(matches!(h.state("b"), State::Terminating { .. }));
    h.take();
    h.exit("a", ExitStatus::Exited(1));
    let effects = h.take();
    assert_eq!(h.state("a"), State::Exited);
    assert_eq!(
        logs(&effects, LogLevel::Info).last().map(String::as_str),
        Some("Service \"a\" on-failure action not applied: daemon is shutting down")
    );
    assert_eq!(signals(&effects), [sig("a", Signal::KILL, true)]);
}

#[test]
fn check_failures_follow_the_state_table() {
    // running + restart: stop, then through backoff.
    let mut h = running("on-check-failure", "{api: restart}");
    h.send(|s, now| s.handle_check_failure("web", "api", CheckAction::Restart, now));
    assert!(matches!(h.state("web"), State::Terminating { .. }));
    assert_eq!(signals(&h.take()), [sig("web", Signal::TERM, true)]);
    h.exit("web", ExitStatus::Signaled(15));
    assert!(matches!(h.state("web"), State::Backoff { attempt: 1, .. }));
    // backoff + restart: keep waiting.
    let before = h.state("web");
    h.send(|s, now| s.handle_check_failure("web", "api", CheckAction::Restart, now));
    assert_eq!(h.state("web"), before);
    // exited + restart: backoff, then restart.
    let mut h = running("on-failure", "ignore");
    h.exit("web", ExitStatus::Exited(1));
    h.send(|s, now| s.handle_check_failure("web", "api", CheckAction::Restart, now));
    assert!(matches!(h.state("web"), State::Backoff { .. }));
    // stopped: an operator's stop is respected.
    let mut h = running("on-failure", "ignore");
    h.stop(&["web"]);
    h.exit("web", ExitStatus::Signaled(15));
    h.take();
    for action in [CheckAction::Restart, CheckAction::Shutdown] {
        h.send(|s, now| s.handle_check_failure("web", "api", action, now));
    }
    assert_eq!(h.state("web"), State::Stopped);
    assert!(h.take().is_empty());
    // shutdown gives 11, success-shutdown 0.
    let mut h = running("on-failure", "ignore");
    h.send(|s, now| s.handle_check_failure("web", "api", CheckAction::Shutdown, now));
    h.exit("web", ExitStatus::Signaled(15));
    assert_eq!(exits(&h.take()), [11]);
    let mut h = running("on-failure", "ignore");
    h.send(|s, now| s.handle_check_failure("web", "api", CheckAction::SuccessShutdown, now));
    h.exit("web", ExitStatus::Signaled(15));
    assert_eq!(exits(&h.take()), [0]);
    // An explicit stop during a check restart wins: no backoff after.
    let mut h = running("on-failure", "ignore");
    h.send(|s, now| s.handle_check_failure("web", "api", CheckAction::Restart, now));
    h.stop(&["web"]);
    h.exit("web", ExitStatus::Signaled(15));
    assert_eq!(h.state("web"), State::Stopped);
}
