//! `logs` (cli.md §3.5): the history and, with `-f`, the live lines of the
//! services' output.
//!
//! One request, `GET /v1/logs?services=…&n=N&follow=true|false`, brings the
//! history and the live part together, so no line is lost or repeated
//! between them (cli.md §4). The reply is ndjson without an envelope
//! (api.md §6.9); each line is printed as soon as it arrives.

use std::time::UNIX_EPOCH;

use argh::{ArgsInfo, FromArgs};
use vigil_proto::api::LogEntry;
use vigil_proto::api::time::Precision;

use super::{Context, Failure, Outcome, print};
use crate::args::UsageError;
use crate::client::{Error, Request};
use crate::format::Format;

/// How many lines of history `logs` shows without `-n`.
const DEFAULT_LINES: i64 = 30;

/// Show the services' output; with -f, keep printing new lines.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "logs")]
pub struct Logs {
    /// keep printing new lines until Ctrl-C
    #[argh(switch, short = 'f')]
    follow: bool,

    /// how many lines of history to show: a number, or "all" (default 30)
    #[argh(option, short = 'n', arg_name = "N")]
    lines: Option<String>,

    /// output format: text (default) or json (each entry as received)
    #[argh(option, arg_name = "FORMAT")]
    format: Option<String>,

    /// the services whose output to show (default: all)
    #[argh(positional, arg_name = "SERVICE")]
    services: Vec<String>,
}

impl Logs {
    pub fn run(self, context: &mut Context) -> Outcome {
        let format = Format::parse(self.format.as_deref(), false)?;
        let count = parse_count(self.lines.as_deref())?;
        let mut request = Request::get("/v1/logs");
        if !self.services.is_empty() {
            request = request.query("services", self.services.join(","));
        }
        request = request
            .query("n", count.to_string())
            .query("follow", if self.follow { "true" } else { "false" });
        if self.follow {
            // Ctrl-C is how a follow ends: it exits with 0.
            request = request.without_timeout();
            context.catch_interrupts()?;
        }
        let lines = match context.client.stream(&request) {
            Ok(lines) => lines,
            Err(Error::Interrupted) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        for line in lines {
            let line = match line {
                Ok(line) => line,
                Err(Error::Interrupted) => return Ok(()),
                Err(error) => return Err(error.into()),
            };
            if line.is_empty() {
                continue;
            }
            match format {
                Format::Json => print(&format!("{line}\n"))?,
                Format::Text | Format::Yaml => {
                    let entry: LogEntry = serde_json::from_str(&line).map_err(|error| {
                        Failure::Error(format!("cannot decode log entry {line:?}: {error}"))
                    })?;
                    print(&entry_text(&entry))?;
                }
            }
        }
        if self.follow {
            return Err(Failure::Error("vigild closed the log stream".to_owned()));
        }
        Ok(())
    }
}

/// Parses `-n`: a count, or `all` for everything buffered (`-1` on the
/// wire); 30 when absent.
fn parse_count(value: Option<&str>) -> Result<i64, UsageError> {
    match value {
        None => Ok(DEFAULT_LINES),
        Some("all") => Ok(-1),
        Some(text) => text
            .parse::<u32>()
            .map(i64::from)
            .map_err(|_| UsageError::InvalidValue {
                option: "-n".to_owned(),
                value: text.to_owned(),
                expected: "a non-negative integer or \"all\"",
            }),
    }
}

/// One entry as text: `2025-03-01T10:15:30.123Z [web] listening on :8080`,
/// the time in UTC with exactly three fraction digits.
fn entry_text(entry: &LogEntry) -> String {
    let seconds = vigil_proto::api::Timestamp::utc(entry.time).format(Precision::Seconds);
    let millis = entry
        .time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_millis());
    let seconds = seconds.strip_suffix('Z').unwrap_or(&seconds);
    format!(
        "{seconds}.{millis:03}Z [{}] {}\n",
        entry.service, entry.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(parse_count(None), Ok(30));
        assert_eq!(parse_count(Some("all")), Ok(-1));
        assert_eq!(parse_count(Some("0")), Ok(0));
        assert_eq!(parse_count(Some("250")), Ok(250));
        for bad in ["-1", "x", "", "1.5"] {
            assert_eq!(
                parse_count(Some(bad)).unwrap_err().to_string(),
                format!(
                    "invalid value \"{bad}\" for -n (expected a non-negative integer or \"all\")"
                )
            );
        }
    }

    #[test]
    fn text_has_exactly_three_fraction_digits() {
        for (wire, want) in [
            ("2025-03-01T10:15:30.12Z", "2025-03-01T10:15:30.120Z"),
            ("2025-03-01T10:15:30Z", "2025-03-01T10:15:30.000Z"),
            ("2025-03-01T10:15:30.123Z", "2025-03-01T10:15:30.123Z"),
        ] {
            let entry: LogEntry = serde_json::from_str(&format!(
                r#"{{"time":"{wire}","service":"web","message":"listening on :8080"}}"#
            ))
            .unwrap();
            assert_eq!(
                entry_text(&entry),
                format!("{want} [web] listening on :8080\n")
            );
        }
    }
}
