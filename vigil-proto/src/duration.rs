//! Durations in Go's syntax: [`parse`] reads the text of a duration key in a
//! layer (`500ms`, `1m30s`, `1.5s`) and [`format()`] prints a duration the way
//! Go's `time.Duration.String()` does, for the plan output and the wire.
//!
//! The grammar and the rejected forms are in the spec's layers.md §3.3, the
//! output format in its README.md §5. Both directions use integer arithmetic
//! only, so a fraction is exact to the nanosecond (`0.100s` is 100 ms, not
//! 99.999… ms) and digits below one nanosecond are truncated, as Go does.

use std::fmt;
use std::time::Duration;

/// Nanoseconds in one second.
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The longest duration [`parse`] accepts: 290 years of 365.25 days, that is
/// 2542140h. The spec sets the bound (layers.md §3.3); it sits just below
/// Go's own limit of 2^63 - 1 nanoseconds (about 292 years), so every value
/// we accept is one Pebble can represent too.
const LIMIT_NANOS: u128 = 290 * 31_557_600 * NANOS_PER_SECOND as u128;

/// The units a number may carry, with their length in nanoseconds, from the
/// largest to the smallest. Both micro signs are accepted, as in Go: U+00B5
/// (what [`format()`] prints) and U+03BC (Greek small letter mu).
const UNITS: [(&str, u64); 8] = [
    ("h", 3_600 * NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("s", NANOS_PER_SECOND),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ns", 1),
];

/// The valid units as a message lists them.
const UNIT_LIST: &str = "ns, us, \u{b5}s, ms, s, m or h";

/// Parses a duration written in Go's syntax: one or more `<number><unit>`
/// groups with no spaces and no sign, such as `500ms`, `1m30s` or `.5h`.
///
/// A bare `0` means zero; any other number without a unit is an error, and
/// so are a sign, an unknown unit, an empty string and a value over 290
/// years. Each has its own [`DurationError`].
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let owned = || text.to_owned();
    let malformed = || DurationError::Malformed { text: owned() };
    let too_long = || DurationError::TooLong { text: owned() };
    if let Some(unsigned) = text.strip_prefix(['-', '+']) {
        if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            return Err(malformed());
        }
        return Err(if text.starts_with('-') {
            DurationError::Negative { text: owned() }
        } else {
            DurationError::Signed { text: owned() }
        });
    }

    let mut total: u128 = 0;
    // The index in UNITS of the previous group's unit, for the suggestion
    // when the last number has none.
    let mut previous_unit = None;
    let mut rest = text;
    while !rest.is_empty() {
        let (whole, fraction, after_number) = split_number(rest);
        if whole.is_empty() && fraction.is_empty() {
            return Err(malformed());
        }
        let unit_len = after_number
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        if unit.is_empty() {
            return Err(match (after_unit.is_empty(), previous_unit) {
                (true, None) => DurationError::NeedsUnit { text: owned() },
                (true, Some(previous)) => DurationError::MissingUnit {
                    text: owned(),
                    suggestion: format!("{text}{}", smaller_unit(previous)),
                },
                (false, _) => malformed(),
            });
        }
        let Some(unit_index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                text: owned(),
                unit: unit.to_owned(),
            });
        };
        total = group_nanos(whole, fraction, UNITS[unit_index].1)
            .and_then(|nanos| total.checked_add(nanos))
            .filter(|nanos| *nanos <= LIMIT_NANOS)
            .ok_or_else(too_long)?;
        previous_unit = Some(unit_index);
        rest = after_unit;
    }

    // Both parts fit, as the total is at most LIMIT_NANOS.
    let seconds = u64::try_from(total / u128::from(NANOS_PER_SECOND)).map_err(|_| too_long())?;
    let nanos = u32::try_from(total % u128::from(NANOS_PER_SECOND)).map_err(|_| too_long())?;
    Ok(Duration::new(seconds, nanos))
}

/// Prints a duration exactly as Go's `time.Duration.String()` does: `0s`,
/// `1ns`, `1.5µs`, `500ms`, `1.5s`, `1m30s`, `2h0m0s`, `1h0m0.5s`.
///
/// Below one second the largest fitting unit of `ns`, `µs` (U+00B5) and `ms`
/// is used, with a fraction where needed. From one second up the text is
/// hours, minutes and seconds, leading zero parts left out; the seconds keep
/// up to nine fraction digits, with trailing zeros removed.
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}\u{b5}s", decimal(nanos, 3));
    }
    if nanos < u128::from(NANOS_PER_SECOND) {
        return format!("{}ms", decimal(nanos, 6));
    }

    let whole_seconds = nanos / u128::from(NANOS_PER_SECOND);
    let minutes = whole_seconds / 60;
    let hours = minutes / 60;
    let seconds_nanos = nanos - minutes * 60 * u128::from(NANOS_PER_SECOND);
    let mut text = String::new();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        text.push_str(&format!("{}m", minutes % 60));
    }
    text.push_str(&decimal(seconds_nanos, 9));
    text.push('s');
    text
}

