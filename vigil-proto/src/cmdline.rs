//! Command-line splitting: [`split`] turns the text of a service or exec
//! check `command` into an argument vector, and [`ServiceCommand`] also reads
//! a service's final `[ ... ]` group of default arguments.
//!
//! The rules are shell-like but no shell is involved: quotes, backslashes
//! and `#` comments only (the spec's supervision.md §16). Nothing is
//! expanded: no variables, globs, `~` or command substitution. The rules
//! match the shlex package that Pebble uses, and the group rules and messages
//! match Pebble's `Service.ParseCommand` (internals/plan/plan.go).

use std::fmt;

/// Splits a command line into words.
///
/// - Space, tab, CR and LF separate words; a run of them is one separator.
/// - `'…'` keeps everything inside literally.
/// - `"…"` groups text; inside, a backslash makes the next character
///   literal, whatever it is, and is itself dropped.
/// - Outside quotes, a backslash makes the next character literal.
/// - Quoted and unquoted parts that touch form one word, and `""` or `''`
///   alone is an empty word.
/// - `#` at the start of a word begins a comment that runs to the end of the
///   line; splitting goes on after the line feed. Elsewhere `#` is literal.
///
/// `[` and `]` are ordinary words here; [`ServiceCommand::parse`] gives them
/// their meaning. Text with no words at all (empty, blank or only comments)
/// is an error, [`CmdlineError::Empty`], since every caller runs the result.
pub fn split(text: &str) -> Result<Vec<String>, CmdlineError> {
    let words = split_words(text)?;
    if words.is_empty() {
        return Err(CmdlineError::Empty);
    }
    Ok(words)
}

/// A service's command: the words that always run, and the default arguments
/// of its optional final `[ ... ]` group, which `vigild --args` may replace.
///
/// For `webd --config x [ --port 8080 ]` the base is `webd --config x` and
/// the default arguments are `--port 8080`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCommand {
    /// The words before the group; never empty.
    base: Vec<String>,
    /// The words inside the group, or `None` when there is no group.
    default_args: Option<Vec<String>>,
}

impl ServiceCommand {
    /// Splits a service's command as [`split`] does, then takes out its final
    /// `[ ... ]` group of default arguments, if it has one.
    ///
    /// The group markers are recognised after splitting, by comparing whole
    /// words, as Pebble does. So a quoted `"["` or `\]` is a marker too: a
    /// command that needs a literal `[` argument cannot have one, in Pebble
    /// or here.
    pub fn parse(text: &str) -> Result<ServiceCommand, CmdlineError> {
        let words = split_words(text)?;
        let mut base = Vec::new();
        let mut group: Option<Vec<String>> = None;
        let mut group_closed = false;
        for (index, word) in words.into_iter().enumerate() {
            if group_closed {
                return Err(CmdlineError::ArgumentsAfterGroup);
            }
            if let Some(args) = group.as_mut() {
                match word.as_str() {
                    "[" => return Err(CmdlineError::NestedGroup),
                    "]" => group_closed = true,
                    _ => args.push(word),
                }
                continue;
            }
            match word.as_str() {
                "[" if index == 0 => return Err(CmdlineError::GroupAtStart),
                "[" => group = Some(Vec::new()),
                "]" => return Err(CmdlineError::CloseOutsideGroup),
                _ => base.push(word),
            }
        }
        if group.is_some() && !group_closed {
            return Err(CmdlineError::UnclosedGroup);
        }
        if base.is_empty() {
            return Err(CmdlineError::Empty);
        }
        Ok(ServiceCommand {
            base,
            default_args: group,
        })
    }

    /// The words before the `[ ... ]` group: the program and the arguments it
    /// always gets. Never empty.
    pub fn base(&self) -> &[String] {
        &self.base
    }

    /// The words inside the `[ ... ]` group, or `None` when the command has
    /// no group. An empty group, `[ ]`, gives an empty slice.
    pub fn default_args(&self) -> Option<&[String]> {
        self.default_args.as_deref()
    }

    /// The argument vector to run: the base, then the default arguments.
    pub fn argv(&self) -> Vec<String> {
        self.argv_with(self.default_args().unwrap_or_default())
    }

    /// The argument vector to run with `args` in place of the default
    /// arguments, as `vigild --args` asks. Without a group, `args` are
    /// appended to the base, as in Pebble.
    pub fn argv_with(&self, args: &[String]) -> Vec<String> {
        let mut argv = Vec::with_capacity(self.base.len() + args.len());
        argv.extend_from_slice(&self.base);
        argv.extend_from_slice(args);
        argv
    }
}

