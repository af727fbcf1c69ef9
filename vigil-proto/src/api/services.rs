//! `/v1/services` and `POST /v1/signals` (spec api.md §6.3, §6.5): the service
//! list items, the service action body and the signal body.
//!
//! Request bodies keep `action` as the text the client sent, so that an
//! unknown action reaches the handler and gets Pebble's
//! `invalid action "x"` reply instead of a decoding error; the handler parses
//! it with [`ServicesRequest::action`]. Service and signal names stay strings
//! here: the handler resolves them against the plan and the signal table,
//! which own their rules and error messages.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::time::Timestamp;
use super::{Error, null_as_default};

/// One item of the `GET /v1/services` result, which is sorted by name.
///
/// ```json
/// {"name": "db", "startup": "enabled", "current": "active", "current-since": "2025-03-01T10:00:01.5+01:00"}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// The service's name in the plan.
    #[serde(rename = "name")]
    pub name: String,
    /// Whether the service starts at boot and on `autostart`.
    #[serde(rename = "startup")]
    pub startup: ServiceStartup,
    /// The service's state as the API reports it.
    #[serde(rename = "current")]
    pub current: ServiceStatus,
    /// When `current` last changed, in the daemon's local zone; omitted for a
    /// service that has never left its initial state.
    #[serde(
        rename = "current-since",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub current_since: Option<Timestamp>,
}

/// A service's `startup` setting as the API reports it: unset counts as
/// disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceStartup {
    /// `enabled`: started at boot and by `autostart`.
    #[serde(rename = "enabled")]
    Enabled,
    /// `disabled`: started only when asked.
    #[serde(rename = "disabled")]
    Disabled,
}

/// A service's `current` state (supervision.md §2 maps the internal states
/// onto these four).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceStatus {
    /// `active`: starting or running.
    #[serde(rename = "active")]
    Active,
    /// `inactive`: never started, stopped, or exited without a restart.
    #[serde(rename = "inactive")]
    Inactive,
    /// `backoff`: waiting to be restarted after an exit.
    #[serde(rename = "backoff")]
    Backoff,
    /// `error`: could not be started.
    #[serde(rename = "error")]
    Error,
}

/// The body of `POST /v1/services`: `{"action": "start", "services": ["web"]}`.
///
/// A missing or `null` field reads as empty. The handler checks the action
/// with [`action`](Self::action) and the names against the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicesRequest {
    /// The action as the client sent it.
    #[serde(rename = "action", default, deserialize_with = "null_as_default")]
    pub action: String,
    /// The services to act on; empty for `replan` and `autostart`.
    #[serde(rename = "services", default, deserialize_with = "null_as_default")]
    pub services: Vec<String>,
}

impl ServicesRequest {
    /// The body asking for `action` on `services`.
    #[must_use]
    pub fn new(action: ServiceAction, services: Vec<String>) -> Self {
        Self {
            action: action.as_str().to_owned(),
            services,
        }
    }

    /// The requested action.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAction`] when `action` is not one of the five.
    pub fn action(&self) -> Result<ServiceAction, Error> {
        self.action.parse()
    }
}

/// What `POST /v1/services` can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceAction {
    /// `start` the named services and what they require.
    Start,
    /// `stop` the named services and what depends on them.
    Stop,
    /// `restart`: stop the named services, then start them.
    Restart,
    /// `autostart`: start every service whose startup is enabled.
    Autostart,
    /// `replan`: reload the plan and restart what it changed.
    Replan,
}

impl ServiceAction {
    /// The action as it is spelled on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Restart => "restart",
            Self::Autostart => "autostart",
            Self::Replan => "replan",
        }
    }

    /// Whether the action needs service names (`start`, `stop`, `restart`)
    /// rather than refusing them (`autostart`, `replan`).
    #[must_use]
    pub const fn needs_services(self) -> bool {
        match self {
            Self::Start | Self::Stop | Self::Restart => true,
            Self::Autostart | Self::Replan => false,
        }
    }
}

impl fmt::Display for ServiceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceAction {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "start" => Ok(Self::Start),
            "stop" => Ok(Self::Stop),
            "restart" => Ok(Self::Restart),
            "autostart" => Ok(Self::Autostart),
            "replan" => Ok(Self::Replan),
            _ => Err(Error::InvalidAction {
                action: text.to_owned(),
            }),
        }
    }
}

