//! Applying the alerts' effects: jobs go to the delivery queue, outcomes
//! come back from it (checks-and-alerts.md §14), log lines go to vigild's
//! log.

use super::{Reactor, log_level};
use crate::alerts::firing::Effect;

impl Reactor {
    /// Applies what the alerts asked for; returns whether there was
    /// anything.
    pub(super) fn apply_alert_effects(&mut self) -> bool {
        let limits = self.state.alerts.limits();
        if self.queue_limits != Some(limits) {
            self.delivery.set_limits(limits.depth, limits.max_age);
            self.queue_limits = Some(limits);
        }
        let mut any = false;
        while let Some(effect) = self.state.alerts.poll_effect() {
            any = true;
            match effect {
                Effect::Deliver(job) => self.delivery.submit(*job),
                Effect::Log {
                    level,
                    alert,
                    message,
                } => self.log(log_level(level), &message, &[("alert", &alert)]),
            }
        }
        any
    }

    /// Takes the outcomes that delivery reported.
    pub(super) fn collect_alert_outcomes(&mut self) {
        let outcomes: Vec<_> = self.delivery.outcomes().collect();
        for outcome in outcomes {
            self.state.alerts.handle_outcome(&outcome);
        }
    }
}
