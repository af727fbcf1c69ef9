//! The commands of cli.md §3 run end to end: output, exit codes and the
//! requests they make.

use std::io::{BufRead, BufReader, Read};

use serde_json::{Value, json};

use crate::util::fake::{After, FakeServer, Reply};
use crate::util::{finish, interrupt, spawn, vigil};

fn change(id: u64, status: &str, err: Option<&str>) -> Value {
    let ready = matches!(status, "Done" | "Error" | "Hold");
    let mut change = json!({"id": id.to_string(), "kind": "start", "summary": "Start service \"web\"",
                            "status": status, "ready": ready, "spawn-time": "2025-03-01T10:00:00Z"});
    if ready {
        change["ready-time"] = json!("2025-03-01T10:00:01Z");
    }
    if let Some(err) = err {
        change["err"] = json!(err);
    }
    change
}

/// The spec's example list, as JSON text in the API's key order.
const SERVICES: &str = r#"[{"name":"db","startup":"enabled","current":"active","current-since":"2025-03-01T10:00:01.5+01:00"},{"name":"web","startup":"disabled","current":"inactive"}]"#;

#[test]
fn services_table() {
    let server = FakeServer::start(vec![Reply::sync_text(SERVICES)]);
    vigil(server.socket(), &["services", "--abs-time"]).expect(
        0,
        "Service  Startup   Current   Since\n\
         db       enabled   active    2025-03-01T10:00:01+01:00\n\
         web      disabled  inactive  -\n",
        "",
    );
    assert_eq!(server.finish()[0].target, "/v1/services");
}

#[test]
fn services_by_name_and_formats() {
    let server = FakeServer::start(vec![Reply::sync_text(SERVICES), Reply::sync_text(SERVICES)]);
    vigil(server.socket(), &["services", "--format=json", "db", "web"]).expect(
        0,
        "[{\"name\":\"db\",\"startup\":\"enabled\",\"current\":\"active\",\"current-since\":\"2025-03-01T10:00:01.5+01:00\"},\
         {\"name\":\"web\",\"startup\":\"disabled\",\"current\":\"inactive\"}]\n",
        "",
    );
    vigil(server.socket(), &["services", "--format", "yaml"]).expect(
        0,
        "- name: db\n  startup: enabled\n  current: active\n  current-since: \"2025-03-01T10:00:01.5+01:00\"\n\
         - name: web\n  startup: disabled\n  current: inactive\n",
        "",
    );
    let seen = server.finish();
    assert_eq!(seen[0].target, "/v1/services?names=db%2Cweb");
}

#[test]
fn empty_lists_say_so_on_stderr() {
    let server = FakeServer::start(vec![
        Reply::sync(json!([])),
        Reply::sync(json!([])),
        Reply::sync(json!([])),
        Reply::sync(json!([])),
    ]);
    vigil(server.socket(), &["services"]).expect(0, "", "Plan has no services.\n");
    vigil(server.socket(), &["services", "x"]).expect(0, "", "No matching services.\n");
    vigil(server.socket(), &["changes"]).expect(0, "", "no changes found\n");
    vigil(server.socket(), &["services", "--format", "json"]).expect(0, "[]\n", "");
    server.finish();
}

#[test]
fn start_waits_for_the_change() {
    let server = FakeServer::start(vec![
        Reply::change(17),
        Reply::error(504, "timed out waiting for change after 30s"),
        Reply::sync(change(17, "Done", None)),
    ]);
    vigil(server.socket(), &["start", "web", "db"]).expect(0, "", "");
    let seen = server.finish();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, "/v1/services");
    assert_eq!(
        serde_json::from_slice::<Value>(&seen[0].body).unwrap(),
        json!({"action": "start", "services": ["web", "db"]})
    );
    assert_eq!(seen[1].target, "/v1/changes/17/wait?timeout=30s");
    assert_eq!(seen[2].target, "/v1/changes/17/wait?timeout=30s");
}

#[test]
fn every_action_posts_its_name() {
    for (args, action, services) in [
        (&["stop", "web"][..], "stop", json!(["web"])),
        (&["restart", "web"], "restart", json!(["web"])),
        (&["autostart"], "autostart", json!([])),
        (&["replan"], "replan", json!([])),
    ] {
        let server =
            FakeServer::start(vec![Reply::change(3), Reply::sync(change(3, "Done", None))]);
        vigil(server.socket(), args).expect(0, "", "");
        let seen = server.finish();
        assert_eq!(
            serde_json::from_slice::<Value>(&seen[0].body).unwrap(),
            json!({"action": action, "services": services}),
            "{args:?}"
        );
    }
}

