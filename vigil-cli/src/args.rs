//! argv made ready for argh, and usage errors.
//!
//! argh parses `--opt value` but not `--opt=value` nor combined short flags
//! (`-fn 5`), and it only accepts an option at the level that declares it,
//! while cli.md §2.1 lets a global option come before or after the command
//! name. [`normalise`] rewrites argv so that argh sees what it understands.
//! It learns every level's flags and commands from argh's own description
//! (`ArgsInfo`), so the rewrite and the parser can never disagree, and new
//! commands need nothing here.

use std::collections::VecDeque;
use std::fmt;

use argh::{CommandInfoWithArgs, FlagInfoKind};

/// A command line that `vigil` refuses: it exits with 2 (cli.md §2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// The first argument that is not an option names no command.
    UnknownCommand(String),
    /// An option that this command (and the global options) do not have.
    UnknownOption(String),
    /// An argument that the command does not take.
    UnexpectedArgument(String),
    /// A positional argument that must be given at least once, such as
    /// `SERVICE` for `vigil start`.
    MissingArgument(&'static str),
    /// An option that takes a value came last, with nothing after it.
    MissingValue(String),
    /// `--opt=value` was written for a switch, which takes no value.
    UnexpectedValue(String),
    /// An option that takes one value was given twice.
    Repeated(String),
    /// A value that is not acceptable.
    InvalidValue {
        /// The option, such as `--socket`.
        option: String,
        /// The value as given.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// An option (or variable) that is useless without another one, such as
    /// `--cert` without `--key`.
    Requires {
        /// The option or variable given.
        option: &'static str,
        /// What it needs too.
        needs: &'static str,
    },
    /// An argument or environment variable is not valid UTF-8.
    NotUnicode(String),
    /// Any other complaint of the parser, on one line.
    Parser(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownCommand(name) => {
                write!(
                    f,
                    "unknown command \"{name}\" (\"vigil help\" lists the commands)"
                )
            }
            Self::UnknownOption(option) => write!(f, "unknown option {option}"),
            Self::UnexpectedArgument(arg) => write!(f, "unexpected argument \"{arg}\""),
            Self::MissingArgument(name) => write!(f, "missing argument {name}"),
            Self::MissingValue(option) => write!(f, "missing value for {option}"),
            Self::UnexpectedValue(option) => write!(f, "{option} takes no value"),
            Self::Repeated(option) => write!(f, "{option} given more than once"),
            Self::InvalidValue {
                option,
                value,
                expected,
            } => {
                write!(
                    f,
                    "invalid value \"{value}\" for {option} (expected {expected})"
                )
            }
            Self::Requires { option, needs } => write!(f, "{option} requires {needs}"),
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
    pub fn from_parser(output: &str) -> Self {
        let message = output.trim_end();
        if let Some(arg) = message.strip_prefix("Unrecognized argument: ") {
            return match arg.starts_with('-') {
                true => Self::UnknownOption(arg.to_owned()),
                false => Self::UnexpectedArgument(arg.to_owned()),
            };
        }
        if let Some(option) = message
            .strip_prefix("No value provided for option '")
            .and_then(|rest| rest.strip_suffix("'."))
        {
            return Self::MissingValue(option.to_owned());
        }
        if let Some(rest) = message.strip_prefix("Error parsing option '")
            && rest.ends_with(": duplicate values provided")
            && let Some((option, _)) = rest.split_once('\'')
        {
            return Self::Repeated(option.to_owned());
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

/// Triggers of help at the top level: `vigil help [COMMAND]` as in Pebble.
pub const HELP_TRIGGERS: &[&str] = &["-h", "--help", "help"];

/// How a flag is followed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    /// A switch: nothing follows.
    Switch,
    /// An option: the next argument is its value.
    Value,
}

/// The kind of flag `name` (`--long` or `-s`) at one level, if it has it.
fn flag_kind(level: &CommandInfoWithArgs, name: &str) -> Option<FlagKind> {
    if name == "-h" || name == "--help" {
        return Some(FlagKind::Switch);
    }
    let mut short = [0; 4];
    level
        .flags
        .iter()
        .find(|flag| {
            flag.long == name
                || flag
                    .short
                    .is_some_and(|c| name.strip_prefix('-') == Some(c.encode_utf8(&mut short)))
        })
        .map(|flag| match flag.kind {
            FlagInfoKind::Switch => FlagKind::Switch,
            FlagInfoKind::Option { .. } => FlagKind::Value,
        })
}

/// Rewrites argv (without the program name) for argh, given the top-level
/// description `top` whose flags are the global options:
///
/// - `--opt=value` becomes `--opt value`; for a switch it is an error;
/// - combined short flags become separate ones: `-fn5` becomes `-f -n 5`
///   when `-f` is a switch and `-n` takes a value, and `-n=5` becomes
///   `-n 5`;
/// - global options found after the command name move to the front, unless
///   the command has an option of the same name;
/// - the first argument that is not an option must name a command (or be
///   `help`), and each later one that names a subcommand enters it.
///
/// - a bare `-` is a positional argument (`vigil add web -` reads stdin),
///   but argh takes anything that starts with `-` for an option: when one is
///   present, the positional arguments move after a `--`, in their order.
///
/// The walk mirrors argh's: the argument after an option that takes a value
/// is that value and is copied untouched, even when it looks like an option,
/// and everything after `--` is copied untouched.
pub fn normalise(args: &[String], top: &CommandInfoWithArgs) -> Result<Vec<String>, UsageError> {
    let mut globals = Vec::new();
    let mut rest = Vec::new();
    // Where positional arguments (not command names) sit in `rest`, and
    // where a `--` given on the command line sits.
    let mut positionals = Vec::new();
    let mut end_of_options = None;
    // The innermost command named so far; `None` before the command name.
    let mut level: Option<&CommandInfoWithArgs> = None;
    let mut input: VecDeque<String> = args.iter().cloned().collect();
    while let Some(arg) = input.pop_front() {
        if arg == "--" {
            end_of_options = Some(rest.len());
            rest.push(arg);
            rest.extend(input.drain(..));
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            let commands = level.map_or(&top.commands, |level| &level.commands);
            match commands.iter().find(|command| command.name == arg) {
                Some(command) => level = Some(&command.command),
                None if level.is_none() && !HELP_TRIGGERS.contains(&arg.as_str()) => {
                    return Err(UsageError::UnknownCommand(arg));
                }
                None => positionals.push(rest.len()),
            }
            rest.push(arg);
            continue;
        }
        if let Some(expanded) = split_short_cluster(&arg, level, top) {
            for token in expanded.into_iter().rev() {
                input.push_front(token);
            }
            continue;
        }
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        let (out, kind) = match level.and_then(|level| flag_kind(level, name)) {
            Some(kind) => (&mut rest, Some(kind)),
            None => match flag_kind(top, name) {
                Some(kind) => (&mut globals, Some(kind)),
                None => (&mut rest, None),
            },
        };
        out.push(name.to_owned());
        match (kind, inline_value) {
            (Some(FlagKind::Switch), Some(_)) => {
                return Err(UsageError::UnexpectedValue(name.to_owned()));
            }
            (Some(FlagKind::Value), None) => match input.pop_front() {
                Some(value) => out.push(value),
                // Said here: a global option moved to the front would take
                // the command name as its value.
                None => return Err(UsageError::MissingValue(name.to_owned())),
            },
            // An unknown `--opt=value` keeps its value too; argh then
            // reports the unknown option by its name alone.
            (_, Some(value)) => out.push(value.to_owned()),
            (Some(FlagKind::Switch) | None, None) => {}
        }
    }
    // A greedy positional (`exec`'s command) takes `-` and the options
    // around it as they are.
    let greedy = level.is_some_and(|level| {
        level
            .positionals
            .iter()
            .any(|p| p.optionality == argh::Optionality::Greedy)
    });
    if !greedy && positionals.iter().any(|&at| rest[at] == "-") {
        rest = positionals_last(rest, &positionals, end_of_options);
    }
    globals.append(&mut rest);
    Ok(globals)
}

/// `rest` with the arguments at `positionals` moved after a `--`, followed
/// by whatever came after the command line's own `--` (at `end_of_options`).
fn positionals_last(
    rest: Vec<String>,
    positionals: &[usize],
    end_of_options: Option<usize>,
) -> Vec<String> {
    let end = end_of_options.unwrap_or(rest.len());
    let mut options = Vec::new();
    let mut moved = Vec::new();
    let mut tail = Vec::new();
    for (at, arg) in rest.into_iter().enumerate() {
        if at > end {
            tail.push(arg);
        } else if at == end {
            // The command line's own `--`: the one added below replaces it.
        } else if positionals.contains(&at) {
            moved.push(arg);
        } else {
            options.push(arg);
        }
    }
    options.push("--".to_owned());
    options.extend(moved);
    options.extend(tail);
    options
}

/// Splits `-fn5` (or `-fn=5`) into `-f`, `-n`, `5` when every letter up to the first
/// option is a known short flag at `level` or among the global options.
/// `None` leaves the argument alone: it is a single flag, or argh will
/// report it as unknown.
fn split_short_cluster(
    arg: &str,
    level: Option<&CommandInfoWithArgs>,
    top: &CommandInfoWithArgs,
) -> Option<Vec<String>> {
    let letters = arg
        .strip_prefix('-')
        .filter(|letters| !letters.starts_with('-'))?;
    if letters.chars().count() < 2 {
        return None;
    }
    let mut tokens = Vec::new();
    for (index, letter) in letters.char_indices() {
        let flag = format!("-{letter}");
        let kind = level
            .and_then(|level| flag_kind(level, &flag))
            .or_else(|| flag_kind(top, &flag))?;
        tokens.push(flag);
        if kind == FlagKind::Value {
            let value = &letters[index + letter.len_utf8()..];
            let value = value.strip_prefix('=').unwrap_or(value);
            if !value.is_empty() {
                tokens.push(value.to_owned());
            }
            break;
        }
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use argh::{ArgsInfo, FromArgs};

    use super::*;

    /// A stand-in command tree, since vigil has no commands yet.
    #[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
    #[argh(help_triggers("-h", "--help", "help"))]
    /// Test tool.
    struct Top {
        /// socket
        #[argh(option)]
        socket: Option<String>,
        /// verbose
        #[argh(switch, short = 'v')]
        verbose: bool,
        #[argh(subcommand)]
        command: Option<Sub>,
    }

    #[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
    #[argh(subcommand)]
    enum Sub {
        Logs(Logs),
        Exec(Exec),
        Ids(Ids),
    }

    /// Logs.
    #[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
    #[argh(subcommand, name = "logs")]
    struct Logs {
        /// follow
        #[argh(switch, short = 'f')]
        follow: bool,
        /// lines
        #[argh(option, short = 'n')]
        n: Option<String>,
        /// format
        #[argh(option)]
        format: Option<String>,
        /// services
        #[argh(positional)]
        services: Vec<String>,
    }

    /// Exec.
    #[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
    #[argh(subcommand, name = "exec")]
    struct Exec {
        /// a command option that shadows the global one
        #[argh(option)]
        socket: Option<String>,
        /// command
        #[argh(positional, greedy)]
        command: Vec<String>,
    }

    /// Identities.
    #[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
    #[argh(subcommand, name = "ids")]
    struct Ids {
        #[argh(subcommand)]
        command: Option<IdsSub>,
    }

    #[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
    #[argh(subcommand)]
    enum IdsSub {
        Add(IdsAdd),
    }

    /// Add.
    #[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
    #[argh(subcommand, name = "add")]
    struct IdsAdd {
        /// file
        #[argh(option)]
        from: String,
    }

    fn strings(line: &[&str]) -> Vec<String> {
        line.iter().map(|arg| (*arg).to_owned()).collect()
    }

    fn normalised(line: &[&str]) -> Result<Vec<String>, UsageError> {
        normalise(&strings(line), &Top::get_args_info())
    }

    fn parse(line: &[&str]) -> Result<Top, UsageError> {
        let argv = normalised(line)?;
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Top::from_args(&["test"], &argv).map_err(|exit| UsageError::from_parser(&exit.output))
    }

    fn logs(n: Option<&str>, follow: bool, services: &[&str]) -> Option<Sub> {
        Some(Sub::Logs(Logs {
            follow,
            n: n.map(str::to_owned),
            format: None,
            services: strings(services),
        }))
    }

    #[test]
    fn a_bare_dash_is_a_positional() {
        assert_eq!(
            normalised(&["logs", "web", "-", "-f"]),
            Ok(strings(&["logs", "-f", "--", "web", "-"]))
        );
        assert_eq!(
            parse(&["logs", "-", "--socket", "/s", "x", "--", "-n"]),
            Ok(Top {
                socket: Some("/s".into()),
                verbose: false,
                command: logs(None, false, &["-", "x", "-n"]),
            })
        );
        // A greedy positional keeps everything in place.
        assert_eq!(
            normalised(&["exec", "cat", "-", "-n"]),
            Ok(strings(&["exec", "cat", "-", "-n"]))
        );
    }

    #[test]
    fn global_options_before_or_after_the_command() {
        let expected = Top {
            socket: Some("/s".into()),
            verbose: true,
            command: logs(None, false, &["web"]),
        };
        assert_eq!(
            parse(&["--socket", "/s", "-v", "logs", "web"]),
            Ok(expected)
        );
        let expected = Top {
            socket: Some("/s".into()),
            verbose: true,
            command: logs(None, false, &["web"]),
        };
        assert_eq!(
            parse(&["logs", "web", "--socket", "/s", "-v"]),
            Ok(expected)
        );
        assert_eq!(
            normalised(&["logs", "--socket=/s", "web"]),
            Ok(strings(&["--socket", "/s", "logs", "web"]))
        );
    }

    #[test]
    fn equals_form() {
        let top = parse(&["--socket=/a=b", "logs", "-n=5", "--format=json"]);
        let Ok(Top {
            socket,
            command: Some(Sub::Logs(logs)),
            ..
        }) = top
        else {
            panic!("{top:?}")
        };
        assert_eq!(socket.as_deref(), Some("/a=b"));
        assert_eq!(logs.n.as_deref(), Some("5"));
        assert_eq!(logs.format.as_deref(), Some("json"));
    }

    #[test]
    fn combined_short_flags() {
        assert_eq!(
            parse(&["logs", "-fn", "5"]).map(|top| top.command),
            Ok(logs(Some("5"), true, &[]))
        );
        assert_eq!(
            parse(&["logs", "-fn5"]).map(|top| top.command),
            Ok(logs(Some("5"), true, &[]))
        );
        assert_eq!(parse(&["logs", "-vf"]).map(|top| top.verbose), Ok(true));
        assert_eq!(
            parse(&["logs", "-fx"]),
            Err(UsageError::UnknownOption("-fx".into()))
        );
    }

    #[test]
    fn a_value_that_looks_like_an_option_is_still_a_value() {
        assert_eq!(
            parse(&["logs", "-n", "--socket", "--format", "-v"]).map(|top| top.command),
            Ok(Some(Sub::Logs(Logs {
                follow: false,
                n: Some("--socket".into()),
                format: Some("-v".into()),
                services: vec![],
            })))
        );
    }

    #[test]
    fn everything_after_double_dash_is_literal() {
        let top = parse(&["exec", "--", "ls", "--socket", "-v", "--x=1"]).unwrap();
        assert_eq!(
            top.command,
            Some(Sub::Exec(Exec {
                socket: None,
                command: strings(&["ls", "--socket", "-v", "--x=1"])
            }))
        );
        assert_eq!(top.socket, None);
        assert!(!top.verbose);
    }

    #[test]
    fn a_command_option_shadows_a_global_one() {
        let top = parse(&["exec", "--socket", "/c", "--", "true"]).unwrap();
        assert_eq!(top.socket, None);
        assert_eq!(
            top.command,
            Some(Sub::Exec(Exec {
                socket: Some("/c".into()),
                command: strings(&["true"])
            }))
        );
    }

    #[test]
    fn nested_commands() {
        let top = parse(&["ids", "add", "--from=f.yaml", "--socket=/s"]).unwrap();
        assert_eq!(top.socket.as_deref(), Some("/s"));
        assert_eq!(
            top.command,
            Some(Sub::Ids(Ids {
                command: Some(IdsSub::Add(IdsAdd {
                    from: "f.yaml".into()
                }))
            }))
        );
    }

    #[test]
    fn usage_errors() {
        assert_eq!(
            parse(&["bogus"]),
            Err(UsageError::UnknownCommand("bogus".into()))
        );
        assert_eq!(
            parse(&["bogus"]).unwrap_err().to_string(),
            "unknown command \"bogus\" (\"vigil help\" lists the commands)"
        );
        assert_eq!(
            parse(&["--bogus"]),
            Err(UsageError::UnknownOption("--bogus".into()))
        );
        assert_eq!(
            parse(&["logs", "--bogus=1"]),
            Err(UsageError::UnknownOption("--bogus".into()))
        );
        assert_eq!(
            parse(&["logs", "-v=1"]),
            Err(UsageError::UnknownOption("-v=1".into()))
        );
        assert_eq!(
            parse(&["-v", "--verbose=yes"]),
            Err(UsageError::UnexpectedValue("--verbose".into()))
        );
        assert_eq!(
            parse(&["logs", "--socket"]),
            Err(UsageError::MissingValue("--socket".into()))
        );
        assert_eq!(
            parse(&["logs", "-n"]),
            Err(UsageError::MissingValue("-n".into()))
        );
        assert_eq!(
            parse(&["--socket", "/a", "logs", "--socket=/b"]),
            Err(UsageError::Repeated("--socket".into()))
        );
        assert_eq!(
            parse(&["ids", "web"]),
            Err(UsageError::UnexpectedArgument("web".into()))
        );
        assert_eq!(
            parse(&["ids"]).map(|top| top.command),
            Ok(Some(Sub::Ids(Ids { command: None })))
        );
        assert_eq!(
            UsageError::from_parser("Required options not provided:\n    --from\n"),
            UsageError::Parser("required options not provided: --from".into())
        );
    }

    #[test]
    fn help_anywhere() {
        for line in [
            &["help"][..],
            &["--help"],
            &["-h"],
            &["help", "logs"],
            &["logs", "--help"],
        ] {
            let argv = normalised(line).unwrap();
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let exit = Top::from_args(&["test"], &argv).unwrap_err();
            assert_eq!(exit.status, Ok(()), "{line:?}: {}", exit.output);
        }
        assert_eq!(
            normalised(&["help", "bogus"]),
            Err(UsageError::UnknownCommand("bogus".into()))
        );
    }
}
