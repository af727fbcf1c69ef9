//! The event loop: one thread, one `mio::Poll`, and everything that wakes
//! it (signals, child exits, deadlines, child output, API connections).
//!
//! Only this module and its children touch file descriptors. It upholds
//! DESIGN.md's invariants 1 (one reaper), 2 (children spawned here, clean)
//! and 3 (nothing blocks but `poll`).

pub mod children;
pub mod listener;
pub mod output;
pub mod signals;
pub mod timers;
