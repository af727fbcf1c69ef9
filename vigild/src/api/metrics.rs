//! `GET /v1/metrics` (api.md §6.17): the daemon's figures in the
//! OpenMetrics text format, with vigil's own metric names.
//!
//! Every family is always present, in the order of the spec, even with no
//! samples; samples are sorted by label value, and objects that left the
//! plan are not listed. The renderer is pure: it takes the figures and
//! returns the text.

use std::fmt::Write as _;

use vigil_proto::api::StatusCode;

use super::{Reply, State};
use crate::http::Response;
use crate::supervisor::ServiceMetrics;

/// The reply's `Content-Type`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A check's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckMetrics {
    /// The check.
    pub name: String,
    /// `vigil_check_up`: `None` for an inactive check, which has no sample.
    pub up: Option<bool>,
    /// `vigil_check_success_count`.
    pub successes: u64,
    /// `vigil_check_failure_count`.
    pub failures: u64,
}

/// An alert's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertMetrics {
    /// The alert.
    pub name: String,
    /// `vigil_alert_fire_count`: times it fired, down or up.
    pub fires: u64,
    /// `vigil_alert_delivery_failure_count`: deliveries that failed for
    /// good (every attempt, or dropped from the queue).
    pub failures: u64,
}

/// Answers `GET /v1/metrics`.
pub(super) fn metrics(state: &State) -> Reply {
    let checks: Vec<CheckMetrics> = state
        .checks
        .metrics()
        .into_iter()
        .map(|c| CheckMetrics {
            up: match c.status {
                crate::checks::CheckStatus::Up => Some(true),
                crate::checks::CheckStatus::Down => Some(false),
                crate::checks::CheckStatus::Inactive => None,
            },
            name: c.name,
            successes: c.success_count,
            failures: c.failure_count,
        })
        .collect();
    let alerts: Vec<AlertMetrics> = state
        .alerts
        .metrics()
        .into_iter()
        .map(|(name, fires, failures)| AlertMetrics {
            name,
            fires,
            failures,
        })
        .collect();
    let body = render(&state.supervisor.metrics(), &checks, &alerts);
    Reply::Now(Response::new(
        StatusCode::Ok,
        CONTENT_TYPE,
        body.into_bytes(),
    ))
}

/// The whole exposition, ending with `# EOF`. Each slice must be sorted by
/// name, as the supervisor's figures are.
#[must_use]
pub fn render(
    services: &[ServiceMetrics],
    checks: &[CheckMetrics],
    alerts: &[AlertMetrics],
) -> String {
    let mut out = String::with_capacity(256 + 96 * (services.len() + checks.len()));
    family(
        &mut out,
        "vigil_service_active",
        Kind::Gauge,
        "Whether the service is active (1) or not (0).",
        "service",
        services.iter().map(|s| (&*s.name, u64::from(s.active))),
    );
    family(
        &mut out,
        "vigil_service_start_count",
        Kind::Counter,
        "Number of times the service has been started.",
        "service",
        services.iter().map(|s| (&*s.name, s.start_count)),
    );
    family(
        &mut out,
        "vigil_check_up",
        Kind::Gauge,
        "Whether the check is up (1) or down (0).",
        "check",
        checks
            .iter()
            .filter_map(|c| c.up.map(|up| (&*c.name, u64::from(up)))),
    );
    family(
        &mut out,
        "vigil_check_success_count",
        Kind::Counter,
        "Number of successful probes of the check.",
        "check",
        checks.iter().map(|c| (&*c.name, c.successes)),
    );
    family(
        &mut out,
        "vigil_check_failure_count",
        Kind::Counter,
        "Number of failed probes of the check.",
        "check",
        checks.iter().map(|c| (&*c.name, c.failures)),
    );
    family(
        &mut out,
        "vigil_alert_fire_count",
        Kind::Counter,
        "Number of times the alert has fired, down or up.",
        "alert",
        alerts.iter().map(|a| (&*a.name, a.fires)),
    );
    family(
        &mut out,
        "vigil_alert_delivery_failure_count",
        Kind::Counter,
        "Number of alert deliveries that failed after every attempt or were dropped.",
        "alert",
        alerts.iter().map(|a| (&*a.name, a.failures)),
    );
    out.push_str("# EOF\n");
    out
}

