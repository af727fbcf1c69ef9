//! `vigil`: the command-line client of vigild.
//!
//! `main` turns argv into global options and a command, runs the command and
//! exits with its code. The commands (`cmd/`) talk to vigild through
//! `client` (HTTP/1.1 over the Unix socket, or HTTP(S) with `--url`), wait for changes with `wait`,
//! and print with `table`, `time` and `format`. A usage error is one `error: ` line on stderr and
//! exit code 2 (cli.md §2.4); running `vigil` without a command prints the
//! usage on stderr and exits with 2 too.

mod args;
mod client;
mod cmd;
mod format;
mod global;
mod interrupt;
mod json;
mod table;
mod time;
mod wait;

#[cfg(test)]
#[path = "../tests/util/fake.rs"]
mod fake;

use std::process::ExitCode;

use argh::{ArgsInfo, FromArgs};

use crate::args::UsageError;
use crate::cmd::Command;
use crate::global::{Flags, Globals};

/// Exit code of a usage error: unknown command or option, missing or extra
/// argument.
const EXIT_USAGE: u8 = 2;

/// Control vigild, the service supervisor, through its API.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help", "help"),
    note = "Global options may come before or after the command name. Every option that\n\
            takes a value also accepts --option=value; everything after -- is literal.",
    error_code(1, "the request, the connection or the change failed"),
    error_code(2, "invalid command line"),
    error_code(130, "interrupted while waiting for a change")
)]
struct Vigil {
    /// unix socket of vigild [env VIGIL_SOCKET, else PEBBLE_SOCKET; default
    /// $PEBBLE/.pebble.socket, else /run/vigil/vigild.sock]
    #[argh(option, arg_name = "PATH")]
    socket: Option<String>,

    /// reach vigild at this http:// or https:// base URL instead of its
    /// socket [env VIGIL_URL]
    #[argh(option, arg_name = "URL")]
    url: Option<String>,

    /// with https, accept any server certificate [env VIGIL_INSECURE]
    #[argh(switch, short = 'k')]
    insecure: bool,

    /// with https, also trust the CAs in this PEM bundle [env VIGIL_CACERT]
    #[argh(option, arg_name = "FILE")]
    cacert: Option<String>,

    /// with https, present this client certificate (PEM); needs --key [env
    /// VIGIL_CLIENT_CERT]
    #[argh(option, arg_name = "FILE")]
    cert: Option<String>,

    /// the private key of --cert (PEM) [env VIGIL_CLIENT_KEY]
    #[argh(option, arg_name = "FILE")]
    key: Option<String>,

    /// HTTP Basic credentials for every request [env VIGIL_USER]
    #[argh(option, short = 'u', arg_name = "USER:PASS")]
    user: Option<String>,

    /// print "vigil <version>" and exit
    #[argh(switch)]
    version: bool,

    #[argh(subcommand)]
    command: Option<Command>,
}

/// What the command line asks for.
#[derive(Debug)]
enum Invocation {
    /// Print this text on stdout and exit with 0.
    Help(String),
    /// Print `vigil <version>` and exit with 0.
    Version,
    /// No command: print this usage on stderr and exit with 2.
    Usage(String),
    /// Run a command.
    Run(Box<Globals>, Command),
}

