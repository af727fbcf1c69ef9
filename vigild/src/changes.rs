//! Pebble's changes and tasks (spec api.md §7): ids, task statuses and waits,
//! the status a change derives from its tasks, task logs, abort, and the
//! bounded history.
//!
//! A [`Changes`] store is pure bookkeeping. It never runs a task: whoever
//! owns the store (the supervisor) asks it which tasks may run
//! ([`Changes::scan`]), does the work, and reports the outcome
//! ([`Changes::finish`], [`Changes::fail`]). The store then derives each
//! change's status and queues a [`ChangeUpdate`] for every transition, which
//! its owner turns into notices and answers to parked `/wait` requests.
//!
//! Like the rest of the core it never reads a clock: every mutation takes a
//! [`Now`]. Wall times are kept as [`SystemTime`] and shown at the offset
//! given to [`Changes::new`]; the monotonic time of readiness decides when a
//! ready change has aged out.
//!
//! Bounds (DESIGN.md invariant 4): at most [`Changes::limit`] changes (see
//! [`MAX_CHANGES`]), ready changes expire after [`MAX_READY_AGE`], and a
//! task keeps its last [`MAX_TASK_LOG_LINES`] log lines.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use vigil_proto::api::{
    Change, ChangeId, ChangeSelect, ChangeStatus, Task, TaskId, TaskLogLevel, TaskProgress,
    Timestamp, UtcOffset,
};

use crate::supervisor::Now;

/// How many changes are kept. Creating one more prunes the oldest **ready**
/// changes first; changes that are not ready are never pruned, so the bound
/// can be passed while that many changes are still running (spec api.md §7,
/// "Retention"). A thousand changes of a few tasks each is well under a
/// megabyte, and far more history than `vigil changes` users scroll through.
pub const MAX_CHANGES: usize = 1000;

/// How long a ready change is kept (spec api.md §7: "ready changes older than
/// 7 days are removed"). The store reports the exact moment the oldest one
/// expires through [`Changes::next_expiry`] instead of waking every ten
/// minutes, so an idle daemon has no wake-ups.
pub const MAX_READY_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How many log lines a task keeps; older lines are dropped (spec api.md §7,
/// "Only the last 10 lines are kept").
pub const MAX_TASK_LOG_LINES: usize = 10;

/// Pebble's priority of task statuses (`statusOrder` in
/// `internals/overlord/state/change.go`): a change has the first status in
/// this list that any of its tasks has. Every status but `Default` is here;
/// the test `status_order_is_complete` checks it, as Pebble's `init()` does.
const STATUS_ORDER: [ChangeStatus; 10] = [
    ChangeStatus::Abort,
    ChangeStatus::Undoing,
    ChangeStatus::Undo,
    ChangeStatus::Doing,
    ChangeStatus::Do,
    ChangeStatus::Wait,
    ChangeStatus::Error,
    ChangeStatus::Undone,
    ChangeStatus::Done,
    ChangeStatus::Hold,
];

/// The status of a change whose tasks have `statuses`, by Pebble's priority
/// order (`Abort`, `Undoing`, `Undo`, `Doing`, `Do`, `Wait`, `Error`,
/// `Undone`, `Done`, `Hold`);
/// `None` when there are no tasks (the caller decides, spec api.md §7).
#[must_use]
pub fn derive_status(statuses: impl IntoIterator<Item = ChangeStatus>) -> Option<ChangeStatus> {
    let mut present = [false; STATUS_ORDER.len()];
    let mut any = false;
    for status in statuses {
        any = true;
        if let Some(index) = STATUS_ORDER.iter().position(|s| *s == status) {
            present[index] = true;
        }
    }
    if !any {
        return None;
    }
    // A task in `Default` cannot exist here (tasks are created in `Do`); if
    // one did, the change would read as `Do`, still pending.
    Some(
        STATUS_ORDER
            .iter()
            .zip(present)
            .find_map(|(status, here)| here.then_some(*status))
            .unwrap_or(ChangeStatus::Do),
    )
}

/// A change whose derived status moved since the last
/// [`Changes::take_updates`]. Statuses that came and went between two calls
/// (a change that went `Doing`, `Do`, `Error` within one input) are not
/// reported: nobody could have observed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeUpdate {
    /// The change.
    pub change: ChangeId,
    /// Its new status.
    pub status: ChangeStatus,
    /// Whether this transition made the change ready for the first time:
    /// parked `/v1/changes/{id}/wait` requests can now be answered.
    pub became_ready: bool,
}

