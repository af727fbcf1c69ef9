//! The vigild daemon as a library, so that tests can drive its parts.
//!
//! `main.rs` only turns argv and the environment into a [`config::Config`]
//! and hands it to [`boot::run`].

pub mod alerts;
pub mod api;
pub mod boot;
pub mod changes;
pub mod checks;
pub mod config;
pub mod exit;
pub mod http;
pub mod identity;
pub mod log;
pub mod logs;
pub mod outbound;
pub mod reactor;
pub mod relaunch;
pub mod supervisor;
