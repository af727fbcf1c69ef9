//! `checks`, `check`, `start-checks`, `stop-checks` and `health`
//! (cli.md §3.3, §3.4).
//!
//! `checks` and `check` show what `GET /v1/checks` returns. When a check is
//! failing, both also fetch its change (`GET /v1/changes/{id}`) to show why:
//! `checks` the last ERROR line, cut to fit a table, and `check` the whole
//! task log. A check whose current change has nothing to show yet (a
//! `recover-check` change that has just started) is explained by its
//! `prev-change-id` change instead.
//!
//! `health` prints the verdict of `GET /v1/health` and exits with 1 when it
//! is unhealthy. That reply comes with HTTP 502 but is a sync envelope
//! (api.md §6.2), so it is read by its `type`, never by its status.

use argh::{ArgsInfo, FromArgs};
use vigil_proto::api::{
    Change, ChangeId, CheckInfo, CheckLevel, CheckStatus, ChecksAction, ChecksChanged,
    ChecksRequest, HealthInfo, RefreshRequest, RefreshResult,
};

use super::services::wire_name;
use super::{Context, EXIT_FAILURE, Failure, Outcome, print, print_formatted};
use crate::args::UsageError;
use crate::client::{self, Client, Request, segment};
use crate::format::{Format, to_yaml};
use crate::json::Node;
use crate::table::Table;

/// The longest error text in the `Change` column of `checks`, in
/// characters, "for more" advice included (Pebble's limit).
const MAX_ERROR_CHARS: usize = 70;

/// Show the health checks of the plan and their state.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "checks")]
pub struct Checks {
    /// show only the checks of this level: alive or ready
    #[argh(option, arg_name = "LEVEL")]
    level: Option<String>,

    /// output format: text (default), json or yaml
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    /// the checks to show (default: all)
    #[argh(positional, arg_name = "CHECK")]
    checks: Vec<String>,
}

impl Checks {
    pub fn run(self, context: &Context) -> Outcome {
        let format = Format::parse(self.format.as_deref(), true)?;
        let level = parse_level(self.level)?;
        let request = filtered(Request::get("/v1/checks"), level, &self.checks);
        let reply = context.client.send(&request)?;
        if print_formatted(format, &reply)? {
            return Ok(());
        }
        let checks: Vec<CheckInfo> = reply.sync()?;
        if checks.is_empty() {
            eprintln!(
                "{}",
                match self.checks.is_empty() && level.is_none() {
                    true => "Plan has no health checks.",
                    false => "No matching health checks.",
                }
            );
            return Ok(());
        }
        let changes: Vec<String> = checks
            .iter()
            .map(|check| change_cell(&context.client, check))
            .collect();
        print(&checks_table(&checks, &changes))
    }
}

/// `--level`: absent, `alive` or `ready`.
fn parse_level(value: Option<String>) -> Result<Option<CheckLevel>, UsageError> {
    match value.as_deref() {
        None => Ok(None),
        Some("alive") => Ok(Some(CheckLevel::Alive)),
        Some("ready") => Ok(Some(CheckLevel::Ready)),
        Some(_) => Err(UsageError::InvalidValue {
            option: "--level".to_owned(),
            value: value.unwrap_or_default(),
            expected: "alive or ready",
        }),
    }
}

/// `request` with the `level` and `names` filters that were given.
fn filtered(mut request: Request, level: Option<CheckLevel>, names: &[String]) -> Request {
    if let Some(level) = level {
        request = request.query("level", level.as_str());
    }
    if !names.is_empty() {
        request = request.query("names", names.join(","));
    }
    request
}

/// The `checks` table: `Check  Level  Startup  Status  Successes  Failures
/// Change`, with `changes[i]` as the `Change` cell of `checks[i]`.
fn checks_table(checks: &[CheckInfo], changes: &[String]) -> String {
    let mut table = Table::new(&[
        "Check",
        "Level",
        "Startup",
        "Status",
        "Successes",
        "Failures",
        "Change",
    ]);
    for (check, change) in checks.iter().zip(changes) {
        let (successes, failures) = match check.status {
            CheckStatus::Inactive => ("-".to_owned(), "-".to_owned()),
            CheckStatus::Up | CheckStatus::Down => (
                check.successes.to_string(),
                format!("{}/{}", check.failures, check.threshold),
            ),
        };
        table.push(vec![
            check.name.clone(),
            check.level.map_or("-", CheckLevel::as_str).to_owned(),
            wire_name(&check.startup),
            check.status.as_str().to_owned(),
            successes,
            failures,
            change.clone(),
        ]);
    }
    table.render()
}

