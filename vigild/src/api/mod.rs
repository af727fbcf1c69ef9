//! Routing and handlers of the API (api.md §6): a parsed request in, a
//! [`Reply`] out.
//!
//! Handlers return at once (STYLE.md §7 item 12): an action creates a change
//! in the supervisor and answers 202 with its id; waiting for a change or
//! following logs is a [`Reply`] that the reactor parks on the connection and
//! completes later. Handlers never touch a file descriptor, except the
//! replan, which re-reads the layers directory.

mod alerts;
mod checks;
pub mod daemon;
mod follow;
pub mod metrics;
mod openapi;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use vigil_proto::api::{
    self, ChangeActionRequest, ChangeId, ChangeSelect, LogCount, ServiceAction, ServicesRequest,
    StatusCode, SystemInfo, Timestamp, UtcOffset,
};
use vigil_proto::duration;

use crate::http::{Peer, Request, Response, Transport};
use crate::identity;
use crate::logs::{LogStore, ServiceFilter, StreamFormat};
use access::Class;

pub mod access;
use crate::supervisor::{Now, Supervisor};

mod identities;
mod plan;
mod signals;

pub use self::checks::refresh_done;
pub use self::plan::LayerStack;

/// What the daemon knows that handlers read and act on.
#[derive(Debug)]
pub struct State {
    /// The supervision core.
    pub supervisor: Supervisor,
    /// The health checks' schedules and counters.
    pub checks: crate::checks::Checks,
    /// The changes the running checks run under.
    pub check_changes: crate::checks::tracker::Tracker,
    /// The alerts: when they fire and what became of their deliveries.
    pub alerts: crate::alerts::firing::Alerts,
    /// Every service's captured output.
    pub logs: LogStore,
    /// The layers directory, re-read by a replan.
    pub layers_dir: PathBuf,
    /// The layers in force and the API calls that added to them.
    pub layers: LayerStack,
    /// The kernel's boot id (or a random one), read once.
    pub boot_id: String,
    /// When this vigild started.
    pub start_time: SystemTime,
    /// The local zone's offset, for times in replies.
    pub utc_offset: UtcOffset,
    /// The identities and their state file.
    pub identities: identity::Store,
    /// The uid vigild runs as: a local caller with it is admin.
    pub daemon_uid: u32,
    /// A daemon restart was asked for: the shutdown under way ends in a
    /// re-exec, and every reply carries `maintenance` ([`daemon`]).
    pub restarting: bool,
    /// The plain-HTTP listener's address, for `system-info`.
    pub http_address: Option<String>,
    /// The HTTPS listener's address, for `system-info`.
    pub https_address: Option<String>,
    /// Failed login attempts of the request just handled, for the reactor
    /// to log as security warnings (api.md §5); drained after each request,
    /// so it holds at most one.
    pub security_warnings: Vec<String>,
}

/// The answer to a request.
#[derive(Debug)]
pub enum Reply {
    /// A complete response, sent at once.
    Now(Response),
    /// `GET /v1/changes/{id}/wait`: answer when the change is ready, or 504
    /// at `deadline`.
    Wait {
        /// The change waited for.
        change: ChangeId,
        /// When to give up; `None` waits for as long as it takes.
        deadline: Option<Instant>,
        /// The timeout as asked, for the 504 message.
        timeout: Duration,
    },
    /// `POST /v1/checks/refresh`: answer when `probe` ends (its timeout
    /// bounds the wait).
    Refresh {
        /// The probe.
        probe: crate::checks::ProbeId,
    },
    /// `GET /v1/logs` and `/v1/logs/follow`: entries from the backlog,
    /// then (with `follow`) live ones.
    Logs {
        /// Which services.
        filter: ServiceFilter,
        /// How much backlog.
        count: LogCount,
        /// Whether to stay open for new entries.
        follow: bool,
        /// How the entries are framed.
        format: StreamFormat,
    },
}

impl State {
    /// The alerts follow the plan (boot, `POST /v1/layers`, replan): `env:`
    /// values are resolved again from vigild's environment, and pairs are
    /// made and forgotten (checks-and-alerts.md §9, §12). Call it after the
    /// checks have followed the plan.
    pub fn update_alerts(&mut self, now: Now) {
        let plan = self.supervisor.plan();
        let checks: std::collections::BTreeSet<String> = plan.checks().keys().cloned().collect();
        let down: std::collections::BTreeSet<String> = self
            .checks
            .checks(None, &[])
            .into_iter()
            .filter(|c| c.status == crate::checks::CheckStatus::Down)
            .map(|c| c.name)
            .collect();
        let env = |name: &str| std::env::var(name).ok();
        self.alerts.update_plan(
            plan.alerts(),
            &checks,
            &|check| down.contains(check),
            &env,
            now,
        );
    }
}

