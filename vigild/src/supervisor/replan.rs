//! Replan (spec supervision.md §9): make the running services match a new
//! plan with one `replan` change.
//!
//! - A service no longer in the plan gets a stop task if it has a process,
//!   and is forgotten once it has none.
//! - A service whose config differs from its active config is stopped and
//!   started again, **only if** it is starting, running or in backoff
//!   (**decision D9**; Pebble restarts it whatever its state). A stopped
//!   service picks up its new config at its next start.
//! - Every `startup: enabled` service that is not starting or running is
//!   started, with what it requires, including services an operator stopped:
//!   replan means "converge to the plan".
//! - Everything else keeps its process.
//!
//! Stops touch only the changed and removed services, never their
//! dependents, as a restart does (§8): a replan of `db` does not stop `web`.
//! The start tasks wait for every stop task.

use std::collections::{BTreeMap, BTreeSet};

use vigil_proto::api::{ChangeId, TaskId, quote};
use vigil_proto::plan::{Plan, Startup};

use super::commands::{looped, summary, unknown};
use super::config::ServiceConfig;
use super::lanes::Graph;
use super::service::{Event, ServiceRecord, State};
use super::tasks::Action;
use super::{ActionError, LogLevel, Now, Supervisor};

/// What a new plan changes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Diff {
    /// Services to stop: changed ones that are active or in backoff, and
    /// removed ones with a process.
    stop: BTreeSet<String>,
    /// Services to start: changed ones as above, and enabled ones that are
    /// not starting or running, with what they require.
    start: BTreeSet<String>,
    /// Services no longer in the plan.
    removed: BTreeSet<String>,
}

/// Compares the services with `plan` (pure: nothing changes yet).
fn diff(
    services: &BTreeMap<String, ServiceRecord>,
    plan: &Plan,
    args: &[(String, Vec<String>)],
) -> Result<Diff, ActionError> {
    let mut diff = Diff::default();
    let mut restart = BTreeSet::new();
    for (name, record) in services {
        match ServiceConfig::resolve(plan, name, args) {
            None => {
                diff.removed.insert(name.clone());
                if record.state.is_live() {
                    diff.stop.insert(name.clone());
                }
            }
            Some(config) => {
                let restartable =
                    record.state.is_active() || matches!(record.state, State::Backoff { .. });
                if restartable && !record.active.same_as(&config) {
                    restart.insert(name.clone());
                }
            }
        }
    }
    let is_active = |name: &String| services.get(name).is_some_and(|s| s.state.is_active());
    let enabled: Vec<String> = plan
        .services()
        .iter()
        .filter(|(name, s)| s.startup == Some(Startup::Enabled) && !is_active(name))
        .map(|(name, _)| name.clone())
        .collect();
    let wanted: Vec<String> = restart.iter().cloned().chain(enabled).collect();
    let graph = Graph::of_plan(plan);
    let closure = graph
        .start_closure(&wanted)
        .map_err(|e| unknown("replan", e))?;
    // Requirements that already run, unchanged, keep running untouched.
    diff.start = closure
        .into_iter()
        .filter(|name| restart.contains(name) || !is_active(name))
        .collect();
    diff.stop.extend(restart);
    Ok(diff)
}