/// Why a command line could not be split, or its `[ ... ]` group read.
///
/// The messages are Pebble's, word for word, except for
/// [`CmdlineError::UnclosedGroup`], which Pebble accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmdlineError {
    /// A `'` or `"` has no closing quote, or the text ends just after a
    /// backslash inside double quotes.
    UnclosedQuote,
    /// The text ends with a lone backslash outside quotes.
    TrailingEscape,
    /// The command has no words: it is empty, blank or only comments.
    Empty,
    /// The first word is `[`, so there is no program to run.
    GroupAtStart,
    /// A `[` appears inside a `[ ... ]` group.
    NestedGroup,
    /// A `]` appears with no `[` before it.
    CloseOutsideGroup,
    /// Words follow the `]` that closes the group; the group must come last.
    ArgumentsAfterGroup,
    /// A `[` is never closed. Pebble takes every word after it as a default
    /// argument; vigil asks for the `]`, since a missing one is more likely a
    /// typo than a choice.
    UnclosedGroup,
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnclosedQuote => "EOF found when expecting closing quote",
            Self::TrailingEscape => "EOF found after escape character",
            Self::Empty => "command is empty",
            Self::GroupAtStart => "cannot start command with [ ... ] group",
            Self::NestedGroup => "cannot nest [ ... ] groups",
            Self::CloseOutsideGroup => "cannot have ] outside of [ ... ] group",
            Self::ArgumentsAfterGroup => "cannot have any arguments after [ ... ] group",
            Self::UnclosedGroup => "cannot have [ without closing ]",
        })
    }
}

impl std::error::Error for CmdlineError {}