/// Why an abort was refused (spec api.md §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortError {
    /// No change has this id (404 `cannot find change with id "99"`).
    NotFound(ChangeId),
    /// The change is already ready (400
    /// `cannot abort change 17 with nothing pending`).
    NothingPending(ChangeId),
}

impl fmt::Display for AbortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(id) => write!(f, "cannot find change with id \"{id}\""),
            Self::NothingPending(id) => write!(f, "cannot abort change {id} with nothing pending"),
        }
    }
}

impl std::error::Error for AbortError {}

/// What [`Changes::scan`] found among the pending tasks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Tasks in `Do` whose prerequisites have all finished `Done`: they may
    /// run now, in this order (by id, so in the order they were made).
    pub runnable: Vec<TaskId>,
    /// Tasks in `Do` with a prerequisite that ended `Error` or `Hold`: they
    /// must go to `Hold` without running.
    pub blocked: Vec<TaskId>,
}

/// Every change and task, with their statuses and history.
#[derive(Debug)]
pub struct Changes {
    changes: BTreeMap<ChangeId, ChangeRecord>,
    tasks: BTreeMap<TaskId, TaskRecord>,
    /// The changes that are not ready, the only ones with work left.
    in_progress: BTreeSet<ChangeId>,
    /// The changes whose status was derived since the last
    /// [`take_updates`](Self::take_updates).
    touched: BTreeSet<ChangeId>,
    last_change: u64,
    last_task: u64,
    limit: usize,
    offset: UtcOffset,
}

#[derive(Debug)]
struct ChangeRecord {
    kind: String,
    summary: String,
    /// The requested service names, shown as `data.service-names` and used
    /// by the `for=` filter.
    service_names: Vec<String>,
    tasks: Vec<TaskId>,
    /// A change made with no tasks on purpose ("Replan - no services") is
    /// `Done`; any other change with no tasks is `Hold`.
    done_when_empty: bool,
    spawn_time: SystemTime,
    /// When the change first became ready, on both clocks.
    ready_at: Option<(SystemTime, Instant)>,
    /// The status last derived.
    status: ChangeStatus,
    /// The status last given out by [`Changes::take_updates`].
    reported: ChangeStatus,
}

#[derive(Debug)]
struct TaskRecord {
    change: ChangeId,
    kind: String,
    summary: String,
    status: ChangeStatus,
    log: VecDeque<LogLine>,
    /// Tasks of the same change that must finish `Done` before this one runs.
    waits: Vec<TaskId>,
    spawn_time: SystemTime,
    ready_time: Option<SystemTime>,
}

#[derive(Debug)]
struct LogLine {
    at: SystemTime,
    level: TaskLogLevel,
    text: String,
}

impl Changes {
    /// An empty store that keeps at most `limit` changes (at least one) and
    /// shows times at `offset` from UTC.
    #[must_use]
    pub fn new(limit: usize, offset: UtcOffset) -> Self {
        Self {
            changes: BTreeMap::new(),
            tasks: BTreeMap::new(),
            in_progress: BTreeSet::new(),
            touched: BTreeSet::new(),
            last_change: 0,
            last_task: 0,
            limit: limit.max(1),
            offset,
        }
    }

    /// The most changes kept.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many changes are kept now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether no change is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// A change's API object, or `None` when there is no such change (or it
    /// was pruned).
    #[must_use]
    pub fn change(&self, id: ChangeId) -> Option<Change> {
        self.changes
            .get(&id)
            .map(|record| self.snapshot(id, record))
    }

