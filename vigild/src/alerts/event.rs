//! The contract between the alert parts: an [`Event`] is what the firing
//! logic decides (§10), a [`Job`] is the request built for it (§11–§13),
//! and an [`Outcome`] is what delivery made of it (§13, §14).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use vigil_proto::plan::StringMap;

/// Whether the check went down or came back up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventStatus {
    /// The check crossed its threshold.
    Down,
    /// The check recovered.
    Up,
}

impl EventStatus {
    /// `down` or `up`, as payloads spell it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Down => "down",
            EventStatus::Up => "up",
        }
    }
}

/// One alert event: the values every payload format draws on (§11's
/// table), with `env:` already resolved (§12).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The alert's name.
    pub alert: String,
    /// The check's name.
    pub check: String,
    /// `down` or `up`.
    pub status: EventStatus,
    /// When it happened: the probe that crossed the threshold or recovered.
    pub timestamp: SystemTime,
    /// The alert's `labels`, resolved (an unset variable gives "").
    pub labels: StringMap,
    /// The alert's `send-info-fields`, resolved likewise.
    pub info: StringMap,
    /// The failure message (§5) for `down`; `None` for `up`.
    pub error: Option<String>,
    /// alertmanager: when the check went down (`startsAt`), for the firing,
    /// its 60 s re-posts and the recovery alike (D19).
    pub down_since: SystemTime,
    /// cloud-events: a random UUID v4 made once per event, reused by retries
    /// and re-posts.
    pub id: String,
}

/// The fully built request of one event for one alert (§14, "Jobs"): a
/// later plan change does not alter it.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// The alert, for per-alert ordering and for the outcome.
    pub alert: String,
    /// The resolved URL, or why there is none
    /// (`url env:PAGER_URL is not set`): every attempt fails at once with it.
    pub url: Result<String, String>,
    /// The request headers in order: the format's `Content-Type`,
    /// `User-Agent: vigild/<version>`, then the configured headers (which
    /// may replace the first two; a header whose `env:` variable is unset is
    /// left out).
    pub headers: Vec<(String, String)>,
    /// The payload.
    pub body: Vec<u8>,
    /// `tls-insecure`: skip verifying the target's certificate.
    pub tls_insecure: bool,
    /// `tls-ca`: a PEM bundle added to the roots for the target.
    pub tls_ca: Option<PathBuf>,
    /// The explicit `proxy`, resolved; `None` falls back to the
    /// environment (§13, "Proxy selection").
    pub proxy: Option<String>,
    /// `proxy-ca`: a PEM bundle trusted for an `https://` proxy.
    pub proxy_ca: Option<PathBuf>,
    /// The explicit `no-proxy`, resolved; `None` falls back to `NO_PROXY`
    /// or `no_proxy`.
    pub no_proxy: Option<String>,
    /// `retry-attempts`: attempts in total, at least 1.
    pub attempts: u32,
    /// `retry-backoff`: the wait before attempt k+1 is entry k, or the last
    /// entry when the list is shorter.
    pub backoff: Vec<Duration>,
    /// `timeout`, per attempt.
    pub timeout: Duration,
    /// When the job was made: it is dropped when it waited longer than
    /// `max-queue-time` before its first attempt, and never retried after
    /// that long in the system.
    pub created: Instant,
    /// Whether this is a firing or recovery (counted) rather than an
    /// alertmanager re-post (D19, not counted). Carried through to the
    /// outcome.
    pub repost: bool,
}

/// What became of a job (§13, "Outcome of an attempt").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The alert.
    pub alert: String,
    /// How many attempts were made (0 when it was dropped unsent).
    pub attempts: u32,
    /// `Ok` when delivered (2xx); otherwise the last error, such as
    /// `HTTP 503` or `dial tcp 127.0.0.1:9: connect: connection refused`,
    /// or why it was dropped (`dropped: waited longer than 1m in the
    /// queue`).
    pub result: Result<(), String>,
    /// When it ended.
    pub at: SystemTime,
    /// Copied from the job.
    pub repost: bool,
}
