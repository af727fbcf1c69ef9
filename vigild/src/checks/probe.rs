//! The HTTP and TCP probes of health checks (§4.1, §4.2): one call runs one
//! probe and returns its verdict, worded as §5 gives it.
//!
//! Both functions **block**, so they run on a thread of their own (see
//! `reactor/probes.rs`), never on the reactor (§3, "Probes never block the
//! event loop"). Each returns by its `timeout` even against a peer that accepts
//! and never answers: every step (DNS, connect, TLS, request, response) runs
//! against one deadline. This is the one part of `checks` that touches
//! sockets; the scheduler beside it stays pure.
//!
//! HTTP goes through ureq on the workspace's one rustls and ring provider
//! (DESIGN.md §4), with the TLS settings, dialling and failure wording that
//! alert delivery shares ([`crate::outbound`]). ureq follows the redirects;
//! this module chooses the proxy itself, with the `NO_PROXY` rules of §13
//! ([`crate::alerts::proxy`]), because ureq neither keeps loopback away from
//! a proxy nor reads `NO_PROXY` as §13 does.
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
//! | TLS | `https://api/: tls: invalid peer certificate: unknown issuer` (others: [`crate::outbound::tls`]) |
//! | `ca` unusable | `cannot load ca file "/etc/ca.pem": no such file or directory` |
//!
//! The TCP probe resolves names itself, so its messages name the address
//! that failed, as Go's do. ureq resolves for the HTTP probe and does not say
//! which address failed, so there the target is the URL's `host:port` (Go
//! would show the resolved address): for an IP literal, as in every example
//! above, the text is Go's exactly. The URL in `Get "…"` and in the TLS
//! message is the probe's `url`, also when the failure was at a redirect.

use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ureq::http::{self, Uri};
use ureq::{Proxy, ProxyProtocol};
use vigil_proto::api::quote;
use vigil_proto::duration;
use vigil_proto::plan::{HttpProbe, TcpProbe};

use super::ProbeFailure;
use crate::alerts::proxy::{self as proxies, Entry, NoProxy, Pattern};
use crate::outbound::{self, CallError, DialError, target_port};

/// How much of a failing reply's body is read (§4.1): enough for the first
/// lines of an error page, without letting a huge or endless body hold the
/// worker.
const MAX_BODY_BYTES: u64 = 4 * 1024;

/// How many lines of that body become the failure's details (§4.1).
const MAX_DETAIL_LINES: usize = 5;

/// How many redirects are followed (§4.1), as Go's client does.
const MAX_REDIRECTS: u32 = 10;

/// Hosts that ureq must never send through the proxy, as its `NO_PROXY`
/// entries: they keep redirects to loopback off the proxy too. `127.`
/// matches every host that starts with it, so all of 127.0.0.0/8.
const LOOPBACK_NO_PROXY: [&str; 5] = ["localhost", ".localhost", "127.", "::1", "[::1]"];

/// The variables that name the proxy of an `https` probe (§4.1): unlike
/// alerts (§13), probes do not read `ALL_PROXY`.
const HTTPS_PROXY_VARIABLES: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];

/// The variables that name the proxy of an `http` probe (§4.1).
const HTTP_PROXY_VARIABLES: [&str; 2] = ["HTTP_PROXY", "http_proxy"];

/// Runs one HTTP probe (§4.1); `timeout` covers the whole exchange (DNS,
/// connect, TLS, request, response). Blocks: call it on a worker thread.
pub fn http(probe: &HttpProbe, timeout: Duration) -> Result<(), ProbeFailure> {
    http_with_env(probe, timeout, &|name| std::env::var(name).ok())
}

