//! A YAML document as a tree of located nodes.
//!
//! Layer decoding needs what serde cannot give: the position of every key and
//! value (so that each of many problems can be reported where it is), the text
//! of a scalar exactly as written (`1.50` stays `"1.50"` in a string map), and
//! whether it was quoted (`"5"` is a string, `5` may be a number). libyaml, the
//! parser behind yaml_serde and the C original of Pebble's yaml.v3, produces
//! events with marks; this module turns them into [`Node`]s.
//!
//! The tree is bounded: at most [`MAX_DEPTH`] levels of nesting and
//! [`MAX_NODES`] nodes after aliases are expanded, so a hostile layer (an
//! alias bomb, a 100,000-deep list) gets an error, not an exhausted stack.

use std::collections::HashMap;
use std::ffi::CStr;
use std::mem::MaybeUninit;

use libyaml_rs as sys;

/// Deepest nesting of sequences and mappings accepted in a layer. The schema
/// needs five levels; the margin is for readable errors on odd input.
pub(crate) const MAX_DEPTH: usize = 64;

/// Most nodes a layer may expand to, counting every alias expansion. A layer
/// with a thousand services is a few tens of thousands of nodes.
pub(crate) const MAX_NODES: usize = 200_000;

/// A position in the source text; line and column start at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Mark {
    pub line: usize,
    pub column: usize,
}

impl Mark {
    fn from_sys(mark: sys::yaml_mark_t) -> Mark {
        Mark {
            line: mark.line as usize + 1,
            column: mark.column as usize + 1,
        }
    }
}

/// One node of the document, with the position where it starts.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub mark: Mark,
    pub kind: Kind,
}

/// The three kinds of YAML node.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A scalar as written. `plain` is false for quoted and block scalars and
    /// for plain scalars tagged `!!str`: those are always strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Sequence(Vec<Node>),
    /// Pairs in document order; duplicate keys are kept for the decoder to
    /// report.
    Mapping(Vec<(Node, Node)>),
}

impl Node {
    /// True for `~`, `null` (any common case) and an empty plain scalar.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            Kind::Scalar { text, plain: true } => {
                matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// What the node is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            _ if self.is_null() => "null",
            Kind::Scalar { .. } => "a scalar",
            Kind::Sequence(_) => "a list",
            Kind::Mapping(_) => "a mapping",
        }
    }
}

/// A document that could not be parsed at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub mark: Mark,
    pub message: String,
}

/// Parses one YAML document. An empty document (no content, or only
/// comments) gives `Ok(None)`. A second document is an error.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut events = EventReader::new(text.as_bytes());
    let mut builder = Builder::default();
    let mut documents = 0;
    let mut root = None;
    loop {
        let (event, mark) = events.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(root),
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        mark,
                        message: "a layer file holds one YAML document; found a second one".into(),
                    });
                }
            }
            event => {
                if let Some(node) = builder.push(event, mark)? {
                    root = Some(node);
                }
            }
        }
    }
}

/// An event from libyaml, with the data we use copied out of it.
enum Event {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias(String),
    Scalar {
        anchor: Option<String>,
        text: String,
        plain: bool,
    },
    SequenceStart(Option<String>),
    SequenceEnd,
    MappingStart(Option<String>),
    MappingEnd,
}

/// Builds the tree from the event stream, with an explicit stack (no
/// recursion) and the bounds of this module.
#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<String, Node>,
    nodes: usize,
}

/// A sequence or mapping whose end event has not come yet.
struct Open {
    mark: Mark,
    anchor: Option<String>,
    items: Vec<Node>,
    mapping: bool,
}

