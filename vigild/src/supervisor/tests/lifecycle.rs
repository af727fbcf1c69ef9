//! Every row of the transition table in §3, plus abort, signals and the
//! service list.

use vigil_proto::api::{ChangeStatus, ServiceStartup, ServiceStatus, Timestamp, UtcOffset};
use vigil_proto::plan::LogsForward;
use vigil_proto::signal::Signal;

use super::super::harness::{Harness, logs, millis, names, secs, sig, signals, spawns};
use super::super::service::State;
use super::super::{ActionError, Effect, ExitStatus, LogLevel, Pid, SpawnErrorKind, SpawnRequest};
use super::{WEB, st, task_log, task_statuses};

#[test]
fn start_spawns_then_the_okay_delay_makes_it_running() {
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd --port 80\n    environment: {A: b}\n    working-dir: /srv\n    user-id: 1000\n",
    );
    let id = h.start(&["web"]);
    let effects = h.take();
    let spawn = effects
        .iter()
        .find_map(|e| match e {
            Effect::Spawn(request) => Some(request.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        spawn,
        SpawnRequest {
            service: "web".into(),
            argv: names(&["webd", "--port", "80"]),
            environment: [("A".to_owned(), "b".to_owned())].into(),
            working_dir: Some("/srv".into()),
            user: None,
            user_id: Some(1000),
            group: None,
            group_id: None,
            logs_forward: LogsForward::Enabled,
        }
    );
    assert_eq!(
        logs(&effects, LogLevel::Info),
        ["Service \"web\" starting: webd --port 80"]
    );
    let pid = h.pid("web");
    assert!(matches!(h.state("web"), State::Starting { .. }));
    assert_eq!(h.status("web"), ServiceStatus::Active);
    assert!(h.sup.owns(pid));
    let change = h.change(id);
    assert_eq!(change.status, ChangeStatus::Doing);
    assert!(!change.ready);
    assert_eq!(change.summary, "Start service \"web\"");
    assert_eq!(h.sup.next_deadline(), Some(h.at(secs(1))));

    h.advance(millis(999));
    assert!(matches!(h.state("web"), State::Starting { .. }));
    h.advance(millis(1));
    assert_eq!(h.state("web"), State::Running { pid });
    let change = h.change(id);
    assert_eq!(change.status, ChangeStatus::Done);
    assert!(change.ready);
    assert_eq!(
        task_statuses(&change),
        [st("Start service \"web\"", ChangeStatus::Done)]
    );
    assert_eq!(
        change.ready_time.unwrap().to_string(),
        "2025-03-01T10:00:01+01:00"
    );
    let effects = h.take();
    assert!(effects.contains(&Effect::ChangeUpdated {
        change: id,
        status: ChangeStatus::Done
    }));
    assert_eq!(effects.last(), Some(&Effect::ChangeReady(id)));
    assert_eq!(h.sup.metrics()[0].start_count, 1);
    assert!(h.sup.metrics()[0].active);
}

#[test]
fn start_from_stopped_exited_and_backoff_spawns_again() {
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd\n    on-failure: ignore\n  job:\n    command: job\n",
    );
    // stopped → starting
    h.start(&["web"]);
    h.advance(secs(1));
    h.stop(&["web"]);
    h.exit("web", ExitStatus::Signaled(15));
    assert_eq!(h.state("web"), State::Stopped);
    h.take();
    h.start(&["web"]);
    assert_eq!(spawns(&h.take()), ["web"]);
    // exited → starting
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    assert_eq!(h.state("web"), State::Exited);
    assert_eq!(h.status("web"), ServiceStatus::Error);
    h.start(&["web"]);
    assert_eq!(spawns(&h.take()), ["web"]);
    // backoff → starting, timer cancelled, counters reset
    h.start(&["job"]);
    h.advance(secs(1));
    h.exit("job", ExitStatus::Exited(1));
    h.advance(secs(0)); // nothing is due yet
    assert!(matches!(h.state("job"), State::Backoff { attempt: 1, .. }));
    h.take();
    h.start(&["job"]);
    assert_eq!(spawns(&h.take()), ["job"]);
    assert!(matches!(h.state("job"), State::Starting { .. }));
    assert_eq!(h.sup.services["job"].backoff.attempt, 0);
}

