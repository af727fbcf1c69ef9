//! The HTTP and TCP probes of health checks (§4.1, §4.2): one call runs one
//! probe and returns its verdict, worded as §5 gives it.
//!
//! Both functions **block**, so they run on the worker pool
//! ([`crate::pool`]), never on the reactor (§3, "Probes never block the event
//! loop"). Each returns by its `timeout` even against a peer that accepts
//! and never answers: every step (DNS, connect, TLS, request, response) runs
//! against one deadline. This is the one part of `checks` that touches
//! sockets; the scheduler beside it stays pure.
//!
//! HTTP goes through ureq on the workspace's one rustls and ring provider
//! (DESIGN.md §4), as the CLI's `--url` transport does. ureq follows the
//! redirects; this module chooses the proxy itself, because ureq neither
//! keeps loopback away from a proxy nor reads `NO_PROXY` as §13 does.
//!
//! # Messages
//!
//! Failures read as Go's `net/http` and `net` packages word them, which is
//! what Pebble reports:
//!
//! | Case | Message |
//! |---|---|
//! | status not accepted | `non-2xx status code 503`, `status code 503 is not in success-statuses` |
//! | timeout | `check timed out after 3s` |
//! | TCP cannot connect | `dial tcp 127.0.0.1:8080: connect: connection refused` |
//! | TCP name not found | `dial tcp: lookup db.internal: name or service not known` |
//! | HTTP cannot connect | `Get "http://127.0.0.1:8080/": dial tcp 127.0.0.1:8080: connect: connection refused` |
//! | HTTP via a proxy | `Get "http://api/": proxyconnect tcp: dial tcp proxy:3128: connect: connection refused` |
//! | HTTP, anything else | `Get "http://api/": <reason>`, such as `stopped after 10 redirects` |
//! | TLS | `https://api/: tls: invalid peer certificate: UnknownIssuer` |
//! | `ca` unusable | `cannot load ca file "/etc/ca.pem": no such file or directory` |
//!
//! The TCP probe resolves names itself, so its messages name the address
//! that failed, as Go's do. ureq resolves for the HTTP probe and does not say
//! which address failed, so there the target is the URL's `host:port` (Go
//! would show the resolved address): for an IP literal, as in every example
//! above, the text is Go's exactly. The URL in `Get "…"` and in the TLS
//! message is the probe's `url`, also when the failure was at a redirect.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

use ureq::http::{self, Uri};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Proxy, ProxyProtocol};
use vigil_proto::api::quote;
use vigil_proto::duration;
use vigil_proto::plan::{HttpProbe, TcpProbe};
use vigil_proto::reason::io_reason;

use super::ProbeFailure;

/// How much of a failing reply's body is read (§4.1): enough for the first
/// lines of an error page, without letting a huge or endless body hold the
/// worker.
const MAX_BODY_BYTES: u64 = 4 * 1024;

/// How many lines of that body become the failure's details (§4.1).
const MAX_DETAIL_LINES: usize = 5;

/// How many redirects are followed (§4.1), as Go's client does.
const MAX_REDIRECTS: u32 = 10;

/// The least share of the remaining time that one address of a host gets
/// before the TCP probe moves on to the next, unless less time is left:
/// Go's `saneMinimum` in `net.partialDeadline`.
const MIN_ADDRESS_TIMEOUT: Duration = Duration::from_secs(2);

/// What std puts before the resolver's own words in a failed lookup.
const LOOKUP_PREFIX: &str = "failed to lookup address information: ";

/// Hosts that ureq must never send through the proxy, as its `NO_PROXY`
/// entries: they keep redirects to loopback off the proxy too. `127.`
/// matches every host that starts with it, so all of 127.0.0.0/8.
const LOOPBACK_NO_PROXY: [&str; 5] = ["localhost", ".localhost", "127.", "::1", "[::1]"];

/// Runs one HTTP probe (§4.1); `timeout` covers the whole exchange (DNS,
/// connect, TLS, request, response). Blocks: call it on a worker thread.
pub fn http(probe: &HttpProbe, timeout: Duration) -> Result<(), ProbeFailure> {
    http_with_env(probe, timeout, &|name| std::env::var(name).ok())
}

