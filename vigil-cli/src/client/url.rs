//! The `--url` transport: the same requests as over the Unix socket, sent
//! over plain HTTP or HTTPS with ureq (cli.md §2.1).
//!
//! [`Agent::open`] turns the TLS options into one ureq agent, built by
//! `vigil_proto::tls` as vigild builds those of its probes and alerts:
//! rustls on the workspace's ring provider; the public web roots plus any
//! `--cacert` bundle, whose certificates are also trusted for themselves
//! when the server presents one as its own (as curl does, so a self-signed
//! CA:TRUE certificate works as its own CA), or no verification at all with
//! `--insecure`; a client certificate with `--cert`/`--key`; the proxy that
//! `global` chose (loopback never goes through one; `http://` and
//! `https://` proxies only). 4xx and 5xx replies come back as replies, so
//! that the envelope's message reaches the user, and redirects are not
//! followed, so credentials never travel to another host. TLS failures are
//! worded by `vigil_proto::tls` too (`invalid peer certificate: unknown
//! issuer`).
//!
//! Ctrl-C: a request without a timeout (a stream or a change wait) stops
//! with `EINTR` when SIGINT arrives, which ureq passes up unchanged; the body
//! reader also looks at the flag before every read. Unlike the socket's
//! reads, a TCP read does not wake every 200 ms: a signal that lands just
//! before a read starts is seen at the next line or wait reply.

use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustls::ClientConfig;
use ureq::ProxyProtocol;
use ureq::http;
use vigil_proto::tls::{self, ClientCert};

use super::{Error, Request, TlsOptions};

/// How long connecting (TCP and the TLS handshake) may take, even for a
/// request without a timeout: a peer that never answers is an error, not a
/// wait.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A ureq agent set up for one vigild.
#[derive(Debug)]
pub struct Agent {
    agent: ureq::Agent,
    base: String,
}

impl Agent {
    /// An agent for the server at `base`, a checked `http://` or `https://`
    /// URL without a trailing `/`. Reads the `--cacert`, `--cert` and
    /// `--key` files now, so a bad file fails before any request.
    pub fn open(base: &str, tls: &TlsOptions, proxy: Option<&str>) -> Result<Self, Error> {
        let proxy = match proxy {
            Some(proxy) => {
                let parsed = ureq::Proxy::new(proxy)
                    .map_err(|error| Error::Setup(format!("invalid proxy {proxy:?}: {error}")))?;
                // The agent's connector chain has no SOCKS.
                if !matches!(
                    parsed.protocol(),
                    ProxyProtocol::Http | ProxyProtocol::Https
                ) {
                    return Err(Error::Setup(format!(
                        "unsupported proxy {proxy:?}: only http:// and https:// proxies"
                    )));
                }
                Some(parsed)
            }
            None => None,
        };
        let config = ureq::Agent::config_builder()
            // The default reads the proxy variables itself; `global` has
            // already applied cli.md's rules to them.
            .proxy(proxy)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .user_agent(format!("vigil/{}", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = tls::agent(config, tls_config(tls)?);
        Ok(Self {
            agent,
            base: base.to_owned(),
        })
    }

    /// Sends `request` with `authorization` (a whole header value) and
    /// returns the reply's status and body reader.
    pub fn exchange(
        &self,
        request: &Request,
        authorization: Option<&str>,
        interrupt: Option<&'static AtomicBool>,
    ) -> Result<(u16, Body), Error> {
        let url = format!("{}{}", self.base, request.target());
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(&url);
        if let Some(value) = authorization {
            builder = builder.header(http::header::AUTHORIZATION, value);
        }
        let sent = match &request.body {
            Some(body) => {
                let builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                self.send(builder.body(body.clone()), request.timeout)
            }
            None => self.send(builder.body(()), request.timeout),
        };
        let response = sent.map_err(|error| self.call_error(error, request.timeout, interrupt))?;
        let status = response.status().as_u16();
        Ok((
            status,
            Body {
                reader: response.into_body().into_reader(),
                interrupt,
            },
        ))
    }

    fn send<B: ureq::AsSendBody>(
        &self,
        request: http::Result<http::Request<B>>,
        timeout: Option<Duration>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let request = self
            .agent
            .configure_request(request?)
            .timeout_global(timeout)
            .build();
        self.agent.run(request)
    }

    /// Sorts an error from before the reply's head: a timeout, Ctrl-C, or
    /// (anything else) a failure to reach vigild.
    fn call_error(
        &self,
        error: ureq::Error,
        timeout: Option<Duration>,
        interrupt: Option<&'static AtomicBool>,
    ) -> Error {
        if interrupt.is_some_and(|flag| flag.load(Ordering::SeqCst)) {
            return Error::Interrupted;
        }
        match error {
            ureq::Error::Timeout(_) => Error::TimedOut(timeout.unwrap_or(CONNECT_TIMEOUT)),
            ureq::Error::Io(error) if error.kind() == io::ErrorKind::TimedOut => {
                Error::TimedOut(timeout.unwrap_or(CONNECT_TIMEOUT))
            }
            error => Error::ConnectUrl {
                url: self.base.clone(),
                reason: reason(&error),
            },
        }
    }
}

/// A reply body read through ureq, stopping once Ctrl-C is caught.
pub struct Body {
    reader: ureq::BodyReader<'static>,
    interrupt: Option<&'static AtomicBool>,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self
            .interrupt
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
        {
            return Err(super::http1::Stop::Interrupted.into_io());
        }
        match self.reader.read(buf) {
            Err(error)
                if error.kind() == io::ErrorKind::Interrupted && self.interrupt.is_some() =>
            {
                Err(super::http1::Stop::Interrupted.into_io())
            }
            Err(error) if error.kind() == io::ErrorKind::TimedOut => {
                Err(super::http1::Stop::TimedOut.into_io())
            }
            result => result,
        }
    }
}

/// The TLS side of the agent (cli.md §2.1).
fn tls_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, Error> {
    let bundle = match &options.cacert {
        Some(path) => tls::ca_bundle(&read("--cacert", path)?)
            .map_err(|detail| invalid("--cacert", path, &detail))?,
        None => Vec::new(),
    };
    let client_cert = match &options.identity {
        Some(identity) => {
            let chain = tls::certificates(&read("--cert", &identity.cert)?)
                .map_err(|detail| invalid("--cert", &identity.cert, &detail))?;
            let key = tls::private_key(&read("--key", &identity.key)?)
                .map_err(|detail| invalid("--key", &identity.key, &detail))?;
            Some(
                ClientCert::new(chain, key)
                    .map_err(|detail| invalid("--key", &identity.key, &detail))?,
            )
        }
        None => None,
    };
    tls::tls_config_with_client_cert(bundle, options.insecure, client_cert).map_err(Error::Setup)
}

fn read(option: &str, path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|error| {
        Error::Setup(format!(
            "cannot read {option} {}: {}",
            path.display(),
            super::reason(&error)
        ))
    })
}

fn invalid(option: &str, path: &Path, detail: &str) -> Error {
    Error::Setup(format!("invalid {option} {}: {detail}", path.display()))
}

/// A ureq error as a reason: a TLS failure in words, as vigild words those
/// of its probes ("invalid peer certificate: unknown issuer"); an I/O error
/// worded as Go words it, without ureq's `io: ` prefix (so a refused
/// connection reads "connection refused").
fn reason(error: &ureq::Error) -> String {
    if let Some(reason) = tls::ureq_tls_reason(error) {
        return reason;
    }
    match error {
        ureq::Error::Io(error) => super::reason(error),
        error => error.to_string(),
    }
}