#[test]
fn a_spawn_failure_leaves_the_service_in_error() {
    // D11: `exited` (API `error`) where Pebble shows `inactive`.
    let mut h = Harness::new(WEB);
    let message = "cannot start service: exec: \"webd\": executable file not found in $PATH";
    h.fail_next_spawn("web", SpawnErrorKind::NotFound, message);
    let id = h.start(&["web"]);
    assert_eq!(h.state("web"), State::Exited);
    assert_eq!(h.status("web"), ServiceStatus::Error);
    let change = h.change(id);
    assert_eq!(change.status, ChangeStatus::Error);
    assert_eq!(task_log(&change, 0), [format!("ERROR {message}")]);
    assert_eq!(
        change.err.as_deref(),
        Some(
            format!("cannot perform the following tasks:\n- Start service \"web\" ({message})")
                .as_str()
        )
    );
    assert_eq!(
        logs(&h.take(), LogLevel::Error),
        [format!("Service \"web\" failed to start: {message}")]
    );
    assert_eq!(h.sup.next_deadline(), h.sup.changes.next_expiry());
}

#[test]
fn start_while_starting_or_running_is_done_at_once() {
    let mut h = Harness::new(WEB);
    h.start(&["web"]);
    let pid = h.pid("web");
    let again = h.start(&["web"]);
    let change = h.change(again);
    assert_eq!(change.status, ChangeStatus::Done);
    assert_eq!(
        task_log(&change, 0),
        ["INFO Service \"web\" already started."]
    );
    h.advance(secs(1));
    let third = h.start(&["web"]);
    assert_eq!(h.change(third).status, ChangeStatus::Done);
    assert_eq!(h.pid("web"), pid);
    assert_eq!(spawns(&h.take()), ["web"]);
}

#[test]
fn start_while_terminating_or_killing_fails() {
    let mut h = Harness::new(WEB);
    h.start(&["web"]);
    h.advance(secs(1));
    h.stop(&["web"]);
    let id = h.start(&["web"]);
    let change = h.change(id);
    assert_eq!(change.status, ChangeStatus::Error);
    assert_eq!(
        task_log(&change, 0),
        ["ERROR cannot start service while terminating"]
    );
    h.advance(secs(5));
    assert!(matches!(h.state("web"), State::Killing { .. }));
    let id = h.start(&["web"]);
    assert_eq!(
        task_log(&h.change(id), 0),
        ["ERROR cannot start service while killing"]
    );
}

#[test]
fn an_exit_within_the_okay_delay_fails_the_start_with_the_recent_output() {
    let mut h = Harness::new(WEB);
    h.output.insert(
        "web".into(),
        (1..=25).map(|n| format!("line {n}")).collect(),
    );
    let id = h.start(&["web"]);
    h.advance(millis(300));
    h.exit("web", ExitStatus::Exited(1));
    let change = h.change(id);
    assert_eq!(change.status, ChangeStatus::Error);
    let log = task_log(&change, 0);
    let expected_output: String = (6..=25).map(|n| format!("\n    line {n}")).collect();
    assert_eq!(
        log,
        [
            format!("INFO Most recent service output:{expected_output}"),
            "ERROR service start attempt: exited quickly with code 1, will restart".to_owned(),
        ]
    );
    assert_eq!(
        change.err.as_deref(),
        Some(
            "cannot perform the following tasks:\n- Start service \"web\" (service start attempt: exited quickly with code 1, will restart)"
        )
    );
    assert!(change.tasks[0].log[0].starts_with("2025-03-01T10:00:00+01:00 INFO "));
    // The exit action still applies.
    assert!(matches!(h.state("web"), State::Backoff { attempt: 1, .. }));
}

