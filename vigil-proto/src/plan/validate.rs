//! Combining layers into a plan and the plan checks of layers.md §10.
//!
//! Problems name the entity and every layer that defines it; warnings are
//! returned beside the plan and block nothing.

use std::collections::{BTreeMap, BTreeSet};

use super::decode::Tainted;
use super::error::{LoadError, Place, Problem};
use super::model::{Entry, combine};
use super::{Built, Layer, Plan};
use crate::cmdline::ServiceCommand;
use crate::plan::model::{AlertFormat, LogsForward};

/// Which layers define each entity, for "(defined in …)".
#[derive(Default)]
struct Origins {
    by_entity: BTreeMap<(&'static str, String), Vec<String>>,
}

impl Origins {
    fn add(&mut self, kind: &'static str, name: &str, layer: &str) {
        let layers = self.by_entity.entry((kind, name.to_string())).or_default();
        if !layers.iter().any(|l| l == layer) {
            layers.push(layer.to_string());
        }
    }

    fn of(&self, kind: &'static str, name: &str) -> String {
        match self.by_entity.get(&(kind, name.to_string())) {
            Some(layers) => format!(" (defined in {})", layers.join(", ")),
            None => String::new(),
        }
    }
}

/// Lays every layer's entries over the plan so far.
fn merge_into<T: Entry>(
    plan: &mut BTreeMap<String, T>,
    layer: &BTreeMap<String, T>,
    origins: &mut Origins,
    kind: &'static str,
    layer_name: &str,
) {
    for (name, later) in layer {
        let combined = combine(plan.get(name), later);
        plan.insert(name.clone(), combined);
        origins.add(kind, name, layer_name);
    }
}

/// Combines `layers` and checks the result; `problems` holds what the layer
/// checks found already, and the plan's problems are added after them.
/// Entries in `tainted` had a layer problem and get no plan problems: a
/// value rejected there is missing here, and that is not news.
pub(crate) fn build(
    layers: &[Layer],
    mut problems: Vec<Problem>,
    tainted: &Tainted,
) -> Result<Built, LoadError> {
    let mut plan = Plan::default();
    let mut origins = Origins::default();
    for layer in layers {
        let name = layer.name.as_str();
        merge_into(
            &mut plan.services,
            &layer.services,
            &mut origins,
            "service",
            name,
        );
        merge_into(&mut plan.checks, &layer.checks, &mut origins, "check", name);
        merge_into(
            &mut plan.log_targets,
            &layer.log_targets,
            &mut origins,
            "log target",
            name,
        );
        merge_into(
            &mut plan.workloads,
            &layer.workloads,
            &mut origins,
            "workload",
            name,
        );
        merge_into(
            &mut plan.alerts.entries,
            &layer.alerts.entries,
            &mut origins,
            "alert",
            name,
        );
        if layer.alerts.max_queue_depth.is_some() {
            plan.alerts.max_queue_depth = layer.alerts.max_queue_depth;
        }
        if layer.alerts.max_queue_time.is_some() {
            plan.alerts.max_queue_time = layer.alerts.max_queue_time;
        }
        if layer.summary.is_some() {
            plan.summary.clone_from(&layer.summary);
        }
        if layer.description.is_some() {
            plan.description.clone_from(&layer.description);
        }
    }

    let mut checker = Checker {
        plan: &plan,
        origins: &origins,
        tainted,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    checker.services();
    checker.order();
    checker.checks();
    checker.log_targets();
    checker.alerts();
    let Checker {
        problems: plan_problems,
        warnings,
        ..
    } = checker;
    problems.extend(plan_problems);

    for (name, service) in &plan.services {
        // Commands were checked when their layer was decoded; one that does
        // not split has been reported there.
        if let Some(Ok(command)) = service.command.as_deref().map(ServiceCommand::parse) {
            plan.commands.insert(name.clone(), command);
        }
    }
    if problems.is_empty() {
        Ok(Built { plan, warnings })
    } else {
        Err(LoadError { problems })
    }
}

struct Checker<'p> {
    plan: &'p Plan,
    origins: &'p Origins,
    tainted: &'p Tainted,
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

impl Checker<'_> {
    fn problem(&mut self, kind: &'static str, name: &str, message: String) {
        let section = match kind {
            "service" => "services",
            "check" => "checks",
            "log target" => "log-targets",
            "workload" => "workloads",
            _ => "alerts",
        };
        if self
            .tainted
            .contains(&(section.to_string(), name.to_string()))
        {
            return;
        }
        let defined = self.origins.of(kind, name);
        self.problems.push(Problem {
            place: Place::Plan,
            subject: format!("{kind} \"{name}\""),
            message: format!("{message}{defined}"),
        });
    }

    fn warn(&mut self, kind: &str, name: &str, message: String) {
        self.warnings.push(format!("{kind} \"{name}\": {message}"));
    }

    fn services(&mut self) {
        let plan = self.plan;
        for (name, service) in &plan.services {
            if service.command.is_none() {
                self.problem("service", name, "must define \"command\"".into());
            }
            for required in &service.requires {
                if !plan.services.contains_key(required) {
                    self.problem(
                        "service",
                        name,
                        format!("requires unknown service \"{required}\""),
                    );
                }
            }
            for (key, names) in [("after", &service.after), ("before", &service.before)] {
                for other in names {
                    if !plan.services.contains_key(other) {
                        self.warn(
                            "service",
                            name,
                            format!("{key} names unknown service \"{other}\""),
                        );
                    }
                }
            }
            for check in service.on_check_failure.keys() {
                if !plan.checks.contains_key(check) {
                    self.warn(
                        "service",
                        name,
                        format!("on-check-failure names unknown check \"{check}\""),
                    );
                }
            }
            if let Some(workload) = &service.workload {
                if !plan.workloads.contains_key(workload) {
                    self.problem(
                        "service",
                        name,
                        format!("workload \"{workload}\" is not defined"),
                    );
                }
                let has_user = service.user.is_some()
                    || service.user_id.is_some()
                    || service.group.is_some()
                    || service.group_id.is_some();
                if has_user {
                    self.problem(
                        "service",
                        name,
                        "cannot have user information and a workload at the same time".into(),
                    );
                }
            }
            let pushes = service.logs_push_addr.is_some() || service.logs_push_socket.is_some();
            if pushes && service.logs_forward == Some(LogsForward::Passthrough) {
                self.problem(
                    "service",
                    name,
                    "logs-push-addr/logs-push-socket need logs-forward enabled or disabled, not passthrough"
                        .into(),
                );
            }
            if let (Some(delay), Some(limit)) = (service.backoff_delay, service.backoff_limit)
                && limit < delay
            {
                self.warn(
                        "service",
                        name,
                        format!(
                            "backoff-limit {} is below backoff-delay {}; the limit is raised to the delay",
                            crate::duration::format(limit),
                            crate::duration::format(delay)
                        ),
                    );
            }
        }
    }

    /// No cycle through `before`/`after`: each strongly connected group of
    /// two or more services (or one that orders itself) is one problem.
    fn order(&mut self) {
        let names: Vec<&String> = self.plan.services.keys().collect();
        let index: BTreeMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        // Edge a -> b means "a starts before b".
        let mut edges = vec![BTreeSet::new(); names.len()];
        for (i, service) in self.plan.services.values().enumerate() {
            for after in &service.after {
                if let Some(&j) = index.get(after.as_str()) {
                    edges[j].insert(i);
                }
            }
            for before in &service.before {
                if let Some(&j) = index.get(before.as_str()) {
                    edges[i].insert(j);
                }
            }
        }
        for component in strongly_connected(&edges) {
            let looped = component.len() > 1 || edges[component[0]].contains(&component[0]);
            if looped {
                let mut members: Vec<&str> = component.iter().map(|&i| names[i].as_str()).collect();
                members.sort_unstable();
                self.problems.push(Problem {
                    place: Place::Plan,
                    subject: String::new(),
                    message: format!("services in before/after loop: {}", members.join(", ")),
                });
            }
        }
    }

    fn checks(&mut self) {
        let plan = self.plan;
        for (name, check) in &plan.checks {
            let kinds: Vec<&str> = [
                ("http", check.http.is_some()),
                ("tcp", check.tcp.is_some()),
                ("exec", check.exec.is_some()),
            ]
            .into_iter()
            .filter_map(|(kind, set)| set.then_some(kind))
            .collect();
            if kinds.len() != 1 {
                let has = if kinds.is_empty() {
                    "none".to_string()
                } else {
                    kinds.join(", ")
                };
                self.problem(
                    "check",
                    name,
                    format!("must have exactly one of \"http\", \"tcp\" or \"exec\" (has {has})"),
                );
            }
            if let Some(http) = &check.http {
                if http.url.is_none() {
                    self.problem("check", name, "http check must set \"url\"".into());
                }
                if let Some(ca) = &http.ca {
                    self.ca_file("check", name, "ca", ca);
                }
            }
            if let Some(tcp) = &check.tcp
                && tcp.port.is_none()
            {
                self.problem("check", name, "tcp check must set \"port\"".into());
            }
            if let Some(exec) = &check.exec {
                if exec.command.is_none() {
                    self.problem("check", name, "exec check must set \"command\"".into());
                }
                if let Some(context) = &exec.service_context
                    && !plan.services.contains_key(context)
                {
                    self.problem(
                        "check",
                        name,
                        format!("service-context names unknown service \"{context}\""),
                    );
                }
                let has_group = exec.group.is_some() || exec.group_id.is_some();
                let has_user = exec.user.is_some() || exec.user_id.is_some();
                if has_group && !has_user {
                    self.problem("check", name, "must specify user, not just group".into());
                }
            }
            if let (Some(period), Some(timeout)) = (check.period, check.timeout)
                && timeout > period
            {
                self.warn(
                    "check",
                    name,
                    format!(
                        "timeout {} is longer than period {}; the period is used",
                        crate::duration::format(timeout),
                        crate::duration::format(period)
                    ),
                );
            }
        }
    }

    fn log_targets(&mut self) {
        let plan = self.plan;
        for (name, target) in &plan.log_targets {
            if target.type_.is_none() {
                self.problem("log target", name, "must define \"type\"".into());
            }
            if target.location.is_none() {
                self.problem("log target", name, "must define \"location\"".into());
            }
            for entry in &target.services {
                let service = entry.strip_prefix('-').unwrap_or(entry);
                if service != "all" && !plan.services.contains_key(service) {
                    self.problem("log target", name, format!("unknown service \"{service}\""));
                }
            }
            self.warn(
                "log target",
                name,
                "vigild does not forward logs to log targets; use logs-push-addr or logs-push-socket"
                    .into(),
            );
        }
    }

    fn alerts(&mut self) {
        let plan = self.plan;
        for (name, alert) in &plan.alerts.entries {
            if alert.url.is_none() {
                self.problem("alert", name, "must define \"url\"".into());
            }
            let format = alert.format.unwrap_or(AlertFormat::Webhook);
            if alert.body_template.is_some() && format != AlertFormat::Webhook {
                self.problem(
                    "alert",
                    name,
                    "body-template can only be used with format webhook".into(),
                );
            }
            #[cfg(feature = "templates")]
            if let Some(source) = &alert.body_template
                && let Err(error) = compile_template(source)
            {
                self.problem("alert", name, format!("body-template: {error}"));
            }
            for check in &alert.on_check {
                if !plan.checks.contains_key(check) {
                    self.warn(
                        "alert",
                        name,
                        format!("on-check names unknown check \"{check}\""),
                    );
                }
            }
            for (key, path) in [("tls-ca", &alert.tls_ca), ("proxy-ca", &alert.proxy_ca)] {
                if let Some(path) = path {
                    self.ca_file("alert", name, key, path);
                }
            }
        }
    }

    /// A CA bundle must be readable and hold at least one certificate; it is
    /// read now so that a typo fails the load, not the first probe.
    fn ca_file(&mut self, kind: &'static str, name: &str, key: &str, path: &str) {
        match std::fs::read(path) {
            Ok(bytes) => {
                let marker = b"-----BEGIN CERTIFICATE-----";
                if !bytes.windows(marker.len()).any(|w| w == marker) {
                    self.problem(
                        kind,
                        name,
                        format!("{key} file \"{path}\" holds no PEM certificate"),
                    );
                }
            }
            Err(error) => {
                let reason = crate::reason::io_reason(&error);
                self.problem(
                    kind,
                    name,
                    format!("cannot read {key} file \"{path}\": {reason}"),
                );
            }
        }
    }
}

/// Compiles an alert's `body-template` as vigild will when it renders it
/// (checks-and-alerts.md §11.2: "a template that does not compile is a
/// layer error", so a broken template fails the load, not the first alert).
/// The error says where and what: `line 1, column 10: syntax error:
/// unexpected `}`, expected end of variable block`.
///
/// vigild's `alerts::format::Template::compile` words its errors the same
/// way; keep the two in step.
#[cfg(feature = "templates")]
fn compile_template(source: &str) -> Result<(), String> {
    let environment = minijinja::Environment::new();
    match environment.template_from_named_str("body-template", source) {
        Ok(_) => Ok(()),
        Err(error) => Err(describe_template_error(&error, source)),
    }
}

/// `line L, column C: <kind>: <detail>`, or only the line when minijinja
/// gives no position inside it. vigild words render errors of alert
/// templates with it too.
#[cfg(feature = "templates")]
#[must_use]
pub fn describe_template_error(error: &minijinja::Error, source: &str) -> String {
    let what = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    let before = error.range().and_then(|range| source.get(..range.start));
    match (before, error.line()) {
        (Some(before), _) => {
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
            let column = before[line_start..].chars().count() + 1;
            format!("line {line}, column {column}: {what}")
        }
        (None, Some(line)) => format!("line {line}: {what}"),
        (None, None) => what,
    }
}

/// Tarjan's algorithm, iteratively (no recursion on user-sized input).
/// Returns the strongly connected components of the graph.
fn strongly_connected(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // Each frame: node and the position in its edge list.
        let mut frames: Vec<(usize, Vec<usize>, usize)> = Vec::new();
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        frames.push((root, edges[root].iter().copied().collect(), 0));
        while let Some((node, targets, position)) = frames.last_mut() {
            let node = *node;
            if let Some(&target) = targets.get(*position) {
                *position += 1;
                if index[target] == usize::MAX {
                    index[target] = next;
                    low[target] = next;
                    next += 1;
                    stack.push(target);
                    on_stack[target] = true;
                    frames.push((target, edges[target].iter().copied().collect(), 0));
                } else if on_stack[target] {
                    low[node] = low[node].min(index[target]);
                }
                continue;
            }
            frames.pop();
            if let Some((parent, _, _)) = frames.last() {
                low[*parent] = low[*parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}