#[test]
fn a_failed_change_exits_1_with_its_error() {
    let err = "cannot perform the following tasks:\n- Start service \"web\" (service start attempt: exited quickly with code 1, will restart)";
    let server = FakeServer::start(vec![
        Reply::change(17),
        Reply::sync(change(17, "Error", Some(err))),
    ]);
    vigil(server.socket(), &["start", "web"]).expect(1, "", &format!("error: {err}\n"));
    server.finish();
}

#[test]
fn wait_falls_back_to_polling_on_404() {
    let server = FakeServer::start(vec![
        Reply::change(4),
        Reply::error(404, "invalid API endpoint requested"),
        Reply::sync(change(4, "Doing", None)),
        Reply::sync(change(4, "Done", None)),
    ]);
    vigil(server.socket(), &["restart", "web"]).expect(0, "", "");
    let targets: Vec<String> = server
        .finish()
        .into_iter()
        .map(|seen| seen.target)
        .collect();
    assert_eq!(
        targets,
        [
            "/v1/services",
            "/v1/changes/4/wait?timeout=30s",
            "/v1/changes/4",
            "/v1/changes/4"
        ]
    );
}

#[test]
fn no_wait_prints_the_change_id() {
    let server = FakeServer::start(vec![Reply::change(17)]);
    vigil(server.socket(), &["stop", "--no-wait", "web"]).expect(0, "17\n", "");
    assert_eq!(server.finish().len(), 1);
}

#[test]
fn ctrl_c_while_waiting_leaves_the_change_running() {
    let server = FakeServer::start(vec![Reply::change(17), Reply::Hold]);
    let (child, line) = spawn(server.socket(), &["start", "web"]);
    server.wait_for_requests(2);
    interrupt(&child);
    finish(child, line).expect(
        130,
        "",
        "Change 17 continues in the background; see \"vigil tasks 17\".\n",
    );
    server.finish();
}

#[test]
fn api_errors_print_the_message() {
    let server = FakeServer::start(vec![
        Reply::error(400, "cannot start services: service \"x\" does not exist"),
        Reply::json(
            400,
            json!({"type": "error", "status-code": 400, "status": "Bad Request",
                   "result": {"message": "no default services", "kind": "no-default-services"}}),
        ),
    ]);
    vigil(server.socket(), &["start", "x"]).expect(
        1,
        "",
        "error: cannot start services: service \"x\" does not exist\n",
    );
    vigil(server.socket(), &["autostart"]).expect(1, "", "error: no default services\n");
    server.finish();
}

#[test]
fn usage_errors_exit_2() {
    let socket = std::path::Path::new("/nonexistent/vigild.sock");
    vigil(socket, &["start"]).expect(2, "", "error: missing argument SERVICE\n");
    vigil(socket, &["services", "--format", "xml"]).expect(
        2,
        "",
        "error: invalid value \"xml\" for --format (expected text, json or yaml)\n",
    );
    vigil(socket, &["logs", "-n", "x"]).expect(
        2,
        "",
        "error: invalid value \"x\" for -n (expected a non-negative integer or \"all\")\n",
    );
    vigil(socket, &["tasks", "x"]).expect(
        2,
        "",
        "error: invalid value \"x\" for ID (expected a change id)\n",
    );
    vigil(socket, &["replan", "web"]).expect(2, "", "error: unexpected argument \"web\"\n");
}

