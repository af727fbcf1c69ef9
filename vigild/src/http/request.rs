//! A parsed request ([`Request`], [`Headers`]) and the parsing of a request
//! head: request line, header fields, target, query, and the framing of the
//! body that follows (RFC 9112 §3–§6, spec api.md §2.4).
//!
//! Parsing is a pure function of the bytes buffered so far: it returns
//! "incomplete" until the blank line that ends the head has arrived, and it
//! checks the size limits on partial input too, so a client cannot make the
//! buffer hold more than the limits allow before being refused.

use vigil_proto::api::query::split_list;

use super::body::BodyDecoder;
use super::error::RequestError;
use super::limits::{MAX_BODY, MAX_HEADER_SECTION, MAX_HEADERS, MAX_REQUEST_LINE};

/// A complete request: head and body, as the API layer receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    path: String,
    query: Vec<(String, String)>,
    version: Version,
    headers: Headers,
    pub(super) body: Vec<u8>,
}

impl Request {
    /// The method as sent, case preserved (`GET`, `POST`, ...). Methods are
    /// case-sensitive (RFC 9110 §9.1), so `get` is not `GET`.
    #[must_use]
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target exactly as sent, for logs.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The percent-decoded path, matched exactly by the router (api.md
    /// §2.4): `/v1/services`, or `*` for `OPTIONS *`. An absolute-form
    /// target (`http://host/v1/health`) gives its path. A `+` stays a `+`.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every query parameter in order, names and values decoded as
    /// form-urlencoded (`+` is a space). A parameter without `=` has an
    /// empty value; empty pairs (`a=1&&b=2`) are skipped.
    #[must_use]
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The value of the first query parameter called `name`.
    #[must_use]
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The values of every query parameter called `name`, in order.
    pub fn query_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A list parameter (api.md §4.5): `names=a,b` and `names=a&names=b`
    /// both give `[a, b]`; entries are trimmed and empty ones dropped. Empty
    /// means "all".
    #[must_use]
    pub fn query_list(&self, name: &str) -> Vec<String> {
        split_list(self.query_values(name))
    }

    /// The HTTP version of the request.
    #[must_use]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    #[must_use]
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The value of the first header field called `name`, compared without
    /// regard to case.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The body, decoded from chunks if it came chunked; empty if there was
    /// none.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, by value.
    #[must_use]
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// The HTTP version of a request. HTTP/2 is not served (api.md §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: closes after each reply unless `Connection: keep-alive`,
    /// and cannot take a chunked reply.
    Http10,
    /// HTTP/1.1: keep-alive unless `Connection: close`.
    Http11,
}

/// The header fields of a request, in the order they came. Names keep their
/// case; every lookup ignores it (RFC 9110 §5.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// The value of the first field called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The values of every field called `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether any field called `name` lists `token` among its
    /// comma-separated values, ignoring case: `Connection: keep-alive, Upgrade`
    /// contains `upgrade`.
    #[must_use]
    pub fn contains_token(&self, name: &str, token: &str) -> bool {
        self.all(name)
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    }

    /// Every field as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// How many fields there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A request head that parsed, with what the connection needs to read its
/// body and to decide what happens after the reply.
#[derive(Debug)]
pub(super) struct Head {
    /// The request, its body still empty.
    pub(super) request: Request,
    /// How the body is framed, or `None` when the request has no body.
    pub(super) body: Option<BodyDecoder>,
    /// Whether the connection stays open after the reply.
    pub(super) keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub(super) expect_continue: bool,
}

/// Watches a request head arrive and parses it only when that can make a
/// difference, so that a head sent one byte at a time costs linear time
/// rather than a full re-parse per byte (a slow client must not be able to
/// make the reactor work quadratically).
///
/// A full parse runs on the first bytes (so that garbage is refused at
/// once), whenever a line has ended since the last one, and after every
/// [`HeadScanner::REPARSE_AFTER`] bytes without a line end (so that a bad
/// byte in a long line is still found early). In between, only the size
/// limits are checked, which needs no scan.
#[derive(Debug, Default)]
pub(super) struct HeadScanner {
    /// How many bytes of the head have been looked at.
    scanned: usize,
    /// `scanned` at the last full parse; `None` before the first.
    parsed: Option<usize>,
    /// The length of the request line with its line end, once seen.
    line_length: Option<usize>,
}

impl HeadScanner {
    /// Bytes without a line end after which the parser runs anyway.
    const REPARSE_AFTER: usize = 1024;

