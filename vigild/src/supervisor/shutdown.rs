//! Daemon shutdown (spec supervision.md §12, steps 1, 2 and 4): record the
//! exit code, abort every pending change, then stop every service that has a
//! process in reverse dependency order, lanes in parallel, and say
//! [`Effect::Exit`] once all are down.
//!
//! Shutdown is not a change: a stop task that fails would hold the rest of
//! its lane, and shutdown must stop everything. A service's stop begins
//! once every service that must stop before it (the stop order of §8 over
//! all live services) is down, or has been given up on 5 s after SIGKILL.
//! Each service gets its own stop signal and its full kill delay.
//!
//! Decision: a start task that is still in its okay delay when shutdown
//! begins is not SIGKILLed as an abort would do (§4); the service is
//! stopped with its own stop signal like every other, which fails its start
//! task with `stopped before the 1s okay delay`.

use std::collections::BTreeSet;

use super::lanes::{Graph, OrderLoop};
use super::service::{Event, State};
use super::{Effect, LogLevel, Now, Supervisor};

/// A shutdown in progress.
#[derive(Debug)]
pub(crate) struct Shutdown {
    /// The exit code the first trigger decided.
    code: u8,
    /// The services whose stop has not begun, each with the services that
    /// must be down before it begins.
    pending: Vec<(String, Vec<String>)>,
    /// Whether [`Effect::Exit`] was sent.
    exit_sent: bool,
}

impl Shutdown {
    /// Drops the order: every remaining service is being killed at once.
    pub(crate) fn abandon_order(&mut self) {
        self.pending.clear();
    }
}

/// Whether a service no longer holds up the shutdown: it has no process, or
/// the stop gave up on a process that ignores SIGKILL.
fn is_down(state: State) -> bool {
    !state.is_live() || matches!(state, State::Killing { fail_at: None, .. })
}

impl Supervisor {
    /// Steps 1 and 2, and the plan of step 4.
    pub(super) fn begin_shutdown(&mut self, code: u8, now: Now) {
        self.log(
            LogLevel::Info,
            format!("Shutting down (exit code {code}): stopping services"),
        );
        self.changes.abort_all(now);
        self.drop_stale_work();
        // Services in backoff are simply cancelled.
        let waiting: Vec<String> = self
            .services
            .values()
            .filter(|s| matches!(s.state, State::Backoff { .. }))
            .map(|s| s.name.clone())
            .collect();
        for name in &waiting {
            self.deliver(name, Event::Stop { task: None }, now);
        }
        let live: BTreeSet<String> = self
            .services
            .values()
            .filter(|s| s.state.is_live())
            .map(|s| s.name.clone())
            .collect();
        // Order by the active configs: a removed service still running has
        // no entry in the plan, and a running service follows the relations
        // it was started with.
        let graph = Graph::of(
            self.services
                .values()
                .map(|s| (s.name.as_str(), &s.active.relations)),
        );
        let pending = match graph.order(&live) {
            Ok(order) => order.stop_waits(),
            Err(OrderLoop(members)) => {
                // Possible only across plans (a service started under an
                // old plan, another under the new one): stop all at once
                // rather than not at all.
                self.log(
                    LogLevel::Warning,
                    format!(
                        "services in before/after loop: {}; stopping them in parallel",
                        members.join(", ")
                    ),
                );
                live.iter().map(|name| (name.clone(), Vec::new())).collect()
            }
        };
        self.shutdown = Some(Shutdown {
            code,
            pending,
            exit_sent: false,
        });
    }

    /// Begins the stops whose predecessors are down, and sends
    /// [`Effect::Exit`] once every service is.
    pub(super) fn advance_shutdown(&mut self, now: Now) -> bool {
        let Some(shutdown) = self.shutdown.as_mut() else {
            return false;
        };
        if shutdown.exit_sent {
            return false;
        }
        let mut pending = std::mem::take(&mut shutdown.pending);
        let mut progressed = false;
        loop {
            let services = &self.services;
            let down = |name: &String| services.get(name).is_none_or(|s| is_down(s.state));
            let ready: Vec<String> = pending
                .iter()
                .filter(|(_, before)| before.iter().all(down))
                .map(|(name, _)| name.clone())
                .collect();
            if ready.is_empty() {
                break;
            }
            pending.retain(|(name, _)| !ready.contains(name));
            for name in &ready {
                self.deliver(name, Event::Stop { task: None }, now);
            }
            progressed = true;
        }
        let all_down = pending.is_empty() && self.services.values().all(|s| is_down(s.state));
        let Some(shutdown) = self.shutdown.as_mut() else {
            return progressed;
        };
        shutdown.pending = pending;
        if all_down {
            shutdown.exit_sent = true;
            let code = shutdown.code;
            self.log(
                LogLevel::Info,
                format!("All services are down; exiting with code {code}"),
            );
            self.effects.push_back(Effect::Exit { code });
            progressed = true;
        }
        progressed
    }
}
