//! One attempt at one job (checks-and-alerts.md §13): the request, sent
//! straight to the target or through a proxy, and the verdict on its reply.
//!
//! Two routes:
//!
//! - **ureq**, for a target reached directly and for an `https` target
//!   tunnelled through a proxy with `CONNECT` (ureq sends the proxy's
//!   `user:password@` as `Proxy-Authorization: Basic` itself). ureq has one
//!   TLS setting for the proxy and the tunnelled target, so for an `https://`
//!   proxy the `proxy-ca` certificates join the `tls-ca` ones as roots for
//!   both, and `tls-insecure` also skips verifying that proxy. The choice is
//!   deliberate: the alternative is a TLS-in-TLS client of our own.
//! - **forward**, for an `http` target through a proxy: ureq only knows
//!   `CONNECT`, which many proxies refuse for port 80, so this module writes
//!   the request in absolute form (`POST http://host/path HTTP/1.1`) to the
//!   proxy itself, over TLS trusting the web roots plus `proxy-ca` for an
//!   `https://` proxy, and reads the reply's head with httparse.
//!
//! Both routes verify certificates as [`crate::outbound::tls`] does: a
//! certificate of a CA bundle is also trusted for itself when the server
//! (or proxy) presents it.
//!
//! Everything here **blocks** until the reply or the attempt's timeout:
//! it runs on a delivery worker.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64ct::Encoding as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::ServerName;
use ureq::http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING, USER_AGENT};
use ureq::http::{self, HeaderName, HeaderValue, Uri};
use ureq::{Proxy, ProxyProtocol};
use vigil_proto::api::quote;
use vigil_proto::duration;
use vigil_proto::reason::io_reason;

use crate::alerts::event::Job;
use crate::alerts::proxy::{self, Scheme, Target};
use crate::outbound::{self, CallError, DialError, join_host_port, target_port};

/// The longest connect (name lookup, connect, proxy, TLS handshake) of an
/// attempt, unless its `timeout` is shorter (§13, "Timeouts").
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest reply head the forward route reads: a proxy's or receiver's
/// reply is a status line and a few headers, and a longer one is an error
/// rather than a reason to grow the buffer.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most headers in a reply head the forward route parses.
const MAX_HEADERS: usize = 64;

/// What one attempt came to (§13, "Outcome of an attempt").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A 2xx reply.
    Delivered,
    /// A connection error, a timeout, a 5xx or a 429: worth another attempt.
    Retry {
        /// `HTTP 503`, `dial tcp …: connect: connection refused`, ….
        error: String,
        /// A 429's or 503's `Retry-After: <seconds>`.
        retry_after: Option<Duration>,
    },
    /// Any other status, or a request that cannot be sent: no retry helps.
    Failed(String),
}

/// The request of one job, checked and built once for all its attempts.
pub(super) struct Request<'a> {
    /// The URL as the job has it, for messages.
    url: &'a str,
    uri: Uri,
    /// The job's headers in order, each name once.
    headers: Vec<(HeaderName, HeaderValue)>,
    body: &'a [u8],
    route: Route,
}

/// How the request reaches its target.
enum Route {
    /// ureq: direct, or a `CONNECT` tunnel through `proxy`.
    Ureq {
        tls: Arc<rustls::ClientConfig>,
        proxy: Option<Proxy>,
    },
    /// An `http` target through a proxy, in absolute form.
    Forward(Forward),
}