    /// The changes `select` picks, limited to those whose `service-names`
    /// hold `service` when it is given, sorted by id.
    #[must_use]
    pub fn list(&self, select: ChangeSelect, service: Option<&str>) -> Vec<Change> {
        self.changes
            .iter()
            .filter(|(_, record)| select.selects(record.status.is_ready()))
            .filter(|(_, record)| {
                service.is_none_or(|name| record.service_names.iter().any(|n| n == name))
            })
            .map(|(id, record)| self.snapshot(*id, record))
            .collect()
    }

    /// The status of a task, or `None` for an unknown task.
    #[must_use]
    pub fn task_status(&self, task: TaskId) -> Option<ChangeStatus> {
        self.tasks.get(&task).map(|t| t.status)
    }

    /// The change a task belongs to.
    #[must_use]
    pub fn task_change(&self, task: TaskId) -> Option<ChangeId> {
        self.tasks.get(&task).map(|t| t.change)
    }

    /// Whether a change is ready (`Done`, `Error` or `Hold`); `None` for an
    /// unknown change.
    #[must_use]
    pub fn is_ready(&self, change: ChangeId) -> Option<bool> {
        self.changes.get(&change).map(|c| c.status.is_ready())
    }

    /// Makes a change with no tasks yet. Add them with
    /// [`add_task`](Self::add_task) before the store is scanned: until then
    /// the change reads as `Hold`, as in Pebble.
    pub fn create(
        &mut self,
        kind: &str,
        summary: String,
        service_names: Vec<String>,
        now: Now,
    ) -> ChangeId {
        self.make_room();
        self.last_change += 1;
        let id = ChangeId::new(self.last_change);
        self.changes.insert(
            id,
            ChangeRecord {
                kind: kind.to_owned(),
                summary,
                service_names,
                tasks: Vec::new(),
                done_when_empty: false,
                spawn_time: now.wall,
                ready_at: None,
                // Not derived yet: the first refresh reports the real status.
                status: ChangeStatus::Default,
                reported: ChangeStatus::Default,
            },
        );
        self.in_progress.insert(id);
        id
    }

    /// Makes a change that has nothing to do and is `Done` at once, such as
    /// `Replan - no services`.
    pub fn create_done(&mut self, kind: &str, summary: String, now: Now) -> ChangeId {
        let id = self.create(kind, summary, Vec::new(), now);
        if let Some(record) = self.changes.get_mut(&id) {
            record.done_when_empty = true;
        }
        self.refresh(id, now);
        id
    }

    /// Adds a task in `Do` to `change`, to run once every task in `waits` has
    /// finished `Done`. Returns `None` when the change does not exist.
    pub fn add_task(
        &mut self,
        change: ChangeId,
        kind: &str,
        summary: String,
        waits: Vec<TaskId>,
        now: Now,
    ) -> Option<TaskId> {
        let record = self.changes.get_mut(&change)?;
        self.last_task += 1;
        let id = TaskId::new(self.last_task);
        record.tasks.push(id);
        self.tasks.insert(
            id,
            TaskRecord {
                change,
                kind: kind.to_owned(),
                summary,
                status: ChangeStatus::Do,
                log: VecDeque::new(),
                waits,
                spawn_time: now.wall,
                ready_time: None,
            },
        );
        Some(id)
    }

    /// Makes `task` also wait for `prerequisite` (a task of the same change).
    pub fn add_wait(&mut self, task: TaskId, prerequisite: TaskId) {
        if let Some(record) = self.tasks.get_mut(&task)
            && !record.waits.contains(&prerequisite)
        {
            record.waits.push(prerequisite);
        }
    }

    /// Derives the status of a change whose tasks are all added, queuing its
    /// first update. Call it once, after the last [`add_task`](Self::add_task).
    pub fn publish(&mut self, change: ChangeId, now: Now) {
        self.refresh(change, now);
    }

