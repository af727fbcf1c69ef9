//! Commands from API handlers and boot (Pebble's `v1PostServices` shape):
//! each validates its request, creates the change with its tasks and returns
//! its id at once. Nothing here waits for a service; the work shows up as
//! effects, and later inputs finish the tasks.

use std::collections::BTreeSet;
use std::fmt;

use vigil_proto::api::{Change, ChangeId, ErrorKind, StatusCode, quote};
use vigil_proto::signal::Signal;

use super::lanes::{Graph, OrderLoop, UnknownService};
use super::service::Event;
use super::{Effect, LogLevel, Now, Supervisor};
use crate::changes::AbortError;

/// Why a command was refused. Each variant's message is the API's text
/// word for word; [`ActionError::status`] and [`ActionError::kind`] give
/// the rest of the error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActionError {
    /// No service names for an action that needs them
    /// (`must specify services for start action`).
    NoServices {
        /// `start`, `stop` or `restart`.
        action: &'static str,
    },
    /// A name that is not in the plan
    /// (`cannot start services: service "x" does not exist`).
    UnknownService {
        /// The action.
        action: &'static str,
        /// The name as given.
        name: String,
    },
    /// `after`/`before` form a loop among the services
    /// (`cannot start services: services in before/after loop: a, b`).
    OrderLoop {
        /// The action.
        action: &'static str,
        /// The services on the loop, sorted.
        services: Vec<String>,
    },
    /// `autostart` with no `startup: enabled` service.
    NoDefaultServices,
    /// No change has this id.
    ChangeNotFound(ChangeId),
    /// The change is ready: there is nothing to abort.
    NothingPending(ChangeId),
    /// The daemon is shutting down and accepts no more actions.
    ShuttingDown,
}

impl ActionError {
    /// The HTTP status of the error reply.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::ChangeNotFound(_) => StatusCode::NotFound,
            Self::ShuttingDown => StatusCode::ServiceUnavailable,
            Self::NoServices { .. }
            | Self::UnknownService { .. }
            | Self::OrderLoop { .. }
            | Self::NoDefaultServices
            | Self::NothingPending(_) => StatusCode::BadRequest,
        }
    }

    /// The error reply's `kind`, if it has one.
    #[must_use]
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Self::NoDefaultServices => Some(ErrorKind::NoDefaultServices),
            Self::NoServices { .. }
            | Self::UnknownService { .. }
            | Self::OrderLoop { .. }
            | Self::ChangeNotFound(_)
            | Self::NothingPending(_)
            | Self::ShuttingDown => None,
        }
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoServices { action } => write!(f, "must specify services for {action} action"),
            Self::UnknownService { action, name } => write!(
                f,
                "cannot {action} services: service {} does not exist",
                quote(name)
            ),
            Self::OrderLoop { action, services } => write!(
                f,
                "cannot {action} services: services in before/after loop: {}",
                services.join(", ")
            ),
            Self::NoDefaultServices => f.write_str("no default services"),
            Self::ChangeNotFound(id) => AbortError::NotFound(*id).fmt(f),
            Self::NothingPending(id) => AbortError::NothingPending(*id).fmt(f),
            Self::ShuttingDown => f.write_str("daemon is shutting down"),
        }
    }
}

impl std::error::Error for ActionError {}

impl Supervisor {
    /// Starts `names` and what they require (§8): a `start` change.
    ///
    /// # Errors
    ///
    /// An empty list, an unknown name, an order loop, or a shutdown in
    /// progress.
    pub fn start(&mut self, names: &[String], now: Now) -> Result<ChangeId, ActionError> {
        self.start_change("start", "Start", names, now)
    }

