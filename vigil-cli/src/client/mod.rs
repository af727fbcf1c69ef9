//! The client side of vigild's API: requests out, decoded replies back.
//!
//! A [`Client`] sends one [`Request`] per connection over its [`Transport`]
//! and returns either the whole [`Reply`] or, for streams, the body's
//! [`Lines`] as they arrive. [`Reply`] decodes the JSON envelope
//! (api.md §4.1) with `vigil_proto::api` types: a sync `result`, an async
//! change id, or an error whose `result.message` becomes the error's text.
//!
//! Ordinary requests must complete within [`ORDINARY_TIMEOUT`]; streams and
//! change waits have no timeout (cli.md §2.2). Once Ctrl-C is caught (see
//! [`crate::interrupt`]), every read stops with [`Error::Interrupted`].
//!
//! Two transports: HTTP/1.1 over the Unix socket ([`http1`]) and `--url`,
//! plain HTTP or HTTPS through ureq ([`url`]). [`Client::exchange`] is the
//! one place that looks at the transport; everything above it (envelopes,
//! waits, streams) is transport-neutral. `--user` credentials go on every
//! request, whatever the transport (cli.md §2.1).

pub mod http1;
pub mod url;

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use vigil_proto::reason::io_reason as reason;

use serde::Serialize;
use serde::de::DeserializeOwned;
use vigil_proto::api::{Body, ChangeId, ErrorKind, ErrorResult, Response};

use self::http1::{BodyReader, Conn, Incoming, ProtocolError, Stop};
use crate::json::Node;

/// How long an ordinary request may take, from connecting to the end of the
/// reply (cli.md §2.2).
pub const ORDINARY_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest reply body read into memory. A list of 1000 changes with their
/// task logs stays far below it; a stream is read line by line instead.
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Longest line of a stream. A log line is capped by vigild well below
/// this, even with JSON escapes.
pub const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// Where vigild is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTP/1.1 over vigild's Unix socket.
    Unix {
        /// The socket's path.
        socket: PathBuf,
    },
    /// Plain HTTP or HTTPS (`--url`).
    Url {
        /// `http://` or `https://`, a host and maybe a path prefix, without
        /// a trailing `/`; the request's target is appended.
        base: String,
        /// How to check the server and present ourselves, for `https://`.
        tls: TlsOptions,
        /// The proxy URL to go through, if any (cli.md §2.1).
        proxy: Option<String>,
    },
}

/// The TLS options of `--url https://…`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `--insecure`: accept any server certificate.
    pub insecure: bool,
    /// `--cacert`: a PEM bundle trusted on top of the public web roots.
    pub cacert: Option<PathBuf>,
    /// `--cert` and `--key`: a client certificate for mTLS.
    pub identity: Option<ClientIdentity>,
}

/// A client certificate chain and its private key, both PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// HTTP Basic credentials (`--user USER:PASS`). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    user: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"…")
            .finish()
    }
}

impl Credentials {
    /// Splits `USER:PASS` at its first `:`; `None` without one. The user
    /// may be empty, as may the password, which may itself contain `:`.
    pub fn parse(text: &str) -> Option<Self> {
        let (user, password) = text.split_once(':')?;
        Some(Self {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }

    /// The value of the `Authorization` header (RFC 7617).
    pub fn header(&self) -> String {
        let pair = format!("{}:{}", self.user, self.password);
        format!("Basic {}", base64(pair.as_bytes()))
    }
}

/// `bytes` in standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (index, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if index <= group.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An HTTP method the CLI uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`, with a JSON body.
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// One API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl Request {
    /// `GET path`, with the ordinary timeout. `path` is sent as given: build
    /// it from fixed text and [`segment`]s.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::Get,
            path: path.into(),
            query: Vec::new(),
            body: None,
            timeout: Some(ORDINARY_TIMEOUT),
        }
    }

    /// `POST path` with `body` as JSON, with the ordinary timeout.
    pub fn post(path: impl Into<String>, body: &impl Serialize) -> Self {
        Self {
            method: Method::Post,
            // Serialising our own request types cannot fail.
            body: Some(serde_json::to_vec(body).unwrap_or_default()),
            ..Self::get(path)
        }
    }

    /// This request with the query parameter `name=value` added; both are
    /// percent-encoded when sent.
    #[must_use]
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    /// This request without a timeout: for streams and change waits.
    #[must_use]
    pub fn without_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// The request target: the path and the encoded query.
    pub fn target(&self) -> String {
        let mut target = self.path.clone();
        for (index, (name, value)) in self.query.iter().enumerate() {
            target.push(if index == 0 { '?' } else { '&' });
            http1::percent_encode(name, &mut target);
            target.push('=');
            http1::percent_encode(value, &mut target);
        }
        target
    }
}

