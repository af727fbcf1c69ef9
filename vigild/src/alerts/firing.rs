//! When alerts fire (§10), as a pure state machine: the resolved settings of
//! each alert (§12), the last-sent state of every (alert, watched check)
//! pair, alertmanager's re-posts (D19), and what deliveries reported.
//!
//! Like the check scheduler it never reads a clock or the environment and
//! never touches the network: time comes in a [`Now`], variables through a
//! lookup function, event ids from a generator, and what to send goes out
//! as [`Effect::Deliver`] jobs that the reactor hands to delivery.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use vigil_proto::api::quote;
use vigil_proto::plan::{self, AlertFormat, StringMap};

use super::format::{self, Template};
use super::{Event, EventStatus, Job, Outcome};
use crate::supervisor::{LogLevel, Now};

/// How often an alertmanager alert is posted again while its check stays
/// down, so that Alertmanager does not resolve it on its own (D19).
pub const REPOST_INTERVAL: Duration = Duration::from_secs(60);
/// `max-queue-depth` when unset.
pub const DEFAULT_QUEUE_DEPTH: usize = 256;
/// `max-queue-time` when unset.
pub const DEFAULT_QUEUE_TIME: Duration = Duration::from_secs(60);
/// `retry-attempts` when unset.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// `timeout` when unset.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// `retry-backoff` when unset.
fn default_backoff() -> Vec<Duration> {
    vec![Duration::from_secs(1), Duration::from_secs(2)]
}

/// What a watched check's latest probe says, for the alerts (§10 step 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// The check's status is now `down`; `error` is the failure message.
    Down {
        /// The failure message of the probe.
        error: String,
    },
    /// The probe succeeded.
    Up,
    /// A failed probe below the threshold: nothing to tell.
    Nothing,
}

/// What the reactor must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Queue this job for delivery.
    Deliver(Box<Job>),
    /// A line for the daemon log.
    Log {
        /// How important.
        level: LogLevel,
        /// The alert it is about.
        alert: String,
        /// The line.
        message: String,
    },
}

/// The state last sent for a pair (§10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    None,
    Down,
    Up,
}

/// One (alert, watched check) pair.
#[derive(Clone, Debug)]
struct Pair {
    sent: Sent,
    /// While `sent` is `Down`: the event, for alertmanager's re-posts and
    /// its recovery's `startsAt`.
    firing: Option<Event>,
    /// When the next alertmanager re-post is due.
    repost_at: Option<Instant>,
}

/// An alert's settings with `env:` resolved and defaults filled in.
#[derive(Debug)]
struct Resolved {
    /// The entry as written: `url`, `format` and `on-check` for the API.
    written: plan::Alert,
    format: AlertFormat,
    url: Result<String, String>,
    /// Configured headers with a value (unset `env:` ones are left out).
    headers: Vec<(String, String)>,
    labels: StringMap,
    info: StringMap,
    template: Option<Arc<Template>>,
    proxy: Option<String>,
    no_proxy: Option<String>,
    attempts: u32,
    backoff: Vec<Duration>,
    timeout: Duration,
}

impl Resolved {
    /// Resolves `alert`, returning the settings and the `env:` variables
    /// that are unset or empty, sorted.
    fn new(alert: &plan::Alert, env: &dyn Fn(&str) -> Option<String>) -> (Resolved, Vec<String>) {
        let mut unset = BTreeSet::new();
        let mut resolve = |value: &str| -> Option<String> {
            match value.strip_prefix("env:") {
                Some(name) => match env(name).filter(|v| !v.is_empty()) {
                    Some(value) => Some(value),
                    None => {
                        unset.insert(name.to_owned());
                        None
                    }
                },
                None => Some(value.to_owned()),
            }
        };
        let url = match alert.url.as_deref() {
            Some(written) => resolve(written).ok_or_else(|| format!("url {written} is not set")),
            None => Err("url is not set".to_owned()),
        };
        let headers = alert
            .headers
            .iter()
            .filter_map(|(name, value)| resolve(value).map(|v| (name.clone(), v)))
            .collect();
        let mut map = |values: &StringMap| -> StringMap {
            values
                .iter()
                .map(|(k, v)| (k.clone(), resolve(v).unwrap_or_default()))
                .collect()
        };
        let labels = map(&alert.labels);
        let info = map(&alert.send_info_fields);
        let proxy = alert.proxy.as_deref().and_then(&mut resolve);
        let no_proxy = alert.no_proxy.as_deref().and_then(&mut resolve);
        // The plan compiled it already; a failure here cannot happen, and
        // would only mean the default body.
        let template = alert
            .body_template
            .as_deref()
            .and_then(|source| Template::compile(source).ok())
            .map(Arc::new);
        let resolved = Resolved {
            written: alert.clone(),
            format: alert.format.unwrap_or(AlertFormat::Webhook),
            url,
            headers,
            labels,
            info,
            template,
            proxy,
            no_proxy,
            attempts: alert.retry_attempts.unwrap_or(DEFAULT_ATTEMPTS).max(1),
            backoff: alert.retry_backoff.clone().unwrap_or_else(default_backoff),
            timeout: alert.timeout.unwrap_or(DEFAULT_TIMEOUT),
        };
        (resolved, unset.into_iter().collect())
    }
}

