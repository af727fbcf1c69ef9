//! The contract between vigild, the `vigil` CLI and the tests: the plan model
//! (layer files to one validated [`plan::Plan`]) and the API types.
//!
//! This crate does no I/O beyond reading layer files and has no threads, so
//! everything in it is tested with plain unit tests. The one exception is
//! behind the `tls` feature: [`tls`], the outbound TLS that vigild and the
//! CLI share, which builds ureq agents.
#![deny(missing_docs)]

pub mod api;
pub mod cmdline;
pub mod duration;
pub mod plan;
pub mod reason;
pub mod signal;
mod suggest;
#[cfg(feature = "tls")]
pub mod tls;
