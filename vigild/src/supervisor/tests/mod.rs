//! The core's tests, through its front door: commands and inputs in, effects
//! and API objects out, on the [`Harness`](super::harness::Harness)'s
//! virtual clock. Section numbers refer to the spec's supervision.md.

mod actions;
mod backoff;
mod changes;
mod lifecycle;
mod ordering;
mod replan;
mod shutdown;

use vigil_proto::api::{Change, ChangeStatus};

/// One service with every default.
const WEB: &str = "services:\n  web:\n    command: webd --port 80\n";

/// The task log lines of task `index`, without their time stamps.
fn task_log(change: &Change, index: usize) -> Vec<String> {
    change.tasks[index]
        .log
        .iter()
        .map(|line| {
            line.split_once(' ')
                .map_or(line.clone(), |(_, rest)| rest.to_owned())
        })
        .collect()
}

/// The statuses of a change's tasks, with their summaries.
fn task_statuses(change: &Change) -> Vec<(String, ChangeStatus)> {
    change
        .tasks
        .iter()
        .map(|t| (t.summary.clone(), t.status))
        .collect()
}

/// A summary/status pair.
fn st(summary: &str, status: ChangeStatus) -> (String, ChangeStatus) {
    (summary.to_owned(), status)
}