/// Why a duration's text was rejected. The message names the text as written
/// and says how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurationError {
    /// The text is empty, which is neither zero nor any other duration.
    Empty,
    /// The whole text is a number other than `0` with no unit, such as `5`:
    /// it is not obvious whether seconds or milliseconds were meant.
    NeedsUnit {
        /// The text as written.
        text: String,
    },
    /// The last of several groups has no unit, such as the `30` in `1m30`.
    MissingUnit {
        /// The text as written.
        text: String,
        /// The text with the next smaller unit appended, such as `1m30s`.
        suggestion: String,
    },
    /// The text starts with `-`: durations are never negative.
    Negative {
        /// The text as written.
        text: String,
    },
    /// The text starts with `+`, which Go accepts but the spec does not.
    Signed {
        /// The text as written.
        text: String,
    },
    /// A number carries a unit other than `ns`, `us`, `µs`, `ms`, `s`, `m`
    /// or `h`, such as `5sec` or `1d`.
    UnknownUnit {
        /// The text as written.
        text: String,
        /// The letters that followed the number.
        unit: String,
    },
    /// The value is over 290 years, so it cannot be meant.
    TooLong {
        /// The text as written.
        text: String,
    },
    /// The text is not a sequence of `<number><unit>` groups: it has a space,
    /// a unit with no number, a second decimal point or another stray
    /// character.
    Malformed {
        /// The text as written.
        text: String,
    },
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(
                f,
                "invalid duration \"\": the value is empty; write a number and a unit, \
                 such as \"5s\" or \"500ms\""
            ),
            Self::NeedsUnit { text } => write!(
                f,
                "invalid duration {}: a number needs a unit, such as \"{text}s\" or \"500ms\"",
                Shown(text)
            ),
            Self::MissingUnit { text, suggestion } => write!(
                f,
                "invalid duration {}: the last number needs a unit, such as \"{suggestion}\"",
                Shown(text)
            ),
            Self::Negative { text } => write!(
                f,
                "invalid duration {}: a duration cannot be negative",
                Shown(text)
            ),
            Self::Signed { text } => write!(
                f,
                "invalid duration {}: a duration takes no sign; write \"{}\"",
                Shown(text),
                text.strip_prefix('+').unwrap_or(text)
            ),
            Self::UnknownUnit { text, unit } => {
                write!(
                    f,
                    "invalid duration {}: unknown unit {unit:?} (expected {UNIT_LIST}",
                    Shown(text)
                )?;
                if unit == "d" {
                    f.write_str("; write a day as \"24h\"")?;
                }
                f.write_str(")")
            }
            Self::TooLong { text } => write!(
                f,
                "invalid duration {}: longer than the maximum of 290 years (2542140h)",
                Shown(text)
            ),
            Self::Malformed { text } => write!(
                f,
                "invalid duration {}: expected a number and a unit, repeated with no spaces, \
                 such as \"1.5s\" or \"1m30s\"",
                Shown(text)
            ),
        }
    }
}

impl std::error::Error for DurationError {}

/// Shows the text of a rejected value: as written when it reads clearly
/// (`5sec`), in double quotes when it is empty or holds a space, a quote or a
/// control character (`"5 s"`).
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.0.is_empty()
            && !self
                .0
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"');
        if plain {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

/// Splits the number at the start of `text` into its whole digits, its
/// fraction digits (after a `.`) and what follows. Either digit run may be
/// empty; `1.` and `.5` are numbers, as in Go.
fn split_number(text: &str) -> (&str, &str, &str) {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let (whole, rest) = text.split_at(digits(text));
    match rest.strip_prefix('.') {
        Some(after_point) => {
            let (fraction, rest) = after_point.split_at(digits(after_point));
            (whole, fraction, rest)
        }
        None => (whole, "", rest),
    }
}

/// The nanoseconds of one `<whole>.<fraction><unit>` group, or `None` when
/// the value does not fit in a `u128` (and is therefore far too long).
///
/// The fraction is multiplied by the unit as a long multiplication from its
/// last digit to its first: the carry that leaves the first digit is exactly
/// the whole nanoseconds of `0.<fraction> × unit`, truncated, however many
/// digits the fraction has.
fn group_nanos(whole: &str, fraction: &str, unit_nanos: u64) -> Option<u128> {
    let mut whole_value: u128 = 0;
    for digit in whole.bytes() {
        whole_value = whole_value
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))?;
    }
    let mut carry: u64 = 0;
    for digit in fraction.bytes().rev() {
        // carry < unit_nanos, so this is below 10 × 3.6e12 and cannot overflow.
        carry = (u64::from(digit - b'0') * unit_nanos + carry) / 10;
    }
    whole_value
        .checked_mul(u128::from(unit_nanos))?
        .checked_add(u128::from(carry))
}

