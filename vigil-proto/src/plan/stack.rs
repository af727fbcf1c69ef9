//! The layer stack in memory and the layers added through the API (spec
//! layers.md §2.4): where `POST /v1/layers` puts a layer, how `combine`
//! merges it into a layer of the same label, and the replay of those calls
//! on top of a freshly read directory (decision D2).
//!
//! Everything here is pure: the caller owns the stack and decides when to
//! commit it, after [`super::Plan::build`] has accepted the result.

use std::collections::BTreeMap;
use std::fmt;

use super::Layer;
use super::model::{Entry, combine_within};

/// One successful `POST /v1/layers` call, kept so that a replan can replay
/// it after re-reading the layers directory.
#[derive(Clone, Debug, PartialEq)]
pub struct Addition {
    /// The layer as parsed, with its label.
    pub layer: Layer,
    /// `combine`: merge into an existing layer of the same label.
    pub combine: bool,
    /// `inner`: a `dir/sub` label goes after the last layer of `dir`.
    pub inner: bool,
}

/// Why a layer cannot be added to a stack.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddError {
    /// A layer with this label exists and `combine` was not asked for.
    Exists {
        /// The label.
        label: String,
    },
    /// A `dir/sub` label without `inner: true`.
    NeedsInner {
        /// The label.
        label: String,
    },
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exists { label } => write!(f, "layer \"{label}\" already exists"),
            Self::NeedsInner { label } => {
                write!(f, "label \"{label}\" contains \"/\": inner must be true")
            }
        }
    }
}

impl std::error::Error for AddError {}

/// Adds `addition` to `stack`:
///
/// - a label that exists is combined into that layer with `combine`, and
///   refused without it;
/// - a new label goes at the end, or, with `inner` and a `dir/sub` label,
///   right after the last layer whose top-level label is `dir` (at the end
///   when there is none).
///
/// On error the stack is unchanged. Whether the result is a valid plan is
/// for [`super::Plan::build`] to say.
pub fn add_layer(stack: &mut Vec<Layer>, addition: &Addition) -> Result<(), AddError> {
    let label = addition.layer.label.as_str();
    if label.contains('/') && !addition.inner {
        return Err(AddError::NeedsInner {
            label: label.to_owned(),
        });
    }
    if let Some(existing) = stack.iter_mut().find(|layer| layer.label == label) {
        if !addition.combine {
            return Err(AddError::Exists {
                label: label.to_owned(),
            });
        }
        existing.combine(&addition.layer);
        return Ok(());
    }
    let at = match label.split_once('/') {
        Some((dir, _)) if addition.inner => stack
            .iter()
            .rposition(|layer| top_label(&layer.label) == dir)
            .map_or(stack.len(), |last| last + 1),
        _ => stack.len(),
    };
    stack.insert(at, addition.layer.clone());
    Ok(())
}

/// `dir` of `dir/sub`; a label without `/` is its own top level.
fn top_label(label: &str) -> &str {
    label.split_once('/').map_or(label, |(dir, _)| dir)
}

impl Layer {
    /// Combines `later` into this layer, entry by entry, with the merge rules
    /// of spec layers.md §9. An entry that `later` merges keeps this layer's
    /// `override`; one it replaces takes `later`'s. The label and name stay
    /// this layer's.
    pub fn combine(&mut self, later: &Layer) {
        if later.summary.is_some() {
            self.summary.clone_from(&later.summary);
        }
        if later.description.is_some() {
            self.description.clone_from(&later.description);
        }
        combine_entries(&mut self.services, &later.services);
        combine_entries(&mut self.checks, &later.checks);
        combine_entries(&mut self.log_targets, &later.log_targets);
        combine_entries(&mut self.workloads, &later.workloads);
        combine_entries(&mut self.alerts.entries, &later.alerts.entries);
        if later.alerts.max_queue_depth.is_some() {
            self.alerts.max_queue_depth = later.alerts.max_queue_depth;
        }
        if later.alerts.max_queue_time.is_some() {
            self.alerts.max_queue_time = later.alerts.max_queue_time;
        }
    }
}

