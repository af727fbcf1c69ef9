//! The JSON envelope around every API reply (spec api.md §4.1–§4.3): sync,
//! async and error replies, their status codes with Pebble's exact reason
//! phrases, and the error kinds.
//!
//! ```json
//! {"type": "sync", "status-code": 200, "status": "OK", "result": {"healthy": true}}
//! {"type": "async", "status-code": 202, "status": "Accepted", "change": "17", "result": null}
//! {"type": "error", "status-code": 400, "status": "Bad Request", "result": {"message": "..."}}
//! ```
//!
//! A [`Response`] is built only through its constructors, which keep the
//! `type`, the status code and the body consistent: an async reply is always
//! 202 with a change id, and a 401 always carries the `login-required` kind.
//! The reason phrase is derived from the code, so the two cannot disagree.
//! The streams and files that are not wrapped (§4.1) do not use this type,
//! but their errors do.

use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::ids::ChangeId;

/// An HTTP status that vigild replies with, and its reason phrase.
///
/// The phrases are Go's `http.StatusText`, which Pebble puts both in the
/// status line and in the envelope's `status` field. ops exposes the phrase
/// and its tests compare it, so they must be exactly these (§4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusCode {
    /// 200: a sync reply.
    Ok,
    /// 202: an async reply that names a change.
    Accepted,
    /// 400: invalid input.
    BadRequest,
    /// 401: access denied, whatever the reason (§5).
    Unauthorized,
    /// 403: a file permission error, or notices without a peer uid.
    Forbidden,
    /// 404: an unknown path, change, check or file.
    NotFound,
    /// 405: a method not handled on a known path.
    MethodNotAllowed,
    /// 408: the request head did not arrive in time.
    RequestTimeout,
    /// 413: a request body over its limit.
    RequestEntityTooLarge,
    /// 414: a request line over its limit.
    RequestUriTooLong,
    /// 431: a header section over its limit.
    RequestHeaderFieldsTooLarge,
    /// 500: signal delivery errors, and failures inside vigild.
    InternalServerError,
    /// 502: the unhealthy `/v1/health` reply, which stays `sync`.
    BadGateway,
    /// 503: a POST while the daemon shuts down.
    ServiceUnavailable,
    /// 504: a change wait that timed out.
    GatewayTimeout,
}

impl StatusCode {
    /// Every status, in numeric order.
    pub const ALL: [Self; 15] = [
        Self::Ok,
        Self::Accepted,
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RequestTimeout,
        Self::RequestEntityTooLarge,
        Self::RequestUriTooLong,
        Self::RequestHeaderFieldsTooLarge,
        Self::InternalServerError,
        Self::BadGateway,
        Self::ServiceUnavailable,
        Self::GatewayTimeout,
    ];

    /// The numeric code: the HTTP status and the envelope's `status-code`.
    #[must_use]
    pub const fn code(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::Accepted => 202,
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::RequestEntityTooLarge => 413,
            Self::RequestUriTooLong => 414,
            Self::RequestHeaderFieldsTooLarge => 431,
            Self::InternalServerError => 500,
            Self::BadGateway => 502,
            Self::ServiceUnavailable => 503,
            Self::GatewayTimeout => 504,
        }
    }

    /// The reason phrase: the HTTP status line's and the envelope's `status`.
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Accepted => "Accepted",
            Self::BadRequest => "Bad Request",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not Found",
            Self::MethodNotAllowed => "Method Not Allowed",
            Self::RequestTimeout => "Request Timeout",
            Self::RequestEntityTooLarge => "Request Entity Too Large",
            Self::RequestUriTooLong => "Request URI Too Long",
            Self::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Self::InternalServerError => "Internal Server Error",
            Self::BadGateway => "Bad Gateway",
            Self::ServiceUnavailable => "Service Unavailable",
            Self::GatewayTimeout => "Gateway Timeout",
        }
    }

    /// The status with this numeric code, or `None` if vigild never uses it.
    #[must_use]
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }
}

impl fmt::Display for StatusCode {
    /// Writes the code and the phrase as on a status line: `404 Not Found`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.reason())
    }
}

