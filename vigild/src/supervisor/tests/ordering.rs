//! Requests, lanes and order (§8): requires pulled in, after/before order,
//! lanes in parallel, D8 across lanes, holds after failures, summaries and
//! request errors.

use vigil_proto::api::{ChangeStatus, ErrorKind, StatusCode};
use vigil_proto::signal::Signal;

use super::super::harness::{Harness, names, secs, sig, signals, spawns};
use super::super::service::State;
use super::super::{ActionError, ExitStatus, SpawnErrorKind};
use super::{st, task_statuses};

const SHOP: &str = "services:
  db: {command: db}
  cache: {command: cache, before: [web]}
  web: {command: web, requires: [db], after: [db]}
  api: {command: api, requires: [web], after: [web]}
  batch: {command: batch, after: [db]}
";

#[test]
fn a_start_pulls_in_requires_and_runs_its_lane_in_order() {
    let mut h = Harness::new(SHOP);
    let id = h.start(&["api"]);
    let change = h.change(id);
    assert_eq!(change.summary, "Start service \"api\" and 2 more");
    assert_eq!(change.kind, "start");
    assert_eq!(
        change.data["service-names"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(change.data["service-names"][0].as_str(), Some("api"));
    assert_eq!(
        task_statuses(&change),
        [
            st("Start service \"db\"", ChangeStatus::Doing),
            st("Start service \"web\"", ChangeStatus::Do),
            st("Start service \"api\"", ChangeStatus::Do),
        ]
    );
    assert_eq!(spawns(&h.take()), ["db"]);
    // Each waits for the okay delay of the one before it.
    h.advance(secs(1));
    assert_eq!(spawns(&h.take()), ["web"]);
    h.advance(secs(1));
    assert_eq!(spawns(&h.take()), ["api"]);
    h.advance(secs(1));
    assert_eq!(h.change(id).status, ChangeStatus::Done);
    assert_eq!(h.state("cache"), State::Initial);
}

#[test]
fn lanes_run_in_parallel_but_after_waits_across_lanes() {
    // D8: web waits for cache (its `before`) and batch for db (its `after`),
    // though they are in other lanes.
    let mut h = Harness::new(SHOP);
    let id = h.start(&["web", "cache", "batch"]);
    assert_eq!(spawns(&h.take()), ["cache", "db"]);
    assert_eq!(h.change(id).summary, "Start service \"web\" and 3 more");
    h.advance(secs(1));
    assert_eq!(spawns(&h.take()), ["web", "batch"]);
    h.advance(secs(1));
    assert_eq!(h.change(id).status, ChangeStatus::Done);
}

#[test]
fn a_failure_holds_the_rest_of_its_lane_and_its_followers() {
    let mut h = Harness::new(SHOP);
    h.fail_next_spawn(
        "db",
        SpawnErrorKind::NotFound,
        "cannot start service: exec: \"db\": executable file not found in $PATH",
    );
    let id = h.start(&["api", "batch"]);
    let change = h.change(id);
    assert_eq!(
        task_statuses(&change),
        [
            st("Start service \"db\"", ChangeStatus::Error),
            st("Start service \"web\"", ChangeStatus::Hold),
            st("Start service \"api\"", ChangeStatus::Hold),
            st("Start service \"batch\"", ChangeStatus::Hold),
        ]
    );
    assert_eq!(change.status, ChangeStatus::Error);
    assert!(change.ready);
    assert_eq!(
        change.err.as_deref(),
        Some(
            "cannot perform the following tasks:\n- Start service \"db\" (cannot start service: exec: \"db\": executable file not found in $PATH)"
        )
    );
    assert!(spawns(&h.take()).iter().all(|s| s == "db"));
    // A predecessor that exits within its okay delay holds its followers too.
    let mut h = Harness::new(SHOP);
    let id = h.start(&["db", "batch"]);
    h.exit("db", ExitStatus::Exited(1));
    assert_eq!(
        task_statuses(&h.change(id)),
        [
            st("Start service \"db\"", ChangeStatus::Error),
            st("Start service \"batch\"", ChangeStatus::Hold),
        ]
    );
    assert_eq!(h.state("batch"), State::Initial);
}

#[test]
fn a_stop_takes_the_dependents_down_first() {
    let mut h = Harness::new(SHOP);
    h.start(&["api"]);
    h.advance(secs(3));
    h.take();
    let id = h.stop(&["db"]);
    assert_eq!(h.change(id).summary, "Stop service \"db\" and 2 more");
    assert_eq!(signals(&h.take()), [sig("api", Signal::TERM, true)]);
    h.exit("api", ExitStatus::Signaled(15));
    assert_eq!(
        signals(&h.take()),
        [
            sig("api", Signal::KILL, true),
            sig("web", Signal::TERM, true)
        ]
    );
    h.exit("web", ExitStatus::Signaled(15));
    assert_eq!(
        signals(&h.take()),
        [
            sig("web", Signal::KILL, true),
            sig("db", Signal::TERM, true)
        ]
    );
    h.exit("db", ExitStatus::Signaled(15));
    assert_eq!(h.change(id).status, ChangeStatus::Done);
}

#[test]
fn a_restart_stops_only_the_named_services() {
    let mut h = Harness::new(SHOP);
    h.start(&["api"]);
    h.advance(secs(3));
    let (web, api) = (h.pid("web"), h.pid("api"));
    h.take();
    let id = h.restart(&["db"]);
    let change = h.change(id);
    assert_eq!(change.kind, "restart");
    assert_eq!(change.summary, "Restart service \"db\"");
    assert_eq!(
        task_statuses(&change),
        [
            st("Stop service \"db\"", ChangeStatus::Doing),
            st("Start service \"db\"", ChangeStatus::Do),
        ]
    );
    assert_eq!(signals(&h.take()), [sig("db", Signal::TERM, true)]);
    h.exit("db", ExitStatus::Signaled(15));
    assert_eq!(spawns(&h.take()), ["db"]);
    h.advance(secs(1));
    assert_eq!(h.change(id).status, ChangeStatus::Done);
    assert_eq!((h.pid("web"), h.pid("api")), (web, api));
}

#[test]
fn a_restart_starts_what_the_named_services_require() {
    let mut h = Harness::new(SHOP);
    let id = h.restart(&["web"]);
    let change = h.change(id);
    assert_eq!(change.summary, "Restart service \"web\" and 1 more");
    assert_eq!(
        task_statuses(&change),
        [
            st("Stop service \"web\"", ChangeStatus::Done),
            st("Start service \"db\"", ChangeStatus::Doing),
            st("Start service \"web\"", ChangeStatus::Do),
        ]
    );
}

#[test]
fn request_errors_are_refused_before_any_change() {
    let mut h = Harness::new(SHOP);
    let unknown = h
        .send(|s, now| s.start(&names(&["web", "x"]), now))
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "cannot start services: service \"x\" does not exist"
    );
    assert_eq!(unknown.status(), StatusCode::BadRequest);
    let unknown = h.send(|s, now| s.stop(&names(&["x"]), now)).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "cannot stop services: service \"x\" does not exist"
    );
    let unknown = h.send(|s, now| s.restart(&names(&["x"]), now)).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "cannot restart services: service \"x\" does not exist"
    );
    for (action, error) in [
        ("start", h.send(|s, now| s.start(&[], now)).unwrap_err()),
        ("stop", h.send(|s, now| s.stop(&[], now)).unwrap_err()),
        ("restart", h.send(|s, now| s.restart(&[], now)).unwrap_err()),
    ] {
        assert_eq!(
            error.to_string(),
            format!("must specify services for {action} action")
        );
    }
    assert!(
        h.sup
            .changes(vigil_proto::api::ChangeSelect::All, None)
            .is_empty()
    );
    assert!(h.take().is_empty());
}

