//! The supervision core: service state machines, lanes and ordering,
//! backoff, exit actions, replan diffing and daemon shutdown, as a pure state
//! machine.
//!
//! It is fully deterministic: time comes only from the inputs (a [`Now`]
//! carries both clocks) and randomness from a seeded generator. It never
//! touches a file descriptor, a process or a clock: it says what to do as
//! [`Effect`]s, and the reactor applies them (spawns, signals, logs, answers
//! to parked waits, exit). That is how it is tested, with a fake clock and
//! fake pids (DESIGN.md invariant 6, "time is injected").
//!
//! The rules are the spec's supervision.md and api.md §7; section numbers in
//! comments refer to supervision.md unless they say otherwise.
#![deny(missing_docs)]

use std::time::{Instant, SystemTime};

/// The time of an input, on both clocks: deadlines use the monotonic one,
/// reported times (`current-since`, change times, task logs) the wall one.
///
/// The reactor reads both clocks once per turn, in its one clock function,
/// and passes the same `Now` to every input of that turn. Neither may go
/// backwards between inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// For deadlines.
    pub monotonic: Instant,
    /// For times shown to people.
    pub wall: SystemTime,
}