/// The `kind` of an error reply or of the `maintenance` object, which lets a
/// client react to an error without parsing its message (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Every 401: the caller's access is too low for the endpoint.
    #[serde(rename = "login-required")]
    LoginRequired,
    /// The `autostart` action found no enabled services.
    #[serde(rename = "no-default-services")]
    NoDefaultServices,
    /// File API: the path does not exist (ENOENT).
    #[serde(rename = "not-found")]
    NotFound,
    /// File API: EPERM or EACCES.
    #[serde(rename = "permission-denied")]
    PermissionDenied,
    /// File API: any other file error.
    #[serde(rename = "generic-file-error")]
    GenericFileError,
    /// Only in `maintenance`: a daemon restart is pending.
    #[serde(rename = "daemon-restart")]
    DaemonRestart,
}

impl ErrorKind {
    /// The kind as it is spelled on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LoginRequired => "login-required",
            Self::NoDefaultServices => "no-default-services",
            Self::NotFound => "not-found",
            Self::PermissionDenied => "permission-denied",
            Self::GenericFileError => "generic-file-error",
            Self::DaemonRestart => "daemon-restart",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `result` of an error reply, and the shape of `maintenance`:
/// `{"message": ..., "kind": ..., "value": ...}`.
///
/// `message` is always present; `kind` and `value` are omitted when they have
/// no value (a JSON `null` value counts as none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorResult {
    /// What went wrong, lower-case and without a trailing period.
    pub message: String,
    /// The machine-readable kind, if the error has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// Extra data for the kind, such as the paths of per-file errors.
    #[serde(default, skip_serializing_if = "is_absent")]
    pub value: Option<Value>,
}

impl ErrorResult {
    /// An error with this message and no kind or value.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            kind: None,
            value: None,
        }
    }

    /// The `maintenance` object sent while a daemon restart is pending:
    /// `{"kind": "daemon-restart", "message": "daemon is restarting"}`.
    #[must_use]
    pub fn daemon_restart() -> Self {
        Self::new("daemon is restarting").with_kind(ErrorKind::DaemonRestart)
    }

    /// This error with `kind` set.
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// This error with `value` set.
    #[must_use]
    pub fn with_value(mut self, value: impl Into<Value>) -> Self {
        self.value = Some(value.into());
        self
    }
}

impl fmt::Display for ErrorResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whether an optional JSON value should be left out of the output.
fn is_absent(value: &Option<Value>) -> bool {
    matches!(value, None | Some(Value::Null))
}

/// What a [`Response`] carries, which also decides its `type`.
#[derive(Clone, Debug, PartialEq)]
pub enum Body<T> {
    /// `"type": "sync"` with `result`.
    Sync(T),
    /// `"type": "sync"` with no `result` key at all: only
    /// `POST /v1/identities` replies like this.
    SyncWithoutResult,
    /// `"type": "async"`: the change that will carry out the request, with
    /// `"result": null`.
    Async(ChangeId),
    /// `"type": "error"`, with the error as `result`.
    Error(ErrorResult),
}

/// One API reply in its JSON envelope.
///
/// `T` is the type of a sync reply's `result`. The daemon builds a reply with
/// the constructors and serialises it; a client deserialises the reply of an
/// endpoint with the `T` that endpoint returns, then matches [`Body`].
/// Deserialisation ignores `status` (the phrase follows from `status-code`)
/// and fails on a status code vigild never sends.
#[derive(Clone, Debug, PartialEq)]
pub struct Response<T = Value> {
    status: StatusCode,
    body: Body<T>,
    maintenance: Option<ErrorResult>,
}

impl<T> Response<T> {
    /// A 200 sync reply with this `result`.
    #[must_use]
    pub fn sync(result: T) -> Self {
        Self::sync_with_status(StatusCode::Ok, result)
    }

    /// A sync reply with another status than 200: the unhealthy
    /// `/v1/health` reply is sync with 502.
    #[must_use]
    pub fn sync_with_status(status: StatusCode, result: T) -> Self {
        Self {
            status,
            body: Body::Sync(result),
            maintenance: None,
        }
    }

    /// A 200 sync reply without a `result` key (`POST /v1/identities`).
    #[must_use]
    pub fn sync_without_result() -> Self {
        Self {
            status: StatusCode::Ok,
            body: Body::SyncWithoutResult,
            maintenance: None,
        }
    }

    /// A 202 async reply naming the change that carries out the request.
    #[must_use]
    pub fn async_change(change: ChangeId) -> Self {
        Self {
            status: StatusCode::Accepted,
            body: Body::Async(change),
            maintenance: None,
        }
    }

