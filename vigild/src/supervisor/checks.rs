//! What the supervisor does for health checks: it keeps their
//! `perform-check` and `recover-check` changes in the one change store
//! (checks-and-alerts.md §6), runs `on-check-failure` when a check goes down
//! (§10), and says how to run an exec probe in its service's context (§17).
//! The check scheduler itself is `crate::checks`.

use vigil_proto::api::{ChangeId, TaskId, quote};
use vigil_proto::cmdline;
use vigil_proto::plan::{ExecProbe, LogsForward};

use super::config::ServiceConfig;
use super::{Now, SpawnRequest, Supervisor};

/// How a check's task ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckTaskEnd {
    /// `recover-check` saw its first success.
    Done,
    /// `perform-check` reached the threshold; the task logged the failure.
    Error,
    /// The check stopped running (api.md §7: "a check task stops probing and
    /// ends `Hold`").
    Hold,
}

impl Supervisor {
    /// Opens a check's change of `kind` with one task of the same kind and
    /// summary, already `Doing`. Returns both ids.
    pub fn open_check_change(
        &mut self,
        kind: &str,
        summary: String,
        now: Now,
    ) -> (ChangeId, Option<TaskId>) {
        let change = self.changes.create(kind, summary.clone(), Vec::new(), now);
        let task = self
            .changes
            .add_task(change, kind, summary, Vec::new(), now);
        if let Some(task) = task {
            self.changes.begin(task, now);
        }
        self.changes.publish(change, now);
        self.settle(now);
        (change, task)
    }

    /// Adds a line to a check's task log: an `INFO` line, or an `ERROR` line
    /// when `error`.
    pub fn log_check_task(&mut self, task: TaskId, error: bool, text: String, now: Now) {
        if error {
            self.changes.log_error(task, text, now);
        } else {
            self.changes.log(task, text, now);
        }
        self.settle(now);
    }

    /// Ends a check's task, and so its change.
    pub fn end_check_task(&mut self, task: TaskId, end: CheckTaskEnd, now: Now) {
        match end {
            CheckTaskEnd::Done => self.changes.finish(task, now),
            CheckTaskEnd::Error => self.changes.fail_logged(task, now),
            CheckTaskEnd::Hold => self.changes.hold(task, now),
        }
        self.settle(now);
    }

    /// Check `check` crossed its threshold: every service whose active
    /// config maps it in `on-check-failure` takes its action, once (§10).
    pub fn handle_check_down(&mut self, check: &str, now: Now) {
        let mapped: Vec<_> = self
            .services
            .values()
            .filter_map(|s| {
                s.active
                    .on_check_failure
                    .get(check)
                    .map(|action| (s.name.clone(), *action))
            })
            .collect();
        for (service, action) in mapped {
            self.handle_check_failure(&service, check, action, now);
        }
    }

    /// How to run an exec probe of `check`: its command, and the environment,
    /// user, group and working directory of the check laid over those of its
    /// `service-context` service (checks-and-alerts.md §4.3). The spawn goes
    /// to the reactor, never through [`Effect::Spawn`](super::Effect::Spawn).
    ///
    /// # Errors
    ///
    /// The failure message when the command cannot be split.
    pub fn exec_probe_request(
        &self,
        check: &str,
        probe: &ExecProbe,
    ) -> Result<SpawnRequest, String> {
        let argv = cmdline::split(probe.command.as_deref().unwrap_or_default())
            .map_err(|error| format!("cannot start command: {error}"))?;
        let context = probe
            .service_context
            .as_deref()
            .and_then(|name| ServiceConfig::resolve(&self.plan, name, &self.options.args));
        let mut request = SpawnRequest {
            service: format!("check {}", quote(check)),
            argv,
            environment: Default::default(),
            working_dir: None,
            user: None,
            user_id: None,
            group: None,
            group_id: None,
            logs_forward: LogsForward::Disabled,
        };
        if let Some(context) = context {
            request.environment = context.environment;
            request.working_dir = context.working_dir;
            request.user = context.user;
            request.user_id = context.user_id;
            request.group = context.group;
            request.group_id = context.group_id;
        }
        request.environment.extend(
            probe
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        if probe.working_dir.is_some() {
            request.working_dir.clone_from(&probe.working_dir);
        }
        // The user keys go together: a check that names a user or uid
        // replaces the context's pair, likewise for the group.
        if probe.user.is_some() || probe.user_id.is_some() {
            request.user.clone_from(&probe.user);
            request.user_id = probe.user_id;
        }
        if probe.group.is_some() || probe.group_id.is_some() {
            request.group.clone_from(&probe.group);
            request.group_id = probe.group_id;
        }
        Ok(request)
    }
}
