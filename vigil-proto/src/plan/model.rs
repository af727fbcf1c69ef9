//! The entries of a layer (services, checks, alerts, log targets,
//! workloads) and how a later layer's entry is laid over an earlier one.
//!
//! Every scalar is an `Option` until the plan is complete: a layer that omits
//! `startup` must not turn a service off (spec layers.md §14, "defaults
//! applied while merging"). Defaults live in the accessor methods of the
//! validated plan, never in these structs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::signal::Signal;

/// Defines a closed set of words as an enum with its wire spelling.
macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every accepted spelling, in the order the spec lists them.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The spelling used in layers and on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value for an exact spelling.
            pub fn from_word(word: &str) -> Option<$name> {
                match word {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words! {
    /// How an entry combines with the same entry in earlier layers.
    Override {
        /// Laid over the earlier entry field by field.
        Merge = "merge",
        /// Replaces the earlier entry entirely.
        Replace = "replace",
    }
}

words! {
    /// Whether a service is started at boot, or a check runs at once.
    Startup {
        /// Started automatically.
        Enabled = "enabled",
        /// Started only on request.
        Disabled = "disabled",
    }
}

words! {
    /// What happens when a service's process exits (supervision.md §6).
    ExitAction {
        /// Restart after the backoff delay.
        Restart = "restart",
        /// Leave the service stopped.
        Ignore = "ignore",
        /// Shut vigild down with the service's exit code.
        Shutdown = "shutdown",
        /// Shut vigild down with exit code 0.
        SuccessShutdown = "success-shutdown",
        /// Shut vigild down with a failure exit code.
        FailureShutdown = "failure-shutdown",
    }
}

words! {
    /// What happens to a service when one of its checks goes down.
    CheckAction {
        /// Restart the service.
        Restart = "restart",
        /// Shut vigild down with exit code 11.
        Shutdown = "shutdown",
        /// Shut vigild down with exit code 0.
        SuccessShutdown = "success-shutdown",
        /// Do nothing.
        Ignore = "ignore",
    }
}

words! {
    /// Where a service's output goes besides its ring buffer.
    LogsForward {
        /// Written to vigild's stdout with a time and service prefix.
        Enabled = "enabled",
        /// Kept only in the ring buffer.
        Disabled = "disabled",
        /// The service inherits vigild's stdout and stderr.
        Passthrough = "passthrough",
    }
}

words! {
    /// The format of pushed log lines.
    PushFormat {
        /// One JSON object per line.
        Ndjson = "ndjson",
    }
}

words! {
    /// The health level a check contributes to.
    CheckLevel {
        /// Liveness.
        Alive = "alive",
        /// Readiness (includes liveness).
        Ready = "ready",
    }
}

words! {
    /// The payload format of an alert.
    AlertFormat {
        /// A JSON object, or a rendered body template.
        Webhook = "webhook",
        /// Prometheus Alertmanager's v2 alerts array.
        Alertmanager = "alertmanager",
        /// A structured-mode CloudEvent.
        CloudEvents = "cloud-events",
        /// OTLP/HTTP JSON logs.
        OtlpLogs = "otlp-logs",
    }
}

words! {
    /// The kind of a log target.
    LogTargetType {
        /// Grafana Loki.
        Loki = "loki",
        /// An OpenTelemetry collector.
        Opentelemetry = "opentelemetry",
        /// A syslog receiver.
        Syslog = "syslog",
    }
}

/// A string map: `environment`, `headers`, `labels`, `send-info-fields`.
/// Sorted, because the plan prints it sorted.
pub type StringMap = BTreeMap<String, String>;

/// A service entry as written, or as merged from several layers.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)] // each field is the layer key of the same name
pub struct Service {
    /// `override` (or `override-mode`) as written; `None` when omitted.
    pub override_: Option<Override>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub startup: Option<Startup>,
    /// The command text as written; it is split when the plan is built.
    pub command: Option<String>,
    pub after: Vec<String>,
    pub before: Vec<String>,
    pub requires: Vec<String>,
    pub workload: Option<String>,
    pub environment: StringMap,
    pub user_id: Option<u32>,
    pub user: Option<String>,
    pub group_id: Option<u32>,
    pub group: Option<String>,
    pub working_dir: Option<String>,
    pub on_success: Option<ExitAction>,
    pub on_failure: Option<ExitAction>,
    pub on_check_failure: BTreeMap<String, CheckAction>,
    pub backoff_delay: Option<Duration>,
    pub backoff_factor: Option<f64>,
    pub backoff_limit: Option<Duration>,
    pub kill_delay: Option<Duration>,
    pub stop_signal: Option<Signal>,
    pub logs_forward: Option<LogsForward>,
    pub logs_push_addr: Option<String>,
    pub logs_push_socket: Option<String>,
    pub logs_push_format: Option<PushFormat>,
}

/// A health check entry.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)] // each field is the layer key of the same name
pub struct Check {
    pub override_: Option<Override>,
    pub level: Option<CheckLevel>,
    pub startup: Option<Startup>,
    pub period: Option<Duration>,
    pub timeout: Option<Duration>,
    pub threshold: Option<u32>,
    pub delay: Option<Duration>,
    pub http: Option<HttpProbe>,
    pub tcp: Option<TcpProbe>,
    pub exec: Option<ExecProbe>,
}

/// The `http` probe of a check.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct HttpProbe {
    pub url: Option<String>,
    pub headers: StringMap,
    pub insecure: Option<bool>,
    pub ca: Option<String>,
    pub success_statuses: Vec<u16>,
    pub no_follow_redirects: Option<bool>,
}

/// The `tcp` probe of a check.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct TcpProbe {
    pub port: Option<u16>,
    pub host: Option<String>,
}

