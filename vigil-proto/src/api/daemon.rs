//! `POST /v1/vigild` (spec api.md §6.15, ext): stopping or restarting the
//! daemon itself.
//!
//! As on `/v1/services`, the body keeps `action` as the text the client
//! sent, so that an unknown action gets the `invalid action "x"` reply
//! rather than a decoding error.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Error, null_as_default};

/// The body of `POST /v1/vigild`: `{"action": "restart"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonRequest {
    /// The action as the client sent it.
    #[serde(rename = "action", default, deserialize_with = "null_as_default")]
    pub action: String,
}

impl DaemonRequest {
    /// The body asking for `action`.
    #[must_use]
    pub fn new(action: DaemonAction) -> Self {
        Self {
            action: action.as_str().to_owned(),
        }
    }

    /// The requested action.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAction`] unless `action` is `stop` or `restart`.
    pub fn action(&self) -> Result<DaemonAction, Error> {
        self.action.parse()
    }
}

/// What `POST /v1/vigild` can do (spec supervision.md §12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DaemonAction {
    /// `stop`: the graceful shutdown, then exit 0.
    Stop,
    /// `restart`: the shutdown, then re-execute the same binary with the
    /// same arguments and environment, keeping the pid.
    Restart,
}

impl DaemonAction {
    /// The action as it is spelled on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Restart => "restart",
        }
    }
}

impl fmt::Display for DaemonAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DaemonAction {
    type Err = Error;

    fn from_str(action: &str) -> Result<Self, Error> {
        match action {
            "stop" => Ok(Self::Stop),
            "restart" => Ok(Self::Restart),
            _ => Err(Error::InvalidAction {
                action: action.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_unknown_ones_are_refused() {
        let body: DaemonRequest = serde_json::from_str(r#"{"action":"restart"}"#).unwrap();
        assert_eq!(body.action(), Ok(DaemonAction::Restart));
        let body: DaemonRequest = serde_json::from_str(r#"{"action":"stop","x":1}"#).unwrap();
        assert_eq!(body.action(), Ok(DaemonAction::Stop));
        let body: DaemonRequest = serde_json::from_str(r#"{"action":null}"#).unwrap();
        assert_eq!(
            body.action().unwrap_err().to_string(),
            r#"invalid action """#
        );
        let body: DaemonRequest = serde_json::from_str(r#"{"action":"status"}"#).unwrap();
        assert_eq!(
            body.action().unwrap_err().to_string(),
            r#"invalid action "status""#
        );
        assert_eq!(
            serde_json::to_string(&DaemonRequest::new(DaemonAction::Stop)).unwrap(),
            r#"{"action":"stop"}"#
        );
    }
}
