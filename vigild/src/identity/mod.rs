//! Identities (spec api.md §5, §6.10, §8): who a caller is and what level
//! of access that gives.
//!
//! - this file: the validated model, [`Identities`], and the four
//!   `POST /v1/identities` actions, each all-or-nothing;
//! - [`resolve`]: from a connection's peer and its `Authorization` header
//!   to an access level, in the spec's order (certificate, basic, local
//!   uid, then the uid rules);
//! - [`persist`]: the state file under `--state-dir`, written atomically,
//!   and the `--identities` seed.
//!
//! The model never stores a plain password: a `basic` identity holds the
//! sha512-crypt hash the client sent, and verification goes through the
//! `sha-crypt` crate, which compares in constant time. Nothing here touches
//! a socket; only [`persist`] touches files.

pub mod persist;
pub mod resolve;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use vigil_proto::api::identities::{self as wire, MASK};
use vigil_proto::api::{Access, IdentitiesAction, quote};

pub use resolve::{Failed, Resolved, resolve};

/// One validated identity: a level and at least one way to be recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// What the identity may do.
    pub access: Access,
    /// The peer uid of a `local` identity.
    pub local: Option<u32>,
    /// The password hash of a `basic` identity, as the client stored it.
    /// Only `$6$` (sha512-crypt) hashes can ever verify.
    pub basic: Option<String>,
    /// The PEM certificate of a `cert` identity.
    pub cert: Option<String>,
}

/// A name that is valid for an identity: an ASCII letter, then ASCII
/// letters, digits, `_` or `-`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Identity {
    /// Validates what a client sent for `name` (spec api.md §6.10). The
    /// error is the reason, without the `invalid identity for "x": ` prefix.
    ///
    /// # Errors
    ///
    /// A lower-case reason naming the field at fault.
    pub fn from_wire(name: &str, identity: &wire::Identity) -> Result<Self, String> {
        if !valid_name(name) {
            return Err(
                "name must start with an ASCII letter and contain only ASCII letters, digits, \
                 \"_\" and \"-\""
                    .to_owned(),
            );
        }
        let access: Access = identity.access.parse().map_err(|e| format!("{e}"))?;
        if identity.local.is_none() && identity.basic.is_none() && identity.cert.is_none() {
            return Err(
                r#"identity must have at least one type ("local", "basic" or "cert")"#.to_owned(),
            );
        }
        let local = match &identity.local {
            Some(local) => Some(
                local
                    .user_id
                    .ok_or_else(|| "local identity must specify user-id".to_owned())?,
            ),
            None => None,
        };
        let basic = match &identity.basic {
            Some(basic) if basic.password.is_empty() => {
                return Err("basic identity must specify password (hashed)".to_owned());
            }
            Some(basic) => Some(basic.password.clone()),
            None => None,
        };
        let cert = match &identity.cert {
            Some(cert) => {
                check_pem(&cert.pem)?;
                Some(cert.pem.clone())
            }
            None => None,
        };
        Ok(Self {
            access,
            local,
            basic,
            cert,
        })
    }

    /// The identity on the wire, with its secrets masked (replies) or in
    /// full (the state file).
    #[must_use]
    pub fn to_wire(&self, masked: bool) -> wire::Identity {
        let secret = |text: &String| match masked {
            true => MASK.to_owned(),
            false => text.clone(),
        };
        wire::Identity {
            access: self.access.as_str().to_owned(),
            local: self
                .local
                .map(|uid| wire::LocalIdentity { user_id: Some(uid) }),
            basic: self.basic.as_ref().map(|hash| wire::BasicIdentity {
                password: secret(hash),
            }),
            cert: self
                .cert
                .as_ref()
                .map(|pem| wire::CertIdentity { pem: secret(pem) }),
        }
    }
}

/// Checks that `pem` holds exactly one PEM certificate and nothing after
/// it. Whether the DER inside is a sound certificate is for the TLS layer.
fn check_pem(pem: &str) -> Result<(), String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = pem.trim();
    let body = text
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix(END))
        .ok_or_else(|| "cert.pem must hold exactly one PEM certificate".to_owned())?;
    if body.contains("-----") {
        return Err("cert.pem must hold exactly one PEM certificate".to_owned());
    }
    let base64: String = body.split_whitespace().collect();
    use base64ct::Encoding as _;
    match base64ct::Base64::decode_vec(&base64) {
        Ok(der) if !der.is_empty() => Ok(()),
        _ => Err("cert.pem holds a certificate that is not valid base64".to_owned()),
    }
}

/// Every identity, by name. A change builds a new set and only replaces
/// this one when the whole request is valid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identities(BTreeMap<String, Identity>);