/// The `exec` probe of a check.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct ExecProbe {
    pub command: Option<String>,
    pub service_context: Option<String>,
    pub environment: StringMap,
    pub user_id: Option<u32>,
    pub user: Option<String>,
    pub group_id: Option<u32>,
    pub group: Option<String>,
    pub working_dir: Option<String>,
}

/// A log target entry (accepted and shown, not used: decision D27).
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct LogTarget {
    pub override_: Option<Override>,
    pub type_: Option<LogTargetType>,
    pub location: Option<String>,
    pub services: Vec<String>,
    pub labels: StringMap,
}

/// A workload entry: defaults for the services that name it.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Workload {
    pub override_: Option<Override>,
    pub environment: StringMap,
    pub user_id: Option<u32>,
    pub user: Option<String>,
    pub group_id: Option<u32>,
    pub group: Option<String>,
}

/// An alert entry.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Alert {
    pub override_: Option<Override>,
    pub url: Option<String>,
    pub format: Option<AlertFormat>,
    pub on_check: Vec<String>,
    pub headers: StringMap,
    pub labels: StringMap,
    pub send_info_fields: StringMap,
    pub body_template: Option<String>,
    pub tls_insecure: Option<bool>,
    pub tls_ca: Option<String>,
    pub proxy: Option<String>,
    pub proxy_ca: Option<String>,
    pub no_proxy: Option<String>,
    pub retry_attempts: Option<u32>,
    /// Replaced, not appended, by a later layer.
    pub retry_backoff: Option<Vec<Duration>>,
    pub timeout: Option<Duration>,
}

/// The `alerts:` section: two daemon-wide queue settings and the alerts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Alerts {
    /// `max-queue-depth`; the last layer that sets it wins.
    pub max_queue_depth: Option<u32>,
    /// `max-queue-time`; the last layer that sets it wins.
    pub max_queue_time: Option<Duration>,
    /// The alerts by name.
    pub entries: BTreeMap<String, Alert>,
}

/// Lays a later entry over an earlier one (spec layers.md §9).
pub(crate) trait Entry: Clone + OverrideSlot {
    /// Field-wise merge of `later` into `self`, with each field's own rule.
    fn merge_fields(&mut self, later: &Self);
}

