//! Timestamps on the wire: RFC 3339 text in the three precisions the API uses
//! (spec api.md §4.4 and README §5), and parsing of that text for clients.
//!
//! - [`Precision::Nanoseconds`]: up to 9 fraction digits with trailing zeros
//!   trimmed and no dot at all when the fraction is zero. Change and task
//!   times, `current-since`, `start-time`, the follow-log `timestamp`.
//! - [`Precision::Milliseconds`]: the same, cut to 3 digits. The `/v1/logs`
//!   `time` field (`.660` becomes `.66`, `.000` is dropped).
//! - [`Precision::Seconds`]: no fraction. Task log lines and file times.
//!
//! The zone is `Z` when the offset is zero and `+hh:mm` or `-hh:mm` otherwise,
//! as Go's `time.RFC3339Nano` layout writes it. This module never reads a
//! clock or the local zone: the daemon decides both and passes them in as a
//! [`SystemTime`] and a [`UtcOffset`]. The calendar arithmetic is the
//! proleptic Gregorian calendar, done here so the crate needs no date library.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time zone's distance from UTC, in whole minutes, between `-23:59` and
/// `+23:59`.
///
/// The daemon finds its local zone's offset (for example from `tm_gmtoff`)
/// and passes it in; this type only carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UtcOffset {
    seconds: i32,
}

impl UtcOffset {
    /// The zero offset, written `Z`.
    pub const UTC: Self = Self { seconds: 0 };

    /// The largest distance from UTC that fits the `±hh:mm` form.
    const MAX_SECONDS: i32 = 23 * 3600 + 59 * 60;

    /// The offset `seconds` east of UTC (negative for west), or `None` when it
    /// is 24 hours or more away.
    ///
    /// Seconds beyond a whole minute are dropped (towards zero), because the
    /// wire form `±hh:mm` cannot show them and the local clock time must agree
    /// with the offset printed beside it. Only historical local mean times
    /// have such offsets.
    #[must_use]
    pub fn from_seconds(seconds: i32) -> Option<Self> {
        let seconds = seconds - seconds % 60;
        (seconds.abs() <= Self::MAX_SECONDS).then_some(Self { seconds })
    }

    /// The offset in seconds east of UTC: always a multiple of 60.
    #[must_use]
    pub fn seconds(self) -> i32 {
        self.seconds
    }

    /// Whether this is the zero offset.
    #[must_use]
    pub fn is_utc(self) -> bool {
        self.seconds == 0
    }
}

/// How many fraction digits a formatted [`Timestamp`] may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Up to 9 digits, trailing zeros trimmed.
    Nanoseconds,
    /// Up to 3 digits (the rest is cut, not rounded), trailing zeros trimmed.
    Milliseconds,
    /// No fraction.
    Seconds,
}

/// An instant together with the UTC offset it is shown in.
///
/// It serialises as RFC 3339 text with [`Precision::Nanoseconds`] and parses
/// any RFC 3339 date-time. Two timestamps are equal only when both the
/// instant and the offset are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    at: SystemTime,
    offset: UtcOffset,
}

impl Timestamp {
    /// The instant `at`, shown at `offset` from UTC.
    #[must_use]
    pub fn new(at: SystemTime, offset: UtcOffset) -> Self {
        Self { at, offset }
    }

    /// The instant `at`, shown in UTC.
    #[must_use]
    pub fn utc(at: SystemTime) -> Self {
        Self::new(at, UtcOffset::UTC)
    }

    /// The instant.
    #[must_use]
    pub fn at(self) -> SystemTime {
        self.at
    }

    /// The offset the instant is shown at.
    #[must_use]
    pub fn offset(self) -> UtcOffset {
        self.offset
    }

