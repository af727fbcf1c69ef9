//! Changes and tasks as the API shows them (spec api.md §6.4 and §7): the
//! change and task objects, their status values, the abort body and the
//! `select` query of `GET /v1/changes`, and the task log line format.
//!
//! These are snapshots for the wire. The daemon's own change bookkeeping
//! (deriving a change's status from its tasks, waits, pruning) lives in
//! vigild and fills these in; it must keep `ready` equal to
//! [`ChangeStatus::is_ready`] and set `err` only in `Error` status.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::{ChangeId, TaskId};
use super::time::{Precision, Timestamp};
use super::{Error, null_as_default};

/// A change: one user request (start, stop, replan, exec, a check) and the
/// tasks that carry it out.
///
/// `id`, `kind`, `summary`, `status`, `ready` and `spawn-time` are always
/// present; `tasks` and `data` are omitted when empty, `err` outside `Error`
/// status and `ready-time` until the change is ready.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The change's id.
    #[serde(rename = "id")]
    pub id: ChangeId,
    /// What kind of change this is: `start`, `stop`, `restart`, `replan`,
    /// `autostart`, `exec`, `perform-check`, `recover-check`, ...
    #[serde(rename = "kind")]
    pub kind: String,
    /// One line for people, such as `Start service "web"`.
    #[serde(rename = "summary")]
    pub summary: String,
    /// The status derived from the tasks (§7).
    #[serde(rename = "status")]
    pub status: ChangeStatus,
    /// The tasks, in the order they were added.
    #[serde(
        rename = "tasks",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tasks: Vec<Task>,
    /// Whether the status is a final one: `Done`, `Error` or `Hold`.
    #[serde(rename = "ready")]
    pub ready: bool,
    /// In `Error` status only: `cannot perform the following tasks:` and one
    /// `- <task summary> (<error>)` line per task error.
    #[serde(rename = "err", default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    /// When the change was made, in the daemon's local zone.
    #[serde(rename = "spawn-time")]
    pub spawn_time: Timestamp,
    /// When the change first became ready.
    #[serde(
        rename = "ready-time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ready_time: Option<Timestamp>,
    /// Extra data, such as `{"service-names": ["web"]}`.
    #[serde(
        rename = "data",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Map::is_empty"
    )]
    pub data: Map<String, Value>,
}

/// One task of a [`Change`].
///
/// `id`, `kind`, `summary`, `status`, `progress` and `spawn-time` are always
/// present; `log` and `data` are omitted when empty and `ready-time` until the
/// task is ready.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The task's id.
    #[serde(rename = "id")]
    pub id: TaskId,
    /// What the task does: `start`, `stop`, `exec`, `perform-check`, ...
    #[serde(rename = "kind")]
    pub kind: String,
    /// One line for people, such as `Start service "web"`.
    #[serde(rename = "summary")]
    pub summary: String,
    /// Where the task is in its life.
    #[serde(rename = "status")]
    pub status: ChangeStatus,
    /// The last log lines, oldest first, each made by
    /// [`TaskLogLevel::format_line`].
    #[serde(
        rename = "log",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub log: Vec<String>,
    /// How far the task is.
    #[serde(rename = "progress")]
    pub progress: TaskProgress,
    /// When the task was made, in the daemon's local zone.
    #[serde(rename = "spawn-time")]
    pub spawn_time: Timestamp,
    /// When the task became ready.
    #[serde(
        rename = "ready-time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ready_time: Option<Timestamp>,
    /// Extra data, such as an exec task's `{"exit-code": 0}`.
    #[serde(
        rename = "data",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Map::is_empty"
    )]
    pub data: Map<String, Value>,
}

/// A task's `progress`: `{"label": "", "done": 0, "total": 1}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskProgress {
    /// What is being counted; vigild leaves it empty.
    #[serde(rename = "label")]
    pub label: String,
    /// How many units are done.
    #[serde(rename = "done")]
    pub done: u64,
    /// How many units there are.
    #[serde(rename = "total")]
    pub total: u64,
}

impl TaskProgress {
    /// The progress of a task in `Do` or `Doing`: 0 of 1 (§7).
    #[must_use]
    pub fn pending() -> Self {
        Self {
            label: String::new(),
            done: 0,
            total: 1,
        }
    }

    /// The progress of a task in any other status: 1 of 1 (§7).
    #[must_use]
    pub fn finished() -> Self {
        Self {
            label: String::new(),
            done: 1,
            total: 1,
        }
    }
}