#[test]
fn connection_errors() {
    let dir = crate::util::fake::fresh_dir();
    let socket = dir.join("vigild.sock");
    vigil(&socket, &["services"]).expect(
        1,
        "",
        &format!(
            "error: cannot connect to vigild at {}: no such file or directory (is vigild running?)\n",
            socket.display()
        ),
    );
    vigil(&socket, &["version"]).expect(0, "client  0.1.0\nserver  (not running)\n", "");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn version_and_system_info() {
    let info = r#"{"version":"1.0.0","boot-id":"0c6d1d5e","https-address":":8443","start-time":"2025-03-01T10:00:00.123456789+01:00"}"#;
    let server = FakeServer::start(vec![
        Reply::sync_text(info),
        Reply::sync_text(info),
        Reply::sync_text(info),
    ]);
    vigil(server.socket(), &["version"]).expect(0, "client  0.1.0\nserver  1.0.0\n", "");
    vigil(server.socket(), &["system-info"]).expect(
        0,
        "version: 1.0.0\nboot-id: 0c6d1d5e\nstart-time: 2025-03-01T10:00:00+01:00\nhttps-address: :8443\n",
        "",
    );
    vigil(server.socket(), &["system-info", "--format=yaml"]).expect(
        0,
        "version: \"1.0.0\"\nboot-id: \"0c6d1d5e\"\nhttps-address: \":8443\"\nstart-time: \"2025-03-01T10:00:00.123456789+01:00\"\n",
        "",
    );
    assert!(
        server
            .finish()
            .iter()
            .all(|seen| seen.target == "/v1/system-info")
    );
}

#[test]
fn changes_and_tasks() {
    let mut second = change(18, "Doing", None);
    second["summary"] = json!("Stop service \"db\"");
    second["kind"] = json!("stop");
    let mut with_task = change(17, "Done", None);
    with_task["tasks"] = json!([{
        "id": "31", "kind": "start", "summary": "Start service \"web\"", "status": "Done",
        "log": ["2025-03-01T10:00:00Z INFO Service \"web\" has started."],
        "progress": {"label": "", "done": 1, "total": 1},
        "spawn-time": "2025-03-01T10:00:00Z", "ready-time": "2025-03-01T10:00:01Z"
    }]);
    let server = FakeServer::start(vec![
        Reply::sync(json!([second.clone(), change(17, "Done", None)])),
        Reply::sync(json!([second, change(17, "Done", None)])),
        Reply::sync(with_task),
    ]);
    vigil(server.socket(), &["changes", "--abs-time", "web"]).expect(
        0,
        "ID  Status  Spawn                 Ready                 Summary\n\
         17  Done    2025-03-01T10:00:00Z  2025-03-01T10:00:01Z  Start service \"web\"\n\
         18  Doing   2025-03-01T10:00:00Z  -                     Stop service \"db\"\n",
        "",
    );
    vigil(server.socket(), &["tasks", "--abs-time", "--last=start"]).expect(
        0,
        "Status  Spawn                 Ready                 Summary\n\
         Done    2025-03-01T10:00:00Z  2025-03-01T10:00:01Z  Start service \"web\"\n\
         \n\
         ......................................................................\n\
         Start service \"web\"\n\
         \n\
         2025-03-01T10:00:00Z INFO Service \"web\" has started.\n",
        "",
    );
    let targets: Vec<String> = server
        .finish()
        .into_iter()
        .map(|seen| seen.target)
        .collect();
    assert_eq!(
        targets,
        [
            "/v1/changes?select=all&for=web",
            "/v1/changes?select=all",
            "/v1/changes/17"
        ]
    );
}

const LOG_LINES: [&str; 2] = [
    "{\"time\":\"2025-03-01T10:15:30.12Z\",\"service\":\"web\",\"message\":\"listening on :8080\"}\n",
    "{\"time\":\"2025-03-01T10:15:31Z\",\"service\":\"db\",\"message\":\"ready <ok> & \\\"up\\\"\"}\n",
];

#[test]
fn logs_tail() {
    let server = FakeServer::start(vec![
        Reply::chunks(200, &[(LOG_LINES[0], 0), (LOG_LINES[1], 0)]),
        Reply::chunks(200, &[(LOG_LINES[0], 0), (LOG_LINES[1], 0)]),
        Reply::chunks(200, &[]),
    ]);
    vigil(server.socket(), &["logs", "web", "db"]).expect(
        0,
        "2025-03-01T10:15:30.120Z [web] listening on :8080\n\
         2025-03-01T10:15:31.000Z [db] ready <ok> & \"up\"\n",
        "",
    );
    vigil(server.socket(), &["logs", "--format", "json", "-n", "all"]).expect(
        0,
        &LOG_LINES.concat(),
        "",
    );
    vigil(server.socket(), &["logs", "-n5"]).expect(0, "", "");
    let targets: Vec<String> = server
        .finish()
        .into_iter()
        .map(|seen| seen.target)
        .collect();
    assert_eq!(
        targets,
        [
            "/v1/logs?services=web%2Cdb&n=30&follow=false",
            "/v1/logs?n=-1&follow=false",
            "/v1/logs?n=5&follow=false"
        ]
    );
}

#[test]
fn logs_follow_ends_with_the_stream_or_ctrl_c() {
    let server = FakeServer::start(vec![
        Reply::chunks(200, &[(LOG_LINES[0], 0), (LOG_LINES[1], 20)]),
        Reply::chunks_then(200, &[(LOG_LINES[0], 0)], After::Hold),
    ]);
    vigil(server.socket(), &["logs", "-fn", "0"]).expect(
        1,
        "2025-03-01T10:15:30.120Z [web] listening on :8080\n\
         2025-03-01T10:15:31.000Z [db] ready <ok> & \"up\"\n",
        "error: vigild closed the log stream\n",
    );
    let (mut child, line) = spawn(server.socket(), &["logs", "--follow"]);
    // Ctrl-C once the first line is out, while the stream stays open.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "2025-03-01T10:15:30.120Z [web] listening on :8080\n");
    interrupt(&child);
    let mut run = finish(child, line);
    stdout.read_to_string(&mut run.stdout).unwrap();
    run.expect(0, "", "");
    let seen = server.finish();
    assert_eq!(seen[0].target, "/v1/logs?n=0&follow=true");
    assert_eq!(seen[1].target, "/v1/logs?n=30&follow=true");
}

#[test]
fn logs_errors_use_the_envelope() {
    let server = FakeServer::start(vec![Reply::error(
        400,
        "n must be -1, 0, or a positive integer",
    )]);
    vigil(server.socket(), &["logs"]).expect(
        1,
        "",
        "error: n must be -1, 0, or a positive integer\n",
    );
    server.finish();
}

#[test]
fn vigild_stop_and_restart_post_the_action_and_do_not_wait() {
    let server = FakeServer::start(vec![Reply::sync(Value::Null), Reply::sync(Value::Null)]);
    vigil(server.socket(), &["vigild", "stop"]).expect(0, "Daemon stop initiated.\n", "");
    vigil(server.socket(), &["vigild", "restart"]).expect(0, "Daemon restart initiated.\n", "");
    vigil(server.socket(), &["vigild", "pause"]).expect(
        2,
        "",
        "error: invalid value \"pause\" for ACTION (expected stop, restart or status)\n",
    );
    let seen = server.finish();
    assert_eq!(seen.len(), 2);
    for (request, action) in seen.iter().zip(["stop", "restart"]) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/v1/vigild");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body, json!({ "action": action }));
    }
}

