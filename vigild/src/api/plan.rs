//! `GET /v1/plan`, `POST /v1/layers` and the replan (spec api.md §6.6,
//! §6.7, §6.13; layers.md §2.4).
//!
//! The daemon keeps the layer stack the plan was built from and every
//! `POST /v1/layers` call that succeeded since boot. Adding a layer builds a
//! new plan from a copy of the stack and hands it to the supervisor, which
//! restarts nothing; a replan re-reads the directory and replays the calls
//! (D2). Both are all-or-nothing: on any problem the stack, the list of
//! calls and the plan stay as they were. The replan is the one handler that
//! reads files.

use vigil_proto::api::{self, LayersRequest};
use vigil_proto::plan::{self, Addition, Layer, Plan, Source};

use super::{Reply, State, action_error, bad_request, decode, ok, refuse_during_shutdown};
use crate::http::{Request, Response};
use crate::supervisor::Now;

/// The layers in force, and the API calls that added to them since boot.
#[derive(Debug, Default)]
pub struct LayerStack {
    /// The stack the plan in force was built from: the files, then the API
    /// layers where each call put them.
    layers: Vec<Layer>,
    /// Every successful `POST /v1/layers` call, in order, for replay.
    additions: Vec<Addition>,
}

impl LayerStack {
    /// The stack of a plan loaded at boot, with no API layer yet.
    #[must_use]
    pub fn new(layers: Vec<Layer>) -> Self {
        Self {
            layers,
            additions: Vec::new(),
        }
    }
}

/// `GET /v1/plan?format=yaml`: the plan as a YAML string. An absent format
/// means YAML too (D21).
pub(super) fn plan(state: &State, request: &Request) -> Reply {
    match request.query_value("format") {
        None | Some("yaml") => ok(state.supervisor.plan().to_yaml()),
        Some(format) => bad_request(
            api::Error::InvalidFormat {
                format: format.to_owned(),
            }
            .to_string(),
        ),
    }
}

/// `POST /v1/layers`: parse the layer, place it in a copy of the stack,
/// build the plan from that copy, and only then commit all three.
pub(super) fn add_layer(state: &mut State, request: &Request, now: Now) -> Reply {
    if let Some(refused) = refuse_during_shutdown(state) {
        return refused;
    }
    let body: LayersRequest = match decode(request) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if body.action != "add" {
        return bad_request(
            api::Error::InvalidAction {
                action: body.action,
            }
            .to_string(),
        );
    }
    if body.label.is_empty() {
        return bad_request("label must be set");
    }
    if body.format != "yaml" {
        return bad_request(
            api::Error::InvalidFormat {
                format: body.format,
            }
            .to_string(),
        );
    }
    let summary = format!("cannot add layer {}", api::quote(&body.label));
    let layer = match Layer::parse(
        &body.layer,
        &body.label,
        &body.label,
        Source::Api(body.label.clone()),
    ) {
        Ok(layer) => layer,
        Err(problems) => return bad_request(problems.render(&summary, "")),
    };
    let addition = Addition {
        layer,
        combine: body.combine,
        inner: body.inner,
    };
    let mut layers = state.layers.layers.clone();
    if let Err(refusal) = plan::add_layer(&mut layers, &addition) {
        return bad_request(refusal.to_string());
    }
    let built = match Plan::build(&layers) {
        Ok(built) => built,
        Err(problems) => return bad_request(problems.render(&summary, "")),
    };
    state.supervisor.update_plan(built.plan, now);
    // Checks follow the plan at once, no replan needed
    // (checks-and-alerts.md §2).
    let checks = state.supervisor.plan().checks().clone();
    state.checks.update_plan(&checks, now);
    state.update_alerts(now);
    state.layers.layers = layers;
    state.layers.additions.push(addition);
    ok(true)
}

/// `POST /v1/services` with `replan`, and `POST /v1/replan`: re-read the
/// layers directory, replay the API calls, and hand the plan to the
/// supervisor, which restarts what changed (layers.md §2.4).
pub(super) fn replan(state: &mut State, now: Now) -> Reply {
    if let Some(refused) = refuse_during_shutdown(state) {
        return refused;
    }
    let (layers, built) = match plan::load_with(&state.layers_dir, &state.layers.additions) {
        Ok(loaded) => loaded,
        Err(problems) => return bad_request(problems.render("cannot replan services", "")),
    };
    match state.supervisor.replan(built.plan, now) {
        Ok(id) => {
            let checks = state.supervisor.plan().checks().clone();
            state.checks.replan(&checks, now);
            state.update_alerts(now);
            state.layers.layers = layers;
            Reply::Now(Response::json(&api::Response::<()>::async_change(id)))
        }
        Err(refusal) => action_error(&refusal),
    }
}
