//! Signal names: [`Signal`] is one of the 31 standard Linux signals, read
//! from a signal key such as `stop-signal` (`SIGTERM`, `TERM`, `sigterm`) and
//! printed in its `SIG` form.
//!
//! The numbers are the asm-generic ones used on x86_64 and aarch64 (see
//! signal(7)), so this module needs no libc and does no I/O. Numbers are not
//! accepted as input: the spec's layers.md §3.5 asks for names, which read
//! the same on every architecture.

use std::fmt;

/// The standard signals by number: entry `n - 1` is signal `n`.
const NAMES: [&str; 31] = [
    "SIGHUP",    // 1
    "SIGINT",    // 2
    "SIGQUIT",   // 3
    "SIGILL",    // 4
    "SIGTRAP",   // 5
    "SIGABRT",   // 6
    "SIGBUS",    // 7
    "SIGFPE",    // 8
    "SIGKILL",   // 9
    "SIGUSR1",   // 10
    "SIGSEGV",   // 11
    "SIGUSR2",   // 12
    "SIGPIPE",   // 13
    "SIGALRM",   // 14
    "SIGTERM",   // 15
    "SIGSTKFLT", // 16
    "SIGCHLD",   // 17
    "SIGCONT",   // 18
    "SIGSTOP",   // 19
    "SIGTSTP",   // 20
    "SIGTTIN",   // 21
    "SIGTTOU",   // 22
    "SIGURG",    // 23
    "SIGXCPU",   // 24
    "SIGXFSZ",   // 25
    "SIGVTALRM", // 26
    "SIGPROF",   // 27
    "SIGWINCH",  // 28
    "SIGIO",     // 29
    "SIGPWR",    // 30
    "SIGSYS",    // 31
];

/// The largest edit distance at which an unknown name gets a suggestion.
const MAX_SUGGESTION_DISTANCE: usize = 2;

/// One of the standard Linux signals, 1 (`SIGHUP`) to 31 (`SIGSYS`).
///
/// Only [`Signal::parse`], [`Signal::from_number`] and the constants make
/// one, so a `Signal` always has a name and a valid number.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(u8);

impl Signal {
    /// `SIGHUP` (1): hang-up, often "reload your configuration".
    pub const HUP: Signal = Signal(1);
    /// `SIGINT` (2): interrupt, as from Ctrl-C.
    pub const INT: Signal = Signal(2);
    /// `SIGQUIT` (3): quit, with a core dump by default.
    pub const QUIT: Signal = Signal(3);
    /// `SIGKILL` (9): kill; it cannot be caught or ignored.
    pub const KILL: Signal = Signal(9);
    /// `SIGUSR1` (10): the first user-defined signal.
    pub const USR1: Signal = Signal(10);
    /// `SIGUSR2` (12): the second user-defined signal.
    pub const USR2: Signal = Signal(12);
    /// `SIGTERM` (15): terminate; the default stop signal.
    pub const TERM: Signal = Signal(15);

    /// Reads a signal name, with or without the `SIG` prefix and in any case:
    /// `SIGTERM`, `TERM`, `sigterm` and `Term` are all [`Signal::TERM`].
    ///
    /// A number, even a valid one, is an error that says to write the name.
    pub fn parse(text: &str) -> Result<Signal, SignalError> {
        if text.is_empty() {
            return Err(SignalError::Empty);
        }
        if is_integer(text) {
            return Err(SignalError::Number {
                text: text.to_owned(),
            });
        }
        let upper = text.to_ascii_uppercase();
        let short = upper.strip_prefix("SIG").unwrap_or(&upper);
        let found = NAMES.iter().position(|name| name[3..] == *short);
        match found.and_then(|index| u8::try_from(index + 1).ok()) {
            Some(number) => Ok(Signal(number)),
            None => Err(SignalError::Unknown {
                text: text.to_owned(),
                suggestion: suggest(&format!("SIG{short}")),
            }),
        }
    }

