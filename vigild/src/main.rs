//! `vigild`: parses the command line and the environment, then boots.
//!
//! A usage error is one `error: ` line on stderr and exit code 64
//! ([`vigild::exit::USAGE`]), before anything is started.

use std::process::ExitCode;

use vigild::config::{self, Invocation, UsageError};
use vigild::relaunch::Relaunch;
use vigild::{boot, exit};

fn main() -> ExitCode {
    // What a daemon restart executes again, as the kernel gave it to us.
    let relaunch = Relaunch::capture();
    // Before anything else, and above all before any thread exists: the
    // signalfd only sees blocked signals, and threads inherit the mask.
    if let Err(error) = vigild::reactor::signals::block() {
        eprintln!("error: cannot block signals: {error}");
        return ExitCode::from(exit::OS_SETUP);
    }
    match parse() {
        Ok(Invocation::Run(config)) => boot::run(&config, &relaunch),
        Ok(Invocation::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Invocation::Version) => {
            println!("vigild {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(exit::USAGE)
        }
    }
}

/// Reads argv and the environment of this process. Both must be UTF-8: a
/// path that is not would be silently mangled further on.
fn parse() -> Result<Invocation, UsageError> {
    let mut args = Vec::new();
    for (index, arg) in std::env::args_os().enumerate().skip(1) {
        let arg = arg
            .into_string()
            .map_err(|_| UsageError::NotUnicode(format!("argument {index}")))?;
        args.push(arg);
    }
    for name in config::ENVIRONMENT {
        if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(name) {
            return Err(UsageError::NotUnicode((*name).to_owned()));
        }
    }
    Invocation::from_args(&args, &|name| std::env::var(name).ok())
}
