//! The plan as YAML, laid out as Pebble prints it (yaml.v3 with a 4-space
//! indent): spec layers.md §12 gives the key order and what is printed.
//!
//! A small writer, not a serialiser: the key order, the "print what was
//! written" rule and the quoting of strings that would read back as another
//! type are all particular to this output.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::Plan;
use super::model::*;
use crate::duration;

/// The default threshold, printed when unset (as Pebble does).
const DEFAULT_THRESHOLD: u32 = 3;

const INDENT: usize = 4;

/// A block of `key: value` lines at one indentation level.
#[derive(Default)]
struct Block {
    text: String,
    depth: usize,
}

impl Block {
    fn nested(&self) -> Block {
        Block {
            text: String::new(),
            depth: self.depth + 1,
        }
    }

    fn pad(&mut self) {
        for _ in 0..self.depth * INDENT {
            self.text.push(' ');
        }
    }

    /// `key: value` with a string value quoted as needed.
    fn string(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            let rendered = scalar(value, (self.depth + 1) * INDENT);
            self.raw(key, &rendered);
        }
    }

    /// `key: value` with a value that never needs quoting.
    fn raw(&mut self, key: &str, value: &str) {
        self.pad();
        let _ = writeln!(self.text, "{}: {value}", scalar(key, 0));
    }

    fn word<T: std::fmt::Display>(&mut self, key: &str, value: Option<T>) {
        if let Some(value) = value {
            self.raw(key, &value.to_string());
        }
    }

    fn duration(&mut self, key: &str, value: Option<Duration>) {
        if let Some(value) = value {
            self.raw(key, &duration::format(value));
        }
    }

    /// A nested block under `key`; `{}` when it is empty.
    fn child(&mut self, key: &str, child: Block) {
        self.pad();
        if child.text.is_empty() {
            let _ = writeln!(self.text, "{}: {{}}", scalar(key, 0));
        } else {
            let _ = writeln!(self.text, "{}:", scalar(key, 0));
            self.text.push_str(&child.text);
        }
    }

    /// A list of strings under `key`, items indented below it; nothing
    /// when empty.
    fn list<T: AsRef<str>>(&mut self, key: &str, items: &[T]) {
        let depth = (self.depth + 2) * INDENT;
        let rendered: Vec<String> = items
            .iter()
            .map(|item| scalar(item.as_ref(), depth))
            .collect();
        self.raw_list(key, &rendered);
    }

    /// A list of values that never need quoting (numbers, durations).
    fn raw_list(&mut self, key: &str, items: &[String]) {
        if items.is_empty() {
            return;
        }
        self.pad();
        let _ = writeln!(self.text, "{}:", scalar(key, 0));
        let mut inner = self.nested();
        for item in items {
            inner.pad();
            let _ = writeln!(inner.text, "- {item}");
        }
        self.text.push_str(&inner.text);
    }

    fn map<V: AsRef<str>>(&mut self, key: &str, map: &BTreeMap<String, V>) {
        if map.is_empty() {
            return;
        }
        let mut inner = self.nested();
        for (name, value) in map {
            inner.string(name, Some(value.as_ref()));
        }
        self.child(key, inner);
    }
}

pub(crate) fn plan_yaml(plan: &Plan) -> String {
    let mut top = Block::default();
    section(&mut top, "services", &plan.services, service);
    section(&mut top, "checks", &plan.checks, check);
    section(&mut top, "log-targets", &plan.log_targets, log_target);
    section(&mut top, "workloads", &plan.workloads, workload);
    let alerts = &plan.alerts;
    if alerts.max_queue_depth.is_some()
        || alerts.max_queue_time.is_some()
        || !alerts.entries.is_empty()
    {
        let mut block = top.nested();
        block.word("max-queue-depth", alerts.max_queue_depth);
        block.duration("max-queue-time", alerts.max_queue_time);
        for (name, entry) in &alerts.entries {
            let mut inner = block.nested();
            alert(&mut inner, entry);
            block.child(name, inner);
        }
        top.child("alerts", block);
    }
    if top.text.is_empty() {
        return "{}\n".to_string();
    }
    top.text
}

fn section<T>(
    top: &mut Block,
    key: &str,
    entries: &BTreeMap<String, T>,
    write: fn(&mut Block, &T),
) {
    if entries.is_empty() {
        return;
    }
    let mut block = top.nested();
    for (name, entry) in entries {
        let mut inner = block.nested();
        write(&mut inner, entry);
        block.child(name, inner);
    }
    top.child(key, block);
}

fn override_of(value: Option<Override>) -> Option<Override> {
    Some(value.unwrap_or(Override::Merge))
}