    /// The pending tasks that may run now and those that never will
    /// (spec api.md §7, "Waits").
    #[must_use]
    pub fn scan(&self) -> Scan {
        let mut scan = Scan::default();
        for change in &self.in_progress {
            let Some(record) = self.changes.get(change) else {
                continue;
            };
            for id in &record.tasks {
                let Some(task) = self.tasks.get(id) else {
                    continue;
                };
                if task.status != ChangeStatus::Do {
                    continue;
                }
                let mut all_done = true;
                let mut failed = false;
                for wait in &task.waits {
                    match self.tasks.get(wait).map(|t| t.status) {
                        Some(ChangeStatus::Done) => {}
                        Some(ChangeStatus::Error | ChangeStatus::Hold) => failed = true,
                        // Still pending or running: keep waiting. A
                        // prerequisite that vanished cannot happen (tasks go
                        // only with their change); it blocks rather than
                        // letting the task run out of order.
                        Some(
                            ChangeStatus::Default
                            | ChangeStatus::Do
                            | ChangeStatus::Doing
                            | ChangeStatus::Wait
                            | ChangeStatus::Abort
                            | ChangeStatus::Undo
                            | ChangeStatus::Undoing
                            | ChangeStatus::Undone,
                        )
                        | None => all_done = false,
                    }
                }
                if failed {
                    scan.blocked.push(*id);
                } else if all_done {
                    scan.runnable.push(*id);
                }
            }
        }
        scan.runnable.sort_unstable();
        scan.blocked.sort_unstable();
        scan
    }

    /// Moves a task from `Do` to `Doing`.
    pub fn begin(&mut self, task: TaskId, now: Now) {
        self.set_status(task, ChangeStatus::Doing, now);
    }

    /// Adds an `INFO` line to a task's log.
    pub fn log(&mut self, task: TaskId, text: impl Into<String>, now: Now) {
        self.push_log(task, TaskLogLevel::Info, text.into(), now);
    }

    /// Marks a task `Done`.
    pub fn finish(&mut self, task: TaskId, now: Now) {
        self.set_status(task, ChangeStatus::Done, now);
    }

    /// Logs `error` as an `ERROR` line and marks the task `Error`.
    pub fn fail(&mut self, task: TaskId, error: impl Into<String>, now: Now) {
        self.push_log(task, TaskLogLevel::Error, error.into(), now);
        self.set_status(task, ChangeStatus::Error, now);
    }

    /// Adds an `ERROR` line to a task's log without ending it (a check's
    /// failed probe below its threshold).
    pub fn log_error(&mut self, task: TaskId, text: impl Into<String>, now: Now) {
        self.push_log(task, TaskLogLevel::Error, text.into(), now);
    }

    /// Marks a task `Error` whose log already says why (a check reaching its
    /// threshold logged the failure with [`log_error`](Self::log_error)).
    pub fn fail_logged(&mut self, task: TaskId, now: Now) {
        self.set_status(task, ChangeStatus::Error, now);
    }

    /// Marks a task `Hold`: it will not run.
    pub fn hold(&mut self, task: TaskId, now: Now) {
        self.set_status(task, ChangeStatus::Hold, now);
    }

    /// Aborts a change (spec api.md §7, "Abort"): tasks in `Do` go to `Hold`
    /// and tasks in `Doing` to `Abort`. Returns the tasks now in `Abort`, so
    /// that their owner can react (kill a start, let a stop finish).
    ///
    /// # Errors
    ///
    /// [`AbortError`] when the change does not exist or is already ready.
    pub fn abort(&mut self, change: ChangeId, now: Now) -> Result<Vec<TaskId>, AbortError> {
        let record = self
            .changes
            .get(&change)
            .ok_or(AbortError::NotFound(change))?;
        if record.status.is_ready() {
            return Err(AbortError::NothingPending(change));
        }
        let tasks = record.tasks.clone();
        let mut aborted = Vec::new();
        for task in tasks {
            match self.task_status(task) {
                Some(ChangeStatus::Do) => self.hold(task, now),
                Some(ChangeStatus::Doing) => {
                    self.set_status(task, ChangeStatus::Abort, now);
                    aborted.push(task);
                }
                // Finished or already aborted: nothing changes.
                Some(
                    ChangeStatus::Default
                    | ChangeStatus::Wait
                    | ChangeStatus::Done
                    | ChangeStatus::Error
                    | ChangeStatus::Hold
                    | ChangeStatus::Abort
                    | ChangeStatus::Undo
                    | ChangeStatus::Undoing
                    | ChangeStatus::Undone,
                )
                | None => {}
            }
        }
        Ok(aborted)
    }

