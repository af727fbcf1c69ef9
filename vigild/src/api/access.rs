//! Who may call what (api.md §5): access levels, endpoint classes, and how
//! a caller's level is resolved.
//!
//! Identities (local, basic, certificate) are resolved first by
//! [`crate::identity::resolve`]; when none matches, [`by_uid`] decides: the
//! Unix socket peer's uid (uid 0 or vigild's own uid: admin; any other uid:
//! read), and a caller without a uid (TCP) is untrusted. Those are steps 4
//! and 5 of the spec's resolution.

use crate::http::Peer;
use crate::http::Transport;

pub use vigil_proto::api::Access;

/// What an endpoint requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Anyone, on any transport.
    Open,
    /// At least `metrics`.
    Metrics,
    /// At least `read`.
    Read,
    /// At least `write`.
    Write,
    /// `admin`.
    Admin,
}

/// The level of a caller that matched no identity.
pub fn by_uid(peer: &Peer, daemon_uid: u32) -> Access {
    match peer.uid() {
        Some(0) => Access::Admin,
        Some(uid) if uid == daemon_uid => Access::Admin,
        Some(_) => Access::Read,
        None => Access::Untrusted,
    }
}

/// Whether a caller with `access` on `transport` passes `class` (api.md
/// §5). Plain HTTP carries credentials in clear, so there only open
/// endpoints pass, and metrics for an identity whose access is exactly
/// `metrics` (a scraper's basic credentials): never more, whatever the
/// credentials say.
pub fn allows(class: Class, access: Access, transport: Transport) -> bool {
    if transport == Transport::Http {
        return match class {
            Class::Open => true,
            Class::Metrics => access == Access::Metrics,
            Class::Read | Class::Write | Class::Admin => false,
        };
    }
    let needed = match class {
        Class::Open => return true,
        Class::Metrics => Access::Metrics,
        Class::Read => Access::Read,
        Class::Write => Access::Write,
        Class::Admin => Access::Admin,
    };
    access >= needed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Credentials;

    fn local(uid: u32) -> Peer {
        Peer::local(Credentials {
            uid,
            gid: uid,
            pid: 1,
        })
    }

    #[test]
    fn the_peer_uid_decides_without_identities() {
        assert_eq!(by_uid(&local(0), 1000), Access::Admin);
        assert_eq!(by_uid(&local(1000), 1000), Access::Admin);
        assert_eq!(by_uid(&local(1001), 1000), Access::Read);
        // Never more than untrusted over TCP without credentials.
        assert_eq!(by_uid(&Peer::remote(), 0), Access::Untrusted);
    }

    #[test]
    fn classes_need_their_level() {
        for transport in [Transport::Unix, Transport::Https] {
            assert!(allows(Class::Open, Access::Untrusted, transport));
            assert!(!allows(Class::Read, Access::Untrusted, transport));
            assert!(allows(Class::Read, Access::Read, transport));
            assert!(!allows(Class::Write, Access::Read, transport));
            assert!(allows(Class::Write, Access::Write, transport));
            assert!(!allows(Class::Admin, Access::Write, transport));
            assert!(allows(Class::Admin, Access::Admin, transport));
            assert!(allows(Class::Metrics, Access::Admin, transport));
        }
    }

    #[test]
    fn plain_http_passes_open_endpoints_and_exactly_metrics() {
        let http = Transport::Http;
        assert!(allows(Class::Open, Access::Untrusted, http));
        assert!(allows(Class::Metrics, Access::Metrics, http));
        // Higher levels do not carry over plain HTTP.
        assert!(!allows(Class::Metrics, Access::Admin, http));
        assert!(!allows(Class::Read, Access::Admin, http));
        assert!(!allows(Class::Admin, Access::Admin, http));
    }
}
