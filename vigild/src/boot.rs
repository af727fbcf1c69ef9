//! From a parsed [`Config`] to a running daemon, and the exit code it ends
//! with.

use std::process::ExitCode;

use crate::config::Config;

/// Boots vigild with `config` and returns the code it exits with
/// ([`crate::exit`]).
pub fn run(config: &Config) -> ExitCode {
    // TODO(plan loading): the plan loader is merged here.
    let _ = config;
    ExitCode::from(0)
}
