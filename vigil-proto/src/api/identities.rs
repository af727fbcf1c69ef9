//! `/v1/identities` (spec api.md §5, §6.10, §8): access levels, the identity
//! shapes Pebble uses on the wire, and the seed file format.
//!
//! The wire types keep what the client wrote (`access` as text, `user-id`
//! optional) so that the daemon can answer a bad value with Pebble's
//! `invalid identity for "x": ...` message instead of a decoding error. The
//! daemon validates them into its own model.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::plan::yaml::{self, Kind, Node};

/// What every secret is shown as in replies.
pub const MASK: &str = "*****";

/// A caller's access level, lowest first (spec api.md §5). `write` is a
/// vigil extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Open endpoints only.
    Untrusted,
    /// Open endpoints and metrics.
    Metrics,
    /// Reading state.
    Read,
    /// Controlling services, layers, signals, changes (D22).
    Write,
    /// Everything.
    Admin,
}

impl Access {
    /// Every level, lowest first.
    pub const ALL: [Access; 5] = [
        Access::Untrusted,
        Access::Metrics,
        Access::Read,
        Access::Write,
        Access::Admin,
    ];

    /// The level as it is spelled on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Untrusted => "untrusted",
            Self::Metrics => "metrics",
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An access level that is none of the five.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidAccess(pub String);

impl fmt::Display for InvalidAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str(
                r#"access value must be specified ("untrusted", "metrics", "read", "write" or "admin")"#,
            );
        }
        write!(
            f,
            r#"invalid access value {}, must be "untrusted", "metrics", "read", "write" or "admin""#,
            super::quote(&self.0)
        )
    }
}

impl std::error::Error for InvalidAccess {}

impl FromStr for Access {
    type Err = InvalidAccess;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|access| access.as_str() == text)
            .ok_or_else(|| InvalidAccess(text.to_owned()))
    }
}

/// One identity as it travels: in `GET /v1/identities` replies (secrets
/// masked), in `POST /v1/identities` bodies and in seed files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The access level as written; the daemon checks it.
    #[serde(rename = "access", default)]
    pub access: String,
    /// Present for a `local` identity (peer uid on the Unix socket).
    #[serde(rename = "local", default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalIdentity>,
    /// Present for a `basic` identity (HTTP Basic authentication).
    #[serde(rename = "basic", default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicIdentity>,
    /// Present for a `cert` identity (client certificate over mTLS).
    #[serde(rename = "cert", default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<CertIdentity>,
}

impl Identity {
    /// The identity's types, sorted: `basic`, `cert`, `local`.
    #[must_use]
    pub fn types(&self) -> Vec<&'static str> {
        let mut types = Vec::new();
        if self.basic.is_some() {
            types.push("basic");
        }
        if self.cert.is_some() {
            types.push("cert");
        }
        if self.local.is_some() {
            types.push("local");
        }
        types
    }
}

/// `{"user-id": 1000}`. The id is optional on the wire only so that its
/// absence gets a clear message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalIdentity {
    /// The peer uid that this identity matches.
    #[serde(rename = "user-id", default)]
    pub user_id: Option<u32>,
}

/// `{"password": "$6$..."}`: a sha512-crypt hash, or [`MASK`] in replies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicIdentity {
    /// The password hash.
    #[serde(rename = "password", default)]
    pub password: String,
}

/// `{"pem": "-----BEGIN CERTIFICATE-----..."}`, or [`MASK`] in replies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertIdentity {
    /// One PEM certificate.
    #[serde(rename = "pem", default)]
    pub pem: String,
}

/// The reply of `GET /v1/identities`: name to identity, secrets masked.
pub type IdentityMap = BTreeMap<String, Identity>;

/// The body of `POST /v1/identities`, and the shape of a seed file (whose
/// `action` is ignored): `{"action": "add", "identities": {name: identity or
/// null}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitiesRequest {
    /// `add`, `update`, `replace` or `remove`, as the client sent it.
    #[serde(rename = "action", default)]
    pub action: String,
    /// The identities named; `null` deletes (replace) or names (remove).
    #[serde(rename = "identities", default)]
    pub identities: BTreeMap<String, Option<Identity>>,
}