/// The entry that results from laying `later` over `earlier`. `override` in
/// the result is what the later layer said, `merge` when it said nothing.
pub(crate) fn combine<T: Entry>(earlier: Option<&T>, later: &T) -> T {
    let mut result = match (earlier, later.override_given()) {
        (Some(earlier), None | Some(Override::Merge)) => {
            let mut merged = earlier.clone();
            merged.merge_fields(later);
            merged
        }
        _ => later.clone(),
    };
    *result.override_slot() = Some(later.override_given().unwrap_or(Override::Merge));
    result
}

/// The entry that results from combining `later` into `earlier` *within one
/// layer* (`POST /v1/layers` with `combine: true`, spec layers.md §2.4): the
/// same field rules as [`combine`], but a `merge` keeps the earlier entry's
/// own `override`, so that an overlay does not turn a `replace` entry into
/// a `merge` one against the layers below. As in Pebble's `CombineLayers`.
pub(crate) fn combine_within<T: Entry>(earlier: Option<&T>, later: &T) -> T {
    match (earlier, later.override_given()) {
        (Some(earlier), None | Some(Override::Merge)) => {
            let mut merged = earlier.clone();
            merged.merge_fields(later);
            merged
        }
        _ => later.clone(),
    }
}

/// Access to an entry's `override` field, for decoding and [`combine`].
pub(crate) trait OverrideSlot {
    /// The `override` the layer gave, if any.
    fn override_given(&self) -> Option<Override>;
    /// The field itself.
    fn override_slot(&mut self) -> &mut Option<Override>;
}

macro_rules! override_slot {
    ($($ty:ty),+) => {$(
        impl OverrideSlot for $ty {
            fn override_given(&self) -> Option<Override> {
                self.override_
            }

            fn override_slot(&mut self) -> &mut Option<Override> {
                &mut self.override_
            }
        }
    )+};
}
override_slot!(Service, Check, LogTarget, Workload, Alert);

/// Scalar rule: the later value wins when it is set.
fn scalar<T: Clone>(earlier: &mut Option<T>, later: &Option<T>) {
    if later.is_some() {
        earlier.clone_from(later);
    }
}

/// Append rule: later items go after earlier ones, skipping duplicates.
fn append<T: Clone + PartialEq>(earlier: &mut Vec<T>, later: &[T]) {
    for item in later {
        if !earlier.contains(item) {
            earlier.push(item.clone());
        }
    }
}

/// Key-wise rule: the later map wins for keys present in both.
fn keywise<V: Clone>(earlier: &mut BTreeMap<String, V>, later: &BTreeMap<String, V>) {
    for (key, value) in later {
        earlier.insert(key.clone(), value.clone());
    }
}

/// Field-wise rule for probe objects.
fn fieldwise<T: Default + Clone + Merge>(earlier: &mut Option<T>, later: &Option<T>) {
    if let Some(later) = later {
        earlier.get_or_insert_with(T::default).merge(later);
    }
}

/// Field-wise merge of a nested object (a probe).
trait Merge {
    fn merge(&mut self, later: &Self);
}

impl Entry for Service {
    fn merge_fields(&mut self, later: &Service) {
        scalar(&mut self.summary, &later.summary);
        scalar(&mut self.description, &later.description);
        scalar(&mut self.startup, &later.startup);
        scalar(&mut self.command, &later.command);
        append(&mut self.after, &later.after);
        append(&mut self.before, &later.before);
        append(&mut self.requires, &later.requires);
        scalar(&mut self.workload, &later.workload);
        keywise(&mut self.environment, &later.environment);
        scalar(&mut self.user_id, &later.user_id);
        scalar(&mut self.user, &later.user);
        scalar(&mut self.group_id, &later.group_id);
        scalar(&mut self.group, &later.group);
        scalar(&mut self.working_dir, &later.working_dir);
        scalar(&mut self.on_success, &later.on_success);
        scalar(&mut self.on_failure, &later.on_failure);
        keywise(&mut self.on_check_failure, &later.on_check_failure);
        scalar(&mut self.backoff_delay, &later.backoff_delay);
        scalar(&mut self.backoff_factor, &later.backoff_factor);
        scalar(&mut self.backoff_limit, &later.backoff_limit);
        scalar(&mut self.kill_delay, &later.kill_delay);
        scalar(&mut self.stop_signal, &later.stop_signal);
        scalar(&mut self.logs_forward, &later.logs_forward);
        scalar(&mut self.logs_push_addr, &later.logs_push_addr);
        scalar(&mut self.logs_push_socket, &later.logs_push_socket);
        scalar(&mut self.logs_push_format, &later.logs_push_format);
    }
}