/// The status of a change or a task, with Pebble's names (§7).
///
/// vigild produces only `Do`, `Doing`, `Done`, `Error`, `Hold` and `Abort`;
/// the others exist so that a client can read any Pebble reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChangeStatus {
    /// `Default`: no status set yet (never on vigild's wire).
    Default,
    /// `Do`: waiting to run.
    Do,
    /// `Doing`: running.
    Doing,
    /// `Wait`: done, but waiting for an outside event (never produced).
    Wait,
    /// `Done`: finished successfully.
    Done,
    /// `Error`: failed.
    Error,
    /// `Hold`: will not run, because of an earlier failure in its lane, a
    /// failed predecessor, or an abort.
    Hold,
    /// `Abort`: an abort was requested while it was running.
    Abort,
    /// `Undo`: to be undone (never produced: there are no undo handlers).
    Undo,
    /// `Undoing`: being undone (never produced).
    Undoing,
    /// `Undone`: undone after an error elsewhere (never produced).
    Undone,
}

impl ChangeStatus {
    /// Whether this status is final: `Done`, `Undone`, `Hold` or `Error`, as
    /// in Pebble. A change's `ready` field is this.
    #[must_use]
    pub const fn is_ready(self) -> bool {
        match self {
            Self::Done | Self::Undone | Self::Hold | Self::Error => true,
            Self::Default
            | Self::Do
            | Self::Doing
            | Self::Wait
            | Self::Abort
            | Self::Undo
            | Self::Undoing => false,
        }
    }

    /// The status as it is spelled on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Default => "Default",
            Self::Do => "Do",
            Self::Doing => "Doing",
            Self::Wait => "Wait",
            Self::Done => "Done",
            Self::Error => "Error",
            Self::Hold => "Hold",
            Self::Abort => "Abort",
            Self::Undo => "Undo",
            Self::Undoing => "Undoing",
            Self::Undone => "Undone",
        }
    }
}

impl fmt::Display for ChangeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level word of a task log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskLogLevel {
    /// `INFO`: progress, and the service output attached to a failed start.
    Info,
    /// `ERROR`: the error that failed the task; each one becomes a line of
    /// the change's `err`.
    Error,
}

impl TaskLogLevel {
    /// The level as it appears in the line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "INFO",
            Self::Error => "ERROR",
        }
    }

    /// A task log line: the time in whole seconds at its offset (the
    /// daemon's local zone), the level, and `text`, as in
    /// `2025-03-01T10:00:00+01:00 ERROR service start attempt: exited quickly`.
    #[must_use]
    pub fn format_line(self, at: Timestamp, text: &str) -> String {
        format!("{} {} {text}", at.format(Precision::Seconds), self.as_str())
    }
}

/// The body of `POST /v1/changes/{id}`: `{"action": "abort"}`.
///
/// `action` keeps the text the client sent, so that another action gets
/// `invalid action "x"` from [`action`](Self::action).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeActionRequest {
    /// The action as the client sent it.
    #[serde(rename = "action", default, deserialize_with = "null_as_default")]
    pub action: String,
}

impl ChangeActionRequest {
    /// The body that aborts a change.
    #[must_use]
    pub fn abort() -> Self {
        Self {
            action: ChangeAction::Abort.as_str().to_owned(),
        }
    }

    /// The requested action.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAction`] for anything but `abort`.
    pub fn action(&self) -> Result<ChangeAction, Error> {
        self.action.parse()
    }
}

/// What `POST /v1/changes/{id}` can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeAction {
    /// `abort`: tasks in `Do` go to `Hold`, running ones to `Abort` (§7).
    Abort,
}

impl ChangeAction {
    /// The action as it is spelled on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Abort => "abort",
        }
    }
}

impl FromStr for ChangeAction {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "abort" => Ok(Self::Abort),
            _ => Err(Error::InvalidAction {
                action: text.to_owned(),
            }),
        }
    }
}

/// The `select` query parameter of `GET /v1/changes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChangeSelect {
    /// `all`: every change.
    All,
    /// `in-progress`, the default: changes that are not ready.
    #[default]
    InProgress,
    /// `ready`: changes that are ready.
    Ready,
}

impl ChangeSelect {
    /// Parses the query value; empty means the default, `in-progress`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSelect`] for any other value.
    pub fn parse_query(value: &str) -> Result<Self, Error> {
        match value {
            "" | "in-progress" => Ok(Self::InProgress),
            "all" => Ok(Self::All),
            "ready" => Ok(Self::Ready),
            _ => Err(Error::InvalidSelect),
        }
    }