#[test]
fn an_exit_within_the_okay_delay_without_output_shows_none() {
    // Under passthrough nothing is captured, so no output line is shown.
    let mut h = Harness::new("services:\n  web:\n    command: webd\n    on-failure: ignore\n");
    let id = h.start(&["web"]);
    h.exit("web", ExitStatus::Signaled(9));
    assert_eq!(
        task_log(&h.change(id), 0),
        ["ERROR service start attempt: exited quickly with code 137, will ignore"]
    );
    assert_eq!(h.state("web"), State::Exited);
}

#[test]
fn an_exit_while_running_is_logged_and_its_action_applies() {
    let mut h = Harness::new(WEB);
    let id = h.start(&["web"]);
    h.advance(secs(1));
    h.take();
    h.exit("web", ExitStatus::Exited(3));
    let effects = h.take();
    assert_eq!(
        logs(&effects, LogLevel::Info),
        [
            "Service \"web\" stopped unexpectedly with code 3",
            "Service \"web\" on-failure action is \"restart\", waiting ~500ms before restart (backoff 1)",
        ]
    );
    // The start task finished long ago and stays Done.
    assert_eq!(h.change(id).status, ChangeStatus::Done);
    assert_eq!(h.status("web"), ServiceStatus::Backoff);
}

#[test]
fn a_stop_during_the_okay_delay_fails_the_start() {
    let mut h = Harness::new(WEB);
    let start = h.start(&["web"]);
    h.advance(millis(500));
    let stop = h.stop(&["web"]);
    assert!(matches!(h.state("web"), State::Terminating { .. }));
    assert_eq!(
        task_log(&h.change(start), 0),
        ["ERROR stopped before the 1s okay delay"]
    );
    assert_eq!(h.change(start).status, ChangeStatus::Error);
    assert_eq!(signals(&h.take()), [sig("web", Signal::TERM, true)]);
    h.exit("web", ExitStatus::Signaled(15));
    assert_eq!(h.change(stop).status, ChangeStatus::Done);
    assert_eq!(h.state("web"), State::Stopped);
}

#[test]
fn a_stop_escalates_to_sigkill_then_fails_after_five_seconds() {
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd\n    stop-signal: SIGINT\n    kill-delay: 3s\n",
    );
    h.start(&["web"]);
    h.advance(secs(1));
    h.take();
    let id = h.stop(&["web"]);
    let pid = h.pid("web");
    assert_eq!(signals(&h.take()), [sig("web", Signal::INT, true)]);
    assert_eq!(h.status("web"), ServiceStatus::Inactive);

    h.advance(millis(2999));
    assert!(matches!(h.state("web"), State::Terminating { .. }));
    h.advance(millis(1));
    assert_eq!(signals(&h.take()), [sig("web", Signal::KILL, true)]);
    assert!(matches!(
        h.state("web"),
        State::Killing {
            fail_at: Some(_),
            ..
        }
    ));
    assert_eq!(h.change(id).status, ChangeStatus::Doing);

    h.advance(secs(5));
    let change = h.change(id);
    assert_eq!(change.status, ChangeStatus::Error);
    assert_eq!(
        task_log(&change, 0),
        ["ERROR cannot stop service: process still running after SIGINT and SIGKILL"]
    );
    // Still killing until the process is reaped.
    assert_eq!(h.state("web"), State::Killing { pid, fail_at: None });
    assert_eq!(h.status("web"), ServiceStatus::Inactive);
    assert!(h.sup.owns(pid));
    h.exit("web", ExitStatus::Signaled(9));
    assert_eq!(h.state("web"), State::Stopped);
    assert_eq!(h.change(id).status, ChangeStatus::Error);
}

#[test]
fn an_exit_while_terminating_stops_and_kills_the_leftovers() {
    // D10: SIGKILL to what is left of the group, before the leader is
    // reaped.
    let mut h = Harness::new(WEB);
    h.start(&["web"]);
    h.advance(secs(1));
    let id = h.stop(&["web"]);
    h.take();
    let pid = h.pid("web");
    h.exit("web", ExitStatus::Signaled(15));
    let effects = h.take();
    assert_eq!(
        effects[0],
        Effect::Signal {
            service: "web".into(),
            pid,
            signal: Signal::KILL,
            group: true
        }
    );
    assert_eq!(h.state("web"), State::Stopped);
    assert!(!h.sup.owns(pid));
    assert_eq!(h.change(id).status, ChangeStatus::Done);
    assert_eq!(logs(&effects, LogLevel::Info), ["Service \"web\" stopped"]);
    // The kill timer is gone with the state.
    assert_eq!(h.sup.next_deadline(), h.sup.changes.next_expiry());
}

