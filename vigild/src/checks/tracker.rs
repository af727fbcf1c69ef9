//! The changes of running checks (checks-and-alerts.md §6): which
//! `perform-check` or `recover-check` change each check runs under, and
//! applying the scheduler's lifecycle effects to the supervisor's change
//! store.

use std::collections::BTreeMap;

use vigil_proto::api::{self, ChangeId, ServiceStartup, TaskId, quote};
use vigil_proto::plan::{CheckLevel, Startup};

use super::{CheckInfo, CheckStatus, LogLevel};
use crate::supervisor::{CheckTaskEnd, Now, Supervisor};

/// The change of each running check.
#[derive(Debug, Default)]
pub struct Tracker {
    open: BTreeMap<String, Open>,
}

#[derive(Debug)]
struct Open {
    change: ChangeId,
    task: Option<TaskId>,
    /// The change this one followed: the failed `perform-check` of a
    /// `recover-check`, the recovered `recover-check` of a `perform-check`.
    prev: Option<ChangeId>,
    /// The change has ended (down or up) and the next one is about to open.
    ended: bool,
}

impl Tracker {
    /// The check whose open change is `change`, if any.
    #[must_use]
    pub fn check_of(&self, change: ChangeId) -> Option<&str> {
        self.open
            .iter()
            .find(|(_, open)| open.change == change && !open.ended)
            .map(|(name, _)| name.as_str())
    }

    /// The API object of a check: the scheduler's view plus its change ids,
    /// present exactly when the check is running.
    #[must_use]
    pub fn info(&self, check: &CheckInfo) -> api::CheckInfo {
        let open = self
            .open
            .get(&check.name)
            .filter(|_| check.status != CheckStatus::Inactive);
        api::CheckInfo {
            name: check.name.clone(),
            level: check.level.map(|level| match level {
                CheckLevel::Alive => api::CheckLevel::Alive,
                CheckLevel::Ready => api::CheckLevel::Ready,
            }),
            startup: match check.startup {
                Startup::Enabled => ServiceStartup::Enabled,
                Startup::Disabled => ServiceStartup::Disabled,
            },
            status: match check.status {
                CheckStatus::Up => api::CheckStatus::Up,
                CheckStatus::Down => api::CheckStatus::Down,
                CheckStatus::Inactive => api::CheckStatus::Inactive,
            },
            successes: check.successes,
            failures: check.failures,
            threshold: check.threshold,
            change_id: open.map(|o| o.change),
            prev_change_id: open.and_then(|o| o.prev),
        }
    }

    /// [`Effect::Opened`](super::Effect::Opened): a new change for `check`.
    pub fn opened(
        &mut self,
        supervisor: &mut Supervisor,
        check: &str,
        recovering: bool,
        probe_kind: &str,
        now: Now,
    ) {
        let (kind, verb) = if recovering {
            ("recover-check", "Recover")
        } else {
            ("perform-check", "Perform")
        };
        let summary = format!("{verb} {probe_kind} check {}", quote(check));
        let prev = self.open.remove(check).map(|open| open.change);
        let (change, task) = supervisor.open_check_change(kind, summary, now);
        self.open.insert(
            check.to_owned(),
            Open {
                change,
                task,
                prev,
                ended: false,
            },
        );
    }

    /// [`Effect::Closed`](super::Effect::Closed): the check stopped; its
    /// change ends `Hold`.
    pub fn closed(&mut self, supervisor: &mut Supervisor, check: &str, now: Now) {
        if let Some(open) = self.open.remove(check)
            && let (Some(task), false) = (open.task, open.ended)
        {
            supervisor.end_check_task(task, CheckTaskEnd::Hold, now);
        }
    }

    /// [`Effect::TaskLog`](super::Effect::TaskLog).
    pub fn log(
        &mut self,
        supervisor: &mut Supervisor,
        check: &str,
        level: LogLevel,
        text: String,
        now: Now,
    ) {
        if let Some(Open {
            task: Some(task),
            ended: false,
            ..
        }) = self.open.get(check)
        {
            let error = matches!(level, LogLevel::Error | LogLevel::Warning);
            supervisor.log_check_task(*task, error, text, now);
        }
    }

    /// [`Effect::Down`](super::Effect::Down) or [`Effect::Up`](super::Effect::Up):
    /// the change ends `Error` or `Done`.
    pub fn ended(&mut self, supervisor: &mut Supervisor, check: &str, down: bool, now: Now) {
        if let Some(open) = self.open.get_mut(check)
            && !open.ended
        {
            open.ended = true;
            if let Some(task) = open.task {
                let end = if down {
                    CheckTaskEnd::Error
                } else {
                    CheckTaskEnd::Done
                };
                supervisor.end_check_task(task, end, now);
            }
        }
    }
}