fn ok<T: Serialize>(result: T) -> Reply {
    Reply::Now(Response::json(&api::Response::sync(result)))
}

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    Reply::Now(Response::error(status, message))
}

fn bad_request(message: impl Into<String>) -> Reply {
    error(StatusCode::BadRequest, message)
}

/// The known paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route<'a> {
    SystemInfo,
    Services,
    Service,
    Replan,
    Changes,
    Change(&'a str),
    Wait(&'a str),
    Logs,
    Signals,
    Plan,
    Layers,
    LogsFollow,
    Metrics,
    Vigild,
    OpenApi,
    Docs,
    Identities,
    Health,
    Checks,
    ChecksRefresh,
    Alerts,
}

impl<'a> Route<'a> {
    /// The route of a percent-decoded path, matched exactly (a trailing `/`
    /// does not match).
    ///
    /// A test in [`openapi`] reads these arms, one per line, as the list of
    /// paths served: each must be in `vigild/openapi.json`.
    fn of(path: &'a str) -> Option<Route<'a>> {
        let segments: Vec<&str> = path.split('/').collect();
        Some(match segments.as_slice() {
            ["", "v1", "system-info"] => Route::SystemInfo,
            ["", "v1", "services"] => Route::Services,
            ["", "v1", "services", name] if !name.is_empty() => Route::Service,
            ["", "v1", "replan"] => Route::Replan,
            ["", "v1", "changes"] => Route::Changes,
            ["", "v1", "changes", id] if !id.is_empty() => Route::Change(id),
            ["", "v1", "changes", id, "wait"] if !id.is_empty() => Route::Wait(id),
            ["", "v1", "logs"] => Route::Logs,
            ["", "v1", "signals"] => Route::Signals,
            ["", "v1", "plan"] => Route::Plan,
            ["", "v1", "layers"] => Route::Layers,
            ["", "v1", "logs", "follow"] => Route::LogsFollow,
            ["", "v1", "metrics"] => Route::Metrics,
            ["", "v1", "vigild"] => Route::Vigild,
            ["", "openapi.json"] => Route::OpenApi,
            ["", "docs"] => Route::Docs,
            ["", "v1", "identities"] => Route::Identities,
            ["", "v1", "health"] => Route::Health,
            ["", "v1", "checks"] => Route::Checks,
            ["", "v1", "checks", "refresh"] => Route::ChecksRefresh,
            ["", "v1", "alerts"] => Route::Alerts,
            _ => return None,
        })
    }

    /// Who may call the route with `method` (api.md §6's table).
    fn class(self, method: &str) -> Class {
        let post = method == "POST";
        match self {
            Route::SystemInfo | Route::Health | Route::OpenApi | Route::Docs => Class::Open,
            Route::Checks if post => Class::Write,
            Route::ChecksRefresh => Class::Write,
            Route::Services | Route::Service | Route::Change(_) if post => Class::Write,
            // D22: reading the plan needs write, since it prints secrets
            // as written; so do adding layers and sending signals.
            Route::Replan | Route::Plan | Route::Layers | Route::Signals => Class::Write,
            Route::Vigild => Class::Admin,
            Route::Identities if post => Class::Admin,
            Route::Metrics => Class::Metrics,
            Route::Services
            | Route::Service
            | Route::Changes
            | Route::Change(_)
            | Route::Wait(_)
            | Route::Logs
            | Route::LogsFollow
            | Route::Identities
            | Route::Checks
            | Route::Alerts => Class::Read,
        }
    }

    /// The methods the route serves; any other gets 405.
    fn methods(self) -> &'static [&'static str] {
        match self {
            Route::SystemInfo
            | Route::Changes
            | Route::Wait(_)
            | Route::Logs
            | Route::LogsFollow
            | Route::Plan
            | Route::Metrics
            | Route::OpenApi
            | Route::Docs
            | Route::Health
            | Route::Alerts => &["GET"],
            Route::Services
            | Route::Service
            | Route::Change(_)
            | Route::Identities
            | Route::Checks => &["GET", "POST"],
            Route::Replan
            | Route::Signals
            | Route::Layers
            | Route::Vigild
            | Route::ChecksRefresh => &["POST"],
        }
    }
}

/// Routes `request` from `peer` to its handler, after the access check.
pub fn handle(state: &mut State, request: &Request, peer: &Peer, now: Now) -> Reply {
    let Some(route) = Route::of(request.path()) else {
        return error(StatusCode::NotFound, "invalid API endpoint requested");
    };
    let method = request.method();
    if !route.methods().contains(&method) {
        return error(
            StatusCode::MethodNotAllowed,
            format!("method {} not allowed", api::quote(method)),
        );
    }
    let caller = identity::resolve(
        &state.identities.identities,
        peer,
        request.header("authorization"),
        state.daemon_uid,
    );
    if let Some(failed) = &caller.failed {
        let transport = match peer.transport {
            Transport::Unix => "the Unix socket",
            Transport::Http => "HTTP",
            Transport::Https => "HTTPS",
        };
        // Names the claimed user, never the password.
        let warning = match failed {
            identity::Failed::Basic { user } => format!(
                "Security: basic authentication failed for user {} over {transport}",
                api::quote(user)
            ),
            identity::Failed::Certificate => {
                format!("Security: a client certificate over {transport} matched no identity")
            }
        };
        state.security_warnings.push(warning);
    }
    if !access::allows(route.class(method), caller.access, peer.transport) {
        let envelope = api::Response::<()>::error(StatusCode::Unauthorized, "access denied")
            .with_kind(api::ErrorKind::LoginRequired);
        return Reply::Now(Response::json(&envelope));
    }
    match (route, method == "POST") {
        (Route::SystemInfo, _) => system_info(state),
        (Route::Services, false) => services(state, request),
        (Route::Services, true) => post_services(state, request, now),
        // As in Pebble.
        (Route::Service, _) => bad_request("not implemented"),
        (Route::Replan, _) => plan::replan(state, now),
        (Route::Changes, _) => changes(state, request),
        (Route::Change(id), false) => change(state, id),
        (Route::Change(id), true) => abort(state, id, request, now),
        (Route::Wait(id), _) => wait(state, id, request, now),
        (Route::Logs, _) => logs(request),
        (Route::Signals, _) => signals::signals(state, request),
        (Route::Plan, _) => plan::plan(state, request),
        (Route::Layers, _) => plan::add_layer(state, request, now),
        (Route::LogsFollow, _) => follow::follow(request),
        (Route::Metrics, _) => metrics::metrics(state),
        (Route::Vigild, _) => daemon::post(state, request, now),
        (Route::OpenApi, _) => openapi::document(),
        (Route::Docs, _) => openapi::docs(),
        (Route::Identities, false) => identities::list(state),
        (Route::Identities, true) => identities::post(state, request),
        (Route::Health, _) => checks::health(state, request),
        (Route::Checks, false) => checks::list(state, request),
        (Route::Checks, true) => checks::post(state, request, now),
        (Route::ChecksRefresh, _) => checks::refresh(state, request, now),
        (Route::Alerts, _) => alerts::list(state, request),
    }
}

fn system_info(state: &State) -> Reply {
    ok(SystemInfo {
        boot_id: state.boot_id.clone(),
        http_address: state.http_address.clone(),
        https_address: state.https_address.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        start_time: Timestamp::new(state.start_time, state.utc_offset),
    })
}

fn services(state: &State, request: &Request) -> Reply {
    ok(state.supervisor.services(&request.query_list("names")))
}

fn post_services(state: &mut State, request: &Request, now: Now) -> Reply {
    if let Some(refused) = refuse_during_shutdown(state) {
        return refused;
    }
    let body: ServicesRequest = match decode(request) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let action = match body.action() {
        Ok(action) => action,
        Err(e) => return bad_request(e.to_string()),
    };
    let names = body.services;
    if action.needs_services() && names.is_empty() {
        return bad_request(format!("must specify services for {action} action"));
    }
    if !action.needs_services() && !names.is_empty() {
        return bad_request(format!("{action} accepts no service names"));
    }
    let supervisor = &mut state.supervisor;
    let result = match action {
        ServiceAction::Start => supervisor.start(&names, now),
        ServiceAction::Stop => supervisor.stop(&names, now),
        ServiceAction::Restart => supervisor.restart(&names, now),
        ServiceAction::Autostart => supervisor.autostart(now),
        ServiceAction::Replan => return plan::replan(state, now),
    };
    match result {
        Ok(id) => Reply::Now(Response::json(&api::Response::<()>::async_change(id))),
        Err(refusal) => action_error(&refusal),
    }
}

fn action_error(refusal: &crate::supervisor::ActionError) -> Reply {
    let mut envelope = api::Response::<()>::error(refusal.status(), refusal.to_string());
    if let Some(kind) = refusal.kind() {
        envelope = envelope.with_kind(kind);
    }
    Reply::Now(Response::json(&envelope))
}

fn refuse_during_shutdown(state: &State) -> Option<Reply> {
    state
        .supervisor
        .is_shutting_down()
        .then(|| error(StatusCode::ServiceUnavailable, "daemon is shutting down"))
}

fn changes(state: &State, request: &Request) -> Reply {
    let select = match ChangeSelect::parse_query(request.query_value("select").unwrap_or("")) {
        Ok(select) => select,
        Err(e) => return bad_request(e.to_string()),
    };
    let service = request.query_value("for").filter(|s| !s.is_empty());
    ok(state.supervisor.changes(select, service))
}

fn find_change(state: &State, id: &str) -> Result<ChangeId, Reply> {
    id.parse::<ChangeId>()
        .ok()
        .filter(|id| state.supervisor.change(*id).is_some())
        .ok_or_else(|| {
            error(
                StatusCode::NotFound,
                format!("cannot find change with id {}", api::quote(id)),
            )
        })
}

fn change(state: &State, id: &str) -> Reply {
    match find_change(state, id) {
        Ok(id) => ok(state.supervisor.change(id)),
        Err(reply) => reply,
    }
}

fn abort(state: &mut State, id: &str, request: &Request, now: Now) -> Reply {
    let id = match find_change(state, id) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let body: ChangeActionRequest = match decode(request) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    if let Err(e) = body.action() {
        return bad_request(e.to_string());
    }
    match state.supervisor.abort(id, now) {
        Ok(change) => {
            // Aborting a check's change stops the check; its task ends Hold
            // (api.md §7, "Abort").
            if let Some(check) = state.check_changes.check_of(id).map(str::to_owned) {
                let _ = state.checks.stop(&[check]);
            }
            ok(change)
        }
        Err(refusal) => action_error(&refusal),
    }
}

fn wait(state: &State, id: &str, request: &Request, now: Now) -> Reply {
    let id = match find_change(state, id) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let text = request.query_value("timeout").unwrap_or("");
    let timeout = if text.is_empty() {
        Duration::ZERO
    } else {
        match duration::parse(text) {
            Ok(timeout) => timeout,
            Err(e) => return bad_request(format!("invalid timeout: {e}")),
        }
    };
    if state.supervisor.change(id).is_some_and(|c| c.ready) {
        return ok(state.supervisor.change(id));
    }
    let deadline = (!timeout.is_zero()).then(|| now.monotonic + timeout);
    Reply::Wait {
        change: id,
        deadline,
        timeout,
    }
}

/// The 504 of a wait that timed out.
pub fn wait_timed_out(timeout: Duration) -> Response {
    Response::error(
        StatusCode::GatewayTimeout,
        format!(
            "timed out waiting for change after {}",
            duration::format(timeout)
        ),
    )
}

/// The reply to a wait whose change became ready.
pub fn wait_done(state: &State, change: ChangeId) -> Response {
    Response::json(&api::Response::sync(state.supervisor.change(change)))
}

fn logs(request: &Request) -> Reply {
    let follow = match api::logs::parse_follow(request.query_value("follow").unwrap_or("")) {
        Ok(follow) => follow,
        Err(e) => return bad_request(e.to_string()),
    };
    let count = match LogCount::parse_query(request.query_value("n").unwrap_or("")) {
        Ok(Some(count)) => count,
        Ok(None) if follow => LogCount::Last(0),
        Ok(None) => LogCount::Last(30),
        Err(e) => return bad_request(e.to_string()),
    };
    // Services that are unknown or have no buffer are skipped: the filter
    // simply matches nothing for them.
    Reply::Logs {
        filter: ServiceFilter::from_names(request.query_list("services")),
        count,
        follow,
        format: StreamFormat::Pebble,
    }
}

/// Decodes a JSON body, or the 400 for it. `null` fields count as absent
/// and unknown fields are ignored (the types say so).
fn decode<T: serde::de::DeserializeOwned>(request: &Request) -> Result<T, Reply> {
    serde_json::from_slice(request.body())
        .map_err(|e| bad_request(format!("cannot decode request body: {e}")))
}

/// The kernel's boot id, or a random UUID when it cannot be read (D25).
pub fn boot_id() -> String {
    match std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
        _ => random_uuid(),
    }
}

/// A random UUID v4, from `/dev/urandom` (or the clock and pid when that
/// cannot be read).
pub fn random_uuid() -> String {
    let mut bytes = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !filled {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = (nanos ^ u128::from(std::process::id())).to_le_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
