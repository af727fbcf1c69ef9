//! vigild's HTTP/1.1 server, as a per-connection state machine (spec
//! api.md §2.4, §3, §4).
//!
//! This module owns the protocol: parsing requests (with `httparse`),
//! decoding `Content-Length` and chunked bodies, `Expect: 100-continue`,
//! keep-alive and pipelining, fixed and streamed replies with the exact
//! reason phrases, and every size limit and timeout of the API. It answers
//! what it refuses (400, 408, 413, 414, 431) itself, with the JSON error
//! envelope.
//!
//! It never touches a socket, mio, or the clock: the reactor owns the
//! sockets and their registration, moves bytes through
//! [`Connection::read_from`] and [`Connection::write_to`], and passes the
//! time in. That keeps it usable under TLS (rustls' plaintext reader and
//! writer are a `Read` and a `Write` too) and testable without sockets (see
//! the `testing` module). [`Connection`]'s doc says in which order to call
//! what.
//!
//! Routing (404, 405), access checks and the endpoints belong to the API
//! layer, which gets a [`Request`] and the connection's [`Peer`].
//!
//! Invariants upheld here (DESIGN.md §3): 3, nothing blocks, every read and
//! write stops at `WouldBlock`; 4, every buffer has a named bound in
//! [`limits`]; 5, bad input gets a JSON error envelope with a 4xx status.

mod body;
mod buffer;
mod connection;
mod error;
pub mod limits;
mod request;
mod response;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
mod timer;

pub use connection::{Connection, Interest};
pub use error::{CloseReason, RequestError, SendError};
pub use request::{Headers, Request, Version, percent_decode};
pub use response::{JSON, Response};

/// Who is at the other end of a connection, as the reactor learnt it at
/// accept time (and, for HTTPS, from the TLS handshake). The HTTP layer only
/// carries it; the API layer reads it to decide the caller's access (spec
/// api.md §5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peer {
    /// The peer process's credentials (`SO_PEERCRED`), for a Unix socket
    /// connection; `None` for TCP.
    pub credentials: Option<Credentials>,
    /// The listener the connection came through.
    pub transport: Transport,
    /// The client certificate chain presented in the TLS handshake, leaf
    /// first, as DER; empty when none was presented or over another
    /// transport. With `--tls-client-ca` it verified against that bundle;
    /// without, only the handshake's proof of the key was checked, and
    /// certificate identities decide what it is worth (api.md §2.3, §5).
    pub certificates: Vec<Vec<u8>>,
}

/// Which listener a connection came through (api.md §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// The Unix socket (§2.1).
    #[default]
    Unix,
    /// The plain-HTTP listener, `--http` (§2.2).
    Http,
    /// The HTTPS listener, `--tls-addr` (§2.3).
    Https,
}

impl Transport {
    /// The name used in vigild's log: `unix`, `http` or `https`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unix => "unix",
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

impl Peer {
    /// A peer on the Unix socket, with its `SO_PEERCRED` credentials.
    #[must_use]
    pub fn local(credentials: Credentials) -> Self {
        Self {
            credentials: Some(credentials),
            transport: Transport::Unix,
            certificates: Vec::new(),
        }
    }

    /// A peer without credentials on the plain-HTTP listener.
    #[must_use]
    pub fn remote() -> Self {
        Self::tcp(Transport::Http)
    }

    /// A peer without credentials on a TCP listener (`Http` or `Https`);
    /// its client certificates, if any, are added after the handshake.
    #[must_use]
    pub fn tcp(transport: Transport) -> Self {
        Self {
            credentials: None,
            transport,
            certificates: Vec::new(),
        }
    }

    /// The peer's user id, if known.
    #[must_use]
    pub fn uid(&self) -> Option<u32> {
        self.credentials.map(|credentials| credentials.uid)
    }

    /// The peer's group id, if known.
    #[must_use]
    pub fn gid(&self) -> Option<u32> {
        self.credentials.map(|credentials| credentials.gid)
    }

    /// The peer's process id, if known.
    #[must_use]
    pub fn pid(&self) -> Option<i32> {
        self.credentials.map(|credentials| credentials.pid)
    }
}

/// A Unix socket peer's credentials, read once with `SO_PEERCRED` when the
/// connection was accepted (spec api.md §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Effective user id of the connecting process.
    pub uid: u32,
    /// Effective group id of the connecting process.
    pub gid: u32,
    /// Process id of the connecting process.
    pub pid: i32,
}
