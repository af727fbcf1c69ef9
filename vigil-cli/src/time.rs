//! Times in tables (cli.md §2.3): relative to now in the local zone, as
//! Pebble's CLI shows them, or RFC 3339 with whole seconds (`--abs-time`).
//!
//! | when (local days from today) | shown as |
//! |---|---|
//! | −60 … −2 | `5 days ago, at 15:04 UTC` |
//! | −1, 0, +1 | `yesterday at 15:04 UTC`, `today at …`, `tomorrow at …` |
//! | +2 … +60 | `in 5 days, at 15:04 UTC` |
//! | otherwise | `2025-01-31` |
//!
//! "Now" and the zone come in from outside ([`Times::new`]), so the rules
//! are tested with a fixed clock and zone; only [`LocalZone`] asks the C
//! library about the machine's zone.

use std::ffi::CStr;
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use vigil_proto::api::time::Precision;
use vigil_proto::api::{Timestamp, UtcOffset};

/// How many days before or after today are still shown relative to today.
const RELATIVE_DAYS: i64 = 60;

const SECONDS_PER_DAY: i64 = 86_400;

/// A zone's state at one instant: its offset and its abbreviation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneAt {
    /// The distance from UTC.
    pub offset: UtcOffset,
    /// The abbreviation, such as `UTC` or `CET`.
    pub name: String,
}

/// A time zone, which may change its offset over time (daylight saving).
pub trait Zone {
    /// The offset and abbreviation in force at `instant`.
    fn at(&self, instant: SystemTime) -> ZoneAt;
}

/// The machine's local zone, as the C library reads it (`TZ`, then
/// `/etc/localtime`; UTC when neither is there, as in most containers).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalZone;

unsafe extern "C" {
    /// POSIX `tzset`, which the libc crate does not declare for Linux.
    fn tzset();
}

impl Zone for LocalZone {
    fn at(&self, instant: SystemTime) -> ZoneAt {
        static TZSET: Once = Once::new();
        // SAFETY: `tzset` only reads the environment and the zone files; the
        // CLI is single-threaded and never changes its environment.
        TZSET.call_once(|| unsafe { tzset() });
        let seconds = epoch_seconds(instant) as libc::time_t;
        // SAFETY: `tm` is plain data that `localtime_r` fills in; it is read
        // only when the call succeeds. `tm_zone` then points to a static
        // string of the C library, or is null.
        let zone = unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&seconds, &mut tm).is_null() {
                None
            } else {
                let name = (!tm.tm_zone.is_null())
                    .then(|| CStr::from_ptr(tm.tm_zone).to_string_lossy().into_owned());
                Some((tm.tm_gmtoff, name))
            }
        };
        let Some((gmtoff, name)) = zone else {
            return ZoneAt {
                offset: UtcOffset::UTC,
                name: "UTC".to_owned(),
            };
        };
        let offset = i32::try_from(gmtoff)
            .ok()
            .and_then(UtcOffset::from_seconds)
            .unwrap_or(UtcOffset::UTC);
        let name = name
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| numeric_name(offset));
        ZoneAt { offset, name }
    }
}

/// A zone with one offset and name for all time, for tests.
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedZone(pub ZoneAt);

#[cfg(test)]
impl Zone for FixedZone {
    fn at(&self, _instant: SystemTime) -> ZoneAt {
        self.0.clone()
    }
}

/// `+0100` for a zone without an abbreviation, as Go prints one.
fn numeric_name(offset: UtcOffset) -> String {
    let minutes = offset.seconds() / 60;
    let sign = if minutes < 0 { '-' } else { '+' };
    format!("{sign}{:02}{:02}", minutes.abs() / 60, minutes.abs() % 60)
}

/// Whole seconds since the epoch, rounded down.
fn epoch_seconds(instant: SystemTime) -> i64 {
    match instant.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let seconds = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() == 0 {
                -seconds
            } else {
                -seconds - 1
            }
        }
    }
}

/// The local day number (days since 1970-01-01 in the zone) of `instant`.
fn local_day(instant: SystemTime, offset: UtcOffset) -> i64 {
    (epoch_seconds(instant) + i64::from(offset.seconds())).div_euclid(SECONDS_PER_DAY)
}

/// How the times of one table are shown.
pub struct Times<'a> {
    now: SystemTime,
    zone: &'a dyn Zone,
    absolute: bool,
}

impl<'a> Times<'a> {
    /// Times relative to `now` in `zone`, or absolute with `absolute`.
    pub fn new(now: SystemTime, zone: &'a dyn Zone, absolute: bool) -> Self {
        Self {
            now,
            zone,
            absolute,
        }
    }