/// The proxy of the forward route.
struct Forward {
    proxy: Proxy,
    /// TLS to the proxy, for an `https://` one.
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// A reply's status and what of its headers matters here.
struct Reply {
    status: u16,
    retry_after: Option<Duration>,
}

impl<'a> Request<'a> {
    /// Checks and builds the request of `job`, with `env` for the proxy
    /// variables (§13). The error is why the job cannot be sent at all: an
    /// unset URL (`url env:PAGER_URL is not set`), a URL or header that is
    /// not valid, an unusable proxy or CA file.
    pub(super) fn new(
        job: &'a Job,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Request<'a>, String> {
        let url = job.url.as_deref().map_err(Clone::clone)?;
        let post_failed = |reason: String| format!("Post {}: {reason}", quote(url));
        let uri: Uri = url
            .parse()
            .map_err(|error: http::uri::InvalidUri| format!("parse {}: {error}", quote(url)))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            other => {
                return Err(post_failed(format!(
                    "unsupported protocol scheme {}",
                    quote(other.unwrap_or_default())
                )));
            }
        };
        let host = uri.host().unwrap_or_default();
        if host.is_empty() {
            return Err(post_failed("no host in request URL".to_owned()));
        }
        let headers = headers(&job.headers)?;

        let target = Target {
            scheme,
            host,
            port: target_port(&uri),
        };
        let chosen = proxy::for_alert(&target, job.proxy.as_deref(), job.no_proxy.as_deref(), env);
        let proxy = match chosen {
            Some(chosen) => {
                let name = chosen.source;
                let proxy =
                    Proxy::new(&chosen.url).map_err(|_| format!("invalid proxy URL in {name}"))?;
                if !matches!(proxy.protocol(), ProxyProtocol::Http | ProxyProtocol::Https) {
                    return Err(format!("unsupported proxy scheme in {name}"));
                }
                Some(proxy)
            }
            None => None,
        };
        let proxy_ca = match (&proxy, &job.proxy_ca) {
            (Some(proxy), Some(path)) if proxy.protocol() == ProxyProtocol::Https => {
                load_ca("proxy-ca", path)?
            }
            _ => Vec::new(),
        };

        let route = match proxy {
            Some(proxy) if scheme == Scheme::Http => {
                let tls = match proxy.protocol() {
                    ProxyProtocol::Https => Some(
                        outbound::tls_config(proxy_ca, false)
                            .map_err(|reason| format!("proxy {reason}"))?,
                    ),
                    _ => None,
                };
                Route::Forward(Forward { proxy, tls })
            }
            proxy => {
                let mut roots = match &job.tls_ca {
                    Some(path) => load_ca("tls-ca", path)?,
                    None => Vec::new(),
                };
                // See the module's doc: ureq has one TLS setting for both.
                roots.extend(proxy_ca);
                Route::Ureq {
                    tls: outbound::tls_config(roots, job.tls_insecure)?,
                    proxy,
                }
            }
        };
        Ok(Request {
            url,
            uri,
            headers,
            body: &job.body,
            route,
        })
    }

    /// Makes one attempt within `timeout` (which covers everything, the
    /// connect included) and judges it.
    pub(super) fn send(&self, timeout: Duration) -> Verdict {
        let connect_timeout = timeout.min(MAX_CONNECT_TIMEOUT);
        let reply = match &self.route {
            Route::Ureq { tls, proxy } => self.send_ureq(tls, proxy.as_ref(), timeout),
            Route::Forward(forward) => self.send_forward(forward, timeout),
        };
        match reply {
            Ok(reply) => judge(reply),
            Err(CallError::TimedOut { connecting }) => Verdict::Retry {
                error: if connecting {
                    format!(
                        "connect timed out after {}",
                        duration::format(connect_timeout)
                    )
                } else {
                    format!("timed out after {}", duration::format(timeout))
                },
                retry_after: None,
            },
            Err(CallError::Tls(reason)) => Verdict::Retry {
                error: format!("{}: tls: {reason}", self.url),
                retry_after: None,
            },
            Err(CallError::Failed(reason)) => Verdict::Retry {
                error: reason,
                retry_after: None,
            },
            Err(CallError::Invalid(reason)) => Verdict::Failed(reason),
        }
    }

    fn send_ureq(
        &self,
        tls: &Arc<rustls::ClientConfig>,
        proxy: Option<&Proxy>,
        timeout: Duration,
    ) -> Result<Reply, CallError> {
        // The job's own User-Agent, for the CONNECT request too.
        let user_agent = self
            .headers
            .iter()
            .find(|(name, _)| *name == USER_AGENT)
            .and_then(|(_, value)| value.to_str().ok())
            .unwrap_or_default();
        let config = ureq::Agent::config_builder()
            .proxy(proxy.cloned())
            // Any status is a reply to judge, not an error.
            .http_status_as_error(false)
            // A 3xx is judged, not followed (§13).
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(MAX_CONNECT_TIMEOUT)))
            // Only the job's headers: "" leaves the header out.
            .user_agent(user_agent)
            .accept("")
            .accept_encoding("")
            .build();
        let agent = outbound::agent(config, Arc::clone(tls));
        let mut request = http::Request::post(self.uri.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(self.body)
            .map_err(|error| CallError::Invalid(error.to_string()))?;
        let response = agent
            .run(request)
            .map_err(|error| outbound::call_error(error, &self.uri, proxy))?;
        // The body is not read: the status has decided.
        Ok(Reply {
            status: response.status().as_u16(),
            retry_after: response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(retry_after),
        })
    }