fn service(b: &mut Block, s: &Service) {
    b.string("summary", s.summary.as_deref());
    b.string("description", s.description.as_deref());
    b.word("startup", s.startup);
    b.word("override", override_of(s.override_));
    b.string("command", s.command.as_deref());
    b.list("after", &s.after);
    b.list("before", &s.before);
    b.list("requires", &s.requires);
    b.string("workload", s.workload.as_deref());
    b.map("environment", &s.environment);
    b.word("user-id", s.user_id);
    b.string("user", s.user.as_deref());
    b.word("group-id", s.group_id);
    b.string("group", s.group.as_deref());
    b.string("working-dir", s.working_dir.as_deref());
    b.word("on-success", s.on_success);
    b.word("on-failure", s.on_failure);
    let actions: BTreeMap<String, &str> = s
        .on_check_failure
        .iter()
        .map(|(check, action)| (check.clone(), action.as_str()))
        .collect();
    b.map("on-check-failure", &actions);
    b.duration("backoff-delay", s.backoff_delay);
    b.word("backoff-factor", s.backoff_factor);
    b.duration("backoff-limit", s.backoff_limit);
    b.duration("kill-delay", s.kill_delay);
    b.word("stop-signal", s.stop_signal);
    b.word("logs-forward", s.logs_forward);
    b.string("logs-push-addr", s.logs_push_addr.as_deref());
    b.string("logs-push-socket", s.logs_push_socket.as_deref());
    b.word("logs-push-format", s.logs_push_format);
}

fn check(b: &mut Block, c: &Check) {
    b.word("override", override_of(c.override_));
    b.word("level", c.level);
    b.word("startup", c.startup);
    b.duration("period", c.period);
    b.duration("timeout", c.timeout);
    b.word("threshold", Some(c.threshold.unwrap_or(DEFAULT_THRESHOLD)));
    b.duration("delay", c.delay);
    if let Some(http) = &c.http {
        let mut inner = b.nested();
        inner.string("url", http.url.as_deref());
        inner.map("headers", &http.headers);
        inner.word("insecure", http.insecure);
        inner.string("ca", http.ca.as_deref());
        let statuses: Vec<String> = http.success_statuses.iter().map(u16::to_string).collect();
        inner.raw_list("success-statuses", &statuses);
        inner.word("no-follow-redirects", http.no_follow_redirects);
        b.child("http", inner);
    }
    if let Some(tcp) = &c.tcp {
        let mut inner = b.nested();
        inner.word("port", tcp.port);
        inner.string("host", tcp.host.as_deref());
        b.child("tcp", inner);
    }
    if let Some(exec) = &c.exec {
        let mut inner = b.nested();
        inner.string("command", exec.command.as_deref());
        inner.string("service-context", exec.service_context.as_deref());
        inner.map("environment", &exec.environment);
        inner.word("user-id", exec.user_id);
        inner.string("user", exec.user.as_deref());
        inner.word("group-id", exec.group_id);
        inner.string("group", exec.group.as_deref());
        inner.string("working-dir", exec.working_dir.as_deref());
        b.child("exec", inner);
    }
}

fn log_target(b: &mut Block, t: &LogTarget) {
    b.word("type", t.type_);
    b.string("location", t.location.as_deref());
    if t.services.is_empty() {
        b.raw("services", "[]");
    } else {
        b.list("services", &t.services);
    }
    b.word("override", override_of(t.override_));
    b.map("labels", &t.labels);
}

fn workload(b: &mut Block, w: &Workload) {
    b.word("override", override_of(w.override_));
    b.map("environment", &w.environment);
    b.word("user-id", w.user_id);
    b.string("user", w.user.as_deref());
    b.word("group-id", w.group_id);
    b.string("group", w.group.as_deref());
}

fn alert(b: &mut Block, a: &Alert) {
    b.word("override", override_of(a.override_));
    b.string("url", a.url.as_deref());
    b.word("format", a.format);
    b.list("on-check", &a.on_check);
    b.map("headers", &a.headers);
    b.map("labels", &a.labels);
    b.map("send-info-fields", &a.send_info_fields);
    b.string("body-template", a.body_template.as_deref());
    b.word("tls-insecure", a.tls_insecure);
    b.string("tls-ca", a.tls_ca.as_deref());
    b.string("proxy", a.proxy.as_deref());
    b.string("proxy-ca", a.proxy_ca.as_deref());
    b.string("no-proxy", a.no_proxy.as_deref());
    b.word("retry-attempts", a.retry_attempts);
    if let Some(backoff) = &a.retry_backoff {
        let items: Vec<String> = backoff.iter().map(|d| duration::format(*d)).collect();
        if items.is_empty() {
            b.raw("retry-backoff", "[]");
        } else {
            b.raw_list("retry-backoff", &items);
        }
    }
    b.duration("timeout", a.timeout);
}