/// Runs one TCP probe (§4.2): connects and closes at once, sending nothing.
/// Blocks: call it on a worker thread.
pub fn tcp(probe: &TcpProbe, timeout: Duration) -> Result<(), ProbeFailure> {
    let deadline = Instant::now() + timeout;
    let host = probe.host.as_deref().unwrap_or("localhost");
    let Some(port) = probe.port else {
        // The plan rejects a tcp check without a port.
        return Err(failure("tcp check has no port".to_owned()));
    };
    let addresses = match resolve(host, port, timeout) {
        Ok(addresses) => addresses,
        Err(Lookup::TimedOut) => return Err(timed_out(timeout)),
        Err(Lookup::Failed(reason)) => {
            return Err(failure(format!("dial tcp: lookup {host}: {reason}")));
        }
    };
    let mut first_error: Option<(SocketAddr, io::Error)> = None;
    for (index, address) in addresses.iter().enumerate() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(timed_out(timeout));
        }
        let share = address_timeout(remaining, addresses.len() - index);
        match TcpStream::connect_timeout(address, share) {
            // Dropping the stream closes it; nothing is sent.
            Ok(_stream) => return Ok(()),
            Err(error) => {
                first_error.get_or_insert((*address, error));
            }
        }
    }
    if Instant::now() >= deadline {
        return Err(timed_out(timeout));
    }
    Err(match first_error {
        // As Go, the first address's failure is the one reported.
        Some((address, error)) => failure(format!(
            "dial tcp {address}: connect: {}",
            io_reason(&error)
        )),
        None => failure(format!("dial tcp: lookup {host}: no such host")),
    })
}

/// [`http()`] with the environment read through `env`, so that tests choose
/// the proxy variables.
fn http_with_env(
    probe: &HttpProbe,
    timeout: Duration,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ProbeFailure> {
    let url = probe.url.as_deref().unwrap_or_default();
    let get_failed = |reason: String| failure(format!("Get {}: {reason}", quote(url)));
    let uri: Uri = url
        .parse()
        .map_err(|error: http::uri::InvalidUri| get_failed(error.to_string()))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        other => {
            return Err(get_failed(format!(
                "unsupported protocol scheme {}",
                quote(other.unwrap_or_default())
            )));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(get_failed("no host in request URL".to_owned()));
    }
    let tls = tls_config(probe)?;
    let proxy = proxy_for(&uri, env).map_err(get_failed)?;
    let redirects = if probe.no_follow_redirects == Some(true) {
        0
    } else {
        MAX_REDIRECTS
    };
    let agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(proxy.clone())
        // Any status is a reply to judge, not an error.
        .http_status_as_error(false)
        .max_redirects(redirects)
        .timeout_global(Some(timeout))
        // A configured User-Agent header replaces this one.
        .user_agent(format!("vigild/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent();
    let mut request = http::Request::get(uri.clone());
    for (name, value) in &probe.headers {
        request = request.header(name, value);
    }
    let request = request
        .body(())
        .map_err(|error| get_failed(error.to_string()))?;
    let response = agent
        .run(request)
        .map_err(|error| call_failure(error, url, &uri, proxy.as_ref(), timeout))?;

    let status = response.status().as_u16();
    let message = if probe.success_statuses.is_empty() {
        if (200..300).contains(&status) {
            return Ok(());
        }
        format!("non-2xx status code {status}")
    } else {
        if probe.success_statuses.contains(&status) {
            return Ok(());
        }
        format!("status code {status} is not in success-statuses")
    };
    Err(ProbeFailure {
        message,
        details: first_lines(response.into_body()),
    })
}

/// The first lines of a failing reply's body, from at most
/// [`MAX_BODY_BYTES`] of it.
fn first_lines(body: ureq::Body) -> Vec<String> {
    let mut bytes = Vec::new();
    // The status has decided already: a body that breaks off or runs out of
    // time gives the lines that arrived (read_to_end keeps them).
    let _ = body
        .into_reader()
        .take(MAX_BODY_BYTES)
        .read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes)
        .lines()
        .take(MAX_DETAIL_LINES)
        .map(str::to_owned)
        .collect()
}

/// Words a failed exchange (see the module's table).
fn call_failure(
    error: ureq::Error,
    url: &str,
    uri: &Uri,
    proxy: Option<&Proxy>,
    timeout: Duration,
) -> ProbeFailure {
    let get_failed = |reason: String| failure(format!("Get {}: {reason}", quote(url)));
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
    match error {
        ureq::Error::Timeout(_) => timed_out(timeout),
        ureq::Error::Io(error) if error.kind() == io::ErrorKind::TimedOut => timed_out(timeout),
        ureq::Error::Io(error) => {
            if let Some(tls) = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return failure(format!("{url}: tls: {tls}"));
            }
            if is_connect_error(&error) {
                return get_failed(format!(
                    "{via}dial tcp {}: connect: {}",
                    join_host_port(&host, port),
                    io_reason(&error)
                ));
            }
            match lookup_reason(&error) {
                Some(reason) => get_failed(format!("{via}dial tcp: lookup {host}: {reason}")),
                None => get_failed(io_reason(&error)),
            }
        }
        ureq::Error::Rustls(error) => failure(format!("{url}: tls: {error}")),
        ureq::Error::Tls(reason) => failure(format!("{url}: tls: {}", lower_first(reason))),
        ureq::Error::HostNotFound => {
            get_failed(format!("{via}dial tcp: lookup {host}: no such host"))
        }
        ureq::Error::ConnectProxyFailed(reason) => {
            get_failed(format!("proxyconnect tcp: {}", lower_first(&reason)))
        }
        ureq::Error::TooManyRedirects => {
            get_failed(format!("stopped after {MAX_REDIRECTS} redirects"))
        }
        error => get_failed(lower_first(&error.to_string())),
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

/// The TLS side of an HTTP probe (§4.1): the public web roots plus the
/// certificates of `ca`, read at every probe; or no verification at all with
/// `insecure`. A `ca` that cannot be used fails the probe either way.
fn tls_config(probe: &HttpProbe) -> Result<TlsConfig, ProbeFailure> {
    let extra = match &probe.ca {
        Some(path) => load_ca(path)
            .map_err(|reason| failure(format!("cannot load ca file {}: {reason}", quote(path))))?,
        None => Vec::new(),
    };
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()))
        .chain(extra);
    Ok(TlsConfig::builder()
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::from(roots))
        .disable_verification(probe.insecure == Some(true))
        .build())
}