/// Runs one TCP probe (§4.2): connects and closes at once, sending nothing.
/// Blocks: call it on a worker thread.
pub fn tcp(probe: &TcpProbe, timeout: Duration) -> Result<(), ProbeFailure> {
    let host = probe.host.as_deref().unwrap_or("localhost");
    let Some(port) = probe.port else {
        // The plan rejects a tcp check without a port.
        return Err(failure("tcp check has no port".to_owned()));
    };
    match outbound::dial(host, port, timeout) {
        // Dropping the stream closes it; nothing is sent.
        Ok(_stream) => Ok(()),
        Err(DialError::TimedOut) => Err(timed_out(timeout)),
        Err(DialError::Failed(message)) => Err(failure(message)),
    }
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
    let config = ureq::Agent::config_builder()
        .proxy(proxy.clone())
        // Any status is a reply to judge, not an error.
        .http_status_as_error(false)
        .max_redirects(redirects)
        .timeout_global(Some(timeout))
        // A configured User-Agent header replaces this one.
        .user_agent(format!("vigild/{}", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = outbound::agent(config, tls);
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
    if let ureq::Error::TooManyRedirects = error {
        return get_failed(format!("stopped after {MAX_REDIRECTS} redirects"));
    }
    match outbound::call_error(error, uri, proxy) {
        CallError::TimedOut { .. } => timed_out(timeout),
        CallError::Tls(reason) => failure(format!("{url}: tls: {reason}")),
        CallError::Failed(reason) | CallError::Invalid(reason) => get_failed(reason),
    }
}

/// The TLS side of an HTTP probe (§4.1): the public web roots plus the
/// certificates of `ca`, read at every probe, each also trusted for itself
/// when the server presents it ([`outbound::tls`]); or no verification at
/// all with `insecure`. A `ca` that cannot be used fails the probe either
/// way.
fn tls_config(probe: &HttpProbe) -> Result<Arc<rustls::ClientConfig>, ProbeFailure> {
    let bundle = match &probe.ca {
        Some(path) => outbound::load_ca(Path::new(path))
            .map_err(|reason| failure(format!("cannot load ca file {}: {reason}", quote(path))))?,
        None => Vec::new(),
    };
    outbound::tls_config(bundle, probe.insecure == Some(true)).map_err(failure)
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
    let host = uri.host().unwrap_or_default().to_ascii_lowercase();
    if is_loopback(&host) {
        return Ok(None);
    }
    let no_proxy = NoProxy::from_settings(None, env);
    if no_proxy.matches(&host, target_port(uri)) {
        return Ok(None);
    }
    let names: &[&str] = match uri.scheme_str() {
        Some("https") => &HTTPS_PROXY_VARIABLES,
        _ => &HTTP_PROXY_VARIABLES,
    };
    let Some(chosen) = proxies::first_set(names, env) else {
        return Ok(None);
    };
    let name = chosen.source;
    let invalid = || format!("invalid proxy URL in {name}");
    let parsed = Proxy::new(&chosen.url).map_err(|_| invalid())?;
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
    for entry in no_proxy.entries() {
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

/// A `NO_PROXY` entry as ureq's own expressions, for redirects: a domain
/// becomes itself and its subdomains, an IP literal itself. Ranges and
/// entries with a port have no ureq form and are left out.
fn ureq_no_proxy(entry: &Entry) -> Vec<String> {
    if entry.port.is_some() {
        return Vec::new();
    }
    match &entry.pattern {
        Pattern::Any => vec!["*".to_owned()],
        Pattern::Domain(domain) => vec![domain.clone(), format!(".{domain}")],
        Pattern::Address(ip @ IpAddr::V4(_)) => vec![ip.to_string()],
        Pattern::Address(ip @ IpAddr::V6(_)) => vec![ip.to_string(), format!("[{ip}]")],
        Pattern::Network { .. } => Vec::new(),
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

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io;
    use std::io::Write;
    use std::net::TcpListener;
    use std::net::TcpStream;
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::thread;
    use std::time::Instant;

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

    /// A self-signed certificate for `localhost` only, and a TLS server
    /// config with it.
    fn tls_server() -> (String, Arc<rustls::ServerConfig>) {
        tls_server_with(rcgen::IsCa::NoCa)
    }

    /// [`tls_server`], with the certificate marked as a CA or not
    /// (`openssl req -x509` marks its own as one).
    fn tls_server_with(is_ca: rcgen::IsCa) -> (String, Arc<rustls::ServerConfig>) {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.is_ca = is_ca;
        let signing_key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&signing_key).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
        (cert.pem(), Arc::new(config))
    }

    #[test]
    fn an_unknown_certificate_is_a_tls_failure() {
        let (_, config) = tls_server();
        let server = serve(1, Some(config), ok);
        let url = server.url("https", "localhost", "/");
        assert_eq!(
            message(http(&probe(url.clone()), TIMEOUT)),
            format!("{url}: tls: invalid peer certificate: unknown issuer")
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
        // The server's own certificate as the CA, marked as a CA or not.
        let kinds = [
            ("leaf", rcgen::IsCa::NoCa),
            (
                "ca",
                rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained),
            ),
        ];
        for (kind, is_ca) in kinds {
            let (pem, config) = tls_server_with(is_ca);
            let dir = temp_dir(&format!("ca-{kind}"));
            let ca = dir.join("ca.pem");
            fs::write(&ca, pem).unwrap();
            let server = serve(3, Some(config), ok);

            let url = server.url("https", "localhost", "/");
            assert_eq!(
                message(http(&probe(url.clone()), TIMEOUT)),
                format!("{url}: tls: invalid peer certificate: unknown issuer"),
                "{kind}"
            );

            let mut check = probe(url);
            check.ca = Some(ca.display().to_string());
            assert_eq!(http(&check, TIMEOUT), Ok(()), "{kind}");

            // Names are still checked.
            let url = server.url("https", "127.0.0.1", "/");
            check.url = Some(url.clone());
            assert_eq!(
                message(http(&check, TIMEOUT)),
                format!(
                    "{url}: tls: invalid peer certificate: certificate not valid for name \
                     \"127.0.0.1\" (it names \"localhost\")"
                ),
                "{kind}"
            );
            fs::remove_dir_all(dir).unwrap();
        }
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
    fn no_proxy_reads_as_section_13_says() {
        // Each kind of entry is covered in alerts::proxy; here, that the
        // probe reads the variable, and that ureq gets the entries it can
        // express for redirects.
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
        let expressions: Vec<String> =
            NoProxy::parse("*, .internal, 10.1.2.3, [fd00::2], 10.0.0.0/8, api:8080")
                .entries()
                .iter()
                .flat_map(ureq_no_proxy)
                .collect();
        assert_eq!(
            expressions,
            [
                "*",
                "internal",
                ".internal",
                "10.1.2.3",
                "fd00::2",
                "[fd00::2]"
            ]
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
}
