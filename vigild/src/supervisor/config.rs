//! A service's effective settings: the plan's entry with every default filled
//! in, the `--args` override applied and the workload merged. This is the one
//! place where service defaults live (spec layers.md §5).
//!
//! A [`ServiceConfig`] is what supervision.md §1 calls the *active config*:
//! captured when a service is started explicitly and reused by automatic
//! restarts, so a layer added without a replan never changes a running
//! service.

use std::collections::BTreeMap;
use std::time::Duration;

use vigil_proto::plan::{
    CheckAction, ExitAction, LogsForward, Plan, Service, Startup, StringMap, Workload,
};
use vigil_proto::signal::Signal;

/// `backoff-delay` when unset.
pub const DEFAULT_BACKOFF_DELAY: Duration = Duration::from_millis(500);
/// `backoff-factor` when unset.
pub const DEFAULT_BACKOFF_FACTOR: f64 = 2.0;
/// `backoff-limit` when unset.
pub const DEFAULT_BACKOFF_LIMIT: Duration = Duration::from_secs(30);
/// `kill-delay` when unset.
pub const DEFAULT_KILL_DELAY: Duration = Duration::from_secs(5);
/// `stop-signal` when unset.
pub const DEFAULT_STOP_SIGNAL: Signal = Signal::TERM;
/// `on-success` and `on-failure` when unset.
pub const DEFAULT_EXIT_ACTION: ExitAction = ExitAction::Restart;

/// How a service backs off between automatic restarts (spec
/// supervision.md §7).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffConfig {
    /// The first delay. No floor is added: `0ms` restarts at once (the
    /// issue overrides the spec's 10 ms floor; the 500 ms default protects
    /// those who set nothing).
    pub delay: Duration,
    /// Each next delay is the previous one times this (at least 1.0, the
    /// plan checked it).
    pub factor: f64,
    /// The largest delay, and how long a service must run for the counters
    /// to reset. Never below `delay`: a lower limit is raised to it (the
    /// plan warns about it).
    pub limit: Duration,
}

/// The settings vigild runs a service with, defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    /// The argument vector, with `--args` in place of the default arguments.
    pub argv: Vec<String>,
    /// The workload's `environment` with the service's laid over it. The
    /// daemon's own environment goes under both (the reactor adds it).
    pub environment: StringMap,
    /// `working-dir`.
    pub working_dir: Option<String>,
    /// `user`, from the service or its workload.
    pub user: Option<String>,
    /// `user-id`, from the service or its workload.
    pub user_id: Option<u32>,
    /// `group`, from the service or its workload.
    pub group: Option<String>,
    /// `group-id`, from the service or its workload.
    pub group_id: Option<u32>,
    /// `startup`; unset is disabled.
    pub startup: Startup,
    /// `on-success`.
    pub on_success: ExitAction,
    /// `on-failure`.
    pub on_failure: ExitAction,
    /// `on-check-failure`, by check.
    pub on_check_failure: BTreeMap<String, CheckAction>,
    /// `backoff-delay`, `backoff-factor` and `backoff-limit`.
    pub backoff: BackoffConfig,
    /// `kill-delay`: how long after the stop signal SIGKILL follows.
    pub kill_delay: Duration,
    /// `stop-signal`.
    pub stop_signal: Signal,
    /// `logs-forward`.
    pub logs_forward: LogsForward,
    /// `after`, `before` and `requires`, for ordering a removed service at
    /// shutdown.
    pub relations: Relations,
    /// The entry as written, minus the keys a replan ignores, with its
    /// workload: what [`ServiceConfig::same_as`] compares.
    written: (Service, Option<Workload>),
}

/// A service's ordering keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Relations {
    /// `after`: services that start before this one.
    pub after: Vec<String>,
    /// `before`: services that start after this one.
    pub before: Vec<String>,
    /// `requires`: services started with this one.
    pub requires: Vec<String>,
}

impl Relations {
    /// The ordering keys of a plan entry.
    #[must_use]
    pub fn of(service: &Service) -> Self {
        Self {
            after: service.after.clone(),
            before: service.before.clone(),
            requires: service.requires.clone(),
        }
    }
}

