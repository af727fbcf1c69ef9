//! The TCP listeners of the API (api.md §2.2 `--http`, §2.3 `--tls-addr`)
//! and the socket of an accepted connection on any transport.
//!
//! A TCP caller has no peer credentials, so the API layer sees it as
//! untrusted unless an identity says otherwise (api.md §5): nothing here
//! decides access. Accepting follows the Unix socket's rules: drain until
//! `WouldBlock`, at most [`MAX_CONNECTIONS`](super::MAX_CONNECTIONS) per
//! listener, errors logged and retried, never fatal.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs as _};
use std::sync::Arc;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

use super::children::reason;
use super::tls::TlsStream;
use crate::http::Transport;

/// A bound TCP listener of the API.
#[derive(Debug)]
pub struct TcpApiListener {
    listener: TcpListener,
    /// The address as the log and `system-info` show it: as given, or with
    /// the port the kernel chose when the given one was 0.
    address: String,
    /// The host part of the address as given (empty for `:port`), for the
    /// self-signed certificate's names.
    host: String,
    /// `Some` on the HTTPS listener.
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl TcpApiListener {
    /// Binds `address` (`host:port`, `:port` or `[v6addr]:port`). The error
    /// is the message for exit code 71.
    pub fn bind(address: &str) -> Result<TcpApiListener, String> {
        let fail = |why: String| format!("cannot listen on {address}: {why}");
        let (host, port) = split_address(address)
            .ok_or_else(|| fail("expected host:port, :port or [v6addr]:port".into()))?;
        let candidates: Vec<SocketAddr> = if host.is_empty() {
            // All interfaces: a dual-stack IPv6 socket takes IPv4 too where
            // the host allows it; without IPv6, IPv4 alone.
            vec![
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            ]
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            vec![SocketAddr::new(ip, port)]
        } else {
            // A name: resolved once, at boot, before the loop starts.
            (host, port)
                .to_socket_addrs()
                .map_err(|e| fail(reason(&e)))?
                .collect()
        };
        let mut last = None;
        for candidate in candidates {
            match TcpListener::bind(candidate) {
                Ok(listener) => {
                    let address = if port == 0 {
                        match listener.local_addr() {
                            Ok(local) if host.is_empty() => format!(":{}", local.port()),
                            Ok(local) => local.to_string(),
                            Err(_) => address.to_owned(),
                        }
                    } else {
                        address.to_owned()
                    };
                    return Ok(TcpApiListener {
                        listener,
                        address,
                        host: host.to_owned(),
                        tls: None,
                    });
                }
                Err(error) => last = Some(error),
            }
        }
        Err(fail(last.map_or_else(
            || "the name resolves to no address".into(),
            |e| reason(&e),
        )))
    }

    /// Makes this the HTTPS listener, with `config` for every connection.
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> TcpApiListener {
        self.tls = Some(config);
        self
    }

    /// The address as shown in the log and in `system-info`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The host part of the address as given; empty for `:port`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Which transport this listener serves.
    pub fn transport(&self) -> Transport {
        match self.tls {
            Some(_) => Transport::Https,
            None => Transport::Http,
        }
    }

    /// The listener, to register with the poll.
    pub fn listener(&mut self) -> &mut TcpListener {
        &mut self.listener
    }

    /// Accepts one connection. `Ok(None)` when no connection is waiting.
    pub(super) fn accept(&self) -> io::Result<Option<ApiStream>> {
        loop {
            return match self.listener.accept() {
                Ok((stream, _)) => {
                    // Replies are written whole: Nagle would only delay them.
                    let _ = stream.set_nodelay(true);
                    Ok(Some(match &self.tls {
                        Some(config) => {
                            let tls = rustls::ServerConnection::new(Arc::clone(config))
                                .map_err(io::Error::other)?;
                            ApiStream::Tls(Box::new(TlsStream::new(stream, tls)))
                        }
                        None => ApiStream::Tcp(stream),
                    }))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }
}

/// Splits `host:port`, `:port` or `[v6addr]:port` into the host (without
/// brackets; empty for `:port`) and the port.
pub fn split_address(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = match host.strip_prefix('[') {
        Some(rest) => {
            let inner = rest.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok()?;
            inner
        }
        // An IPv6 address must be bracketed: `::1:80` is ambiguous.
        None if host.contains(':') => return None,
        None => host,
    };
    Some((host, port))
}

/// The socket of an accepted API connection, on any transport. The HTTP
/// layer reads and writes plaintext through it; for HTTPS, [`TlsStream`]
/// moves the records.
#[derive(Debug)]
pub(super) enum ApiStream {
    /// The Unix socket.
    Unix(UnixStream),
    /// Plain HTTP.
    Tcp(TcpStream),
    /// HTTPS.
    Tls(Box<TlsStream>),
}

impl ApiStream {
    /// The TLS side, on HTTPS.
    pub(super) fn tls(&mut self) -> Option<&mut TlsStream> {
        match self {
            Self::Tls(tls) => Some(tls),
            Self::Unix(_) | Self::Tcp(_) => None,
        }
    }

    /// Whether bytes are waiting below the HTTP layer for the socket to
    /// take them (TLS records).
    pub(super) fn wants_write(&self) -> bool {
        match self {
            Self::Tls(tls) => tls.wants_write(),
            Self::Unix(_) | Self::Tcp(_) => false,
        }
    }
}

impl Read for ApiStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Unix(stream) => stream.read(buf),
            Self::Tcp(stream) => stream.read(buf),
            Self::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for ApiStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Unix(stream) => stream.write(buf),
            Self::Tcp(stream) => stream.write(buf),
            Self::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Unix(stream) => stream.flush(),
            Self::Tcp(stream) => stream.flush(),
            Self::Tls(stream) => stream.flush(),
        }
    }
}

impl Source for ApiStream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            Self::Unix(stream) => stream.register(registry, token, interest),
            Self::Tcp(stream) => stream.register(registry, token, interest),
            Self::Tls(stream) => stream.socket().register(registry, token, interest),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        match self {
            Self::Unix(stream) => stream.reregister(registry, token, interest),
            Self::Tcp(stream) => stream.reregister(registry, token, interest),
            Self::Tls(stream) => stream.socket().reregister(registry, token, interest),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Self::Unix(stream) => stream.deregister(registry),
            Self::Tcp(stream) => stream.deregister(registry),
            Self::Tls(stream) => stream.socket().deregister(registry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_address(":4000"), Some(("", 4000)));
        assert_eq!(split_address("127.0.0.1:80"), Some(("127.0.0.1", 80)));
        assert_eq!(split_address("localhost:8443"), Some(("localhost", 8443)));
        assert_eq!(split_address("[::1]:8443"), Some(("::1", 8443)));
        assert_eq!(split_address("[::]:0"), Some(("::", 0)));
        assert_eq!(split_address("::1:80"), None);
        assert_eq!(split_address("[nonsense]:80"), None);
        assert_eq!(split_address("localhost"), None);
        assert_eq!(split_address("host:99999"), None);
    }

    #[test]
    fn port_zero_reports_the_chosen_port() {
        let listener = TcpApiListener::bind("127.0.0.1:0").unwrap();
        let (host, port) = split_address(listener.address()).unwrap();
        assert_eq!(host, "127.0.0.1");
        assert_ne!(port, 0);
        assert_eq!(listener.transport(), Transport::Http);
    }
}