/// The `Change` cell: `-` without a change, else its id, followed while
/// the check fails by the last ERROR line that explains it; when that line
/// is cut, the advice names the change it came from. A change that cannot
/// be fetched gives its error in place of the line, as in Pebble, so that
/// one bad change does not hide the table.
fn change_cell(client: &Client, check: &CheckInfo) -> String {
    let Some(id) = check.change_id else {
        return "-".to_owned();
    };
    if check.failures == 0 {
        return id.to_string();
    }
    for source in [Some(id), check.prev_change_id].into_iter().flatten() {
        match fetch_change(client, source) {
            Ok(change) => {
                if let Some(text) = last_error(&change) {
                    return format!("{id} ({})", cut(&text, source));
                }
            }
            Err(error) => return format!("{id} ({})", one_line(&error.to_string())),
        }
    }
    id.to_string()
}

/// `GET /v1/changes/{id}`.
fn fetch_change(client: &Client, id: ChangeId) -> Result<Change, client::Error> {
    client.sync(&Request::get(format!(
        "/v1/changes/{}",
        segment(&id.to_string())
    )))
}

/// The text of the change's last ERROR task log line, without its time and
/// level, on one line: control characters such as the line breaks before
/// a probe's details are escaped (`\n`), as Pebble does.
fn last_error(change: &Change) -> Option<String> {
    let line = change
        .tasks
        .iter()
        .flat_map(|task| &task.log)
        .filter_map(|line| {
            let mut fields = line.splitn(3, ' ');
            let (_time, level, text) = (fields.next()?, fields.next()?, fields.next()?);
            (level == "ERROR").then_some(text)
        })
        .next_back()?;
    Some(one_line(line))
}

/// `text` with each control character replaced by its escape (`\n`,
/// `\t`, `\u{1b}`), so that it stays on one line of a table.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c.is_control() {
            true => out.extend(c.escape_default()),
            false => out.push(c),
        }
    }
    out
}

/// `text` as is when it fits in [`MAX_ERROR_CHARS`], else its start followed
/// by `... run "vigil tasks ID" for more`, all of it that long.
fn cut(text: &str, change: ChangeId) -> String {
    if text.chars().count() <= MAX_ERROR_CHARS {
        return text.to_owned();
    }
    let more = format!("... run \"vigil tasks {change}\" for more");
    let keep = MAX_ERROR_CHARS.saturating_sub(more.chars().count());
    text.chars().take(keep).collect::<String>() + &more
}

/// Show one health check as YAML, with its task log when it fails.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "check")]
pub struct ShowCheck {
    /// run the check now and show the result, with its error if it failed
    #[argh(switch)]
    refresh: bool,

    /// output format: yaml (default) or json
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    /// the check's name
    #[argh(positional, arg_name = "CHECK")]
    check: String,
}

impl ShowCheck {
    pub fn run(self, context: &Context) -> Outcome {
        let format = match Format::parse(self.format.as_deref(), true)? {
            Format::Text => Format::Yaml,
            format => format,
        };
        let Shown {
            mut fields,
            info,
            error,
        } = match self.refresh {
            true => refresh(context, &self.check)?,
            false => find(context, &self.check)?,
        };
        if let Some(error) = &error {
            fields.push(("error".to_owned(), Node::String(error.clone())));
        }
        if info.failures > 0 || error.is_some() {
            let logs = task_logs(&context.client, &info)?;
            if !logs.is_empty() {
                fields.push(("logs".to_owned(), Node::String(logs)));
            }
        }
        let object = Node::Object(fields);
        print(&format.render(&object).unwrap_or_else(|| to_yaml(&object)))
    }
}

/// One check as `check` shows it.
#[derive(Debug)]
struct Shown {
    /// The check object's fields, in the order vigild sent them, unknown
    /// ones included.
    fields: Vec<(String, Node)>,
    /// The same check, read.
    info: CheckInfo,
    /// The probe's error, after a `--refresh` that failed.
    error: Option<String>,
}

/// The check named `name`, from `GET /v1/checks?names=NAME`.
fn find(context: &Context, name: &str) -> Result<Shown, Failure> {
    let request = Request::get("/v1/checks").query("names", name);
    let reply = context.client.send(&request)?;
    let checks: Vec<CheckInfo> = reply.sync()?;
    let raw = reply.raw_result()?;
    let found = checks
        .into_iter()
        .zip(items(raw))
        .find(|(check, _)| check.name == name);
    match found {
        Some((info, fields)) => Ok(Shown {
            fields,
            info,
            error: None,
        }),
        None => Err(Failure::Error(format!("cannot find check \"{name}\""))),
    }
}

