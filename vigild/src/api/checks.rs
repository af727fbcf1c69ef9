//! `GET /v1/health`, `GET`/`POST /v1/checks` and `POST /v1/checks/refresh`
//! (api.md §6.2, §6.8; checks-and-alerts.md §2, §8).

use vigil_proto::api::{
    self, CheckLevel, ChecksAction, ChecksChanged, ChecksRequest, HealthInfo, RefreshRequest,
    RefreshResult, StatusCode,
};
use vigil_proto::plan;

use super::{Reply, State, bad_request, decode, error, ok, refuse_during_shutdown};
use crate::http::{Request, Response};
use crate::supervisor::Now;

/// `GET /v1/health?level=&names=`: exactly Pebble's two bodies, 200 or 502.
pub(super) fn health(state: &State, request: &Request) -> Reply {
    let level = match level_query(request) {
        Ok(level) => level,
        Err(reply) => return reply,
    };
    let healthy = state.checks.healthy(level, &request.query_list("names"));
    Reply::Now(Response::json(&HealthInfo { healthy }.into_response()))
}

/// The `level` query of `/v1/health` and `/v1/checks`: empty, `alive` or
/// `ready` (what each selects is the caller's business), else a 400.
fn level_query(request: &Request) -> Result<Option<plan::CheckLevel>, Reply> {
    match CheckLevel::parse_query(request.query_value("level").unwrap_or("")) {
        Ok(level) => Ok(level.map(|level| match level {
            CheckLevel::Alive => plan::CheckLevel::Alive,
            CheckLevel::Ready => plan::CheckLevel::Ready,
        })),
        Err(e) => Err(bad_request(e.to_string())),
    }
}

/// `GET /v1/checks?level=&names=`: an exact level match.
pub(super) fn list(state: &State, request: &Request) -> Reply {
    let level = match level_query(request) {
        Ok(level) => level,
        Err(reply) => return reply,
    };
    let checks: Vec<api::CheckInfo> = state
        .checks
        .checks(level, &request.query_list("names"))
        .iter()
        .map(|check| state.check_changes.info(check))
        .collect();
    ok(checks)
}

/// `POST /v1/checks` with `start` or `stop`.
pub(super) fn post(state: &mut State, request: &Request, now: Now) -> Reply {
    if let Some(refused) = refuse_during_shutdown(state) {
        return refused;
    }
    let body: ChecksRequest = match decode(request) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if body.checks.is_empty() {
        return bad_request(format!("must specify checks for {} action", body.action));
    }
    let action = match body.action() {
        Ok(action) => action,
        Err(e) => return bad_request(e.to_string()),
    };
    let result = match action {
        ChecksAction::Start => state.checks.start(&body.checks, now),
        ChecksAction::Stop => state.checks.stop(&body.checks),
    };
    match result {
        Ok(mut changed) => {
            changed.sort();
            ok(ChecksChanged { changed })
        }
        Err(unknown) => bad_request(format!(
            "cannot {} checks: cannot find checks in plan: {}",
            action.as_str(),
            unknown.0.join(", ")
        )),
    }
}

/// `POST /v1/checks/refresh`: runs a probe now; the reply waits for it.
pub(super) fn refresh(state: &mut State, request: &Request, now: Now) -> Reply {
    // Checks are stopped for the shutdown; no new probe may start.
    if let Some(refused) = refuse_during_shutdown(state) {
        return refused;
    }
    let body: RefreshRequest = match decode(request) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if body.name.is_empty() {
        return bad_request("name must be set");
    }
    match state.checks.refresh(&body.name, now) {
        Ok(probe) => Reply::Refresh { probe },
        Err(_) => error(
            StatusCode::NotFound,
            format!("cannot find check {}", api::quote(&body.name)),
        ),
    }
}

/// The answer to a parked refresh of `check` whose probe ended:
/// `Some(error)` when it ran (`error` is `None` when it passed), `None` when
/// it was cancelled because the check stopped or changed.
#[must_use]
pub fn refresh_done(state: &State, check: &str, outcome: Option<Option<String>>) -> Response {
    let Some(info) = state
        .checks
        .checks(None, &[check.to_owned()])
        .first()
        .map(|c| state.check_changes.info(c))
    else {
        return Response::error(
            StatusCode::NotFound,
            format!("cannot find check {}", api::quote(check)),
        );
    };
    let error = match outcome {
        Some(error) => error,
        None => Some("probe cancelled: the check was stopped or changed".to_owned()),
    };
    Response::json(&api::Response::sync(RefreshResult { info, error }))
}
