//! From a caller to an access level (spec api.md §5, "How the caller is
//! resolved"):
//!
//! 1. a client certificate (HTTPS): a `cert` identity that matches it, and
//!    if none does, no identity at all (no fallback to basic auth);
//! 2. else `Authorization: Basic`: the `basic` identity of that name whose
//!    hash verifies;
//! 3. else, on the Unix socket, the `local` identity with the peer's uid;
//! 4. else the uid rules ([`crate::api::access::by_uid`]): on the socket,
//!    uid 0 or vigild's uid is admin and any other uid read; over TCP,
//!    untrusted. A failed basic attempt on the socket lands here too, as in
//!    Pebble.
//!
//! Certificates plug in through [`client_certificate`] and
//! [`certificate_matches`]: today no peer carries a certificate, so step 1
//! never applies.

use base64ct::Encoding as _;
use sha_crypt::{PasswordVerifier as _, ShaCrypt};
use vigil_proto::api::Access;

use super::{Identities, Identity};
use crate::api::access::by_uid;
use crate::http::Peer;

/// The most sha512-crypt rounds vigild will compute for one request. A
/// verification runs on the reactor thread; the default is 5,000 (as
/// `openssl passwd -6` writes), and a stored hash asking for up to
/// 999,999,999 would stall every service for minutes. A hash above this
/// bound never verifies.
pub const MAX_ROUNDS: u32 = 100_000;

/// Who the caller turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The access level to check against the endpoint's class.
    pub access: Access,
    /// The identity that matched, if any.
    pub identity: Option<String>,
    /// Credentials were presented and matched nothing: the claimed user
    /// (basic) or `None` for a certificate. For the security log, which
    /// never names the password.
    pub failed: Option<Failed>,
}

/// A failed authentication attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failed {
    /// Basic credentials for this user name did not verify.
    Basic {
        /// The user the client claimed to be.
        user: String,
    },
    /// A client certificate matched no `cert` identity.
    Certificate,
}

/// Resolves the caller on `peer` that sent `authorization` (the raw
/// `Authorization` header, if any).
#[must_use]
pub fn resolve(
    identities: &Identities,
    peer: &Peer,
    authorization: Option<&str>,
    daemon_uid: u32,
) -> Resolved {
    let fallback = |failed| Resolved {
        access: by_uid(peer, daemon_uid),
        identity: None,
        failed,
    };
    let matched = |name: &String, identity: &Identity| Resolved {
        access: identity.access,
        identity: Some(name.clone()),
        failed: None,
    };
    if let Some(der) = client_certificate(peer) {
        // D15: the highest access wins, then the name that sorts first;
        // the map iterates in name order, so keep the first of the best.
        let mut best: Option<(&String, &Identity)> = None;
        for (name, identity) in identities.iter() {
            let matches = identity
                .cert
                .as_deref()
                .is_some_and(|pem| certificate_matches(pem, der));
            if matches && best.is_none_or(|(_, b)| identity.access > b.access) {
                best = Some((name, identity));
            }
        }
        return match best {
            Some((name, identity)) => matched(name, identity),
            None => fallback(Some(Failed::Certificate)),
        };
    }
    if let Some(credentials) = authorization.and_then(basic_credentials) {
        let (user, password) = credentials;
        return match identities.named(&user) {
            Some(identity)
                if identity
                    .basic
                    .as_deref()
                    .is_some_and(|hash| verify(hash, &password)) =>
            {
                matched(&user, identity)
            }
            _ => fallback(Some(Failed::Basic { user })),
        };
    }
    if let Some(uid) = peer.uid()
        && let Some((name, identity)) = identities
            .iter()
            .find(|(_, identity)| identity.local == Some(uid))
    {
        return matched(name, identity);
    }
    fallback(None)
}

/// The leaf of the client certificate chain the peer presented over TLS
/// (DER), if any.
fn client_certificate(peer: &Peer) -> Option<&[u8]> {
    peer.certificates.first().map(Vec::as_slice)
}

/// Whether a presented leaf certificate (DER) matches a stored `cert`
/// identity (api.md §5, D15):
///
/// - (a) it is the stored certificate, byte for byte (Pebble's rule); or
/// - (b) the stored certificate signed it directly (vigil-rs' rule for a CA).
///
/// In both cases the leaf must be within its validity dates and allow
/// client authentication; webpki checks that by verifying the leaf against
/// the stored certificate as trust anchor. A byte-equal leaf that cannot be
/// checked that way (not self-signed, or marked as a CA, as `openssl req
/// -x509` does by default) still matches, because the TLS handshake proved
/// the peer holds its key, but then its dates go unchecked.
fn certificate_matches(stored_pem: &str, presented_der: &[u8]) -> bool {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, UnixTime};

    let Ok(stored) = CertificateDer::from_pem_slice(stored_pem.as_bytes()) else {
        return false;
    };
    let presented = CertificateDer::from(presented_der);
    let Ok(leaf) = webpki::EndEntityCert::try_from(&presented) else {
        return false;
    };
    let Ok(anchor) = webpki::anchor_from_trusted_cert(&stored) else {
        return false;
    };
    let algorithms = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    let anchors = [anchor];
    let verified = leaf.verify_for_usage(
        algorithms,
        &anchors,
        &[],
        UnixTime::now(),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    );
    match verified {
        Ok(_) => true,
        // Only "not issued by this anchor" and "a CA used as a leaf" (what
        // `openssl req -x509` makes by default) are forgiven, and only for
        // the stored certificate itself: an expired one or one without
        // client authentication never matches.
        Err(webpki::Error::UnknownIssuer | webpki::Error::CaUsedAsEndEntity) => {
            stored.as_ref() == presented_der
        }
        Err(_) => false,
    }
}