/// The spec's `GET /v1/checks` example and more, as JSON text in the API's
/// key order: `api` failing in its change, `db` failing with a recovery
/// change that has logged nothing yet, `disk` inactive, `web` passing.
const CHECKS: &str = r#"[{"name":"api","level":"ready","startup":"enabled","status":"down","successes":12,"failures":3,"threshold":3,"change-id":"44","prev-change-id":"40"},{"name":"db","level":"alive","startup":"enabled","status":"down","successes":0,"failures":2,"threshold":2,"change-id":"46","prev-change-id":"41"},{"name":"disk","startup":"disabled","status":"inactive","successes":0,"threshold":3},{"name":"web","startup":"enabled","status":"up","successes":7,"threshold":3,"change-id":"47"}]"#;

/// A check change with one task whose log is `log`.
fn check_change(id: u64, log: &[&str]) -> Value {
    let mut task = json!({"id": "9", "kind": "perform-check", "summary": "Perform HTTP check \"api\"",
                          "status": "Doing", "progress": {"label": "", "done": 0, "total": 1},
                          "spawn-time": "2025-03-01T10:00:00Z"});
    if !log.is_empty() {
        task["log"] = json!(log);
    }
    json!({"id": id.to_string(), "kind": "perform-check", "summary": "Perform HTTP check \"api\"",
           "status": "Doing", "ready": false, "spawn-time": "2025-03-01T10:00:00Z", "tasks": [task]})
}

fn targets(seen: Vec<crate::util::fake::Seen>) -> Vec<String> {
    seen.into_iter().map(|seen| seen.target).collect()
}

