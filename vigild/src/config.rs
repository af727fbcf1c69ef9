//! vigild's command line and environment, turned into one [`Config`].
//!
//! Parsing takes three steps, in the spirit of ripgrep's low and high
//! arguments:
//!
//! 1. [`preprocess`] rewrites argv into what argh understands. It takes out
//!    every `--args SERVICE ARG… ;` group (argh has no lists that end with a
//!    terminator) and splits `--flag=value` into `--flag value` (argh only
//!    knows the second form). It learns which flags take a value from argh's
//!    own description of [`Flags`], so the two can never disagree.
//! 2. argh parses the rest into [`Flags`], which holds the strings as the
//!    user wrote them. Its doc comments are the `--help` text.
//! 3. [`Config::resolve`] takes each setting from its flag, else its
//!    `VIGIL_*` variable, else Pebble's variable, else the built-in default
//!    (cli.md §1.1), and parses every value.
//!
//! Nothing here reads the process's argv or environment: the caller passes
//! both in, so tests use a fake environment. Every problem is a
//! [`UsageError`], which `main` prints as one `error: ` line before exiting
//! with [`crate::exit::USAGE`].

use std::fmt;
use std::path::PathBuf;

use argh::{ArgsInfo, FlagInfoKind, FromArgs};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Where layer files are read from when nothing else says.
pub const DEFAULT_LAYERS_DIR: &str = "/etc/vigil/layers";

/// Where the API socket is bound when nothing else says.
pub const DEFAULT_SOCKET: &str = "/run/vigil/vigild.sock";

/// Where the state file lives when nothing else says.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vigil";

/// Permission bits of the socket file when nothing else says. Pebble's
/// socket is open to every local user too; access levels decide what each
/// caller may do.
pub const DEFAULT_SOCKET_MODE: u32 = 0o666;

/// Size of each service's log ring buffer when nothing else says: a few
/// thousand typical lines, enough for `vigil logs` and for the last lines
/// attached to a failed start.
pub const DEFAULT_LOG_BUFFER_SIZE: usize = 256 * KIB;

/// Smallest accepted log buffer: below this, a handful of long lines (a
/// line may be up to several KiB) would push everything else out.
pub const MIN_LOG_BUFFER_SIZE: usize = 64 * KIB;

/// Largest accepted log buffer: the buffer exists once per service in the
/// memory of PID 1, so a typo such as `256M` for `256K` must not be able to
/// take gigabytes.
pub const MAX_LOG_BUFFER_SIZE: usize = 64 * MIB;

/// Pebble's base directory; its layers and socket live inside.
const PEBBLE: &str = "PEBBLE";

/// Pebble's socket path, beating `$PEBBLE/.pebble.socket`.
const PEBBLE_SOCKET: &str = "PEBBLE_SOCKET";

/// Pebble's switch for in-memory state: `never` keeps identities in memory.
const PEBBLE_PERSIST: &str = "PEBBLE_PERSIST";

/// The flag that [`preprocess`] handles itself.
const ARGS_FLAG: &str = "--args";

/// Ends the list of one `--args` group.
const ARGS_TERMINATOR: &str = ";";

/// A setting that has both a flag and an environment variable.
#[derive(Debug, Clone, Copy)]
struct Setting {
    flag: &'static str,
    env: &'static str,
}

const LAYERS_DIR: Setting = Setting {
    flag: "--layers-dir",
    env: "VIGIL_LAYERS",
};
const SOCKET: Setting = Setting {
    flag: "--socket",
    env: "VIGIL_SOCKET",
};
const SOCKET_MODE: Setting = Setting {
    flag: "--socket-mode",
    env: "VIGIL_SOCKET_MODE",
};
const STATE_DIR: Setting = Setting {
    flag: "--state-dir",
    env: "VIGIL_STATE_DIR",
};
const PERSIST: Setting = Setting {
    flag: "--persist",
    env: "VIGIL_PERSIST",
};
const IDENTITIES: Setting = Setting {
    flag: "--identities",
    env: "VIGIL_IDENTITIES",
};
const CREATE_DIRS: Setting = Setting {
    flag: "--create-dirs",
    env: "VIGIL_CREATE_DIRS",
};
const HOLD: Setting = Setting {
    flag: "--hold",
    env: "VIGIL_HOLD",
};
const REAPER: Setting = Setting {
    flag: "--reaper",
    env: "VIGIL_REAPER",
};
const LOG_FORMAT: Setting = Setting {
    flag: "--log-format",
    env: "VIGIL_LOG_FORMAT",
};
const LOG_LEVEL: Setting = Setting {
    flag: "--log-level",
    env: "VIGIL_LOG_LEVEL",
};
const LOG_BUFFER_SIZE: Setting = Setting {
    flag: "--log-buffer-size",
    env: "VIGIL_LOG_BUFFER_SIZE",
};

const HTTP: Setting = Setting {
    flag: "--http",
    env: "VIGIL_HTTP",
};
const TLS_ADDR: Setting = Setting {
    flag: "--tls-addr",
    env: "VIGIL_TLS_ADDR",
};
const CERT: Setting = Setting {
    flag: "--cert",
    env: "VIGIL_TLS_CERT",
};
/// The older name of `VIGIL_TLS_CERT`, read when that one is unset.
const CERT_FALLBACK: &str = "VIGIL_CERT";
const KEY: Setting = Setting {
    flag: "--key",
    env: "VIGIL_TLS_KEY",
};
/// The older name of `VIGIL_TLS_KEY`, read when that one is unset.
const KEY_FALLBACK: &str = "VIGIL_KEY";
const TLS_CLIENT_CA: Setting = Setting {
    flag: "--tls-client-ca",
    env: "VIGIL_TLS_CLIENT_CA",
};
/// The alias of `--tls-addr` (cli.md §1.1), rewritten by [`preprocess`].
const HTTPS_ALIAS: &str = "--https";

/// Every environment variable that vigild reads, so that `main` can refuse
/// one that is not UTF-8 instead of silently ignoring it.
pub const ENVIRONMENT: &[&str] = &[
    LAYERS_DIR.env,
    SOCKET.env,
    SOCKET_MODE.env,
    STATE_DIR.env,
    PERSIST.env,
    IDENTITIES.env,
    CREATE_DIRS.env,
    HOLD.env,
    REAPER.env,
    LOG_FORMAT.env,
    LOG_LEVEL.env,
    LOG_BUFFER_SIZE.env,
    HTTP.env,
    TLS_ADDR.env,
    CERT.env,
    CERT_FALLBACK,
    KEY.env,
    KEY_FALLBACK,
    TLS_CLIENT_CA.env,
    PEBBLE,
    PEBBLE_SOCKET,
    PEBBLE_PERSIST,
];