/// One alert and what happened to it.
#[derive(Debug)]
struct AlertRecord {
    config: Resolved,
    pairs: BTreeMap<String, Pair>,
    fire_count: u64,
    failure_count: u64,
    last_error: Option<(String, SystemTime)>,
    last_sent: Option<SystemTime>,
}

/// One alert as `GET /v1/alerts` shows it, before the check statuses are
/// added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertInfo {
    /// The alert's name.
    pub name: String,
    /// Its format.
    pub format: AlertFormat,
    /// `url` as written (`env:…` stays as it is).
    pub url: String,
    /// The checks it watches, as written.
    pub on_check: Vec<String>,
    /// Events fired, down or up.
    pub fire_count: u64,
    /// The last failed delivery and when it ended.
    pub last_error: Option<(String, SystemTime)>,
    /// When a delivery last succeeded.
    pub last_sent: Option<SystemTime>,
}

/// The queue limits of the plan's `alerts:` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// `max-queue-depth`.
    pub depth: usize,
    /// `max-queue-time`.
    pub max_age: Duration,
}

/// Every alert of the plan.
pub struct Alerts {
    alerts: BTreeMap<String, AlertRecord>,
    /// The failure message of each check's last failed probe, for a pair
    /// made while its check is down (§10 step 4).
    check_errors: BTreeMap<String, String>,
    limits: QueueLimits,
    effects: VecDeque<Effect>,
    /// Makes each event's id (a random UUID in the daemon).
    new_id: Box<dyn FnMut() -> String + Send>,
    hostname: String,
}

impl fmt::Debug for Alerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerts")
            .field("alerts", &self.alerts.len())
            .finish_non_exhaustive()
    }
}

impl Alerts {
    /// No alerts yet; `new_id` makes event ids, `hostname` goes into
    /// otlp-logs payloads.
    #[must_use]
    pub fn new(new_id: Box<dyn FnMut() -> String + Send>, hostname: String) -> Self {
        Self {
            alerts: BTreeMap::new(),
            check_errors: BTreeMap::new(),
            limits: QueueLimits {
                depth: DEFAULT_QUEUE_DEPTH,
                max_age: DEFAULT_QUEUE_TIME,
            },
            effects: VecDeque::new(),
            new_id,
            hostname,
        }
    }

    // ---- Queries.

    /// The alerts named in `names` (all when empty), sorted by name.
    #[must_use]
    pub fn list(&self, names: &[String]) -> Vec<AlertInfo> {
        self.alerts
            .iter()
            .filter(|(name, _)| names.is_empty() || names.contains(name))
            .map(|(name, record)| AlertInfo {
                name: name.clone(),
                format: record.config.format,
                url: record.config.written.url.clone().unwrap_or_default(),
                on_check: record.config.written.on_check.clone(),
                fire_count: record.fire_count,
                last_error: record.last_error.clone(),
                last_sent: record.last_sent,
            })
            .collect()
    }

    /// `vigil_alert_fire_count` per alert, sorted by name.
    #[must_use]
    pub fn fire_counts(&self) -> Vec<(String, u64)> {
        self.alerts
            .iter()
            .map(|(name, record)| (name.clone(), record.fire_count))
            .collect()
    }

    /// Per alert, sorted by name: events fired, and deliveries that failed
    /// for good.
    #[must_use]
    pub fn metrics(&self) -> Vec<(String, u64, u64)> {
        self.alerts
            .iter()
            .map(|(name, record)| (name.clone(), record.fire_count, record.failure_count))
            .collect()
    }

    /// The queue limits the plan sets.
    #[must_use]
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    // ---- Commands.