/// The check named `name` after probing it now, with
/// `POST /v1/checks/refresh`.
fn refresh(context: &Context, name: &str) -> Result<Shown, Failure> {
    let body = RefreshRequest {
        name: name.to_owned(),
    };
    let reply = context
        .client
        .send(&Request::post("/v1/checks/refresh", &body))?;
    let result: RefreshResult = reply.sync()?;
    let fields = match reply.raw_result()?.get("info") {
        Some(Node::Object(fields)) => fields.clone(),
        // `sync` above read an object there.
        _ => Vec::new(),
    };
    Ok(Shown {
        fields,
        info: result.info,
        error: result.error,
    })
}

/// The fields of each object in a JSON array.
fn items(array: Node) -> Vec<Vec<(String, Node)>> {
    match array {
        Node::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Node::Object(fields) => fields,
                _ => Vec::new(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The task log of the check's change, one line per entry, each ending in
/// a line break; the log of `prev-change-id`'s change when the current one
/// has none yet. Empty for a check that is not running.
fn task_logs(client: &Client, check: &CheckInfo) -> Result<String, Failure> {
    let Some(current) = check.change_id else {
        return Ok(String::new());
    };
    for id in [Some(current), check.prev_change_id].into_iter().flatten() {
        let change = fetch_change(client, id).map_err(|error| {
            Failure::Error(format!("cannot get task logs for change {id}: {error}"))
        })?;
        let mut logs = String::new();
        for line in change.tasks.iter().flat_map(|task| &task.log) {
            logs.push_str(line);
            logs.push('\n');
        }
        if !logs.is_empty() {
            return Ok(logs);
        }
    }
    Ok(String::new())
}

/// Start health checks that are not running.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "start-checks")]
pub struct StartChecks {
    /// the checks to start
    #[argh(positional, arg_name = "CHECK")]
    checks: Vec<String>,
}

impl StartChecks {
    pub fn run(self, context: &Context) -> Outcome {
        act(context, ChecksAction::Start, self.checks)
    }
}

/// Stop running health checks.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "stop-checks")]
pub struct StopChecks {
    /// the checks to stop
    #[argh(positional, arg_name = "CHECK")]
    checks: Vec<String>,
}

impl StopChecks {
    pub fn run(self, context: &Context) -> Outcome {
        act(context, ChecksAction::Stop, self.checks)
    }
}

/// Posts `action` for `checks` and says which checks it changed.
fn act(context: &Context, action: ChecksAction, checks: Vec<String>) -> Outcome {
    if checks.is_empty() {
        return Err(UsageError::MissingArgument("CHECK").into());
    }
    let body = ChecksRequest::new(action, checks);
    let result: ChecksChanged = context.client.sync(&Request::post("/v1/checks", &body))?;
    print(&changed_text(action, &result.changed))
}

/// `Checks started: a, b`, or `Checks already started.` when none changed.
fn changed_text(action: ChecksAction, changed: &[String]) -> String {
    let done = match action {
        ChecksAction::Start => "started",
        ChecksAction::Stop => "stopped",
    };
    match changed.is_empty() {
        true => format!("Checks already {done}.\n"),
        false => format!("Checks {done}: {}\n", changed.join(", ")),
    }
}

/// Say whether the health checks are healthy: exit 0 if so, 1 if not.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "health")]
pub struct Health {
    /// count only the checks of this level: alive, or ready (alive and
    /// ready checks)
    #[argh(option, arg_name = "LEVEL")]
    level: Option<String>,

    /// output format: text (default), json or yaml
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    /// the checks to count (default: all)
    #[argh(positional, arg_name = "CHECK")]
    checks: Vec<String>,
}

impl Health {
    pub fn run(self, context: &Context) -> Outcome {
        let format = Format::parse(self.format.as_deref(), true)?;
        let level = parse_level(self.level)?;
        let request = filtered(Request::get("/v1/health"), level, &self.checks);
        // Unhealthy is a sync reply with HTTP 502: `sync` reads it by its
        // type, and an error envelope is still an error.
        let reply = context.client.send(&request)?;
        let health: HealthInfo = reply.sync()?;
        if !print_formatted(format, &reply)? {
            print(match health.healthy {
                true => "healthy\n",
                false => "unhealthy\n",
            })?;
        }
        match health.healthy {
            true => Ok(()),
            false => Err(Failure::Exit(EXIT_FAILURE)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn checks() -> Vec<CheckInfo> {
        serde_json::from_value(json!([
            {"name": "api", "level": "ready", "startup": "enabled", "status": "down",
             "successes": 12, "failures": 3, "threshold": 3, "change-id": "44", "prev-change-id": "40"},
            {"name": "disk", "startup": "disabled", "status": "inactive", "successes": 0, "threshold": 3}
        ]))
        .unwrap()
    }

    fn change_with_log(log: &[&str]) -> Change {
        serde_json::from_value(json!({
            "id": "44", "kind": "recover-check", "summary": "Recover HTTP check \"api\"",
            "status": "Doing", "ready": false, "spawn-time": "2025-03-01T10:00:00Z",
            "tasks": [{
                "id": "50", "kind": "recover-check", "summary": "Recover HTTP check \"api\"",
                "status": "Doing", "log": log, "progress": {"label": "", "done": 0, "total": 1},
                "spawn-time": "2025-03-01T10:00:00Z"
            }]
        }))
        .unwrap()
    }

    #[test]
    fn table_matches_the_spec() {
        let changes = ["44 (non-2xx status code 503)".to_owned(), "-".to_owned()];
        assert_eq!(
            checks_table(&checks(), &changes),
            "Check  Level  Startup   Status    Successes  Failures  Change\n\
             api    ready  enabled   down      12         3/3       44 (non-2xx status code 503)\n\
             disk   -      disabled  inactive  -          -         -\n"
        );
    }

    #[test]
    fn last_error_line_without_time_and_level() {
        let change = change_with_log(&[
            "2025-03-01T10:00:00Z ERROR first",
            "2025-03-01T10:00:01Z ERROR non-2xx status code 503\n<html>\tbody</html>",
            "2025-03-01T10:00:02Z INFO not an error",
        ]);
        assert_eq!(
            last_error(&change).as_deref(),
            Some("non-2xx status code 503\\n<html>\\tbody</html>")
        );
        assert_eq!(
            last_error(&change_with_log(&["2025-03-01T10:00:02Z INFO ok"])),
            None
        );
        assert_eq!(last_error(&change_with_log(&[])), None);
    }

    #[test]
    fn long_errors_are_cut_at_70_characters() {
        let id = ChangeId::new(44);
        let fits = "x".repeat(70);
        assert_eq!(cut(&fits, id), fits);
        let long = format!(
            "dial tcp 127.0.0.1:8080: connect: connection refused, {}",
            "é".repeat(20)
        );
        let cell = cut(&long, id);
        assert_eq!(
            cell,
            "dial tcp 127.0.0.1:8080: connect: con... run \"vigil tasks 44\" for more"
        );
        assert_eq!(cell.chars().count(), 70);
        // Characters, not bytes: a cut never splits one.
        let wide = "é".repeat(71);
        assert_eq!(cut(&wide, id).chars().count(), 70);
    }

    #[test]
    fn level_option() {
        assert_eq!(parse_level(None), Ok(None));
        assert_eq!(
            parse_level(Some("ready".into())),
            Ok(Some(CheckLevel::Ready))
        );
        assert_eq!(
            parse_level(Some("live".into())).unwrap_err().to_string(),
            "invalid value \"live\" for --level (expected alive or ready)"
        );
        let request = filtered(
            Request::get("/v1/health"),
            Some(CheckLevel::Alive),
            &["a".into(), "b".into()],
        );
        assert_eq!(request.target(), "/v1/health?level=alive&names=a%2Cb");
        assert_eq!(
            filtered(Request::get("/v1/checks"), None, &[]).target(),
            "/v1/checks"
        );
    }

    #[test]
    fn start_and_stop_messages() {
        let names = ["a".to_owned(), "b".to_owned()];
        assert_eq!(
            changed_text(ChecksAction::Start, &names),
            "Checks started: a, b\n"
        );
        assert_eq!(
            changed_text(ChecksAction::Stop, &names[..1]),
            "Checks stopped: a\n"
        );
        assert_eq!(
            changed_text(ChecksAction::Start, &[]),
            "Checks already started.\n"
        );
        assert_eq!(
            changed_text(ChecksAction::Stop, &[]),
            "Checks already stopped.\n"
        );
    }
}