    /// Aborts every change that is not ready (daemon shutdown, spec
    /// supervision.md §12 step 2). Returns the tasks now in `Abort`.
    pub fn abort_all(&mut self, now: Now) -> Vec<TaskId> {
        let pending: Vec<ChangeId> = self.in_progress.iter().copied().collect();
        let mut aborted = Vec::new();
        for change in pending {
            if let Ok(tasks) = self.abort(change, now) {
                aborted.extend(tasks);
            }
        }
        aborted
    }

    /// The changes whose status differs from what the last call reported,
    /// by id. The owner calls it once per input, after all the work.
    pub fn take_updates(&mut self) -> Vec<ChangeUpdate> {
        let mut updates = Vec::new();
        for id in std::mem::take(&mut self.touched) {
            let Some(record) = self.changes.get_mut(&id) else {
                continue;
            };
            if record.status == record.reported {
                continue;
            }
            updates.push(ChangeUpdate {
                change: id,
                status: record.status,
                became_ready: record.status.is_ready() && !record.reported.is_ready(),
            });
            record.reported = record.status;
        }
        updates
    }

    /// When the oldest ready change expires ([`MAX_READY_AGE`]), if any
    /// change is ready.
    #[must_use]
    pub fn next_expiry(&self) -> Option<Instant> {
        self.changes
            .values()
            .filter_map(|c| c.ready_at.map(|(_, at)| at + MAX_READY_AGE))
            .min()
    }