    /// The plan's alerts are now `section` (boot, `POST /v1/layers`,
    /// replan): settings are resolved again from `env`, pairs of removed
    /// alerts or checks are forgotten, and a new pair whose check is down
    /// fires `down` at once (§10 step 4). `down` says which checks are down
    /// now. One warning per alert lists its unset variables (§12).
    pub fn update_plan(
        &mut self,
        section: &plan::Alerts,
        checks: &BTreeSet<String>,
        down: &dyn Fn(&str) -> bool,
        env: &dyn Fn(&str) -> Option<String>,
        now: Now,
    ) {
        self.limits = QueueLimits {
            depth: section
                .max_queue_depth
                .map_or(DEFAULT_QUEUE_DEPTH, |d| d as usize),
            max_age: section.max_queue_time.unwrap_or(DEFAULT_QUEUE_TIME),
        };
        self.alerts
            .retain(|name, _| section.entries.contains_key(name));
        self.check_errors.retain(|check, _| checks.contains(check));
        for (name, alert) in &section.entries {
            let (config, unset) = Resolved::new(alert, env);
            if !unset.is_empty() {
                self.effects.push_back(Effect::Log {
                    level: LogLevel::Warning,
                    alert: name.clone(),
                    message: format!(
                        "alert {}: environment variables not set or empty: {}",
                        quote(name),
                        unset.join(", ")
                    ),
                });
            }
            let record = match self.alerts.entry(name.clone()) {
                std::collections::btree_map::Entry::Occupied(entry) => {
                    let record = entry.into_mut();
                    record.config = config;
                    record
                }
                std::collections::btree_map::Entry::Vacant(entry) => entry.insert(AlertRecord {
                    config,
                    pairs: BTreeMap::new(),
                    fire_count: 0,
                    failure_count: 0,
                    last_error: None,
                    last_sent: None,
                }),
            };
            let watched: BTreeSet<&String> = alert
                .on_check
                .iter()
                .filter(|check| checks.contains(*check))
                .collect();
            record.pairs.retain(|check, _| watched.contains(check));
            // A format change while down: only alertmanager re-posts.
            let reposts = record.config.format == AlertFormat::Alertmanager;
            for pair in record.pairs.values_mut() {
                pair.repost_at = match (reposts, pair.repost_at, &pair.firing) {
                    (true, Some(at), Some(_)) => Some(at),
                    (true, None, Some(_)) => Some(now.monotonic + REPOST_INTERVAL),
                    _ => None,
                };
            }
            let mut new_pairs = Vec::new();
            for check in watched {
                if !record.pairs.contains_key(check) {
                    record.pairs.insert(
                        check.clone(),
                        Pair {
                            sent: Sent::None,
                            firing: None,
                            repost_at: None,
                        },
                    );
                    if down(check) {
                        new_pairs.push(check.clone());
                    }
                }
            }
            for check in new_pairs {
                let error = self.check_errors.get(&check).cloned().unwrap_or_default();
                self.fire(name, &check, Observation::Down { error }, now);
            }
        }
    }

    // ---- Inputs.

    /// A probe of `check` ended: tell every alert that watches it what it
    /// says (§10).
    pub fn observe(&mut self, check: &str, observation: Observation, now: Now) {
        if let Observation::Down { error } = &observation {
            self.check_errors.insert(check.to_owned(), error.clone());
        }
        if observation == Observation::Nothing {
            return;
        }
        let watching: Vec<String> = self
            .alerts
            .iter()
            .filter(|(_, record)| record.pairs.contains_key(check))
            .map(|(name, _)| name.clone())
            .collect();
        for alert in watching {
            self.fire(&alert, check, observation.clone(), now);
        }
    }

    /// A failed probe's message, kept for pairs made later while the check
    /// is down.
    pub fn note_failure(&mut self, check: &str, error: &str) {
        self.check_errors.insert(check.to_owned(), error.to_owned());
    }

    /// The deadline from [`next_deadline`](Self::next_deadline) has passed:
    /// post the alertmanager alerts that are due again (D19). They do not
    /// count as fired.
    pub fn handle_timeout(&mut self, now: Now) {
        let mut due = Vec::new();
        for (name, record) in &mut self.alerts {
            for pair in record.pairs.values_mut() {
                if let (Some(at), Some(event)) = (pair.repost_at, &pair.firing)
                    && at <= now.monotonic
                {
                    pair.repost_at = Some(now.monotonic + REPOST_INTERVAL);
                    due.push((name.clone(), event.clone()));
                }
            }
        }
        for (alert, event) in due {
            self.deliver(&alert, event, true, now);
        }
    }