/// `text` percent-encoded as one path segment, such as a change id.
pub fn segment(text: &str) -> String {
    let mut out = String::new();
    http1::percent_encode(text, &mut out);
    out
}

/// An error reply of the API (api.md §4.1): its `Display` is
/// `result.message`, which may span several lines.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// The HTTP status code.
    pub status: u16,
    /// The machine-readable kind, if the reply has one.
    pub kind: Option<ErrorKind>,
    /// The message, as vigild wrote it.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, result: ErrorResult) -> Self {
        Self {
            status,
            kind: result.kind,
            message: result.message,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// Why a request did not produce the reply the command needs.
#[derive(Debug)]
pub enum Error {
    /// The socket could not be connected: vigild is not running, or the path
    /// is wrong, or access is denied.
    Connect {
        /// The socket's path.
        socket: PathBuf,
        /// What `connect` said.
        source: io::Error,
    },
    /// vigild could not be reached at `--url`: refused, unknown host, a
    /// proxy failure, or a TLS handshake that failed (say, on the server's
    /// certificate).
    ConnectUrl {
        /// The base URL.
        url: String,
        /// Why, in lower case.
        reason: String,
    },
    /// The client could not be set up: a `--cacert`, `--cert` or `--key`
    /// file is unreadable or not PEM, or a proxy URL is invalid.
    Setup(String),
    /// Sending the request or reading the reply failed after connecting.
    Io(io::Error),
    /// The reply did not complete within the request's timeout.
    TimedOut(Duration),
    /// Ctrl-C was pressed while waiting for the reply.
    Interrupted,
    /// The reply is not well-formed HTTP/1.1.
    Protocol(ProtocolError),
    /// The reply is larger than [`MAX_BODY_BYTES`], or a stream line longer
    /// than [`MAX_LINE_BYTES`].
    TooLarge,
    /// The body is not the JSON the endpoint returns.
    Decode {
        /// The HTTP status code of the reply.
        status: u16,
        /// What serde_json said.
        detail: String,
    },
    /// The API answered with an error envelope.
    Api(ApiError),
    /// A well-formed reply of another type than the endpoint gives, such as
    /// a sync reply where a change id was expected.
    Unexpected(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect { socket, source } => write!(
                f,
                "cannot connect to vigild at {}: {} (is vigild running?)",
                socket.display(),
                reason(source)
            ),
            Self::ConnectUrl { url, reason } => {
                write!(f, "cannot connect to vigild at {url}: {reason}")
            }
            Self::Setup(message) => f.write_str(message),
            Self::Io(error) => write!(f, "cannot communicate with vigild: {}", reason(error)),
            Self::TimedOut(timeout) => write!(
                f,
                "timed out after {}s waiting for a reply from vigild",
                timeout.as_secs()
            ),
            Self::Interrupted => f.write_str("interrupted"),
            Self::Protocol(error) => write!(f, "invalid reply from vigild: {error}"),
            Self::TooLarge => write!(
                f,
                "invalid reply from vigild: larger than {} MiB",
                MAX_BODY_BYTES / (1024 * 1024)
            ),
            Self::Decode { status, detail } => {
                write!(
                    f,
                    "cannot decode reply from vigild (HTTP {status}): {detail}"
                )
            }
            Self::Api(error) => error.fmt(f),
            Self::Unexpected(what) => write!(f, "unexpected reply from vigild: {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The API error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(error) => Some(error),
            _ => None,
        }
    }

    /// Sorts an I/O error of an exchange whose timeout is `timeout`.
    fn from_io(error: io::Error, timeout: Option<Duration>) -> Self {
        match Stop::of(&error) {
            Some(Stop::TimedOut) => return Self::TimedOut(timeout.unwrap_or_default()),
            Some(Stop::Interrupted) => return Self::Interrupted,
            None => {}
        }
        match ProtocolError::of(&error) {
            Some(protocol) => Self::Protocol(protocol.clone()),
            None => Self::Io(error),
        }
    }
}

/// A whole reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The envelope's content: a sync result, a change id or, as
    /// [`Error::Api`], an error.
    pub fn envelope<T: DeserializeOwned>(&self) -> Result<Body<T>, Error> {
        let response: Response<T> =
            serde_json::from_slice(&self.body).map_err(|error| Error::Decode {
                status: self.status,
                detail: error.to_string(),
            })?;
        match response.into_body() {
            Body::Error(error) => Err(Error::Api(ApiError::new(self.status, error))),
            body => Ok(body),
        }
    }

    /// The `result` of a sync reply.
    pub fn sync<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match self.envelope()? {
            Body::Sync(result) => Ok(result),
            Body::SyncWithoutResult => Err(Error::Unexpected("a sync reply without a result")),
            Body::Async(_) => Err(Error::Unexpected("an async reply where a result was due")),
            Body::Error(error) => Err(Error::Api(ApiError::new(self.status, error))),
        }
    }

    /// The change id of an async reply.
    pub fn change(&self) -> Result<ChangeId, Error> {
        match self.envelope::<serde_json::Value>()? {
            Body::Async(change) => Ok(change),
            Body::Sync(_) | Body::SyncWithoutResult => {
                Err(Error::Unexpected("a sync reply where a change id was due"))
            }
            Body::Error(error) => Err(Error::Api(ApiError::new(self.status, error))),
        }
    }

    /// The `result` of a sync reply as vigild wrote it, key order and unknown
    /// fields kept: what `--format json|yaml` prints.
    pub fn raw_result(&self) -> Result<Node, Error> {
        // Checks the envelope (and returns an error reply as Err) first.
        self.sync::<serde_json::Value>()?;
        let node: Node = serde_json::from_slice(&self.body).map_err(|error| Error::Decode {
            status: self.status,
            detail: error.to_string(),
        })?;
        Ok(node.get("result").cloned().unwrap_or(Node::Null))
    }
}