impl Builder {
    /// Takes one content event; returns the root when it is complete.
    fn push(&mut self, event: Event, mark: Mark) -> Result<Option<Node>, SyntaxError> {
        let mapping = matches!(event, Event::MappingStart(_));
        let (node, anchor) = match event {
            Event::Alias(name) => {
                let Some(size) = self.anchors.get(&name).map(node_count) else {
                    return Err(SyntaxError {
                        mark,
                        message: format!("unknown anchor \"{name}\""),
                    });
                };
                self.count(mark, size)?;
                (self.anchors[&name].clone(), None)
            }
            Event::Scalar {
                anchor,
                text,
                plain,
            } => {
                self.count(mark, 1)?;
                let node = Node {
                    mark,
                    kind: Kind::Scalar { text, plain },
                };
                (node, anchor)
            }
            Event::SequenceStart(anchor) | Event::MappingStart(anchor) => {
                self.count(mark, 1)?;
                if self.stack.len() >= MAX_DEPTH {
                    return Err(SyntaxError {
                        mark,
                        message: format!("nesting deeper than {MAX_DEPTH} levels"),
                    });
                }
                self.stack.push(Open {
                    mark,
                    anchor,
                    items: Vec::new(),
                    mapping,
                });
                return Ok(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return Err(SyntaxError {
                        mark,
                        message: "unbalanced end of collection".into(),
                    });
                };
                let kind = if open.mapping {
                    let mut pairs = Vec::with_capacity(open.items.len() / 2);
                    let mut items = open.items.into_iter();
                    while let (Some(key), Some(value)) = (items.next(), items.next()) {
                        pairs.push((key, value));
                    }
                    Kind::Mapping(pairs)
                } else {
                    Kind::Sequence(open.items)
                };
                let node = Node {
                    mark: open.mark,
                    kind,
                };
                (node, open.anchor)
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {
                return Ok(None);
            }
        };
        if let Some(anchor) = anchor {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            Some(open) => {
                open.items.push(node);
                Ok(None)
            }
            None => Ok(Some(node)),
        }
    }

    fn count(&mut self, mark: Mark, nodes: usize) -> Result<(), SyntaxError> {
        self.nodes += nodes;
        if self.nodes > MAX_NODES {
            return Err(SyntaxError {
                mark,
                message: format!("document expands to more than {MAX_NODES} nodes"),
            });
        }
        Ok(())
    }
}

fn node_count(node: &Node) -> usize {
    let mut count = 0;
    let mut pending = vec![node];
    while let Some(node) = pending.pop() {
        count += 1;
        match &node.kind {
            Kind::Scalar { .. } => {}
            Kind::Sequence(items) => pending.extend(items),
            Kind::Mapping(pairs) => pending.extend(pairs.iter().flat_map(|(k, v)| [k, v])),
        }
    }
    count
}

/// The libyaml event parser over a borrowed input. The parser struct is boxed
/// so that it never moves after initialisation.
struct EventReader<'input> {
    parser: Box<MaybeUninit<sys::yaml_parser_t>>,
    _input: &'input [u8],
    failed: bool,
}

const TAG_STR: &[u8] = b"tag:yaml.org,2002:str";