/// The unit to suggest for a number that follows a group in `UNITS[index]`:
/// the next smaller one (`1m30` → `1m30s`), or `s` after `ns`.
fn smaller_unit(index: usize) -> &'static str {
    match UNITS[index].0 {
        "h" => "m",
        "m" => "s",
        "s" => "ms",
        "ms" => "us",
        "us" | "\u{b5}s" | "\u{3bc}s" => "ns",
        _ => "s",
    }
}

/// `value` divided by 10^`scale` as a decimal: the whole part, then a point
/// and up to `scale` fraction digits with trailing zeros removed, and no
/// point at all when the fraction is zero.
fn decimal(value: u128, scale: u32) -> String {
    let divisor = 10u128.pow(scale);
    let whole = value / divisor;
    let fraction = value % divisor;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:0width$}", width = scale as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_valid_text() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("0.0s", Duration::ZERO),
            ("500ms", ms(500)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", ms(1_500)),
            ("0.100s", ms(100)),
            (".5s", ms(500)),
            ("1.s", Duration::from_secs(1)),
            ("2h45m", Duration::from_secs(2 * 3_600 + 45 * 60)),
            ("4.000s", Duration::from_secs(4)),
            ("1ns", Duration::from_nanos(1)),
            ("1us", Duration::from_micros(1)),
            ("1\u{b5}s", Duration::from_micros(1)),
            ("1\u{3bc}s", Duration::from_micros(1)),
            ("1.5\u{b5}s", Duration::from_nanos(1_500)),
            ("1h0m0.5s", Duration::from_millis(3_600_500)),
            ("1s1s", Duration::from_secs(2)),
            ("1ms1h", Duration::from_millis(3_600_001)),
            ("168h", Duration::from_secs(168 * 3_600)),
            ("007s", Duration::from_secs(7)),
            ("1.0000000001s", Duration::from_secs(1)),
            ("1.9999999999s", Duration::new(1, 999_999_999)),
            ("0.1ns", Duration::ZERO),
            ("1.000000000001h", Duration::new(3_600, 3)),
            (
                "0.333333333333333333333333333333h",
                Duration::new(1_199, 999_999_999),
            ),
            ("2542140h", Duration::from_secs(2_542_140 * 3_600)),
            (
                "000000000000000000000000000000000000000000001s",
                Duration::from_secs(1),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Ok(expected), "parsing {text:?}");
        }
    }

    fn message(text: &str) -> String {
        match parse(text) {
            Ok(duration) => panic!("{text:?} parsed as {duration:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn bare_number_needs_a_unit() {
        assert_eq!(
            message("5"),
            r#"invalid duration 5: a number needs a unit, such as "5s" or "500ms""#
        );
        assert_eq!(
            message("1.5"),
            r#"invalid duration 1.5: a number needs a unit, such as "1.5s" or "500ms""#
        );
        assert_eq!(
            message("00"),
            r#"invalid duration 00: a number needs a unit, such as "00s" or "500ms""#
        );
    }

    #[test]
    fn last_number_needs_a_unit() {
        assert_eq!(
            message("1m30"),
            r#"invalid duration 1m30: the last number needs a unit, such as "1m30s""#
        );
        assert_eq!(
            message("1h30"),
            r#"invalid duration 1h30: the last number needs a unit, such as "1h30m""#
        );
        assert_eq!(
            message("2s5"),
            r#"invalid duration 2s5: the last number needs a unit, such as "2s5ms""#
        );
    }

    #[test]
    fn rejects_a_sign() {
        assert_eq!(
            message("-5s"),
            "invalid duration -5s: a duration cannot be negative"
        );
        assert_eq!(
            message("-0"),
            "invalid duration -0: a duration cannot be negative"
        );
        assert_eq!(
            message("+5s"),
            r#"invalid duration +5s: a duration takes no sign; write "5s""#
        );
    }

    #[test]
    fn rejects_an_unknown_unit() {
        assert_eq!(
            message("5sec"),
            "invalid duration 5sec: unknown unit \"sec\" (expected ns, us, \u{b5}s, ms, s, m or h)"
        );
        assert_eq!(
            message("1d"),
            "invalid duration 1d: unknown unit \"d\" \
             (expected ns, us, \u{b5}s, ms, s, m or h; write a day as \"24h\")"
        );
        assert_eq!(
            message("5S"),
            "invalid duration 5S: unknown unit \"S\" (expected ns, us, \u{b5}s, ms, s, m or h)"
        );
    }

    #[test]
    fn rejects_empty_text() {
        assert_eq!(
            message(""),
            r#"invalid duration "": the value is empty; write a number and a unit, such as "5s" or "500ms""#
        );
    }

    #[test]
    fn rejects_over_290_years() {
        let expected = "invalid duration 2542141h: longer than the maximum of 290 years (2542140h)";
        assert_eq!(message("2542141h"), expected);
        assert_eq!(
            message("2542140h1ns"),
            "invalid duration 2542140h1ns: longer than the maximum of 290 years (2542140h)"
        );
        assert_eq!(
            message("99999999999999999999999999999999999999999h"),
            "invalid duration 99999999999999999999999999999999999999999h: \
             longer than the maximum of 290 years (2542140h)"
        );
        // The limit is below Go's, so Pebble could hold every accepted value.
        assert!(LIMIT_NANOS < i64::MAX as u128);
    }

    #[test]
    fn rejects_malformed_text() {
        let malformed = |shown: &str| {
            format!(
                "invalid duration {shown}: expected a number and a unit, repeated with no \
                 spaces, such as \"1.5s\" or \"1m30s\""
            )
        };
        assert_eq!(message("5 s"), malformed(r#""5 s""#));
        assert_eq!(message(" 5s"), malformed(r#"" 5s""#));
        assert_eq!(message("s"), malformed("s"));
        assert_eq!(message("1..2s"), malformed("1..2s"));
        assert_eq!(message("1.2.3s"), malformed("1.2.3s"));
        assert_eq!(message("."), malformed("."));
        assert_eq!(message(".s"), malformed(".s"));
        assert_eq!(message("5s!"), malformed("5s!"));
        assert_eq!(message("5s "), malformed(r#""5s ""#));
        assert_eq!(message("-"), malformed("-"));
        assert_eq!(message("-s"), malformed("-s"));
        assert_eq!(message("\"5s\""), malformed(r#""\"5s\"""#));
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(1_000), "1\u{b5}s"),
            (Duration::from_nanos(1_500), "1.5\u{b5}s"),
            (Duration::from_nanos(1_001), "1.001\u{b5}s"),
            (Duration::from_nanos(1_000_001), "1.000001ms"),
            (ms(500), "500ms"),
            (ms(1_500), "1.5s"),
            (Duration::from_secs(1), "1s"),
            (Duration::new(1, 1), "1.000000001s"),
            (Duration::from_secs(59), "59s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3_599), "59m59s"),
            (Duration::from_secs(7_200), "2h0m0s"),
            (Duration::from_secs(168 * 3_600), "168h0m0s"),
            (ms(3_600_500), "1h0m0.5s"),
            (Duration::from_secs(2 * 3_600 + 45 * 60), "2h45m0s"),
            (
                Duration::from_nanos(i64::MAX as u64),
                "2562047h47m16.854775807s",
            ),
        ];
        for (duration, expected) in cases {
            assert_eq!(format(duration), expected, "formatting {duration:?}");
        }
    }

    #[test]
    fn parses_then_formats() {
        let cases = [
            ("4.000s", "4s"),
            ("90s", "1m30s"),
            ("0.100s", "100ms"),
            ("1500ms", "1.5s"),
            ("2h", "2h0m0s"),
            ("0", "0s"),
            ("1.0000000001s", "1s"),
            ("2542140h", "2542140h0m0s"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).map(format).as_deref(), Ok(expected), "{text:?}");
        }
    }

    /// A small deterministic generator (xorshift64), so the property test
    /// covers the same values on every run.
    struct Xorshift(u64);

    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn format_round_trips_through_parse() {
        let limit = u64::try_from(LIMIT_NANOS).expect("limit fits in u64");
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        let mut values = vec![0, 1, 999, 1_000, 999_999, 1_000_000, limit - 1, limit];
        for _ in 0..20_000 {
            // Vary the magnitude as well as the digits, so that every unit
            // and every fraction length comes up.
            let shift = rng.next() % 64;
            values.push((rng.next() >> shift) % (limit + 1));
            // Round values, which format with fewer parts.
            let round = [1_000, 1_000_000, NANOS_PER_SECOND, 60 * NANOS_PER_SECOND];
            let step = round[(rng.next() % 4) as usize];
            values.push((rng.next() >> shift) % (limit + 1) / step * step);
        }
        for nanos in values {
            let duration = Duration::from_nanos(nanos);
            let text = format(duration);
            assert_eq!(parse(&text), Ok(duration), "round trip of {text}");
        }
    }

    #[test]
    fn error_is_std_error() {
        let error: Box<dyn std::error::Error> = Box::new(DurationError::Empty);
        assert!(error.to_string().starts_with("invalid duration "));
    }
}