    /// The RFC 3339 text of this timestamp with at most `precision`.
    #[must_use]
    pub fn format(self, precision: Precision) -> String {
        let (epoch_seconds, nanos) = split_epoch(self.at);
        let local = epoch_seconds.saturating_add(i64::from(self.offset.seconds));
        let (year, month, day) = civil_from_days(local.div_euclid(SECONDS_PER_DAY));
        let second_of_day = local.rem_euclid(SECONDS_PER_DAY);
        let mut out = format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60,
        );
        match precision {
            Precision::Nanoseconds => push_fraction(&mut out, nanos, 9),
            Precision::Milliseconds => push_fraction(&mut out, nanos / 1_000_000, 3),
            Precision::Seconds => {}
        }
        if self.offset.is_utc() {
            out.push('Z');
        } else {
            let sign = if self.offset.seconds < 0 { '-' } else { '+' };
            let minutes = self.offset.seconds.abs() / 60;
            out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
        }
        out
    }

    /// Parses an RFC 3339 date-time, `YYYY-MM-DDTHH:MM:SS[.fraction]` followed
    /// by `Z` or `±hh:mm` (`t` and `z` may be lower-case).
    ///
    /// A fraction may have any number of digits; those past the ninth are
    /// ignored. A leap second (`:60`) is rejected, as Go rejects it.
    ///
    /// # Errors
    ///
    /// [`ParseTimestampError::Syntax`] when the text does not have that shape,
    /// [`ParseTimestampError::OutOfRange`] when a field is outside its range
    /// (month 13, February 30, hour 24, ...).
    pub fn parse(text: &str) -> Result<Self, ParseTimestampError> {
        let syntax = || ParseTimestampError::Syntax {
            input: text.to_owned(),
        };
        let out_of_range = |field| ParseTimestampError::OutOfRange {
            input: text.to_owned(),
            field,
        };

        let bytes = text.as_bytes();
        if bytes.len() < 20
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || !matches!(bytes[10], b'T' | b't')
            || bytes[13] != b':'
            || bytes[16] != b':'
        {
            return Err(syntax());
        }
        let year = digits(&bytes[0..4]).ok_or_else(syntax)?;
        let month = digits(&bytes[5..7]).ok_or_else(syntax)?;
        let day = digits(&bytes[8..10]).ok_or_else(syntax)?;
        let hour = digits(&bytes[11..13]).ok_or_else(syntax)?;
        let minute = digits(&bytes[14..16]).ok_or_else(syntax)?;
        let second = digits(&bytes[17..19]).ok_or_else(syntax)?;

        let mut rest = &bytes[19..];
        let mut nanos = 0;
        if let Some(after_dot) = rest.strip_prefix(b".") {
            let count = after_dot.iter().take_while(|b| b.is_ascii_digit()).count();
            if count == 0 {
                return Err(syntax());
            }
            let mut scale = 100_000_000;
            for digit in &after_dot[..count.min(9)] {
                nanos += u32::from(digit - b'0') * scale;
                scale /= 10;
            }
            rest = &after_dot[count..];
        }

        let offset_seconds = match rest {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), hours @ .., b':', m1, m2] if hours.len() == 2 => {
                let hours = digits(hours).ok_or_else(syntax)?;
                let minutes = digits(&[*m1, *m2]).ok_or_else(syntax)?;
                if hours > 23 || minutes > 59 {
                    return Err(out_of_range("offset"));
                }
                let magnitude = i32::try_from(hours * 3600 + minutes * 60)
                    .map_err(|_| out_of_range("offset"))?;
                if *sign == b'-' { -magnitude } else { magnitude }
            }
            _ => return Err(syntax()),
        };

        if !(1..=12).contains(&month) {
            return Err(out_of_range("month"));
        }
        if day < 1 || day > days_in_month(i64::from(year), month) {
            return Err(out_of_range("day"));
        }
        if hour > 23 {
            return Err(out_of_range("hour"));
        }
        if minute > 59 {
            return Err(out_of_range("minute"));
        }
        if second > 59 {
            return Err(out_of_range("second"));
        }

        let offset =
            UtcOffset::from_seconds(offset_seconds).ok_or_else(|| out_of_range("offset"))?;
        let local = days_from_civil(i64::from(year), month, day) * SECONDS_PER_DAY
            + i64::from(hour * 3600 + minute * 60 + second);
        let at = join_epoch(local - i64::from(offset_seconds), nanos)
            .ok_or_else(|| out_of_range("year"))?;
        Ok(Self { at, offset })
    }
}

