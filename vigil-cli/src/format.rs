//! `--format text|json|yaml` (cli.md §2.3): `json` prints the API's
//! `result` as one line of JSON, `yaml` prints it as YAML, `text` leaves the
//! output to the command (a table, usually).
//!
//! The YAML writer is the CLI's own and small: block mappings and sequences,
//! plain scalars where they read back as the same string, literal blocks
//! (`|-`) for multi-line text such as a change's `err`, and double quotes
//! otherwise. vigil-proto's plan writer is private to the plan and writes
//! plan values, not arbitrary JSON; a YAML library for this would be a
//! dependency for forty lines.

use crate::args::UsageError;
use crate::json::Node;

/// How a command prints its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The command's own human-readable output.
    Text,
    /// The `result` as one line of JSON.
    Json,
    /// The `result` as YAML.
    Yaml,
}

impl Format {
    /// Parses `--format`: `text` when absent; `yaml` only where
    /// `yaml_allowed` (`logs` has no YAML form).
    pub fn parse(value: Option<&str>, yaml_allowed: bool) -> Result<Self, UsageError> {
        match value {
            None | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some("yaml") if yaml_allowed => Ok(Self::Yaml),
            Some(other) => Err(UsageError::InvalidValue {
                option: "--format".to_owned(),
                value: other.to_owned(),
                expected: if yaml_allowed {
                    "text, json or yaml"
                } else {
                    "text or json"
                },
            }),
        }
    }

    /// The output for `result` in this format, or `None` for `text`.
    pub fn render(self, result: &Node) -> Option<String> {
        match self {
            Self::Text => None,
            Self::Json => Some(result.to_json() + "\n"),
            Self::Yaml => Some(to_yaml(result)),
        }
    }
}

/// `node` as a YAML document (without a `---` line).
pub fn to_yaml(node: &Node) -> String {
    let mut out = String::new();
    write_block(&mut out, node, 0, false);
    out
}

/// Whether `node` is written as an indented block rather than on one line.
fn is_block(node: &Node) -> bool {
    match node {
        Node::Object(entries) => !entries.is_empty(),
        Node::Array(items) => !items.is_empty(),
        Node::Null | Node::Bool(_) | Node::Number(_) | Node::String(_) => false,
    }
}

/// Writes `node` at `indent`. With `inline_first`, the first line continues
/// the current one (after `- `) instead of starting with the indent.
fn write_block(out: &mut String, node: &Node, indent: usize, inline_first: bool) {
    let pad = |out: &mut String, index: usize| {
        if index > 0 || !inline_first {
            out.extend(std::iter::repeat_n(' ', indent));
        }
    };
    match node {
        Node::Object(entries) if !entries.is_empty() => {
            for (index, (key, value)) in entries.iter().enumerate() {
                pad(out, index);
                write_string(out, key, indent, false);
                out.push(':');
                if is_block(value) {
                    out.push('\n');
                    write_block(out, value, indent + 2, false);
                } else {
                    out.push(' ');
                    write_scalar(out, value, indent + 2);
                    out.push('\n');
                }
            }
        }
        Node::Array(items) if !items.is_empty() => {
            for (index, item) in items.iter().enumerate() {
                pad(out, index);
                out.push_str("- ");
                if is_block(item) {
                    write_block(out, item, indent + 2, true);
                } else {
                    write_scalar(out, item, indent + 2);
                    out.push('\n');
                }
            }
        }
        _ => {
            pad(out, 0);
            write_scalar(out, node, indent + 2);
            out.push('\n');
        }
    }
}

/// Writes a value that fits after `key: ` or `- `; continuation lines of a
/// literal block are indented by `indent`.
fn write_scalar(out: &mut String, node: &Node, indent: usize) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
        Node::Number(number) => out.push_str(&number.to_string()),
        Node::String(text) => write_string(out, text, indent, true),
        Node::Array(_) => out.push_str("[]"),
        Node::Object(_) => out.push_str("{}"),
    }
}

fn write_string(out: &mut String, text: &str, indent: usize, block_allowed: bool) {
    if is_plain(text) {
        out.push_str(text);
    } else if block_allowed && is_literal(text) {
        let (body, chomp) = match text.strip_suffix('\n') {
            Some(body) => (body, "|"),
            None => (text, "|-"),
        };
        out.push_str(chomp);
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.extend(std::iter::repeat_n(' ', indent));
                out.push_str(line);
            }
        }
    } else {
        // A JSON string is a valid YAML double-quoted scalar.
        out.push_str(&serde_json::Value::from(text).to_string());
    }
}

/// Whether `text` can be written bare and still read back as this string,
/// not as another type or as YAML syntax. Deliberately strict: anything
/// that starts with a digit (ids, versions, times) is quoted.
fn is_plain(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    const KEYWORDS: &[&str] = &["true", "false", "yes", "no", "on", "off", "y", "n", "null"];
    (first.is_alphabetic() || first == '/')
        && !text.ends_with([' ', ':'])
        && !text.chars().any(char::is_control)
        && !text.contains(": ")
        && !text.contains(" #")
        && !KEYWORDS.contains(&text.to_ascii_lowercase().as_str())
}

