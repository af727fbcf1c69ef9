//! Strict decoding of one layer's YAML into a [`Layer`], collecting every
//! problem with its position and key path.
//!
//! Each struct of the schema is one function with one `match` over its keys;
//! the `_` arm reports the unknown key with a suggestion taken from the
//! struct's key list. A value that fails its check is reported and left
//! unset, and decoding goes on, so one pass finds every problem in the file.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Layer;
use super::error::{Place, Problem};
use super::model::OverrideSlot;
use super::model::*;
use super::yaml::{self, Kind, Mark, Node};
use crate::cmdline::{self, ServiceCommand};
use crate::duration;
use crate::signal::Signal;
use crate::suggest::{did_you_mean, suggestion};

/// Where a layer's text came from, for the `<where>` of its problems.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file; the string is the path as displayed.
    File(String),
    /// A layer added through the API, by label.
    Api(String),
}

impl Source {
    fn place(&self, mark: Mark) -> Place {
        match self {
            Source::File(path) => Place::File {
                path: path.clone(),
                line: mark.line,
                column: mark.column,
            },
            Source::Api(label) => Place::Api {
                label: label.clone(),
                line: mark.line,
                column: mark.column,
            },
        }
    }
}

/// The outcome of decoding one layer's text.
pub(crate) struct Decoded {
    /// The layer, with every valid value; `None` when the text is not YAML.
    pub layer: Option<Layer>,
    pub problems: Vec<Problem>,
    /// The entries that had a problem, as (section, name): the plan checks
    /// skip them, so that a bad value is not reported again as missing.
    pub tainted: Tainted,
}

/// Entries with a layer problem, as (section key, entry name).
pub(crate) type Tainted = BTreeSet<(String, String)>;

/// Decodes `text`; the label and name are set by the caller afterwards.
pub(crate) fn decode_layer(text: &str, source: &Source) -> Decoded {
    let mut decoder = Decoder {
        source,
        problems: Vec::new(),
        path: Vec::new(),
        tainted: Tainted::new(),
    };
    let root = match yaml::parse(text) {
        Ok(root) => root,
        Err(error) => {
            let message = if text_at(text, error.mark) == Some('\t') {
                format!("{}; tabs cannot indent YAML, use spaces", error.message)
            } else {
                error.message
            };
            decoder.problems.push(Problem {
                place: source.place(error.mark),
                subject: String::new(),
                message,
            });
            return Decoded {
                layer: None,
                problems: decoder.problems,
                tainted: decoder.tainted,
            };
        }
    };
    let mut layer = Layer::default();
    if let Some(root) = root.as_ref().filter(|root| !root.is_null()) {
        decoder.layer(root, &mut layer);
    }
    Decoded {
        layer: Some(layer),
        problems: decoder.problems,
        tainted: decoder.tainted,
    }
}

/// The character at a mark, to recognise tab indentation.
fn text_at(text: &str, mark: Mark) -> Option<char> {
    text.lines()
        .nth(mark.line.checked_sub(1)?)?
        .chars()
        .nth(mark.column.checked_sub(1)?)
}

pub(crate) const TOP_KEYS: &[&str] = &[
    "summary",
    "description",
    "services",
    "checks",
    "log-targets",
    "workloads",
    "alerts",
];

pub(crate) const SERVICE_KEYS: &[&str] = &[
    "override",
    "override-mode",
    "summary",
    "description",
    "startup",
    "command",
    "after",
    "before",
    "requires",
    "environment",
    "user",
    "user-id",
    "group",
    "group-id",
    "working-dir",
    "workload",
    "on-success",
    "on-failure",
    "on-check-failure",
    "backoff-delay",
    "backoff-factor",
    "backoff-limit",
    "kill-delay",
    "stop-signal",
    "logs-forward",
    "logs-push-addr",
    "logs-push-socket",
    "logs-push-format",
];

pub(crate) const CHECK_KEYS: &[&str] = &[
    "override",
    "override-mode",
    "level",
    "startup",
    "period",
    "timeout",
    "threshold",
    "delay",
    "http",
    "tcp",
    "exec",
];

pub(crate) const HTTP_KEYS: &[&str] = &[
    "url",
    "headers",
    "insecure",
    "ca",
    "success-statuses",
    "no-follow-redirects",
];

