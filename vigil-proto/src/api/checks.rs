//! `/v1/checks` and `/v1/checks/refresh` (spec api.md §6.8): the check list
//! items, the start/stop body and its reply, and the refresh body and reply.
//!
//! Field presence follows Pebble exactly, because ops decides whether a check
//! is running by whether `change-id` is there.

use serde::{Deserialize, Serialize};

use super::ids::ChangeId;
use super::services::ServiceStartup;
use super::system::HealthLevel;
use super::{Error, null_as_default};

/// One item of the `GET /v1/checks` result, which is sorted by name.
///
/// ```json
/// {"name": "api", "level": "ready", "startup": "enabled", "status": "down",
///  "successes": 12, "failures": 3, "threshold": 3, "change-id": "44", "prev-change-id": "40"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInfo {
    /// The check's name in the plan.
    #[serde(rename = "name")]
    pub name: String,
    /// `alive` or `ready`; omitted when unset.
    #[serde(rename = "level", default, skip_serializing_if = "Option::is_none")]
    pub level: Option<CheckLevel>,
    /// `enabled` or `disabled`; unset is reported as `enabled`.
    #[serde(rename = "startup")]
    pub startup: ServiceStartup,
    /// `up`, `down` or `inactive`.
    #[serde(rename = "status")]
    pub status: CheckStatus,
    /// Successful probes since the check was last started.
    #[serde(rename = "successes", default)]
    pub successes: u64,
    /// Consecutive failed probes; omitted when 0.
    #[serde(rename = "failures", default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// The failures at which the check goes down.
    #[serde(rename = "threshold")]
    pub threshold: u32,
    /// The running `perform-check` or `recover-check` change: present exactly
    /// when the check is running.
    #[serde(rename = "change-id", default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<ChangeId>,
    /// The change before it; omitted when there was none.
    #[serde(
        rename = "prev-change-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub prev_change_id: Option<ChangeId>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A check's `level` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckLevel {
    /// `alive`.
    #[serde(rename = "alive")]
    Alive,
    /// `ready`.
    #[serde(rename = "ready")]
    Ready,
}

impl CheckLevel {
    /// Parses the `level` query parameter of `GET /v1/checks`: empty means
    /// any level. The words are those of `/v1/health`, and so is the error.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHealthLevel`] for anything but empty, `alive` or
    /// `ready`.
    pub fn parse_query(value: &str) -> Result<Option<Self>, Error> {
        Ok(HealthLevel::parse_query(value)?.map(|level| match level {
            HealthLevel::Alive => Self::Alive,
            HealthLevel::Ready => Self::Ready,
        }))
    }

    /// The wire spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Ready => "ready",
        }
    }
}

/// A check's `status` on the wire (checks-and-alerts.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CheckStatus {
    /// Running, below the threshold.
    #[serde(rename = "up")]
    Up,
    /// Running, at or above the threshold.
    #[serde(rename = "down")]
    Down,
    /// Not running.
    #[serde(rename = "inactive")]
    Inactive,
}

impl CheckStatus {
    /// The wire spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Inactive => "inactive",
        }
    }
}

/// The body of `POST /v1/checks`: `{"action": "start", "checks": ["api"]}`.
/// A missing or `null` field reads as empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksRequest {
    /// The action as the client sent it.
    #[serde(rename = "action", default, deserialize_with = "null_as_default")]
    pub action: String,
    /// The checks to act on.
    #[serde(rename = "checks", default, deserialize_with = "null_as_default")]
    pub checks: Vec<String>,
}

impl ChecksRequest {
    /// The body asking for `action` on `checks`.
    #[must_use]
    pub fn new(action: ChecksAction, checks: Vec<String>) -> Self {
        Self {
            action: action.as_str().to_owned(),
            checks,
        }
    }

    /// The requested action.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAction`] unless it is `start` or `stop`.
    pub fn action(&self) -> Result<ChecksAction, Error> {
        match self.action.as_str() {
            "start" => Ok(ChecksAction::Start),
            "stop" => Ok(ChecksAction::Stop),
            _ => Err(Error::InvalidAction {
                action: self.action.clone(),
            }),
        }
    }
}

