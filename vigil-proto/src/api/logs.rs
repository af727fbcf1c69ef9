//! Service log entries as `/v1/logs` and `/v1/logs/follow` write them, and the
//! query values of those endpoints (spec api.md §6.9).
//!
//! The two endpoints have different entry shapes (decision D23):
//!
//! ```json
//! {"time":"2025-03-01T10:15:30.12Z","service":"web","message":"listening on :8080"}
//! {"timestamp":"2025-03-01T10:15:30.123456789Z","service":"web","stream":"stdout","message":"listening on :8080"}
//! ```
//!
//! The first is Pebble's, with UTC millisecond times; the second is vigil's,
//! with UTC nanosecond times, and is also what push targets receive. Both are
//! written one per line without the envelope; serde_json does not escape HTML
//! characters, as the spec requires. The framing (ndjson, SSE) is the
//! daemon's.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::Error;
use super::time::{utc_millis, utc_nanos};

/// One line of `GET /v1/logs`: stdout and stderr merged, no stream name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When the line was read, written in UTC with millisecond precision
    /// (`.660` becomes `.66`; `.000` is dropped).
    #[serde(rename = "time", with = "utc_millis")]
    pub time: SystemTime,
    /// The service that wrote the line.
    #[serde(rename = "service")]
    pub service: String,
    /// The line, without its trailing newline.
    #[serde(rename = "message")]
    pub message: String,
}

/// One entry of `GET /v1/logs/follow` and of log pushes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowEntry {
    /// When the line was read, written in UTC with up to 9 fraction digits.
    #[serde(rename = "timestamp", with = "utc_nanos")]
    pub timestamp: SystemTime,
    /// The service that wrote the line.
    #[serde(rename = "service")]
    pub service: String,
    /// The pipe the line came from.
    #[serde(rename = "stream")]
    pub stream: LogStream,
    /// The line, without its trailing newline.
    #[serde(rename = "message")]
    pub message: String,
}

/// Which of a service's output pipes a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogStream {
    /// `stdout`.
    #[serde(rename = "stdout")]
    Stdout,
    /// `stderr`.
    #[serde(rename = "stderr")]
    Stderr,
}

impl LogStream {
    /// The stream's name on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// How much history the `n` query parameter asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogCount {
    /// `-1`: everything still buffered.
    All,
    /// `n` ≥ 0: the most recent `n` lines across the requested services;
    /// `0` means no history.
    Last(u64),
}

impl LogCount {
    /// Parses `n`: `None` when empty, so the endpoint applies its default
    /// (30 for `/v1/logs` without follow, 0 with follow and on
    /// `/v1/logs/follow`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLogCount`] unless the value is an integer ≥ -1.
    pub fn parse_query(value: &str) -> Result<Option<Self>, Error> {
        if value.is_empty() {
            return Ok(None);
        }
        match value.parse::<i64>() {
            Ok(-1) => Ok(Some(Self::All)),
            Ok(n) => u64::try_from(n)
                .map(|n| Some(Self::Last(n)))
                .map_err(|_| Error::InvalidLogCount),
            Err(_) => Err(Error::InvalidLogCount),
        }
    }
}

/// Parses the `follow` query parameter of `GET /v1/logs`: `true`, or `false`
/// when it is `false` or empty.
///
/// # Errors
///
/// [`Error::InvalidFollow`] for any other value.
pub fn parse_follow(value: &str) -> Result<bool, Error> {
    match value {
        "true" => Ok(true),
        "" | "false" => Ok(false),
        _ => Err(Error::InvalidFollow),
    }
}

/// The `format` query parameter of `GET /v1/logs/follow`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FollowFormat {
    /// `json`, the default: SSE events whose data is a [`FollowEntry`].
    #[default]
    Json,
    /// `text`: SSE events whose data is `[service] message`.
    Text,
    /// `ndjson`: one [`FollowEntry`] per line, no keep-alives.
    Ndjson,
}

impl FollowFormat {
    /// Parses the query value; empty means the default, `json`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidFormat`] for any other value.
    pub fn parse_query(value: &str) -> Result<Self, Error> {
        match value {
            "" | "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            "ndjson" => Ok(Self::Ndjson),
            _ => Err(Error::InvalidFormat {
                format: value.to_owned(),
            }),
        }
    }