#[test]
fn a_second_stop_waits_for_the_stop_in_progress() {
    let mut h = Harness::new(WEB);
    h.start(&["web"]);
    h.advance(secs(1));
    let first = h.stop(&["web"]);
    let second = h.stop(&["web"]); // while terminating
    h.advance(secs(5));
    let third = h.stop(&["web"]); // while killing
    for id in [first, second, third] {
        assert_eq!(h.change(id).status, ChangeStatus::Doing);
    }
    h.take();
    h.exit("web", ExitStatus::Signaled(9));
    for id in [first, second, third] {
        assert_eq!(h.change(id).status, ChangeStatus::Done);
    }
    // One signal per stage, not one per stop task.
    assert_eq!(signals(&h.take()), [sig("web", Signal::KILL, true)]);
}

#[test]
fn a_stop_during_backoff_cancels_it() {
    let mut h = Harness::new(WEB);
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    assert!(matches!(h.state("web"), State::Backoff { .. }));
    h.take();
    let id = h.stop(&["web"]);
    assert_eq!(h.state("web"), State::Stopped);
    assert_eq!(h.change(id).status, ChangeStatus::Done);
    assert_eq!(
        logs(&h.take(), LogLevel::Info),
        ["Service \"web\" stopped while waiting for backoff"]
    );
    h.advance(secs(60));
    assert!(spawns(&h.take()).is_empty());
}

#[test]
fn stops_that_find_no_process_only_log() {
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd\n    on-failure: ignore\n  idle:\n    command: idle\n",
    );
    let id = h.stop(&["idle"]);
    assert_eq!(
        task_log(&h.change(id), 0),
        ["INFO Service \"idle\" has never been started."]
    );
    assert_eq!(h.state("idle"), State::Initial);
    assert_eq!(h.change(id).status, ChangeStatus::Done);

    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(2));
    assert_eq!(h.state("web"), State::Exited);
    let id = h.stop(&["web"]);
    assert_eq!(
        task_log(&h.change(id), 0),
        ["INFO Service \"web\" had already exited."]
    );
    assert_eq!(h.state("web"), State::Stopped);
    assert_eq!(h.status("web"), ServiceStatus::Inactive);

    let id = h.stop(&["web"]);
    assert_eq!(
        task_log(&h.change(id), 0),
        ["INFO Service \"web\" already stopped."]
    );
    assert!(signals(&h.take()).is_empty());
}

#[test]
fn the_backoff_timer_restarts_without_an_okay_delay() {
    let mut h = Harness::new(WEB);
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    let State::Backoff { until, .. } = h.state("web") else {
        panic!("not in backoff");
    };
    h.take();
    h.advance(until - h.now().monotonic);
    assert_eq!(spawns(&h.take()), ["web"]);
    assert!(matches!(h.state("web"), State::Running { .. }));
    assert_eq!(h.status("web"), ServiceStatus::Active);
    assert_eq!(h.sup.metrics()[0].start_count, 2);
    // The backoff-reset timer is armed for backoff-limit.
    let reset = h.sup.services["web"]
        .timers
        .get(super::super::timers::TimerKind::BackoffReset);
    assert_eq!(reset, Some(h.now().monotonic + secs(30)));
}

#[test]
fn a_failed_restart_counts_as_a_failed_exit() {
    // D11: exit code 127 when the program is gone, so on-failure applies.
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd\n    on-failure: shutdown\n    on-success: restart\n",
    );
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(0));
    h.fail_next_spawn(
        "web",
        SpawnErrorKind::NotFound,
        "cannot start service: exec: \"webd\": executable file not found in $PATH",
    );
    h.take();
    h.advance(secs(1));
    let effects = h.take();
    assert_eq!(h.state("web"), State::Exited);
    assert_eq!(super::super::harness::exits(&effects), [127]);
}