/// The certificates of the PEM file at `path`, or why it cannot be used.
fn load_ca(path: &str) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|error| io_reason(&error))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        let item = item.map_err(|error| match error {
            // ureq's own wording of this one is a Debug dump.
            ureq::Error::Pem(error) => format!("invalid PEM: {error}"),
            error => lower_first(&error.to_string()),
        })?;
        // Keys and other items in a bundle are skipped.
        if let PemItem::Certificate(cert) = item {
            // rustls silently drops a root it cannot parse; say so here.
            let der = rustls_pki_types::CertificateDer::from(cert.der());
            webpki::anchor_from_trusted_cert(&der).map_err(|error| {
                format!("invalid certificate: {}", lower_first(&error.to_string()))
            })?;
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err("no PEM certificate in the file".to_owned());
    }
    Ok(certs)
}

/// The proxy for `uri` from the environment (§4.1): none for a loopback
/// host or one that `NO_PROXY` covers (§13's rules), else `HTTPS_PROXY` for
/// https and `HTTP_PROXY` for http, either in lower case too. The error is
/// the reason the variable cannot be used.
///
/// ureq applies the same proxy to every redirect. It is handed loopback and
/// the `NO_PROXY` entries it can express, so a redirect to loopback or to a
/// listed name goes direct too; a redirect to another scheme keeps the
/// first request's proxy.
fn proxy_for(uri: &Uri, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Proxy>, String> {
    let var = |name: &'static str| {
        env(name)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (name, value))
    };
    let host = uri.host().unwrap_or_default().to_ascii_lowercase();
    if is_loopback(&host) {
        return Ok(None);
    }
    let no_proxy = var("NO_PROXY").or_else(|| var("no_proxy"));
    let entries: Vec<&str> = match &no_proxy {
        Some((_, list)) => list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .collect(),
        None => Vec::new(),
    };
    let port = target_port(uri);
    if entries
        .iter()
        .any(|entry| no_proxy_matches(entry, &host, port))
    {
        return Ok(None);
    }
    let chosen = match uri.scheme_str() {
        Some("https") => var("HTTPS_PROXY").or_else(|| var("https_proxy")),
        _ => var("HTTP_PROXY").or_else(|| var("http_proxy")),
    };
    let Some((name, value)) = chosen else {
        return Ok(None);
    };
    let invalid = || format!("invalid proxy URL in {name}");
    let parsed = Proxy::new(value.trim()).map_err(|_| invalid())?;
    let protocol = parsed.protocol();
    if !matches!(protocol, ProxyProtocol::Http | ProxyProtocol::Https) {
        return Err(format!("unsupported proxy scheme in {name}"));
    }
    let mut builder = Proxy::builder(protocol)
        .host(parsed.host())
        .port(parsed.port());
    if let Some(username) = parsed.username() {
        builder = builder.username(username);
        if let Some(password) = parsed.password() {
            builder = builder.password(password);
        }
    }
    for entry in LOOPBACK_NO_PROXY {
        builder = builder.no_proxy(entry);
    }
    for entry in entries {
        for expression in ureq_no_proxy(entry) {
            builder = builder.no_proxy(&expression);
        }
    }
    builder.build().map(Some).map_err(|_| invalid())
}