pub(crate) const TCP_KEYS: &[&str] = &["port", "host"];

pub(crate) const EXEC_KEYS: &[&str] = &[
    "command",
    "service-context",
    "environment",
    "user",
    "user-id",
    "group",
    "group-id",
    "working-dir",
];

pub(crate) const LOG_TARGET_KEYS: &[&str] = &[
    "override",
    "override-mode",
    "type",
    "location",
    "services",
    "labels",
];

pub(crate) const WORKLOAD_KEYS: &[&str] = &[
    "override",
    "override-mode",
    "environment",
    "user",
    "user-id",
    "group",
    "group-id",
];

pub(crate) const ALERT_KEYS: &[&str] = &[
    "override",
    "override-mode",
    "url",
    "format",
    "on-check",
    "headers",
    "labels",
    "send-info-fields",
    "body-template",
    "tls-insecure",
    "tls-ca",
    "proxy",
    "proxy-ca",
    "no-proxy",
    "retry-attempts",
    "retry-backoff",
    "timeout",
];

/// Decoding state: the source, the problems so far and the key path.
struct Decoder<'s> {
    source: &'s Source,
    problems: Vec<Problem>,
    path: Vec<String>,
    tainted: Tainted,
}

/// One key of a mapping, with the nodes of the key and its value.
struct Field<'n> {
    key: &'n str,
    key_node: &'n Node,
    value: &'n Node,
}