/// What the command line asks vigild to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Run the daemon (or only check the configuration) with this config.
    Run(Box<Config>),
    /// Print this usage text on stdout and exit with 0 (`-h`, `--help`).
    Help(String),
    /// Print `vigild <version>` and exit with 0 (`--version`).
    Version,
}

impl Invocation {
    /// Parses vigild's arguments (without the program name) against the
    /// environment `env`, which returns a variable's value or `None` when it
    /// is unset.
    ///
    /// `--help` and `--version` win over the environment: a bad variable
    /// does not stop them.
    pub fn from_args(
        args: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, UsageError> {
        let Preprocessed {
            argv,
            service_args,
            help,
        } = preprocess(args)?;
        // argh refuses flags after `--help`; we print the help wherever it
        // is, as most tools do.
        let argv: Vec<&str> = match help {
            true => vec!["--help"],
            false => argv.iter().map(String::as_str).collect(),
        };
        let flags = match Flags::from_args(&["vigild"], &argv) {
            Ok(flags) => flags,
            Err(exit) if exit.status.is_ok() => return Ok(Self::Help(exit.output)),
            Err(exit) => return Err(UsageError::from_parser(&exit.output)),
        };
        if flags.version {
            return Ok(Self::Version);
        }
        Config::resolve(flags, service_args, &Environment(env))
            .map(|config| Self::Run(Box::new(config)))
    }
}

/// Everything vigild's command line and environment decide, parsed and
/// with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Directory of layer files (`--layers-dir`).
    pub layers_dir: PathBuf,
    /// Path of the API's Unix socket (`--socket`).
    pub socket: PathBuf,
    /// Permission bits of the socket file, at most `0o777` (`--socket-mode`).
    pub socket_mode: u32,
    /// Directory of the state file (`--state-dir`).
    pub state_dir: PathBuf,
    /// Whether identities are read from and written to the state file
    /// (`--persist`).
    pub persist: Persist,
    /// Seed file applied at every boot with replace semantics
    /// (`--identities`).
    pub identities: Option<PathBuf>,
    /// Create the layers and state directories when they are missing
    /// (`--create-dirs`).
    pub create_dirs: bool,
    /// Do not autostart services at boot (`--hold`).
    pub hold: bool,
    /// Replacement arguments per service, in command-line order, each
    /// service at most once (`--args`). Whether the services exist is for
    /// the plan to decide.
    pub service_args: Vec<ServiceArgs>,
    /// Become a child subreaper even when not PID 1 (`--reaper`).
    pub reaper: bool,
    /// Format of vigild's own log on stderr (`--log-format`).
    pub log_format: LogFormat,
    /// Least severe level of vigild's own log that is written (`--log-level`).
    pub log_level: LogLevel,
    /// Bytes in each service's log ring buffer, between
    /// [`MIN_LOG_BUFFER_SIZE`] and [`MAX_LOG_BUFFER_SIZE`]
    /// (`--log-buffer-size`).
    pub log_buffer_size: usize,
    /// Only load and validate the configuration, then exit
    /// (`--check-config`).
    pub check_config: bool,
    /// The TCP listeners and their TLS settings.
    pub listeners: Listeners,
}

/// The API's TCP listeners (api.md §2.2, §2.3), as given: addresses are
/// checked for their form here and bound at boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listeners {
    /// Plain-HTTP address, `host:port`, `:port` or `[v6addr]:port`
    /// (`--http`).
    pub http: Option<String>,
    /// HTTPS address (`--tls-addr`, alias `--https`).
    pub https: Option<String>,
    /// PEM certificate chain and PEM private key of the HTTPS server
    /// (`--cert`, `--key`): both or neither; neither means a self-signed
    /// certificate.
    pub cert_and_key: Option<(PathBuf, PathBuf)>,
    /// PEM bundle that presented client certificates must chain to
    /// (`--tls-client-ca`).
    pub client_ca: Option<PathBuf>,
}

/// One `--args SERVICE ARG… ;` group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceArgs {
    /// The service whose `[ default args ]` group is replaced.
    pub service: String,
    /// The arguments, taken literally: they may look like flags.
    pub args: Vec<String>,
}

/// Whether identities persist in the state file (cli.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// Read the state file at boot and rewrite it after every change.
    Auto,
    /// Keep identities in memory only.
    Never,
}

/// Format of vigild's own log (cli.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `2025-03-01T10:15:30.123Z INFO message`.
    Text,
    /// One JSON object per line.
    Json,
}

/// Levels of vigild's own log, from the most to the least severe, so that a
/// line is written when its level is `<=` the configured one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something is wrong but vigild carries on.
    Warn,
    /// Normal lifecycle events.
    Info,
    /// Detail for diagnosing vigild itself.
    Debug,
}

/// A command line or environment that vigild cannot run with. Each message
/// is one lower-case line naming the flag or variable at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// A flag vigild does not know: a typo, or a flag of another version.
    UnknownFlag(String),
    /// A positional argument; vigild takes none.
    UnexpectedArgument(String),
    /// A flag that takes a value came last, with nothing after it.
    MissingValue(String),
    /// `--flag=value` was written for a switch, which takes no value.
    UnexpectedValue(String),
    /// A flag that takes one value was given twice.
    Repeated(String),
    /// `--args` with no service name after it.
    ArgsWithoutService,
    /// `--args` was given twice for the same service.
    ArgsRepeated(String),
    /// One flag of a pair that goes together (`--cert` and `--key`) was
    /// given without the other.
    Unpaired {
        /// The flag or variable that was given.
        given: Origin,
        /// The flag that is missing.
        missing: &'static str,
    },
    /// A value that does not parse or is out of range.
    InvalidValue {
        /// The flag or variable that held the value.
        origin: Origin,
        /// The value as given.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// An argument or environment variable is not valid UTF-8.
    NotUnicode(String),
    /// Any other complaint of the flag parser, on one line.
    Parser(String),
}