/// The OpenMetrics type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

/// Appends one family: `# TYPE`, `# HELP`, then a sample per object. A
/// counter's samples carry `_total`; the family name does not.
fn family<'a>(
    out: &mut String,
    name: &str,
    kind: Kind,
    help: &str,
    label: &str,
    samples: impl Iterator<Item = (&'a str, u64)>,
) {
    let (type_name, suffix) = match kind {
        Kind::Gauge => ("gauge", ""),
        Kind::Counter => ("counter", "_total"),
    };
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# TYPE {name} {type_name}");
    let _ = writeln!(out, "# HELP {name} {help}");
    for (object, value) in samples {
        let _ = write!(out, "{name}{suffix}{{{label}=\"");
        escape_label(out, object);
        let _ = writeln!(out, "\"}} {value}");
    }
}

/// A label value with `\`, `"` and newline escaped (OpenMetrics 1.0,
/// "ABNF": `escaped-string`).
fn escape_label(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, active: bool, start_count: u64) -> ServiceMetrics {
        ServiceMetrics {
            name: name.into(),
            active,
            start_count,
        }
    }

    /// The example of api.md §6.17, byte for byte.
    #[test]
    fn renders_the_spec_example() {
        let services = [service("db", true, 1), service("web", false, 4)];
        let checks = [
            CheckMetrics {
                name: "api".into(),
                up: Some(false),
                successes: 120,
                failures: 5,
            },
            CheckMetrics {
                name: "disk".into(),
                up: None,
                successes: 0,
                failures: 0,
            },
        ];
        let alerts = [AlertMetrics {
            name: "pager".into(),
            fires: 2,
            failures: 1,
        }];
        assert_eq!(
            render(&services, &checks, &alerts),
            r#"# TYPE vigil_service_active gauge
# HELP vigil_service_active Whether the service is active (1) or not (0).
vigil_service_active{service="db"} 1
vigil_service_active{service="web"} 0
# TYPE vigil_service_start_count counter
# HELP vigil_service_start_count Number of times the service has been started.
vigil_service_start_count_total{service="db"} 1
vigil_service_start_count_total{service="web"} 4
# TYPE vigil_check_up gauge
# HELP vigil_check_up Whether the check is up (1) or down (0).
vigil_check_up{check="api"} 0
# TYPE vigil_check_success_count counter
# HELP vigil_check_success_count Number of successful probes of the check.
vigil_check_success_count_total{check="api"} 120
vigil_check_success_count_total{check="disk"} 0
# TYPE vigil_check_failure_count counter
# HELP vigil_check_failure_count Number of failed probes of the check.
vigil_check_failure_count_total{check="api"} 5
vigil_check_failure_count_total{check="disk"} 0
# TYPE vigil_alert_fire_count counter
# HELP vigil_alert_fire_count Number of times the alert has fired, down or up.
vigil_alert_fire_count_total{alert="pager"} 2
# TYPE vigil_alert_delivery_failure_count counter
# HELP vigil_alert_delivery_failure_count Number of alert deliveries that failed after every attempt or were dropped.
vigil_alert_delivery_failure_count_total{alert="pager"} 1
# EOF
"#
        );
    }

    #[test]
    fn every_family_is_present_without_samples() {
        let text = render(&[], &[], &[]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7 * 2 + 1);
        assert!(lines.iter().all(|line| line.starts_with('#')));
        assert_eq!(lines.last(), Some(&"# EOF"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let text = render(&[service("a\\b\"c\nd", true, 0)], &[], &[]);
        assert!(
            text.contains("vigil_service_active{service=\"a\\\\b\\\"c\\nd\"} 1\n"),
            "{text}"
        );
    }
}
