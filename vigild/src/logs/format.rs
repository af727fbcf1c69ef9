//! The text forms of a log line: forwarded to vigild's stdout, in the API's
//! JSON entries and SSE events, and in a failed start's task log (spec
//! supervision.md §4 and §15, api.md §4.4 and §6.9).
//!
//! Everything here appends to a caller's byte buffer or returns a value; the
//! caller decides when and how the bytes are written, without blocking. JSON
//! is serialised by whoever owns the connection, from the
//! [`vigil_proto::api`] types these functions build.

use std::time::{SystemTime, UNIX_EPOCH};

use vigil_proto::api::time::Precision;
use vigil_proto::api::{FollowEntry, FollowFormat, LogEntry, Timestamp};

use super::store::Entry;

/// How many of a service's last lines a failed start shows (spec
/// supervision.md §4), as Pebble's `addLastLogs` does.
pub const RECENT_OUTPUT_LINES: usize = 20;

/// `time` in UTC with exactly three fraction digits, never trimmed:
/// `2025-03-01T10:15:30.120Z`.
///
/// This is the time of forwarded lines (spec supervision.md §15), of
/// `vigil logs` text output and of vigild's own log (cli.md §1.2). Digits
/// past the millisecond are cut, not rounded, as on the API.
#[must_use]
pub fn utc_millis(time: SystemTime) -> String {
    // Whole seconds, rounded down even before 1970, then the milliseconds
    // past that second.
    let mut text = Timestamp::utc(time).format(Precision::Seconds);
    let nanos = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.subsec_nanos(),
        Err(before) => match before.duration().subsec_nanos() {
            0 => 0,
            nanos => 1_000_000_000 - nanos,
        },
    };
    text.pop(); // the `Z`
    text.push_str(&format!(".{:03}Z", nanos / 1_000_000));
    text
}

/// Appends the line forwarded to vigild's stdout for a line of `service`
/// read at `time`: `2025-03-01T10:15:30.123Z [web] listening on :8080\n`.
///
/// The reactor hands these bytes to its non-blocking stdout writer
/// (`reactor/output.rs`), which holds up to 1 MiB and drops whole lines
/// beyond that.
pub fn write_forwarded(out: &mut Vec<u8>, time: SystemTime, service: &str, message: &str) {
    out.extend_from_slice(utc_millis(time).as_bytes());
    out.extend_from_slice(b" [");
    out.extend_from_slice(service.as_bytes());
    out.extend_from_slice(b"] ");
    out.extend_from_slice(message.as_bytes());
    out.push(b'\n');
}

/// Appends one SSE event whose data is `data`, then the blank line that
/// ends it.
///
/// SSE ends a field at `\r` as well as at `\n`, so each line of `data`
/// becomes its own `data:` field; the client joins them with `\n`. JSON
/// never has a raw line break, but a message may hold a lone `\r`.
pub fn write_sse_data(out: &mut Vec<u8>, data: &str) {
    for line in data.split(['\r', '\n']) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Appends an SSE comment, such as `ping` or the lag report of
/// [`lagged_comment`]: `: ping\n\n`. Clients ignore it; it keeps proxies
/// from closing an idle stream.
pub fn write_sse_comment(out: &mut Vec<u8>, comment: &str) {
    out.extend_from_slice(b": ");
    out.extend_from_slice(comment.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// The SSE comment that tells a follower how many entries it missed (spec
/// api.md §6.9): `lagged: skipped 120 entries`.
#[must_use]
pub fn lagged_comment(missed: u64) -> String {
    format!("lagged: skipped {missed} entries")
}

/// How a log stream frames its entries (spec api.md §6.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamFormat {
    /// `GET /v1/logs`: Pebble's [`LogEntry`], one per line.
    Pebble,
    /// `GET /v1/logs/follow`: vigil's [`FollowEntry`] as SSE events or
    /// ndjson, or `[service] message` SSE events.
    Follow(FollowFormat),
}

impl StreamFormat {
    /// The reply's `Content-Type`.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Pebble | Self::Follow(FollowFormat::Ndjson) => "application/x-ndjson",
            Self::Follow(FollowFormat::Json | FollowFormat::Text) => "text/event-stream",
        }
    }

    /// Whether the stream is Server-Sent Events: only those get `: ping`
    /// keep-alives and `: lagged` reports; the other formats skip silently.
    #[must_use]
    pub fn is_sse(self) -> bool {
        matches!(self, Self::Follow(FollowFormat::Json | FollowFormat::Text))
    }

    /// Appends `entry` in this format. `scratch` is a buffer the caller
    /// reuses between entries, so that serialising allocates nothing in the
    /// steady state.
    pub fn write_entry(self, entry: &Entry<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        scratch.clear();
        match self {
            Self::Pebble => {
                if serde_json::to_writer(&mut *scratch, &entry.to_log_entry()).is_ok() {
                    out.extend_from_slice(scratch);
                    out.push(b'\n');
                }
            }
            Self::Follow(FollowFormat::Ndjson) => {
                if serde_json::to_writer(&mut *scratch, &entry.to_follow_entry()).is_ok() {
                    out.extend_from_slice(scratch);
                    out.push(b'\n');
                }
            }
            Self::Follow(FollowFormat::Json) => {
                // JSON escapes every CR and LF inside strings, so the entry
                // is always a single `data:` field.
                if serde_json::to_writer(&mut *scratch, &entry.to_follow_entry()).is_ok() {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(scratch);
                    out.extend_from_slice(b"\n\n");
                }
            }
            Self::Follow(FollowFormat::Text) => entry.write_sse_text(out),
        }
    }
}