    /// The value as it is spelled in the query.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::InProgress => "in-progress",
            Self::Ready => "ready",
        }
    }

    /// Whether a change whose `ready` is `ready` is selected.
    #[must_use]
    pub const fn selects(self, ready: bool) -> bool {
        match self {
            Self::All => true,
            Self::InProgress => !ready,
            Self::Ready => ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde_json::json;

    use super::*;
    use crate::api::time::UtcOffset;

    /// 2025-03-01T10:00:00+01:00 plus `nanos`.
    fn local(nanos: u32) -> Timestamp {
        let at: SystemTime = UNIX_EPOCH + Duration::new(1_740_819_600, nanos);
        Timestamp::new(at, UtcOffset::from_seconds(3600).unwrap())
    }

    fn spec_example() -> Change {
        let summary = "Start service \"web\"";
        let mut data = Map::new();
        data.insert("service-names".into(), json!(["web"]));
        Change {
            id: ChangeId::new(17),
            kind: "start".into(),
            summary: summary.into(),
            status: ChangeStatus::Error,
            tasks: vec![Task {
                id: TaskId::new(31),
                kind: "start".into(),
                summary: summary.into(),
                status: ChangeStatus::Error,
                log: vec![
                    TaskLogLevel::Info.format_line(
                        local(0),
                        "Most recent service output:\n    bind: address in use",
                    ),
                    TaskLogLevel::Error.format_line(
                        local(250_000_000),
                        "service start attempt: exited quickly with code 1, will restart",
                    ),
                ],
                progress: TaskProgress::finished(),
                spawn_time: local(100_000_000),
                ready_time: Some(local(400_000_000)),
                data: Map::new(),
            }],
            ready: true,
            err: Some(
                "cannot perform the following tasks:\n- Start service \"web\" (service start attempt: exited quickly with code 1, will restart)"
                    .into(),
            ),
            spawn_time: local(100_000_000),
            ready_time: Some(local(400_000_000)),
            data,
        }
    }

    #[test]
    fn change_matches_the_spec_example() {
        let want = json!({
          "id": "17", "kind": "start", "summary": "Start service \"web\"",
          "status": "Error", "ready": true,
          "err": "cannot perform the following tasks:\n- Start service \"web\" (service start attempt: exited quickly with code 1, will restart)",
          "spawn-time": "2025-03-01T10:00:00.1+01:00", "ready-time": "2025-03-01T10:00:00.4+01:00",
          "tasks": [{
            "id": "31", "kind": "start", "summary": "Start service \"web\"", "status": "Error",
            "log": ["2025-03-01T10:00:00+01:00 INFO Most recent service output:\n    bind: address in use",
                    "2025-03-01T10:00:00+01:00 ERROR service start attempt: exited quickly with code 1, will restart"],
            "progress": {"label": "", "done": 1, "total": 1},
            "spawn-time": "2025-03-01T10:00:00.1+01:00", "ready-time": "2025-03-01T10:00:00.4+01:00"
          }],
          "data": {"service-names": ["web"]}
        });
        let change = spec_example();
        assert_eq!(serde_json::to_value(&change).unwrap(), want);
        assert_eq!(serde_json::from_value::<Change>(want).unwrap(), change);
    }

    #[test]
    fn a_fresh_change_omits_what_it_does_not_have() {
        let change = Change {
            id: ChangeId::new(1),
            kind: "replan".into(),
            summary: "Replan - no services".into(),
            status: ChangeStatus::Doing,
            tasks: vec![],
            ready: false,
            err: None,
            spawn_time: Timestamp::utc(UNIX_EPOCH),
            ready_time: None,
            data: Map::new(),
        };
        let want = json!({"id": "1", "kind": "replan", "summary": "Replan - no services",
                          "status": "Doing", "ready": false, "spawn-time": "1970-01-01T00:00:00Z"});
        assert_eq!(serde_json::to_value(&change).unwrap(), want);
        assert_eq!(serde_json::from_value::<Change>(want).unwrap(), change);

        // Clients also see nulls from other servers: they mean absent.
        let nulls = json!({"id": "1", "kind": "replan", "summary": "Replan - no services",
                           "status": "Doing", "ready": false, "spawn-time": "1970-01-01T00:00:00Z",
                           "tasks": null, "err": null, "ready-time": null, "data": null});
        assert_eq!(serde_json::from_value::<Change>(nulls).unwrap(), change);
    }

    #[test]
    fn a_pending_task_omits_log_ready_time_and_data() {
        let task = Task {
            id: TaskId::new(2),
            kind: "stop".into(),
            summary: "Stop service \"db\"".into(),
            status: ChangeStatus::Do,
            log: vec![],
            progress: TaskProgress::pending(),
            spawn_time: local(0),
            ready_time: None,
            data: Map::new(),
        };
        let want = json!({"id": "2", "kind": "stop", "summary": "Stop service \"db\"", "status": "Do",
                          "progress": {"label": "", "done": 0, "total": 1},
                          "spawn-time": "2025-03-01T10:00:00+01:00"});
        assert_eq!(serde_json::to_value(&task).unwrap(), want);
        assert_eq!(serde_json::from_value::<Task>(want).unwrap(), task);
    }

    #[test]
    fn task_data_is_kept() {
        let mut data = Map::new();
        data.insert("exit-code".into(), json!(0));
        let task = Task {
            id: TaskId::new(5),
            kind: "exec".into(),
            summary: "Execute command \"true\"".into(),
            status: ChangeStatus::Done,
            log: vec![],
            progress: TaskProgress::finished(),
            spawn_time: local(0),
            ready_time: Some(local(0)),
            data,
        };
        let value = serde_json::to_value(&task).unwrap();
        assert_eq!(value["data"], json!({"exit-code": 0}));
        assert_eq!(serde_json::from_value::<Task>(value).unwrap(), task);
    }

    #[test]
    fn statuses_use_pebble_names() {
        let all = [
            (ChangeStatus::Default, "Default", false),
            (ChangeStatus::Do, "Do", false),
            (ChangeStatus::Doing, "Doing", false),
            (ChangeStatus::Wait, "Wait", false),
            (ChangeStatus::Done, "Done", true),
            (ChangeStatus::Error, "Error", true),
            (ChangeStatus::Hold, "Hold", true),
            (ChangeStatus::Abort, "Abort", false),
            (ChangeStatus::Undo, "Undo", false),
            (ChangeStatus::Undoing, "Undoing", false),
            (ChangeStatus::Undone, "Undone", true),
        ];
        for (status, name, ready) in all {
            assert_eq!(serde_json::to_value(status).unwrap(), json!(name));
            assert_eq!(
                serde_json::from_value::<ChangeStatus>(json!(name)).unwrap(),
                status
            );
            assert_eq!(status.as_str(), name);
            assert_eq!(status.to_string(), name);
            assert_eq!(status.is_ready(), ready, "{name}");
        }
        assert!(serde_json::from_value::<ChangeStatus>(json!("done")).is_err());
    }

    #[test]
    fn task_log_lines() {
        assert_eq!(
            TaskLogLevel::Error.format_line(local(999_000_000), "boom"),
            "2025-03-01T10:00:00+01:00 ERROR boom"
        );
        assert_eq!(
            TaskLogLevel::Info.format_line(Timestamp::utc(UNIX_EPOCH), "ok"),
            "1970-01-01T00:00:00Z INFO ok"
        );
    }

    #[test]
    fn abort_request() {
        let request = ChangeActionRequest::abort();
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"action": "abort"})
        );
        let back: ChangeActionRequest = serde_json::from_value(json!({"action": "abort"})).unwrap();
        assert_eq!(back.action(), Ok(ChangeAction::Abort));
        let other: ChangeActionRequest =
            serde_json::from_value(json!({"action": "pause"})).unwrap();
        assert_eq!(
            other.action().unwrap_err().to_string(),
            r#"invalid action "pause""#
        );
        let missing: ChangeActionRequest = serde_json::from_value(json!({})).unwrap();
        assert_eq!(
            missing.action().unwrap_err().to_string(),
            r#"invalid action """#
        );
    }

    #[test]
    fn select_query() {
        assert_eq!(ChangeSelect::parse_query(""), Ok(ChangeSelect::InProgress));
        assert_eq!(ChangeSelect::default(), ChangeSelect::InProgress);
        for select in [
            ChangeSelect::All,
            ChangeSelect::InProgress,
            ChangeSelect::Ready,
        ] {
            assert_eq!(ChangeSelect::parse_query(select.as_str()), Ok(select));
        }
        assert_eq!(ChangeSelect::parse_query("done"), Err(Error::InvalidSelect));
        assert!(ChangeSelect::All.selects(true) && ChangeSelect::All.selects(false));
        assert!(ChangeSelect::Ready.selects(true) && !ChangeSelect::Ready.selects(false));
        assert!(!ChangeSelect::InProgress.selects(true) && ChangeSelect::InProgress.selects(false));
    }
}