    /// An error reply with this status and message. A 401 gets the
    /// `login-required` kind, as every 401 must (§4.2); add another kind or a
    /// value with [`with_kind`](Self::with_kind) and
    /// [`with_value`](Self::with_value).
    #[must_use]
    pub fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Self::from_error(status, ErrorResult::new(message))
    }

    /// An error reply with this status carrying `error`. A 401 without a kind
    /// gets `login-required`.
    #[must_use]
    pub fn from_error(status: StatusCode, mut error: ErrorResult) -> Self {
        if status == StatusCode::Unauthorized && error.kind.is_none() {
            error.kind = Some(ErrorKind::LoginRequired);
        }
        Self {
            status,
            body: Body::Error(error),
            maintenance: None,
        }
    }

    /// This reply with the error's `kind` set. Only error replies have a
    /// kind: a sync or async reply is returned unchanged.
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        if let Body::Error(error) = &mut self.body {
            error.kind = Some(kind);
        }
        self
    }

    /// This reply with the error's `value` set. Only error replies have a
    /// value: a sync or async reply is returned unchanged.
    #[must_use]
    pub fn with_value(mut self, value: impl Into<Value>) -> Self {
        if let Body::Error(error) = &mut self.body {
            error.value = Some(value.into());
        }
        self
    }

    /// This reply with a `maintenance` object, sent on every reply while a
    /// daemon restart is pending (see [`ErrorResult::daemon_restart`]).
    #[must_use]
    pub fn with_maintenance(mut self, maintenance: ErrorResult) -> Self {
        self.maintenance = Some(maintenance);
        self
    }

    /// The HTTP status, also written as `status-code` and `status`.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What the reply carries.
    #[must_use]
    pub fn body(&self) -> &Body<T> {
        &self.body
    }

    /// What the reply carries, by value.
    #[must_use]
    pub fn into_body(self) -> Body<T> {
        self.body
    }

    /// The `maintenance` object, if the reply has one.
    #[must_use]
    pub fn maintenance(&self) -> Option<&ErrorResult> {
        self.maintenance.as_ref()
    }
}

impl<T: Serialize> Serialize for Response<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let kind = match self.body {
            Body::Sync(_) | Body::SyncWithoutResult => WireType::Sync,
            Body::Async(_) => WireType::Async,
            Body::Error(_) => WireType::Error,
        };
        map.serialize_entry("type", &kind)?;
        map.serialize_entry("status-code", &self.status.code())?;
        map.serialize_entry("status", self.status.reason())?;
        match &self.body {
            Body::Sync(result) => map.serialize_entry("result", result)?,
            Body::SyncWithoutResult => {}
            Body::Async(change) => {
                map.serialize_entry("change", change)?;
                map.serialize_entry("result", &Value::Null)?;
            }
            Body::Error(error) => map.serialize_entry("result", error)?,
        }
        if let Some(maintenance) = &self.maintenance {
            map.serialize_entry("maintenance", maintenance)?;
        }
        map.end()
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Response<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireResponse::deserialize(deserializer)?;
        let status = StatusCode::from_code(wire.status_code)
            .ok_or_else(|| D::Error::custom(format!("unknown status code {}", wire.status_code)))?;
        let body = match wire.kind {
            WireType::Sync => match wire.result {
                None => Body::SyncWithoutResult,
                Some(result) => Body::Sync(T::deserialize(result).map_err(D::Error::custom)?),
            },
            WireType::Async => match wire.change {
                Some(change) => Body::Async(change),
                None => return Err(D::Error::custom("async reply without a change id")),
            },
            WireType::Error => match wire.result {
                Some(result) => {
                    Body::Error(ErrorResult::deserialize(result).map_err(D::Error::custom)?)
                }
                None => return Err(D::Error::custom("error reply without a result")),
            },
        };
        Ok(Self {
            status,
            body,
            maintenance: wire.maintenance,
        })
    }
}

/// The envelope's `type` field.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireType {
    Sync,
    Async,
    Error,
}

/// The envelope as it arrives, before its parts are checked against each
/// other.
#[derive(Deserialize)]
struct WireResponse {
    #[serde(rename = "type")]
    kind: WireType,
    #[serde(rename = "status-code")]
    status_code: u16,
    #[serde(default)]
    change: Option<ChangeId>,
    /// `None` when the key is missing, `Some(Value::Null)` when it is `null`.
    #[serde(default, deserialize_with = "present")]
    result: Option<Value>,
    #[serde(default)]
    maintenance: Option<ErrorResult>,
}