#[test]
fn checks_table_with_the_last_error_of_each_failing_check() {
    let server = FakeServer::start(vec![
        Reply::sync_text(CHECKS),
        Reply::sync(check_change(
            44,
            &[
                "2025-03-01T10:00:00Z ERROR dial tcp 127.0.0.1:8080: connect: connection refused",
                "2025-03-01T10:00:05Z ERROR non-2xx status code 503",
                "2025-03-01T10:00:06Z INFO an info line is not the error",
            ],
        )),
        Reply::sync(check_change(46, &[])),
        Reply::sync(check_change(
            41,
            &[
                "2025-03-01T10:00:00Z ERROR Get \"http://127.0.0.1:8080/health\": dial tcp 127.0.0.1:8080: connect: connection refused",
            ],
        )),
    ]);
    vigil(server.socket(), &["checks"]).expect(
        0,
        "Check  Level  Startup   Status    Successes  Failures  Change\n\
         api    ready  enabled   down      12         3/3       44 (non-2xx status code 503)\n\
         db     alive  enabled   down      0          2/2       46 (Get \"http://127.0.0.1:8080/health\": d... run \"vigil tasks 41\" for more)\n\
         disk   -      disabled  inactive  -          -         -\n\
         web    -      enabled   up        7          0/3       47\n",
        "",
    );
    assert_eq!(
        targets(server.finish()),
        [
            "/v1/checks",
            "/v1/changes/44",
            "/v1/changes/46",
            "/v1/changes/41"
        ]
    );
}

#[test]
fn a_change_that_cannot_be_read_shows_its_error() {
    let api = r#"[{"name":"api","startup":"enabled","status":"down","successes":0,"failures":3,"threshold":3,"change-id":"44"}]"#;
    let server = FakeServer::start(vec![
        Reply::sync_text(api),
        Reply::error(404, "cannot find change with id \"44\""),
        Reply::sync_text(api),
        Reply::error(404, "cannot find change with id \"44\""),
    ]);
    vigil(server.socket(), &["checks"]).expect(
        0,
        "Check  Level  Startup  Status  Successes  Failures  Change\n\
         api    -      enabled  down    0          3/3       44 (cannot find change with id \"44\")\n",
        "",
    );
    vigil(server.socket(), &["check", "api"]).expect(
        1,
        "",
        "error: cannot get task logs for change 44: cannot find change with id \"44\"\n",
    );
    assert_eq!(
        targets(server.finish()),
        [
            "/v1/checks",
            "/v1/changes/44",
            "/v1/checks?names=api",
            "/v1/changes/44"
        ]
    );
}

#[test]
fn checks_filters_formats_and_empty_lists() {
    let server = FakeServer::start(vec![
        Reply::sync_text(CHECKS),
        Reply::sync(json!([])),
        Reply::sync(json!([])),
        Reply::sync(json!([])),
        Reply::sync(json!([])),
    ]);
    vigil(
        server.socket(),
        &["checks", "--format=json", "--level", "ready", "api"],
    )
    .expect(0, &format!("{CHECKS}\n"), "");
    vigil(server.socket(), &["checks"]).expect(0, "", "Plan has no health checks.\n");
    vigil(server.socket(), &["checks", "x", "y"]).expect(0, "", "No matching health checks.\n");
    vigil(server.socket(), &["checks", "--level=alive"]).expect(
        0,
        "",
        "No matching health checks.\n",
    );
    vigil(server.socket(), &["checks", "--format", "yaml"]).expect(0, "[]\n", "");
    assert_eq!(
        targets(server.finish()),
        [
            "/v1/checks?level=ready&names=api",
            "/v1/checks",
            "/v1/checks?names=x%2Cy",
            "/v1/checks?level=alive",
            "/v1/checks"
        ]
    );
    let socket = std::path::Path::new("/nonexistent/vigild.sock");
    vigil(socket, &["checks", "--level", "live"]).expect(
        2,
        "",
        "error: invalid value \"live\" for --level (expected alive or ready)\n",
    );
}