fn combine_entries<T: Entry>(earlier: &mut BTreeMap<String, T>, later: &BTreeMap<String, T>) {
    for (name, entry) in later {
        let combined = combine_within(earlier.get(name), entry);
        earlier.insert(name.clone(), combined);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Override, Plan, Source};
    use super::*;

    fn layer(label: &str, text: &str) -> Layer {
        Layer::parse(text, label, label, Source::Api(label.into()))
            .unwrap_or_else(|e| panic!("bad test layer: {e}"))
    }

    fn addition(label: &str, text: &str, combine: bool, inner: bool) -> Addition {
        Addition {
            layer: layer(label, text),
            combine,
            inner,
        }
    }

    fn labels(stack: &[Layer]) -> Vec<&str> {
        stack.iter().map(|l| l.label.as_str()).collect()
    }

    #[test]
    fn a_new_label_goes_at_the_end() {
        let mut stack = vec![layer("base", "{}"), layer("web", "{}")];
        add_layer(&mut stack, &addition("extra", "{}", false, false)).unwrap();
        // combine with a new label is a plain append.
        add_layer(&mut stack, &addition("more", "{}", true, false)).unwrap();
        assert_eq!(labels(&stack), ["base", "web", "extra", "more"]);
    }

    #[test]
    fn an_existing_label_needs_combine() {
        let mut stack = vec![layer("web", "services: {web: {command: a}}")];
        let error = add_layer(&mut stack, &addition("web", "{}", false, false)).unwrap_err();
        assert_eq!(error.to_string(), r#"layer "web" already exists"#);
        assert_eq!(stack, vec![layer("web", "services: {web: {command: a}}")]);
    }

    #[test]
    fn inner_labels_follow_their_directory() {
        let mut stack = vec![
            layer("base", "{}"),
            layer("dir/a", "{}"),
            layer("dir/b", "{}"),
            layer("top", "{}"),
        ];
        let error = add_layer(&mut stack, &addition("dir/c", "{}", false, false)).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"label "dir/c" contains "/": inner must be true"#
        );
        add_layer(&mut stack, &addition("dir/c", "{}", false, true)).unwrap();
        add_layer(&mut stack, &addition("base/x", "{}", false, true)).unwrap();
        add_layer(&mut stack, &addition("new/x", "{}", false, true)).unwrap();
        // inner without a `/` is an ordinary label.
        add_layer(&mut stack, &addition("last", "{}", false, true)).unwrap();
        assert_eq!(
            labels(&stack),
            [
                "base", "base/x", "dir/a", "dir/b", "dir/c", "top", "new/x", "last"
            ]
        );
    }

    #[test]
    fn combine_merges_entries_with_the_plan_rules() {
        let mut stack = vec![
            layer(
                "base",
                "services: {web: {command: old, environment: {A: '1'}}}",
            ),
            layer(
                "web",
                "services:\n  web: {override: replace, command: webd, environment: {B: '2'}}\n  \
                 db: {command: dbd, after: [x]}\n",
            ),
        ];
        let later = "summary: s\nservices:\n  web: {environment: {C: '3'}, kill-delay: 2s}\n  \
                     db: {override: replace, command: dbd2}\n  new: {command: n}\n";
        add_layer(&mut stack, &addition("web", later, true, false)).unwrap();
        assert_eq!(labels(&stack), ["base", "web"]);
        let combined = &stack[1];
        assert_eq!(combined.summary.as_deref(), Some("s"));
        // Merged: keeps its `replace` against the layers below.
        let web = &combined.services["web"];
        assert_eq!(web.override_, Some(Override::Replace));
        assert_eq!(web.command.as_deref(), Some("webd"));
        assert_eq!(web.environment.keys().collect::<Vec<_>>(), ["B", "C"]);
        // Replaced within the layer: nothing of the earlier entry survives.
        let db = &combined.services["db"];
        assert_eq!(db.command.as_deref(), Some("dbd2"));
        assert!(db.after.is_empty());
        assert!(combined.services.contains_key("new"));

        let plan = Plan::build(&stack).unwrap().plan;
        let web = &plan.services()["web"];
        assert_eq!(web.environment.keys().collect::<Vec<_>>(), ["B", "C"]);
        assert_eq!(web.override_, Some(Override::Replace));
    }
}