/// `localhost`, a name under `.localhost`, or a loopback address.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.ends_with(".localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether one `NO_PROXY` entry covers `host` and `port` (§13): `*`; a
/// domain with or without a leading `.` or `*.`, for itself and the names
/// under it; an IP literal; a CIDR range for IP literals; any of these
/// followed by `:port`.
fn no_proxy_matches(entry: &str, host: &str, port: u16) -> bool {
    let entry = entry.trim().to_ascii_lowercase();
    let (pattern, wanted_port) = split_port(&entry);
    if wanted_port.is_some_and(|wanted| wanted != port) {
        return false;
    }
    if pattern == "*" {
        return true;
    }
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let host_ip = bare_host.parse::<IpAddr>().ok();
    if let Some((network, bits)) = pattern.split_once('/') {
        return match (host_ip, network.parse::<IpAddr>(), bits.parse::<u8>()) {
            (Some(ip), Ok(network), Ok(bits)) => in_network(ip, network, bits),
            _ => false,
        };
    }
    if let Ok(ip) = pattern.parse::<IpAddr>() {
        return host_ip == Some(ip);
    }
    let domain = pattern.trim_start_matches('*').trim_start_matches('.');
    !domain.is_empty()
        && (host == domain
            || host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.ends_with('.')))
}

/// Splits `:port` off a `NO_PROXY` entry. A bare IPv6 address or range has
/// no port (its colons are its own); `[::1]:8080` has one.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((address, tail)) => (address, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    match entry.rsplit_once(':') {
        Some((pattern, port)) if !pattern.contains(':') => match port.parse() {
            Ok(port) => (pattern, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// Whether `ip` is inside `network/bits`.
fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

/// A `NO_PROXY` entry as ureq's own expressions, for redirects: a domain
/// becomes itself and its subdomains, an IP literal itself. Ranges and
/// entries with a port have no ureq form and are left out.
fn ureq_no_proxy(entry: &str) -> Vec<String> {
    let entry = entry.trim().to_ascii_lowercase();
    let (pattern, port) = split_port(&entry);
    if port.is_some() || pattern.contains('/') {
        return Vec::new();
    }
    if pattern == "*" {
        return vec!["*".to_owned()];
    }
    if let Ok(ip) = pattern.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(_) => vec![ip.to_string()],
            IpAddr::V6(_) => vec![ip.to_string(), format!("[{ip}]")],
        };
    }
    let domain = pattern.trim_start_matches('*').trim_start_matches('.');
    if domain.is_empty() {
        return Vec::new();
    }
    vec![domain.to_owned(), format!(".{domain}")]
}

/// The port `uri` connects to.
fn target_port(uri: &Uri) -> u16 {
    uri.port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        })
}

/// `host:port`, with an IPv6 literal in brackets, as Go's
/// `net.JoinHostPort`.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Why a name lookup gave no address.
enum Lookup {
    /// The deadline passed first.
    TimedOut,
    /// The resolver's reason, such as `name or service not known`.
    Failed(String),
}

/// The addresses of `host` (an IP literal needs no lookup). The lookup runs
/// on a helper thread so that a stuck resolver cannot hold the probe past
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
            // The probe may have given up waiting; nobody to tell then.
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

fn timed_out(timeout: Duration) -> ProbeFailure {
    failure(format!(
        "check timed out after {}",
        duration::format(timeout)
    ))
}