#[test]
fn check_shows_one_check_with_its_task_log() {
    let api = r#"[{"name":"api","level":"ready","startup":"enabled","status":"down","successes":12,"failures":3,"threshold":3,"change-id":"44","prev-change-id":"40"}]"#;
    let log = [
        "2025-03-01T10:00:00Z ERROR non-2xx status code 503\n<h1>down</h1>",
        "2025-03-01T10:00:05Z ERROR non-2xx status code 503",
    ];
    let server = FakeServer::start(vec![
        Reply::sync_text(api),
        Reply::sync(check_change(44, &log)),
        Reply::sync_text(api),
        Reply::sync(check_change(44, &log)),
    ]);
    vigil(server.socket(), &["check", "api"]).expect(
        0,
        "name: api\n\
         level: ready\n\
         startup: enabled\n\
         status: down\n\
         successes: 12\n\
         failures: 3\n\
         threshold: 3\n\
         change-id: \"44\"\n\
         prev-change-id: \"40\"\n\
         logs: |\n  \
           2025-03-01T10:00:00Z ERROR non-2xx status code 503\n  \
           <h1>down</h1>\n  \
           2025-03-01T10:00:05Z ERROR non-2xx status code 503\n",
        "",
    );
    vigil(server.socket(), &["check", "--format=json", "api"]).expect(
        0,
        "{\"name\":\"api\",\"level\":\"ready\",\"startup\":\"enabled\",\"status\":\"down\",\
         \"successes\":12,\"failures\":3,\"threshold\":3,\"change-id\":\"44\",\"prev-change-id\":\"40\",\
         \"logs\":\"2025-03-01T10:00:00Z ERROR non-2xx status code 503\\n<h1>down</h1>\\n\
         2025-03-01T10:00:05Z ERROR non-2xx status code 503\\n\"}\n",
        "",
    );
    assert_eq!(
        targets(server.finish()),
        [
            "/v1/checks?names=api",
            "/v1/changes/44",
            "/v1/checks?names=api",
            "/v1/changes/44"
        ]
    );
}

#[test]
fn check_of_a_passing_check_fetches_no_log() {
    let server = FakeServer::start(vec![Reply::sync_text(
        r#"[{"name":"web","startup":"enabled","status":"up","successes":7,"threshold":3,"change-id":"47"}]"#,
    )]);
    vigil(server.socket(), &["check", "web"]).expect(
        0,
        "name: web\nstartup: enabled\nstatus: up\nsuccesses: 7\nthreshold: 3\nchange-id: \"47\"\n",
        "",
    );
    assert_eq!(targets(server.finish()), ["/v1/checks?names=web"]);
}

#[test]
fn check_refresh_shows_the_probe_error() {
    let refreshed = r#"{"info":{"name":"api","startup":"enabled","status":"up","successes":0,"failures":1,"threshold":3,"change-id":"45","prev-change-id":"44"},"error":"dial tcp 127.0.0.1:8080: connect: connection refused"}"#;
    let server = FakeServer::start(vec![
        Reply::sync_text(refreshed),
        Reply::sync(check_change(45, &[])),
        Reply::sync(check_change(
            44,
            &["2025-03-01T10:00:00Z ERROR dial tcp 127.0.0.1:8080: connect: connection refused"],
        )),
    ]);
    vigil(server.socket(), &["check", "--refresh", "api"]).expect(
        0,
        "name: api\n\
         startup: enabled\n\
         status: up\n\
         successes: 0\n\
         failures: 1\n\
         threshold: 3\n\
         change-id: \"45\"\n\
         prev-change-id: \"44\"\n\
         error: \"dial tcp 127.0.0.1:8080: connect: connection refused\"\n\
         logs: |\n  \
           2025-03-01T10:00:00Z ERROR dial tcp 127.0.0.1:8080: connect: connection refused\n",
        "",
    );
    let seen = server.finish();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, "/v1/checks/refresh");
    assert_eq!(
        serde_json::from_slice::<Value>(&seen[0].body).unwrap(),
        json!({"name": "api"})
    );
    assert_eq!(targets(seen)[1..], ["/v1/changes/45", "/v1/changes/44"]);
}

#[test]
fn check_unknown() {
    let server = FakeServer::start(vec![
        Reply::sync(json!([])),
        Reply::error(404, "cannot find check \"x\""),
    ]);
    vigil(server.socket(), &["check", "x"]).expect(1, "", "error: cannot find check \"x\"\n");
    vigil(server.socket(), &["check", "--refresh", "x"]).expect(
        1,
        "",
        "error: cannot find check \"x\"\n",
    );
    assert_eq!(
        targets(server.finish()),
        ["/v1/checks?names=x", "/v1/checks/refresh"]
    );
    let socket = std::path::Path::new("/nonexistent/vigild.sock");
    vigil(socket, &["check"]).expect(
        2,
        "",
        "error: required positional arguments not provided: CHECK\n",
    );
}

