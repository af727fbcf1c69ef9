//! The plan: layers of YAML combined into one validated [`Plan`].
//!
//! Parse, don't validate: a layer's text becomes a [`Layer`] (close to the
//! file, every value optional), the layers are combined entry by entry, and
//! the result is checked as a whole. Only this module can build a [`Plan`]
//! (its fields are private), so whatever holds one holds a plan that passed
//! every check. Loading is all-or-nothing: on any problem the caller gets a
//! [`LoadError`] listing all of them, and keeps its old plan.
//!
//! The rules are the spec's layers.md; section numbers below refer to it.

mod decode;
mod dir;
mod error;
mod model;
mod output;
mod stack;
mod validate;
pub(crate) mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

pub use decode::Source;
pub use error::{LoadError, MAX_LISTED_PROBLEMS, Place, Problem};
pub use model::{
    Alert, AlertFormat, Alerts, Check, CheckAction, CheckLevel, ExecProbe, ExitAction, HttpProbe,
    LogTarget, LogTargetType, LogsForward, Override, PushFormat, Service, Startup, StringMap,
    TcpProbe, Workload,
};
pub use stack::{AddError, Addition, add_layer};
#[cfg(feature = "templates")]
pub use validate::describe_template_error;

use crate::cmdline::ServiceCommand;

/// One layer as written: every key optional, nothing defaulted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layer {
    /// The label (`web` for `010-web.yaml`, `base/extra` for a sub-layer).
    pub label: String,
    /// How the layer is named in "defined in" lists: the entry name for a
    /// file (`010-web.yaml`, `020-x.d/001-y.yaml`), the label for an API
    /// layer.
    pub name: String,
    /// `summary`.
    pub summary: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `services`, by name.
    pub services: BTreeMap<String, Service>,
    /// `checks`, by name.
    pub checks: BTreeMap<String, Check>,
    /// `log-targets`, by name.
    pub log_targets: BTreeMap<String, LogTarget>,
    /// `workloads`, by name.
    pub workloads: BTreeMap<String, Workload>,
    /// `alerts`.
    pub alerts: Alerts,
}

impl Layer {
    /// Decodes one layer from YAML text. Every problem is reported, located
    /// in `source`.
    pub fn parse(text: &str, label: &str, name: &str, source: Source) -> Result<Layer, LoadError> {
        let decoded = decode::decode_layer(text, &source);
        match decoded.layer {
            Some(mut layer) if decoded.problems.is_empty() => {
                layer.label = label.to_string();
                layer.name = name.to_string();
                Ok(layer)
            }
            _ => Err(LoadError {
                problems: decoded.problems,
            }),
        }
    }
}

/// A combined, validated plan. Defaults are not filled in (the plan prints
/// what was written); the accessors of each entry give the effective values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    services: BTreeMap<String, Service>,
    commands: BTreeMap<String, ServiceCommand>,
    checks: BTreeMap<String, Check>,
    log_targets: BTreeMap<String, LogTarget>,
    workloads: BTreeMap<String, Workload>,
    alerts: Alerts,
    summary: Option<String>,
    description: Option<String>,
}

/// A plan together with the warnings found while building it (spec
/// layers.md §10: they are logged at every load and block nothing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Built {
    /// The plan.
    pub plan: Plan,
    /// One line per warning, such as
    /// `service "web": after names unknown service "db"`.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Combines `layers` in order and validates the result.
    pub fn build(layers: &[Layer]) -> Result<Built, LoadError> {
        validate::build(layers, Vec::new(), &Default::default())
    }

    /// The services by name.
    pub fn services(&self) -> &BTreeMap<String, Service> {
        &self.services
    }

    /// A service's command, split (the plan checked that it splits).
    pub fn command(&self, service: &str) -> Option<&ServiceCommand> {
        self.commands.get(service)
    }

    /// The checks by name.
    pub fn checks(&self) -> &BTreeMap<String, Check> {
        &self.checks
    }

    /// The log targets by name.
    pub fn log_targets(&self) -> &BTreeMap<String, LogTarget> {
        &self.log_targets
    }

    /// The workloads by name.
    pub fn workloads(&self) -> &BTreeMap<String, Workload> {
        &self.workloads
    }

    /// The alerts section.
    pub fn alerts(&self) -> &Alerts {
        &self.alerts
    }

    /// The summary of the last layer that set one.
    pub fn summary(&self) -> Option<&str> {
        self.summary.as_deref()
    }

    /// The description of the last layer that set one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The plan as YAML, in Pebble's layout (spec layers.md §12).
    pub fn to_yaml(&self) -> String {
        output::plan_yaml(self)
    }
}

/// Loads a layers directory into a plan: the files in order, then
/// [`Plan::build`], with the problems of both in one error.
pub fn load(dir: &Path) -> Result<(Vec<Layer>, Built), LoadError> {
    load_with(dir, &[])
}

/// Like [`load`], with `additions` (the `POST /v1/layers` calls that
/// succeeded since boot) replayed in order on top of the files, as a replan
/// does (spec layers.md §2.4, D2). A call that no longer applies is one more
/// problem, reported with the others; on success the stack returned is the
/// one the plan was built from.
pub fn load_with(dir: &Path, additions: &[Addition]) -> Result<(Vec<Layer>, Built), LoadError> {
    let mut read = dir::read_layers(dir);
    // Plan checks on a set that lost a whole file would mostly report the
    // consequences of that loss ("requires unknown service"), so they run
    // only when every file was at least YAML. Replays are skipped for the
    // same reason.
    if !read.complete {
        return Err(LoadError {
            problems: read.problems,
        });
    }
    for addition in additions {
        if let Err(error) = add_layer(&mut read.layers, addition) {
            read.problems.push(Problem {
                place: Place::Layer {
                    label: addition.layer.label.clone(),
                },
                subject: String::new(),
                message: format!("added through the API, cannot be added again: {error}"),
            });
        }
    }
    let built = validate::build(&read.layers, read.problems, &read.tainted)?;
    Ok((read.layers, built))
}

#[cfg(test)]
mod tests;