fn main() -> ExitCode {
    match parse() {
        Ok(Invocation::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Invocation::Version) => {
            println!("vigil {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Invocation::Usage(text)) => {
            eprint!("{text}");
            ExitCode::from(EXIT_USAGE)
        }
        Ok(Invocation::Run(globals, command)) => command.run(&globals),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Reads this process's argv and environment, which must be UTF-8.
fn parse() -> Result<Invocation, UsageError> {
    let mut args = Vec::new();
    for (index, arg) in std::env::args_os().enumerate().skip(1) {
        let arg = arg
            .into_string()
            .map_err(|_| UsageError::NotUnicode(format!("argument {index}")))?;
        args.push(arg);
    }
    for name in global::ENVIRONMENT {
        if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
            return Err(UsageError::NotUnicode((*name).to_owned()));
        }
    }
    parse_from(&args, &|name| std::env::var(name).ok())
}

/// Parses `args` (without the program name) against the environment `env`.
fn parse_from(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Invocation, UsageError> {
    let argv = args::normalise(args, &Vigil::get_args_info())?;
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let vigil = match Vigil::from_args(&["vigil"], &argv) {
        Ok(vigil) => vigil,
        Err(exit) if exit.status.is_ok() => return Ok(Invocation::Help(tidy_help(exit.output))),
        Err(exit) => return Err(UsageError::from_parser(&exit.output)),
    };
    if vigil.version {
        return Ok(Invocation::Version);
    }
    let flags = Flags {
        socket: vigil.socket,
        url: vigil.url,
        insecure: vigil.insecure,
        cacert: vigil.cacert,
        cert: vigil.cert,
        key: vigil.key,
        user: vigil.user,
    };
    let globals = Globals::resolve(flags, env)?;
    match vigil.command {
        Some(command) => Ok(Invocation::Run(Box::new(globals), command)),
        None => Ok(Invocation::Usage(usage())),
    }
}

/// The top-level help text.
fn usage() -> String {
    match Vigil::from_args(&["vigil"], &["--help"]) {
        Err(exit) => tidy_help(exit.output),
        // `--help` always exits early.
        Ok(_) => String::new(),
    }
}

/// Drops the heading argh prints for a list of commands that is still
/// empty; once a command exists, this changes nothing.
fn tidy_help(text: String) -> String {
    text.replace("\nCommands:\n\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[&str]) -> Result<Invocation, UsageError> {
        let args: Vec<String> = line.iter().map(|arg| (*arg).to_owned()).collect();
        parse_from(&args, &|_| None)
    }

    #[test]
    fn help_lists_the_global_options() {
        for line in [
            &["--help"][..],
            &["-h"],
            &["help"],
            &["--socket=/x", "--help"],
        ] {
            let Ok(Invocation::Help(text)) = parse(line) else {
                panic!("{line:?}")
            };
            for option in [
                "--socket",
                "--url",
                "--insecure",
                "--cacert",
                "--cert",
                "--key",
                "--user",
                "--version",
                "--help",
                "VIGIL_SOCKET",
                "VIGIL_URL",
            ] {
                assert!(
                    text.contains(option),
                    "{line:?}: help lacks {option}:\n{text}"
                );
            }
        }
    }

    #[test]
    fn no_command_is_usage() {
        let Ok(Invocation::Usage(text)) = parse(&[]) else {
            panic!()
        };
        assert!(text.starts_with("Usage: vigil "), "{text}");
        assert!(matches!(
            parse(&["--socket", "/x"]),
            Ok(Invocation::Usage(_))
        ));
    }

    #[test]
    fn version() {
        assert!(matches!(parse(&["--version"]), Ok(Invocation::Version)));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(
            parse(&["--bogus"]).unwrap_err(),
            UsageError::UnknownOption("--bogus".into())
        );
        assert_eq!(
            parse(&["servces"]).unwrap_err(),
            UsageError::UnknownCommand("servces".into())
        );
        assert_eq!(
            parse(&["--socket"]).unwrap_err(),
            UsageError::MissingValue("--socket".into())
        );
        assert_eq!(
            parse(&["--version=1"]).unwrap_err(),
            UsageError::UnexpectedValue("--version".into())
        );
        assert!(matches!(
            parse(&["--socket="]),
            Err(UsageError::InvalidValue { .. })
        ));
        assert_eq!(
            parse(&["--", "x"]).unwrap_err(),
            UsageError::UnexpectedArgument("x".into())
        );
        assert!(matches!(
            parse(&["services", "--cert", "/c.pem"]),
            Err(UsageError::Requires { .. })
        ));
        assert!(matches!(
            parse(&["-u", "nocolon", "services"]),
            Err(UsageError::InvalidValue { .. })
        ));
        assert!(matches!(
            parse(&["--url", "https://h", "-k", "services"]),
            Ok(Invocation::Run(..))
        ));
        assert!(matches!(
            parse(&["services", "-ku", "a:b", "--url=http://h"]),
            Ok(Invocation::Run(..))
        ));
    }
}
