//! Replan (§9): changed services restarted, unchanged ones keep their
//! process, removed ones stopped and forgotten, enabled ones started, and
//! D9.

use vigil_proto::api::{ChangeStatus, ServiceStatus};
use vigil_proto::signal::Signal;

use super::super::harness::{Harness, plan, secs, sig, signals, spawns};
use super::super::service::State;
use super::super::{Effect, ExitStatus};
use super::{st, task_statuses};

const BEFORE: &str = "services:
  web: {command: web, startup: enabled}
  api: {command: api --v1, startup: enabled}
  old: {command: old, startup: enabled}
  idle: {command: idle}
  cron: {command: cron}
";

const AFTER: &str = "services:
  web: {command: web, startup: enabled, summary: new words}
  api: {command: api --v2, startup: enabled}
  idle: {command: idle --new}
  cron: {command: cron, startup: enabled}
  fresh: {command: fresh, startup: enabled}
";

#[test]
fn replan_converges_to_the_new_plan() {
    let mut h = Harness::new(BEFORE);
    h.send(|s, now| s.boot(now, false));
    h.advance(secs(1));
    let (web, api) = (h.pid("web"), h.pid("api"));
    h.take();

    let id = h.send(|s, now| s.replan(plan(AFTER), now)).unwrap();
    let change = h.change(id);
    assert_eq!(change.kind, "replan");
    assert_eq!(change.summary, "Replan service \"api\" and 3 more");
    assert_eq!(
        task_statuses(&change),
        [
            st("Stop service \"api\"", ChangeStatus::Doing),
            st("Stop service \"old\"", ChangeStatus::Doing),
            st("Start service \"api\"", ChangeStatus::Do),
            st("Start service \"cron\"", ChangeStatus::Do),
            st("Start service \"fresh\"", ChangeStatus::Do),
        ]
    );
    let names: Vec<_> = change.data["service-names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["api", "cron", "fresh", "old"]);
    assert_eq!(
        signals(&h.take()),
        [
            sig("api", Signal::TERM, true),
            sig("old", Signal::TERM, true)
        ]
    );
    // The removed service is listed until it has stopped, but its metrics
    // are gone at once; a new service has its figures before it starts.
    assert!(h.sup.services(&[]).iter().any(|s| s.name == "old"));
    let metrics: Vec<_> = h.sup.metrics().into_iter().map(|m| m.name).collect();
    assert_eq!(metrics, ["api", "cron", "fresh", "idle", "web"]);

    h.exit("api", ExitStatus::Signaled(15));
    h.exit("old", ExitStatus::Signaled(15));
    let effects = h.take();
    assert!(effects.contains(&Effect::ServiceRemoved {
        service: "old".into()
    }));
    assert_eq!(spawns(&effects), ["api", "cron", "fresh"]);
    let api_spawn = effects.iter().find_map(|e| match e {
        Effect::Spawn(r) if r.service == "api" => Some(r.argv.clone()),
        _ => None,
    });
    assert_eq!(api_spawn, Some(vec!["api".to_owned(), "--v2".to_owned()]));
    assert!(!h.sup.services(&[]).iter().any(|s| s.name == "old"));

    h.advance(secs(1));
    assert_eq!(h.change(id).status, ChangeStatus::Done);
    // Unchanged (only its summary differs): same process.
    assert_eq!(h.pid("web"), web);
    assert_ne!(h.pid("api"), api);
    // D9: idle changed but is not active, so it stays as it was.
    assert_eq!(h.state("idle"), State::Initial);
    h.start(&["idle"]);
    let argv = h.take().iter().find_map(|e| match e {
        Effect::Spawn(r) => Some(r.argv.clone()),
        _ => None,
    });
    assert_eq!(argv, Some(vec!["idle".to_owned(), "--new".to_owned()]));
}

#[test]
fn replan_with_nothing_to_do_is_done_at_once() {
    let mut h = Harness::new(BEFORE);
    h.send(|s, now| s.boot(now, false));
    h.advance(secs(1));
    h.take();
    let id = h.send(|s, now| s.replan(plan(BEFORE), now)).unwrap();
    let change = h.change(id);
    assert_eq!(change.summary, "Replan - no services");
    assert_eq!(change.status, ChangeStatus::Done);
    assert!(change.ready);
    assert!(change.tasks.is_empty());
    assert!(change.data.is_empty());
    let effects = h.take();
    assert!(effects.contains(&Effect::ChangeReady(id)));
    assert!(signals(&effects).is_empty());
}

#[test]
fn replan_restarts_a_changed_service_in_backoff_and_starts_stopped_enabled_ones() {
    let mut h =
        Harness::new("services:\n  web: {command: web}\n  db: {command: db, startup: enabled}\n");
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    assert_eq!(h.status("web"), ServiceStatus::Backoff);
    h.take();
    let id = h
        .send(|s, now| {
            s.replan(
                plan("services:\n  web: {command: web --fixed}\n  db: {command: db, startup: enabled}\n"),
                now,
            )
        })
        .unwrap();
    // web: stopped out of backoff, then started; db: enabled, not running.
    assert_eq!(
        task_statuses(&h.change(id)),
        [
            st("Stop service \"web\"", ChangeStatus::Done),
            st("Start service \"db\"", ChangeStatus::Doing),
            st("Start service \"web\"", ChangeStatus::Doing),
        ]
    );
    assert_eq!(spawns(&h.take()), ["db", "web"]);
}

#[test]
fn a_removed_service_in_backoff_is_forgotten_at_once() {
    let mut h = Harness::new("services:\n  web: {command: web}\n  db: {command: db}\n");
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    h.take();
    let id = h
        .send(|s, now| s.replan(plan("services:\n  db: {command: db}\n"), now))
        .unwrap();
    assert_eq!(h.change(id).summary, "Replan - no services");
    assert!(h.take().contains(&Effect::ServiceRemoved {
        service: "web".into()
    }));
    assert_eq!(h.sup.services(&[]).len(), 1);
    h.advance(secs(60));
    assert!(spawns(&h.take()).is_empty());
}

#[test]
fn replan_picks_up_a_workload_change() {
    let before =
        "workloads:\n  w: {environment: {A: one}}\nservices:\n  web: {command: web, workload: w}\n";
    let after =
        "workloads:\n  w: {environment: {A: two}}\nservices:\n  web: {command: web, workload: w}\n";
    let mut h = Harness::new(before);
    h.start(&["web"]);
    h.advance(secs(1));
    h.take();
    let id = h.send(|s, now| s.replan(plan(after), now)).unwrap();
    assert_eq!(h.change(id).summary, "Replan service \"web\"");
}

#[test]
fn an_updated_plan_touches_no_process_and_applies_at_the_next_start() {
    let before =
        "services:\n  web: {command: web --v1, startup: enabled}\n  idle: {command: idle}\n";
    let after = "services:\n  web: {command: web --v2, startup: enabled}\n  \
                 idle: {command: idle --new}\n  fresh: {command: fresh, startup: enabled}\n";
    let mut h = Harness::new(before);
    h.send(|s, now| s.boot(now, false));
    h.advance(secs(1));
    let web = h.pid("web");
    h.take();

    h.send(|s, now| s.update_plan(plan(after), now));
    let effects = h.take();
    assert!(spawns(&effects).is_empty(), "{effects:?}");
    assert!(signals(&effects).is_empty(), "{effects:?}");
    assert_eq!(h.pid("web"), web);
    // The new service is known, stopped; nothing else changed state.
    assert_eq!(h.status("fresh"), ServiceStatus::Inactive);
    assert_eq!(h.state("idle"), State::Initial);
    assert_eq!(h.sup.plan(), &plan(after));

    // A crash restarts web with the config it was started with ...
    h.exit("web", ExitStatus::Exited(1));
    h.advance(secs(1));
    let argv = |effects: &[Effect], service: &str| {
        effects.iter().find_map(|e| match e {
            Effect::Spawn(r) if r.service == service => Some(r.argv.join(" ")),
            _ => None,
        })
    };
    assert_eq!(argv(&h.take(), "web").as_deref(), Some("web --v1"));
    // ... an explicit restart takes the new one, and so does a first start.
    h.restart(&["web"]);
    h.exit("web", ExitStatus::Signaled(15));
    assert_eq!(argv(&h.take(), "web").as_deref(), Some("web --v2"));
    h.start(&["idle"]);
    assert_eq!(argv(&h.take(), "idle").as_deref(), Some("idle --new"));
}

#[test]
fn a_replan_after_an_updated_plan_restarts_what_it_changed() {
    let mut h = Harness::new("services:\n  web: {command: web --v1, startup: enabled}\n");
    h.send(|s, now| s.boot(now, false));
    h.advance(secs(1));
    h.take();
    let after = plan("services:\n  web: {command: web --v2, startup: enabled}\n");
    h.send(|s, now| s.update_plan(after.clone(), now));
    let id = h.send(|s, now| s.replan(after, now)).unwrap();
    assert_eq!(h.change(id).summary, "Replan service \"web\"");
}