/// What `POST /v1/identities` can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentitiesAction {
    /// Every name must be new.
    Add,
    /// Every name must exist.
    Update,
    /// Create or overwrite; `null` deletes.
    Replace,
    /// Every value null, every name existing.
    Remove,
}

impl IdentitiesAction {
    /// The action as it is spelled on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Remove => "remove",
        }
    }
}

impl fmt::Display for IdentitiesAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IdentitiesAction {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "add" => Ok(Self::Add),
            "update" => Ok(Self::Update),
            "replace" => Ok(Self::Replace),
            "remove" => Ok(Self::Remove),
            _ => Err(format!(
                r#"invalid action {}, must be "add", "update", "replace", or "remove""#,
                super::quote(text)
            )),
        }
    }
}

/// Reads a seed file (spec api.md §8): YAML (or JSON, which is YAML too)
/// shaped like the body of `POST /v1/identities`. An empty file seeds
/// nothing.
///
/// # Errors
///
/// A one-line message naming the line when the text is not YAML, or saying
/// which value has the wrong shape.
pub fn parse_seed(text: &str) -> Result<IdentitiesRequest, String> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(IdentitiesRequest::default()),
        Err(error) => {
            return Err(format!(
                "line {}: {}",
                error.mark.line,
                error.message.trim_end()
            ));
        }
    };
    let value = to_json(&root);
    serde_json::from_value(value).map_err(|error| format!("invalid identities: {error}"))
}

/// A YAML node as the JSON value it denotes, with YAML 1.2's core schema for
/// plain scalars (null, booleans, integers).
fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    if node.is_null() {
        return Value::Null;
    }
    match &node.kind {
        Kind::Scalar { text, plain } => {
            if *plain {
                match text.as_str() {
                    "true" | "True" | "TRUE" => return Value::Bool(true),
                    "false" | "False" | "FALSE" => return Value::Bool(false),
                    _ => {}
                }
                if let Ok(number) = text.parse::<i64>() {
                    return Value::from(number);
                }
            }
            Value::String(text.clone())
        }
        Kind::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Mapping(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(key, value)| {
                    let key = match &key.kind {
                        Kind::Scalar { text, .. } => text.clone(),
                        _ => key.describe().to_owned(),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_spelled() {
        assert!(Access::Untrusted < Access::Metrics);
        assert!(Access::Write < Access::Admin);
        for access in Access::ALL {
            assert_eq!(access.as_str().parse::<Access>(), Ok(access));
        }
        assert_eq!(
            "root".parse::<Access>().unwrap_err().to_string(),
            r#"invalid access value "root", must be "untrusted", "metrics", "read", "write" or "admin""#
        );
    }

    #[test]
    fn a_seed_reads_as_yaml() {
        let seed = parse_seed(
            "identities:\n  alice:\n    access: admin\n    local:\n      user-id: 1000\n  \
             scraper:\n    access: metrics\n    basic:\n      password: $6$abc$def\n  gone: null\n",
        )
        .unwrap();
        let alice = seed.identities["alice"].as_ref().unwrap();
        assert_eq!(alice.access, "admin");
        assert_eq!(alice.local.as_ref().unwrap().user_id, Some(1000));
        let scraper = seed.identities["scraper"].as_ref().unwrap();
        assert_eq!(scraper.basic.as_ref().unwrap().password, "$6$abc$def");
        assert_eq!(seed.identities["gone"], None);
        assert_eq!(parse_seed("").unwrap(), IdentitiesRequest::default());
        assert!(parse_seed("identities: [1]").is_err());
    }

    #[test]
    fn masked_replies_omit_absent_types() {
        let identity = Identity {
            access: "metrics".into(),
            basic: Some(BasicIdentity {
                password: MASK.into(),
            }),
            ..Identity::default()
        };
        assert_eq!(
            serde_json::to_string(&identity).unwrap(),
            r#"{"access":"metrics","basic":{"password":"*****"}}"#
        );
        assert_eq!(identity.types(), ["basic"]);
    }
}