impl Entry for Check {
    fn merge_fields(&mut self, later: &Check) {
        scalar(&mut self.level, &later.level);
        scalar(&mut self.startup, &later.startup);
        scalar(&mut self.period, &later.period);
        scalar(&mut self.timeout, &later.timeout);
        scalar(&mut self.threshold, &later.threshold);
        scalar(&mut self.delay, &later.delay);
        fieldwise(&mut self.http, &later.http);
        fieldwise(&mut self.tcp, &later.tcp);
        fieldwise(&mut self.exec, &later.exec);
    }
}

impl Merge for HttpProbe {
    fn merge(&mut self, later: &HttpProbe) {
        scalar(&mut self.url, &later.url);
        keywise(&mut self.headers, &later.headers);
        scalar(&mut self.insecure, &later.insecure);
        scalar(&mut self.ca, &later.ca);
        append(&mut self.success_statuses, &later.success_statuses);
        scalar(&mut self.no_follow_redirects, &later.no_follow_redirects);
    }
}

impl Merge for TcpProbe {
    fn merge(&mut self, later: &TcpProbe) {
        scalar(&mut self.port, &later.port);
        scalar(&mut self.host, &later.host);
    }
}

impl Merge for ExecProbe {
    fn merge(&mut self, later: &ExecProbe) {
        scalar(&mut self.command, &later.command);
        scalar(&mut self.service_context, &later.service_context);
        keywise(&mut self.environment, &later.environment);
        scalar(&mut self.user_id, &later.user_id);
        scalar(&mut self.user, &later.user);
        scalar(&mut self.group_id, &later.group_id);
        scalar(&mut self.group, &later.group);
        scalar(&mut self.working_dir, &later.working_dir);
    }
}

impl Entry for LogTarget {
    fn merge_fields(&mut self, later: &LogTarget) {
        scalar(&mut self.type_, &later.type_);
        scalar(&mut self.location, &later.location);
        append(&mut self.services, &later.services);
        keywise(&mut self.labels, &later.labels);
    }
}

impl Entry for Workload {
    fn merge_fields(&mut self, later: &Workload) {
        keywise(&mut self.environment, &later.environment);
        scalar(&mut self.user_id, &later.user_id);
        scalar(&mut self.user, &later.user);
        scalar(&mut self.group_id, &later.group_id);
        scalar(&mut self.group, &later.group);
    }
}

impl Entry for Alert {
    fn merge_fields(&mut self, later: &Alert) {
        scalar(&mut self.url, &later.url);
        scalar(&mut self.format, &later.format);
        append(&mut self.on_check, &later.on_check);
        keywise(&mut self.headers, &later.headers);
        keywise(&mut self.labels, &later.labels);
        keywise(&mut self.send_info_fields, &later.send_info_fields);
        scalar(&mut self.body_template, &later.body_template);
        scalar(&mut self.tls_insecure, &later.tls_insecure);
        scalar(&mut self.tls_ca, &later.tls_ca);
        scalar(&mut self.proxy, &later.proxy);
        scalar(&mut self.proxy_ca, &later.proxy_ca);
        scalar(&mut self.no_proxy, &later.no_proxy);
        scalar(&mut self.retry_attempts, &later.retry_attempts);
        // Replace rule: a later list replaces the earlier one.
        scalar(&mut self.retry_backoff, &later.retry_backoff);
        scalar(&mut self.timeout, &later.timeout);
    }
}