/// Splits `text` into words by the rules on [`split`], allowing none.
fn split_words(text: &str) -> Result<Vec<String>, CmdlineError> {
    let mut words = Vec::new();
    let mut word = String::new();
    // Whether a word has begun, which `word` being empty cannot tell: `''`
    // begins one that stays empty, and a `#` after it is literal.
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => {
                // The comment ends at the line feed, which is consumed: it
                // would only separate words, and none is in progress.
                chars.by_ref().find(|&c| c == '\n');
            }
            '\\' => {
                word.push(chars.next().ok_or(CmdlineError::TrailingEscape)?);
                in_word = true;
            }
            '\'' => {
                loop {
                    match chars.next().ok_or(CmdlineError::UnclosedQuote)? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
                in_word = true;
            }
            '"' => {
                loop {
                    match chars.next().ok_or(CmdlineError::UnclosedQuote)? {
                        '"' => break,
                        '\\' => word.push(chars.next().ok_or(CmdlineError::UnclosedQuote)?),
                        c => word.push(c),
                    }
                }
                in_word = true;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        split(text).unwrap_or_else(|error| panic!("splitting {text:?}: {error}"))
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    /// The table in the spec's supervision.md §16.
    #[test]
    fn splits_the_spec_examples() {
        let cases: [(&str, &[&str]); 6] = [
            ("echo hello world", &["echo", "hello", "world"]),
            ("sh -c 'exit 42'", &["sh", "-c", "exit 42"]),
            (r#"printf "%s\n" "a b""#, &["printf", "%sn", "a b"]),
            (r#"app --name=\"x\""#, &["app", r#"--name="x""#]),
            ("app # trailing comment", &["app"]),
            ("app a#b", &["app", "a#b"]),
        ];
        for (text, expected) in cases {
            assert_eq!(words(text), strings(expected), "splitting {text:?}");
        }
    }

    #[test]
    fn splits_by_the_rules() {
        let cases: [(&str, &[&str]); 24] = [
            // Separators, and runs of them.
            (" a \t b\r\nc\n\n d  ", &["a", "b", "c", "d"]),
            // Touching parts form one word.
            (r#"a"b c"d"#, &["ab cd"]),
            ("a'b c'd", &["ab cd"]),
            (r#"'a'"b"c"#, &["abc"]),
            // Empty arguments.
            ("a '' b", &["a", "", "b"]),
            (r#"a "" b"#, &["a", "", "b"]),
            (r#""""#, &[""]),
            // Single quotes: no escapes at all.
            (r"'a\b' 'c\'", &[r"a\b", r"c\"]),
            (r#"'say "hi"'"#, &[r#"say "hi""#]),
            // Double quotes: a backslash escapes any character.
            (
                r#""a\"b" "c\\d" "\$x" "\'""#,
                &[r#"a"b"#, r"c\d", "$x", "'"],
            ),
            ("\"line\nbreak\"", &["line\nbreak"]),
            // Outside quotes a backslash escapes the next character too.
            (r"a\ b c\\d \'e", &["a b", r"c\d", "'e"]),
            ("a\\\nb", &["a\nb"]),
            // Comments start only at the start of a word.
            ("a #b c\nd", &["a", "d"]),
            ("#only\na", &["a"]),
            ("a # one\n# two\r\nb #", &["a", "b"]),
            ("a#b #c", &["a#b"]),
            ("'' #c", &[""]),
            (r"''#c \#d", &["#c", "#d"]),
            (r##""#x" '#y'"##, &["#x", "#y"]),
            // No expansion of any kind.
            (
                "echo $HOME ~ *.txt $(date) `id`",
                &["echo", "$HOME", "~", "*.txt", "$(date)", "`id`"],
            ),
            // Brackets are plain words to split.
            ("a [ b ]", &["a", "[", "b", "]"]),
            // Non-ASCII text passes through.
            ("caf\u{e9} '\u{1f600} x'", &["caf\u{e9}", "\u{1f600} x"]),
            ("\u{a0}a", &["\u{a0}a"]),
        ];
        for (text, expected) in cases {
            assert_eq!(words(text), strings(expected), "splitting {text:?}");
        }
    }

    #[test]
    fn split_errors() {
        let cases = [
            ("echo 'oops", "EOF found when expecting closing quote"),
            ("echo \"oops", "EOF found when expecting closing quote"),
            ("echo \"oops\\", "EOF found when expecting closing quote"),
            ("'", "EOF found when expecting closing quote"),
            ("echo oops\\", "EOF found after escape character"),
            ("", "command is empty"),
            (" \t\r\n", "command is empty"),
            ("# just a comment", "command is empty"),
            ("# one\n  # two\n", "command is empty"),
        ];
        for (text, expected) in cases {
            let error = split(text).expect_err(text);
            assert_eq!(error.to_string(), expected, "splitting {text:?}");
        }
    }

    fn command(text: &str) -> ServiceCommand {
        ServiceCommand::parse(text).unwrap_or_else(|error| panic!("parsing {text:?}: {error}"))
    }

    #[test]
    fn reads_the_default_arguments() {
        let webd = command("webd --config x [ --port 8080 ]");
        assert_eq!(webd.base(), strings(&["webd", "--config", "x"]));
        assert_eq!(
            webd.default_args(),
            Some(strings(&["--port", "8080"]).as_slice())
        );
        assert_eq!(
            webd.argv(),
            strings(&["webd", "--config", "x", "--port", "8080"])
        );
        assert_eq!(
            webd.argv_with(&strings(&["--port", "9090", "-v"])),
            strings(&["webd", "--config", "x", "--port", "9090", "-v"])
        );
        assert_eq!(webd.argv_with(&[]), strings(&["webd", "--config", "x"]));
    }

    #[test]
    fn command_without_a_group() {
        let plain = command("sleep 10");
        assert_eq!(plain.base(), strings(&["sleep", "10"]));
        assert_eq!(plain.default_args(), None);
        assert_eq!(plain.argv(), strings(&["sleep", "10"]));
        // `vigild --args` on a command without a group appends, as in Pebble.
        assert_eq!(
            plain.argv_with(&strings(&["20"])),
            strings(&["sleep", "10", "20"])
        );
    }

    #[test]
    fn group_edge_cases() {
        let empty_group = command("app [ ]");
        assert_eq!(empty_group.default_args(), Some(&[][..]));
        assert_eq!(empty_group.argv(), strings(&["app"]));

        // The group markers are compared as split words, as Pebble does, so
        // quoted or escaped brackets count; brackets inside a word do not.
        let quoted = command(r#"app "[" a '[x]' \] # tail"#);
        assert_eq!(quoted.base(), strings(&["app"]));
        assert_eq!(
            quoted.default_args(),
            Some(strings(&["a", "[x]"]).as_slice())
        );

        let touching = command("app [a] b[ ]c");
        assert_eq!(touching.default_args(), None);
        assert_eq!(touching.argv(), strings(&["app", "[a]", "b[", "]c"]));

        let spread = command("app\n[\n  --one 'two words'\n]\n# done\n");
        assert_eq!(spread.argv(), strings(&["app", "--one", "two words"]));
    }

    #[test]
    fn group_errors() {
        let cases = [
            ("[ --port 8080 ]", "cannot start command with [ ... ] group"),
            ("[", "cannot start command with [ ... ] group"),
            ("webd [ a [ b ] ]", "cannot nest [ ... ] groups"),
            ("webd ] a", "cannot have ] outside of [ ... ] group"),
            ("webd a ]", "cannot have ] outside of [ ... ] group"),
            (
                "webd [ a ] b",
                "cannot have any arguments after [ ... ] group",
            ),
            (
                "webd [ a ] ]",
                "cannot have any arguments after [ ... ] group",
            ),
            (
                "webd [ a ] [ b ]",
                "cannot have any arguments after [ ... ] group",
            ),
            ("webd [ --port 8080", "cannot have [ without closing ]"),
            ("webd [", "cannot have [ without closing ]"),
            ("", "command is empty"),
            ("  # nothing here", "command is empty"),
            ("webd 'oops", "EOF found when expecting closing quote"),
            ("webd [ oops\\", "EOF found after escape character"),
        ];
        for (text, expected) in cases {
            let error = ServiceCommand::parse(text).expect_err(text);
            assert_eq!(error.to_string(), expected, "parsing {text:?}");
        }
    }

    #[test]
    fn error_is_std_error() {
        let error: Box<dyn std::error::Error> = Box::new(CmdlineError::Empty);
        assert_eq!(error.to_string(), "command is empty");
    }
}