/// Where a value came from, so that an error names what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, such as `--log-format`.
    Flag(&'static str),
    /// An environment variable, such as `VIGIL_LOG_FORMAT`.
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(name) | Self::Env(name) => f.write_str(name),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFlag(flag) => {
                write!(f, "unknown flag {flag} (\"vigild --help\" lists the flags)")
            }
            Self::UnexpectedArgument(arg) => {
                write!(f, "unexpected argument \"{arg}\" (vigild takes flags only)")
            }
            Self::MissingValue(flag) => write!(f, "missing value for {flag}"),
            Self::UnexpectedValue(flag) => write!(f, "{flag} takes no value"),
            Self::Repeated(flag) => write!(f, "{flag} given more than once"),
            Self::Unpaired { given, missing } => {
                write!(f, "{given} needs {missing} too (give both or neither)")
            }
            Self::ArgsWithoutService => {
                write!(
                    f,
                    "{ARGS_FLAG} needs a service name: {ARGS_FLAG} SERVICE ARG... \";\""
                )
            }
            Self::ArgsRepeated(service) => {
                write!(
                    f,
                    "{ARGS_FLAG} given more than once for service \"{service}\""
                )
            }
            Self::InvalidValue {
                origin,
                value,
                expected,
            } => {
                write!(
                    f,
                    "invalid value \"{value}\" for {origin} (expected {expected})"
                )
            }
            Self::NotUnicode(what) => write!(f, "{what} is not valid UTF-8"),
            Self::Parser(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for UsageError {}

impl UsageError {
    /// Rewords one of argh's parse errors in our style. argh's messages are
    /// matched by their text; the unit tests run the real parser, so a
    /// change of wording in argh fails them rather than reaching users.
    fn from_parser(output: &str) -> Self {
        let message = output.trim_end();
        if let Some(arg) = message.strip_prefix("Unrecognized argument: ") {
            return match arg.starts_with('-') {
                true => Self::UnknownFlag(arg.to_owned()),
                false => Self::UnexpectedArgument(arg.to_owned()),
            };
        }
        if let Some(flag) = message
            .strip_prefix("No value provided for option '")
            .and_then(|rest| rest.strip_suffix("'."))
        {
            return Self::MissingValue(flag.to_owned());
        }
        if let Some(rest) = message.strip_prefix("Error parsing option '")
            && rest.ends_with(": duplicate values provided")
            && let Some((flag, _)) = rest.split_once('\'')
        {
            return Self::Repeated(flag.to_owned());
        }
        let one_line: Vec<&str> = message.lines().map(str::trim).collect();
        Self::Parser(lower_first(&one_line.join(" ")))
    }
}

fn lower_first(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Run the vigil daemon: supervise the services of the layers directory and
/// serve the API on a Unix socket.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Every flag that takes a value also accepts --flag=value. A flag beats its\n\
            VIGIL_* variable, which beats PEBBLE and PEBBLE_SOCKET, which beat the\n\
            built-in default. In variables, 1, true and yes mean on; 0, false, no and\n\
            empty mean off.",
    error_code(64, "invalid command line or environment variable"),
    error_code(71, "operating-system setup failed"),
    error_code(78, "invalid configuration")
)]
struct Flags {
    /// directory of layer files [env VIGIL_LAYERS; default $PEBBLE/layers,
    /// else /etc/vigil/layers]
    #[argh(option, arg_name = "DIR")]
    layers_dir: Option<String>,

    /// unix socket of the API [env VIGIL_SOCKET, else PEBBLE_SOCKET; default
    /// $PEBBLE/.pebble.socket, else /run/vigil/vigild.sock]
    #[argh(option, arg_name = "PATH")]
    socket: Option<String>,

    /// permission bits of the socket file, in octal [env VIGIL_SOCKET_MODE;
    /// default 0666]
    #[argh(option, arg_name = "OCTAL")]
    socket_mode: Option<String>,

    /// directory of the state file vigild.state [env VIGIL_STATE_DIR;
    /// default $PEBBLE, else /var/lib/vigil]
    #[argh(option, arg_name = "DIR")]
    state_dir: Option<String>,

    /// auto or never: never keeps identities in memory only [env
    /// VIGIL_PERSIST, else PEBBLE_PERSIST; default auto]
    #[argh(option, arg_name = "MODE")]
    persist: Option<String>,

    /// seed identities from this YAML file at every boot, with replace
    /// semantics [env VIGIL_IDENTITIES]
    #[argh(option, arg_name = "FILE")]
    identities: Option<String>,

    /// create the layers and state directories (mode 0755) when they are
    /// missing [env VIGIL_CREATE_DIRS]
    #[argh(switch)]
    create_dirs: bool,

    /// do not start services at boot [env VIGIL_HOLD]
    #[argh(switch)]
    hold: bool,

    /// replace the service's [ default args ] with ARG...; the list ends at
    /// ";" (quote it in a shell) or at the end of the line; repeatable
    // `preprocess` takes every `--args` group out of argv before argh runs,
    // so this field is always empty: it exists to list the flag in --help.
    #[argh(option, arg_name = "SERVICE ARG... ;")]
    args: Option<String>,

    /// become a child subreaper, reaping orphaned descendants (always on as
    /// PID 1) [env VIGIL_REAPER]
    #[argh(switch)]
    reaper: bool,

    /// format of vigild's own log on stderr: text or json [env
    /// VIGIL_LOG_FORMAT; default text]
    #[argh(option, arg_name = "FORMAT")]
    log_format: Option<String>,

    /// least severe level of vigild's own log: error, warn, info or debug
    /// [env VIGIL_LOG_LEVEL; default info]
    #[argh(option, arg_name = "LEVEL")]
    log_level: Option<String>,

    /// size of each service's log buffer, 64KiB to 64MiB, with an optional
    /// suffix KiB, MiB, K or M [env VIGIL_LOG_BUFFER_SIZE; default 256KiB]
    #[argh(option, arg_name = "SIZE")]
    log_buffer_size: Option<String>,

    /// plain-HTTP listener, host:port, :port or [v6addr]:port; only open
    /// endpoints without credentials [env VIGIL_HTTP]
    #[argh(option, arg_name = "ADDR")]
    http: Option<String>,

    /// HTTPS listener (alias --https), host:port, :port or [v6addr]:port
    /// [env VIGIL_TLS_ADDR]
    #[argh(option, arg_name = "ADDR")]
    tls_addr: Option<String>,

    /// PEM certificate chain of the HTTPS server; without it, a self-signed
    /// certificate is made at start [env VIGIL_TLS_CERT, else VIGIL_CERT]
    #[argh(option, arg_name = "PATH")]
    cert: Option<String>,

    /// PEM private key of the HTTPS server: PKCS#8, PKCS#1 or SEC1 [env
    /// VIGIL_TLS_KEY, else VIGIL_KEY]
    #[argh(option, arg_name = "PATH")]
    key: Option<String>,

    /// PEM bundle that client certificates presented over HTTPS must chain
    /// to [env VIGIL_TLS_CLIENT_CA]
    #[argh(option, arg_name = "PATH")]
    tls_client_ca: Option<String>,

    /// load and validate the configuration, print every problem (or
    /// "configuration is valid"), and exit with 0 or 78
    #[argh(switch)]
    check_config: bool,

    /// print "vigild <version>" and exit
    #[argh(switch)]
    version: bool,
}

/// argv made ready for argh, and what was taken out of it.
#[derive(Debug, PartialEq, Eq)]
struct Preprocessed {
    argv: Vec<String>,
    service_args: Vec<ServiceArgs>,
    /// `-h` or `--help` is present as a flag.
    help: bool,
}

/// How a flag is followed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    /// A switch: nothing follows.
    Switch,
    /// An option: the next argument is its value.
    Value,
}

fn is_help(name: &str) -> bool {
    name == "-h" || name == "--help"
}