    /// The signal with this Linux number, or `None` outside 1 to 31.
    pub fn from_number(number: i32) -> Option<Signal> {
        u8::try_from(number)
            .ok()
            .filter(|n| (1..=31).contains(n))
            .map(Signal)
    }

    /// The name in its `SIG` form, such as `"SIGTERM"`.
    pub fn name(self) -> &'static str {
        NAMES[usize::from(self.0) - 1]
    }

    /// The Linux signal number, such as 15 for `SIGTERM`.
    pub fn number(self) -> i32 {
        i32::from(self.0)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signal({})", self.name())
    }
}

/// Why a signal's text was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalError {
    /// The text is empty.
    Empty,
    /// The text is a number, such as `15` or `-9`. Numbers differ between
    /// architectures, so a name is required.
    Number {
        /// The text as written.
        text: String,
    },
    /// The text is not the name of a standard signal.
    Unknown {
        /// The text as written.
        text: String,
        /// The closest standard name, within an edit distance of 2 of the
        /// text upper-cased with the `SIG` prefix, such as `SIGTERM` for
        /// `sigtrem`.
        suggestion: Option<&'static str>,
    },
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str(
                "invalid signal \"\": the value is empty; \
                 write a signal name such as \"SIGTERM\" or \"TERM\"",
            ),
            Self::Number { text } => write!(
                f,
                "invalid signal {text}: write a signal name such as \"SIGTERM\" or \"TERM\", \
                 not a number"
            ),
            Self::Unknown { text, suggestion } => {
                write!(
                    f,
                    "invalid signal {text:?} (expected a name such as SIGTERM, SIGINT, SIGHUP, \
                     SIGUSR1 or SIGKILL"
                )?;
                if let Some(name) = suggestion {
                    write!(f, "; did you mean {name:?}?")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl std::error::Error for SignalError {}

/// Whether `text` is a decimal integer with an optional sign, such as `15`,
/// `-9` or `+1`.
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The standard name closest to `name` (upper case, with `SIG`), if it is
/// within [`MAX_SUGGESTION_DISTANCE`] edits. Ties go to the alphabetically
/// first name, as for unknown keys (the spec's layers.md §11.2).
fn suggest(name: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .map(|candidate| (crate::suggest::edit_distance(name, candidate), *candidate))
        .filter(|(distance, _)| *distance <= MAX_SUGGESTION_DISTANCE)
        .min()
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> String {
        match Signal::parse(text) {
            Ok(signal) => panic!("{text:?} parsed as {signal:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn table_matches_linux_numbers() {
        let expected = [
            ("SIGHUP", 1),
            ("SIGINT", 2),
            ("SIGQUIT", 3),
            ("SIGILL", 4),
            ("SIGTRAP", 5),
            ("SIGABRT", 6),
            ("SIGBUS", 7),
            ("SIGFPE", 8),
            ("SIGKILL", 9),
            ("SIGUSR1", 10),
            ("SIGSEGV", 11),
            ("SIGUSR2", 12),
            ("SIGPIPE", 13),
            ("SIGALRM", 14),
            ("SIGTERM", 15),
            ("SIGSTKFLT", 16),
            ("SIGCHLD", 17),
            ("SIGCONT", 18),
            ("SIGSTOP", 19),
            ("SIGTSTP", 20),
            ("SIGTTIN", 21),
            ("SIGTTOU", 22),
            ("SIGURG", 23),
            ("SIGXCPU", 24),
            ("SIGXFSZ", 25),
            ("SIGVTALRM", 26),
            ("SIGPROF", 27),
            ("SIGWINCH", 28),
            ("SIGIO", 29),
            ("SIGPWR", 30),
            ("SIGSYS", 31),
        ];
        for (name, number) in expected {
            let signal = Signal::parse(name).expect("a standard name");
            assert_eq!(signal.number(), number, "{name}");
            assert_eq!(signal.name(), name);
            assert_eq!(Signal::from_number(number), Some(signal));
            assert_eq!(Signal::parse(&name[3..]), Ok(signal));
        }
    }

    #[test]
    fn constants_have_their_numbers() {
        let constants = [
            (Signal::HUP, "SIGHUP", 1),
            (Signal::INT, "SIGINT", 2),
            (Signal::QUIT, "SIGQUIT", 3),
            (Signal::KILL, "SIGKILL", 9),
            (Signal::USR1, "SIGUSR1", 10),
            (Signal::USR2, "SIGUSR2", 12),
            (Signal::TERM, "SIGTERM", 15),
        ];
        for (signal, name, number) in constants {
            assert_eq!(signal.name(), name);
            assert_eq!(signal.number(), number);
        }
    }

    #[test]
    fn accepts_any_case_with_or_without_prefix() {
        for text in ["SIGTERM", "TERM", "sigterm", "term", "Term", "SigTerm"] {
            assert_eq!(Signal::parse(text), Ok(Signal::TERM), "{text:?}");
        }
        assert_eq!(Signal::parse("sigusr1"), Ok(Signal::USR1));
        assert_eq!(
            Signal::parse("io"),
            Ok(Signal::from_number(29).expect("29"))
        );
    }

    #[test]
    fn displays_the_sig_name() {
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
        assert_eq!(
            Signal::parse("winch").map(|s| s.to_string()).as_deref(),
            Ok("SIGWINCH")
        );
        assert_eq!(format!("{:?}", Signal::KILL), "Signal(SIGKILL)");
    }

    #[test]
    fn from_number_rejects_out_of_range() {
        for number in [0, 32, 64, -1, -15, i32::MAX, i32::MIN, 256 + 15] {
            assert_eq!(Signal::from_number(number), None, "{number}");
        }
    }

    #[test]
    fn rejects_numbers() {
        assert_eq!(
            message("15"),
            r#"invalid signal 15: write a signal name such as "SIGTERM" or "TERM", not a number"#
        );
        assert_eq!(
            message("-9"),
            r#"invalid signal -9: write a signal name such as "SIGTERM" or "TERM", not a number"#
        );
        assert_eq!(
            message("+1"),
            r#"invalid signal +1: write a signal name such as "SIGTERM" or "TERM", not a number"#
        );
    }

    #[test]
    fn rejects_empty_text() {
        assert_eq!(
            message(""),
            r#"invalid signal "": the value is empty; write a signal name such as "SIGTERM" or "TERM""#
        );
    }

    #[test]
    fn rejects_unknown_names() {
        let expected = |text: &str, suggestion: &str| {
            format!(
                "invalid signal {text} (expected a name such as SIGTERM, SIGINT, SIGHUP, \
                 SIGUSR1 or SIGKILL{suggestion})"
            )
        };
        // Nothing within two edits.
        assert_eq!(message("SIGFOOBAR"), expected(r#""SIGFOOBAR""#, ""));
        assert_eq!(message("restart"), expected(r#""restart""#, ""));
        assert_eq!(message("SIGSIGTERM"), expected(r#""SIGSIGTERM""#, ""));
        // Suggestions compare the upper-cased text with the SIG prefix.
        let suggested = [
            ("sigtrem", "SIGTERM"),
            ("TERMM", "SIGTERM"),
            (" TERM", "SIGTERM"),
            ("SIGUSR3", "SIGUSR1"),
            ("SIGCLD", "SIGCHLD"),
            ("SIGBOGUS", "SIGBUS"),
            ("SIGRTMIN", "SIGTTIN"),
            ("SIG", "SIGIO"),
            // A tie between SIGFPE and SIGIO goes to the first in order.
            ("SIGFOO", "SIGFPE"),
        ];
        for (text, name) in suggested {
            assert_eq!(
                message(text),
                expected(&format!("{text:?}"), &format!("; did you mean \"{name}\"?")),
                "{text:?}"
            );
        }
    }
}