/// The task-log text for a service that exited during its okay delay:
/// `Most recent service output:` then each line on its own line, indented
/// by 4 spaces (spec supervision.md §4). `None` when there is no output, as
/// under `logs-forward: passthrough`: then no such line is logged.
#[must_use]
pub fn recent_output(lines: &[&str]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let mut text = String::from("Most recent service output:");
    for line in lines {
        text.push_str("\n    ");
        text.push_str(line);
    }
    Some(text)
}

/// The warning vigild logs on stderr after dropping forwarded lines because
/// its stdout was not being read (spec supervision.md §15).
#[must_use]
pub fn dropped_lines_warning(count: u64) -> String {
    format!("dropped {count} lines of service output: stdout is not being read")
}

impl Entry<'_> {
    /// Appends this entry as vigild forwards it to its stdout; see
    /// [`write_forwarded`].
    pub fn write_forwarded(&self, out: &mut Vec<u8>) {
        write_forwarded(out, self.time, self.service, self.message);
    }

    /// Appends this entry as an SSE event of `/v1/logs/follow?format=text`:
    /// `data: [web] listening on :8080` and a blank line.
    pub fn write_sse_text(&self, out: &mut Vec<u8>) {
        let mut data = String::with_capacity(self.service.len() + self.message.len() + 3);
        data.push('[');
        data.push_str(self.service);
        data.push_str("] ");
        data.push_str(self.message);
        write_sse_data(out, &data);
    }

    /// This entry as a line of `GET /v1/logs`.
    #[must_use]
    pub fn to_log_entry(&self) -> LogEntry {
        LogEntry {
            time: self.time,
            service: self.service.to_owned(),
            message: self.message.to_owned(),
        }
    }

    /// This entry as `/v1/logs/follow` and push targets send it.
    #[must_use]
    pub fn to_follow_entry(&self) -> FollowEntry {
        FollowEntry {
            timestamp: self.time,
            service: self.service.to_owned(),
            stream: self.stream,
            message: self.message.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vigil_proto::api::LogStream;

    use super::super::store::Seq;
    use super::*;

    /// 2025-03-01T10:15:30Z plus `nanos`.
    fn at(nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(1_740_824_130, nanos)
    }

    fn web(time: SystemTime, message: &str) -> Entry<'_> {
        Entry {
            seq: Seq(1),
            time,
            service: "web",
            stream: LogStream::Stderr,
            message,
        }
    }

    #[test]
    fn forwarded_line_is_exact() {
        let mut out = Vec::new();
        web(at(123_456_789), "listening on :8080").write_forwarded(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2025-03-01T10:15:30.123Z [web] listening on :8080\n"
        );
        let mut out = b"kept ".to_vec();
        write_forwarded(&mut out, at(0), "db", "");
        assert_eq!(out, b"kept 2025-03-01T10:15:30.000Z [db] \n");
    }

    #[test]
    fn forwarded_times_always_have_three_digits() {
        for (time, text) in [
            (at(0), "2025-03-01T10:15:30.000Z"),
            (at(120_000_000), "2025-03-01T10:15:30.120Z"),
            (at(5_000_000), "2025-03-01T10:15:30.005Z"),
            (at(999_999_999), "2025-03-01T10:15:30.999Z"),
            (at(999_999), "2025-03-01T10:15:30.000Z"),
            (UNIX_EPOCH, "1970-01-01T00:00:00.000Z"),
            (
                UNIX_EPOCH - Duration::from_millis(1),
                "1969-12-31T23:59:59.999Z",
            ),
            (
                UNIX_EPOCH - Duration::from_secs(1),
                "1969-12-31T23:59:59.000Z",
            ),
        ] {
            assert_eq!(utc_millis(time), text);
        }
    }

    #[test]
    fn api_entries_carry_the_line() {
        let entry = web(at(660_000_000), "<b>hi</b>");
        assert_eq!(
            entry.to_log_entry(),
            LogEntry {
                time: at(660_000_000),
                service: "web".into(),
                message: "<b>hi</b>".into(),
            }
        );
        assert_eq!(
            entry.to_follow_entry(),
            FollowEntry {
                timestamp: at(660_000_000),
                service: "web".into(),
                stream: LogStream::Stderr,
                message: "<b>hi</b>".into(),
            }
        );
    }

    #[test]
    fn sse_text_events() {
        let mut out = Vec::new();
        web(at(0), "listening on :8080").write_sse_text(&mut out);
        assert_eq!(out, b"data: [web] listening on :8080\n\n");

        // A lone \r would end the field early: it becomes a second field.
        let mut out = Vec::new();
        web(at(0), "50%\r100%").write_sse_text(&mut out);
        assert_eq!(out, b"data: [web] 50%\ndata: 100%\n\n");

        let mut out = Vec::new();
        write_sse_data(&mut out, r#"{"message":"x"}"#);
        write_sse_comment(&mut out, "ping");
        write_sse_comment(&mut out, &lagged_comment(120));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "data: {\"message\":\"x\"}\n\n: ping\n\n: lagged: skipped 120 entries\n\n"
        );
    }

    #[test]
    fn stream_formats_frame_entries() {
        let entry = web(at(123_456_789), "a\rb <i>");
        let write = |format: StreamFormat| {
            let (mut out, mut scratch) = (b"kept ".to_vec(), Vec::new());
            format.write_entry(&entry, &mut out, &mut scratch);
            String::from_utf8(out).unwrap()
        };
        let follow = r#"{"timestamp":"2025-03-01T10:15:30.123456789Z","service":"web","stream":"stderr","message":"a\rb <i>"}"#;
        assert_eq!(
            write(StreamFormat::Pebble),
            "kept {\"time\":\"2025-03-01T10:15:30.123Z\",\"service\":\"web\",\"message\":\"a\\rb <i>\"}\n"
        );
        assert_eq!(
            write(StreamFormat::Follow(FollowFormat::Ndjson)),
            format!("kept {follow}\n")
        );
        assert_eq!(
            write(StreamFormat::Follow(FollowFormat::Json)),
            format!("kept data: {follow}\n\n")
        );
        assert_eq!(
            write(StreamFormat::Follow(FollowFormat::Text)),
            "kept data: [web] a\ndata: b <i>\n\n"
        );
        assert_eq!(StreamFormat::Pebble.content_type(), "application/x-ndjson");
        assert_eq!(
            StreamFormat::Follow(FollowFormat::Ndjson).content_type(),
            "application/x-ndjson"
        );
        for format in [FollowFormat::Json, FollowFormat::Text] {
            assert_eq!(
                StreamFormat::Follow(format).content_type(),
                "text/event-stream"
            );
            assert!(StreamFormat::Follow(format).is_sse());
        }
        assert!(!StreamFormat::Pebble.is_sse());
        assert!(!StreamFormat::Follow(FollowFormat::Ndjson).is_sse());
    }

    #[test]
    fn recent_output_is_indented_under_its_heading() {
        assert_eq!(recent_output(&[]), None);
        assert_eq!(
            recent_output(&["bind: address in use"]).as_deref(),
            Some("Most recent service output:\n    bind: address in use")
        );
        assert_eq!(
            recent_output(&["a", "b"]).as_deref(),
            Some("Most recent service output:\n    a\n    b")
        );
    }

    #[test]
    fn dropped_warning_text() {
        assert_eq!(
            dropped_lines_warning(1234),
            "dropped 1234 lines of service output: stdout is not being read"
        );
    }
}