    /// Stops `names` and what requires them, in reverse order (§8): a `stop`
    /// change.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn stop(&mut self, names: &[String], now: Now) -> Result<ChangeId, ActionError> {
        const ACTION: &str = "stop";
        self.refuse_during_shutdown()?;
        require_names(ACTION, names)?;
        let graph = Graph::of_plan(&self.plan);
        let set = graph.stop_closure(names).map_err(|e| unknown(ACTION, e))?;
        let order = graph.order(&set).map_err(|e| looped(ACTION, e))?;
        let change = self.changes.create(
            ACTION,
            summary("Stop", &names[0], set.len()),
            names.to_vec(),
            now,
        );
        self.add_stop_tasks(change, &order, now);
        self.changes.publish(change, now);
        self.settle(now);
        Ok(change)
    }

    /// Restarts `names` (§8): stop tasks for the named services only (their
    /// dependents keep running), then start tasks for them and what they
    /// require, which wait for every stop task.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn restart(&mut self, names: &[String], now: Now) -> Result<ChangeId, ActionError> {
        const ACTION: &str = "restart";
        self.refuse_during_shutdown()?;
        require_names(ACTION, names)?;
        let graph = Graph::of_plan(&self.plan);
        let stop_set = graph.stop_closure(names).map_err(|e| unknown(ACTION, e))?;
        let named: BTreeSet<String> = names.iter().cloned().collect();
        let stop_order = graph
            .order(&stop_set)
            .map_err(|e| looped(ACTION, e))?
            .restrict(&named);
        let start_set = graph.start_closure(names).map_err(|e| unknown(ACTION, e))?;
        let start_order = graph.order(&start_set).map_err(|e| looped(ACTION, e))?;
        let change = self.changes.create(
            ACTION,
            summary("Restart", &names[0], start_set.len()),
            names.to_vec(),
            now,
        );
        let stops = self.add_stop_tasks(change, &stop_order, now);
        self.add_start_tasks(change, &start_order, &stops, now);
        self.changes.publish(change, now);
        self.settle(now);
        Ok(change)
    }

    /// Starts every `startup: enabled` service and what it requires: an
    /// `autostart` change.
    ///
    /// # Errors
    ///
    /// [`ActionError::NoDefaultServices`] when no service is enabled, or a
    /// shutdown in progress.
    pub fn autostart(&mut self, now: Now) -> Result<ChangeId, ActionError> {
        self.refuse_during_shutdown()?;
        let enabled = self.enabled_services();
        if enabled.is_empty() {
            return Err(ActionError::NoDefaultServices);
        }
        self.start_change("autostart", "Autostart", &enabled, now)
    }

    /// Boot step 7 (§11): autostart unless `hold`; no change when no service
    /// is enabled.
    pub fn boot(&mut self, now: Now, hold: bool) -> Option<ChangeId> {
        if hold {
            self.log(
                LogLevel::Info,
                "Holding: services are not started automatically".into(),
            );
            return None;
        }
        self.autostart(now).ok()
    }

    /// Aborts change `id` (api.md §7): pending tasks go to `Hold`, a start
    /// waiting out its okay delay is killed, a stop in progress runs to
    /// completion. Returns the change as it is now.
    ///
    /// # Errors
    ///
    /// An unknown id, a change that is ready, or a shutdown in progress.
    pub fn abort(&mut self, id: ChangeId, now: Now) -> Result<Change, ActionError> {
        self.refuse_during_shutdown()?;
        let aborted = self.changes.abort(id, now).map_err(|e| match e {
            AbortError::NotFound(id) => ActionError::ChangeNotFound(id),
            AbortError::NothingPending(id) => ActionError::NothingPending(id),
        })?;
        self.drop_stale_work();
        for task in aborted {
            let owner = self
                .services
                .values()
                .find(|s| s.start_task == Some(task))
                .map(|s| s.name.clone());
            // A stop task has no owner here: it runs to completion.
            if let Some(name) = owner {
                self.deliver(&name, Event::AbortStart, now);
            }
        }
        self.settle(now);
        self.changes
            .change(id)
            .ok_or(ActionError::ChangeNotFound(id))
    }

    /// `POST /v1/signals` (D28): sends `signal` to the main process of each
    /// named service that is starting or running.
    ///
    /// # Errors
    ///
    /// The per-service errors joined with `; `, for example
    /// `cannot send signal to "web": service is not running` (names not in
    /// the plan included); the others still get the signal.
    pub fn send_signal(&mut self, names: &[String], signal: Signal) -> Result<(), String> {
        let mut errors = Vec::new();
        for name in names {
            let pid = self
                .services
                .get(name)
                .filter(|s| s.state.is_active())
                .and_then(|s| s.state.pid());
            match pid {
                Some(pid) => {
                    self.effects.push_back(Effect::Signal {
                        service: name.clone(),
                        pid,
                        signal,
                        group: false,
                    });
                }
                None => errors.push(format!(
                    "cannot send signal to {}: service is not running",
                    quote(name)
                )),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Begins daemon shutdown (§12), to exit with `code` (§13): every
    /// pending change is aborted, then every service with a process is
    /// stopped in reverse dependency order, lanes in parallel, each with its
    /// own stop signal and kill delay. [`Effect::Exit`] follows once all are
    /// down. Only the first trigger decides the code; later calls do
    /// nothing.
    pub fn shutdown(&mut self, code: u8, now: Now) {
        if self.shutdown.is_none() {
            self.begin_shutdown(code, now);
            self.settle(now);
        }
    }

    /// A second SIGTERM, SIGINT or SIGQUIT during shutdown (§12): every
    /// remaining service group gets SIGKILL now, and [`Effect::Exit`] comes
    /// as soon as they are reaped (or given up on after 5 s). Begins the
    /// shutdown with code 0 if it had not begun.
    pub fn kill_all(&mut self, now: Now) {
        if self.shutdown.is_none() {
            self.begin_shutdown(0, now);
        }
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in &names {
            self.deliver(name, Event::KillNow, now);
        }
        if let Some(shutdown) = self.shutdown.as_mut() {
            shutdown.abandon_order();
        }
        self.settle(now);
    }

    pub(super) fn start_change(
        &mut self,
        action: &'static str,
        title: &str,
        names: &[String],
        now: Now,
    ) -> Result<ChangeId, ActionError> {
        // Errors name the action as requested, as Pebble's
        // `cannot %s services: %v` does.
        self.refuse_during_shutdown()?;
        require_names(action, names)?;
        let graph = Graph::of_plan(&self.plan);
        let set = graph.start_closure(names).map_err(|e| unknown(action, e))?;
        let order = graph.order(&set).map_err(|e| looped(action, e))?;
        let change = self.changes.create(
            action,
            summary(title, &names[0], set.len()),
            names.to_vec(),
            now,
        );
        self.add_start_tasks(change, &order, &[], now);
        self.changes.publish(change, now);
        self.settle(now);
        Ok(change)
    }
}

pub(super) fn require_names(action: &'static str, names: &[String]) -> Result<(), ActionError> {
    if names.is_empty() {
        Err(ActionError::NoServices { action })
    } else {
        Ok(())
    }
}

pub(super) fn unknown(action: &'static str, error: UnknownService) -> ActionError {
    ActionError::UnknownService {
        action,
        name: error.0,
    }
}

pub(super) fn looped(action: &'static str, error: OrderLoop) -> ActionError {
    ActionError::OrderLoop {
        action,
        services: error.0,
    }
}

/// A change summary (§8): `Start service "web"`, or
/// `Start service "web" and 2 more` when the resolved set has 3.
pub(super) fn summary(title: &str, first: &str, count: usize) -> String {
    match count {
        0 | 1 => format!("{title} service {}", quote(first)),
        n => format!("{title} service {} and {} more", quote(first), n - 1),
    }
}