    /// The format as it is spelled in the query.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
            Self::Ndjson => "ndjson",
        }
    }

    /// The reply's `Content-Type`.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Json | Self::Text => "text/event-stream",
            Self::Ndjson => "application/x-ndjson",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    /// 2025-03-01T10:15:30Z plus `nanos`.
    fn at(nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(1_740_824_130, nanos)
    }

    #[test]
    fn log_entry_matches_the_spec_line() {
        let entry = LogEntry {
            time: at(120_000_000),
            service: "web".into(),
            message: "listening on :8080".into(),
        };
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"time":"2025-03-01T10:15:30.12Z","service":"web","message":"listening on :8080"}"#
        );
        let back: LogEntry = serde_json::from_str(
            r#"{"time":"2025-03-01T10:15:30.12Z","service":"web","message":"listening on :8080"}"#,
        )
        .unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn log_entry_times_are_utc_milliseconds() {
        for (nanos, text) in [
            (660_000_000, "2025-03-01T10:15:30.66Z"),
            (0, "2025-03-01T10:15:30Z"),
            (123_456_789, "2025-03-01T10:15:30.123Z"),
        ] {
            let entry = LogEntry {
                time: at(nanos),
                service: "web".into(),
                message: String::new(),
            };
            assert_eq!(serde_json::to_value(&entry).unwrap()["time"], json!(text));
        }
    }

    #[test]
    fn log_messages_keep_html_characters() {
        let entry = LogEntry {
            time: at(0),
            service: "web".into(),
            message: "<b>&</b>".into(),
        };
        assert!(
            serde_json::to_string(&entry)
                .unwrap()
                .contains(r#""message":"<b>&</b>""#)
        );
    }

    #[test]
    fn follow_entry_matches_the_spec_line() {
        let entry = FollowEntry {
            timestamp: at(123_456_789),
            service: "web".into(),
            stream: LogStream::Stdout,
            message: "listening on :8080".into(),
        };
        let want = json!({"timestamp": "2025-03-01T10:15:30.123456789Z", "service": "web",
                          "stream": "stdout", "message": "listening on :8080"});
        assert_eq!(serde_json::to_value(&entry).unwrap(), want);
        assert_eq!(serde_json::from_value::<FollowEntry>(want).unwrap(), entry);
        assert_eq!(
            serde_json::to_value(LogStream::Stderr).unwrap(),
            json!(LogStream::Stderr.as_str())
        );
    }

    #[test]
    fn count_query() {
        assert_eq!(LogCount::parse_query(""), Ok(None));
        assert_eq!(LogCount::parse_query("-1"), Ok(Some(LogCount::All)));
        assert_eq!(LogCount::parse_query("0"), Ok(Some(LogCount::Last(0))));
        assert_eq!(LogCount::parse_query("30"), Ok(Some(LogCount::Last(30))));
        for bad in ["-2", "x", "1.5", " 3"] {
            assert_eq!(
                LogCount::parse_query(bad),
                Err(Error::InvalidLogCount),
                "{bad}"
            );
        }
    }

    #[test]
    fn follow_query() {
        assert_eq!(parse_follow(""), Ok(false));
        assert_eq!(parse_follow("false"), Ok(false));
        assert_eq!(parse_follow("true"), Ok(true));
        assert_eq!(parse_follow("1"), Err(Error::InvalidFollow));
    }

    #[test]
    fn format_query() {
        assert_eq!(FollowFormat::parse_query(""), Ok(FollowFormat::Json));
        for format in [FollowFormat::Json, FollowFormat::Text, FollowFormat::Ndjson] {
            assert_eq!(FollowFormat::parse_query(format.as_str()), Ok(format));
        }
        assert_eq!(
            FollowFormat::parse_query("yaml").unwrap_err().to_string(),
            r#"invalid format "yaml""#
        );
        assert_eq!(FollowFormat::Text.content_type(), "text/event-stream");
        assert_eq!(FollowFormat::Ndjson.content_type(), "application/x-ndjson");
    }
}
