//! Problems found while loading layers and building a plan, and the error
//! that carries all of them.
//!
//! One problem is one line, `<where>: <subject>: <message>` (spec layers.md
//! §11). Problems are collected, never returned one at a time: an operator
//! fixes every file in one go.

use std::fmt;

/// At most this many problems are listed in a [`LoadError`]'s text; the rest
/// are counted. A broken generator can produce thousands of identical lines
/// and nobody reads past the first screen.
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// Where a problem was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A position in a layer file; `path` is the layers directory joined with
    /// the entry name. Line and column start at 1.
    File {
        /// The file as it is displayed.
        path: String,
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
    },
    /// A position inside the YAML text of a layer added through the API.
    Api {
        /// The layer's label.
        label: String,
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
    },
    /// A layer added through the API, as a whole: a call that a replan
    /// replays and that no longer applies.
    Layer {
        /// The layer's label.
        label: String,
    },
    /// A file as a whole (cannot be read, duplicate label, …).
    Entry {
        /// The file or directory as it is displayed.
        path: String,
    },
    /// The combined plan.
    Plan,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File { path, line, column } => write!(f, "{path}:{line}:{column}"),
            Place::Api {
                label,
                line,
                column,
            } => write!(f, "layer \"{label}\":{line}:{column}"),
            Place::Layer { label } => write!(f, "layer \"{label}\""),
            Place::Entry { path } => f.write_str(path),
            Place::Plan => f.write_str("plan"),
        }
    }
}

/// One problem: where, about what, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where it was found.
    pub place: Place,
    /// The dotted key path (`services.web.kill-delay`) or the entity
    /// (`service "web"`); empty when the place says it all.
    pub subject: String,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.subject.is_empty() {
            write!(f, "{}: {}", self.place, self.message)
        } else {
            write!(f, "{}: {}: {}", self.place, self.subject, self.message)
        }
    }
}

/// A plan that could not be loaded, with every problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// Every problem, in file order and then plan order.
    pub problems: Vec<Problem>,
}

impl LoadError {
    /// The full report: `summary: N problems`, then one line per problem
    /// (at most [`MAX_LISTED_PROBLEMS`]) prefixed by `indent`.
    ///
    /// vigild prints `render("cannot load plan", "  ")` at boot; the API
    /// uses summaries such as `cannot add layer "x"` with no indent.
    pub fn render(&self, summary: &str, indent: &str) -> String {
        let count = self.problems.len();
        let mut text = format!("{summary}: {}", plural(count, "problem"));
        for problem in self.problems.iter().take(MAX_LISTED_PROBLEMS) {
            text.push('\n');
            text.push_str(indent);
            text.push_str(&problem.to_string());
        }
        if count > MAX_LISTED_PROBLEMS {
            text.push('\n');
            text.push_str(indent);
            text.push_str(&format!(
                "... and {}",
                plural(count - MAX_LISTED_PROBLEMS, "more problem")
            ));
        }
        text
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("cannot load plan", ""))
    }
}

impl std::error::Error for LoadError {}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(n: usize) -> Problem {
        Problem {
            place: Place::File {
                path: "layers/010-web.yaml".into(),
                line: n,
                column: 5,
            },
            subject: "services.web.kill_delay".into(),
            message: "unknown key (did you mean \"kill-delay\"?)".into(),
        }
    }

    #[test]
    fn render_lists_and_indents() {
        let error = LoadError {
            problems: vec![
                problem(12),
                Problem {
                    place: Place::Plan,
                    subject: "service \"worker\"".into(),
                    message: "requires unknown service \"queue\" (defined in 010-web.yaml)".into(),
                },
            ],
        };
        assert_eq!(
            error.render("cannot load plan", "  "),
            "cannot load plan: 2 problems\n  \
             layers/010-web.yaml:12:5: services.web.kill_delay: unknown key (did you mean \"kill-delay\"?)\n  \
             plan: service \"worker\": requires unknown service \"queue\" (defined in 010-web.yaml)"
        );
    }

    #[test]
    fn render_caps_the_list() {
        let error = LoadError {
            problems: (1..=103).map(problem).collect(),
        };
        let text = error.render("cannot replan services", "");
        assert!(text.starts_with("cannot replan services: 103 problems\n"));
        assert_eq!(text.lines().count(), 1 + MAX_LISTED_PROBLEMS + 1);
        assert!(text.ends_with("\n... and 3 more problems"));
    }
}