fn flag_kind(name: &str) -> Option<FlagKind> {
    if is_help(name) {
        return Some(FlagKind::Switch);
    }
    Flags::get_args_info()
        .flags
        .iter()
        .find(|flag| flag.long == name)
        .map(|flag| match flag.kind {
            FlagInfoKind::Switch => FlagKind::Switch,
            FlagInfoKind::Option { .. } => FlagKind::Value,
        })
}

/// Rewrites argv for argh: takes out each `--args SERVICE ARG… ;` group and
/// splits `--flag=value` into `--flag value`.
///
/// The walk mirrors argh's own: the argument after a flag that takes a value
/// is that value and is copied untouched, even when it looks like a flag.
/// Anything after `--` is a positional argument, which vigild refuses. An
/// `--args` list ends at `;` or, as in Pebble, at the end of argv; its items
/// are never flags.
fn preprocess(args: &[String]) -> Result<Preprocessed, UsageError> {
    let mut argv = Vec::with_capacity(args.len());
    let mut service_args: Vec<ServiceArgs> = Vec::new();
    let mut help = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            // vigild takes no positional arguments, and argh would report
            // one that starts with `-` as an unknown flag.
            return match rest.next() {
                Some(arg) => Err(UsageError::UnexpectedArgument(arg.clone())),
                None => Ok(Preprocessed {
                    argv,
                    service_args,
                    help,
                }),
            };
        }
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        let name = match name {
            HTTPS_ALIAS => TLS_ADDR.flag,
            name => name,
        };
        if name == ARGS_FLAG {
            let service = match inline_value {
                Some(service) => service,
                None => rest.next().map(String::as_str).unwrap_or_default(),
            };
            if service.is_empty() || service == ARGS_TERMINATOR {
                return Err(UsageError::ArgsWithoutService);
            }
            if service_args.iter().any(|group| group.service == service) {
                return Err(UsageError::ArgsRepeated(service.to_owned()));
            }
            let args = rest
                .by_ref()
                .take_while(|arg| *arg != ARGS_TERMINATOR)
                .cloned()
                .collect();
            service_args.push(ServiceArgs {
                service: service.to_owned(),
                args,
            });
            continue;
        }
        help |= is_help(name);
        argv.push(name.to_owned());
        match (flag_kind(name), inline_value) {
            (Some(FlagKind::Switch), Some(_)) => {
                return Err(UsageError::UnexpectedValue(name.to_owned()));
            }
            (Some(FlagKind::Value), None) => argv.extend(rest.next().cloned()),
            // An unknown `--flag=value` keeps its value too; argh then
            // reports the unknown flag by its name alone.
            (_, Some(value)) => argv.push(value.to_owned()),
            (Some(FlagKind::Switch) | None, None) => {}
        }
    }
    Ok(Preprocessed {
        argv,
        service_args,
        help,
    })
}

/// The environment as the caller sees it.
struct Environment<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Environment<'_> {
    /// A variable that holds a value: an empty one counts as unset, as in
    /// Pebble, so `VIGIL_SOCKET=` in a container spec falls back cleanly.
    fn value(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|value| !value.is_empty())
    }

    /// The value of a setting: its flag, else its variable.
    fn pick(&self, flag: Option<String>, setting: Setting) -> Option<(String, Origin)> {
        match flag {
            Some(value) => Some((value, Origin::Flag(setting.flag))),
            None => self
                .value(setting.env)
                .map(|value| (value, Origin::Env(setting.env))),
        }
    }

    /// Like [`pick`](Self::pick), with an older variable read when the
    /// setting's own is unset.
    fn pick_or(
        &self,
        flag: Option<String>,
        setting: Setting,
        fallback: &'static str,
    ) -> Option<(String, Origin)> {
        self.pick(flag, setting).or_else(|| {
            self.value(fallback)
                .map(|value| (value, Origin::Env(fallback)))
        })
    }

    /// A boolean setting: on when its switch is given, else as its variable
    /// says (an empty variable is off), else off.
    fn switch(&self, flag: bool, setting: Setting) -> Result<bool, UsageError> {
        if flag {
            return Ok(true);
        }
        match (self.0)(setting.env) {
            Some(value) => parse_bool(&value, Origin::Env(setting.env)),
            None => Ok(false),
        }
    }
}

impl Config {
    /// Fills every setting from `flags`, else `env`, else the defaults, by
    /// the precedence of cli.md §1.1.
    fn resolve(
        flags: Flags,
        service_args: Vec<ServiceArgs>,
        env: &Environment<'_>,
    ) -> Result<Self, UsageError> {
        // Destructured so that a new flag cannot be forgotten here.
        let Flags {
            layers_dir,
            socket,
            socket_mode,
            state_dir,
            persist,
            identities,
            create_dirs,
            hold,
            args: always_empty,
            reaper,
            log_format,
            log_level,
            log_buffer_size,
            http,
            tls_addr,
            cert,
            key,
            tls_client_ca,
            check_config,
            version: _handled_by_caller,
        } = flags;
        debug_assert_eq!(always_empty, None, "preprocess takes out every --args");

        let pebble_dir = env.value(PEBBLE).map(PathBuf::from);
        let layers_dir = match env.pick(layers_dir, LAYERS_DIR) {
            Some((value, origin)) => parse_path(value, origin)?,
            None => match &pebble_dir {
                Some(pebble_dir) => pebble_dir.join("layers"),
                None => PathBuf::from(DEFAULT_LAYERS_DIR),
            },
        };
        let socket = match env.pick(socket, SOCKET) {
            Some((value, origin)) => parse_path(value, origin)?,
            None => match (env.value(PEBBLE_SOCKET), &pebble_dir) {
                (Some(socket), _) => PathBuf::from(socket),
                (None, Some(pebble_dir)) => pebble_dir.join(".pebble.socket"),
                (None, None) => PathBuf::from(DEFAULT_SOCKET),
            },
        };
        let socket_mode = match env.pick(socket_mode, SOCKET_MODE) {
            Some((value, origin)) => parse_socket_mode(value, origin)?,
            None => DEFAULT_SOCKET_MODE,
        };
        let state_dir = match env.pick(state_dir, STATE_DIR) {
            Some((value, origin)) => parse_path(value, origin)?,
            None => pebble_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
        };
        let persist = match env.pick(persist, PERSIST) {
            Some((value, origin)) => parse_persist(value, origin)?,
            // Pebble only knows "never"; any other value keeps the default.
            None if env.value(PEBBLE_PERSIST).as_deref() == Some("never") => Persist::Never,
            None => Persist::Auto,
        };
        let identities = match env.pick(identities, IDENTITIES) {
            Some((value, origin)) => Some(parse_path(value, origin)?),
            None => None,
        };
        let log_format = match env.pick(log_format, LOG_FORMAT) {
            Some((value, origin)) => parse_log_format(value, origin)?,
            None => LogFormat::Text,
        };
        let log_level = match env.pick(log_level, LOG_LEVEL) {
            Some((value, origin)) => parse_log_level(value, origin)?,
            None => LogLevel::Info,
        };
        let log_buffer_size = match env.pick(log_buffer_size, LOG_BUFFER_SIZE) {
            Some((value, origin)) => parse_log_buffer_size(value, origin)?,
            None => DEFAULT_LOG_BUFFER_SIZE,
        };
        let listeners = Listeners {
            http: match env.pick(http, HTTP) {
                Some((value, origin)) => Some(parse_address(value, origin)?),
                None => None,
            },
            https: match env.pick(tls_addr, TLS_ADDR) {
                Some((value, origin)) => Some(parse_address(value, origin)?),
                None => None,
            },
            cert_and_key: match (
                env.pick_or(cert, CERT, CERT_FALLBACK),
                env.pick_or(key, KEY, KEY_FALLBACK),
            ) {
                (Some((cert, cert_origin)), Some((key, key_origin))) => {
                    Some((parse_path(cert, cert_origin)?, parse_path(key, key_origin)?))
                }
                (Some((_, given)), None) => {
                    return Err(UsageError::Unpaired {
                        given,
                        missing: KEY.flag,
                    });
                }
                (None, Some((_, given))) => {
                    return Err(UsageError::Unpaired {
                        given,
                        missing: CERT.flag,
                    });
                }
                (None, None) => None,
            },
            client_ca: match env.pick(tls_client_ca, TLS_CLIENT_CA) {
                Some((value, origin)) => Some(parse_path(value, origin)?),
                None => None,
            },
        };
        Ok(Self {
            listeners,
            layers_dir,
            socket,
            socket_mode,
            state_dir,
            persist,
            identities,
            create_dirs: env.switch(create_dirs, CREATE_DIRS)?,
            hold: env.switch(hold, HOLD)?,
            service_args,
            reaper: env.switch(reaper, REAPER)?,
            log_format,
            log_level,
            log_buffer_size,
            check_config,
        })
    }
}

