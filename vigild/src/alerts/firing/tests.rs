//! Fake-clock tests of when alerts fire (checks-and-alerts.md §10, §12,
//! D19).

use std::collections::BTreeSet;
use std::time::{Duration, Instant, UNIX_EPOCH};

use vigil_proto::plan::{Layer, Plan, Source};

use super::*;

fn section(yaml: &str) -> (plan::Alerts, BTreeSet<String>) {
    let layer = Layer::parse(yaml, "test", "test", Source::Api("test".into()))
        .unwrap_or_else(|e| panic!("bad test layer: {e:?}\n{yaml}"));
    let plan: Plan = Plan::build(&[layer])
        .unwrap_or_else(|e| panic!("bad test plan: {e:?}\n{yaml}"))
        .plan;
    (
        plan.alerts().clone(),
        plan.checks().keys().cloned().collect(),
    )
}

const CHECKS: &str = "checks:\n  api:\n    tcp: {port: 1}\n  db:\n    tcp: {port: 2}\n";

struct Harness {
    alerts: Alerts,
    epoch: Instant,
    elapsed: Duration,
}

impl Harness {
    fn new(yaml: &str, env: &[(&str, &str)]) -> (Self, Vec<Effect>) {
        let mut counter = 0;
        let mut h = Self {
            alerts: Alerts::new(
                Box::new(move || {
                    counter += 1;
                    format!("id-{counter}")
                }),
                "host".into(),
            ),
            epoch: Instant::now(),
            elapsed: Duration::ZERO,
        };
        let effects = h.load(yaml, env, &[]);
        (h, effects)
    }

    fn now(&self) -> Now {
        Now {
            monotonic: self.epoch + self.elapsed,
            wall: UNIX_EPOCH + Duration::from_secs(1_740_823_200) + self.elapsed,
        }
    }

    fn load(&mut self, yaml: &str, env: &[(&str, &str)], down: &[&str]) -> Vec<Effect> {
        let (section, checks) = section(&format!("{CHECKS}{yaml}"));
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let down: Vec<String> = down.iter().map(|s| (*s).to_owned()).collect();
        let now = self.now();
        self.alerts.update_plan(
            &section,
            &checks,
            &|check| down.iter().any(|d| d == check),
            &lookup,
            now,
        );
        self.take()
    }

    fn take(&mut self) -> Vec<Effect> {
        std::iter::from_fn(|| self.alerts.poll_effect()).collect()
    }

    fn observe(&mut self, check: &str, observation: Observation) -> Vec<Job> {
        let now = self.now();
        self.alerts.observe(check, observation, now);
        jobs(self.take())
    }

    fn advance(&mut self, by: Duration) -> Vec<Job> {
        self.elapsed += by;
        let now = self.now();
        self.alerts.handle_timeout(now);
        jobs(self.take())
    }
}

fn jobs(effects: Vec<Effect>) -> Vec<Job> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Deliver(job) => Some(*job),
            Effect::Log { .. } => None,
        })
        .collect()
}

fn down(error: &str) -> Observation {
    Observation::Down {
        error: error.to_owned(),
    }
}

fn fired(h: &Harness, alert: &str) -> u64 {
    h.alerts
        .fire_counts()
        .into_iter()
        .find(|(name, _)| name == alert)
        .map_or(0, |(_, n)| n)
}

const PAGER: &str = "alerts:\n  pager:\n    url: http://127.0.0.1:9/\n    on-check: [api]\n";