/// What `POST /v1/checks` can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksAction {
    /// Start the named checks that are not running.
    Start,
    /// Stop the named running checks.
    Stop,
}

impl ChecksAction {
    /// The wire spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
        }
    }
}

/// The result of `POST /v1/checks`: the checks actually started or stopped,
/// sorted; `[]`, never null.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksChanged {
    /// The names.
    #[serde(rename = "changed", default, deserialize_with = "null_as_default")]
    pub changed: Vec<String>,
}

/// The body of `POST /v1/checks/refresh`: `{"name": "api"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRequest {
    /// The check to probe now.
    #[serde(rename = "name", default, deserialize_with = "null_as_default")]
    pub name: String,
}

/// The result of `POST /v1/checks/refresh`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshResult {
    /// The check after the probe.
    #[serde(rename = "info")]
    pub info: CheckInfo,
    /// The probe's failure message; omitted when it passed.
    #[serde(rename = "error", default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn check_info_matches_the_spec_examples() {
        let down = CheckInfo {
            name: "api".into(),
            level: Some(CheckLevel::Ready),
            startup: ServiceStartup::Enabled,
            status: CheckStatus::Down,
            successes: 12,
            failures: 3,
            threshold: 3,
            change_id: Some(ChangeId::new(44)),
            prev_change_id: Some(ChangeId::new(40)),
        };
        let want = json!({"name": "api", "level": "ready", "startup": "enabled", "status": "down",
            "successes": 12, "failures": 3, "threshold": 3, "change-id": "44", "prev-change-id": "40"});
        assert_eq!(serde_json::to_value(&down).unwrap(), want);
        assert_eq!(serde_json::from_value::<CheckInfo>(want).unwrap(), down);

        let inactive = CheckInfo {
            name: "disk".into(),
            level: None,
            startup: ServiceStartup::Disabled,
            status: CheckStatus::Inactive,
            successes: 0,
            failures: 0,
            threshold: 3,
            change_id: None,
            prev_change_id: None,
        };
        let want = json!({"name": "disk", "startup": "disabled", "status": "inactive",
            "successes": 0, "threshold": 3});
        assert_eq!(serde_json::to_value(&inactive).unwrap(), want);
        assert_eq!(serde_json::from_value::<CheckInfo>(want).unwrap(), inactive);
    }

    #[test]
    fn checks_request_actions() {
        let body: ChecksRequest =
            serde_json::from_str(r#"{"action": "stop", "checks": null}"#).unwrap();
        assert_eq!(body.action(), Ok(ChecksAction::Stop));
        assert!(body.checks.is_empty());
        let body: ChecksRequest = serde_json::from_str(r#"{"action": "pause"}"#).unwrap();
        assert_eq!(
            body.action().unwrap_err().to_string(),
            r#"invalid action "pause""#
        );
        assert_eq!(
            serde_json::to_value(ChecksRequest::new(ChecksAction::Start, vec!["a".into()]))
                .unwrap(),
            json!({"action": "start", "checks": ["a"]})
        );
    }

    #[test]
    fn refresh_result_omits_a_passing_error() {
        let info = CheckInfo {
            name: "a".into(),
            level: None,
            startup: ServiceStartup::Enabled,
            status: CheckStatus::Up,
            successes: 1,
            failures: 0,
            threshold: 3,
            change_id: Some(ChangeId::new(2)),
            prev_change_id: None,
        };
        let ok = RefreshResult {
            info: info.clone(),
            error: None,
        };
        assert!(serde_json::to_value(&ok).unwrap().get("error").is_none());
        assert_eq!(
            serde_json::to_value(ChecksChanged::default()).unwrap(),
            json!({"changed": []})
        );
    }

    #[test]
    fn level_query() {
        assert_eq!(CheckLevel::parse_query(""), Ok(None));
        assert_eq!(
            CheckLevel::parse_query("alive"),
            Ok(Some(CheckLevel::Alive))
        );
        assert_eq!(
            CheckLevel::parse_query("live"),
            Err(Error::InvalidHealthLevel)
        );
    }
}