fn invalid(origin: Origin, value: impl Into<String>, expected: impl Into<String>) -> UsageError {
    UsageError::InvalidValue {
        origin,
        value: value.into(),
        expected: expected.into(),
    }
}

fn parse_path(value: String, origin: Origin) -> Result<PathBuf, UsageError> {
    match value.is_empty() {
        true => Err(invalid(origin, value, "a path")),
        false => Ok(PathBuf::from(value)),
    }
}

/// `host:port`, `:port` or `[v6addr]:port`.
fn parse_address(value: String, origin: Origin) -> Result<String, UsageError> {
    match crate::reactor::tcp::split_address(&value) {
        Some(_) => Ok(value),
        None => Err(invalid(origin, value, "host:port, :port or [v6addr]:port")),
    }
}

fn parse_bool(value: &str, origin: Origin) -> Result<bool, UsageError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" | "" => Ok(false),
        _ => Err(invalid(
            origin,
            value,
            "1, true or yes for on; 0, false, no or empty for off",
        )),
    }
}

/// Octal permission bits such as `0660` or `660`; no file-type, set-id or
/// sticky bits, which mean nothing on a socket.
fn parse_socket_mode(value: String, origin: Origin) -> Result<u32, UsageError> {
    let is_octal =
        (1..=4).contains(&value.len()) && value.bytes().all(|b| matches!(b, b'0'..=b'7'));
    match u32::from_str_radix(&value, 8) {
        Ok(mode) if is_octal && mode <= 0o777 => Ok(mode),
        _ => Err(invalid(
            origin,
            value,
            "octal permission bits from 0000 to 0777, such as 0660",
        )),
    }
}

fn parse_persist(value: String, origin: Origin) -> Result<Persist, UsageError> {
    match value.as_str() {
        "auto" => Ok(Persist::Auto),
        "never" => Ok(Persist::Never),
        _ => Err(invalid(origin, value, "auto or never")),
    }
}

fn parse_log_format(value: String, origin: Origin) -> Result<LogFormat, UsageError> {
    match value.as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(invalid(origin, value, "text or json")),
    }
}

fn parse_log_level(value: String, origin: Origin) -> Result<LogLevel, UsageError> {
    match value.as_str() {
        "error" => Ok(LogLevel::Error),
        "warn" => Ok(LogLevel::Warn),
        "info" => Ok(LogLevel::Info),
        "debug" => Ok(LogLevel::Debug),
        _ => Err(invalid(origin, value, "error, warn, info or debug")),
    }
}

fn parse_log_buffer_size(value: String, origin: Origin) -> Result<usize, UsageError> {
    let Some(size) = parse_size(&value) else {
        return Err(invalid(
            origin,
            value,
            "a byte count with an optional suffix KiB, MiB, K or M, such as 256KiB",
        ));
    };
    match (MIN_LOG_BUFFER_SIZE..=MAX_LOG_BUFFER_SIZE).contains(&size) {
        true => Ok(size),
        false => Err(invalid(origin, value, "a size from 64KiB to 64MiB")),
    }
}

