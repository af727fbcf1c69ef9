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
//! The path of one line:
//!
//! 1. [`LineSplitter`] (one per pipe) cuts the bytes into lines of at most
//!    [`MAX_LINE_BYTES`], with invalid UTF-8 replaced.
//! 2. [`LogStore::push`] puts each line into its service's ring buffer,
//!    bounded in bytes ([`ENTRY_OVERHEAD`] per entry on top of the message),
//!    and numbers it with a [`Seq`].
//! 3. With `logs-forward: enabled`, [`format::write_forwarded`] gives the
//!    line's forwarded form, for the reactor's stdout writer.
//! 4. Readers take entries back out: [`LogStore::tail`] for a small
//!    backlog, a [`Cursor`] from [`LogStore::cursor`] or
//!    [`LogStore::cursor_at_tail`] paged with [`LogStore::since`] for
//!    followers, large backlogs and push targets, and
//!    [`LogStore::last_lines`] for a failed start. [`mod@format`] gives each
//!    its text.
//!
//! The reactor, for each pipe event:
//!
//! ```text
//! read chunk -> splitter.push(chunk, &mut lines)
//! for line in lines.drain(..):
//!     format::write_forwarded(&mut bytes, now, service, &line)  // if enabled
//!     stdout.push_line(&bytes)
//!     store.push(service, stream, line, now)
//! then wake the followers of that service
//! ```
//!
//! and re-arms the [`PARTIAL_LINE_TIMEOUT`] timer of a pipe while its
//! splitter [`has_partial`](LineSplitter::has_partial) data, calls
//! [`LineSplitter::finish`] at end of file, and [`LogStore::remove`] when a
//! stopped service leaves the plan.

pub mod format;
pub mod lines;
mod ring;
pub mod store;

pub use format::{RECENT_OUTPUT_LINES, StreamFormat};
pub use lines::{LineSplitter, MAX_LINE_BYTES, PARTIAL_LINE_TIMEOUT};
pub use ring::{ENTRY_OVERHEAD, MIN_RING_BYTES};
pub use store::{Batch, Cursor, Entry, LogStore, Seq, ServiceFilter};
