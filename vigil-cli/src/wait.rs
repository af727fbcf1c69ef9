//! Waiting for a change (cli.md §2.2).
//!
//! A command that creates a change long-polls
//! `GET /v1/changes/{id}/wait?timeout=30s` until the change is ready. A 504
//! only means the 30 s passed: it asks again. A 404 means the server has no
//! wait endpoint (or has lost the change): it falls back to polling
//! `GET /v1/changes/{id}`, which reports an unknown change by its own
//! error. This is how ops' Python client waits, too.

use std::thread;
use std::time::{Duration, Instant};

use vigil_proto::api::{Change, ChangeId, ChangeStatus};

use crate::client::{Client, Error, Request, segment};

/// The server-side timeout of one long-poll.
pub const WAIT_TIMEOUT: &str = "30s";

/// How often the fallback polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Waits until change `id` is ready and returns it. Fails with
/// [`Error::Interrupted`] on Ctrl-C once the client watches for it.
pub fn wait_ready(client: &Client, id: ChangeId, poll_interval: Duration) -> Result<Change, Error> {
    let path = format!("/v1/changes/{}", segment(&id.to_string()));
    let wait = Request::get(format!("{path}/wait"))
        .query("timeout", WAIT_TIMEOUT)
        .without_timeout();
    loop {
        match client.sync::<Change>(&wait) {
            Ok(change) if change.ready => return Ok(change),
            // Ready or not, a reply ends one long-poll; a server that answers
            // early with a change still in progress is asked again, after a
            // pause so that it cannot make us spin.
            Ok(_) => pause(client, poll_interval)?,
            Err(error) => match error.api().map(|api| api.status) {
                Some(504) => {}
                Some(404) => break,
                _ => return Err(error),
            },
        }
    }
    let get = Request::get(path);
    loop {
        let change: Change = client.sync(&get)?;
        if change.ready {
            return Ok(change);
        }
        pause(client, poll_interval)?;
    }
}

/// Sleeps for `duration`, or less if Ctrl-C arrives.
fn pause(client: &Client, duration: Duration) -> Result<(), Error> {
    let until = Instant::now() + duration;
    loop {
        if client.interrupted() {
            return Err(Error::Interrupted);
        }
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return Ok(());
        };
        if left.is_zero() {
            return Ok(());
        }
        // Short naps: `thread::sleep` resumes after a signal.
        thread::sleep(left.min(Duration::from_millis(20)));
    }
}

/// What a ready change means for the command that made it: nothing to say
/// when it is `Done`, else the change's error as the command's error.
pub fn outcome(change: &Change) -> Result<(), String> {
    match (change.status, &change.err) {
        (ChangeStatus::Done, _) => Ok(()),
        (_, Some(err)) if !err.is_empty() => Err(err.clone()),
        (status, _) => Err(format!(
            "change finished in status {} with no error message",
            vigil_proto::api::quote(status.as_str())
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use serde_json::{Value, json};

    use super::*;
    use crate::client::Transport;
    use crate::fake::{FakeServer, Reply};

    fn change(id: u64, status: &str, err: Option<&str>) -> Value {
        let ready = matches!(status, "Done" | "Error" | "Hold");
        let mut change = json!({"id": id.to_string(), "kind": "start", "summary": "Start service \"web\"",
                                "status": status, "ready": ready, "spawn-time": "2025-03-01T10:00:00Z"});
        if let Some(err) = err {
            change["err"] = json!(err);
        }
        change
    }

    fn client(server: &FakeServer) -> Client {
        Client::new(
            Transport::Unix {
                socket: server.socket().to_owned(),
            },
            None,
        )
        .unwrap()
    }

    #[test]
    fn loops_on_504_until_ready() {
        let server = FakeServer::start(vec![
            Reply::error(504, "timed out waiting for change after 30s"),
            Reply::error(504, "timed out waiting for change after 30s"),
            Reply::sync(change(17, "Done", None)),
        ]);
        let done = wait_ready(&client(&server), ChangeId::new(17), Duration::ZERO).unwrap();
        assert_eq!(done.status, ChangeStatus::Done);
        let seen = server.finish();
        assert_eq!(seen.len(), 3);
        for request in seen {
            assert_eq!(request.method, "GET");
            assert_eq!(request.target, "/v1/changes/17/wait?timeout=30s");
        }
    }

    #[test]
    fn falls_back_to_polling_on_404() {
        let server = FakeServer::start(vec![
            Reply::error(404, "invalid API endpoint requested"),
            Reply::sync(change(17, "Doing", None)),
            Reply::sync(change(
                17,
                "Error",
                Some("cannot perform the following tasks:\n- x"),
            )),
        ]);
        let ready = wait_ready(&client(&server), ChangeId::new(17), Duration::ZERO).unwrap();
        assert_eq!(
            outcome(&ready),
            Err("cannot perform the following tasks:\n- x".to_owned())
        );
        let targets: Vec<String> = server
            .finish()
            .into_iter()
            .map(|request| request.target)
            .collect();
        assert_eq!(
            targets,
            [
                "/v1/changes/17/wait?timeout=30s",
                "/v1/changes/17",
                "/v1/changes/17"
            ]
        );
    }

    #[test]
    fn a_not_ready_reply_asks_again() {
        let server = FakeServer::start(vec![
            Reply::sync(change(3, "Doing", None)),
            Reply::sync(change(3, "Done", None)),
        ]);
        wait_ready(&client(&server), ChangeId::new(3), Duration::ZERO).unwrap();
        assert_eq!(server.finish().len(), 2);
    }

    #[test]
    fn other_errors_end_the_wait() {
        let server = FakeServer::start(vec![
            Reply::error(404, "invalid API endpoint requested"),
            Reply::error(404, "cannot find change with id \"9\""),
        ]);
        let error = wait_ready(&client(&server), ChangeId::new(9), Duration::ZERO).unwrap_err();
        assert_eq!(error.to_string(), "cannot find change with id \"9\"");
        server.finish();
        let server = FakeServer::start(vec![Reply::error(400, "invalid timeout: x")]);
        let error = wait_ready(&client(&server), ChangeId::new(9), Duration::ZERO).unwrap_err();
        assert_eq!(error.to_string(), "invalid timeout: x");
        server.finish();
    }

    #[test]
    fn ctrl_c_stops_polling() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        let server = FakeServer::start(vec![
            Reply::error(404, "invalid API endpoint requested"),
            Reply::sync(change(5, "Doing", None)),
        ]);
        let mut client = client(&server);
        client.set_interrupt(&FLAG);
        FLAG.store(true, Ordering::SeqCst);
        // The flag is already set: the first read stops.
        let error = wait_ready(&client, ChangeId::new(5), Duration::from_secs(60)).unwrap_err();
        assert!(matches!(error, Error::Interrupted), "{error}");
        drop(server);
    }

    #[test]
    fn outcomes() {
        let done: Change = serde_json::from_value(change(1, "Done", None)).unwrap();
        assert_eq!(outcome(&done), Ok(()));
        let hold: Change = serde_json::from_value(change(1, "Hold", None)).unwrap();
        assert_eq!(
            outcome(&hold),
            Err("change finished in status \"Hold\" with no error message".to_owned())
        );
    }
}