    /// Parses the head at the start of `input`, which holds the bytes of the
    /// previous call and maybe more; see [`parse_head`].
    pub(super) fn parse(&mut self, input: &[u8]) -> Result<Option<(usize, Head)>, RequestError> {
        let start = self.scanned.min(input.len());
        let newline = input[start..].iter().position(|&byte| byte == b'\n');
        self.scanned = input.len();
        if let (None, Some(offset)) = (self.line_length, newline) {
            self.line_length = Some(start + offset + 1);
        }
        let due = match self.parsed {
            None => true,
            Some(parsed) => newline.is_some() || input.len() - parsed >= Self::REPARSE_AFTER,
        };
        if due {
            self.parsed = Some(input.len());
            return parse_head(input);
        }
        match self.line_length {
            None if input.len() > MAX_REQUEST_LINE + 1 => Err(RequestError::RequestLineTooLong),
            Some(line) if input.len() - line > MAX_HEADER_SECTION => {
                Err(RequestError::HeaderSectionTooLarge)
            }
            None | Some(_) => Ok(None),
        }
    }
}

/// Parses the request head at the start of `input`.
///
/// Returns `Ok(None)` while the head is incomplete and within the limits,
/// and the head with its length in bytes once the blank line has arrived.
/// Leading blank lines must have been skipped by the caller.
pub(super) fn parse_head(input: &[u8]) -> Result<Option<(usize, Head)>, RequestError> {
    let line_length = request_line_length(input)?;

    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let length = match parsed.parse(input) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => {
            let section = input.len() - line_length.unwrap_or(input.len());
            if section > MAX_HEADER_SECTION {
                return Err(RequestError::HeaderSectionTooLarge);
            }
            return Ok(None);
        }
        Err(error) => return Err(from_httparse(error)),
    };
    // A complete parse has seen the line end, so `line_length` is known; the
    // fallback only keeps this free of an `unwrap`.
    if length - line_length.unwrap_or(0) > MAX_HEADER_SECTION {
        return Err(RequestError::HeaderSectionTooLarge);
    }

    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(RequestError::Malformed("incomplete request line"));
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let headers = Headers {
        fields: parsed
            .headers
            .iter()
            .map(|field| {
                let value = String::from_utf8_lossy(field.value);
                (field.name.to_owned(), value.trim().to_owned())
            })
            .collect(),
    };
    let (path, query) = parse_target(target)?;
    let body = body_framing(&headers)?;

    let close = headers.contains_token("connection", "close");
    let keep_alive = match version {
        Version::Http11 => !close,
        Version::Http10 => !close && headers.contains_token("connection", "keep-alive"),
    };
    // RFC 9110 §10.1.1: a server must not send 100 Continue to an HTTP/1.0
    // client.
    let expect_continue = version == Version::Http11
        && headers
            .get("expect")
            .is_some_and(|value| value.eq_ignore_ascii_case("100-continue"));

    let request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        path,
        query,
        version,
        headers,
        body: Vec::new(),
    };
    Ok(Some((
        length,
        Head {
            request,
            body,
            keep_alive,
            expect_continue,
        },
    )))
}

