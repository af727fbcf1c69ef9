//! vigild's own log on stderr (cli.md §1.2): `text` lines such as
//! `2025-03-01T10:15:30.123Z INFO Started daemon vigild 1.0.0 (pid 1).`, or
//! one JSON object per line.
//!
//! During the boot, lines are written to stderr at once. Once the event
//! loop runs, it renders them here and queues them in its non-blocking
//! writer (`reactor/output.rs`), so that a stderr nobody reads never
//! freezes supervision (supervision.md §18).

use std::io::Write as _;
use std::time::SystemTime;

use crate::config::{LogFormat, LogLevel};
use crate::logs::format::utc_millis;

/// Writes vigild's log lines at or above a level.
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    format: LogFormat,
    level: LogLevel,
}

impl Logger {
    /// A logger writing `format` lines up to `level`.
    pub fn new(format: LogFormat, level: LogLevel) -> Logger {
        Logger { format, level }
    }

    /// Writes `message` to stderr at once, with extra JSON fields such as
    /// `("service", "web")`; the text form shows only the message, which
    /// names them already.
    ///
    /// The write may block: this is for the boot, before the event loop
    /// runs. The loop renders its lines with [`Logger::render`] and writes
    /// them without blocking.
    pub fn log(&self, level: LogLevel, message: &str, fields: &[(&str, &str)]) {
        if let Some(line) = self.render(level, SystemTime::now(), message, fields) {
            // Nothing sensible can be done when stderr is gone.
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    /// The complete line (newline included) for `message` logged at `at`,
    /// or `None` when `level` is below the logger's level.
    pub fn render(
        &self,
        level: LogLevel,
        at: SystemTime,
        message: &str,
        fields: &[(&str, &str)],
    ) -> Option<String> {
        (level <= self.level).then(|| self.line(level, at, message, fields))
    }

    /// Logs at `error`.
    pub fn error(&self, message: &str) {
        self.log(LogLevel::Error, message, &[]);
    }

    /// Logs at `warn`.
    pub fn warn(&self, message: &str) {
        self.log(LogLevel::Warn, message, &[]);
    }

    /// Logs at `info`.
    pub fn info(&self, message: &str) {
        self.log(LogLevel::Info, message, &[]);
    }

    /// Logs at `debug`.
    pub fn debug(&self, message: &str) {
        self.log(LogLevel::Debug, message, &[]);
    }

    /// One complete line, newline included.
    fn line(
        &self,
        level: LogLevel,
        at: SystemTime,
        message: &str,
        fields: &[(&str, &str)],
    ) -> String {
        let time = utc_millis(at);
        let name = match level {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        };
        match self.format {
            LogFormat::Text => format!("{time} {} {message}\n", name.to_uppercase()),
            LogFormat::Json => {
                // Written by hand to keep the documented key order.
                let quote = |text: &str| serde_json::Value::from(text).to_string();
                let mut line = format!(
                    "{{\"time\":{},\"level\":{},\"message\":{}",
                    quote(&time),
                    quote(name),
                    quote(message)
                );
                for (key, value) in fields {
                    line.push_str(&format!(",{}:{}", quote(key), quote(value)));
                }
                line.push_str("}\n");
                line
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at() -> SystemTime {
        // 2025-03-01T10:15:30.120Z
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_740_824_130_120)
    }

    #[test]
    fn text_lines() {
        let logger = Logger::new(LogFormat::Text, LogLevel::Info);
        assert_eq!(
            logger.line(
                LogLevel::Info,
                at(),
                "Started daemon vigild 1.0.0 (pid 1).",
                &[]
            ),
            "2025-03-01T10:15:30.120Z INFO Started daemon vigild 1.0.0 (pid 1).\n"
        );
    }

    #[test]
    fn json_lines_carry_fields() {
        let logger = Logger::new(LogFormat::Json, LogLevel::Info);
        assert_eq!(
            logger.line(LogLevel::Warn, at(), "x", &[("service", "web")]),
            "{\"time\":\"2025-03-01T10:15:30.120Z\",\"level\":\"warn\",\"message\":\"x\",\"service\":\"web\"}\n"
        );
    }
}
