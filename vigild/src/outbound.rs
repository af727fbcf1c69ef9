//! Outbound HTTP and TCP, as the health probes (checks-and-alerts.md §4) and
//! alert delivery (§13) both make them: ureq agents whose TLS runs on the
//! workspace's one rustls and ring provider (DESIGN.md §4) and trusts the
//! certificates of a CA bundle as curl and Go do ([`tls`], shared with the
//! CLI from `vigil_proto::tls`), CA bundles,
//! dialling a host against a deadline, and failures worded as Go's `net`
//! and `net/http` packages word them (which is what Pebble reports).
//!
//! Everything here that touches the network **blocks**: call it on a worker
//! thread, never on the reactor (DESIGN.md invariant 3).
//!
//! | Case | Reason |
//! |---|---|
//! | cannot connect | `dial tcp 127.0.0.1:8080: connect: connection refused` |
//! | name not found | `dial tcp: lookup db.internal: name or service not known` |
//! | through a proxy | `proxyconnect tcp: dial tcp proxy:3128: connect: connection refused` |
//! | TLS | `invalid peer certificate: unknown issuer` (the caller adds `<url>: tls: `; [`tls`] has the others) |
//!
//! ureq resolves for HTTP and does not say which address failed, so there
//! the target is the URL's `host:port` (Go would show the resolved address):
//! for an IP literal the text is Go's exactly. [`dial`] resolves names
//! itself, so its messages name the address that failed, as Go's do.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use ureq::http::Uri;
use ureq::{Proxy, Timeout};
use vigil_proto::reason::{io_reason, lower_first};
pub use vigil_proto::tls;

pub use tls::{agent, crypto_provider, tls_config, tls_reason, web_roots};

/// The least share of the remaining time that one address of a host gets
/// before [`dial`] moves on to the next, unless less time is left: Go's
/// `saneMinimum` in `net.partialDeadline`.
const MIN_ADDRESS_TIMEOUT: Duration = Duration::from_secs(2);

/// What std puts before the resolver's own words in a failed lookup.
const LOOKUP_PREFIX: &str = "failed to lookup address information: ";

/// The certificates of the PEM bundle at `path`, or why it cannot be used
/// (`no such file or directory`, `no PEM certificate in the file`,
/// `invalid certificate: …`). Keys and other items in the bundle are
/// skipped.
pub fn load_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|error| io_reason(&error))?;
    tls::ca_bundle(&pem)
}

/// A failed ureq call, sorted by what the caller does with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// A timeout ran out; `connecting` when it was the connect timeout
    /// (name lookup, connect, proxy and TLS handshake).
    TimedOut {
        /// Whether it ran out while connecting.
        connecting: bool,
    },
    /// The TLS handshake or session failed; the reason, without the
    /// `<url>: tls: ` the caller puts before it.
    Tls(String),
    /// The exchange failed on the way (lookup, connect, proxy, reset, a
    /// malformed reply): the reason, as the module's table gives it.
    Failed(String),
    /// The request itself cannot be sent (a bad URL or header): trying
    /// again cannot help.
    Invalid(String),
}

/// Words a failed ureq call to `uri` (see the module's table). `proxy` is
/// the proxy the agent had, if any: a failure to reach it says
/// `proxyconnect tcp`.
#[must_use]
pub fn call_error(error: ureq::Error, uri: &Uri, proxy: Option<&Proxy>) -> CallError {
    // Where the connection went: the proxy, when there is one.
    let (via, host, port) = match proxy {
        Some(proxy) if !proxy.is_no_proxy(uri) => {
            ("proxyconnect tcp: ", proxy.host().to_owned(), proxy.port())
        }
        _ => (
            "",
            uri.host().unwrap_or_default().to_owned(),
            target_port(uri),
        ),
    };
    if let Some(reason) = tls::ureq_tls_reason(&error) {
        return CallError::Tls(reason);
    }
    match error {
        ureq::Error::Timeout(timeout) => CallError::TimedOut {
            connecting: matches!(timeout, Timeout::Connect | Timeout::Resolve),
        },
        ureq::Error::Io(error) if error.kind() == io::ErrorKind::TimedOut => {
            CallError::TimedOut { connecting: false }
        }
        ureq::Error::Io(error) => {
            if is_connect_error(&error) {
                return CallError::Failed(format!(
                    "{via}dial tcp {}: connect: {}",
                    join_host_port(&host, port),
                    io_reason(&error)
                ));
            }
            CallError::Failed(match lookup_reason(&error) {
                Some(reason) => format!("{via}dial tcp: lookup {host}: {reason}"),
                None => io_reason(&error),
            })
        }
        ureq::Error::HostNotFound => {
            CallError::Failed(format!("{via}dial tcp: lookup {host}: no such host"))
        }
        ureq::Error::ConnectProxyFailed(reason) => {
            CallError::Failed(format!("proxyconnect tcp: {}", lower_first(&reason)))
        }
        error @ (ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::RequireHttpsOnly(_)) => CallError::Invalid(lower_first(&error.to_string())),
        error => CallError::Failed(lower_first(&error.to_string())),
    }
}