/// The length of the request line with its line end, once the line end has
/// arrived; refuses a line over [`MAX_REQUEST_LINE`] as soon as it is one.
fn request_line_length(input: &[u8]) -> Result<Option<usize>, RequestError> {
    // The line may end in CRLF or, leniently, in a bare LF (RFC 9112 §2.2).
    let window = &input[..input.len().min(MAX_REQUEST_LINE + 2)];
    let Some(newline) = window.iter().position(|&byte| byte == b'\n') else {
        if window.len() > MAX_REQUEST_LINE + 1 {
            return Err(RequestError::RequestLineTooLong);
        }
        return Ok(None);
    };
    let content = if newline > 0 && input[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    if content > MAX_REQUEST_LINE {
        return Err(RequestError::RequestLineTooLong);
    }
    Ok(Some(newline + 1))
}

fn from_httparse(error: httparse::Error) -> RequestError {
    match error {
        httparse::Error::TooManyHeaders => RequestError::TooManyHeaders,
        httparse::Error::HeaderName => RequestError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => RequestError::Malformed("invalid header value"),
        httparse::Error::NewLine => RequestError::Malformed("invalid line end"),
        httparse::Error::Status | httparse::Error::Token => {
            RequestError::Malformed("invalid request line")
        }
        httparse::Error::Version => RequestError::Malformed("unsupported HTTP version"),
    }
}

/// Splits a request target into its decoded path and query.
///
/// Accepts the origin form (`/path?query`), the absolute form
/// (`http://host/path?query`, which RFC 9112 §3.2.2 requires servers to
/// accept) and the asterisk form (`*`).
fn parse_target(target: &str) -> Result<(String, Vec<(String, String)>), RequestError> {
    if target == "*" {
        return Ok(("*".to_owned(), Vec::new()));
    }
    let origin = if target.starts_with('/') {
        target
    } else {
        strip_scheme_and_authority(target).ok_or(RequestError::InvalidTarget)?
    };
    // A fragment is never sent by a conforming client; drop it if one is.
    let origin = origin.split_once('#').map_or(origin, |(before, _)| before);
    let (raw_path, raw_query) = origin.split_once('?').unwrap_or((origin, ""));
    let path = if raw_path.is_empty() {
        "/".to_owned()
    } else {
        percent_decode(raw_path, false).ok_or(RequestError::InvalidTarget)?
    };
    let query = parse_query(raw_query).ok_or(RequestError::InvalidTarget)?;
    Ok((path, query))
}

/// `http://host:port/rest` → `/rest` (or an empty string when nothing
/// follows the authority); `None` if `target` is not an absolute URL.
fn strip_scheme_and_authority(target: &str) -> Option<&str> {
    let scheme_end = target.find("://")?;
    let scheme = &target[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let rest = &target[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(&rest[authority_end..])
}

/// Splits a query string at `&` and decodes each `name=value` as
/// form-urlencoded. `None` if an escape is invalid or a decoded name or
/// value is not UTF-8.
///
/// Decision: Go's `URL.Query()`, which Pebble uses, silently drops such a
/// pair; vigild refuses the request instead, so that a mistyped escape is
/// never mistaken for an absent parameter (DESIGN.md invariant 5).
fn parse_query(raw: &str) -> Option<Vec<(String, String)>> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((percent_decode(name, true)?, percent_decode(value, true)?))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, for
/// form-urlencoded query strings). `None` if an escape is not two hex
/// digits or the result is not UTF-8.
#[must_use]
pub fn percent_decode(input: &str, plus_is_space: bool) -> Option<String> {
    if !input.contains(['%', '+']) {
        return Some(input.to_owned());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let high = hex_value(*bytes.get(index + 1)?)?;
                let low = hex_value(*bytes.get(index + 2)?)?;
                out.push(high << 4 | low);
                index += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// How the body is framed (RFC 9112 §6.3): `Transfer-Encoding: chunked`,
/// or `Content-Length`, or no body at all. Both at once are refused
/// (api.md §2.4).
fn body_framing(headers: &Headers) -> Result<Option<BodyDecoder>, RequestError> {
    let has_length = headers.get("content-length").is_some();
    if headers.get("transfer-encoding").is_some() {
        if has_length {
            return Err(RequestError::ConflictingFraming);
        }
        let mut codings = headers
            .all("transfer-encoding")
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|coding| !coding.is_empty());
        return match (codings.next(), codings.next()) {
            (Some(coding), None) if coding.eq_ignore_ascii_case("chunked") => {
                Ok(Some(BodyDecoder::chunked()))
            }
            _ => Err(RequestError::UnsupportedTransferEncoding),
        };
    }
    if !has_length {
        return Ok(None);
    }
    let length = content_length(headers)?;
    if length > MAX_BODY as u64 {
        return Err(RequestError::BodyTooLarge);
    }
    // The bound above makes this conversion lossless.
    match usize::try_from(length) {
        Ok(0) => Ok(None),
        Ok(length) => Ok(Some(BodyDecoder::length(length))),
        Err(_) => Err(RequestError::BodyTooLarge),
    }
}

/// The value of `Content-Length`. Repeated fields, or a list in one field,
/// are accepted when every value is the same (RFC 9110 §8.6).
fn content_length(headers: &Headers) -> Result<u64, RequestError> {
    let mut length = None;
    for item in headers
        .all("content-length")
        .flat_map(|value| value.split(','))
    {
        let item = item.trim();
        if item.is_empty() || !item.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(RequestError::InvalidContentLength);
        }
        // All digits, so the only possible failure is overflow: a length
        // that large is over any limit.
        let value = item
            .parse::<u64>()
            .map_err(|_| RequestError::BodyTooLarge)?;
        if length.is_some_and(|previous| previous != value) {
            return Err(RequestError::InvalidContentLength);
        }
        length = Some(value);
    }
    length.ok_or(RequestError::InvalidContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match parse_head(text.as_bytes()) {
            Ok(Some((length, head))) => {
                assert_eq!(length, text.len(), "whole head consumed");
                head
            }
            other => panic!("{text:?} did not parse: {other:?}"),
        }
    }

    fn error(text: &str) -> RequestError {
        match parse_head(text.as_bytes()) {
            Err(error) => error,
            other => panic!("{text:?} parsed: {other:?}"),
        }
    }

    #[test]
    fn parses_method_path_query_and_headers() {
        let head = head(
            "GET /v1/services?names=a,b&names=c HTTP/1.1\r\nHost: x\r\nX-Thing:  spaced  \r\n\r\n",
        );
        let request = head.request;
        assert_eq!(request.method(), "GET");
        assert_eq!(request.path(), "/v1/services");
        assert_eq!(request.version(), Version::Http11);
        assert_eq!(request.query_list("names"), ["a", "b", "c"]);
        assert_eq!(request.query_value("names"), Some("a,b"));
        assert_eq!(request.header("HOST"), Some("x"));
        assert_eq!(request.header("x-thing"), Some("spaced"));
        assert_eq!(request.headers().len(), 2);
        assert!(head.body.is_none());
        assert!(head.keep_alive);
        assert!(!head.expect_continue);
    }

    #[test]
    fn incomplete_heads_wait() {
        for partial in [
            "",
            "GET",
            "GET / HTTP/1.1\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n",
        ] {
            assert!(
                matches!(parse_head(partial.as_bytes()), Ok(None)),
                "{partial:?}"
            );
        }
    }

    #[test]
    fn percent_decoding_of_path_and_query() {
        let request =
            head("GET /v1/a%20b%2Fc+d?x=1+2%3D3&y=%C3%A9t%C3%A9&flag&&=v HTTP/1.1\r\n\r\n").request;
        assert_eq!(request.path(), "/v1/a b/c+d");
        assert_eq!(
            request.query(),
            [
                ("x".to_owned(), "1 2=3".to_owned()),
                ("y".to_owned(), "été".to_owned()),
                ("flag".to_owned(), String::new()),
                (String::new(), "v".to_owned()),
            ]
        );
        assert_eq!(request.query_value("missing"), None);
        assert_eq!(
            request.target(),
            "/v1/a%20b%2Fc+d?x=1+2%3D3&y=%C3%A9t%C3%A9&flag&&=v"
        );
    }

    #[test]
    fn bad_escapes_are_refused() {
        for target in ["/a%2", "/a%zz", "/?x=%", "/?x=%C3", "/%FF"] {
            assert_eq!(
                error(&format!("GET {target} HTTP/1.1\r\n\r\n")),
                RequestError::InvalidTarget,
                "{target}"
            );
        }
    }

    #[test]
    fn target_forms() {
        assert_eq!(head("OPTIONS * HTTP/1.1\r\n\r\n").request.path(), "*");
        let absolute = head("GET http://localhost:4000/v1/health?level=ready HTTP/1.1\r\n\r\n");
        assert_eq!(absolute.request.path(), "/v1/health");
        assert_eq!(absolute.request.query_value("level"), Some("ready"));
        assert_eq!(head("GET HTTP://h HTTP/1.1\r\n\r\n").request.path(), "/");
        assert_eq!(
            error("GET v1/x HTTP/1.1\r\n\r\n"),
            RequestError::InvalidTarget
        );
        assert_eq!(
            error("GET ftp://h/x HTTP/1.1\r\n\r\n"),
            RequestError::InvalidTarget
        );
    }

    #[test]
    fn keep_alive_rules() {
        let cases = [
            ("HTTP/1.1", "", true),
            ("HTTP/1.1", "Connection: close\r\n", false),
            ("HTTP/1.1", "Connection: Keep-Alive, CLOSE\r\n", false),
            ("HTTP/1.0", "", false),
            ("HTTP/1.0", "Connection: keep-alive\r\n", true),
            ("HTTP/1.0", "Connection: Keep-Alive\r\n", true),
        ];
        for (version, fields, keep_alive) in cases {
            let text = format!("GET / {version}\r\n{fields}\r\n");
            assert_eq!(head(&text).keep_alive, keep_alive, "{text:?}");
        }
    }

    #[test]
    fn expect_continue_only_for_http_1_1() {
        let text = "POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n";
        assert!(head(text).expect_continue);
        let text = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
        assert!(!head(text).expect_continue);
    }

    #[test]
    fn body_framing_rules() {
        let with = |fields: &str| parse_head(format!("POST / HTTP/1.1\r\n{fields}\r\n").as_bytes());
        assert!(matches!(
            with("Content-Length: 0\r\n"),
            Ok(Some((_, Head { body: None, .. })))
        ));
        assert!(matches!(
            with("Content-Length: 5\r\n"),
            Ok(Some((_, Head { body: Some(_), .. })))
        ));
        assert!(matches!(
            with("Content-Length: 5\r\nContent-Length: 5, 5\r\n"),
            Ok(Some((_, Head { body: Some(_), .. })))
        ));
        assert!(matches!(
            with("Transfer-Encoding: Chunked\r\n"),
            Ok(Some((_, Head { body: Some(_), .. })))
        ));
        let refused = [
            (
                "Content-Length: 5\r\nContent-Length: 6\r\n",
                RequestError::InvalidContentLength,
            ),
            ("Content-Length: -1\r\n", RequestError::InvalidContentLength),
            ("Content-Length: +5\r\n", RequestError::InvalidContentLength),
            ("Content-Length:\r\n", RequestError::InvalidContentLength),
            ("Content-Length: 4194305\r\n", RequestError::BodyTooLarge),
            (
                "Content-Length: 99999999999999999999999\r\n",
                RequestError::BodyTooLarge,
            ),
            (
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                RequestError::ConflictingFraming,
            ),
            (
                "Transfer-Encoding: gzip, chunked\r\n",
                RequestError::UnsupportedTransferEncoding,
            ),
            (
                "Transfer-Encoding: identity\r\n",
                RequestError::UnsupportedTransferEncoding,
            ),
        ];
        for (fields, expected) in refused {
            assert_eq!(with(fields).err(), Some(expected), "{fields:?}");
        }
        assert_eq!(
            with("Content-Length: 4194304\r\n").err(),
            None,
            "exactly MAX_BODY is allowed"
        );
    }

    #[test]
    fn limits_on_partial_input() {
        let long_line = format!("GET /{} HTTP/1.1", "a".repeat(MAX_REQUEST_LINE));
        // Refused before the line end arrives...
        assert_eq!(error(&long_line), RequestError::RequestLineTooLong);
        // ...and when it has.
        assert_eq!(
            error(&format!("{long_line}\r\n\r\n")),
            RequestError::RequestLineTooLong
        );
        // A line of exactly the limit is fine.
        let exact = format!("GET /{} HTTP/1.1", "a".repeat(MAX_REQUEST_LINE - 14));
        assert_eq!(exact.len(), MAX_REQUEST_LINE);
        assert!(parse_head(format!("{exact}\r\n\r\n").as_bytes()).is_ok_and(|h| h.is_some()));

        let big_field = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n",
            "v".repeat(MAX_HEADER_SECTION)
        );
        assert_eq!(error(&big_field), RequestError::HeaderSectionTooLarge);
        assert_eq!(
            error(&format!("{big_field}\r\n")),
            RequestError::HeaderSectionTooLarge
        );

        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            error(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            RequestError::TooManyHeaders
        );
        let enough: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            head(&format!("GET / HTTP/1.1\r\n{enough}\r\n"))
                .request
                .headers()
                .len(),
            100
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for text in [
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET / FTP/1.0\r\n\r\n",
            "GET\t/\r\n\r\n",
        ] {
            assert!(
                matches!(error(text), RequestError::Malformed(_)),
                "{text:?}: {:?}",
                parse_head(text.as_bytes())
            );
        }
    }

    #[test]
    fn header_helpers() {
        let request =
            head("GET / HTTP/1.1\r\nA: 1\r\na: 2\r\nConnection: keep-alive, Upgrade\r\n\r\n")
                .request;
        let headers = request.headers();
        assert_eq!(headers.all("A").collect::<Vec<_>>(), ["1", "2"]);
        assert!(headers.contains_token("connection", "upgrade"));
        assert!(!headers.contains_token("connection", "close"));
        assert_eq!(headers.iter().count(), 3);
        assert!(!headers.is_empty());
    }

    #[test]
    fn scanner_parses_once_per_line() {
        let text = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "v".repeat(3000));
        let mut scanner = HeadScanner::default();
        let mut full_parses = 0;
        let mut result = None;
        for end in 1..=text.len() {
            let before = scanner.parsed;
            let parsed = scanner.parse(&text.as_bytes()[..end]).unwrap();
            if scanner.parsed != before {
                full_parses += 1;
            }
            if let Some((length, head)) = parsed {
                assert_eq!(end, text.len());
                assert_eq!(length, text.len());
                result = Some(head);
            }
        }
        assert!(result.is_some());
        // First byte, three line ends, and one per 1 KiB of the long line.
        assert!(full_parses <= 8, "{full_parses} full parses");
    }

    #[test]
    fn scanner_refuses_garbage_and_oversize_early() {
        let mut scanner = HeadScanner::default();
        assert!(matches!(
            scanner.parse(b"\x16\x03\x01"),
            Err(RequestError::Malformed(_))
        ));

        // A bad byte in a long line without a line end is still found.
        let mut scanner = HeadScanner::default();
        let mut line = b"GET /".to_vec();
        assert!(matches!(scanner.parse(&line), Ok(None)));
        line.extend_from_slice(&[b'a'; 100]);
        line.push(b'\x7f');
        let mut refused = false;
        for _ in 0..20 {
            line.extend_from_slice(&[b'a'; 100]);
            if scanner.parse(&line).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused);

        // Limits are checked between full parses too.
        let mut scanner = HeadScanner::default();
        let mut line = b"GET /".to_vec();
        assert!(matches!(scanner.parse(&line), Ok(None)));
        line.extend(std::iter::repeat_n(b'a', MAX_REQUEST_LINE));
        assert_eq!(
            scanner.parse(&line).err(),
            Some(RequestError::RequestLineTooLong)
        );

        let mut scanner = HeadScanner::default();
        let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
        assert!(matches!(scanner.parse(&head), Ok(None)));
        head.extend(std::iter::repeat_n(b'v', MAX_HEADER_SECTION));
        assert_eq!(
            scanner.parse(&head).err(),
            Some(RequestError::HeaderSectionTooLarge)
        );
    }

    #[test]
    fn percent_decode_helper() {
        assert_eq!(percent_decode("a+b%41", true).as_deref(), Some("a bA"));
        assert_eq!(percent_decode("a+b%41", false).as_deref(), Some("a+bA"));
        assert_eq!(percent_decode("%4", false), None);
    }
}