/// The lines of a streamed body, each without its line end, as they arrive.
pub struct Lines {
    reader: BufReader<ReplyBody>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines").finish_non_exhaustive()
    }
}

impl Iterator for Lines {
    type Item = Result<String, Error>;

    /// The next line; `None` at the end of the body. Invalid UTF-8 is
    /// replaced, and a last line without a line end is still a line.
    fn next(&mut self) -> Option<Self::Item> {
        let mut line = Vec::new();
        let read = (&mut self.reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line);
        match read {
            Err(error) => Some(Err(Error::from_io(error, self.timeout))),
            Ok(0) => None,
            Ok(_) if line.len() as u64 > MAX_LINE_BYTES => Some(Err(Error::TooLarge)),
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some(Ok(String::from_utf8_lossy(&line).into_owned()))
            }
        }
    }
}

/// The body of a reply, whichever transport carries it.
enum ReplyBody {
    /// Read from the Unix socket by [`http1`].
    Unix(BodyReader<Incoming<Conn>>),
    /// Read through ureq.
    Url(url::Body),
}

impl Read for ReplyBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Unix(body) => body.read(buf),
            Self::Url(body) => body.read(buf),
        }
    }
}

/// A reply whose head has been read.
struct Exchange {
    status: u16,
    body: ReplyBody,
}

/// How a [`Client`] reaches vigild.
#[derive(Debug)]
enum Connector {
    Unix { socket: PathBuf },
    Url(url::Agent),
}

/// A connection to vigild's API.
#[derive(Debug)]
pub struct Client {
    connector: Connector,
    authorization: Option<String>,
    interrupt: Option<&'static AtomicBool>,
}

impl Client {
    /// A client for `transport`, sending `credentials` (if any) on every
    /// request. Fails only for `--url`, when a TLS file cannot be used.
    pub fn new(transport: Transport, credentials: Option<&Credentials>) -> Result<Self, Error> {
        let connector = match transport {
            Transport::Unix { socket } => Connector::Unix { socket },
            Transport::Url { base, tls, proxy } => {
                Connector::Url(url::Agent::open(&base, &tls, proxy.as_deref())?)
            }
        };
        Ok(Self {
            connector,
            authorization: credentials.map(Credentials::header),
            interrupt: None,
        })
    }