    /// Delivery reported `outcome`.
    pub fn handle_outcome(&mut self, outcome: &Outcome) {
        let Some(record) = self.alerts.get_mut(&outcome.alert) else {
            // A removed alert's last jobs are still delivered (§14); there
            // is nothing left to record them on.
            return;
        };
        match &outcome.result {
            Ok(()) => {
                record.last_sent = Some(outcome.at);
                self.effects.push_back(Effect::Log {
                    level: LogLevel::Debug,
                    alert: outcome.alert.clone(),
                    message: format!("alert {}: delivered", quote(&outcome.alert)),
                });
            }
            Err(error) => {
                // As api.md §6.18 shows it: `HTTP 503 after 3 attempts`.
                let error = match outcome.attempts {
                    0 => error.clone(),
                    1 => format!("{error} after 1 attempt"),
                    n => format!("{error} after {n} attempts"),
                };
                self.effects.push_back(Effect::Log {
                    level: LogLevel::Warning,
                    alert: outcome.alert.clone(),
                    message: format!("alert {}: delivery failed: {error}", quote(&outcome.alert)),
                });
                record.last_error = Some((error, outcome.at));
                record.failure_count += 1;
            }
        }
    }

    // ---- Outputs.

    /// The next effect to apply, in order.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due: the earliest
    /// alertmanager re-post.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.alerts
            .values()
            .flat_map(|record| record.pairs.values())
            .filter_map(|pair| pair.repost_at)
            .min()
    }

    // ---- Helpers.

    /// Applies `observation` to the pair (`alert`, `check`): fires when it
    /// differs from the last-sent state, except none → up (§10 step 2).
    fn fire(&mut self, alert: &str, check: &str, observation: Observation, now: Now) {
        let Some(record) = self.alerts.get_mut(alert) else {
            return;
        };
        let Some(pair) = record.pairs.get_mut(check) else {
            return;
        };
        let (status, error) = match observation {
            Observation::Down { error } => (EventStatus::Down, Some(error)),
            Observation::Up => (EventStatus::Up, None),
            Observation::Nothing => return,
        };
        let down_since = match (status, pair.sent) {
            (EventStatus::Down, Sent::Down) | (EventStatus::Up, Sent::Up) => return,
            (EventStatus::Up, Sent::None) => {
                pair.sent = Sent::Up;
                return;
            }
            (EventStatus::Down, _) => now.wall,
            (EventStatus::Up, Sent::Down) => pair
                .firing
                .as_ref()
                .map_or(now.wall, |event| event.down_since),
        };
        let event = Event {
            alert: alert.to_owned(),
            check: check.to_owned(),
            status,
            timestamp: now.wall,
            labels: record.config.labels.clone(),
            info: record.config.info.clone(),
            error,
            down_since,
            id: (self.new_id)(),
        };
        match status {
            EventStatus::Down => {
                pair.sent = Sent::Down;
                pair.firing = Some(event.clone());
                pair.repost_at = (record.config.format == AlertFormat::Alertmanager)
                    .then(|| now.monotonic + REPOST_INTERVAL);
            }
            EventStatus::Up => {
                pair.sent = Sent::Up;
                pair.firing = None;
                pair.repost_at = None;
            }
        }
        record.fire_count += 1;
        self.deliver(alert, event, false, now);
    }

    /// Builds the job of `event` for `alert` and queues it as an effect.
    fn deliver(&mut self, alert: &str, event: Event, repost: bool, now: Now) {
        let Some(record) = self.alerts.get(alert) else {
            return;
        };
        let config = &record.config;
        let payload = format::payload(
            config.format,
            &event,
            config.template.as_deref(),
            now.wall,
            &self.hostname,
            env!("CARGO_PKG_VERSION"),
        );
        if let Some(warning) = payload.warning {
            self.effects.push_back(Effect::Log {
                level: LogLevel::Warning,
                alert: alert.to_owned(),
                message: warning,
            });
        }
        let mut headers = vec![
            ("Content-Type".to_owned(), payload.content_type.to_owned()),
            (
                "User-Agent".to_owned(),
                format!("vigild/{}", env!("CARGO_PKG_VERSION")),
            ),
        ];
        headers.extend(config.headers.iter().cloned());
        let job = Job {
            alert: alert.to_owned(),
            url: config.url.clone(),
            headers,
            body: payload.body,
            tls_insecure: config.written.tls_insecure.unwrap_or(false),
            tls_ca: config.written.tls_ca.as_ref().map(PathBuf::from),
            proxy: config.proxy.clone(),
            proxy_ca: config.written.proxy_ca.as_ref().map(PathBuf::from),
            no_proxy: config.no_proxy.clone(),
            attempts: config.attempts,
            backoff: config.backoff.clone(),
            timeout: config.timeout,
            created: now.monotonic,
            repost,
        };
        self.effects.push_back(Effect::Deliver(Box::new(job)));
    }
}

#[cfg(test)]
mod tests;