impl fmt::Display for Timestamp {
    /// Writes the timestamp with [`Precision::Nanoseconds`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(Precision::Nanoseconds))
    }
}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TimestampVisitor)
    }
}

/// Reads a [`Timestamp`] from a JSON string.
struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
        Timestamp::parse(text).map_err(E::custom)
    }
}

/// Why text is not an RFC 3339 timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseTimestampError {
    /// The text does not have the shape
    /// `YYYY-MM-DDTHH:MM:SS[.fraction]` followed by `Z` or `±hh:mm`.
    Syntax {
        /// The text that was given.
        input: String,
    },
    /// The shape is right but one field is outside its range, such as month
    /// 13, February 30 in a common year, or a leap second.
    OutOfRange {
        /// The text that was given.
        input: String,
        /// The field that is out of range: `month`, `day`, `hour`, `minute`,
        /// `second`, `offset` or `year`.
        field: &'static str,
    },
}

impl fmt::Display for ParseTimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { input } => write!(
                f,
                "invalid timestamp {}: expected YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or ±hh:mm",
                super::quote(input)
            ),
            Self::OutOfRange { input, field } => {
                write!(
                    f,
                    "invalid timestamp {}: {field} out of range",
                    super::quote(input)
                )
            }
        }
    }
}

impl std::error::Error for ParseTimestampError {}

/// Serde helpers for a [`SystemTime`] written in UTC with
/// [`Precision::Milliseconds`]: the `/v1/logs` `time` field.
pub(crate) mod utc_millis {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        at: &SystemTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Timestamp::utc(*at).format(Precision::Milliseconds))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SystemTime, D::Error> {
        Ok(Timestamp::deserialize(deserializer)?.at())
    }
}

/// Serde helpers for a [`SystemTime`] written in UTC with
/// [`Precision::Nanoseconds`]: the follow-log `timestamp` field.
pub(crate) mod utc_nanos {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        at: &SystemTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Timestamp::utc(*at).format(Precision::Nanoseconds))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SystemTime, D::Error> {
        Ok(Timestamp::deserialize(deserializer)?.at())
    }
}

const SECONDS_PER_DAY: i64 = 86_400;

/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar.
const DAYS_TO_UNIX_EPOCH: i64 = 719_468;

/// Days in one 400-year cycle, which repeats exactly.
const DAYS_PER_ERA: i64 = 146_097;

/// Appends `.` and `value` written with `width` digits, trailing zeros
/// trimmed; appends nothing when `value` is zero.
fn push_fraction(out: &mut String, value: u32, width: usize) {
    if value == 0 {
        return;
    }
    let padded = format!("{value:0width$}");
    out.push('.');
    out.push_str(padded.trim_end_matches('0'));
}

/// The value of ASCII decimal digits, or `None` if any byte is not a digit.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0, |value: u32, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

/// Whole seconds since the Unix epoch, rounded down (so negative before
/// 1970), and the nanoseconds past that second.
fn split_epoch(at: SystemTime) -> (i64, u32) {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_nanos(),
        ),
        Err(before) => {
            let before = before.duration();
            let seconds = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-seconds, 0),
                nanos => (-seconds - 1, 1_000_000_000 - nanos),
            }
        }
    }
}

/// The inverse of [`split_epoch`], or `None` if `SystemTime` cannot hold it.
fn join_epoch(seconds: i64, nanos: u32) -> Option<SystemTime> {
    let whole = if seconds >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(seconds.unsigned_abs()))
    };
    whole?.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// Whether `year` has a February 29.
fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The number of days in `month` (1 to 12) of `year`.
fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The date (year, month 1–12, day 1–31) that is `days` after 1970-01-01.
///
/// The year is counted from March, so that February, with its leap day, ends
/// it: each 400-year era then has the same length, and inside a March-based
/// year the months have lengths 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31,
/// 28/29, whose running totals `(153 * m + 2) / 5` gives exactly.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let since_march_0000 = days + DAYS_TO_UNIX_EPOCH;
    let era = since_march_0000.div_euclid(DAYS_PER_ERA);
    let day_of_era = since_march_0000.rem_euclid(DAYS_PER_ERA); // 0..=146_096
    // Remove the leap days before `day_of_era` (one per 4 years, none per 100,
    // one again at the era's last day) to find the year inside the era.
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524
        - day_of_era / (DAYS_PER_ERA - 1))
        / 365; // 0..=399
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // 0..=365
    let march_month = (5 * day_of_year + 2) / 153; // 0..=11, March is 0
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    // Both casts are exact: `day` is in 1..=31 and `month` in 1..=12.
    (year, month as u32, day as u32)
}

/// Seconds from 1970-01-01T00:00:00Z to the UTC time `year`-`month`-`day`
/// `hour`:`minute`:`second` (negative before it); `None` when a field is out
/// of range (no leap second).
#[cfg(feature = "tls")]
pub(crate) fn epoch_seconds(
    year: i64,
    month: u32,
    day: u32,
    (hour, minute, second): (u32, u32, u32),
) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| {
        days_from_civil(year, month, day) * SECONDS_PER_DAY
            + i64::from(hour * 3600 + minute * 60 + second)
    })
}

