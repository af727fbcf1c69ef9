//! Alerts (checks-and-alerts.md §9–§15): telling receivers when a watched
//! check goes down and when it recovers.
//!
//! - [`event`]: what happened, and the fully built request that tells it
//!   ([`Event`], [`Job`], [`Outcome`]): the contract between the parts;
//! - [`firing`]: when an alert fires, and the jobs it makes (pure);
//! - [`format`]: the four payload formats and body templates (pure);
//! - [`delivery`]: the bounded queue, the workers, retries and TLS (the
//!   only part that touches the network);
//! - [`proxy`]: which proxy a delivery goes through, and the `no-proxy`
//!   rules (pure; the HTTP probe uses them too).
#![deny(missing_docs)]

pub mod delivery;
pub mod event;
pub mod firing;
pub mod format;
pub mod proxy;

pub use self::event::{Event, EventStatus, Job, Outcome};