fn failure(message: String) -> ProbeFailure {
    ProbeFailure {
        message,
        details: Vec::new(),
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write;
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::sync::mpsc::{Receiver, Sender, channel};

    use super::*;

    /// How long a test waits for something that should happen at once.
    const WAIT: Duration = Duration::from_secs(10);
    /// The timeout of probes that should end well before it.
    const TIMEOUT: Duration = Duration::from_secs(5);
    /// The timeout of probes that should time out.
    const SHORT: Duration = Duration::from_millis(500);
    /// How much longer than its timeout a probe may take to return.
    const SLACK: Duration = Duration::from_secs(1);

    /// A test server on 127.0.0.1 and the request heads it has received.
    struct Server {
        port: u16,
        requests: Receiver<String>,
    }

    impl Server {
        fn url(&self, scheme: &str, host: &str, path: &str) -> String {
            format!("{scheme}://{host}:{}{path}", self.port)
        }

        fn http(&self, path: &str) -> String {
            self.url("http", "127.0.0.1", path)
        }

        fn next_request(&self) -> String {
            self.requests.recv_timeout(WAIT).expect("a request")
        }
    }

    /// Serves `count` connections, one request each, answering each with
    /// `reply(path)`; over TLS with `tls`.
    fn serve(
        count: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
        reply: fn(&str) -> String,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, requests) = channel();
        thread::spawn(move || {
            for _ in 0..count {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                stream.set_read_timeout(Some(WAIT)).unwrap();
                stream.set_write_timeout(Some(WAIT)).unwrap();
                match &tls {
                    None => exchange(stream, &sender, reply),
                    Some(config) => {
                        let connection = rustls::ServerConnection::new(Arc::clone(config)).unwrap();
                        exchange(rustls::StreamOwned::new(connection, stream), &sender, reply);
                    }
                }
            }
        });
        Server { port, requests }
    }

    /// Reads one request head, reports it and answers it.
    fn exchange(
        mut stream: impl Read + Write,
        requests: &Sender<String>,
        reply: fn(&str) -> String,
    ) {
        let mut head = Vec::new();
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                // The client gave up (a failed handshake, say).
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
        let _ = requests.send(head);
        let _ = stream.write_all(reply(&path).as_bytes());
        let _ = stream.flush();
    }

    /// A whole HTTP/1.1 reply that closes the connection.
    fn reply(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    fn ok(_path: &str) -> String {
        reply("200 OK", "", "ok")
    }

    /// A listener that accepts one connection, writes `first` and then
    /// neither writes nor closes until the client goes away (or [`WAIT`]).
    fn accept_and_hang(first: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                stream.set_read_timeout(Some(WAIT)).unwrap();
                let _ = stream.write_all(first.as_bytes());
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink);
            }
        });
        port
    }

    /// A port on 127.0.0.1 that nothing listens on.
    fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn probe(url: String) -> HttpProbe {
        HttpProbe {
            url: Some(url),
            ..HttpProbe::default()
        }
    }

    /// The values of header `name` in a request head.
    fn header_values(head: &str, name: &str) -> Vec<String> {
        head.lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim().to_owned())
            .collect()
    }

    fn message(result: Result<(), ProbeFailure>) -> String {
        result.expect_err("the probe should fail").message
    }

    /// Runs `run` and checks that it timed out after `timeout`, in time.
    fn assert_times_out(timeout: Duration, run: impl FnOnce() -> Result<(), ProbeFailure>) {
        let started = Instant::now();
        let result = run();
        let elapsed = started.elapsed();
        assert_eq!(
            message(result),
            format!("check timed out after {}", duration::format(timeout))
        );
        assert!(elapsed < timeout + SLACK, "took {elapsed:?}");
    }

    /// A fresh directory for one test's files.
    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigil-probe-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    // ---- HTTP: status, body, redirects, headers.

    #[test]
    fn a_2xx_reply_passes() {
        let server = serve(1, None, ok);
        assert_eq!(http(&probe(server.http("/")), TIMEOUT), Ok(()));
        assert!(server.next_request().starts_with("GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn a_500_fails_with_the_first_five_lines_of_the_body() {
        let server = serve(1, None, |_| {
            reply(
                "500 Internal Server Error",
                "",
                "line 1\nline 2\r\nline 3\nline 4\nline 5\nline 6\n",
            )
        });
        let failure = http(&probe(server.http("/")), TIMEOUT).unwrap_err();
        assert_eq!(failure.message, "non-2xx status code 500");
        assert_eq!(
            failure.details,
            ["line 1", "line 2", "line 3", "line 4", "line 5"]
        );
    }

    #[test]
    fn only_4_kib_of_the_body_is_read() {
        let server = serve(1, None, |_| reply("404 Not Found", "", &"x".repeat(10_000)));
        let failure = http(&probe(server.http("/")), TIMEOUT).unwrap_err();
        assert_eq!(failure.message, "non-2xx status code 404");
        assert_eq!(failure.details, ["x".repeat(4096)]);
    }

    #[test]
    fn success_statuses_replace_the_2xx_rule() {
        fn by_path(path: &str) -> String {
            match path {
                "/503" => reply("503 Service Unavailable", "", "busy"),
                _ => reply("200 OK", "", "ok"),
            }
        }
        let server = serve(3, None, by_path);
        let mut check = probe(server.http("/503"));
        check.success_statuses = vec![200, 503];
        assert_eq!(http(&check, TIMEOUT), Ok(()));

        check.success_statuses = vec![200];
        let failure = http(&check, TIMEOUT).unwrap_err();
        assert_eq!(
            failure.message,
            "status code 503 is not in success-statuses"
        );
        assert_eq!(failure.details, ["busy"]);

        let mut check = probe(server.http("/200"));
        check.success_statuses = vec![204];
        assert_eq!(
            message(http(&check, TIMEOUT)),
            "status code 200 is not in success-statuses"
        );
    }

    fn redirects(path: &str) -> String {
        match path {
            "/start" => reply("302 Found", "Location: /end\r\n", ""),
            "/loop" => reply("302 Found", "Location: /loop\r\n", ""),
            _ => reply("200 OK", "", "ok"),
        }
    }

    #[test]
    fn redirects_are_followed() {
        let server = serve(2, None, redirects);
        assert_eq!(http(&probe(server.http("/start")), TIMEOUT), Ok(()));
        assert!(server.next_request().starts_with("GET /start "));
        assert!(server.next_request().starts_with("GET /end "));
    }

    #[test]
    fn with_no_follow_redirects_the_3xx_is_judged() {
        let server = serve(2, None, redirects);
        let mut check = probe(server.http("/start"));
        check.no_follow_redirects = Some(true);
        assert_eq!(message(http(&check, TIMEOUT)), "non-2xx status code 302");
        check.success_statuses = vec![302];
        assert_eq!(http(&check, TIMEOUT), Ok(()));
        for _ in 0..2 {
            assert!(server.next_request().starts_with("GET /start "));
        }
    }

    #[test]
    fn at_most_10_redirects_are_followed() {
        let server = serve(11, None, redirects);
        let url = server.http("/loop");
        assert_eq!(
            message(http(&probe(url.clone()), TIMEOUT)),
            format!("Get \"{url}\": stopped after 10 redirects")
        );
    }

    #[test]
    fn configured_headers_are_sent_with_the_default_user_agent() {
        let server = serve(1, None, ok);
        let mut check = probe(server.http("/"));
        check.headers.insert("X-Probe".into(), "yes".into());
        assert_eq!(http(&check, TIMEOUT), Ok(()));
        let head = server.next_request();
        assert_eq!(header_values(&head, "x-probe"), ["yes"]);
        assert_eq!(
            header_values(&head, "user-agent"),
            [format!("vigild/{}", env!("CARGO_PKG_VERSION"))]
        );
    }

    #[test]
    fn a_configured_user_agent_replaces_the_default() {
        let server = serve(1, None, ok);
        let mut check = probe(server.http("/"));
        check.headers.insert("USER-AGENT".into(), "custom/1".into());
        assert_eq!(http(&check, TIMEOUT), Ok(()));
        assert_eq!(
            header_values(&server.next_request(), "user-agent"),
            ["custom/1"]
        );
    }

    // ---- HTTP: timeouts and connection failures.

    #[test]
    fn a_server_that_never_answers_times_out() {
        let port = accept_and_hang("");
        let check = probe(format!("http://127.0.0.1:{port}/"));
        assert_times_out(SHORT, || http(&check, SHORT));
    }

    #[test]
    fn a_tls_handshake_that_never_ends_times_out() {
        let port = accept_and_hang("");
        let check = probe(format!("https://127.0.0.1:{port}/"));
        assert_times_out(SHORT, || http(&check, SHORT));
    }

    #[test]
    fn a_body_that_stalls_gives_the_lines_that_arrived() {
        let port = accept_and_hang(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\nfirst\nsecond",
        );
        let check = probe(format!("http://127.0.0.1:{port}/"));
        let started = Instant::now();
        let failure = http(&check, SHORT).unwrap_err();
        assert!(started.elapsed() < SHORT + SLACK, "{:?}", started.elapsed());
        assert_eq!(failure.message, "non-2xx status code 500");
        assert_eq!(failure.details, ["first", "second"]);
    }

    #[test]
    fn a_refused_connection_reads_like_go() {
        let port = closed_port();
        let url = format!("http://127.0.0.1:{port}/");
        assert_eq!(
            message(http(&probe(url.clone()), TIMEOUT)),
            format!("Get \"{url}\": dial tcp 127.0.0.1:{port}: connect: connection refused")
        );
    }

    #[test]
    fn a_url_that_is_not_http_fails() {
        assert_eq!(
            message(http(&probe("ftp://127.0.0.1/".into()), TIMEOUT)),
            "Get \"ftp://127.0.0.1/\": unsupported protocol scheme \"ftp\""
        );
    }

    // ---- HTTP: TLS.

    /// A certificate for `localhost` only, and a TLS server config with it.
    fn tls_server() -> (String, Arc<rustls::ServerConfig>) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key =
            rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
        (certified.cert.pem(), Arc::new(config))
    }

    #[test]
    fn an_unknown_certificate_is_a_tls_failure() {
        let (_, config) = tls_server();
        let server = serve(1, Some(config), ok);
        let url = server.url("https", "localhost", "/");
        assert_eq!(
            message(http(&probe(url.clone()), TIMEOUT)),
            format!("{url}: tls: invalid peer certificate: UnknownIssuer")
        );
    }

    #[test]
    fn insecure_skips_certificate_and_name_checks() {
        let (_, config) = tls_server();
        let server = serve(1, Some(config), ok);
        // The certificate is self-signed, and for localhost only.
        let mut check = probe(server.url("https", "127.0.0.1", "/"));
        check.insecure = Some(true);
        assert_eq!(http(&check, TIMEOUT), Ok(()));
        assert!(server.next_request().starts_with("GET / "));
    }

    #[test]
    fn a_ca_file_adds_trusted_roots() {
        let (pem, config) = tls_server();
        let dir = temp_dir("ca");
        let ca = dir.join("ca.pem");
        fs::write(&ca, pem).unwrap();
        let server = serve(2, Some(config), ok);

        let mut check = probe(server.url("https", "localhost", "/"));
        check.ca = Some(ca.display().to_string());
        assert_eq!(http(&check, TIMEOUT), Ok(()));

        // Names are still checked.
        let url = server.url("https", "127.0.0.1", "/");
        check.url = Some(url.clone());
        let failed = message(http(&check, TIMEOUT));
        assert!(
            failed.starts_with(&format!("{url}: tls: invalid peer certificate: ")),
            "{failed}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unusable_ca_file_fails_the_probe() {
        let mut check = probe("https://localhost:1/".into());
        check.ca = Some("/nonexistent/vigil/ca.pem".into());
        assert_eq!(
            message(http(&check, TIMEOUT)),
            "cannot load ca file \"/nonexistent/vigil/ca.pem\": no such file or directory"
        );

        let dir = temp_dir("bad-ca");
        let empty = dir.join("empty.pem");
        fs::write(&empty, "not a certificate\n").unwrap();
        check.ca = Some(empty.display().to_string());
        assert_eq!(
            message(http(&check, TIMEOUT)),
            format!(
                "cannot load ca file \"{}\": no PEM certificate in the file",
                empty.display()
            )
        );

        let garbage = dir.join("garbage.pem");
        fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        check.ca = Some(garbage.display().to_string());
        let failed = message(http(&check, TIMEOUT));
        assert!(
            failed.starts_with(&format!(
                "cannot load ca file \"{}\": invalid certificate: ",
                garbage.display()
            )),
            "{failed}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    // ---- HTTP: proxies.

    fn environment(
        vars: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    fn proxy_host(url: &str, vars: &'static [(&'static str, &'static str)]) -> Option<String> {
        let uri: Uri = url.parse().unwrap();
        proxy_for(&uri, &environment(vars))
            .unwrap()
            .map(|proxy| format!("{}:{}", proxy.host(), proxy.port()))
    }

    #[test]
    fn the_proxy_follows_the_scheme_and_never_serves_loopback() {
        let vars = &[
            ("HTTPS_PROXY", "http://tls-proxy:3128"),
            ("http_proxy", "http://plain-proxy:3129"),
        ];
        assert_eq!(
            proxy_host("https://api.example/", vars).as_deref(),
            Some("tls-proxy:3128")
        );
        assert_eq!(
            proxy_host("http://api.example/", vars).as_deref(),
            Some("plain-proxy:3129")
        );
        for url in [
            "http://localhost:8080/",
            "http://app.localhost/",
            "http://127.0.0.1/",
            "http://127.1.2.3/",
            "http://[::1]:8080/",
        ] {
            assert_eq!(proxy_host(url, vars), None, "{url}");
        }
        assert_eq!(proxy_host("http://api.example/", &[]), None);
    }

    #[test]
    fn no_proxy_entries_read_as_section_13_says() {
        let matches = |entry, host, port| no_proxy_matches(entry, host, port);
        assert!(matches("*", "anything", 80));
        assert!(matches("example.com", "example.com", 80));
        assert!(matches("Example.com", "api.example.com", 80));
        assert!(matches(".example.com", "example.com", 80));
        assert!(matches("*.example.com", "a.b.example.com", 80));
        assert!(!matches("example.com", "badexample.com", 80));
        assert!(matches("10.1.2.3", "10.1.2.3", 80));
        assert!(matches("::1", "[::1]", 80));
        assert!(matches("[fd00::2]", "[fd00::2]", 80));
        assert!(matches("10.0.0.0/8", "10.200.0.1", 80));
        assert!(!matches("10.0.0.0/8", "11.0.0.1", 80));
        assert!(matches("fd00::/8", "[fd12::1]", 80));
        assert!(!matches("10.0.0.0/8", "ten.example", 80));
        assert!(matches("example.com:8080", "example.com", 8080));
        assert!(!matches("example.com:8080", "example.com", 80));
        assert!(matches("[::1]:8080", "[::1]", 8080));
        assert!(matches("10.0.0.0/8:443", "10.0.0.1", 443));

        let vars = &[
            ("HTTP_PROXY", "http://proxy:3128"),
            ("no_proxy", " internal , 10.0.0.0/8"),
        ];
        assert_eq!(proxy_host("http://api.internal/", vars), None);
        assert_eq!(proxy_host("http://10.9.9.9/", vars), None);
        assert_eq!(
            proxy_host("http://api.example/", vars).as_deref(),
            Some("proxy:3128")
        );
    }

    #[test]
    fn an_unusable_proxy_variable_fails_the_probe() {
        let env = environment(&[("HTTP_PROXY", "socks5://proxy:1080")]);
        let check = probe("http://api.example/".into());
        assert_eq!(
            message(http_with_env(&check, TIMEOUT, &env)),
            "Get \"http://api.example/\": unsupported proxy scheme in HTTP_PROXY"
        );
    }

    #[test]
    fn a_probe_goes_through_the_proxy() {
        // The proxy refuses the tunnel.
        let proxy = serve(1, None, |_| reply("403 Forbidden", "", ""));
        let address = format!("http://127.0.0.1:{}", proxy.port);
        let address: &'static str = Box::leak(address.into_boxed_str());
        let vars: &'static [(&str, &str)] = Box::leak(Box::new([("HTTP_PROXY", address)]));
        let check = probe("http://probe.example/".into());
        let failed = message(http_with_env(&check, TIMEOUT, &environment(vars)));
        assert_eq!(
            failed,
            "Get \"http://probe.example/\": proxyconnect tcp: proxy server responded 403/403"
        );
        assert!(
            proxy
                .next_request()
                .starts_with("CONNECT probe.example:80 HTTP/1.1\r\n")
        );

        // A loopback target goes direct, whatever the variables say.
        let server = serve(1, None, ok);
        let vars = &[("HTTP_PROXY", "http://127.0.0.1:1")];
        assert_eq!(
            http_with_env(&probe(server.http("/")), TIMEOUT, &environment(vars)),
            Ok(())
        );
    }

    #[test]
    fn a_dead_proxy_reads_like_go() {
        let port = closed_port();
        let address = format!("http://127.0.0.1:{port}");
        let address: &'static str = Box::leak(address.into_boxed_str());
        let vars: &'static [(&str, &str)] = Box::leak(Box::new([("HTTP_PROXY", address)]));
        let check = probe("http://probe.example/".into());
        assert_eq!(
            message(http_with_env(&check, TIMEOUT, &environment(vars))),
            format!(
                "Get \"http://probe.example/\": proxyconnect tcp: dial tcp 127.0.0.1:{port}: \
                 connect: connection refused"
            )
        );
    }

    // ---- TCP.

    fn tcp_probe(host: Option<&str>, port: u16) -> TcpProbe {
        TcpProbe {
            port: Some(port),
            host: host.map(str::to_owned),
        }
    }

    #[test]
    fn a_tcp_probe_passes_when_the_port_accepts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(tcp(&tcp_probe(Some("127.0.0.1"), port), TIMEOUT), Ok(()));
    }

    #[test]
    fn a_tcp_probe_defaults_to_localhost() {
        let listener = TcpListener::bind("localhost:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(tcp(&tcp_probe(None, port), TIMEOUT), Ok(()));
    }

    #[test]
    fn a_refused_tcp_probe_reads_like_go() {
        let port = closed_port();
        assert_eq!(
            message(tcp(&tcp_probe(Some("127.0.0.1"), port), TIMEOUT)),
            format!("dial tcp 127.0.0.1:{port}: connect: connection refused")
        );
    }

    #[test]
    fn a_tcp_probe_times_out_when_the_backlog_is_full() {
        use nix::sys::socket::{Backlog, listen};

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listen(&listener, Backlog::new(0).unwrap()).unwrap();
        let address = listener.local_addr().unwrap();
        // Fill the accept queue until the kernel drops a SYN.
        let mut held = Vec::new();
        let mut full = false;
        for _ in 0..8 {
            match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
                Ok(stream) => held.push(stream),
                Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                    full = true;
                    break;
                }
                Err(error) => panic!("{error}"),
            }
        }
        if !full {
            eprintln!("skipped: this kernel never leaves a connect hanging");
            return;
        }
        let check = tcp_probe(Some("127.0.0.1"), address.port());
        assert_times_out(SHORT, || tcp(&check, SHORT));
    }

    #[test]
    fn an_unknown_name_is_a_failed_lookup() {
        // `.invalid` never resolves (RFC 6761); a resolver that cannot be
        // reached at all makes the probes time out instead.
        let timeout = Duration::from_secs(2);
        let timed_out = format!("check timed out after {}", duration::format(timeout));
        let failed = message(tcp(&tcp_probe(Some("nosuch.invalid"), 80), timeout));
        assert!(
            failed.starts_with("dial tcp: lookup nosuch.invalid: ") || failed == timed_out,
            "{failed}"
        );
        let check = probe("http://nosuch.invalid/".into());
        let failed = message(http_with_env(&check, timeout, &environment(&[])));
        assert!(
            failed.starts_with("Get \"http://nosuch.invalid/\": dial tcp: lookup nosuch.invalid: ")
                || failed == timed_out,
            "{failed}"
        );
    }

    #[test]
    fn address_shares_follow_go() {
        let ten = Duration::from_secs(10);
        assert_eq!(address_timeout(ten, 1), ten);
        assert_eq!(address_timeout(ten, 2), Duration::from_secs(5));
        assert_eq!(address_timeout(ten, 10), MIN_ADDRESS_TIMEOUT);
        assert_eq!(address_timeout(SHORT, 3), SHORT);
    }
}
