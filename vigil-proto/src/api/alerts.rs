//! `GET /v1/alerts` (spec api.md §6.18, a vigil extension): each alert with
//! the status of its watched checks, its fire count and its last delivery.

use serde::{Deserialize, Serialize};

use super::time::Timestamp;

/// One item of the `GET /v1/alerts` result, which is sorted by name.
///
/// ```json
/// {"name": "pager", "format": "alertmanager", "url": "env:PAGER_URL",
///  "on-check": ["api", "disk"],
///  "check-status": [{"check": "api", "status": "down"}, {"check": "disk", "status": "inactive"}],
///  "fire-count": 2,
///  "last-error": "HTTP 503 after 3 attempts", "last-error-time": "2025-03-01T10:16:02.5+01:00",
///  "last-sent-time": "2025-03-01T09:00:00.25+01:00"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertInfo {
    /// The alert's name.
    #[serde(rename = "name")]
    pub name: String,
    /// `webhook`, `alertmanager`, `cloud-events` or `otlp-logs`.
    #[serde(rename = "format")]
    pub format: String,
    /// The URL as written (`env:…` stays), with a password shown as
    /// `*****`.
    #[serde(rename = "url")]
    pub url: String,
    /// The checks it watches.
    #[serde(rename = "on-check", default)]
    pub on_check: Vec<String>,
    /// Each watched check's status: `up`, `down`, `inactive`, or `unknown`
    /// for a check not in the plan.
    #[serde(rename = "check-status", default)]
    pub check_status: Vec<CheckStatusItem>,
    /// Events fired, down or up.
    #[serde(rename = "fire-count", default)]
    pub fire_count: u64,
    /// The last delivery failure; omitted until there is one.
    #[serde(
        rename = "last-error",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_error: Option<String>,
    /// When it happened.
    #[serde(
        rename = "last-error-time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_error_time: Option<Timestamp>,
    /// When a delivery last succeeded; omitted until one does.
    #[serde(
        rename = "last-sent-time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_sent_time: Option<Timestamp>,
}

/// A watched check and its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatusItem {
    /// The check.
    #[serde(rename = "check")]
    pub check: String,
    /// `up`, `down`, `inactive` or `unknown`.
    #[serde(rename = "status")]
    pub status: String,
}

/// `url` with the password of a `user:password@` part replaced by `*****`.
#[must_use]
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:*****@{host}{path}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;
    use crate::api::UtcOffset;

    #[test]
    fn alert_info_matches_the_spec_example() {
        let plus_one = UtcOffset::from_seconds(3600).unwrap();
        let info = AlertInfo {
            name: "pager".into(),
            format: "alertmanager".into(),
            url: "env:PAGER_URL".into(),
            on_check: vec!["api".into(), "disk".into()],
            check_status: vec![
                CheckStatusItem {
                    check: "api".into(),
                    status: "down".into(),
                },
                CheckStatusItem {
                    check: "disk".into(),
                    status: "inactive".into(),
                },
            ],
            fire_count: 2,
            last_error: Some("HTTP 503 after 3 attempts".into()),
            last_error_time: Some(Timestamp::new(
                UNIX_EPOCH + Duration::new(1_740_820_562, 500_000_000),
                plus_one,
            )),
            last_sent_time: Some(Timestamp::new(
                UNIX_EPOCH + Duration::new(1_740_816_000, 250_000_000),
                plus_one,
            )),
        };
        let want = json!({"name": "pager", "format": "alertmanager", "url": "env:PAGER_URL",
            "on-check": ["api", "disk"],
            "check-status": [{"check": "api", "status": "down"}, {"check": "disk", "status": "inactive"}],
            "fire-count": 2,
            "last-error": "HTTP 503 after 3 attempts", "last-error-time": "2025-03-01T10:16:02.5+01:00",
            "last-sent-time": "2025-03-01T09:00:00.25+01:00"});
        assert_eq!(serde_json::to_value(&info).unwrap(), want);
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url("https://bot:s3cret@hooks.example.com/x?a=b@c"),
            "https://bot:*****@hooks.example.com/x?a=b@c"
        );
        assert_eq!(
            mask_url("https://bot@example.com/"),
            "https://bot@example.com/"
        );
        assert_eq!(mask_url("env:PAGER_URL"), "env:PAGER_URL");
        assert_eq!(mask_url("http://example.com/a@b"), "http://example.com/a@b");
    }
}