/// A byte count with an optional binary suffix: `65536`, `256KiB`, `256K`,
/// `1MiB`, `1M`. `None` when it does not parse or overflows.
fn parse_size(value: &str) -> Option<usize> {
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, suffix) = value.split_at(digits_end);
    let unit = match suffix {
        "" => 1,
        "K" | "KiB" => KIB,
        "M" | "MiB" => MIB,
        _ => return None,
    };
    match digits.is_empty() {
        true => None,
        false => digits.parse::<usize>().ok()?.checked_mul(unit),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn args(line: &[&str]) -> Vec<String> {
        line.iter().map(|arg| (*arg).to_owned()).collect()
    }

    fn parse_with(line: &[&str], vars: &[(&str, &str)]) -> Result<Invocation, UsageError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Invocation::from_args(&args(line), &|name| vars.get(name).cloned())
    }

    fn config_with(line: &[&str], vars: &[(&str, &str)]) -> Config {
        match parse_with(line, vars) {
            Ok(Invocation::Run(config)) => *config,
            other => panic!("{line:?} with {vars:?}: expected a config, got {other:?}"),
        }
    }

    fn config(line: &[&str]) -> Config {
        config_with(line, &[])
    }

    fn error_with(line: &[&str], vars: &[(&str, &str)]) -> UsageError {
        match parse_with(line, vars) {
            Err(error) => error,
            other => panic!("{line:?} with {vars:?}: expected an error, got {other:?}"),
        }
    }

    fn error(line: &[&str]) -> UsageError {
        error_with(line, &[])
    }

    fn service_args(service: &str, list: &[&str]) -> ServiceArgs {
        ServiceArgs {
            service: service.to_owned(),
            args: args(list),
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(
            config(&[]),
            Config {
                layers_dir: PathBuf::from("/etc/vigil/layers"),
                socket: PathBuf::from("/run/vigil/vigild.sock"),
                socket_mode: 0o666,
                state_dir: PathBuf::from("/var/lib/vigil"),
                persist: Persist::Auto,
                identities: None,
                create_dirs: false,
                hold: false,
                service_args: vec![],
                reaper: false,
                log_format: LogFormat::Text,
                log_level: LogLevel::Info,
                log_buffer_size: 256 * 1024,
                check_config: false,
                listeners: Listeners::default(),
            }
        );
    }

    #[test]
    fn listeners() {
        let config = config(&[
            "--http",
            ":4000",
            "--https=[::1]:8443",
            "--cert",
            "/c.pem",
            "--key=/k.pem",
            "--tls-client-ca",
            "/ca.pem",
        ]);
        assert_eq!(
            config.listeners,
            Listeners {
                http: Some(":4000".into()),
                https: Some("[::1]:8443".into()),
                cert_and_key: Some(("/c.pem".into(), "/k.pem".into())),
                client_ca: Some("/ca.pem".into()),
            }
        );
        let from_env = config_with(
            &[],
            &[
                ("VIGIL_TLS_ADDR", "localhost:8443"),
                ("VIGIL_CERT", "/old.pem"),
                ("VIGIL_TLS_KEY", "/k.pem"),
            ],
        );
        assert_eq!(from_env.listeners.https.as_deref(), Some("localhost:8443"));
        assert_eq!(
            from_env.listeners.cert_and_key,
            Some(("/old.pem".into(), "/k.pem".into()))
        );
        assert_eq!(
            error(&["--cert", "/c.pem"]).to_string(),
            "--cert needs --key too (give both or neither)"
        );
        assert_eq!(
            error_with(&[], &[("VIGIL_KEY", "/k.pem")]).to_string(),
            "VIGIL_KEY needs --cert too (give both or neither)"
        );
        assert_eq!(
            error(&["--http", "::1:80"]).to_string(),
            "invalid value \"::1:80\" for --http (expected host:port, :port or [v6addr]:port)"
        );
    }

    #[test]
    fn state_and_identities() {
        let flags = config(&[
            "--state-dir",
            "/st",
            "--persist=never",
            "--identities",
            "/i.yaml",
        ]);
        assert_eq!(flags.state_dir, PathBuf::from("/st"));
        assert_eq!(flags.persist, Persist::Never);
        assert_eq!(flags.identities, Some(PathBuf::from("/i.yaml")));
        let pebble = config_with(&[], &[("PEBBLE", "/p"), ("PEBBLE_PERSIST", "never")]);
        assert_eq!(pebble.state_dir, PathBuf::from("/p"));
        assert_eq!(pebble.persist, Persist::Never);
        let vigil = config_with(
            &[],
            &[
                ("PEBBLE_PERSIST", "never"),
                ("VIGIL_PERSIST", "auto"),
                ("VIGIL_STATE_DIR", "/v"),
            ],
        );
        assert_eq!(vigil.persist, Persist::Auto);
        assert_eq!(vigil.state_dir, PathBuf::from("/v"));
        assert!(matches!(
            error(&["--persist", "sometimes"]),
            UsageError::InvalidValue { .. }
        ));
    }

    #[test]
    fn every_flag() {
        let config = config(&[
            "--layers-dir",
            "/l",
            "--socket",
            "/s.sock",
            "--socket-mode",
            "0600",
            "--create-dirs",
            "--hold",
            "--reaper",
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "--log-buffer-size",
            "1MiB",
            "--check-config",
        ]);
        assert_eq!(config.layers_dir, PathBuf::from("/l"));
        assert_eq!(config.socket, PathBuf::from("/s.sock"));
        assert_eq!(config.socket_mode, 0o600);
        assert!(config.create_dirs && config.hold && config.reaper && config.check_config);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.log_level, LogLevel::Debug);
        assert_eq!(config.log_buffer_size, 1024 * 1024);
    }

    #[test]
    fn every_value_flag_accepts_equals() {
        let config = config(&[
            "--layers-dir=/l",
            "--socket=/s=1.sock",
            "--socket-mode=660",
            "--log-format=json",
            "--log-level=warn",
            "--log-buffer-size=64K",
        ]);
        assert_eq!(config.layers_dir, PathBuf::from("/l"));
        assert_eq!(
            config.socket,
            PathBuf::from("/s=1.sock"),
            "only the first = splits"
        );
        assert_eq!(config.socket_mode, 0o660);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.log_level, LogLevel::Warn);
        assert_eq!(config.log_buffer_size, 64 * 1024);
    }

    #[test]
    fn every_variable() {
        let config = config_with(
            &[],
            &[
                ("VIGIL_LAYERS", "/l"),
                ("VIGIL_SOCKET", "/s.sock"),
                ("VIGIL_SOCKET_MODE", "0640"),
                ("VIGIL_CREATE_DIRS", "1"),
                ("VIGIL_HOLD", "yes"),
                ("VIGIL_REAPER", "true"),
                ("VIGIL_LOG_FORMAT", "json"),
                ("VIGIL_LOG_LEVEL", "error"),
                ("VIGIL_LOG_BUFFER_SIZE", "2M"),
            ],
        );
        assert_eq!(config.layers_dir, PathBuf::from("/l"));
        assert_eq!(config.socket, PathBuf::from("/s.sock"));
        assert_eq!(config.socket_mode, 0o640);
        assert!(config.create_dirs && config.hold && config.reaper);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.log_level, LogLevel::Error);
        assert_eq!(config.log_buffer_size, 2 * 1024 * 1024);
    }

    #[test]
    fn flag_beats_vigil_variable_beats_pebble() {
        let vars = [
            ("VIGIL_LAYERS", "/vigil/layers"),
            ("VIGIL_SOCKET", "/vigil.sock"),
            ("PEBBLE", "/pebble"),
            ("PEBBLE_SOCKET", "/pebble-socket.sock"),
            ("VIGIL_LOG_LEVEL", "debug"),
        ];
        let config = config_with(
            &[
                "--layers-dir",
                "/flag/layers",
                "--socket",
                "/flag.sock",
                "--log-level",
                "warn",
            ],
            &vars,
        );
        assert_eq!(config.layers_dir, PathBuf::from("/flag/layers"));
        assert_eq!(config.socket, PathBuf::from("/flag.sock"));
        assert_eq!(config.log_level, LogLevel::Warn);

        let config = config_with(&[], &vars);
        assert_eq!(config.layers_dir, PathBuf::from("/vigil/layers"));
        assert_eq!(config.socket, PathBuf::from("/vigil.sock"));
        assert_eq!(config.log_level, LogLevel::Debug);
    }

    #[test]
    fn pebble_directory_gives_layers_and_socket() {
        let config = config_with(&[], &[("PEBBLE", "/var/tmp/pebble")]);
        assert_eq!(config.layers_dir, PathBuf::from("/var/tmp/pebble/layers"));
        assert_eq!(
            config.socket,
            PathBuf::from("/var/tmp/pebble/.pebble.socket")
        );
    }

    #[test]
    fn pebble_socket_beats_pebble_directory() {
        let vars = [("PEBBLE", "/p"), ("PEBBLE_SOCKET", "/elsewhere.sock")];
        let config = config_with(&[], &vars);
        assert_eq!(config.socket, PathBuf::from("/elsewhere.sock"));
        assert_eq!(config.layers_dir, PathBuf::from("/p/layers"));

        let config = config_with(&[], &[("PEBBLE_SOCKET", "/only.sock")]);
        assert_eq!(config.socket, PathBuf::from("/only.sock"));
        assert_eq!(config.layers_dir, PathBuf::from(DEFAULT_LAYERS_DIR));
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let vars = [
            ("VIGIL_LAYERS", ""),
            ("VIGIL_SOCKET", ""),
            ("PEBBLE", "/p"),
            ("VIGIL_LOG_FORMAT", ""),
        ];
        let config = config_with(&[], &vars);
        assert_eq!(config.layers_dir, PathBuf::from("/p/layers"));
        assert_eq!(config.socket, PathBuf::from("/p/.pebble.socket"));
        assert_eq!(config.log_format, LogFormat::Text);

        let config = config_with(&[], &[("PEBBLE", ""), ("PEBBLE_SOCKET", "")]);
        assert_eq!(config.socket, PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn boolean_variables() {
        for (value, expected) in [
            ("1", true),
            ("true", true),
            ("yes", true),
            ("TRUE", true),
            ("0", false),
            ("false", false),
            ("no", false),
            ("", false),
        ] {
            let config = config_with(&[], &[("VIGIL_HOLD", value)]);
            assert_eq!(config.hold, expected, "VIGIL_HOLD={value:?}");
        }
        assert_eq!(
            error_with(&[], &[("VIGIL_CREATE_DIRS", "maybe")]).to_string(),
            "invalid value \"maybe\" for VIGIL_CREATE_DIRS \
             (expected 1, true or yes for on; 0, false, no or empty for off)"
        );
        assert!(matches!(
            error_with(&[], &[("VIGIL_REAPER", "2")]),
            UsageError::InvalidValue {
                origin: Origin::Env("VIGIL_REAPER"),
                ..
            }
        ));
    }

    #[test]
    fn switch_beats_a_false_variable() {
        let config = config_with(&["--hold"], &[("VIGIL_HOLD", "0")]);
        assert!(config.hold);
    }

    #[test]
    fn switch_with_a_value_is_an_error() {
        assert_eq!(
            error(&["--hold=true"]),
            UsageError::UnexpectedValue("--hold".into())
        );
        assert_eq!(error(&["--hold=true"]).to_string(), "--hold takes no value");
        assert_eq!(
            error(&["--help=1"]),
            UsageError::UnexpectedValue("--help".into())
        );
    }

    #[test]
    fn args_groups() {
        let config = config(&[
            "--args",
            "web",
            "--port",
            "8080",
            ";",
            "--hold",
            "--args=db",
            "-x",
            "--args",
            ";",
        ]);
        assert_eq!(
            config.service_args,
            vec![
                service_args("web", &["--port", "8080"]),
                service_args("db", &["-x", "--args"]),
            ]
        );
        assert!(config.hold);
    }

    #[test]
    fn args_list_may_be_empty_or_end_with_argv() {
        let config = config(&["--args", "web", ";", "--args", "db", "serve", "--debug"]);
        assert_eq!(
            config.service_args,
            vec![
                service_args("web", &[]),
                service_args("db", &["serve", "--debug"])
            ]
        );
    }

    #[test]
    fn args_errors() {
        assert_eq!(error(&["--args"]), UsageError::ArgsWithoutService);
        assert_eq!(error(&["--args", ";"]), UsageError::ArgsWithoutService);
        assert_eq!(error(&["--args="]), UsageError::ArgsWithoutService);
        assert_eq!(
            error(&["--args", "web", "a", ";", "--args", "web", "b", ";"]),
            UsageError::ArgsRepeated("web".into())
        );
        assert_eq!(
            error(&["--args", "web", ";", "--args", "web"]).to_string(),
            "--args given more than once for service \"web\""
        );
    }

    #[test]
    fn a_value_that_looks_like_a_flag_is_still_a_value() {
        let config = config(&["--socket", "--args", "--layers-dir", "--hold=1"]);
        assert_eq!(config.socket, PathBuf::from("--args"));
        assert_eq!(config.layers_dir, PathBuf::from("--hold=1"));
        assert!(config.service_args.is_empty());
    }

    #[test]
    fn unknown_flags() {
        assert_eq!(
            error(&["--bogus"]),
            UsageError::UnknownFlag("--bogus".into())
        );
        assert_eq!(
            error(&["--bogus=1"]),
            UsageError::UnknownFlag("--bogus".into())
        );
        assert_eq!(error(&["-x"]), UsageError::UnknownFlag("-x".into()));
        assert_eq!(
            error(&["--hold", "--stat-dir", "/x"]).to_string(),
            "unknown flag --stat-dir (\"vigild --help\" lists the flags)"
        );
    }

    #[test]
    fn positional_arguments_are_rejected() {
        assert_eq!(
            error(&["run"]),
            UsageError::UnexpectedArgument("run".into())
        );
        assert_eq!(
            error(&["--", "--hold"]),
            UsageError::UnexpectedArgument("--hold".into())
        );
        assert_eq!(
            error(&["run"]).to_string(),
            "unexpected argument \"run\" (vigild takes flags only)"
        );
    }

    #[test]
    fn missing_value() {
        assert_eq!(
            error(&["--socket"]),
            UsageError::MissingValue("--socket".into())
        );
        assert_eq!(
            error(&["--hold", "--log-level"]).to_string(),
            "missing value for --log-level"
        );
    }

    #[test]
    fn repeated_value_flag() {
        assert_eq!(
            error(&["--socket", "/a", "--socket=/b"]),
            UsageError::Repeated("--socket".into())
        );
        assert_eq!(
            error(&["--log-level", "info", "--log-level", "debug"]).to_string(),
            "--log-level given more than once"
        );
    }

    #[test]
    fn repeated_switch_is_harmless() {
        assert!(config(&["--hold", "--hold"]).hold);
    }

    #[test]
    fn empty_flag_values() {
        assert_eq!(
            error(&["--layers-dir="]).to_string(),
            "invalid value \"\" for --layers-dir (expected a path)"
        );
        assert!(matches!(
            error(&["--socket", ""]),
            UsageError::InvalidValue {
                origin: Origin::Flag("--socket"),
                ..
            }
        ));
        assert!(matches!(
            error(&["--log-format="]),
            UsageError::InvalidValue { .. }
        ));
    }

    #[test]
    fn log_format() {
        assert_eq!(
            error(&["--log-format=yaml"]).to_string(),
            "invalid value \"yaml\" for --log-format (expected text or json)"
        );
        assert_eq!(
            error_with(&[], &[("VIGIL_LOG_FORMAT", "JSON")]).to_string(),
            "invalid value \"JSON\" for VIGIL_LOG_FORMAT (expected text or json)"
        );
        assert_eq!(
            config(&["--log-format", "text"]).log_format,
            LogFormat::Text
        );
    }

    #[test]
    fn log_level() {
        for (value, level) in [
            ("error", LogLevel::Error),
            ("warn", LogLevel::Warn),
            ("info", LogLevel::Info),
            ("debug", LogLevel::Debug),
        ] {
            assert_eq!(config(&["--log-level", value]).log_level, level);
        }
        assert!(LogLevel::Error < LogLevel::Warn && LogLevel::Info < LogLevel::Debug);
        assert_eq!(
            error(&["--log-level", "warning"]).to_string(),
            "invalid value \"warning\" for --log-level (expected error, warn, info or debug)"
        );
        assert!(matches!(
            error_with(&[], &[("VIGIL_LOG_LEVEL", "trace")]),
            UsageError::InvalidValue {
                origin: Origin::Env("VIGIL_LOG_LEVEL"),
                ..
            }
        ));
    }

    #[test]
    fn log_buffer_sizes() {
        for (value, bytes) in [
            ("65536", 64 * 1024),
            ("64KiB", 64 * 1024),
            ("256K", 256 * 1024),
            ("1MiB", 1024 * 1024),
            ("64M", 64 * 1024 * 1024),
            ("67108864", 64 * 1024 * 1024),
        ] {
            assert_eq!(
                config(&["--log-buffer-size", value]).log_buffer_size,
                bytes,
                "{value}"
            );
        }
    }

    #[test]
    fn log_buffer_size_errors() {
        let syntax = "a byte count with an optional suffix KiB, MiB, K or M, such as 256KiB";
        for value in [
            "",
            "KiB",
            "1.5MiB",
            "256 KiB",
            "256kb",
            "256k",
            "1G",
            "-1",
            "99999999999999999999M",
        ] {
            assert_eq!(
                error(&["--log-buffer-size", value]),
                invalid(Origin::Flag("--log-buffer-size"), value, syntax),
                "{value:?}"
            );
        }
        for value in ["65535", "63K", "65M", "67108865"] {
            assert_eq!(
                error_with(&[], &[("VIGIL_LOG_BUFFER_SIZE", value)]).to_string(),
                format!(
                    "invalid value \"{value}\" for VIGIL_LOG_BUFFER_SIZE \
                     (expected a size from 64KiB to 64MiB)"
                )
            );
        }
    }

    #[test]
    fn socket_modes() {
        for (value, mode) in [("0666", 0o666), ("660", 0o660), ("0", 0), ("0777", 0o777)] {
            assert_eq!(
                config(&["--socket-mode", value]).socket_mode,
                mode,
                "{value}"
            );
        }
        for value in ["", "0o660", "888", "1777", "06660", "rw-rw-rw-", "+660"] {
            assert!(
                matches!(
                    error(&["--socket-mode", value]),
                    UsageError::InvalidValue {
                        origin: Origin::Flag("--socket-mode"),
                        ..
                    }
                ),
                "{value:?}"
            );
        }
        assert_eq!(
            error_with(&[], &[("VIGIL_SOCKET_MODE", "999")]).to_string(),
            "invalid value \"999\" for VIGIL_SOCKET_MODE \
             (expected octal permission bits from 0000 to 0777, such as 0660)"
        );
    }

    #[test]
    fn help_lists_every_flag() {
        for line in [&["--help"][..], &["-h"], &["--socket", "/x", "--help"]] {
            let Ok(Invocation::Help(text)) = parse_with(line, &[]) else {
                panic!("{line:?} is not help");
            };
            for flag in [
                "--layers-dir",
                "--socket",
                "--socket-mode",
                "--create-dirs",
                "--hold",
                "--args",
                "--reaper",
                "--log-format",
                "--log-level",
                "--log-buffer-size",
                "--check-config",
                "--version",
                "--help",
                "VIGIL_LAYERS",
            ] {
                assert!(text.contains(flag), "help lacks {flag}:\n{text}");
            }
        }
    }

    #[test]
    fn help_and_version_ignore_bad_variables() {
        let vars = [("VIGIL_LOG_FORMAT", "yaml"), ("VIGIL_HOLD", "maybe")];
        assert_eq!(parse_with(&["--version"], &vars), Ok(Invocation::Version));
        assert!(matches!(
            parse_with(&["--help"], &vars),
            Ok(Invocation::Help(_))
        ));
        assert_eq!(
            parse_with(&["--hold", "--version=1"], &vars),
            Err(UsageError::UnexpectedValue("--version".into()))
        );
    }

    #[test]
    fn help_wins_wherever_it_is() {
        for line in [
            &["--hold", "--help"][..],
            &["--help", "--hold"],
            &["--bogus", "-h"],
        ] {
            assert!(
                matches!(parse_with(line, &[]), Ok(Invocation::Help(_))),
                "{line:?}"
            );
        }
        // Not when it is a value or an item of an --args list.
        assert_eq!(
            config(&["--socket", "--help"]).socket,
            PathBuf::from("--help")
        );
        assert_eq!(
            config(&["--args", "web", "-h", ";"]).service_args,
            vec![service_args("web", &["-h"])]
        );
    }

    #[test]
    fn other_parser_errors_become_one_lower_case_line() {
        let error = UsageError::from_parser("Required options not provided:\n    --x\n");
        assert_eq!(
            error,
            UsageError::Parser("required options not provided: --x".into())
        );
    }

    #[test]
    fn every_listed_variable_is_read() {
        // Paths take any value; Pebble's variables are covered above.
        let no_syntax = [
            "VIGIL_LAYERS",
            "VIGIL_SOCKET",
            "VIGIL_TLS_CERT",
            "VIGIL_CERT",
            "VIGIL_TLS_KEY",
            "VIGIL_KEY",
            "VIGIL_TLS_CLIENT_CA",
            "PEBBLE",
            "PEBBLE_SOCKET",
            "VIGIL_STATE_DIR",
            "VIGIL_IDENTITIES",
            "PEBBLE_PERSIST",
        ];
        for name in ENVIRONMENT.iter().filter(|name| !no_syntax.contains(name)) {
            assert!(
                matches!(
                    error_with(&[], &[(name, "?")]),
                    UsageError::InvalidValue { origin: Origin::Env(origin), .. } if origin == *name
                ),
                "{name} is not read"
            );
        }
    }
}