#[test]
fn a_failed_restart_under_restart_keeps_trying() {
    let mut h = Harness::new(WEB);
    h.start(&["web"]);
    h.advance(secs(1));
    h.exit("web", ExitStatus::Exited(1));
    h.fail_next_spawn(
        "web",
        SpawnErrorKind::Other,
        "cannot start service: chdir /srv: no such file or directory",
    );
    h.advance(secs(1));
    assert!(matches!(h.state("web"), State::Backoff { attempt: 2, .. }));
    h.advance(secs(2));
    assert!(matches!(h.state("web"), State::Running { .. }));
}

#[test]
fn signals_to_vigild_are_forwarded_to_every_live_group() {
    let mut h = Harness::new(
        "services:\n  a:\n    command: a\n  b:\n    command: b\n  c:\n    command: c\n  d:\n    command: d\n",
    );
    h.start(&["a", "b", "c"]);
    h.advance(secs(1));
    h.stop(&["c"]); // terminating still gets it
    h.take();
    h.send(|s, _| s.handle_signal_forward(Signal::HUP));
    assert_eq!(
        signals(&h.take()),
        [
            sig("a", Signal::HUP, true),
            sig("b", Signal::HUP, true),
            sig("c", Signal::HUP, true),
        ]
    );
}

#[test]
fn spurious_and_stale_timeouts_do_nothing() {
    let mut h = Harness::new(WEB);
    h.send(|s, now| s.handle_timeout(now));
    assert!(h.take().is_empty());
    h.start(&["web"]);
    h.advance(millis(400));
    h.take();
    // An early wake-up changes nothing.
    h.send(|s, now| s.handle_timeout(now));
    assert!(h.take().is_empty());
    // Stop within the okay delay and exit: the okay timer must not fire
    // later.
    h.stop(&["web"]);
    h.exit("web", ExitStatus::Signaled(15));
    assert_eq!(h.state("web"), State::Stopped);
    h.take();
    h.advance(secs(10));
    assert!(spawns(&h.take()).is_empty());
    assert_eq!(h.state("web"), State::Stopped);
    assert_eq!(h.sup.next_deadline(), h.sup.changes.next_expiry());
}

#[test]
fn a_zero_kill_delay_sends_sigkill_at_once() {
    let mut h = Harness::new("services:\n  web:\n    command: webd\n    kill-delay: 0s\n");
    h.start(&["web"]);
    h.advance(secs(1));
    h.take();
    h.stop(&["web"]);
    assert_eq!(
        signals(&h.take()),
        [
            sig("web", Signal::TERM, true),
            sig("web", Signal::KILL, true)
        ]
    );
    assert!(matches!(h.state("web"), State::Killing { .. }));
}

#[test]
fn abort_during_the_okay_delay_kills_the_process() {
    let mut h = Harness::new(WEB);
    let id = h.start(&["web"]);
    h.advance(millis(500));
    h.take();
    let pid = h.pid("web");
    let change = h.send(|s, now| s.abort(id, now)).unwrap();
    assert_eq!(change.status, ChangeStatus::Error);
    assert_eq!(
        task_log(&change, 0),
        ["ERROR start aborted, sent SIGKILL to process"]
    );
    assert_eq!(signals(&h.take()), [sig("web", Signal::KILL, true)]);
    // Inactive at once; stopped once reaped, and never two processes.
    assert_eq!(h.status("web"), ServiceStatus::Inactive);
    let again = h.start(&["web"]);
    assert_eq!(h.change(again).status, ChangeStatus::Error);
    h.exit_pid(pid, ExitStatus::Signaled(9));
    assert_eq!(h.state("web"), State::Stopped);
    h.advance(secs(10));
    assert_eq!(h.state("web"), State::Stopped);
}

