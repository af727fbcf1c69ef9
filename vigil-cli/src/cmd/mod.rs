//! The commands of `vigil`, one file per command group (cli.md §3).
//!
//! Adding a command: write `cmd/<group>.rs` with an argh struct per command
//! (`#[derive(FromArgs, ArgsInfo)] #[argh(subcommand, name = "...")]`), add a
//! variant here, and dispatch it in [`Command::run`]. Global options, `--`,
//! `--opt=value` and combined short flags then work for it unchanged, because
//! [`crate::args::normalise`] reads every command's flags from argh.
//!
//! A command returns an [`Outcome`]; [`Command::run`] alone turns a
//! [`Failure`] into the `error: ` line and the exit code (cli.md §2.4), so
//! every command fails the same way.

mod alerts;
mod changes;
mod checks;
mod daemon;
mod identities;
mod logs;
mod plan;
mod services;
mod system;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use argh::{ArgsInfo, FromArgs};

use crate::args::UsageError;
use crate::client::{self, Client, Reply};
use crate::format::Format;
use crate::global::Globals;
use crate::interrupt;
use crate::time::{LocalZone, Times};

/// Exit code of any failure: API error, connection error, failed change.
const EXIT_FAILURE: u8 = 1;

/// Exit code of a usage error.
const EXIT_USAGE: u8 = 2;

/// A `vigil` command.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand)]
pub enum Command {
    /// `services`
    Services(services::Services),
    /// `start`
    Start(services::Start),
    /// `stop`
    Stop(services::Stop),
    /// `restart`
    Restart(services::Restart),
    /// `autostart`
    Autostart(services::Autostart),
    /// `replan`
    Replan(services::Replan),
    /// `checks`
    Checks(checks::Checks),
    /// `check`
    Check(checks::ShowCheck),
    /// `start-checks`
    StartChecks(checks::StartChecks),
    /// `stop-checks`
    StopChecks(checks::StopChecks),
    /// `health`
    Health(checks::Health),
    /// `alerts`
    Alerts(alerts::Alerts),
    /// `changes`
    Changes(changes::Changes),
    /// `tasks`
    Tasks(changes::Tasks),
    /// `logs`
    Logs(logs::Logs),
    /// `plan`
    Plan(plan::ShowPlan),
    /// `add`
    Add(plan::Add),
    /// `signal`
    Signal(plan::SendSignal),
    /// `system-info`
    SystemInfo(system::SystemInfo),
    /// `version`
    Version(system::Version),
    /// `vigild`
    Vigild(daemon::Vigild),
    /// `identities`
    Identities(identities::Identities),
    /// `identity`
    Identity(identities::ShowIdentity),
    /// `add-identities`
    AddIdentities(identities::AddIdentities),
    /// `update-identities`
    UpdateIdentities(identities::UpdateIdentities),
    /// `remove-identities`
    RemoveIdentities(identities::RemoveIdentities),
}

impl Command {
    /// Runs the command against the server that `globals` designate, and
    /// returns its exit code (cli.md §2.4).
    pub fn run(self, globals: &Globals) -> ExitCode {
        let mut context = match Context::new(globals) {
            Ok(context) => context,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let outcome = match self {
            Self::Services(command) => command.run(&context),
            Self::Start(command) => command.run(&mut context),
            Self::Stop(command) => command.run(&mut context),
            Self::Restart(command) => command.run(&mut context),
            Self::Autostart(command) => command.run(&mut context),
            Self::Replan(command) => command.run(&mut context),
            Self::Checks(command) => command.run(&context),
            Self::Check(command) => command.run(&context),
            Self::StartChecks(command) => command.run(&context),
            Self::StopChecks(command) => command.run(&context),
            Self::Health(command) => command.run(&context),
            Self::Alerts(command) => command.run(&context),
            Self::Changes(command) => command.run(&context),
            Self::Tasks(command) => command.run(&context),
            Self::Logs(command) => command.run(&mut context),
            Self::Plan(command) => command.run(&context),
            Self::Add(command) => command.run(&context),
            Self::Signal(command) => command.run(&context),
            Self::SystemInfo(command) => command.run(&context),
            Self::Version(command) => command.run(&context),
            Self::Vigild(command) => command.run(&context),
            Self::Identities(command) => command.run(&context),
            Self::Identity(command) => command.run(&context),
            Self::AddIdentities(command) => command.run(&context),
            Self::UpdateIdentities(command) => command.run(&context),
            Self::RemoveIdentities(command) => command.run(&context),
        };
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(Failure::Usage(error)) => {
                eprintln!("error: {error}");
                ExitCode::from(EXIT_USAGE)
            }
            Err(Failure::Error(message)) => {
                eprintln!("error: {message}");
                ExitCode::from(EXIT_FAILURE)
            }
            Err(Failure::Exit(code)) => ExitCode::from(code),
        }
    }
}

/// What every command gets: the client and the clock.
#[derive(Debug)]
pub struct Context {
    /// The API client.
    pub client: Client,
    /// When the command started: "now" for relative times.
    pub now: SystemTime,
    zone: LocalZone,
}

impl Context {
    fn new(globals: &Globals) -> Result<Self, client::Error> {
        Ok(Self {
            client: Client::new(globals.transport.clone(), globals.credentials.as_ref())?,
            now: SystemTime::now(),
            zone: LocalZone,
        })
    }

    /// How to show times: relative to now, or absolute with `--abs-time`.
    pub fn times(&self, absolute: bool) -> Times<'_> {
        Times::new(self.now, &self.zone, absolute)
    }

    /// From now on, Ctrl-C stops the client's reads with
    /// `Error::Interrupted` instead of ending the process.
    pub fn catch_interrupts(&mut self) -> Outcome {
        let flag = interrupt::catch()
            .map_err(|error| Failure::Error(format!("cannot catch Ctrl-C: {error}")))?;
        self.client.set_interrupt(flag);
        Ok(())
    }
}

/// How a command ends when it does not succeed.
#[derive(Debug)]
pub enum Failure {
    /// A command line that cannot be run: `error: <message>`, exit 2.
    Usage(UsageError),
    /// The request, the connection or the change failed:
    /// `error: <message>`, exit 1.
    Error(String),
    /// Exit with this code; whatever needed saying is said.
    Exit(u8),
}

impl From<UsageError> for Failure {
    fn from(error: UsageError) -> Self {
        Self::Usage(error)
    }
}

impl From<client::Error> for Failure {
    fn from(error: client::Error) -> Self {
        Self::Error(error.to_string())
    }
}

/// The result of a command.
pub type Outcome = Result<(), Failure>;

/// Writes `text` to stdout. A reader that went away (`vigil logs | head`)
/// ends the command quietly with 0, as ripgrep does; other write errors are
/// failures.
pub fn print(text: &str) -> Outcome {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Err(Failure::Exit(0)),
        Err(error) => Err(Failure::Error(format!("cannot write output: {error}"))),
    }
}

/// Prints `reply`'s result in `format` if that is `json` or `yaml`, and says
/// whether it did; for `text`, the command prints its own output.
pub fn print_formatted(format: Format, reply: &Reply) -> Result<bool, Failure> {
    if format == Format::Text {
        return Ok(false);
    }
    let result = reply.raw_result()?;
    if let Some(text) = format.render(&result) {
        print(&text)?;
    }
    Ok(true)
}
