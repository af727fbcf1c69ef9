//! Change and task ids (spec api.md §4.4 and §7).
//!
//! Each kind of id has its own counter starting at 1, and goes on the wire as
//! a decimal string (`"17"`), as Pebble's ids do. The Go client requires ids
//! made of lower-case letters and digits; ours are digits only.
//!
//! Parsing is strict: only the canonical form the daemon writes (digits, no
//! sign, no leading zero) is an id, so `/v1/changes/017` is not change 17.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares an id newtype over `u64` that is written as a decimal string.
macro_rules! decimal_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u64);

        impl $name {
            #[doc = concat!("The ", $what, " id with this number.")]
            #[must_use]
            pub const fn new(number: u64) -> Self {
                Self(number)
            }

            #[doc = concat!("The number of this ", $what, " id.")]
            #[must_use]
            pub const fn number(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_decimal(text).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer
                    .deserialize_str(IdVisitor)
                    .map(Self)
            }
        }
    };
}

decimal_id!(
    /// The id of a change: `"17"` on the wire.
    ChangeId,
    "change"
);

decimal_id!(
    /// The id of a task: `"31"` on the wire.
    TaskId,
    "task"
);

/// Text that is not an id: ids are decimal digits without a sign or a
/// leading zero, and fit in 64 bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseIdError {
    input: String,
}

impl ParseIdError {
    /// The text that was given.
    #[must_use]
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid id {}: expected decimal digits without a leading zero",
            super::quote(&self.input)
        )
    }
}

impl std::error::Error for ParseIdError {}

/// Parses the canonical decimal form of an id.
fn parse_decimal(text: &str) -> Result<u64, ParseIdError> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| ParseIdError {
            input: text.to_owned(),
        })
}

/// Reads an id's number from a JSON string.
struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id as a string of decimal digits")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
        parse_decimal(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_are_decimal_strings() {
        assert_eq!(
            serde_json::to_value(ChangeId::new(17)).unwrap(),
            json!("17")
        );
        assert_eq!(serde_json::to_value(TaskId::new(31)).unwrap(), json!("31"));
        assert_eq!(
            serde_json::from_value::<ChangeId>(json!("17")).unwrap(),
            ChangeId::new(17)
        );
        assert_eq!(
            serde_json::from_value::<TaskId>(json!("18446744073709551615")).unwrap(),
            TaskId::new(u64::MAX)
        );
        assert_eq!(ChangeId::new(1).to_string(), "1");
        assert_eq!(ChangeId::new(9).number(), 9);
    }

    #[test]
    fn only_the_canonical_form_parses() {
        assert_eq!("42".parse(), Ok(ChangeId::new(42)));
        assert_eq!("0".parse(), Ok(TaskId::new(0)));
        for text in [
            "",
            "017",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1a",
            "18446744073709551616",
        ] {
            assert_eq!(
                text.parse::<ChangeId>(),
                Err(ParseIdError { input: text.into() }),
                "{text:?}"
            );
        }
        assert!(serde_json::from_value::<ChangeId>(json!(17)).is_err());
        assert!(serde_json::from_value::<ChangeId>(json!("x")).is_err());
        assert_eq!(
            "017".parse::<ChangeId>().unwrap_err().to_string(),
            r#"invalid id "017": expected decimal digits without a leading zero"#
        );
    }

    #[test]
    fn ids_order_numerically() {
        assert!(ChangeId::new(9) < ChangeId::new(10));
    }
}