#[test]
fn fires_on_the_first_down_on_recovery_and_never_twice_for_a_state() {
    let (mut h, _) = Harness::new(PAGER, &[]);
    // none -> up records up and sends nothing.
    assert!(h.observe("api", Observation::Up).is_empty());
    assert!(h.observe("api", Observation::Nothing).is_empty());
    let jobs = h.observe("api", down("non-2xx status code 503"));
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].alert, "pager");
    assert_eq!(jobs[0].url, Ok("http://127.0.0.1:9/".to_owned()));
    assert!(!jobs[0].repost);
    // Still down: nothing again.
    assert!(h.observe("api", down("non-2xx status code 503")).is_empty());
    assert_eq!(h.observe("api", Observation::Up).len(), 1);
    assert!(h.observe("api", Observation::Up).is_empty());
    assert_eq!(fired(&h, "pager"), 2);
    // A check nobody watches fires nothing.
    assert!(h.observe("db", down("refused")).is_empty());
    // webhook posts no re-posts.
    assert_eq!(h.alerts.next_deadline(), None);
}

#[test]
fn alertmanager_reposts_every_minute_while_down_uncounted_with_the_same_start() {
    let yaml = "alerts:\n  am:\n    url: http://127.0.0.1:9/\n    format: alertmanager\n    on-check: [api]\n";
    let (mut h, _) = Harness::new(yaml, &[]);
    let first = h.observe("api", down("refused"));
    assert_eq!(first.len(), 1);
    assert!(h.advance(Duration::from_secs(59)).is_empty());
    let again = h.advance(Duration::from_secs(1));
    assert_eq!(again.len(), 1);
    assert!(again[0].repost);
    assert_eq!(again[0].body, first[0].body);
    assert_eq!(h.advance(Duration::from_secs(60)).len(), 1);
    assert_eq!(fired(&h, "am"), 1);
    let recovery = h.observe("api", Observation::Up);
    assert_eq!(recovery.len(), 1);
    assert!(!recovery[0].repost);
    assert_eq!(h.alerts.next_deadline(), None);
    assert!(h.advance(Duration::from_secs(120)).is_empty());
    assert_eq!(fired(&h, "am"), 2);
}

#[test]
fn a_pair_made_while_its_check_is_down_fires_at_once() {
    let (mut h, _) = Harness::new(PAGER, &[]);
    h.alerts
        .note_failure("db", "dial tcp 127.0.0.1:2: connect: connection refused");
    let yaml = "alerts:\n  pager:\n    url: http://127.0.0.1:9/\n    on-check: [api, db]\n";
    let jobs = jobs(h.load(yaml, &[], &["db"]));
    assert_eq!(jobs.len(), 1);
    assert_eq!(fired(&h, "pager"), 1);
    // Loading again changes no pair: nothing fires.
    assert!(jobs_of(h.load(yaml, &[], &["db"])).is_empty());
    // Removing the check from on-check forgets the pair; adding it back
    // while down fires again.
    h.load(PAGER, &[], &["db"]);
    assert_eq!(jobs_of(h.load(yaml, &[], &["db"])).len(), 1);
}

fn jobs_of(effects: Vec<Effect>) -> Vec<Job> {
    jobs(effects)
}

#[test]
fn env_values_resolve_everywhere_and_one_warning_names_every_unset_variable() {
    let yaml = "alerts:\n  pager:\n    url: env:PAGER_URL\n    on-check: [api]\n    headers:\n      Authorization: env:PAGER_TOKEN\n      X-Literal: Bearer env:TOKEN\n      X-Team: env:TEAM\n    labels:\n      team: env:TEAM\n      gone: env:GONE\n    send-info-fields:\n      runbook: env:RUNBOOK\n    proxy: env:PROXY\n    no-proxy: env:NOPROXY\n";
    let (mut h, effects) = Harness::new(
        yaml,
        &[
            ("TEAM", "payments"),
            ("RUNBOOK", "https://wiki/"),
            ("PAGER_TOKEN", ""),
            ("NOPROXY", ".internal"),
        ],
    );
    let warnings: Vec<String> = effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Log {
                level: LogLevel::Warning,
                message,
                ..
            } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(
        warnings,
        [
            "alert \"pager\": environment variables not set or empty: GONE, PAGER_TOKEN, PAGER_URL, PROXY"
        ]
    );
    let job = h.observe("api", down("refused")).remove(0);
    assert_eq!(job.url, Err("url env:PAGER_URL is not set".to_owned()));
    let headers: Vec<(&str, &str)> = job
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers[2..],
        [("X-Literal", "Bearer env:TOKEN"), ("X-Team", "payments")]
    );
    assert_eq!(headers[1].0, "User-Agent");
    assert!(headers[1].1.starts_with("vigild/"));
    assert_eq!(job.proxy, None);
    assert_eq!(job.no_proxy.as_deref(), Some(".internal"));
    // The API shows the url as written.
    assert_eq!(h.alerts.list(&[])[0].url, "env:PAGER_URL");
}