impl Supervisor {
    /// Replaces the plan with `plan` and makes the services match it (§9):
    /// one `replan` change, or `Replan - no services`, `Done` at once, when
    /// nothing needs doing. Reloading the layers, and refusing a bad set, is
    /// the caller's; only a valid plan gets here.
    ///
    /// # Errors
    ///
    /// A shutdown in progress. (An order loop cannot pass plan validation;
    /// it would be refused here before anything changed.)
    pub fn replan(&mut self, plan: Plan, now: Now) -> Result<ChangeId, ActionError> {
        const ACTION: &str = "replan";
        self.refuse_during_shutdown()?;
        let diff = diff(&self.services, &plan, &self.options.args)?;
        let start_order = Graph::of_plan(&plan)
            .order(&diff.start)
            .map_err(|e| looped(ACTION, e))?;

        // Commit: from here on nothing fails.
        self.plan = plan;
        for (name, record) in &mut self.services {
            if diff.removed.contains(name) {
                record.removed = true;
            } else if let Some(config) =
                ServiceConfig::resolve(&self.plan, name, &self.options.args)
            {
                record.removed = false;
                // Same in every compared key: take the descriptive ones too.
                if record.active.same_as(&config) {
                    record.active = config;
                }
            }
        }
        for name in self.plan.services().keys() {
            if !self.services.contains_key(name)
                && let Some(config) = ServiceConfig::resolve(&self.plan, name, &self.options.args)
            {
                self.services
                    .insert(name.clone(), ServiceRecord::new(name, config));
            }
        }
        // A removed service waiting out a backoff has no process: cancel it
        // so that it is forgotten.
        let cancelled: Vec<String> = diff
            .removed
            .iter()
            .filter(|n| {
                self.services
                    .get(*n)
                    .is_some_and(|s| matches!(s.state, State::Backoff { .. }))
            })
            .cloned()
            .collect();
        for name in &cancelled {
            self.deliver(name, Event::Stop { task: None }, now);
        }
        for name in &diff.removed {
            self.log(
                LogLevel::Info,
                format!("Service {} removed from the plan", quote(name)),
            );
        }

        let touched: Vec<String> = diff.stop.union(&diff.start).cloned().collect();
        let change = if touched.is_empty() {
            self.changes
                .create_done(ACTION, "Replan - no services".to_owned(), now)
        } else {
            // The stop order comes from the active configs: a removed
            // service has no entry in the new plan.
            let stop_graph = Graph::of(
                self.services
                    .values()
                    .map(|s| (s.name.as_str(), &s.active.relations)),
            );
            let change = self.changes.create(
                ACTION,
                summary("Replan", &touched[0], touched.len()),
                touched.clone(),
                now,
            );
            let stops = match stop_graph.order(&diff.stop) {
                Ok(stop_order) => self.add_stop_tasks(change, &stop_order, now),
                // A loop across the old and new plans: stop them all at once.
                Err(_) => self.add_unordered_stops(change, &diff.stop, now),
            };
            self.add_start_tasks(change, &start_order, &stops, now);
            self.changes.publish(change, now);
            change
        };
        self.settle(now);
        Ok(change)
    }

    /// Replaces the plan with `plan` without touching any process (spec
    /// layers.md §2.4: a layer added through the API changes the plan at
    /// once, and changed config takes effect at the next start, restart or
    /// replan). New services appear stopped; a service without a process
    /// takes its new config now, one with a process keeps the config it was
    /// started with. A service no longer in the plan is forgotten once it
    /// has no process (an added layer cannot remove one, but the rule keeps
    /// the method total).
    pub fn update_plan(&mut self, plan: Plan, now: Now) {
        self.plan = plan;
        for (name, record) in &mut self.services {
            match ServiceConfig::resolve(&self.plan, name, &self.options.args) {
                None => record.removed = true,
                Some(config) => {
                    record.removed = false;
                    if !record.state.is_live() || record.active.same_as(&config) {
                        record.active = config;
                    }
                }
            }
        }
        for name in self.plan.services().keys() {
            if !self.services.contains_key(name)
                && let Some(config) = ServiceConfig::resolve(&self.plan, name, &self.options.args)
            {
                self.services
                    .insert(name.clone(), ServiceRecord::new(name, config));
            }
        }
        self.settle(now);
    }

    /// Stop tasks with no order among them, for a stop set whose relations
    /// loop (possible only between an old and a new plan).
    fn add_unordered_stops(
        &mut self,
        change: ChangeId,
        names: &BTreeSet<String>,
        now: Now,
    ) -> Vec<TaskId> {
        let waits: Vec<(String, Vec<String>)> =
            names.iter().map(|n| (n.clone(), Vec::new())).collect();
        self.add_tasks(change, &waits, Action::Stop, &[], now)
    }
}
