//! The contract between vigild, the `vigil` CLI and the tests: the plan model
//! (layer files to one validated [`plan::Plan`]) and the API types.
//!
//! This crate does no I/O beyond reading layer files and has no threads, so
//! everything in it is tested with plain unit tests.
#![deny(missing_docs)]

pub mod api;
pub mod cmdline;
pub mod duration;
pub mod plan;
pub mod reason;
pub mod signal;
mod suggest;