impl ServiceConfig {
    /// The effective settings of service `name` in `plan`, with `args`
    /// (the `--args` groups) applied; `None` when the plan has no such
    /// service.
    #[must_use]
    pub fn resolve(plan: &Plan, name: &str, args: &[(String, Vec<String>)]) -> Option<Self> {
        let service = plan.services().get(name)?;
        let workload = service
            .workload
            .as_ref()
            .and_then(|w| plan.workloads().get(w));
        let argv = match plan.command(name) {
            Some(command) => match args.iter().find(|(n, _)| n == name) {
                Some((_, args)) => command.argv_with(args),
                None => command.argv(),
            },
            // The plan refuses a service without a command; an empty argv
            // makes the spawn fail with a clear error if one slips through.
            None => Vec::new(),
        };
        let mut environment = workload.map(|w| w.environment.clone()).unwrap_or_default();
        environment.extend(
            service
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        // The plan refuses user keys on a service that names a workload, so
        // at most one of the two sets them.
        let (user, user_id, group, group_id) = match workload {
            Some(w) => (w.user.clone(), w.user_id, w.group.clone(), w.group_id),
            None => (
                service.user.clone(),
                service.user_id,
                service.group.clone(),
                service.group_id,
            ),
        };
        let delay = service.backoff_delay.unwrap_or(DEFAULT_BACKOFF_DELAY);
        let limit = service
            .backoff_limit
            .unwrap_or(DEFAULT_BACKOFF_LIMIT)
            .max(delay);
        let mut written = service.clone();
        written.summary = None;
        written.description = None;
        written.startup = None;
        written.override_ = None;
        let mut written_workload = workload.cloned();
        if let Some(w) = written_workload.as_mut() {
            w.override_ = None;
        }
        Some(Self {
            argv,
            environment,
            working_dir: service.working_dir.clone(),
            user,
            user_id,
            group,
            group_id,
            startup: service.startup.unwrap_or(Startup::Disabled),
            on_success: service.on_success.unwrap_or(DEFAULT_EXIT_ACTION),
            on_failure: service.on_failure.unwrap_or(DEFAULT_EXIT_ACTION),
            on_check_failure: service.on_check_failure.clone(),
            backoff: BackoffConfig {
                delay,
                factor: service.backoff_factor.unwrap_or(DEFAULT_BACKOFF_FACTOR),
                limit,
            },
            kill_delay: service.kill_delay.unwrap_or(DEFAULT_KILL_DELAY),
            stop_signal: service.stop_signal.unwrap_or(DEFAULT_STOP_SIGNAL),
            logs_forward: service.logs_forward.unwrap_or(LogsForward::Enabled),
            relations: Relations::of(service),
            written: (written, written_workload),
        })
    }

    /// Whether a replan leaves a service with this config alone: the entry
    /// and its workload are equal, ignoring `summary`, `description`,
    /// `startup` and `override` (spec supervision.md §9 item 4). `--args` do
    /// not change while vigild runs, so they are not compared.
    #[must_use]
    pub fn same_as(&self, other: &Self) -> bool {
        self.written == other.written
    }
}

#[cfg(test)]
mod tests {
    use vigil_proto::plan::{Layer, Source};

    use super::*;

    fn plan(yaml: &str) -> Plan {
        let layer = Layer::parse(yaml, "test", "test", Source::Api("test".into())).unwrap();
        Plan::build(&[layer]).unwrap().plan
    }

    #[test]
    fn defaults_fill_every_unset_key() {
        let plan = plan("services:\n  web:\n    command: webd --port 80\n");
        let config = ServiceConfig::resolve(&plan, "web", &[]).unwrap();
        assert_eq!(config.argv, ["webd", "--port", "80"]);
        assert_eq!(config.startup, Startup::Disabled);
        assert_eq!(config.on_success, ExitAction::Restart);
        assert_eq!(config.on_failure, ExitAction::Restart);
        assert_eq!(
            config.backoff,
            BackoffConfig {
                delay: Duration::from_millis(500),
                factor: 2.0,
                limit: Duration::from_secs(30),
            }
        );
        assert_eq!(config.kill_delay, Duration::from_secs(5));
        assert_eq!(config.stop_signal, Signal::TERM);
        assert_eq!(config.logs_forward, LogsForward::Enabled);
        assert!(ServiceConfig::resolve(&plan, "db", &[]).is_none());
    }

    #[test]
    fn limit_below_delay_is_raised_and_zero_delay_has_no_floor() {
        let plan = plan(
            "services:\n  a:\n    command: a\n    backoff-delay: 2s\n    backoff-limit: 1s\n  b:\n    command: b\n    backoff-delay: 0ms\n",
        );
        let a = ServiceConfig::resolve(&plan, "a", &[]).unwrap();
        assert_eq!(a.backoff.limit, Duration::from_secs(2));
        let b = ServiceConfig::resolve(&plan, "b", &[]).unwrap();
        assert_eq!(b.backoff.delay, Duration::ZERO);
    }

    #[test]
    fn args_replace_the_default_group_and_workload_fills_environment_and_user() {
        let plan = plan(
            "workloads:\n  w:\n    user: nobody\n    environment: {A: workload, B: workload}\nservices:\n  web:\n    command: webd -v [ --port 80 ]\n    workload: w\n    environment: {B: service}\n",
        );
        let args = vec![(
            "web".to_owned(),
            vec!["--port".to_owned(), "8080".to_owned()],
        )];
        let config = ServiceConfig::resolve(&plan, "web", &args).unwrap();
        assert_eq!(config.argv, ["webd", "-v", "--port", "8080"]);
        assert_eq!(config.environment["A"], "workload");
        assert_eq!(config.environment["B"], "service");
        assert_eq!(config.user.as_deref(), Some("nobody"));
        let plain = ServiceConfig::resolve(&plan, "web", &[]).unwrap();
        assert_eq!(plain.argv, ["webd", "-v", "--port", "80"]);
    }

    #[test]
    fn replan_comparison_ignores_descriptive_keys_only() {
        let before = plan("services:\n  web:\n    command: webd\n    summary: a\n");
        let same = plan(
            "services:\n  web:\n    command: webd\n    summary: b\n    description: d\n    startup: enabled\n    override: replace\n",
        );
        let changed = plan("services:\n  web:\n    command: webd --new\n");
        let config = |p: &Plan| ServiceConfig::resolve(p, "web", &[]).unwrap();
        assert!(config(&before).same_as(&config(&same)));
        assert!(!config(&before).same_as(&config(&changed)));
    }
}