/// The user and password of an `Authorization: Basic` header. A header of
/// another scheme is not basic credentials (step 2 does not apply); a
/// malformed basic one is credentials that match nobody.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64ct::Base64::decode_vec(rest.trim()).unwrap_or_default();
    let text = String::from_utf8(decoded).unwrap_or_default();
    match text.split_once(':') {
        Some((user, password)) => Some((user.to_owned(), password.to_owned())),
        None => Some((text, String::new())),
    }
}

/// Whether `password` verifies against a stored `$6$` hash. Other schemes,
/// malformed hashes and hashes above [`MAX_ROUNDS`] never verify. The
/// crate compares the digests in constant time.
fn verify(hash: &str, password: &str) -> bool {
    let Some(rest) = hash.strip_prefix("$6$") else {
        return false;
    };
    if let Some(rounds) = rest
        .strip_prefix("rounds=")
        .and_then(|r| r.split('$').next())
        && rounds.parse::<u32>().map_or(true, |r| r > MAX_ROUNDS)
    {
        return false;
    }
    ShaCrypt::SHA512
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use vigil_proto::api::IdentitiesAction;
    use vigil_proto::api::identities as wire;

    use super::*;
    use crate::http::Credentials;

    /// `openssl passwd -6 -salt saltsalt secret`.
    const SECRET_HASH: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";

    fn local_peer(uid: u32) -> Peer {
        Peer::local(Credentials {
            uid,
            gid: uid,
            pid: 1,
        })
    }

    fn set(list: &[(&str, wire::Identity)]) -> Identities {
        let changes: BTreeMap<_, _> = list
            .iter()
            .map(|(name, identity)| ((*name).to_owned(), Some(identity.clone())))
            .collect();
        Identities::default()
            .with_change(IdentitiesAction::Add, &changes)
            .unwrap()
    }

    fn local(access: &str, uid: u32) -> wire::Identity {
        wire::Identity {
            access: access.into(),
            local: Some(wire::LocalIdentity { user_id: Some(uid) }),
            ..wire::Identity::default()
        }
    }

    fn basic(access: &str, hash: &str) -> wire::Identity {
        wire::Identity {
            access: access.into(),
            basic: Some(wire::BasicIdentity {
                password: hash.into(),
            }),
            ..wire::Identity::default()
        }
    }

    fn header(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64ct::Base64::encode_string(format!("{user}:{password}").as_bytes())
        )
    }

    #[test]
    fn without_identities_the_uid_decides() {
        let none = Identities::default();
        assert_eq!(
            resolve(&none, &local_peer(0), None, 1000).access,
            Access::Admin
        );
        assert_eq!(
            resolve(&none, &local_peer(1000), None, 1000).access,
            Access::Admin
        );
        assert_eq!(
            resolve(&none, &local_peer(1001), None, 1000).access,
            Access::Read
        );
        assert_eq!(
            resolve(&none, &Peer::remote(), None, 0).access,
            Access::Untrusted
        );
    }

    #[test]
    fn a_local_identity_sets_the_level_of_its_uid() {
        let ids = set(&[("root", local("read", 0)), ("bob", local("admin", 1001))]);
        let root = resolve(&ids, &local_peer(0), None, 0);
        assert_eq!(root.access, Access::Read);
        assert_eq!(root.identity.as_deref(), Some("root"));
        assert_eq!(
            resolve(&ids, &local_peer(1001), None, 0).access,
            Access::Admin
        );
        // Local identities never apply over TCP.
        assert_eq!(
            resolve(&ids, &Peer::remote(), None, 0).access,
            Access::Untrusted
        );
    }

    #[test]
    fn basic_auth_needs_the_right_password() {
        let ids = set(&[
            ("scraper", basic("metrics", SECRET_HASH)),
            ("ops", basic("admin", "*****")),
        ]);
        let good = header("scraper", "secret");
        let ok = resolve(&ids, &Peer::remote(), Some(&good), 0);
        assert_eq!(ok.access, Access::Metrics);
        assert_eq!(ok.identity.as_deref(), Some("scraper"));
        let bad = header("scraper", "wrong");
        let denied = resolve(&ids, &Peer::remote(), Some(&bad), 0);
        assert_eq!(denied.access, Access::Untrusted);
        assert_eq!(
            denied.failed,
            Some(Failed::Basic {
                user: "scraper".into()
            })
        );
        // A hash that is not sha512-crypt never verifies.
        let masked = header("ops", "*****");
        assert_eq!(
            resolve(&ids, &Peer::remote(), Some(&masked), 0).access,
            Access::Untrusted
        );
        // On the socket, a failed attempt falls back to the uid rules.
        assert_eq!(
            resolve(&ids, &local_peer(1001), Some(&bad), 0).access,
            Access::Read
        );
        assert_eq!(
            resolve(&ids, &local_peer(1001), Some("Basic !!!"), 0).access,
            Access::Read
        );
        // Another scheme is not basic credentials.
        assert!(
            resolve(&ids, &local_peer(0), Some("Bearer x"), 0)
                .failed
                .is_none()
        );
    }

    #[test]
    fn huge_round_counts_never_verify() {
        assert!(verify(SECRET_HASH, "secret"));
        assert!(!verify(SECRET_HASH, "Secret"));
        assert!(!verify("$6$rounds=999999999$saltsalt$x", "secret"));
        assert!(!verify("$5$saltsalt$x", "secret"));
    }
}