/// The body of `POST /v1/signals`: `{"signal": "SIGHUP", "services": ["web"]}`.
///
/// The signal name keeps its `SIG` prefix; the handler parses it and reports
/// an unknown name per service. Its result is `true`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalsRequest {
    /// The signal's name, such as `SIGHUP`.
    #[serde(rename = "signal", default, deserialize_with = "null_as_default")]
    pub signal: String,
    /// The services whose main process gets the signal.
    #[serde(rename = "services", default, deserialize_with = "null_as_default")]
    pub services: Vec<String>,
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;
    use crate::api::time::UtcOffset;

    #[test]
    fn service_list_matches_the_spec_example() {
        let since = Timestamp::new(
            UNIX_EPOCH + Duration::new(1_740_819_601, 500_000_000),
            UtcOffset::from_seconds(3600).unwrap(),
        );
        let list = vec![
            ServiceInfo {
                name: "db".into(),
                startup: ServiceStartup::Enabled,
                current: ServiceStatus::Active,
                current_since: Some(since),
            },
            ServiceInfo {
                name: "web".into(),
                startup: ServiceStartup::Disabled,
                current: ServiceStatus::Inactive,
                current_since: None,
            },
        ];
        let want = json!([
            {"name": "db", "startup": "enabled", "current": "active", "current-since": "2025-03-01T10:00:01.5+01:00"},
            {"name": "web", "startup": "disabled", "current": "inactive"}
        ]);
        assert_eq!(serde_json::to_value(&list).unwrap(), want);
        assert_eq!(
            serde_json::from_value::<Vec<ServiceInfo>>(want).unwrap(),
            list
        );
    }

    #[test]
    fn service_states_use_wire_names() {
        for (status, name) in [
            (ServiceStatus::Active, "active"),
            (ServiceStatus::Inactive, "inactive"),
            (ServiceStatus::Backoff, "backoff"),
            (ServiceStatus::Error, "error"),
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), json!(name));
            assert_eq!(
                serde_json::from_value::<ServiceStatus>(json!(name)).unwrap(),
                status
            );
        }
    }

    #[test]
    fn services_request() {
        let request = ServicesRequest::new(ServiceAction::Start, vec!["web".into()]);
        let want = json!({"action": "start", "services": ["web"]});
        assert_eq!(serde_json::to_value(&request).unwrap(), want);
        let back: ServicesRequest = serde_json::from_value(want).unwrap();
        assert_eq!(back, request);
        assert_eq!(back.action(), Ok(ServiceAction::Start));
    }

    #[test]
    fn services_request_tolerates_absent_null_and_unknown() {
        let request: ServicesRequest =
            serde_json::from_value(json!({"action": "replan", "services": null, "extra": 1}))
                .unwrap();
        assert_eq!(request, ServicesRequest::new(ServiceAction::Replan, vec![]));
        let empty: ServicesRequest = serde_json::from_value(json!({})).unwrap();
        assert_eq!(empty, ServicesRequest::default());
        assert!(serde_json::from_value::<ServicesRequest>(json!({"services": "web"})).is_err());
    }

    #[test]
    fn service_actions() {
        for action in [
            ServiceAction::Start,
            ServiceAction::Stop,
            ServiceAction::Restart,
            ServiceAction::Autostart,
            ServiceAction::Replan,
        ] {
            assert_eq!(action.as_str().parse(), Ok(action));
            assert_eq!(action.to_string(), action.as_str());
        }
        assert!(ServiceAction::Restart.needs_services());
        assert!(!ServiceAction::Autostart.needs_services());
        let request: ServicesRequest = serde_json::from_value(json!({"action": "boot"})).unwrap();
        assert_eq!(
            request.action().unwrap_err().to_string(),
            r#"invalid action "boot""#
        );
    }

    #[test]
    fn signals_request() {
        let request = SignalsRequest {
            signal: "SIGHUP".into(),
            services: vec!["web".into()],
        };
        let want = json!({"signal": "SIGHUP", "services": ["web"]});
        assert_eq!(serde_json::to_value(&request).unwrap(), want);
        assert_eq!(
            serde_json::from_value::<SignalsRequest>(want).unwrap(),
            request
        );
        let empty: SignalsRequest =
            serde_json::from_value(json!({"signal": "SIGHUP", "services": null})).unwrap();
        assert!(empty.services.is_empty());
    }
}