    fn send_forward(&self, forward: &Forward, timeout: Duration) -> Result<Reply, CallError> {
        let deadline = Instant::now() + timeout;
        let proxy = &forward.proxy;
        let host = proxy.host().trim_start_matches('[').trim_end_matches(']');
        let stream = match outbound::dial(host, proxy.port(), timeout.min(MAX_CONNECT_TIMEOUT)) {
            Ok(stream) => stream,
            Err(DialError::TimedOut) => return Err(CallError::TimedOut { connecting: true }),
            Err(DialError::Failed(reason)) => {
                return Err(CallError::Failed(format!("proxyconnect tcp: {reason}")));
            }
        };
        let stream = Deadlined { stream, deadline };
        let head = self.forward_head(proxy);
        let reply = match &forward.tls {
            None => exchange(stream, &head, self.body),
            Some(config) => {
                let name = ServerName::try_from(host.to_owned()).map_err(|_| {
                    CallError::Invalid(format!("invalid proxy host {}", quote(host)))
                })?;
                let connection =
                    rustls::ClientConnection::new(Arc::clone(config), name).map_err(|error| {
                        CallError::Failed(format!(
                            "proxyconnect tcp: tls: {}",
                            outbound::tls_reason(&error)
                        ))
                    })?;
                exchange(
                    rustls::StreamOwned::new(connection, stream),
                    &head,
                    self.body,
                )
            }
        };
        reply.map_err(|error| {
            if let Some(tls) = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                // TLS with the proxy, not the target: Go's wording.
                return CallError::Failed(format!(
                    "proxyconnect tcp: tls: {}",
                    outbound::tls_reason(tls)
                ));
            }
            match error.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    CallError::TimedOut { connecting: false }
                }
                _ => CallError::Failed(io_reason(&error)),
            }
        })
    }

    /// The request head for the forward route: absolute form, the job's
    /// headers, then what the route adds (as ureq would): `Host`,
    /// `Authorization` for a URL's `user:password@`, `Proxy-Authorization`
    /// for the proxy's, the length, and `Connection: close`.
    fn forward_head(&self, proxy: &Proxy) -> Vec<u8> {
        let host = self.uri.host().unwrap_or_default();
        let authority = match self.uri.port_u16() {
            Some(port) => join_host_port(host, port),
            None => host.to_owned(),
        };
        let path = self
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let mut head = format!("POST http://{authority}{path} HTTP/1.1\r\n").into_bytes();
        let has = |wanted: &HeaderName| self.headers.iter().any(|(name, _)| name == wanted);
        if !has(&HOST) {
            head.extend_from_slice(format!("Host: {authority}\r\n").as_bytes());
        }
        for (name, value) in &self.headers {
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        let userinfo = self
            .uri
            .authority()
            .and_then(|authority| authority.as_str().rsplit_once('@'))
            .map(|(userinfo, _)| userinfo);
        if let Some(userinfo) = userinfo
            && !has(&AUTHORIZATION)
        {
            let credentials = base64ct::Base64::encode_string(userinfo.as_bytes());
            head.extend_from_slice(format!("Authorization: Basic {credentials}\r\n").as_bytes());
        }
        if proxy.username().is_some() || proxy.password().is_some() {
            let credentials = format!(
                "{}:{}",
                proxy.username().unwrap_or_default(),
                proxy.password().unwrap_or_default()
            );
            let credentials = base64ct::Base64::encode_string(credentials.as_bytes());
            head.extend_from_slice(
                format!("Proxy-Authorization: Basic {credentials}\r\n").as_bytes(),
            );
        }
        head.extend_from_slice(
            format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                self.body.len()
            )
            .as_bytes(),
        );
        head
    }
}