#[test]
fn start_and_stop_checks() {
    let server = FakeServer::start(vec![
        Reply::sync(json!({"changed": ["a", "b"]})),
        Reply::sync(json!({"changed": []})),
        Reply::sync(json!({"changed": ["a"]})),
        Reply::sync(json!({"changed": []})),
        Reply::error(400, "cannot start checks: cannot find checks in plan: x"),
    ]);
    vigil(server.socket(), &["start-checks", "a", "b"]).expect(0, "Checks started: a, b\n", "");
    vigil(server.socket(), &["start-checks", "a"]).expect(0, "Checks already started.\n", "");
    vigil(server.socket(), &["stop-checks", "a", "c"]).expect(0, "Checks stopped: a\n", "");
    vigil(server.socket(), &["stop-checks", "c"]).expect(0, "Checks already stopped.\n", "");
    vigil(server.socket(), &["start-checks", "x"]).expect(
        1,
        "",
        "error: cannot start checks: cannot find checks in plan: x\n",
    );
    let seen = server.finish();
    let bodies: Vec<(String, String, Value)> = seen
        .into_iter()
        .map(|seen| {
            (
                seen.method,
                seen.target,
                serde_json::from_slice(&seen.body).unwrap(),
            )
        })
        .collect();
    let post = |body: Value| ("POST".to_owned(), "/v1/checks".to_owned(), body);
    assert_eq!(
        bodies,
        [
            post(json!({"action": "start", "checks": ["a", "b"]})),
            post(json!({"action": "start", "checks": ["a"]})),
            post(json!({"action": "stop", "checks": ["a", "c"]})),
            post(json!({"action": "stop", "checks": ["c"]})),
            post(json!({"action": "start", "checks": ["x"]})),
        ]
    );
    let socket = std::path::Path::new("/nonexistent/vigild.sock");
    vigil(socket, &["start-checks"]).expect(2, "", "error: missing argument CHECK\n");
    vigil(socket, &["stop-checks"]).expect(2, "", "error: missing argument CHECK\n");
}

#[test]
fn health_is_the_exit_code_and_502_is_not_an_error() {
    let healthy = || Reply::sync(json!({"healthy": true}));
    // api.md §6.2: unhealthy is a sync reply with HTTP 502.
    let unhealthy = || {
        Reply::json(
            502,
            json!({"type": "sync", "status-code": 502, "status": "Bad Gateway",
                   "result": {"healthy": false}}),
        )
    };
    let server = FakeServer::start(vec![
        healthy(),
        unhealthy(),
        healthy(),
        unhealthy(),
        unhealthy(),
        Reply::error(400, "level must be \"alive\" or \"ready\""),
    ]);
    vigil(server.socket(), &["health"]).expect(0, "healthy\n", "");
    vigil(
        server.socket(),
        &["health", "--level", "ready", "api", "db"],
    )
    .expect(1, "unhealthy\n", "");
    vigil(server.socket(), &["health", "--format=json"]).expect(0, "{\"healthy\":true}\n", "");
    vigil(
        server.socket(),
        &["health", "--format", "json", "--level=alive"],
    )
    .expect(1, "{\"healthy\":false}\n", "");
    vigil(server.socket(), &["health", "--format", "yaml"]).expect(1, "healthy: false\n", "");
    vigil(server.socket(), &["health", "api"]).expect(
        1,
        "",
        "error: level must be \"alive\" or \"ready\"\n",
    );
    assert_eq!(
        targets(server.finish()),
        [
            "/v1/health",
            "/v1/health?level=ready&names=api%2Cdb",
            "/v1/health",
            "/v1/health?level=alive",
            "/v1/health",
            "/v1/health?names=api"
        ]
    );
    let socket = std::path::Path::new("/nonexistent/vigild.sock");
    vigil(socket, &["health", "--level", "live"]).expect(
        2,
        "",
        "error: invalid value \"live\" for --level (expected alive or ready)\n",
    );
}