#[test]
fn autostart_starts_enabled_services_with_their_requirements() {
    let mut h = Harness::new(
        "services:\n  db:\n    command: db\n  web:\n    command: web\n    startup: enabled\n    requires: [db]\n  other:\n    command: other\n",
    );
    assert_eq!(h.send(|s, now| s.boot(now, true)), None);
    assert!(spawns(&h.take()).is_empty());
    let id = h.send(|s, now| s.boot(now, false)).unwrap();
    let change = h.change(id);
    assert_eq!(change.kind, "autostart");
    assert_eq!(change.summary, "Autostart service \"web\" and 1 more");
    assert_eq!(spawns(&h.take()), ["db"]);
    assert_eq!(
        h.sup
            .changes(vigil_proto::api::ChangeSelect::InProgress, Some("web"))
            .len(),
        1
    );
    assert!(
        h.sup
            .changes(vigil_proto::api::ChangeSelect::Ready, Some("web"))
            .is_empty()
    );
    assert!(
        h.sup
            .changes(vigil_proto::api::ChangeSelect::All, Some("other"))
            .is_empty()
    );

    let mut none = Harness::new("services:\n  web:\n    command: web\n");
    assert_eq!(none.send(|s, now| s.boot(now, false)), None);
    let error = none.send(|s, now| s.autostart(now)).unwrap_err();
    assert_eq!(error, ActionError::NoDefaultServices);
    assert_eq!(error.to_string(), "no default services");
    assert_eq!(error.kind(), Some(ErrorKind::NoDefaultServices));
    assert_eq!(error.status(), StatusCode::BadRequest);
}