/// The number of days from 1970-01-01 to the date `year`-`month`-`day`
/// (negative before it): the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let march_month = i64::from((month + 9) % 12);
    let day_of_year = (153 * march_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - DAYS_TO_UNIX_EPOCH
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The instant `seconds` and `nanos` after the epoch (`seconds` may be
    /// negative). The epoch values below were computed independently.
    fn at(seconds: i64, nanos: u32) -> SystemTime {
        join_epoch(seconds, nanos).unwrap()
    }

    fn offset(seconds: i32) -> UtcOffset {
        UtcOffset::from_seconds(seconds).unwrap()
    }

    const MARCH_1_2025_10_15_30: i64 = 1_740_824_130;

    #[test]
    fn nanoseconds_trims_trailing_zeros() {
        let cases = [
            (660_000_000, "2025-03-01T10:15:30.66Z"),
            (0, "2025-03-01T10:15:30Z"),
            (1, "2025-03-01T10:15:30.000000001Z"),
            (123_456_789, "2025-03-01T10:15:30.123456789Z"),
            (100_000_000, "2025-03-01T10:15:30.1Z"),
        ];
        for (nanos, text) in cases {
            let stamp = Timestamp::utc(at(MARCH_1_2025_10_15_30, nanos));
            assert_eq!(stamp.to_string(), text);
            assert_eq!(stamp.format(Precision::Nanoseconds), text);
        }
    }

    #[test]
    fn milliseconds_cut_then_trim() {
        let cases = [
            (660_000_000, "2025-03-01T10:15:30.66Z"),
            (0, "2025-03-01T10:15:30Z"),
            (999_999, "2025-03-01T10:15:30Z"),
            (120_000_000, "2025-03-01T10:15:30.12Z"),
            (666_999_999, "2025-03-01T10:15:30.666Z"),
            (5_000_000, "2025-03-01T10:15:30.005Z"),
        ];
        for (nanos, text) in cases {
            let stamp = Timestamp::utc(at(MARCH_1_2025_10_15_30, nanos));
            assert_eq!(stamp.format(Precision::Milliseconds), text);
        }
    }

    #[test]
    fn seconds_drop_the_fraction() {
        let stamp = Timestamp::new(at(MARCH_1_2025_10_15_30, 999_999_999), offset(3600));
        assert_eq!(
            stamp.format(Precision::Seconds),
            "2025-03-01T11:15:30+01:00"
        );
    }

    #[test]
    fn offsets_shift_the_clock_and_the_date() {
        let two_am = 1_740_794_400; // 2025-03-01T02:00:00Z
        let cases = [
            (0, "2025-03-01T02:00:00Z"),
            (3600, "2025-03-01T03:00:00+01:00"),
            (-(5 * 3600 + 30 * 60), "2025-02-28T20:30:00-05:30"),
            (23 * 3600 + 59 * 60, "2025-03-02T01:59:00+23:59"),
            (-30 * 60, "2025-03-01T01:30:00-00:30"),
        ];
        for (seconds, text) in cases {
            let stamp = Timestamp::new(at(two_am, 0), offset(seconds));
            assert_eq!(stamp.to_string(), text);
            assert_eq!(Timestamp::parse(text), Ok(stamp));
        }
        let spec_example = Timestamp::new(at(1_740_819_601, 500_000_000), offset(3600));
        assert_eq!(spec_example.to_string(), "2025-03-01T10:00:01.5+01:00");
    }

    #[test]
    fn offsets_are_whole_minutes_within_a_day() {
        assert_eq!(
            UtcOffset::from_seconds(3630).map(UtcOffset::seconds),
            Some(3600)
        );
        assert_eq!(
            UtcOffset::from_seconds(-3630).map(UtcOffset::seconds),
            Some(-3600)
        );
        assert_eq!(UtcOffset::from_seconds(59).map(UtcOffset::seconds), Some(0));
        assert!(UtcOffset::from_seconds(86_340).is_some());
        assert!(UtcOffset::from_seconds(-86_340).is_some());
        assert!(UtcOffset::from_seconds(86_400).is_none());
        assert!(UtcOffset::from_seconds(-86_400).is_none());
        assert!(UtcOffset::UTC.is_utc());
        assert_eq!(UtcOffset::default(), UtcOffset::UTC);
    }

    #[test]
    fn calendar_edges() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00Z"),
            (-1, 0, "1969-12-31T23:59:59Z"),
            (-1, 500_000_000, "1969-12-31T23:59:59.5Z"),
            (1_709_208_000, 0, "2024-02-29T12:00:00Z"),
            (951_782_400, 0, "2000-02-29T00:00:00Z"),
            (4_107_542_399, 0, "2100-02-28T23:59:59Z"),
            (4_107_542_400, 0, "2100-03-01T00:00:00Z"),
            (-2_203_891_200, 0, "1900-03-01T00:00:00Z"),
            (253_402_300_799, 0, "9999-12-31T23:59:59Z"),
            (-62_135_596_800, 0, "0001-01-01T00:00:00Z"),
        ];
        for (seconds, nanos, text) in cases {
            let stamp = Timestamp::utc(at(seconds, nanos));
            assert_eq!(stamp.to_string(), text);
            assert_eq!(Timestamp::parse(text), Ok(stamp), "{text}");
        }
    }

    #[test]
    fn day_arithmetic_matches_stepping_through_the_calendar() {
        // Walk day by day from 1600-01-01 to 2400-12-31 with the simplest
        // possible rules and compare both conversions at every day.
        let mut days = days_from_civil(1600, 1, 1);
        assert_eq!(days, -135_140);
        for year in 1600..=2400 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(civil_from_days(days), (year, month, day));
                    assert_eq!(days_from_civil(year, month, day), days);
                    days += 1;
                }
            }
        }
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2024));
    }

    #[test]
    fn parse_accepts_rfc3339_variants() {
        let base = at(MARCH_1_2025_10_15_30, 0);
        let cases = [
            ("2025-03-01T10:15:30Z", Timestamp::utc(base)),
            ("2025-03-01t10:15:30z", Timestamp::utc(base)),
            (
                "2025-03-01T10:15:30.66Z",
                Timestamp::utc(at(MARCH_1_2025_10_15_30, 660_000_000)),
            ),
            (
                "2025-03-01T10:15:30.1234567891Z",
                Timestamp::utc(at(MARCH_1_2025_10_15_30, 123_456_789)),
            ),
            ("2025-03-01T10:15:30.000Z", Timestamp::utc(base)),
            (
                "2025-03-01T11:15:30+01:00",
                Timestamp::new(base, offset(3600)),
            ),
            (
                "2025-03-01T04:45:30-05:30",
                Timestamp::new(base, offset(-19_800)),
            ),
            ("2025-03-01T10:15:30+00:00", Timestamp::utc(base)),
        ];
        for (text, want) in cases {
            assert_eq!(Timestamp::parse(text), Ok(want), "{text}");
            assert_eq!(text.parse::<Timestamp>(), Ok(want), "{text}");
        }
    }

    #[test]
    fn parse_rejects_bad_text() {
        for text in [
            "",
            "2025-03-01",
            "2025-03-01T10:15:30",
            "2025-03-01 10:15:30Z",
            "2025-3-01T10:15:30Z",
            "2025-03-01T10:15:30.Z",
            "2025-03-01T10:15:30+0100",
            "2025-03-01T10:15:30+01",
            "2025-03-01T10:15:30Zjunk",
            "+025-03-01T10:15:30Z",
            "2025-03-01T10:15:3xZ",
        ] {
            assert_eq!(
                Timestamp::parse(text),
                Err(ParseTimestampError::Syntax { input: text.into() }),
                "{text}"
            );
        }
        for (text, field) in [
            ("2025-13-01T10:15:30Z", "month"),
            ("2025-00-01T10:15:30Z", "month"),
            ("2025-02-29T10:15:30Z", "day"),
            ("2100-02-29T10:15:30Z", "day"),
            ("2025-04-31T10:15:30Z", "day"),
            ("2025-03-00T10:15:30Z", "day"),
            ("2025-03-01T24:00:00Z", "hour"),
            ("2025-03-01T10:60:00Z", "minute"),
            ("2025-03-01T10:15:60Z", "second"),
            ("2025-03-01T10:15:30+24:00", "offset"),
            ("2025-03-01T10:15:30+01:60", "offset"),
        ] {
            assert_eq!(
                Timestamp::parse(text),
                Err(ParseTimestampError::OutOfRange {
                    input: text.into(),
                    field
                }),
                "{text}"
            );
        }
        assert_eq!(Timestamp::parse("2024-02-29T00:00:00Z").map(|_| ()), Ok(()));
    }

    #[test]
    fn parse_error_messages() {
        assert_eq!(
            Timestamp::parse("soon").unwrap_err().to_string(),
            r#"invalid timestamp "soon": expected YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or ±hh:mm"#
        );
        assert_eq!(
            Timestamp::parse("2025-13-01T10:15:30Z")
                .unwrap_err()
                .to_string(),
            r#"invalid timestamp "2025-13-01T10:15:30Z": month out of range"#
        );
    }

    #[test]
    fn serde_round_trip() {
        let stamp = Timestamp::new(at(MARCH_1_2025_10_15_30, 120_000_000), offset(-19_800));
        let json = serde_json::to_value(stamp).unwrap();
        assert_eq!(json, serde_json::json!("2025-03-01T04:45:30.12-05:30"));
        assert_eq!(serde_json::from_value::<Timestamp>(json).unwrap(), stamp);
        let error =
            serde_json::from_value::<Timestamp>(serde_json::json!("yesterday")).unwrap_err();
        assert!(error.to_string().contains("invalid timestamp"), "{error}");
        assert!(serde_json::from_value::<Timestamp>(serde_json::json!(17)).is_err());
    }
}