impl Decoder<'_> {
    // ----- reporting -----

    fn path_text(&self) -> String {
        let mut text = String::new();
        for (i, segment) in self.path.iter().enumerate() {
            if i > 0 {
                text.push('.');
            }
            if segment.is_empty() || segment.contains(['.', ' ', '\t', '"']) {
                text.push_str(&format!("{segment:?}"));
            } else {
                text.push_str(segment);
            }
        }
        text
    }

    fn error(&mut self, node: &Node, message: impl Into<String>) {
        self.error_at(node.mark, message);
    }

    fn error_at(&mut self, mark: Mark, message: impl Into<String>) {
        if let [section, name, ..] = self.path.as_slice() {
            self.tainted.insert((section.clone(), name.clone()));
        }
        let problem = Problem {
            place: self.source.place(mark),
            subject: self.path_text(),
            message: message.into(),
        };
        self.problems.push(problem);
    }

    /// Runs `f` with `key` appended to the key path.
    fn at<R>(&mut self, key: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(key.to_string());
        let result = f(self);
        self.path.pop();
        result
    }

    fn wrong_type(&mut self, node: &Node, expected: &str) {
        self.error(
            node,
            format!("expected {expected}, found {}", node.describe()),
        );
    }

    /// Reports an unknown key. `here` are the valid keys at this position;
    /// `parent` names the enclosing object and its keys, for the
    /// "belongs one level up" message.
    fn unknown_key(&mut self, field: &Field, here: &[&str], parent: Option<(&str, &[&str])>) {
        let key = field.key;
        let normalised = key.to_lowercase().replace('_', "-");
        let message = if let Some(exact) = here.iter().find(|k| **k == normalised) {
            format!("unknown key (did you mean \"{exact}\"?)")
        } else if let Some((owner, _)) = parent.filter(|(_, keys)| keys.contains(&key)) {
            let here = self.path.last().map(String::as_str).unwrap_or("");
            format!("unknown key; \"{key}\" belongs to the {owner}, not to \"{here}\"")
        } else {
            match suggestion(key, here) {
                Some(best) => format!("unknown key (did you mean \"{best}\"?)"),
                None => "unknown key".to_string(),
            }
        };
        self.at(key, |d| d.error(field.key_node, message));
    }

    // ----- structure -----

    /// The fields of a mapping node. Reports a non-mapping, non-string keys
    /// and duplicate keys (the later duplicate is skipped).
    fn fields<'n>(&mut self, node: &'n Node, expected: &str) -> Option<Vec<Field<'n>>> {
        let Kind::Mapping(pairs) = &node.kind else {
            self.wrong_type(node, expected);
            return None;
        };
        let mut fields: Vec<Field<'n>> = Vec::with_capacity(pairs.len());
        for (key_node, value) in pairs {
            let Kind::Scalar { text: key, .. } = &key_node.kind else {
                self.error(
                    key_node,
                    format!("keys must be strings, found {}", key_node.describe()),
                );
                continue;
            };
            if fields.iter().any(|f| f.key == key) {
                self.at(key, |d| d.error(key_node, "duplicate key"));
                continue;
            }
            fields.push(Field {
                key,
                key_node,
                value,
            });
        }
        Some(fields)
    }

    /// A map of named entries (`services:` etc.); `decode` turns each
    /// non-null value into an entry.
    fn entries<T>(
        &mut self,
        node: &Node,
        kind: &str,
        mut decode: impl FnMut(&mut Self, &Node) -> T,
    ) -> BTreeMap<String, T> {
        let mut entries = BTreeMap::new();
        if node.is_null() {
            return entries;
        }
        let Some(fields) = self.fields(node, &format!("a mapping of {kind} names to {kind}s"))
        else {
            return entries;
        };
        for field in fields {
            self.at(field.key, |d| {
                if let Err(message) = check_name(field.key) {
                    d.error(field.key_node, message);
                }
                if field.value.is_null() {
                    d.error(
                        field.value,
                        format!("{kind} \"{}\" cannot be null", field.key),
                    );
                    return;
                }
                let entry = decode(d, field.value);
                entries.insert(field.key.to_string(), entry);
            });
        }
        entries
    }

    // ----- the schema -----

    fn layer(&mut self, root: &Node, layer: &mut Layer) {
        let Some(fields) = self.fields(root, "a mapping at the top level") else {
            return;
        };
        for field in &fields {
            let value = field.value;
            self.at(field.key, |d| match field.key {
                "summary" => layer.summary = d.string(value),
                "description" => layer.description = d.string(value),
                "services" => layer.services = d.entries(value, "service", Self::service),
                "checks" => layer.checks = d.entries(value, "check", Self::check),
                "log-targets" => {
                    layer.log_targets = d.entries(value, "log target", Self::log_target)
                }
                "workloads" => layer.workloads = d.entries(value, "workload", Self::workload),
                "alerts" => layer.alerts = d.alerts(value),
                _ => {}
            });
            match field.key {
                key if TOP_KEYS.contains(&key) => {}
                "pairing" => self.at("pairing", |d| {
                    d.error(field.key_node, "the \"pairing\" section is not supported by vigild")
                }),
                "identities" => self.at("identities", |d| {
                    d.error(
                        field.key_node,
                        "identities are not configured in layers; use vigild --identities FILE or the identities API",
                    )
                }),
                _ => self.unknown_key(field, TOP_KEYS, None),
            }
        }
    }

    /// `override` and its alias `override-mode`; both given must agree.
    fn override_field(&mut self, field: &Field, current: &mut Option<(Override, &'static str)>) {
        let name: &'static str = if field.key == "override" {
            "override"
        } else {
            "override-mode"
        };
        let Some(value) = self.word::<Override>(field.value, Override::ALL, Override::from_word)
        else {
            return;
        };
        match current {
            Some((earlier, earlier_key)) if *earlier != value => self.error(
                field.value,
                format!(
                    "{name} \"{value}\" disagrees with {earlier_key} \"{earlier}\" (give one of them)"
                ),
            ),
            _ => *current = Some((value, name)),
        }
    }

    /// An entry (service, check, …): `override`/`override-mode` and
    /// unknown keys are handled here, every other key by `field`.
    fn entry<T: Default + OverrideSlot>(
        &mut self,
        node: &Node,
        what: &str,
        keys: &[&str],
        mut field: impl FnMut(&mut Self, &mut T, &Field),
    ) -> T {
        let mut entry = T::default();
        let Some(fields) = self.fields(node, &format!("a mapping of {what} keys")) else {
            return entry;
        };
        let mut over = None;
        for f in &fields {
            if !keys.contains(&f.key) {
                self.unknown_key(f, keys, None);
                continue;
            }
            self.at(f.key, |d| match f.key {
                "override" | "override-mode" => d.override_field(f, &mut over),
                _ => field(d, &mut entry, f),
            });
        }
        *entry.override_slot() = over.map(|(value, _)| value);
        entry
    }

    fn service(&mut self, node: &Node) -> Service {
        self.entry(
            node,
            "service",
            SERVICE_KEYS,
            |d, e: &mut Service, field| {
                let v = field.value;
                match field.key {
                    "summary" => e.summary = d.string(v),
                    "description" => e.description = d.string(v),
                    "startup" => e.startup = d.word(v, Startup::ALL, Startup::from_word),
                    "command" => e.command = d.command(v, true),
                    "after" => e.after = d.names(v),
                    "before" => e.before = d.names(v),
                    "requires" => e.requires = d.names(v),
                    "environment" => e.environment = d.environment(v),
                    "user" => e.user = d.string(v),
                    "user-id" => e.user_id = d.id(v),
                    "group" => e.group = d.string(v),
                    "group-id" => e.group_id = d.id(v),
                    "working-dir" => e.working_dir = d.string(v),
                    "workload" => e.workload = d.name(v),
                    "on-success" => {
                        e.on_success = d.word(v, ExitAction::ALL, ExitAction::from_word)
                    }
                    "on-failure" => {
                        e.on_failure = d.word(v, ExitAction::ALL, ExitAction::from_word)
                    }
                    "on-check-failure" => e.on_check_failure = d.check_actions(v),
                    "backoff-delay" => e.backoff_delay = d.duration(v),
                    "backoff-factor" => e.backoff_factor = d.backoff_factor(v),
                    "backoff-limit" => e.backoff_limit = d.duration(v),
                    "kill-delay" => e.kill_delay = d.duration(v),
                    "stop-signal" => e.stop_signal = d.signal(v),
                    "logs-forward" => {
                        e.logs_forward = d.word(v, LogsForward::ALL, LogsForward::from_word)
                    }
                    "logs-push-addr" => e.logs_push_addr = d.push_addr(v),
                    "logs-push-socket" => e.logs_push_socket = d.absolute_path(v),
                    "logs-push-format" => {
                        e.logs_push_format = d.word(v, PushFormat::ALL, PushFormat::from_word)
                    }
                    _ => {}
                }
            },
        )
    }

    fn check(&mut self, node: &Node) -> Check {
        self.entry(node, "check", CHECK_KEYS, |d, e: &mut Check, field| {
            let v = field.value;
            match field.key {
                "level" => e.level = d.word(v, CheckLevel::ALL, CheckLevel::from_word),
                "startup" => e.startup = d.word(v, Startup::ALL, Startup::from_word),
                "period" => e.period = d.positive_duration(v),
                "timeout" => e.timeout = d.positive_duration(v),
                "threshold" => {
                    e.threshold = d
                        .integer(v, 1, u32::MAX as i64, "1 or greater")
                        .map(|n| n as u32)
                }
                "delay" => e.delay = d.duration(v),
                "http" => e.http = d.probe(v, HTTP_KEYS, Self::http),
                "tcp" => e.tcp = d.probe(v, TCP_KEYS, Self::tcp),
                "exec" => e.exec = d.probe(v, EXEC_KEYS, Self::exec),
                _ => {}
            }
        })
    }

    /// A probe object: `null` means "not set"; otherwise each key is decoded
    /// by `field`, and unknown keys are checked against the check's keys for
    /// the "belongs to the check" message.
    fn probe<T: Default>(
        &mut self,
        node: &Node,
        keys: &[&str],
        mut field: impl FnMut(&mut Self, &mut T, &Field),
    ) -> Option<T> {
        if node.is_null() {
            return None;
        }
        let fields = self.fields(node, "a mapping")?;
        let mut probe = T::default();
        for f in &fields {
            if keys.contains(&f.key) {
                self.at(f.key, |d| field(d, &mut probe, f));
            } else {
                self.unknown_key(f, keys, Some(("check", CHECK_KEYS)));
            }
        }
        Some(probe)
    }

    fn http(&mut self, http: &mut HttpProbe, field: &Field) {
        let v = field.value;
        match field.key {
            "url" => http.url = self.url(v, false),
            "headers" => http.headers = self.string_map(v, false),
            "insecure" => http.insecure = self.boolean(v),
            "ca" => http.ca = self.string(v),
            "success-statuses" => http.success_statuses = self.statuses(v),
            "no-follow-redirects" => http.no_follow_redirects = self.boolean(v),
            _ => {}
        }
    }

    fn tcp(&mut self, tcp: &mut TcpProbe, field: &Field) {
        let v = field.value;
        match field.key {
            "port" => {
                tcp.port = self
                    .integer(v, 1, 65535, "between 1 and 65535")
                    .map(|n| n as u16)
            }
            "host" => tcp.host = self.string(v),
            _ => {}
        }
    }

    fn exec(&mut self, exec: &mut ExecProbe, field: &Field) {
        let v = field.value;
        match field.key {
            "command" => exec.command = self.command(v, false),
            "service-context" => exec.service_context = self.name(v),
            "environment" => exec.environment = self.environment(v),
            "user" => exec.user = self.string(v),
            "user-id" => exec.user_id = self.id(v),
            "group" => exec.group = self.string(v),
            "group-id" => exec.group_id = self.id(v),
            "working-dir" => exec.working_dir = self.string(v),
            _ => {}
        }
    }

    fn log_target(&mut self, node: &Node) -> LogTarget {
        self.entry(
            node,
            "log target",
            LOG_TARGET_KEYS,
            |d, e: &mut LogTarget, field| {
                let v = field.value;
                match field.key {
                    "type" => e.type_ = d.word(v, LogTargetType::ALL, LogTargetType::from_word),
                    "location" => e.location = d.string(v),
                    "services" => e.services = d.target_services(v),
                    "labels" => e.labels = d.labels(v),
                    _ => {}
                }
            },
        )
    }

    fn workload(&mut self, node: &Node) -> Workload {
        self.entry(
            node,
            "workload",
            WORKLOAD_KEYS,
            |d, e: &mut Workload, field| {
                let v = field.value;
                match field.key {
                    "environment" => e.environment = d.environment(v),
                    "user" => e.user = d.string(v),
                    "user-id" => e.user_id = d.id(v),
                    "group" => e.group = d.string(v),
                    "group-id" => e.group_id = d.id(v),
                    _ => {}
                }
            },
        )
    }

    fn alerts(&mut self, node: &Node) -> Alerts {
        let mut alerts = Alerts::default();
        if node.is_null() {
            return alerts;
        }
        let Some(fields) = self.fields(node, "a mapping of alert names to alerts") else {
            return alerts;
        };
        for field in &fields {
            let v = field.value;
            self.at(field.key, |d| match field.key {
                "max-queue-depth" => {
                    alerts.max_queue_depth = d
                        .integer(v, 1, 100_000, "between 1 and 100000")
                        .map(|n| n as u32)
                }
                "max-queue-time" => alerts.max_queue_time = d.positive_duration(v),
                name => {
                    if let Err(message) = check_name(name) {
                        d.error(field.key_node, message);
                    }
                    if v.is_null() {
                        d.error(v, format!("alert \"{name}\" cannot be null"));
                        return;
                    }
                    let alert = d.alert(v);
                    alerts.entries.insert(name.to_string(), alert);
                }
            });
        }
        alerts
    }

    fn alert(&mut self, node: &Node) -> Alert {
        self.entry(node, "alert", ALERT_KEYS, |d, e: &mut Alert, field| {
            let v = field.value;
            match field.key {
                "url" => e.url = d.url(v, true),
                "format" => e.format = d.word(v, AlertFormat::ALL, AlertFormat::from_word),
                "on-check" => e.on_check = d.names(v),
                "headers" => e.headers = d.string_map(v, false),
                "labels" => e.labels = d.string_map(v, false),
                "send-info-fields" => e.send_info_fields = d.string_map(v, false),
                "body-template" => e.body_template = d.string(v),
                "tls-insecure" => e.tls_insecure = d.boolean(v),
                "tls-ca" => e.tls_ca = d.string(v),
                "proxy" => e.proxy = d.proxy(v),
                "proxy-ca" => e.proxy_ca = d.string(v),
                "no-proxy" => e.no_proxy = d.string(v),
                "retry-attempts" => {
                    e.retry_attempts = d.integer(v, 1, 20, "between 1 and 20").map(|n| n as u32)
                }
                "retry-backoff" => e.retry_backoff = d.durations(v),
                "timeout" => e.timeout = d.positive_duration(v),
                _ => {}
            }
        })
    }

    // ----- values -----

    /// The text of a scalar. Any scalar is accepted as text, as yaml.v3 does
    /// (`summary: 5` is "5"). `null` and `""` mean "not set" (layers.md §9).
    fn string(&mut self, node: &Node) -> Option<String> {
        if node.is_null() {
            return None;
        }
        match &node.kind {
            Kind::Scalar { text, .. } if text.is_empty() => None,
            Kind::Scalar { text, .. } => Some(text.clone()),
            _ => {
                self.wrong_type(node, "a string");
                None
            }
        }
    }

    /// A plain scalar's text, for numbers and booleans; quoted text is a
    /// string and so the wrong type.
    fn plain<'n>(&mut self, node: &'n Node, expected: &str) -> Option<&'n str> {
        match &node.kind {
            Kind::Scalar { text, plain: true } => Some(text),
            Kind::Scalar { text, plain: false } => {
                self.error(
                    node,
                    format!("expected {expected}, found the string {text:?}"),
                );
                None
            }
            _ => {
                self.wrong_type(node, expected);
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node) -> Option<bool> {
        if node.is_null() {
            return None;
        }
        match self.plain(node, "true or false")? {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            other => {
                self.error(node, format!("expected true or false, found {other:?}"));
                None
            }
        }
    }

    /// An integer in `min..=max`; `range` describes the bound in messages.
    fn integer(&mut self, node: &Node, min: i64, max: i64, range: &str) -> Option<i64> {
        if node.is_null() {
            return None;
        }
        let text = self.plain(node, "an integer")?;
        let Ok(value) = text.parse::<i64>() else {
            self.error(node, format!("expected an integer, found {text:?}"));
            return None;
        };
        if value < min || value > max {
            let key = self.path.last().cloned().unwrap_or_default();
            self.error(node, format!("{key} must be {range}, not {value}"));
            return None;
        }
        Some(value)
    }

    fn id(&mut self, node: &Node) -> Option<u32> {
        self.integer(node, 0, u32::MAX as i64, "between 0 and 4294967295")
            .map(|n| n as u32)
    }

    fn backoff_factor(&mut self, node: &Node) -> Option<f64> {
        if node.is_null() {
            return None;
        }
        let text = self.plain(node, "a number")?;
        let value = match text.parse::<f64>() {
            Ok(value) if value.is_finite() => value,
            _ => {
                self.error(node, format!("expected a number, found {text:?}"));
                return None;
            }
        };
        if value < 1.0 {
            self.error(
                node,
                format!("backoff-factor must be 1.0 or greater, not {text}"),
            );
            return None;
        }
        Some(value)
    }

    fn duration(&mut self, node: &Node) -> Option<Duration> {
        if node.is_null() {
            return None;
        }
        let text = match &node.kind {
            Kind::Scalar { text, .. } => text,
            _ => {
                self.wrong_type(node, "a duration such as \"5s\"");
                return None;
            }
        };
        match duration::parse(text) {
            Ok(value) => Some(value),
            Err(error) => {
                self.error(node, error.to_string());
                None
            }
        }
    }

    fn positive_duration(&mut self, node: &Node) -> Option<Duration> {
        let value = self.duration(node)?;
        if value.is_zero() {
            let key = self.path.last().cloned().unwrap_or_default();
            self.error(node, format!("{key} must be greater than zero"));
            return None;
        }
        Some(value)
    }

    fn durations(&mut self, node: &Node) -> Option<Vec<Duration>> {
        if node.is_null() {
            return None;
        }
        let Kind::Sequence(items) = &node.kind else {
            self.wrong_type(node, "a list of durations");
            return None;
        };
        let values: Vec<_> = items
            .iter()
            .filter_map(|item| self.duration(item))
            .collect();
        Some(values)
    }

    /// One of a closed set of words, with a suggestion for a near miss.
    fn word<T>(&mut self, node: &Node, all: &[&str], from: fn(&str) -> Option<T>) -> Option<T> {
        if node.is_null() {
            return None;
        }
        let Kind::Scalar { text, .. } = &node.kind else {
            self.wrong_type(node, &format!("one of {}", quoted_list(all)));
            return None;
        };
        if let Some(value) = from(text) {
            return Some(value);
        }
        self.error(
            node,
            format!(
                "invalid value {text:?} (expected {}{})",
                quoted_list(all),
                did_you_mean(text, all)
            ),
        );
        None
    }

    fn signal(&mut self, node: &Node) -> Option<Signal> {
        if node.is_null() {
            return None;
        }
        let Kind::Scalar { text, .. } = &node.kind else {
            self.wrong_type(node, "a signal name such as \"SIGTERM\"");
            return None;
        };
        match Signal::parse(text) {
            Ok(signal) => Some(signal),
            Err(error) => {
                self.error(node, error.to_string());
                None
            }
        }
    }

    /// A command, checked by splitting it now so that an unclosed quote is
    /// reported where it is written. The text is kept as written.
    fn command(&mut self, node: &Node, service: bool) -> Option<String> {
        let text = self.string(node)?;
        let result = if service {
            ServiceCommand::parse(&text).map(|_| ())
        } else {
            match cmdline::split(&text) {
                Ok(words) if words.is_empty() => {
                    self.error(node, "command is empty");
                    return None;
                }
                Ok(_) => Ok(()),
                Err(error) => Err(error),
            }
        };
        if let Err(error) = result {
            self.error(node, format!("cannot parse command {text:?}: {error}"));
        }
        Some(text)
    }

    fn name(&mut self, node: &Node) -> Option<String> {
        let text = self.string(node)?;
        if let Err(message) = check_name(&text) {
            self.error(node, message);
            return None;
        }
        Some(text)
    }

    /// A list of entity names (`after`, `requires`, `on-check`, …).
    fn names(&mut self, node: &Node) -> Vec<String> {
        if node.is_null() {
            return Vec::new();
        }
        let Kind::Sequence(items) = &node.kind else {
            self.wrong_type(node, "a list of names");
            return Vec::new();
        };
        let mut names = Vec::new();
        for item in items {
            if item.is_null() {
                self.error(item, "expected a name, found null");
            } else if let Some(name) = self.name(item)
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
        names
    }

    /// A string map. Scalars are taken as written (`8080` is "8080"), null
    /// is "", lists and mappings are errors.
    fn string_map(&mut self, node: &Node, environment: bool) -> StringMap {
        let mut map = StringMap::new();
        if node.is_null() {
            return map;
        }
        let Some(fields) = self.fields(node, "a mapping of names to strings") else {
            return map;
        };
        for field in fields {
            self.at(field.key, |d| {
                if environment && let Err(message) = check_env_name(field.key) {
                    d.error(field.key_node, message);
                    return;
                }
                let value = match &field.value.kind {
                    _ if field.value.is_null() => String::new(),
                    Kind::Scalar { text, .. } => text.clone(),
                    _ => {
                        d.wrong_type(field.value, "a string");
                        return;
                    }
                };
                map.insert(field.key.to_string(), value);
            });
        }
        map
    }

    fn environment(&mut self, node: &Node) -> StringMap {
        self.string_map(node, true)
    }

    fn labels(&mut self, node: &Node) -> StringMap {
        let labels = self.string_map(node, false);
        for name in labels.keys().filter(|name| name.starts_with("pebble_")) {
            self.at(name, |d| {
                d.error(node, "label names starting with \"pebble_\" are reserved")
            });
        }
        labels
    }

    fn check_actions(&mut self, node: &Node) -> BTreeMap<String, CheckAction> {
        let mut actions = BTreeMap::new();
        if node.is_null() {
            return actions;
        }
        let Some(fields) = self.fields(node, "a mapping of check names to actions") else {
            return actions;
        };
        for field in fields {
            self.at(field.key, |d| {
                if let Err(message) = check_name(field.key) {
                    d.error(field.key_node, message);
                }
                if let Some(action) = d.word(field.value, CheckAction::ALL, CheckAction::from_word)
                {
                    actions.insert(field.key.to_string(), action);
                }
            });
        }
        actions
    }

    fn statuses(&mut self, node: &Node) -> Vec<u16> {
        if node.is_null() {
            return Vec::new();
        }
        let Kind::Sequence(items) = &node.kind else {
            self.wrong_type(node, "a list of HTTP status codes");
            return Vec::new();
        };
        let mut statuses = Vec::new();
        for item in items {
            if let Some(status) = self.integer(item, 100, 599, "between 100 and 599") {
                let status = status as u16;
                if !statuses.contains(&status) {
                    statuses.push(status);
                }
            }
        }
        statuses
    }

    /// A log target's `services`: names, `all`, `-name` or `-all`.
    fn target_services(&mut self, node: &Node) -> Vec<String> {
        if node.is_null() {
            return Vec::new();
        }
        let Kind::Sequence(items) = &node.kind else {
            self.wrong_type(node, "a list of service names");
            return Vec::new();
        };
        let mut services = Vec::new();
        for item in items {
            let Some(text) = self.string(item) else {
                self.error(item, "expected a service name, found null");
                continue;
            };
            let name = text.strip_prefix('-').unwrap_or(&text);
            if let Err(message) = check_name(name) {
                self.error(item, message);
            } else if !services.contains(&text) {
                services.push(text);
            }
        }
        services
    }

    /// An absolute `http://` or `https://` URL, or `env:VAR` when allowed.
    fn url(&mut self, node: &Node, allow_env: bool) -> Option<String> {
        let text = self.string(node)?;
        if allow_env && text.starts_with("env:") {
            return self.env_reference(node, text);
        }
        if !is_http_url(&text) {
            let expected = if allow_env {
                "an absolute http:// or https:// URL, or env:VAR"
            } else {
                "an absolute http:// or https:// URL"
            };
            self.error(node, format!("invalid URL {text:?}: expected {expected}"));
            return None;
        }
        Some(text)
    }

    fn proxy(&mut self, node: &Node) -> Option<String> {
        let text = self.string(node)?;
        if text.starts_with("env:") {
            return self.env_reference(node, text);
        }
        if !is_http_url(&text) {
            self.error(
                node,
                format!("invalid proxy {text:?}: expected an http:// or https:// URL, or env:VAR"),
            );
            return None;
        }
        Some(text)
    }

    fn env_reference(&mut self, node: &Node, text: String) -> Option<String> {
        let name = &text["env:".len()..];
        if let Err(message) = check_env_name(name) {
            self.error(node, message);
            return None;
        }
        Some(text)
    }

    fn push_addr(&mut self, node: &Node) -> Option<String> {
        let text = self.string(node)?;
        if let Err(message) = check_host_port(&text) {
            self.error(node, message);
            return None;
        }
        Some(text)
    }

    fn absolute_path(&mut self, node: &Node) -> Option<String> {
        let text = self.string(node)?;
        if !text.starts_with('/') {
            self.error(node, format!("{text:?} must be an absolute path"));
            return None;
        }
        Some(text)
    }
}

/// `"a", "b" or "c"`.
fn quoted_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The name rule of layers.md §3.4.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("names cannot be empty".into());
    }
    if name.starts_with('-') {
        return Err(format!(
            "invalid name {name:?}: names cannot start with \"-\""
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == ',' || *c == '/')
    {
        return Err(format!(
            "invalid name {name:?}: names cannot contain whitespace, control characters, \",\" or \"/\" (found {bad:?})"
        ));
    }
    Ok(())
}

fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("environment variable names cannot be empty".into());
    }
    if name.contains(['=', '\0']) {
        return Err(format!(
            "invalid environment variable name {name:?}: it cannot contain \"=\" or a NUL byte"
        ));
    }
    Ok(())
}

fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !text.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// `host:port` or `[v6addr]:port` with a port in 1–65535.
pub(crate) fn check_host_port(text: &str) -> Result<(), String> {
    let invalid = |why: &str| Err(format!("invalid address {text:?}: {why}"));
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        match rest.split_once("]:") {
            Some((host, port)) => (host, port),
            None => return invalid("expected [v6addr]:port"),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return invalid("write an IPv6 address in brackets, as [addr]:port");
            }
            Some((host, port)) => (host, port),
            None => return invalid("expected host:port"),
        }
    };
    if host.is_empty() {
        return invalid("the host is missing");
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => invalid("the port must be a number between 1 and 65535"),
    }
}