#[test]
fn abort_holds_pending_tasks_and_lets_a_stop_finish() {
    let mut h = Harness::new(
        "services:\n  db:\n    command: db\n  web:\n    command: web\n    requires: [db]\n    after: [db]\n",
    );
    h.start(&["db", "web"]);
    h.advance(secs(1));
    h.take();
    // Stop: web first, then db, in one lane.
    let id = h.stop(&["db"]);
    let change = h.send(|s, now| s.abort(id, now)).unwrap();
    assert_eq!(
        task_statuses(&change),
        [
            st("Stop service \"web\"", ChangeStatus::Abort),
            st("Stop service \"db\"", ChangeStatus::Hold),
        ]
    );
    assert_eq!(change.status, ChangeStatus::Abort);
    assert!(!change.ready);
    h.exit("web", ExitStatus::Signaled(15));
    let change = h.change(id);
    assert_eq!(
        task_statuses(&change),
        [
            st("Stop service \"web\"", ChangeStatus::Done),
            st("Stop service \"db\"", ChangeStatus::Hold),
        ]
    );
    assert_eq!(change.status, ChangeStatus::Done);
    assert!(matches!(h.state("db"), State::Running { .. }));

    assert_eq!(
        h.send(|s, now| s.abort(id, now)).unwrap_err(),
        ActionError::NothingPending(id)
    );
    assert_eq!(
        h.send(|s, now| s.abort(id, now)).unwrap_err().to_string(),
        format!("cannot abort change {id} with nothing pending")
    );
    let missing = vigil_proto::api::ChangeId::new(99);
    let error = h.send(|s, now| s.abort(missing, now)).unwrap_err();
    assert_eq!(error.to_string(), "cannot find change with id \"99\"");
    assert_eq!(error.status(), vigil_proto::api::StatusCode::NotFound);
}

#[test]
fn send_signal_reaches_only_running_main_processes() {
    // D28: the main process alone, while starting or running.
    let mut h = Harness::new("services:\n  web:\n    command: webd\n  idle:\n    command: idle\n");
    h.start(&["web"]);
    h.take();
    let result = h.send(|s, _| s.send_signal(&names(&["web", "idle", "nope"]), Signal::USR1));
    assert_eq!(
        result.unwrap_err(),
        "cannot send signal to \"idle\": service is not running; cannot send signal to \"nope\": service is not running"
    );
    assert_eq!(signals(&h.take()), [sig("web", Signal::USR1, false)]);
}

#[test]
fn unknown_exits_and_spawns_are_handled_safely() {
    let mut h = Harness::new(WEB);
    h.exit_pid(Pid::from_raw(4242), ExitStatus::Exited(0));
    assert!(h.take().is_empty());
    assert!(!h.sup.owns(Pid::from_raw(4242)));
    // A spawn answer nobody asked for is killed, never kept.
    h.send(|s, now| s.handle_spawned("web", Ok(Pid::from_raw(77)), now));
    assert_eq!(signals(&h.take()), [sig("web", Signal::KILL, true)]);
    assert_eq!(h.state("web"), State::Initial);
    assert!(!h.sup.owns(Pid::from_raw(77)));
}

#[test]
fn the_service_list_is_sorted_and_filtered() {
    let mut h = Harness::new(
        "services:\n  web:\n    command: webd\n    startup: enabled\n  db:\n    command: db\n",
    );
    h.advance(millis(1500));
    h.start(&["web"]);
    let list = h.sup.services(&[]);
    let view: Vec<_> = list
        .iter()
        .map(|s| (s.name.as_str(), s.startup, s.current))
        .collect();
    assert_eq!(
        view,
        [
            ("db", ServiceStartup::Disabled, ServiceStatus::Inactive),
            ("web", ServiceStartup::Enabled, ServiceStatus::Active),
        ]
    );
    assert_eq!(list[0].current_since, None);
    assert_eq!(
        list[1].current_since,
        Some(Timestamp::new(
            h.now().wall,
            UtcOffset::from_seconds(3600).unwrap()
        ))
    );
    assert_eq!(
        list[1].current_since.unwrap().to_string(),
        "2025-03-01T10:00:01.5+01:00"
    );
    let only = h.sup.services(&names(&["web", "nope"]));
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].name, "web");
}
