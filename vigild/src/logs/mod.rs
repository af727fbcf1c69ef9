//! Service output: from the bytes of a child's stdout and stderr to lines,
//! per-service history, followers and vigild's own stdout (spec
//! supervision.md §15; api.md §6.9 for the API's forms).
//!
//! The reactor owns the pipes and the clock; this module owns neither. It
//! never touches a file descriptor and never reads a clock: bytes come in as
//! slices, times as a [`std::time::SystemTime`] the caller read, and what
//! goes out is lines, entries and bytes for the caller to write without
//! blocking (DESIGN.md §3 invariants 3 and 6). Every buffer here has a named
//! bound (invariant 4).
//!
//! [`LineSplitter`] (one per pipe) cuts the bytes into lines of at most
//! [`MAX_LINE_BYTES`], with invalid UTF-8 replaced.

pub mod lines;

pub use lines::{LineSplitter, MAX_LINE_BYTES, PARTIAL_LINE_TIMEOUT};