/// Whether `text` has several lines, or one that ends in a line break (a
/// task log), and reads back unchanged from a literal block.
fn is_literal(text: &str) -> bool {
    let body = text.strip_suffix('\n').unwrap_or(text);
    (body.contains('\n') || (text.ends_with('\n') && !body.is_empty()))
        && !body.ends_with('\n')
        && !body.starts_with([' ', '\t'])
        && !body
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        && body
            .split('\n')
            .all(|line| line.is_empty() || !line.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str) -> Node {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn format_option() {
        assert_eq!(Format::parse(None, true), Ok(Format::Text));
        assert_eq!(Format::parse(Some("json"), false), Ok(Format::Json));
        assert_eq!(Format::parse(Some("yaml"), true), Ok(Format::Yaml));
        assert_eq!(
            Format::parse(Some("yaml"), false).unwrap_err().to_string(),
            "invalid value \"yaml\" for --format (expected text or json)"
        );
        assert_eq!(
            Format::parse(Some("xml"), true).unwrap_err().to_string(),
            "invalid value \"xml\" for --format (expected text, json or yaml)"
        );
        assert_eq!(Format::Text.render(&Node::Null), None);
        assert_eq!(
            Format::Json.render(&node(r#"{"b":1,"a":[]}"#)).unwrap(),
            "{\"b\":1,\"a\":[]}\n"
        );
    }

    #[test]
    fn services_list() {
        let list = node(
            r#"[{"name":"db","startup":"enabled","current":"active","current-since":"2025-03-01T10:00:01.5+01:00"},
                {"name":"web","startup":"disabled","current":"inactive"}]"#,
        );
        assert_eq!(
            to_yaml(&list),
            "- name: db\n  startup: enabled\n  current: active\n  current-since: \"2025-03-01T10:00:01.5+01:00\"\n\
             - name: web\n  startup: disabled\n  current: inactive\n"
        );
    }

    #[test]
    fn nested_structures_and_empties() {
        let change = node(
            r#"{"id":"17","ready":true,"tasks":[{"id":"31","log":["a","b"],"progress":{"done":1}}],
                "data":{},"list":[],"nested":[[1,2],[]],"none":null,"n":-1.5}"#,
        );
        assert_eq!(
            to_yaml(&change),
            "id: \"17\"\n\
             ready: true\n\
             tasks:\n  \
               - id: \"31\"\n    \
                 log:\n      \
                   - a\n      \
                   - b\n    \
                 progress:\n      \
                   done: 1\n\
             data: {}\n\
             list: []\n\
             nested:\n  \
               - - 1\n    \
                 - 2\n  \
               - []\n\
             none: null\n\
             \"n\": -1.5\n"
        );
        assert_eq!(to_yaml(&node("[]")), "[]\n");
        assert_eq!(to_yaml(&node(r#""x""#)), "x\n");
    }

    #[test]
    fn multi_line_text_is_a_literal_block() {
        let change = node(
            r#"{"err":"cannot perform the following tasks:\n- Start service \"web\" (boom)","tail":"a\nb\n"}"#,
        );
        assert_eq!(
            to_yaml(&change),
            "err: |-\n  cannot perform the following tasks:\n  - Start service \"web\" (boom)\ntail: |\n  a\n  b\n"
        );
        let in_list = node(r#"[" lead\nx","a\n\nb","a\n  \nb","a\n\n","one\n","\n"]"#);
        assert_eq!(
            to_yaml(&in_list),
            "- \" lead\\nx\"\n- |-\n  a\n\n  b\n- \"a\\n  \\nb\"\n- \"a\\n\\n\"\n- |\n  one\n- \"\\n\"\n"
        );
    }

    #[test]
    fn strings_that_need_quotes() {
        for (text, want) in [
            ("web", "web"),
            ("Start service \"web\"", "Start service \"web\""),
            ("/run/vigil/vigild.sock", "/run/vigil/vigild.sock"),
            ("", "\"\""),
            ("true", "\"true\""),
            ("No", "\"No\""),
            ("null", "\"null\""),
            ("17", "\"17\""),
            ("1.0.0", "\"1.0.0\""),
            (":4000", "\":4000\""),
            ("-x", "\"-x\""),
            ("a: b", "\"a: b\""),
            ("a #b", "\"a #b\""),
            ("key:", "\"key:\""),
            ("tab\there", "\"tab\\there\""),
            ("trailing ", "\"trailing \""),
            ("*alias", "\"*alias\""),
        ] {
            let mut out = String::new();
            write_string(&mut out, text, 2, true);
            assert_eq!(out, want, "{text:?}");
        }
    }
}
