//! Who may call what (api.md §5): access levels, endpoint classes, and how
//! a caller's level is resolved.
//!
//! Identities (local, basic, certificate) are resolved first by
//! [`crate::identity::resolve`]; when none matches, [`by_uid`] decides: the
//! Unix socket peer's uid (uid 0 or vigild's own uid: admin; any other uid:
//! read), and a caller without a uid (TCP) is untrusted. Those are steps 4
//! and 5 of the spec's resolution.

use crate::http::Peer;

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

/// Whether `access` passes `class`.
pub fn allows(class: Class, access: Access) -> bool {
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
        assert!(allows(Class::Open, Access::Untrusted));
        assert!(!allows(Class::Read, Access::Untrusted));
        assert!(allows(Class::Read, Access::Read));
        assert!(!allows(Class::Write, Access::Read));
        assert!(allows(Class::Write, Access::Write));
        assert!(!allows(Class::Admin, Access::Write));
        assert!(allows(Class::Admin, Access::Admin));
    }
}