    /// Makes every later read stop with [`Error::Interrupted`] once `flag`
    /// is set (by the SIGINT handler, or by a test).
    pub fn set_interrupt(&mut self, flag: &'static AtomicBool) {
        self.interrupt = Some(flag);
    }

    /// Whether Ctrl-C was caught since [`set_interrupt`](Self::set_interrupt).
    pub fn interrupted(&self) -> bool {
        self.interrupt
            .is_some_and(|flag| flag.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Sends `request` and reads the whole reply, whatever its status.
    pub fn send(&self, request: &Request) -> Result<Reply, Error> {
        let mut response = self.exchange(request)?;
        let mut body = Vec::new();
        (&mut response.body)
            .take(MAX_BODY_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|error| Error::from_io(error, request.timeout))?;
        if body.len() as u64 > MAX_BODY_BYTES {
            return Err(Error::TooLarge);
        }
        Ok(Reply {
            status: response.status,
            body,
        })
    }

    /// Sends `request` and returns the `result` of its sync reply.
    pub fn sync<T: DeserializeOwned>(&self, request: &Request) -> Result<T, Error> {
        self.send(request)?.sync()
    }

    /// Sends `request` and returns the change id of its async reply.
    pub fn change(&self, request: &Request) -> Result<ChangeId, Error> {
        self.send(request)?.change()
    }

    /// Sends `request` and returns the lines of a successful reply as they
    /// arrive. A reply with an error status is read whole and returned as
    /// its error: streams are not wrapped in the envelope, but their errors
    /// are (api.md §4.1).
    pub fn stream(&self, request: &Request) -> Result<Lines, Error> {
        let mut response = self.exchange(request)?;
        if !(200..300).contains(&response.status) {
            let mut body = Vec::new();
            (&mut response.body)
                .take(MAX_BODY_BYTES)
                .read_to_end(&mut body)
                .map_err(|error| Error::from_io(error, request.timeout))?;
            let reply = Reply {
                status: response.status,
                body,
            };
            reply.envelope::<serde_json::Value>()?;
            return Err(Error::Unexpected(
                "an error status without an error envelope",
            ));
        }
        Ok(Lines {
            reader: BufReader::new(response.body),
            timeout: request.timeout,
        })
    }

    /// Connects, sends `request` and reads the reply's head.
    fn exchange(&self, request: &Request) -> Result<Exchange, Error> {
        let authorization = self.authorization.as_deref();
        let socket = match &self.connector {
            Connector::Unix { socket } => socket,
            Connector::Url(agent) => {
                let (status, body) = agent.exchange(request, authorization, self.interrupt)?;
                return Ok(Exchange {
                    status,
                    body: ReplyBody::Url(body),
                });
            }
        };
        let deadline = request.timeout.map(|timeout| Instant::now() + timeout);
        let stream = UnixStream::connect(socket).map_err(|source| Error::Connect {
            socket: socket.clone(),
            source,
        })?;
        let mut conn = Conn::new(stream, deadline, self.interrupt);
        let bytes = http1::encode_request(
            request.method.as_str(),
            &request.target(),
            authorization,
            request.body.as_deref(),
        );
        let written = conn.write_all(&bytes);
        match (written, http1::read_response(conn)) {
            (_, Ok(response)) => Ok(Exchange {
                status: response.status,
                body: ReplyBody::Unix(response.body),
            }),
            // A server may reply and close before reading all of a request
            // it refuses; its reply says more than the failed write.
            (Err(error), Err(_)) | (Ok(()), Err(error)) => {
                Err(Error::from_io(error, request.timeout))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::thread;

    use serde_json::json;
    use vigil_proto::api::{ServiceAction, ServiceInfo, ServicesRequest};

    use super::*;
    use crate::fake::{FakeServer, Reply as Canned};

    fn client(server: &FakeServer) -> Client {
        Client::new(
            Transport::Unix {
                socket: server.socket().to_owned(),
            },
            None,
        )
        .unwrap()
    }

    #[test]
    fn query_is_percent_encoded() {
        let request = Request::get("/v1/services")
            .query("names", "a,b")
            .query("for", "x y");
        assert_eq!(request.target(), "/v1/services?names=a%2Cb&for=x%20y");
        assert_eq!(segment("17"), "17");
        assert_eq!(segment("a/b"), "a%2Fb");
    }

    #[test]
    fn sync_reply_end_to_end() {
        let server = FakeServer::start(vec![Canned::json(
            200,
            json!({"type": "sync", "status-code": 200, "status": "OK", "result": [
                {"name": "db", "startup": "enabled", "current": "active",
                 "current-since": "2025-03-01T10:00:01.5+01:00", "extra": 1}]}),
        )]);
        let request = Request::get("/v1/services").query("names", "db");
        let services: Vec<ServiceInfo> = client(&server).sync(&request).unwrap();
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].name, "db");
        let seen = server.finish();
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].target, "/v1/services?names=db");
        assert_eq!(seen[0].authorization, None);
    }

    #[test]
    fn post_sends_json_and_returns_the_change() {
        let server = FakeServer::start(vec![Canned::json(
            202,
            json!({"type": "async", "status-code": 202, "status": "Accepted", "change": "17", "result": null}),
        )]);
        let body = ServicesRequest::new(ServiceAction::Start, vec!["web".into()]);
        let change = client(&server)
            .change(&Request::post("/v1/services", &body))
            .unwrap();
        assert_eq!(change, ChangeId::new(17));
        let seen = server.finish();
        assert_eq!(seen[0].method, "POST");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&seen[0].body).unwrap(),
            json!({"action": "start", "services": ["web"]})
        );
    }

    #[test]
    fn error_envelope_becomes_the_message() {
        let message = "cannot perform the following tasks:\n- Start service \"web\" (boom)";
        let server = FakeServer::start(vec![Canned::json(
            400,
            json!({"type": "error", "status-code": 400, "status": "Bad Request",
                   "result": {"message": message, "kind": "no-default-services"}}),
        )]);
        let error = client(&server)
            .sync::<serde_json::Value>(&Request::get("/v1/x"))
            .unwrap_err();
        assert_eq!(error.to_string(), message);
        let api = error.api().unwrap();
        assert_eq!(api.status, 400);
        assert_eq!(api.kind, Some(ErrorKind::NoDefaultServices));
    }

    #[test]
    fn unexpected_and_undecodable_replies() {
        let reply = Reply {
            status: 200,
            body: br#"{"type":"sync","status-code":200,"status":"OK","result":1}"#.to_vec(),
        };
        assert!(matches!(reply.change(), Err(Error::Unexpected(_))));
        assert_eq!(reply.sync::<u32>().unwrap(), 1);
        let html = Reply {
            status: 502,
            body: b"<html>".to_vec(),
        };
        let error = html.sync::<u32>().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot decode reply from vigild (HTTP 502): "),
            "{error}"
        );
    }

    #[test]
    fn raw_result_keeps_order() {
        let reply = Reply {
            status: 200,
            body: br#"{"type":"sync","status-code":200,"status":"OK","result":{"version":"1","boot-id":"b"}}"#.to_vec(),
        };
        assert_eq!(
            reply.raw_result().unwrap().to_json(),
            r#"{"version":"1","boot-id":"b"}"#
        );
    }

    #[test]
    fn connection_error_wording() {
        let socket = std::env::temp_dir().join("vigil-no-such-dir/vigild.sock");
        let error = Client::new(
            Transport::Unix {
                socket: socket.clone(),
            },
            None,
        )
        .unwrap()
        .send(&Request::get("/v1/system-info"))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cannot connect to vigild at {}: no such file or directory (is vigild running?)",
                socket.display()
            )
        );
    }

    #[test]
    fn stream_yields_lines_as_they_arrive() {
        let server = FakeServer::start(vec![Canned::chunks(
            200,
            &[
                ("{\"a\":1}\n", 0),
                ("{\"b\":", 0),
                ("2}\n", 50),
                ("last-without-newline", 0),
            ],
        )]);
        let lines: Vec<String> = client(&server)
            .stream(&Request::get("/v1/logs").without_timeout())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}", "last-without-newline"]);
        server.finish();
    }

    #[test]
    fn stream_error_status_is_the_envelope_error() {
        let server = FakeServer::start(vec![Canned::json(
            400,
            json!({"type": "error", "status-code": 400, "status": "Bad Request",
                   "result": {"message": "n must be -1, 0, or a positive integer"}}),
        )]);
        let error = client(&server)
            .stream(&Request::get("/v1/logs"))
            .unwrap_err();
        assert_eq!(error.to_string(), "n must be -1, 0, or a positive integer");
        server.finish();
    }

    #[test]
    fn interrupt_stops_a_read_that_would_never_end() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        let server = FakeServer::start(vec![Canned::Hold]);
        let mut client = client(&server);
        client.set_interrupt(&FLAG);
        let setter = thread::spawn(|| {
            thread::sleep(Duration::from_millis(100));
            FLAG.store(true, Ordering::SeqCst);
        });
        let error = client
            .send(&Request::get("/v1/changes/1/wait").without_timeout())
            .unwrap_err();
        assert!(matches!(error, Error::Interrupted), "{error}");
        setter.join().unwrap();
        server.finish();
    }

    #[test]
    fn ordinary_requests_time_out() {
        let server = FakeServer::start(vec![Canned::Hold]);
        let mut request = Request::get("/v1/services");
        request.timeout = Some(Duration::from_millis(100));
        let error = client(&server).send(&request).unwrap_err();
        assert!(matches!(error, Error::TimedOut(_)), "{error}");
        server.finish();
    }

    #[test]
    fn basic_credentials() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        let credentials = Credentials::parse("Aladdin:open sesame").unwrap();
        assert_eq!(credentials.header(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(!format!("{credentials:?}").contains("sesame"));
        assert_eq!(Credentials::parse("no-colon"), None);
    }

    #[test]
    fn credentials_go_over_the_socket() {
        let server = FakeServer::start(vec![Canned::json(
            200,
            json!({"type": "sync", "status-code": 200, "status": "OK", "result": 1}),
        )]);
        let transport = Transport::Unix {
            socket: server.socket().to_owned(),
        };
        let credentials = Credentials::parse("a:b");
        let client = Client::new(transport, credentials.as_ref()).unwrap();
        assert_eq!(client.sync::<u32>(&Request::get("/v1/x")).unwrap(), 1);
        let seen = server.finish();
        assert_eq!(seen[0].authorization.as_deref(), Some("Basic YTpi"));
    }

    fn url_client(base: String, credentials: Option<&Credentials>) -> Client {
        let transport = Transport::Url {
            base,
            tls: TlsOptions::default(),
            proxy: None,
        };
        Client::new(transport, credentials).unwrap()
    }

    #[test]
    fn url_refused_connection_wording() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let error = url_client(base.clone(), None)
            .send(&Request::get("/v1/system-info"))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("cannot connect to vigild at {base}: connection refused")
        );
    }

    #[test]
    fn url_error_status_is_the_envelope_error_and_sends_credentials() {
        use std::io::Write;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let body = r#"{"type":"error","status-code":401,"status":"Unauthorized","result":{"message":"access denied","kind":"login-required"}}"#;
            let reply = format!(
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            (&stream).write_all(reply.as_bytes()).unwrap();
            head
        });
        let credentials = Credentials::parse("a:b");
        let error = url_client(base, credentials.as_ref())
            .sync::<serde_json::Value>(&Request::get("/v1/services").query("names", "a b"))
            .unwrap_err();
        assert_eq!(error.to_string(), "access denied");
        assert_eq!(error.api().unwrap().status, 401);
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with("get /v1/services?names=a%20b http/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nauthorization: basic ytpi\r\n"), "{head}");
    }

    #[test]
    fn unreadable_tls_files_fail_setup() {
        let transport = Transport::Url {
            base: "https://127.0.0.1:1".into(),
            tls: TlsOptions {
                cacert: Some("/nonexistent/ca.pem".into()),
                ..TlsOptions::default()
            },
            proxy: None,
        };
        let error = Client::new(transport, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot read --cacert /nonexistent/ca.pem: no such file or directory"
        );
    }

    #[test]
    fn socks_proxies_fail_setup() {
        let transport = Transport::Url {
            base: "https://vigild.example".into(),
            tls: TlsOptions::default(),
            proxy: Some("socks5://proxy:1080".into()),
        };
        let error = Client::new(transport, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unsupported proxy \"socks5://proxy:1080\": only http:// and https:// proxies"
        );
    }
}