#[test]
fn outcomes_are_recorded_and_failures_logged() {
    let (mut h, _) = Harness::new(PAGER, &[]);
    let at = UNIX_EPOCH + Duration::from_secs(1_740_823_300);
    h.alerts.handle_outcome(&Outcome {
        alert: "pager".into(),
        attempts: 3,
        result: Err("HTTP 503".into()),
        at,
        repost: false,
    });
    let logs: Vec<String> = h
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Log { message, .. } => Some(message),
            Effect::Deliver(_) => None,
        })
        .collect();
    assert_eq!(
        logs,
        ["alert \"pager\": delivery failed: HTTP 503 after 3 attempts"]
    );
    let info = &h.alerts.list(&["pager".to_owned()])[0];
    assert_eq!(
        info.last_error,
        Some(("HTTP 503 after 3 attempts".to_owned(), at))
    );
    assert_eq!(info.last_sent, None);
    h.alerts.handle_outcome(&Outcome {
        alert: "pager".into(),
        attempts: 1,
        result: Ok(()),
        at,
        repost: false,
    });
    assert_eq!(h.alerts.list(&[])[0].last_sent, Some(at));
    // A removed alert's outcome is dropped quietly.
    h.load("", &[], &[]);
    assert!(h.alerts.list(&[]).is_empty());
}

#[test]
fn job_settings_come_from_the_alert_with_defaults() {
    let yaml = "alerts:\n  max-queue-depth: 5\n  max-queue-time: 2s\n  pager:\n    url: http://127.0.0.1:9/\n    on-check: [api]\n    retry-attempts: 4\n    retry-backoff: [3s]\n    timeout: 1s\n    tls-insecure: true\n  plain:\n    url: http://127.0.0.1:9/\n    on-check: [api]\n";
    let (mut h, _) = Harness::new(yaml, &[]);
    assert_eq!(
        h.alerts.limits(),
        QueueLimits {
            depth: 5,
            max_age: Duration::from_secs(2)
        }
    );
    let jobs = h.observe("api", down("refused"));
    let (pager, plain) = (&jobs[0], &jobs[1]);
    assert_eq!(
        (
            pager.attempts,
            pager.backoff.clone(),
            pager.timeout,
            pager.tls_insecure
        ),
        (
            4,
            vec![Duration::from_secs(3)],
            Duration::from_secs(1),
            true
        )
    );
    assert_eq!(
        (
            plain.attempts,
            plain.backoff.clone(),
            plain.timeout,
            plain.tls_insecure
        ),
        (
            3,
            vec![Duration::from_secs(1), Duration::from_secs(2)],
            Duration::from_secs(10),
            false
        )
    );
}

#[test]
fn a_format_change_while_down_starts_or_stops_the_reposts() {
    let am = "alerts:\n  pager:\n    url: http://127.0.0.1:9/\n    format: alertmanager\n    on-check: [api]\n";
    let (mut h, _) = Harness::new(am, &[]);
    assert_eq!(h.observe("api", down("refused")).len(), 1);
    assert!(h.alerts.next_deadline().is_some());
    // Now a webhook: it never repeats its down.
    h.load(PAGER, &[], &["api"]);
    assert_eq!(h.alerts.next_deadline(), None);
    assert!(h.advance(Duration::from_secs(120)).is_empty());
    // Back to alertmanager while still down: re-posts resume.
    h.load(am, &[], &["api"]);
    assert_eq!(h.advance(Duration::from_secs(60)).len(), 1);
}