/// The job's headers, checked, in order, each name once: a later header
/// replaces the value of an earlier one of the same name (names compare
/// without regard to case) where that one stood, so the configured headers
/// override the format's `Content-Type` and the `User-Agent` (§13). The
/// length comes from the body, never from a header.
fn headers(job: &[(String, String)]) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(job.len());
    for (name, value) in job {
        let header = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("invalid header name {}", quote(name)))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("invalid value for header {}", quote(name)))?;
        if header == CONTENT_LENGTH || header == TRANSFER_ENCODING {
            continue;
        }
        match headers.iter_mut().find(|(earlier, _)| *earlier == header) {
            Some(earlier) => earlier.1 = value,
            None => headers.push((header, value)),
        }
    }
    Ok(headers)
}

/// The certificates of the `key` file at `path`, or the failure that ends
/// the job (the plan checked the file when it was loaded; it has changed
/// since).
fn load_ca(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    outbound::load_ca(path).map_err(|reason| {
        format!(
            "cannot load {key} file {}: {reason}",
            quote(&path.display().to_string())
        )
    })
}

/// The verdict on a reply (§13).
fn judge(reply: Reply) -> Verdict {
    let status = reply.status;
    let error = format!("HTTP {status}");
    match status {
        200..=299 => Verdict::Delivered,
        429 | 503 => Verdict::Retry {
            error,
            retry_after: reply.retry_after,
        },
        500..=599 => Verdict::Retry {
            error,
            retry_after: None,
        },
        _ => Verdict::Failed(error),
    }
}

/// A `Retry-After` in seconds; an HTTP date is not read.
fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse().ok().map(Duration::from_secs)
}

/// Writes `head` and `body`, then reads the reply's head (skipping interim
/// 1xx replies). The body is not read.
fn exchange(mut stream: impl Read + Write, head: &[u8], body: &[u8]) -> io::Result<Reply> {
    stream.write_all(head)?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut buffer = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buffer) {
            Ok(httparse::Status::Complete(used)) => {
                let status = response.code.unwrap_or_default();
                if (100..200).contains(&status) && status != 101 {
                    buffer.drain(..used);
                    continue;
                }
                let retry_after = response
                    .headers
                    .iter()
                    .find(|header| header.name.eq_ignore_ascii_case("retry-after"))
                    .and_then(|header| std::str::from_utf8(header.value).ok())
                    .and_then(retry_after);
                return Ok(Reply {
                    status,
                    retry_after,
                });
            }
            Ok(httparse::Status::Partial) if buffer.len() >= MAX_HEAD_BYTES => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply head larger than 16 KiB",
                ));
            }
            Ok(httparse::Status::Partial) => {}
            Err(error) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("malformed HTTP response: {error}"),
                ));
            }
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection without a reply",
            ));
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// A socket whose every read and write ends by `deadline`.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
}

impl Deadlined {
    /// The time left, or a timeout error when none is.
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(left)
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        self.stream.read(buf)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, retry_after: Option<u64>) -> Reply {
        Reply {
            status,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn replies_are_judged_as_section_13_says() {
        assert_eq!(judge(reply(200, None)), Verdict::Delivered);
        assert_eq!(judge(reply(204, None)), Verdict::Delivered);
        for status in [500, 502, 504, 599] {
            assert_eq!(
                judge(reply(status, Some(1))),
                Verdict::Retry {
                    error: format!("HTTP {status}"),
                    retry_after: None
                }
            );
        }
        for status in [429, 503] {
            assert_eq!(
                judge(reply(status, Some(7))),
                Verdict::Retry {
                    error: format!("HTTP {status}"),
                    retry_after: Some(Duration::from_secs(7))
                }
            );
        }
        for status in [301, 302, 304, 400, 401, 404, 410] {
            assert_eq!(
                judge(reply(status, None)),
                Verdict::Failed(format!("HTTP {status}"))
            );
        }
        assert_eq!(retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn later_headers_replace_earlier_ones_in_place() {
        let job = [
            ("Content-Type", "application/json"),
            ("User-Agent", "vigild/1"),
            ("X-One", "1"),
            ("content-type", "text/plain"),
            ("Content-Length", "99"),
            ("USER-AGENT", "custom/2"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        let checked: Vec<(String, String)> = headers(&job)
            .unwrap()
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            checked,
            [
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("user-agent".to_owned(), "custom/2".to_owned()),
                ("x-one".to_owned(), "1".to_owned()),
            ]
        );
        let bad = [("X-Bad".to_owned(), "a\r\nInjected: yes".to_owned())];
        assert_eq!(
            headers(&bad).unwrap_err(),
            "invalid value for header \"X-Bad\""
        );
    }
}
