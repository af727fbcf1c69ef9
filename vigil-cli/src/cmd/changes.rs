//! `changes` and `tasks` (cli.md §3.7): what vigild did, change by change,
//! and the tasks and task logs of one change.

use argh::{ArgsInfo, FromArgs};
use vigil_proto::api::{Change, ChangeId, ChangeStatus};

use super::{Context, Failure, Outcome, print, print_formatted};
use crate::args::UsageError;
use crate::client::{Request, segment};
use crate::format::Format;
use crate::table::Table;
use crate::time::Times;

/// The line between the tasks table and each task's log, as Pebble's.
const SEPARATOR: &str = "......................................................................";

/// Show recent changes, or those of one service.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "changes")]
pub struct Changes {
    /// show times as RFC 3339 instead of relative to now
    #[argh(switch)]
    abs_time: bool,

    /// output format: text (default), json or yaml
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    /// show only the changes of this service
    #[argh(positional, arg_name = "SERVICE")]
    service: Option<String>,
}

impl Changes {
    pub fn run(self, context: &Context) -> Outcome {
        let format = Format::parse(self.format.as_deref(), true)?;
        let mut request = Request::get("/v1/changes").query("select", "all");
        if let Some(service) = &self.service {
            request = request.query("for", service.as_str());
        }
        let reply = context.client.send(&request)?;
        if print_formatted(format, &reply)? {
            return Ok(());
        }
        let mut changes: Vec<Change> = reply.sync()?;
        if changes.is_empty() {
            eprintln!("no changes found");
            return Ok(());
        }
        changes.sort_by_key(|change| change.id);
        print(&changes_table(&changes, &context.times(self.abs_time)))
    }
}

/// The `changes` table: `ID  Status  Spawn  Ready  Summary`.
fn changes_table(changes: &[Change], times: &Times<'_>) -> String {
    let mut table = Table::new(&["ID", "Status", "Spawn", "Ready", "Summary"]);
    for change in changes {
        table.push(vec![
            change.id.to_string(),
            change.status.to_string(),
            times.format(change.spawn_time),
            times.format_optional(change.ready_time),
            change.summary.clone(),
        ]);
    }
    table.render()
}

/// Show the tasks of a change and their logs (default: the latest change).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "tasks")]
pub struct Tasks {
    /// show times as RFC 3339 instead of relative to now
    #[argh(switch)]
    abs_time: bool,

    /// output format: text (default), json or yaml
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    /// show the latest change of this kind (such as start or replan); a
    /// trailing ? makes finding none no error
    #[argh(option, arg_name = "KIND")]
    last: Option<String>,

    /// the change's id
    #[argh(positional, arg_name = "ID")]
    id: Option<String>,
}

impl Tasks {
    pub fn run(self, context: &Context) -> Outcome {
        let format = Format::parse(self.format.as_deref(), true)?;
        let id = match (self.id, self.last) {
            (Some(_), Some(_)) => {
                return Err(UsageError::Parser(
                    "cannot use a change ID and --last together".into(),
                )
                .into());
            }
            (Some(id), None) => id
                .parse::<ChangeId>()
                .map_err(|_| UsageError::InvalidValue {
                    option: "ID".to_owned(),
                    value: id,
                    expected: "a change id",
                })?,
            (None, kind) => match latest(context, kind.as_deref())? {
                Some(id) => id,
                None => return Ok(()),
            },
        };
        let reply = context.client.send(&Request::get(format!(
            "/v1/changes/{}",
            segment(&id.to_string())
        )))?;
        if print_formatted(format, &reply)? {
            return Ok(());
        }
        let change: Change = reply.sync()?;
        print(&tasks_text(&change, &context.times(self.abs_time)))
    }
}

/// The id of the latest change, of `kind` if given. A kind ending in `?` is
/// optional: finding none is `Ok(None)` rather than an error.
fn latest(context: &Context, kind: Option<&str>) -> Result<Option<ChangeId>, Failure> {
    let (kind, optional) = match kind {
        Some(kind) => match kind.strip_suffix('?') {
            Some(kind) => (Some(kind), true),
            None => (Some(kind), false),
        },
        None => (None, false),
    };
    let changes: Vec<Change> = context
        .client
        .sync(&Request::get("/v1/changes").query("select", "all"))?;
    let found = changes
        .iter()
        .filter(|change| kind.is_none_or(|kind| change.kind == kind))
        .map(|change| change.id)
        .max();
    match (found, kind) {
        (Some(id), _) => Ok(Some(id)),
        (None, _) if optional => Ok(None),
        (None, Some(kind)) if !changes.is_empty() => Err(Failure::Error(format!(
            "no changes of type {} found",
            vigil_proto::api::quote(kind)
        ))),
        (None, _) => Err(Failure::Error("no changes found".to_owned())),
    }
}