/// Marks a field as present, even when its value is `null`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::system::HealthInfo;

    #[test]
    fn every_status_has_the_spec_phrase() {
        let table = [
            (200, "OK"),
            (202, "Accepted"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (413, "Request Entity Too Large"),
            (414, "Request URI Too Long"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (502, "Bad Gateway"),
            (503, "Service Unavailable"),
            (504, "Gateway Timeout"),
        ];
        assert_eq!(table.len(), StatusCode::ALL.len());
        for (code, phrase) in table {
            let status = StatusCode::from_code(code).unwrap();
            assert_eq!(status.code(), code);
            assert_eq!(status.reason(), phrase);
            assert_eq!(status.to_string(), format!("{code} {phrase}"));
        }
        assert_eq!(StatusCode::from_code(418), None);
    }

    #[test]
    fn error_kinds_use_wire_names() {
        for (kind, name) in [
            (ErrorKind::LoginRequired, "login-required"),
            (ErrorKind::NoDefaultServices, "no-default-services"),
            (ErrorKind::NotFound, "not-found"),
            (ErrorKind::PermissionDenied, "permission-denied"),
            (ErrorKind::GenericFileError, "generic-file-error"),
            (ErrorKind::DaemonRestart, "daemon-restart"),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(name));
            assert_eq!(kind.as_str(), name);
            assert_eq!(
                serde_json::from_value::<ErrorKind>(json!(name)).unwrap(),
                kind
            );
        }
        assert!(serde_json::from_value::<ErrorKind>(json!("boom")).is_err());
    }

    #[test]
    fn sync_reply() {
        let reply = Response::sync(HealthInfo { healthy: true });
        let want = json!({"type": "sync", "status-code": 200, "status": "OK", "result": {"healthy": true}});
        assert_eq!(serde_json::to_value(&reply).unwrap(), want);
        assert_eq!(
            serde_json::from_value::<Response<HealthInfo>>(want).unwrap(),
            reply
        );
    }

    #[test]
    fn sync_reply_keeps_key_order() {
        let reply = Response::sync(true);
        assert_eq!(
            serde_json::to_string(&reply).unwrap(),
            r#"{"type":"sync","status-code":200,"status":"OK","result":true}"#
        );
    }

    #[test]
    fn async_reply() {
        let reply: Response = Response::async_change(ChangeId::new(17));
        let want = json!({"type": "async", "status-code": 202, "status": "Accepted", "change": "17", "result": null});
        assert_eq!(serde_json::to_value(&reply).unwrap(), want);
        assert_eq!(serde_json::from_value::<Response>(want).unwrap(), reply);

        // Pebble omits the null result; clients must accept that too.
        let pebble =
            json!({"type": "async", "status-code": 202, "status": "Accepted", "change": "17"});
        assert_eq!(serde_json::from_value::<Response>(pebble).unwrap(), reply);

        for bad in [
            json!({"type": "async", "status-code": 202, "status": "Accepted", "result": null}),
            json!({"type": "async", "status-code": 202, "status": "Accepted", "change": ""}),
        ] {
            assert!(serde_json::from_value::<Response>(bad).is_err());
        }
    }

    #[test]
    fn error_reply_without_kind_or_value() {
        let reply: Response = Response::error(StatusCode::BadRequest, r#"invalid action "boot""#);
        let want = json!({"type": "error", "status-code": 400, "status": "Bad Request",
                          "result": {"message": "invalid action \"boot\""}});
        assert_eq!(serde_json::to_value(&reply).unwrap(), want);
        assert_eq!(serde_json::from_value::<Response>(want).unwrap(), reply);
    }

    #[test]
    fn error_reply_with_kind_and_value() {
        let reply: Response =
            Response::error(StatusCode::NotFound, "stat /x: no such file or directory")
                .with_kind(ErrorKind::NotFound)
                .with_value("/x");
        let want = json!({"type": "error", "status-code": 404, "status": "Not Found",
                          "result": {"message": "stat /x: no such file or directory",
                                     "kind": "not-found", "value": "/x"}});
        assert_eq!(serde_json::to_value(&reply).unwrap(), want);
        assert_eq!(serde_json::from_value::<Response>(want).unwrap(), reply);

        let null_value: Response =
            Response::error(StatusCode::BadRequest, "x").with_value(Value::Null);
        assert_eq!(
            serde_json::to_value(&null_value).unwrap()["result"],
            json!({"message": "x"})
        );
    }

    #[test]
    fn no_default_services_reply() {
        let reply: Response = Response::error(StatusCode::BadRequest, "no default services")
            .with_kind(ErrorKind::NoDefaultServices);
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            json!({"type": "error", "status-code": 400, "status": "Bad Request",
                   "result": {"message": "no default services", "kind": "no-default-services"}})
        );
    }

    #[test]
    fn every_401_is_login_required() {
        let reply: Response = Response::error(StatusCode::Unauthorized, "access denied");
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            json!({"type": "error", "status-code": 401, "status": "Unauthorized",
                   "result": {"message": "access denied", "kind": "login-required"}})
        );
        let other: Response = Response::from_error(StatusCode::Forbidden, ErrorResult::new("no"));
        assert_eq!(
            serde_json::to_value(&other).unwrap()["result"],
            json!({"message": "no"})
        );
    }

    #[test]
    fn kind_and_value_leave_non_errors_alone() {
        let reply = Response::sync(1)
            .with_kind(ErrorKind::NotFound)
            .with_value("v");
        assert_eq!(reply, Response::sync(1));
    }

    #[test]
    fn sync_without_result() {
        let reply: Response = Response::sync_without_result();
        let want = json!({"type": "sync", "status-code": 200, "status": "OK"});
        assert_eq!(serde_json::to_value(&reply).unwrap(), want);
        assert_eq!(serde_json::from_value::<Response>(want).unwrap(), reply);

        // A present null result is a result.
        let null = json!({"type": "sync", "status-code": 200, "status": "OK", "result": null});
        assert_eq!(
            serde_json::from_value::<Response<Option<bool>>>(null)
                .unwrap()
                .into_body(),
            Body::Sync(None)
        );
    }

    #[test]
    fn maintenance_is_added_to_any_reply() {
        let reply = Response::sync(true).with_maintenance(ErrorResult::daemon_restart());
        let want = json!({"type": "sync", "status-code": 200, "status": "OK", "result": true,
                          "maintenance": {"kind": "daemon-restart", "message": "daemon is restarting"}});
        assert_eq!(serde_json::to_value(&reply).unwrap(), want);
        let back = serde_json::from_value::<Response<bool>>(want).unwrap();
        assert_eq!(back.maintenance(), Some(&ErrorResult::daemon_restart()));
        assert_eq!(back, reply);
        assert_eq!(Response::sync(true).maintenance(), None);
    }

    #[test]
    fn sync_with_status() {
        let reply = Response::sync_with_status(StatusCode::BadGateway, false);
        assert_eq!(reply.status(), StatusCode::BadGateway);
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            json!({"type": "sync", "status-code": 502, "status": "Bad Gateway", "result": false})
        );
    }

    #[test]
    fn deserialise_rejects_malformed_envelopes() {
        for bad in [
            json!({"type": "sync", "status-code": 418, "status": "I'm a teapot", "result": 1}),
            json!({"type": "weird", "status-code": 200, "status": "OK", "result": 1}),
            json!({"status-code": 200, "status": "OK", "result": 1}),
            json!({"type": "error", "status-code": 400, "status": "Bad Request"}),
            json!({"type": "error", "status-code": 400, "status": "Bad Request", "result": {}}),
            json!({"type": "sync", "status-code": 200, "status": "OK", "result": "not a bool"}),
        ] {
            assert!(
                serde_json::from_value::<Response<bool>>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        let error = serde_json::from_value::<Response>(
            json!({"type": "sync", "status-code": 418, "status": "x", "result": 1}),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown status code 418"),
            "{error}"
        );
    }

    #[test]
    fn accessors() {
        let reply: Response<()> = Response::async_change(ChangeId::new(3));
        assert_eq!(reply.status(), StatusCode::Accepted);
        assert_eq!(reply.body(), &Body::Async(ChangeId::new(3)));
        assert_eq!(reply.into_body(), Body::Async(ChangeId::new(3)));
        assert_eq!(ErrorResult::new("gone").to_string(), "gone");
        assert_eq!(ErrorKind::DaemonRestart.to_string(), "daemon-restart");
    }
}
