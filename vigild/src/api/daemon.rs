//! `POST /v1/vigild` (api.md §6.15, ext): stop or restart the daemon, and
//! the `maintenance` object that every reply carries while a restart is
//! pending (api.md §4.1, supervision.md §12).
//!
//! The handler only begins the shutdown; the reply is queued before any of
//! its effects reach a service, and the reactor writes it in the same turn.
//! The re-exec itself happens in `boot.rs`, once the reactor has finished
//! the shutdown and let go of every descriptor.

use vigil_proto::api::{DaemonAction, DaemonRequest, ErrorResult, StatusCode};

use super::{Reply, State, bad_request, decode, error, ok};
use crate::http::{JSON, Request, Response};
use crate::supervisor::Now;

/// Answers `POST /v1/vigild`.
///
/// `stop` is always accepted, and turns a pending restart into a plain
/// stop. `restart` during a shutdown that is not a restart gets 503: the
/// daemon was asked to go away, by a signal or an exit action, and a
/// restart must not bring it back.
pub(super) fn post(state: &mut State, request: &Request, now: Now) -> Reply {
    let body: DaemonRequest = match decode(request) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let action = match body.action() {
        Ok(action) => action,
        Err(e) => return bad_request(e.to_string()),
    };
    match action {
        DaemonAction::Stop => state.restarting = false,
        DaemonAction::Restart => {
            if state.supervisor.is_shutting_down() && !state.restarting {
                return error(StatusCode::ServiceUnavailable, "daemon is shutting down");
            }
            state.restarting = true;
        }
    }
    state.supervisor.shutdown(0, now);
    ok(())
}

/// `response` as it must be sent now: with the `maintenance` object added
/// to a JSON envelope while a restart is pending, unchanged otherwise.
#[must_use]
pub fn maintained(state: &State, response: Response) -> Response {
    if !state.restarting || response.content_type() != JSON {
        return response;
    }
    add_maintenance(response)
}

/// Adds `"maintenance": {...}` as the envelope's last member. Every
/// envelope is a JSON object, so it goes before the closing brace.
fn add_maintenance(response: Response) -> Response {
    let body = response.body();
    if body.first() != Some(&b'{') || body.last() != Some(&b'}') {
        return response;
    }
    let Ok(maintenance) = serde_json::to_vec(&ErrorResult::daemon_restart()) else {
        return response;
    };
    let mut spliced = Vec::with_capacity(body.len() + maintenance.len() + 16);
    spliced.extend_from_slice(&body[..body.len() - 1]);
    if body.len() > 2 {
        spliced.push(b',');
    }
    spliced.extend_from_slice(b"\"maintenance\":");
    spliced.extend_from_slice(&maintenance);
    spliced.push(b'}');
    response.with_body(spliced)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use vigil_proto::api;

    use super::*;

    #[test]
    fn maintenance_joins_every_envelope() {
        let reply = add_maintenance(Response::json(&api::Response::sync(json!({"a": 1}))));
        let value: serde_json::Value = serde_json::from_slice(reply.body()).unwrap();
        assert_eq!(
            value,
            json!({"type": "sync", "status-code": 200, "status": "OK", "result": {"a": 1},
                   "maintenance": {"kind": "daemon-restart", "message": "daemon is restarting"}})
        );
        let back: api::Response = serde_json::from_slice(reply.body()).unwrap();
        assert_eq!(back.maintenance(), Some(&ErrorResult::daemon_restart()));

        let reply = add_maintenance(Response::error(StatusCode::NotFound, "nope"));
        assert_eq!(reply.status(), StatusCode::NotFound);
        let value: serde_json::Value = serde_json::from_slice(reply.body()).unwrap();
        assert_eq!(value["maintenance"]["kind"], "daemon-restart");
        assert_eq!(value["result"]["message"], "nope");

        let reply = add_maintenance(Response::new(StatusCode::Ok, JSON, b"{}".to_vec()));
        assert_eq!(
            reply.body(),
            br#"{"maintenance":{"message":"daemon is restarting","kind":"daemon-restart"}}"#
        );
    }
}