/// The `tasks` output: the table, then each task's log after a separator.
fn tasks_text(change: &Change, times: &Times<'_>) -> String {
    let mut table = Table::new(&["Status", "Spawn", "Ready", "Summary"]);
    for task in &change.tasks {
        let mut summary = task.summary.clone();
        if task.status == ChangeStatus::Doing && task.progress.total > 1 {
            let percent = task.progress.done as f64 / task.progress.total as f64 * 100.0;
            summary = format!("{summary} ({percent:.2}%)");
        }
        table.push(vec![
            task.status.to_string(),
            times.format(task.spawn_time),
            times.format_optional(task.ready_time),
            summary,
        ]);
    }
    let mut out = table.render();
    for task in change.tasks.iter().filter(|task| !task.log.is_empty()) {
        out.push_str(&format!("\n{SEPARATOR}\n{}\n\n", task.summary));
        for line in &task.log {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;
    use vigil_proto::api::UtcOffset;

    use super::*;
    use crate::time::{FixedZone, ZoneAt};

    fn utc() -> FixedZone {
        FixedZone(ZoneAt {
            offset: UtcOffset::UTC,
            name: "UTC".into(),
        })
    }

    /// 2025-03-01T10:15:30Z.
    fn now() -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_740_824_130)
    }

    fn change_17() -> Change {
        serde_json::from_value(json!({
            "id": "17", "kind": "start", "summary": "Start service \"web\"",
            "status": "Error", "ready": true,
            "err": "cannot perform the following tasks:\n- Start service \"web\" (boom)",
            "spawn-time": "2025-03-01T10:00:00.1Z", "ready-time": "2025-03-01T10:00:00.4Z",
            "tasks": [{
                "id": "31", "kind": "start", "summary": "Start service \"web\"", "status": "Error",
                "log": ["2025-03-01T10:00:00Z INFO Most recent service output:\n    bind: address in use",
                        "2025-03-01T10:00:00Z ERROR service start attempt: exited quickly with code 1, will restart"],
                "progress": {"label": "", "done": 1, "total": 1},
                "spawn-time": "2025-03-01T10:00:00.1Z", "ready-time": "2025-03-01T10:00:00.4Z"
            }, {
                "id": "32", "kind": "start", "summary": "Start service \"db\"", "status": "Doing",
                "progress": {"label": "", "done": 1, "total": 4},
                "spawn-time": "2025-02-27T10:00:00Z"
            }]
        }))
        .unwrap()
    }

    #[test]
    fn changes_table_matches_the_spec() {
        let mut doing = change_17();
        doing.id = ChangeId::new(18);
        doing.status = ChangeStatus::Doing;
        doing.ready_time = None;
        doing.summary = "Perform HTTP check \"api\"".into();
        doing.spawn_time = vigil_proto::api::Timestamp::parse("2025-03-01T10:05:00Z").unwrap();
        let zone = utc();
        assert_eq!(
            changes_table(&[change_17(), doing], &Times::new(now(), &zone, false)),
            "ID  Status  Spawn               Ready               Summary\n\
             17  Error   today at 10:00 UTC  today at 10:00 UTC  Start service \"web\"\n\
             18  Doing   today at 10:05 UTC  -                   Perform HTTP check \"api\"\n"
        );
    }

    #[test]
    fn tasks_text_matches_the_spec() {
        let zone = utc();
        assert_eq!(
            tasks_text(&change_17(), &Times::new(now(), &zone, false)),
            "Status  Spawn                     Ready               Summary\n\
             Error   today at 10:00 UTC        today at 10:00 UTC  Start service \"web\"\n\
             Doing   2 days ago, at 10:00 UTC  -                   Start service \"db\" (25.00%)\n\
             \n\
             ......................................................................\n\
             Start service \"web\"\n\
             \n\
             2025-03-01T10:00:00Z INFO Most recent service output:\n    bind: address in use\n\
             2025-03-01T10:00:00Z ERROR service start attempt: exited quickly with code 1, will restart\n"
        );
    }
}