    /// Removes the ready changes that have been ready for [`MAX_READY_AGE`]
    /// or longer. Returns how many were removed.
    pub fn prune_expired(&mut self, now: Now) -> usize {
        let expired: Vec<ChangeId> = self
            .changes
            .iter()
            .filter(|(_, c)| {
                c.ready_at.is_some_and(|(_, at)| {
                    now.monotonic.saturating_duration_since(at) >= MAX_READY_AGE
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.remove(*id);
        }
        expired.len()
    }

    /// Prunes the oldest ready changes until one more fits under the limit.
    fn make_room(&mut self) {
        while self.changes.len() >= self.limit {
            let oldest_ready = self
                .changes
                .iter()
                .find(|(_, c)| c.status.is_ready())
                .map(|(id, _)| *id);
            match oldest_ready {
                Some(id) => self.remove(id),
                // Every change is still running: those are never pruned.
                None => break,
            }
        }
    }

    fn remove(&mut self, id: ChangeId) {
        if let Some(record) = self.changes.remove(&id) {
            for task in record.tasks {
                self.tasks.remove(&task);
            }
        }
        self.in_progress.remove(&id);
        self.touched.remove(&id);
    }

    fn push_log(&mut self, task: TaskId, level: TaskLogLevel, text: String, now: Now) {
        if let Some(record) = self.tasks.get_mut(&task) {
            if record.log.len() == MAX_TASK_LOG_LINES {
                record.log.pop_front();
            }
            record.log.push_back(LogLine {
                at: now.wall,
                level,
                text,
            });
        }
    }

    fn set_status(&mut self, task: TaskId, status: ChangeStatus, now: Now) {
        let Some(record) = self.tasks.get_mut(&task) else {
            return;
        };
        if record.status == status {
            return;
        }
        record.status = status;
        if status.is_ready() && record.ready_time.is_none() {
            record.ready_time = Some(now.wall);
        }
        let change = record.change;
        self.refresh(change, now);
    }

    /// Derives a change's status again and queues an update when it moved.
    fn refresh(&mut self, id: ChangeId, now: Now) {
        let Some(record) = self.changes.get(&id) else {
            return;
        };
        let derived = derive_status(
            record
                .tasks
                .iter()
                .filter_map(|t| self.tasks.get(t).map(|t| t.status)),
        )
        .unwrap_or(if record.done_when_empty {
            ChangeStatus::Done
        } else {
            ChangeStatus::Hold
        });
        let Some(record) = self.changes.get_mut(&id) else {
            return;
        };
        if record.status == derived {
            return;
        }
        record.status = derived;
        if derived.is_ready() && record.ready_at.is_none() {
            record.ready_at = Some((now.wall, now.monotonic));
            self.in_progress.remove(&id);
        }
        self.touched.insert(id);
    }

    fn snapshot(&self, id: ChangeId, record: &ChangeRecord) -> Change {
        let stamp = |at: SystemTime| Timestamp::new(at, self.offset);
        let tasks: Vec<(&TaskId, &TaskRecord)> = record
            .tasks
            .iter()
            .filter_map(|t| self.tasks.get(t).map(|r| (t, r)))
            .collect();
        let err = (record.status == ChangeStatus::Error).then(|| {
            let mut text = String::from("cannot perform the following tasks:");
            for (_, task) in tasks
                .iter()
                .filter(|(_, t)| t.status == ChangeStatus::Error)
            {
                for line in task.log.iter().filter(|l| l.level == TaskLogLevel::Error) {
                    text.push_str(&format!("\n- {} ({})", task.summary, line.text));
                }
            }
            text
        });
        let mut change = Change {
            id,
            kind: record.kind.clone(),
            summary: record.summary.clone(),
            status: record.status,
            tasks: tasks
                .iter()
                .map(|(task_id, task)| Task {
                    id: **task_id,
                    kind: task.kind.clone(),
                    summary: task.summary.clone(),
                    status: task.status,
                    log: task
                        .log
                        .iter()
                        .map(|l| l.level.format_line(stamp(l.at), &l.text))
                        .collect(),
                    // 0 of 1 until the task is ready, as Pebble's
                    // `Task.Progress()`: an `Abort` task is still running.
                    progress: if task.status.is_ready() {
                        TaskProgress::finished()
                    } else {
                        TaskProgress::pending()
                    },
                    spawn_time: stamp(task.spawn_time),
                    ready_time: task.ready_time.map(stamp),
                    data: Default::default(),
                })
                .collect(),
            ready: record.status.is_ready(),
            err,
            spawn_time: stamp(record.spawn_time),
            ready_time: record.ready_at.map(|(wall, _)| stamp(wall)),
            data: Default::default(),
        };
        if !record.service_names.is_empty() {
            change.data.insert(
                "service-names".to_owned(),
                record.service_names.clone().into(),
            );
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    struct Clock {
        base: Instant,
    }

    impl Clock {
        fn new() -> Self {
            Self {
                base: Instant::now(),
            }
        }

        /// `seconds` after 2025-03-01T09:00:00Z.
        fn at(&self, seconds: u64) -> Now {
            Now {
                monotonic: self.base + Duration::from_secs(seconds),
                wall: UNIX_EPOCH + Duration::from_secs(1_740_819_600 + seconds),
            }
        }
    }

    fn store(limit: usize) -> Changes {
        Changes::new(limit, UtcOffset::from_seconds(3600).unwrap())
    }

    #[test]
    fn status_order_is_complete() {
        let all = [
            ChangeStatus::Default,
            ChangeStatus::Do,
            ChangeStatus::Doing,
            ChangeStatus::Wait,
            ChangeStatus::Done,
            ChangeStatus::Error,
            ChangeStatus::Hold,
            ChangeStatus::Abort,
            ChangeStatus::Undo,
            ChangeStatus::Undoing,
            ChangeStatus::Undone,
        ];
        for status in all {
            assert_eq!(
                STATUS_ORDER.contains(&status),
                status != ChangeStatus::Default,
                "{status}"
            );
        }
    }

    #[test]
    fn a_change_takes_the_first_status_in_pebbles_order() {
        use ChangeStatus::{Abort, Do, Doing, Done, Error, Hold};
        let cases: &[(&[ChangeStatus], ChangeStatus)] = &[
            (&[Done, Do], Do),
            (&[Error, Doing, Do], Doing),
            (&[Hold, Done, Error], Error),
            (&[Hold, Done], Done),
            (&[Hold], Hold),
            (&[Done, Abort, Doing], Abort),
            (&[Error, Do], Do),
        ];
        for (tasks, expected) in cases {
            assert_eq!(
                derive_status(tasks.iter().copied()),
                Some(*expected),
                "{tasks:?}"
            );
        }
        assert_eq!(derive_status([]), None);
    }

    #[test]
    fn changes_without_tasks() {
        let clock = Clock::new();
        let mut changes = store(10);
        let done = changes.create_done("replan", "Replan - no services".into(), clock.at(0));
        let change = changes.change(done).unwrap();
        assert_eq!(change.status, ChangeStatus::Done);
        assert!(change.ready);
        assert_eq!(change.ready_time, Some(change.spawn_time));
        let empty = changes.create("start", "Start".into(), Vec::new(), clock.at(0));
        changes.publish(empty, clock.at(0));
        assert_eq!(changes.change(empty).unwrap().status, ChangeStatus::Hold);
        assert_eq!(
            changes.take_updates(),
            [
                ChangeUpdate {
                    change: done,
                    status: ChangeStatus::Done,
                    became_ready: true
                },
                ChangeUpdate {
                    change: empty,
                    status: ChangeStatus::Hold,
                    became_ready: true
                },
            ]
        );
    }

    #[test]
    fn tasks_wait_hold_and_report_their_errors() {
        let clock = Clock::new();
        let mut changes = store(10);
        let id = changes.create(
            "start",
            "Start service \"a\" and 2 more".into(),
            vec!["a".into()],
            clock.at(0),
        );
        let a = changes
            .add_task(
                id,
                "start",
                "Start service \"a\"".into(),
                vec![],
                clock.at(0),
            )
            .unwrap();
        let b = changes
            .add_task(
                id,
                "start",
                "Start service \"b\"".into(),
                vec![a],
                clock.at(0),
            )
            .unwrap();
        let c = changes
            .add_task(
                id,
                "start",
                "Start service \"c\"".into(),
                vec![],
                clock.at(0),
            )
            .unwrap();
        changes.publish(id, clock.at(0));
        assert_eq!(
            changes.scan(),
            Scan {
                runnable: vec![a, c],
                blocked: vec![]
            }
        );
        let update = |status, became_ready| ChangeUpdate {
            change: id,
            status,
            became_ready,
        };
        assert_eq!(changes.take_updates(), [update(ChangeStatus::Do, false)]);
        changes.begin(a, clock.at(0));
        changes.begin(c, clock.at(0));
        assert_eq!(changes.take_updates(), [update(ChangeStatus::Doing, false)]);
        assert_eq!(changes.take_updates(), []);
        changes.log(a, "Most recent service output:\n    boom", clock.at(1));
        changes.fail(
            a,
            "service start attempt: exited quickly with code 1, will restart",
            clock.at(1),
        );
        changes.fail(c, "first", clock.at(2));
        assert_eq!(
            changes.scan(),
            Scan {
                runnable: vec![],
                blocked: vec![b]
            }
        );
        changes.hold(b, clock.at(2));
        let change = changes.change(id).unwrap();
        assert_eq!(change.status, ChangeStatus::Error);
        assert_eq!(
            change.err.as_deref(),
            Some(
                "cannot perform the following tasks:\n- Start service \"a\" (service start attempt: exited quickly with code 1, will restart)\n- Start service \"c\" (first)"
            )
        );
        assert_eq!(
            change.tasks[0].log,
            [
                "2025-03-01T10:00:01+01:00 INFO Most recent service output:\n    boom",
                "2025-03-01T10:00:01+01:00 ERROR service start attempt: exited quickly with code 1, will restart",
            ]
        );
        assert_eq!(change.tasks[1].progress, TaskProgress::finished());
        assert_eq!(
            change.tasks[1].ready_time.unwrap().to_string(),
            "2025-03-01T10:00:02+01:00"
        );
        assert_eq!(
            change.ready_time.unwrap().to_string(),
            "2025-03-01T10:00:02+01:00"
        );
        assert_eq!(change.data["service-names"][0].as_str(), Some("a"));
        // It went through `Do` when c failed and before b was held: not
        // reported, as it was never observable.
        assert_eq!(changes.take_updates(), [update(ChangeStatus::Error, true)]);
    }

    #[test]
    fn a_task_keeps_its_last_ten_log_lines() {
        let clock = Clock::new();
        let mut changes = store(10);
        let id = changes.create("start", "s".into(), Vec::new(), clock.at(0));
        let task = changes
            .add_task(id, "start", "t".into(), vec![], clock.at(0))
            .unwrap();
        for n in 0..15 {
            changes.log(task, format!("line {n}"), clock.at(0));
        }
        let log = &changes.change(id).unwrap().tasks[0].log;
        assert_eq!(log.len(), MAX_TASK_LOG_LINES);
        assert!(log[0].ends_with("INFO line 5"));
        assert!(log[9].ends_with("INFO line 14"));
        assert_eq!(
            changes.change(id).unwrap().tasks[0].progress,
            TaskProgress::pending()
        );
    }

    #[test]
    fn abort_holds_pending_tasks_and_marks_running_ones() {
        let clock = Clock::new();
        let mut changes = store(10);
        let id = changes.create("stop", "s".into(), Vec::new(), clock.at(0));
        let a = changes
            .add_task(id, "stop", "a".into(), vec![], clock.at(0))
            .unwrap();
        let b = changes
            .add_task(id, "stop", "b".into(), vec![a], clock.at(0))
            .unwrap();
        changes.publish(id, clock.at(0));
        changes.begin(a, clock.at(0));
        assert_eq!(changes.abort(id, clock.at(1)), Ok(vec![a]));
        assert_eq!(changes.task_status(b), Some(ChangeStatus::Hold));
        assert_eq!(changes.change(id).unwrap().status, ChangeStatus::Abort);
        assert_eq!(
            changes.change(id).unwrap().tasks[0].progress,
            TaskProgress::pending()
        );
        changes.finish(a, clock.at(2));
        assert_eq!(changes.change(id).unwrap().status, ChangeStatus::Done);
        assert_eq!(
            changes.abort(id, clock.at(3)),
            Err(AbortError::NothingPending(id))
        );
        let missing = ChangeId::new(99);
        assert_eq!(
            changes.abort(missing, clock.at(3)),
            Err(AbortError::NotFound(missing))
        );
    }

    #[test]
    fn the_history_is_bounded_but_running_changes_stay() {
        let clock = Clock::new();
        let mut changes = store(3);
        let running = changes.create("start", "running".into(), vec!["web".into()], clock.at(0));
        let task = changes
            .add_task(running, "start", "t".into(), vec![], clock.at(0))
            .unwrap();
        changes.publish(running, clock.at(0));
        changes.begin(task, clock.at(0));
        let done: Vec<ChangeId> = (1..=5)
            .map(|n| changes.create_done("replan", format!("done {n}"), clock.at(n)))
            .collect();
        assert_eq!(changes.len(), 3);
        let kept: Vec<ChangeId> = changes
            .list(ChangeSelect::All, None)
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(kept, [running, done[3], done[4]]);
        assert_eq!(changes.list(ChangeSelect::InProgress, None).len(), 1);
        assert_eq!(changes.list(ChangeSelect::Ready, None).len(), 2);
        assert_eq!(changes.list(ChangeSelect::All, Some("web")).len(), 1);
        // Ids are never reused.
        assert_eq!(done[4], ChangeId::new(6));
    }

    #[test]
    fn ready_changes_expire_after_seven_days() {
        let clock = Clock::new();
        let mut changes = store(10);
        assert_eq!(changes.next_expiry(), None);
        let old = changes.create_done("replan", "old".into(), clock.at(0));
        let young = changes.create_done("replan", "young".into(), clock.at(100));
        assert_eq!(
            changes.next_expiry(),
            Some(clock.at(0).monotonic + MAX_READY_AGE)
        );
        let week = MAX_READY_AGE.as_secs();
        assert_eq!(changes.prune_expired(clock.at(week - 1)), 0);
        assert_eq!(changes.prune_expired(clock.at(week)), 1);
        assert!(changes.change(old).is_none());
        assert!(changes.change(young).is_some());
        assert_eq!(
            changes.next_expiry(),
            Some(clock.at(100).monotonic + MAX_READY_AGE)
        );
    }
}
