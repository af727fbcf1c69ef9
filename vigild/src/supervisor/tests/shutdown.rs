//! Daemon shutdown (§12): reverse dependency order, each service's own stop
//! signal and kill delay, backoff cancelled, changes aborted, the second
//! signal, and the exit.

use vigil_proto::api::ChangeStatus;
use vigil_proto::signal::Signal;

use super::super::harness::{Harness, exits, millis, names, secs, sig, signals};
use super::super::service::State;
use super::super::{ActionError, ExitStatus};
use super::{st, task_statuses};

const STACK: &str = "services:
  db: {command: db, stop-signal: SIGINT, kill-delay: 10s}
  web: {command: web, requires: [db], after: [db], kill-delay: 2s}
  proxy: {command: proxy, after: [web], stop-signal: SIGQUIT}
  side: {command: side}
";

#[test]
fn shutdown_stops_in_reverse_dependency_order_with_each_services_own_settings() {
    let mut h = Harness::new(STACK);
    h.start(&["db", "web", "proxy", "side"]);
    h.advance(secs(3));
    h.take();
    h.send(|s, now| s.shutdown(0, now));
    assert!(h.sup.is_shutting_down());
    // side (alone) and proxy (after web) first, in parallel.
    assert_eq!(
        signals(&h.take()),
        [
            sig("side", Signal::TERM, true),
            sig("proxy", Signal::QUIT, true)
        ]
    );
    h.exit("side", ExitStatus::Signaled(15));
    h.take();
    // proxy ignores SIGQUIT: SIGKILL after its 5 s default kill delay, and
    // only then does web get its turn.
    h.advance(millis(4999));
    assert!(signals(&h.take()).is_empty());
    h.advance(millis(1));
    assert_eq!(signals(&h.take()), [sig("proxy", Signal::KILL, true)]);
    h.exit("proxy", ExitStatus::Signaled(9));
    assert_eq!(
        signals(&h.take()),
        [
            sig("proxy", Signal::KILL, true),
            sig("web", Signal::TERM, true)
        ]
    );
    // web gets its 2 s, db its SIGINT and 10 s.
    h.advance(secs(2));
    assert_eq!(signals(&h.take()), [sig("web", Signal::KILL, true)]);
    h.exit("web", ExitStatus::Signaled(9));
    assert_eq!(
        signals(&h.take()),
        [sig("web", Signal::KILL, true), sig("db", Signal::INT, true)]
    );
    h.advance(secs(9));
    assert!(exits(&h.take()).is_empty());
    h.exit("db", ExitStatus::Exited(0));
    assert_eq!(exits(&h.take()), [0]);
    assert_eq!(h.sup.next_deadline(), h.sup.changes.next_expiry());
}

#[test]
fn shutdown_gives_up_on_a_stuck_process_after_sigkill_and_five_seconds() {
    let mut h = Harness::new(
        "services:\n  db: {command: db, kill-delay: 1s}\n  web: {command: web, after: [db]}\n",
    );
    h.start(&["db", "web"]);
    h.advance(secs(2));
    h.send(|s, now| s.shutdown(3, now));
    h.exit("web", ExitStatus::Signaled(15));
    h.take();
    h.advance(secs(1));
    assert_eq!(signals(&h.take()), [sig("db", Signal::KILL, true)]);
    h.advance(secs(5));
    // db never died, but vigild does not wait forever.
    assert_eq!(exits(&h.take()), [3]);
    assert!(matches!(
        h.state("db"),
        State::Killing { fail_at: None, .. }
    ));
}

#[test]
fn shutdown_cancels_backoff_aborts_changes_and_refuses_new_ones() {
    let mut h = Harness::new(
        "services:\n  flaky: {command: flaky}\n  db: {command: db}\n  web: {command: web, requires: [db], after: [db]}\n",
    );
    h.start(&["flaky"]);
    h.advance(secs(1));
    h.exit("flaky", ExitStatus::Exited(1));
    let id = h.start(&["web"]);
    h.advance(millis(500));
    h.take();
    h.send(|s, now| s.shutdown(0, now));
    assert_eq!(h.state("flaky"), State::Stopped);
    // db is stopped with its stop signal, which fails its start task; web's
    // start never runs.
    assert_eq!(signals(&h.take()), [sig("db", Signal::TERM, true)]);
    let change = h.change(id);
    assert_eq!(
        task_statuses(&change),
        [
            st("Start service \"db\"", ChangeStatus::Error),
            st("Start service \"web\"", ChangeStatus::Hold),
        ]
    );
    assert_eq!(
        h.send(|s, now| s.start(&names(&["web"]), now)),
        Err(ActionError::ShuttingDown)
    );
    assert_eq!(
        h.send(|s, now| s.replan(super::super::harness::plan("services: {}\n"), now)),
        Err(ActionError::ShuttingDown)
    );
    h.exit("db", ExitStatus::Signaled(15));
    assert_eq!(exits(&h.take()), [0]);
    // After the exit nothing more happens.
    h.advance(secs(60));
    assert!(exits(&h.take()).is_empty());
}

#[test]
fn a_second_signal_kills_everything_at_once() {
    let mut h = Harness::new(STACK);
    h.start(&["db", "web", "proxy", "side"]);
    h.advance(secs(3));
    h.send(|s, now| s.shutdown(0, now));
    h.take();
    h.send(|s, now| s.kill_all(now));
    assert_eq!(
        signals(&h.take()),
        [
            sig("db", Signal::KILL, true),
            sig("proxy", Signal::KILL, true),
            sig("side", Signal::KILL, true),
            sig("web", Signal::KILL, true),
        ]
    );
    for service in ["db", "proxy", "side"] {
        h.exit(service, ExitStatus::Signaled(9));
    }
    assert!(exits(&h.take()).is_empty());
    h.exit("web", ExitStatus::Signaled(9));
    assert_eq!(exits(&h.take()), [0]);
}

#[test]
fn shutdown_with_nothing_running_exits_at_once() {
    let mut h = Harness::new(STACK);
    h.send(|s, now| s.shutdown(0, now));
    assert_eq!(exits(&h.take()), [0]);
}