/// Why a change of identities was refused: the 400 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeError(pub String);

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Identities {
    /// The identity called `name`.
    #[must_use]
    pub fn named(&self, name: &str) -> Option<&Identity> {
        self.0.get(name)
    }

    /// Every identity, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Identity)> {
        self.0.iter()
    }

    /// The number of identities.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The reply of `GET /v1/identities`: secrets masked.
    #[must_use]
    pub fn to_api(&self) -> wire::IdentityMap {
        self.0
            .iter()
            .map(|(name, identity)| (name.clone(), identity.to_wire(true)))
            .collect()
    }

    /// The set after `action` with `changes` (spec api.md §6.10), or the
    /// reason it is refused; `self` is never modified.
    ///
    /// # Errors
    ///
    /// Pebble's messages: an invalid identity, a null where a value is
    /// needed (or the reverse), a name that exists or does not, or two
    /// identities with one uid.
    pub fn with_change(
        &self,
        action: IdentitiesAction,
        changes: &BTreeMap<String, Option<wire::Identity>>,
    ) -> Result<Identities, ChangeError> {
        let mut valid = BTreeMap::new();
        for (name, identity) in changes {
            if let Some(identity) = identity {
                let identity = Identity::from_wire(name, identity).map_err(|reason| {
                    ChangeError(format!("invalid identity for {}: {reason}", quote(name)))
                })?;
                valid.insert(name.clone(), identity);
            } else if matches!(action, IdentitiesAction::Add | IdentitiesAction::Update) {
                return Err(ChangeError(format!(
                    "identity value for {} must not be null for {action} operation",
                    quote(name)
                )));
            }
        }
        if action == IdentitiesAction::Remove
            && let Some(name) = valid.keys().next()
        {
            return Err(ChangeError(format!(
                "identity value for {} must be null for remove operation",
                quote(name)
            )));
        }
        let mut next = self.0.clone();
        for name in changes.keys() {
            let exists = next.contains_key(name);
            match action {
                IdentitiesAction::Add if exists => {
                    return Err(ChangeError(format!(
                        "identity {} already exists",
                        quote(name)
                    )));
                }
                IdentitiesAction::Update | IdentitiesAction::Remove if !exists => {
                    return Err(ChangeError(format!(
                        "identity {} does not exist",
                        quote(name)
                    )));
                }
                _ => {}
            }
            match valid.remove(name) {
                Some(identity) => next.insert(name.clone(), identity),
                None => next.remove(name),
            };
        }
        let mut by_uid: BTreeMap<u32, &String> = BTreeMap::new();
        for (name, identity) in &next {
            if let Some(uid) = identity.local
                && let Some(other) = by_uid.insert(uid, name)
            {
                return Err(ChangeError(format!(
                    "cannot have multiple identities with user ID {uid} ({other}, {name})"
                )));
            }
        }
        Ok(Identities(next))
    }
}

/// The identities in force and where they are persisted.
#[derive(Debug, Default)]
pub struct Store {
    /// The identities in force.
    pub identities: Identities,
    /// The state file, or `None` with `--persist never`.
    pub state_file: Option<PathBuf>,
}

/// Why `POST /v1/identities` failed.
#[derive(Debug)]
pub enum StoreError {
    /// The request is invalid: 400, nothing changed.
    Invalid(ChangeError),
    /// The state file could not be written: 500, nothing changed.
    Persist(String),
}

