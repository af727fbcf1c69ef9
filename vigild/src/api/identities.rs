//! `GET` and `POST /v1/identities` (spec api.md §6.10).

use vigil_proto::api::{self, IdentitiesAction, IdentitiesRequest, StatusCode};

use super::{Reply, State, bad_request, decode, error, ok};
use crate::http::{Request, Response};
use crate::identity::StoreError;

/// Every identity, secrets masked; `{}` when there are none.
pub(super) fn list(state: &State) -> Reply {
    ok(state.identities.identities.to_api())
}

/// Adds, updates, replaces or removes identities, all or nothing, and
/// persists the result before replying.
pub(super) fn post(state: &mut State, request: &Request) -> Reply {
    let body: IdentitiesRequest = match decode(request) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let action: IdentitiesAction = match body.action.parse() {
        Ok(action) => action,
        Err(message) => return bad_request(message),
    };
    match state.identities.change(action, &body.identities) {
        Ok(()) => Reply::Now(Response::json(&api::Response::<()>::sync_without_result())),
        Err(StoreError::Invalid(refusal)) => bad_request(refusal.0),
        Err(StoreError::Persist(message)) => error(StatusCode::InternalServerError, message),
    }
}
