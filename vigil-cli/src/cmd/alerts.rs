//! `alerts` (cli.md §3.9, a vigil extension): what `GET /v1/alerts` returns,
//! one alert per row.

use argh::{ArgsInfo, FromArgs};
use vigil_proto::api::AlertInfo;

use super::{Context, Outcome, print, print_formatted};
use crate::client::Request;
use crate::format::Format;
use crate::table::Table;

/// Show the alerts of the plan, their watched checks and deliveries.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "alerts")]
pub struct Alerts {
    /// output format: text (default), json or yaml
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    /// the alerts to show (default: all)
    #[argh(positional, arg_name = "ALERT")]
    alerts: Vec<String>,
}

impl Alerts {
    pub fn run(self, context: &Context) -> Outcome {
        let format = Format::parse(self.format.as_deref(), true)?;
        let mut request = Request::get("/v1/alerts");
        if !self.alerts.is_empty() {
            request = request.query("names", self.alerts.join(","));
        }
        let reply = context.client.send(&request)?;
        if print_formatted(format, &reply)? {
            return Ok(());
        }
        let alerts: Vec<AlertInfo> = reply.sync()?;
        if alerts.is_empty() {
            eprintln!(
                "{}",
                if self.alerts.is_empty() {
                    "Plan has no alerts."
                } else {
                    "No matching alerts."
                }
            );
            return Ok(());
        }
        print(&alerts_table(&alerts))
    }
}

/// `down` if a watched check is down, `up` if every one is up, `unknown`
/// otherwise (none watched, or some inactive or not in the plan).
fn status(alert: &AlertInfo) -> &'static str {
    let statuses = &alert.check_status;
    if statuses.iter().any(|s| s.status == "down") {
        "down"
    } else if !statuses.is_empty() && statuses.iter().all(|s| s.status == "up") {
        "up"
    } else {
        "unknown"
    }
}

fn alerts_table(alerts: &[AlertInfo]) -> String {
    let mut table = Table::new(&["Alert", "Format", "Status", "Checks", "Fired", "Last error"]);
    for alert in alerts {
        let checks = if alert.on_check.is_empty() {
            "-".to_owned()
        } else {
            alert.on_check.join(", ")
        };
        table.push(vec![
            alert.name.clone(),
            alert.format.clone(),
            status(alert).to_owned(),
            checks,
            alert.fire_count.to_string(),
            alert.last_error.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_table_of_the_spec() {
        let alerts: Vec<AlertInfo> = serde_json::from_value(json!([
            {"name": "pager", "format": "alertmanager", "url": "env:PAGER_URL",
             "on-check": ["api", "disk"],
             "check-status": [{"check": "api", "status": "down"}, {"check": "disk", "status": "up"}],
             "fire-count": 2, "last-error": "HTTP 503 after 3 attempts",
             "last-error-time": "2025-03-01T10:16:02.5+01:00"},
            {"name": "audit", "format": "webhook", "url": "http://x/", "on-check": [],
             "check-status": [], "fire-count": 0},
            {"name": "ok", "format": "otlp-logs", "url": "http://x/", "on-check": ["api"],
             "check-status": [{"check": "api", "status": "up"}], "fire-count": 0}
        ]))
        .unwrap();
        assert_eq!(
            alerts_table(&alerts),
            "Alert  Format        Status   Checks     Fired  Last error\n\
             pager  alertmanager  down     api, disk  2      HTTP 503 after 3 attempts\n\
             audit  webhook       unknown  -          0      -\n\
             ok     otlp-logs     up       api        0      -\n"
        );
    }
}
