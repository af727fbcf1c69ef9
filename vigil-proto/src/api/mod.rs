//! The wire types of vigild's JSON API: every request body the daemon reads
//! and every reply it writes, shaped exactly as Canonical Pebble's API so that
//! Pebble clients (ops' `ops/pebble.py`, the Go client) work unchanged.
//!
//! The daemon serialises these types and the CLI and the tests deserialise
//! them, so adding a field here is the one way to change the wire. Field names
//! are spelled out with `#[serde(rename = "...")]` as the API specification
//! (`spec/api.md`) spells them, and each type's doc says which fields are
//! omitted and when, because Pebble clients care about presence.
//!
//! This module never does I/O and never reads a clock: times come in as
//! [`std::time::SystemTime`] values with the UTC offset the daemon chose, and
//! [`time`] turns them into the wire formats.
//!
//! - [`envelope`]: the sync, async and error replies, status codes and error
//!   kinds (spec §4.1–§4.3);
//! - [`ids`]: change and task ids (§4.4);
//! - [`time`]: RFC 3339 timestamps in the precisions the API uses (§4.4);
//! - [`query`]: list-valued query parameters (§4.5);
//! - [`system`]: `/v1/system-info` and `/v1/health` (§6.1, §6.2);
//! - [`services`]: `/v1/services` and `/v1/signals` (§6.3, §6.5);
//! - [`alerts`]: `/v1/alerts` (§6.18);
//! - [`changes`]: changes and tasks (§6.4, §7);
//! - [`checks`]: `/v1/checks` and `/v1/checks/refresh` (§6.8);
//! - [`plan`]: the `/v1/layers` body (§6.6, §6.7);
//! - [`logs`]: log entries and the logs query values (§6.9);
//! - [`identities`]: access levels, identities and seed files (§5, §6.10, §8).

use std::fmt;

use serde::{Deserialize, Deserializer};

pub mod alerts;
pub mod changes;
pub mod checks;
pub mod daemon;
pub mod envelope;
pub mod identities;
pub mod ids;
pub mod logs;
pub mod plan;
pub mod query;
pub mod services;
pub mod system;
pub mod time;

pub use alerts::{AlertInfo, CheckStatusItem};
pub use changes::{
    Change, ChangeAction, ChangeActionRequest, ChangeSelect, ChangeStatus, Task, TaskLogLevel,
    TaskProgress,
};
pub use checks::{
    CheckInfo, CheckLevel, CheckStatus, ChecksAction, ChecksChanged, ChecksRequest, RefreshRequest,
    RefreshResult,
};
pub use daemon::{DaemonAction, DaemonRequest};
pub use envelope::{Body, ErrorKind, ErrorResult, Response, StatusCode};
pub use identities::{Access, IdentitiesAction, IdentitiesRequest, Identity, IdentityMap};
pub use ids::{ChangeId, ParseIdError, TaskId};
pub use logs::{FollowEntry, FollowFormat, LogCount, LogEntry, LogStream};
pub use plan::LayersRequest;
pub use services::{
    ServiceAction, ServiceInfo, ServiceStartup, ServiceStatus, ServicesRequest, SignalsRequest,
};
pub use system::{HealthInfo, HealthLevel, SystemInfo};
pub use time::{ParseTimestampError, Precision, Timestamp, UtcOffset};

/// A request value that parsed as JSON or as a query string but that the
/// endpoint does not accept.
///
/// Every variant becomes a 400 reply whose message is this error's
/// `Display` text, word for word as the API specification gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The body's `action` is not one the endpoint knows, for example
    /// `{"action": "boot"}` on `POST /v1/services`.
    InvalidAction {
        /// The action as the client sent it.
        action: String,
    },
    /// `select` on `GET /v1/changes` is not `all`, `in-progress` or `ready`.
    InvalidSelect,
    /// `level` on `GET /v1/health` is not empty, `alive` or `ready`.
    InvalidHealthLevel,
    /// `follow` on `GET /v1/logs` is not `true` or `false`.
    InvalidFollow,
    /// `n` on the logs endpoints is not an integer of at least -1.
    InvalidLogCount,
    /// `format` names a format the endpoint does not serve.
    InvalidFormat {
        /// The format as the client sent it.
        format: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidAction { action } => write!(f, "invalid action {}", quote(action)),
            Self::InvalidSelect => f.write_str("select should be one of: all,in-progress,ready"),
            Self::InvalidHealthLevel => f.write_str(r#"level must be "alive" or "ready""#),
            Self::InvalidFollow => f.write_str(r#"follow parameter must be "true" or "false""#),
            Self::InvalidLogCount => f.write_str("n must be -1, 0, or a positive integer"),
            Self::InvalidFormat { format } => write!(f, "invalid format {}", quote(format)),
        }
    }
}

impl std::error::Error for Error {}

/// Quotes `text` the way Go's `%q` verb does, which is how Pebble quotes names
/// and values inside its error messages (`invalid action "boot"`).
///
/// Backslash, double quote and the control characters are escaped (`\n`,
/// `\t`, `\x01`, ...); every other character is kept as it is.
#[must_use]
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_ascii_control() => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Deserialises an optional field so that JSON `null` counts as absent: the
/// spec (§3, "bad input") requires it, and ops sends `"user": null` and
/// similar. Use with `#[serde(default, deserialize_with = "...")]`.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_like_go() {
        assert_eq!(quote("boot"), r#""boot""#);
        assert_eq!(quote(""), r#""""#);
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("x\ny\tz\u{1}"), r#""x\ny\tz\x01""#);
        assert_eq!(quote("café"), "\"café\"");
    }

    #[test]
    fn error_messages_match_the_spec() {
        let cases = [
            (
                Error::InvalidAction {
                    action: "boot".into(),
                },
                r#"invalid action "boot""#,
            ),
            (
                Error::InvalidSelect,
                "select should be one of: all,in-progress,ready",
            ),
            (
                Error::InvalidHealthLevel,
                r#"level must be "alive" or "ready""#,
            ),
            (
                Error::InvalidFollow,
                r#"follow parameter must be "true" or "false""#,
            ),
            (
                Error::InvalidLogCount,
                "n must be -1, 0, or a positive integer",
            ),
            (
                Error::InvalidFormat {
                    format: "json".into(),
                },
                r#"invalid format "json""#,
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }
}