/// A string as a YAML scalar: plain when it reads back as the same string,
/// else single- or double-quoted, or a literal block for multi-line text.
/// `indent` is the indentation of a literal block's lines.
pub(crate) fn scalar(text: &str, indent: usize) -> String {
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return double_quoted(text);
    }
    if text.contains('\n') {
        return literal(text, indent);
    }
    if plain_allowed(text) && !resolves_to_other_type(text) {
        return text.to_string();
    }
    if resolves_to_other_type(text) {
        // yaml.v3 double-quotes strings that look like other types ("4").
        return double_quoted(text);
    }
    format!("'{}'", text.replace('\'', "''"))
}

fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A literal block scalar (`|`, `|-` or `|+`). Text that starts with a space
/// or a line break would need an indentation indicator; it is
/// double-quoted instead.
fn literal(text: &str, indent: usize) -> String {
    if text.starts_with([' ', '\n']) {
        return double_quoted(text);
    }
    let trailing = text.len() - text.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let body = text.trim_end_matches('\n');
    let mut out = format!("|{chomp}");
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
    out
}

/// Whether libyaml's emitter would write `text` as a plain block scalar.
fn plain_allowed(text: &str) -> bool {
    if text.is_empty() || text.starts_with([' ', '\t']) || text.ends_with([' ', '\t']) {
        return false;
    }
    if text.starts_with("---") || text.starts_with("...") {
        return false;
    }
    let mut chars = text.chars().peekable();
    let first = chars.next().unwrap_or(' ');
    let second = text.chars().nth(1);
    let followed_by_space = |c: Option<char>| matches!(c, None | Some(' ') | Some('\t'));
    match first {
        '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => return false,
        '-' | '?' | ':' if followed_by_space(second) => return false,
        _ => {}
    }
    let all: Vec<char> = text.chars().collect();
    for (i, c) in all.iter().enumerate() {
        let next = all.get(i + 1).copied();
        match c {
            ':' if followed_by_space(next) => return false,
            '#' if i > 0 && matches!(all[i - 1], ' ' | '\t') => return false,
            _ => {}
        }
    }
    true
}

/// Whether a plain scalar with this text would be read as something other
/// than a string: null, a boolean (including YAML 1.1's yes/no/on/off, as
/// yaml.v3 quotes them), a number or a timestamp.
fn resolves_to_other_type(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "y",
        "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", ".nan", ".NaN", ".NAN",
    ];
    if WORDS.contains(&text) {
        return true;
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let first = unsigned.chars().next();
    if !matches!(first, Some('0'..='9') | Some('.')) {
        return false;
    }
    let digits: String = unsigned.chars().filter(|c| *c != '_').collect();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find_map(|(prefix, radix)| digits.strip_prefix(prefix).map(|rest| (rest, *radix)));
    if let Some((rest, radix)) = radix {
        return !rest.is_empty() && u64::from_str_radix(rest, radix).is_ok();
    }
    if digits.parse::<f64>().is_ok() {
        return true;
    }
    // A date or date-time such as 2025-03-01 or 2025-03-01T10:00:00Z.
    let bytes = text.as_bytes();
    bytes.len() >= 8
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[5].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        let cases = [
            ("web", "web"),
            (
                "/usr/bin/webd --config /etc/webd.toml [ --port 8080 ]",
                "/usr/bin/webd --config /etc/webd.toml [ --port 8080 ]",
            ),
            (
                "https://localhost:8443/healthz",
                "https://localhost:8443/healthz",
            ),
            ("env:PAGER_URL", "env:PAGER_URL"),
            ("4", "\"4\""),
            ("1.50", "\"1.50\""),
            ("true", "\"true\""),
            ("yes", "\"yes\""),
            ("", "\"\""),
            ("0x1F", "\"0x1F\""),
            ("2025-03-01", "\"2025-03-01\""),
            ("a: b", "'a: b'"),
            ("#x", "'#x'"),
            ("a #b", "'a #b'"),
            ("it's: x", "'it''s: x'"),
            (" lead", "' lead'"),
            ("- x", "'- x'"),
            ("-x", "-x"),
            ("a\tb", "\"a\\tb\""),
            ("*ref", "'*ref'"),
        ];
        for (text, expected) in cases {
            assert_eq!(scalar(text, 4), expected, "{text:?}");
        }
    }

    #[test]
    fn multi_line_text_is_a_literal_block() {
        assert_eq!(scalar("a\nb\n", 8), "|\n        a\n        b");
        assert_eq!(scalar("a\n\nb", 8), "|-\n        a\n\n        b");
        assert_eq!(scalar("a\n\n", 4), "|+\n    a\n");
        assert_eq!(scalar(" a\nb", 4), "\" a\\nb\"");
    }
}
