//! The commands of `vigil`, one file per command group (cli.md §3).
//!
//! Adding a command: write `cmd/<group>.rs` with an argh struct per command
//! (`#[derive(FromArgs, ArgsInfo)] #[argh(subcommand, name = "...")]`), add a
//! variant here, and dispatch it in [`Command::run`]. Global options, `--`,
//! `--opt=value` and combined short flags then work for it unchanged, because
//! [`crate::args::normalise`] reads every command's flags from argh.

use std::process::ExitCode;

use argh::{ArgsInfo, FromArgs};

use crate::global::Globals;

/// A `vigil` command. There are none yet: each arrives with the server
/// capability it needs.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand)]
pub enum Command {}

impl Command {
    /// Runs the command against the server that `globals` designate, and
    /// returns its exit code (cli.md §2.4).
    pub fn run(self, globals: &Globals) -> ExitCode {
        let _ = globals;
        match self {}
    }
}
