//! Running the tasks of changes: what each task does, in which order they
//! may run (their waits, from [`lanes`](super::lanes)), and handing each one
//! to its service's state machine.

use std::collections::BTreeMap;

use vigil_proto::api::{ChangeId, ChangeStatus, TaskId, quote};

use super::config::ServiceConfig;
use super::lanes::Order;
use super::service::{Event, ServiceRecord};
use super::{Now, Supervisor};

/// What a task does to its service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// A `start` task: `Start service "web"`.
    Start,
    /// A `stop` task: `Stop service "web"`.
    Stop,
}

impl Action {
    /// The task kind on the wire.
    fn kind(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
        }
    }

    /// The first word of the task summary.
    fn title(self) -> &'static str {
        match self {
            Action::Start => "Start",
            Action::Stop => "Stop",
        }
    }
}

/// What a task that has not run yet will do, and to which service.
#[derive(Clone, Debug)]
pub(super) struct Work {
    action: Action,
    service: String,
}

impl Supervisor {
    /// Adds a start task per service of `order`, each waiting for `first`
    /// and for the tasks [`Order::start_waits`] names. Returns the tasks.
    pub(super) fn add_start_tasks(
        &mut self,
        change: ChangeId,
        order: &Order,
        first: &[TaskId],
        now: Now,
    ) -> Vec<TaskId> {
        self.add_tasks(change, &order.start_waits(), Action::Start, first, now)
    }

    /// Adds a stop task per service of `order`, in reverse order. Returns
    /// the tasks.
    pub(super) fn add_stop_tasks(
        &mut self,
        change: ChangeId,
        order: &Order,
        now: Now,
    ) -> Vec<TaskId> {
        self.add_tasks(change, &order.stop_waits(), Action::Stop, &[], now)
    }

    /// Adds an `action` task per service of `waits`, in that order, each
    /// waiting for `first` and for the tasks of the services listed with it.
    /// Returns the tasks.
    pub(super) fn add_tasks(
        &mut self,
        change: ChangeId,
        waits: &[(String, Vec<String>)],
        action: Action,
        first: &[TaskId],
        now: Now,
    ) -> Vec<TaskId> {
        let mut ids = BTreeMap::new();
        let mut tasks = Vec::new();
        for (name, _) in waits {
            let summary = format!("{} service {}", action.title(), quote(name));
            if let Some(id) =
                self.changes
                    .add_task(change, action.kind(), summary, first.to_vec(), now)
            {
                ids.insert(name.as_str(), id);
                tasks.push(id);
                let work = Work {
                    action,
                    service: name.clone(),
                };
                self.work.insert(id, work);
            }
        }
        for (name, prerequisites) in waits {
            let Some(&task) = ids.get(name.as_str()) else {
                continue;
            };
            for prerequisite in prerequisites {
                if let Some(&before) = ids.get(prerequisite.as_str()) {
                    self.changes.add_wait(task, before);
                }
            }
        }
        tasks
    }

    /// Runs the tasks that may run and holds those that never will.
    pub(super) fn run_tasks(&mut self, now: Now) -> bool {
        let mut progressed = false;
        loop {
            let scan = self.changes.scan();
            if scan.runnable.is_empty() && scan.blocked.is_empty() {
                return progressed;
            }
            progressed = true;
            for task in scan.blocked {
                self.changes.hold(task, now);
                self.work.remove(&task);
            }
            for task in scan.runnable {
                self.changes.begin(task, now);
                match self.work.remove(&task) {
                    Some(Work {
                        action: Action::Start,
                        service,
                    }) => self.run_start(task, &service, now),
                    Some(Work {
                        action: Action::Stop,
                        service,
                    }) => self.run_stop(task, &service, now),
                    // Every task the core makes has work; a task without is
                    // not the core's to run.
                    None => {}
                }
            }
        }
    }

    fn run_start(&mut self, task: TaskId, name: &str, now: Now) {
        let Some(config) = ServiceConfig::resolve(&self.plan, name, &self.options.args) else {
            // The service left the plan after the change was made.
            let error = format!("cannot find service {} in plan", quote(name));
            self.changes.fail(task, error, now);
            return;
        };
        self.services
            .entry(name.to_owned())
            .or_insert_with(|| ServiceRecord::new(name, config.clone()));
        let event = Event::Start {
            task,
            config: Box::new(config),
        };
        self.deliver(name, event, now);
    }

    fn run_stop(&mut self, task: TaskId, name: &str, now: Now) {
        if self.services.contains_key(name) {
            self.deliver(name, Event::Stop { task: Some(task) }, now);
        } else {
            // Removed from the plan and already forgotten.
            let text = format!("Service {} has never been started.", quote(name));
            self.changes.log(task, text, now);
            self.changes.finish(task, now);
        }
    }

    /// Forgets the work of tasks that will never run (held by an abort).
    pub(super) fn drop_stale_work(&mut self) {
        let changes = &self.changes;
        self.work
            .retain(|task, _| changes.task_status(*task) == Some(ChangeStatus::Do));
    }
}