impl Store {
    /// Applies `action` with `changes`, persists the result, and only then
    /// puts it in force (spec api.md §8: persisted before the reply).
    ///
    /// # Errors
    ///
    /// [`StoreError::Invalid`] for a refused change, [`StoreError::Persist`]
    /// when the state file cannot be written; either way nothing changed.
    pub fn change(
        &mut self,
        action: IdentitiesAction,
        changes: &BTreeMap<String, Option<wire::Identity>>,
    ) -> Result<(), StoreError> {
        let next = self
            .identities
            .with_change(action, changes)
            .map_err(StoreError::Invalid)?;
        if let Some(path) = &self.state_file {
            persist::save(path, &next).map_err(StoreError::Persist)?;
        }
        self.identities = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(access: &str, uid: u32) -> Option<wire::Identity> {
        Some(wire::Identity {
            access: access.into(),
            local: Some(wire::LocalIdentity { user_id: Some(uid) }),
            ..wire::Identity::default()
        })
    }

    fn basic(access: &str, hash: &str) -> Option<wire::Identity> {
        Some(wire::Identity {
            access: access.into(),
            basic: Some(wire::BasicIdentity {
                password: hash.into(),
            }),
            ..wire::Identity::default()
        })
    }

    fn changes(
        list: &[(&str, Option<wire::Identity>)],
    ) -> BTreeMap<String, Option<wire::Identity>> {
        list.iter()
            .map(|(name, identity)| ((*name).to_owned(), identity.clone()))
            .collect()
    }

    fn error(
        set: &Identities,
        action: IdentitiesAction,
        list: &[(&str, Option<wire::Identity>)],
    ) -> String {
        set.with_change(action, &changes(list)).unwrap_err().0
    }

    #[test]
    fn the_four_actions() {
        use IdentitiesAction::*;
        let empty = Identities::default();
        let one = empty
            .with_change(Add, &changes(&[("alice", local("admin", 1000))]))
            .unwrap();
        assert_eq!(one.named("alice").unwrap().local, Some(1000));
        assert_eq!(
            error(&one, Add, &[("alice", local("read", 1001))]),
            r#"identity "alice" already exists"#
        );
        assert_eq!(
            error(&one, Update, &[("bob", local("read", 1001))]),
            r#"identity "bob" does not exist"#
        );
        assert_eq!(
            error(&one, Add, &[("bob", None)]),
            r#"identity value for "bob" must not be null for add operation"#
        );
        assert_eq!(
            error(&one, Remove, &[("alice", local("read", 1))]),
            r#"identity value for "alice" must be null for remove operation"#
        );
        assert_eq!(
            error(&one, Remove, &[("bob", None)]),
            r#"identity "bob" does not exist"#
        );
        let updated = one
            .with_change(Update, &changes(&[("alice", local("read", 1000))]))
            .unwrap();
        assert_eq!(updated.named("alice").unwrap().access, Access::Read);
        let replaced = updated
            .with_change(
                Replace,
                &changes(&[("alice", None), ("bob", basic("metrics", "x"))]),
            )
            .unwrap();
        assert!(replaced.named("alice").is_none());
        assert_eq!(replaced.len(), 1);
        let removed = replaced
            .with_change(Remove, &changes(&[("bob", None)]))
            .unwrap();
        assert!(removed.is_empty());
    }

    #[test]
    fn a_bad_request_changes_nothing() {
        use IdentitiesAction::*;
        let one = Identities::default()
            .with_change(Add, &changes(&[("alice", local("admin", 1000))]))
            .unwrap();
        assert_eq!(
            error(&one, Add, &[("bob", local("read", 1000))]),
            "cannot have multiple identities with user ID 1000 (alice, bob)"
        );
        assert_eq!(
            error(&one, Add, &[("9lives", local("read", 7))]),
            r#"invalid identity for "9lives": name must start with an ASCII letter and contain only ASCII letters, digits, "_" and "-""#
        );
        assert_eq!(
            error(&one, Add, &[("carol", local("root", 7))]),
            r#"invalid identity for "carol": invalid access value "root", must be "untrusted", "metrics", "read", "write" or "admin""#
        );
        let no_type = wire::Identity {
            access: "read".into(),
            ..wire::Identity::default()
        };
        assert!(error(&one, Add, &[("dave", Some(no_type))]).contains("at least one type"));
        let no_uid = wire::Identity {
            access: "read".into(),
            local: Some(wire::LocalIdentity { user_id: None }),
            ..wire::Identity::default()
        };
        assert!(
            error(&one, Add, &[("erin", Some(no_uid))])
                .ends_with("local identity must specify user-id")
        );
        let pem = |pem: &str| wire::Identity {
            access: "read".into(),
            cert: Some(wire::CertIdentity { pem: pem.into() }),
            ..wire::Identity::default()
        };
        let good = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n";
        assert!(
            one.with_change(Add, &changes(&[("ci", Some(pem(good)))]))
                .is_ok()
        );
        let two = format!("{good}{good}");
        assert!(error(&one, Add, &[("ci", Some(pem(&two)))]).contains("exactly one PEM"));
        assert!(error(&one, Add, &[("ci", Some(pem("junk")))]).contains("exactly one PEM"));
        // The password is not checked on write: ops stores "*****".
        assert!(
            one.with_change(Add, &changes(&[("ops", basic("read", "*****"))]))
                .is_ok()
        );
    }

    #[test]
    fn replies_mask_secrets() {
        let set = Identities::default()
            .with_change(
                IdentitiesAction::Add,
                &changes(&[("scraper", basic("metrics", "$6$a$b"))]),
            )
            .unwrap();
        let api = set.to_api();
        assert_eq!(api["scraper"].basic.as_ref().unwrap().password, "*****");
        assert_eq!(
            set.named("scraper")
                .unwrap()
                .to_wire(false)
                .basic
                .unwrap()
                .password,
            "$6$a$b"
        );
    }
}