    /// One time for a table cell.
    pub fn format(&self, stamp: Timestamp) -> String {
        if self.absolute {
            // In the offset vigild wrote it with, as Pebble's `--abs-time`.
            return stamp.format(Precision::Seconds);
        }
        let then = stamp.at();
        let zone = self.zone.at(then);
        let local = Timestamp::new(then, zone.offset).format(Precision::Seconds);
        let (date, rest) = local.split_once('T').unwrap_or((&local, ""));
        let clock = rest.get(..5).unwrap_or(rest);
        let days =
            local_day(then, zone.offset) - local_day(self.now, self.zone.at(self.now).offset);
        let name = &zone.name;
        match days {
            -1 => format!("yesterday at {clock} {name}"),
            0 => format!("today at {clock} {name}"),
            1 => format!("tomorrow at {clock} {name}"),
            days if (-RELATIVE_DAYS..0).contains(&days) => {
                format!("{} days ago, at {clock} {name}", -days)
            }
            days if (1..=RELATIVE_DAYS).contains(&days) => {
                format!("in {days} days, at {clock} {name}")
            }
            _ => date.to_owned(),
        }
    }

    /// A time, or `-` when there is none.
    pub fn format_optional(&self, stamp: Option<Timestamp>) -> String {
        stamp.map_or_else(|| "-".to_owned(), |stamp| self.format(stamp))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// 2025-03-01T10:15:30Z.
    const NOW: u64 = 1_740_824_130;

    fn at(seconds: i64) -> SystemTime {
        if seconds >= 0 {
            UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
        }
    }

    fn zone(offset: i32, name: &str) -> FixedZone {
        FixedZone(ZoneAt {
            offset: UtcOffset::from_seconds(offset).unwrap(),
            name: name.to_owned(),
        })
    }

    fn human(then: i64, zone: &dyn Zone) -> String {
        Times::new(at(NOW as i64), zone, false).format(Timestamp::utc(at(then)))
    }

    #[test]
    fn relative_in_utc() {
        let utc = zone(0, "UTC");
        let now = NOW as i64;
        let hour = 3600;
        let day = 86_400;
        let cases = [
            (now, "today at 10:15 UTC"),
            (now - 10 * hour, "today at 00:15 UTC"),
            (now + 13 * hour, "today at 23:15 UTC"),
            (now - 11 * hour, "yesterday at 23:15 UTC"),
            (now + 14 * hour, "tomorrow at 00:15 UTC"),
            (now - 2 * day, "2 days ago, at 10:15 UTC"),
            (now - 60 * day, "60 days ago, at 10:15 UTC"),
            (now - 61 * day, "2024-12-30"),
            (now + 2 * day, "in 2 days, at 10:15 UTC"),
            (now + 60 * day, "in 60 days, at 10:15 UTC"),
            (now + 61 * day, "2025-05-01"),
        ];
        for (then, want) in cases {
            assert_eq!(human(then, &utc), want, "{then}");
        }
    }

    #[test]
    fn days_are_counted_in_the_local_zone() {
        // 10:15 UTC is 23:15 at +13:00; 23:30 UTC of the same day is
        // already tomorrow there.
        let plus13 = zone(13 * 3600, "+13");
        assert_eq!(human(NOW as i64, &plus13), "today at 23:15 +13");
        assert_eq!(
            human(NOW as i64 + 13 * 3600, &plus13),
            "tomorrow at 12:15 +13"
        );
        let minus5 = zone(-5 * 3600, "EST");
        assert_eq!(
            human(NOW as i64 - 6 * 3600, &minus5),
            "yesterday at 23:15 EST"
        );
    }

    #[test]
    fn absolute_keeps_the_wire_offset_and_drops_the_fraction() {
        let stamp = Timestamp::parse("2025-03-01T10:00:01.5+01:00").unwrap();
        let utc = zone(0, "UTC");
        let times = Times::new(at(NOW as i64), &utc, true);
        assert_eq!(times.format(stamp), "2025-03-01T10:00:01+01:00");
        assert_eq!(times.format_optional(None), "-");
    }

    #[test]
    fn numeric_zone_names() {
        assert_eq!(
            numeric_name(UtcOffset::from_seconds(3600).unwrap()),
            "+0100"
        );
        assert_eq!(
            numeric_name(UtcOffset::from_seconds(-(5 * 3600 + 1800)).unwrap()),
            "-0530"
        );
    }

    #[test]
    fn epoch_seconds_round_down() {
        assert_eq!(epoch_seconds(at(-1)), -1);
        assert_eq!(epoch_seconds(UNIX_EPOCH - Duration::from_millis(1)), -1);
        assert_eq!(epoch_seconds(at(5) + Duration::from_millis(999)), 5);
    }

    #[test]
    fn local_zone_answers() {
        // Whatever the machine's zone, it has a name and a valid offset.
        let zone = LocalZone.at(at(NOW as i64));
        assert!(!zone.name.is_empty());
    }
}