impl<'input> EventReader<'input> {
    fn new(input: &'input [u8]) -> EventReader<'input> {
        let mut parser = Box::new(MaybeUninit::<sys::yaml_parser_t>::uninit());
        // SAFETY: `parser` points to writable memory large enough for a
        // parser; yaml_parser_initialize only fails on allocation failure,
        // which aborts the process in Rust anyway. The input slice outlives
        // the parser because the reader borrows it for 'input.
        unsafe {
            let raw = parser.as_mut_ptr();
            if sys::yaml_parser_initialize(raw).fail {
                std::process::abort();
            }
            sys::yaml_parser_set_encoding(raw, sys::YAML_UTF8_ENCODING);
            sys::yaml_parser_set_input_string(raw, input.as_ptr(), input.len() as _);
        }
        EventReader {
            parser,
            _input: input,
            failed: false,
        }
    }

    fn next(&mut self) -> Result<(Event, Mark), SyntaxError> {
        if self.failed {
            return Err(SyntaxError {
                mark: Mark::default(),
                message: "parser already failed".into(),
            });
        }
        let mut raw = MaybeUninit::<sys::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new` and is not shared;
        // yaml_parser_parse fills `raw` completely when it succeeds.
        let ok = unsafe { sys::yaml_parser_parse(self.parser.as_mut_ptr(), raw.as_mut_ptr()).ok };
        if !ok {
            self.failed = true;
            return Err(self.error());
        }
        // SAFETY: parse succeeded, so the event is initialised; the union
        // field read below is the one that matches the event type, and every
        // pointer in it is valid until yaml_event_delete.
        unsafe {
            let event = raw.assume_init_mut();
            let mark = Mark::from_sys(event.start_mark);
            let converted = match event.type_ {
                sys::YAML_STREAM_START_EVENT => Event::StreamStart,
                sys::YAML_STREAM_END_EVENT => Event::StreamEnd,
                sys::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
                sys::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
                sys::YAML_ALIAS_EVENT => Event::Alias(c_string(event.data.alias.anchor)),
                sys::YAML_SCALAR_EVENT => {
                    let scalar = event.data.scalar;
                    let bytes = std::slice::from_raw_parts(scalar.value, scalar.length as usize);
                    let tagged_str = !scalar.tag.is_null()
                        && CStr::from_ptr(scalar.tag.cast()).to_bytes() == TAG_STR;
                    Event::Scalar {
                        anchor: optional_c_string(scalar.anchor),
                        text: String::from_utf8_lossy(bytes).into_owned(),
                        plain: scalar.style == sys::YAML_PLAIN_SCALAR_STYLE && !tagged_str,
                    }
                }
                sys::YAML_SEQUENCE_START_EVENT => {
                    Event::SequenceStart(optional_c_string(event.data.sequence_start.anchor))
                }
                sys::YAML_SEQUENCE_END_EVENT => Event::SequenceEnd,
                sys::YAML_MAPPING_START_EVENT => {
                    Event::MappingStart(optional_c_string(event.data.mapping_start.anchor))
                }
                sys::YAML_MAPPING_END_EVENT => Event::MappingEnd,
                _ => Event::StreamEnd,
            };
            sys::yaml_event_delete(event);
            Ok((converted, mark))
        }
    }

    fn error(&self) -> SyntaxError {
        // SAFETY: the parser is initialised; after a failed parse its problem
        // fields describe the failure and `problem`/`context` are null or
        // static C strings.
        let prefix = unsafe { &**self.parser.as_ptr() };
        let problem = optional_static_str(prefix.problem).unwrap_or("syntax error");
        let context = optional_static_str(prefix.context);
        let mark = Mark::from_sys(prefix.problem_mark);
        let message = match context {
            Some(context) => format!("invalid YAML: {problem} {context}"),
            None => format!("invalid YAML: {problem}"),
        };
        SyntaxError { mark, message }
    }
}

impl Drop for EventReader<'_> {
    fn drop(&mut self) {
        // SAFETY: the parser was initialised in `new` and is deleted once.
        unsafe { sys::yaml_parser_delete(self.parser.as_mut_ptr()) }
    }
}

/// # Safety
/// `ptr` must be a valid NUL-terminated string.
unsafe fn c_string(ptr: *const u8) -> String {
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(ptr.cast()).to_string_lossy().into_owned() }
}

/// # Safety
/// `ptr` must be null or a valid NUL-terminated string.
unsafe fn optional_c_string(ptr: *const u8) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: guaranteed by the caller.
        Some(unsafe { c_string(ptr) })
    }
}

fn optional_static_str(ptr: *const std::ffi::c_char) -> Option<&'static str> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: libyaml's problem and context strings are string literals.
    unsafe { CStr::from_ptr(ptr) }.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(node: &Node) -> (&str, bool) {
        match &node.kind {
            Kind::Scalar { text, plain } => (text, *plain),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn empty_and_comment_only_documents_are_none() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("# just a comment\n\n").unwrap().is_none());
        assert!(parse("---\n").unwrap().unwrap().is_null());
    }

    #[test]
    fn marks_are_one_based_and_point_at_values() {
        let root = parse("services:\n  web:\n    command: 'x y'\n")
            .unwrap()
            .unwrap();
        let Kind::Mapping(top) = &root.kind else {
            panic!()
        };
        let Kind::Mapping(services) = &top[0].1.kind else {
            panic!()
        };
        let Kind::Mapping(web) = &services[0].1.kind else {
            panic!()
        };
        let (key, value) = &web[0];
        assert_eq!(key.mark, Mark { line: 3, column: 5 });
        assert_eq!(
            value.mark,
            Mark {
                line: 3,
                column: 14
            }
        );
        assert_eq!(scalar(value), ("x y", false));
        assert_eq!(scalar(key), ("command", true));
    }

    #[test]
    fn tagged_str_is_not_plain() {
        let root = parse("a: !!str 5\nb: 5\n").unwrap().unwrap();
        let Kind::Mapping(pairs) = &root.kind else {
            panic!()
        };
        assert_eq!(scalar(&pairs[0].1), ("5", false));
        assert_eq!(scalar(&pairs[1].1), ("5", true));
    }

    #[test]
    fn aliases_are_expanded() {
        let root = parse("a: &x [1, 2]\nb: *x\n").unwrap().unwrap();
        let Kind::Mapping(pairs) = &root.kind else {
            panic!()
        };
        assert!(matches!(&pairs[1].1.kind, Kind::Sequence(items) if items.len() == 2));
    }

    #[test]
    fn second_document_is_an_error() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.mark.line, 2);
        assert!(err.message.contains("second"), "{}", err.message);
    }

    #[test]
    fn syntax_error_is_located() {
        let err = parse("a:\n\tb: 1\n").unwrap_err();
        assert_eq!(err.mark, Mark { line: 2, column: 1 });
        assert_eq!(
            err.message,
            "invalid YAML: found character that cannot start any token while scanning for the next token"
        );
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("more than"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("nesting"), "{}", err.message);
    }
}
