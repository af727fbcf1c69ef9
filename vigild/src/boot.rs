//! From a parsed [`Config`] to a running daemon, and the exit code it ends
//! with.
//!
//! Boot order matters for the promise "a bad configuration is reported before
//! anything is bound or started": the plan is loaded and checked first, and
//! any problem ends the boot with exit code 78 and the full problem list.

use std::process::ExitCode;

use vigil_proto::plan::{self, Built};

use crate::config::Config;
use crate::exit;
use crate::log::Logger;

/// Boots vigild with `config` and returns the code it exits with
/// ([`crate::exit`]).
pub fn run(config: &Config) -> ExitCode {
    let logger = Logger::new(config.log_format, config.log_level);
    let built = match load_plan(config) {
        Ok(built) => built,
        Err(Failure { code, message }) => {
            eprintln!("error: {message}");
            return ExitCode::from(code);
        }
    };
    for warning in &built.warnings {
        logger.warn(warning);
    }
    if config.check_config {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "error: this build of vigild can only check a configuration (--check-config); \
         the supervisor is not part of it yet"
    );
    ExitCode::from(exit::OS_SETUP)
}

/// Why the boot stopped: the exit code and the message after `error: `.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

/// Loads and checks the layers, and checks that every `--args` names a
/// service of the plan.
fn load_plan(config: &Config) -> Result<Built, Failure> {
    if config.create_dirs && !config.layers_dir.exists() {
        create_dir(&config.layers_dir)?;
    }
    let (_, built) = plan::load(&config.layers_dir).map_err(|error| Failure {
        code: exit::CONFIG,
        message: error.render("cannot load plan", "  "),
    })?;
    for group in &config.service_args {
        if !built.plan.services().contains_key(&group.service) {
            return Err(Failure {
                code: exit::CONFIG,
                message: format!("--args names unknown service \"{}\"", group.service),
            });
        }
    }
    Ok(built)
}

/// Creates a directory and its parents with mode 0755.
fn create_dir(path: &std::path::Path) -> Result<(), Failure> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|error| Failure {
            code: exit::OS_SETUP,
            message: format!("cannot create directory {}: {error}", path.display()),
        })
}