/// Why [`dial`] made no connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialError {
    /// The timeout ran out first.
    TimedOut,
    /// The lookup or every connect failed: `dial tcp …` as Go words it.
    Failed(String),
}

/// Connects to `host` (a name or an IP literal, IPv6 with or without
/// brackets) at `port` within `timeout`, name lookup included: each address
/// in turn, as Go's dialer does, until one connects. The message of a
/// failure names the first address's failure.
pub fn dial(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, DialError> {
    let deadline = Instant::now() + timeout;
    let addresses = match resolve(host, port, timeout) {
        Ok(addresses) => addresses,
        Err(Lookup::TimedOut) => return Err(DialError::TimedOut),
        Err(Lookup::Failed(reason)) => {
            return Err(DialError::Failed(format!(
                "dial tcp: lookup {host}: {reason}"
            )));
        }
    };
    let mut first_error: Option<(SocketAddr, io::Error)> = None;
    for (index, address) in addresses.iter().enumerate() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(DialError::TimedOut);
        }
        let share = address_timeout(remaining, addresses.len() - index);
        match TcpStream::connect_timeout(address, share) {
            Ok(stream) => return Ok(stream),
            Err(error) => {
                first_error.get_or_insert((*address, error));
            }
        }
    }
    if Instant::now() >= deadline {
        return Err(DialError::TimedOut);
    }
    Err(match first_error {
        // As Go, the first address's failure is the one reported.
        Some((address, error)) => DialError::Failed(format!(
            "dial tcp {address}: connect: {}",
            io_reason(&error)
        )),
        None => DialError::Failed(format!("dial tcp: lookup {host}: no such host")),
    })
}

/// The port `uri` connects to: its own, else its scheme's.
#[must_use]
pub fn target_port(uri: &Uri) -> u16 {
    uri.port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        })
}

/// `host:port`, with an IPv6 literal in brackets, as Go's
/// `net.JoinHostPort`.
#[must_use]
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Whether a failed connect ended there: the peer or the network said no.
fn is_connect_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
    )
}

/// The resolver's words in a failed lookup, such as `name or service not
/// known`; `None` when `error` is not a failed lookup.
fn lookup_reason(error: &io::Error) -> Option<String> {
    io_reason(error)
        .strip_prefix(LOOKUP_PREFIX)
        .map(lower_first)
}

/// Why a name lookup gave no address.
enum Lookup {
    /// The deadline passed first.
    TimedOut,
    /// The resolver's reason, such as `name or service not known`.
    Failed(String),
}

/// The addresses of `host` (an IP literal needs no lookup). The lookup runs
/// on a helper thread so that a stuck resolver cannot hold the caller past
/// `timeout`; the thread ends by itself when the resolver answers.
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, Lookup> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (sender, receiver) = sync_channel(1);
    let name = host.to_owned();
    thread::Builder::new()
        .name("vigild-lookup".to_owned())
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            // The caller may have given up waiting; nobody to tell then.
            let _ = sender.send(found);
        })
        .map_err(|error| Lookup::Failed(io_reason(&error)))?;
    match receiver.recv_timeout(timeout) {
        Ok(Ok(addresses)) if addresses.is_empty() => Err(Lookup::Failed("no such host".into())),
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(error)) => Err(Lookup::Failed(
            lookup_reason(&error).unwrap_or_else(|| io_reason(&error)),
        )),
        Err(RecvTimeoutError::Timeout) => Err(Lookup::TimedOut),
        Err(RecvTimeoutError::Disconnected) => Err(Lookup::Failed("lookup failed".into())),
    }
}

/// How long to try one address when `left` addresses (this one included)
/// share `remaining`: an equal share, but at least [`MIN_ADDRESS_TIMEOUT`]
/// when that much is left, as Go's `net.partialDeadline`.
fn address_timeout(remaining: Duration, left: usize) -> Duration {
    let share = remaining / u32::try_from(left.max(1)).unwrap_or(u32::MAX);
    if share < MIN_ADDRESS_TIMEOUT {
        remaining.min(MIN_ADDRESS_TIMEOUT)
    } else {
        share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_shares_follow_go() {
        let ten = Duration::from_secs(10);
        let short = Duration::from_millis(500);
        assert_eq!(address_timeout(ten, 1), ten);
        assert_eq!(address_timeout(ten, 2), Duration::from_secs(5));
        assert_eq!(address_timeout(ten, 10), MIN_ADDRESS_TIMEOUT);
        assert_eq!(address_timeout(short, 3), short);
    }

    #[test]
    fn hosts_and_ports_join_as_go_joins_them() {
        assert_eq!(join_host_port("::1", 80), "[::1]:80");
        assert_eq!(join_host_port("[::1]", 80), "[::1]:80");
        assert_eq!(join_host_port("api", 8080), "api:8080");
        let uri: Uri = "https://api/".parse().unwrap();
        assert_eq!(target_port(&uri), 443);
        let uri: Uri = "http://api:81/".parse().unwrap();
        assert_eq!(target_port(&uri), 81);
    }
}
