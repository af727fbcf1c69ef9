//! The payload formats (checks-and-alerts.md §11): what an alert POSTs for
//! an [`Event`] in each [`AlertFormat`], and the `body-template` of a webhook
//! alert.
//!
//! Pure: no I/O, no clock and no randomness. The caller passes in when the
//! payload is built, the hostname and vigild's version; the event carries
//! its own times and its CloudEvents id, so a retry or a re-post of the same
//! event builds the same bytes (apart from otlp-logs' observed time).
//!
//! A template is compiled once per plan ([`Template::compile`]; the plan
//! check in vigil-proto has already refused one that does not compile) and
//! rendered for each event. A render that fails, or that does not give JSON,
//! falls back to the default webhook body with a warning: an alert always
//! sends something.
//!
//! Objects are serialised from structs, so keys come in the order the spec's
//! examples show them; the maps inside (`labels`, `info`) are sorted by key.
//! Times are RFC 3339 in UTC with up to nine fraction digits, trailing zeros
//! trimmed (`2025-03-01T10:15:30.5Z`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::Kwargs;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use serde::Serialize;
use vigil_proto::api::{Precision, Timestamp, quote};
use vigil_proto::plan::{AlertFormat, StringMap, describe_template_error};

use super::event::{Event, EventStatus};

/// `Content-Type` of webhook, alertmanager and otlp-logs payloads.
pub const JSON: &str = "application/json";

/// `Content-Type` of a structured-mode CloudEvent (§11.4).
pub const CLOUD_EVENTS_JSON: &str = "application/cloudevents+json; charset=utf-8";

/// How much work one render may do, in minijinja fuel: roughly one unit per
/// instruction and one per 64 bytes made. An alert body needs a few hundred;
/// this stops a runaway loop (or a huge string) after about 100,000
/// instructions or 6 MB, and the alert sends its default body instead.
const TEMPLATE_FUEL: u64 = 100_000;

/// The name the template has inside minijinja; it shows in no message.
const TEMPLATE_NAME: &str = "body-template";

/// One payload, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The request body.
    pub body: Vec<u8>,
    /// Why the body-template was not used, naming the alert, such as
    /// ``alert "pager": body-template: line 1, column 4: undefined value:
    /// `nope` is undefined; the default webhook body is sent instead``. To be
    /// logged as a warning (§11.2).
    pub warning: Option<String>,
}

/// The payload of `event` in `format` (§11).
///
/// - `template` is the alert's compiled `body-template`; only the webhook
///   format uses it (the plan allows it with no other).
/// - `observed` is when the payload is built: otlp-logs'
///   `observedTimeUnixNano`. No other format reads it.
/// - `hostname` is otlp-logs' `host.name`, `version` its scope version
///   (vigild's version).
#[must_use]
pub fn payload(
    format: AlertFormat,
    event: &Event,
    template: Option<&Template>,
    observed: SystemTime,
    hostname: &str,
    version: &str,
) -> Payload {
    match format {
        AlertFormat::Webhook => webhook(event, template),
        AlertFormat::Alertmanager => json_payload(JSON, &alertmanager(event)),
        AlertFormat::CloudEvents => json_payload(CLOUD_EVENTS_JSON, &cloud_event(event)),
        AlertFormat::OtlpLogs => json_payload(JSON, &otlp_logs(event, observed, hostname, version)),
    }
}

/// An alert's compiled `body-template` (§11.2).
///
/// It renders with minijinja (Jinja2 syntax), strict about undefined
/// values (also when they are given to `tojson`), with the builtin filters
/// (`upper`, `tojson`, ...) and no auto-escaping. The variables are `alert`, `check`, `status`,
/// `timestamp`, `labels` and `info` (maps) and `error` (empty for `up`).
pub struct Template {
    environment: Environment<'static>,
}

impl Template {
    /// Compiles `source`.
    ///
    /// # Errors
    ///
    /// Where and what, as the plan check words it:
    /// ``line 1, column 20: syntax error: unexpected `}`, expected end of
    /// variable block``.
    pub fn compile(source: &str) -> Result<Template, String> {
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_auto_escape_callback(|_| AutoEscape::None);
        // Debug mode names the undefined variable in a render error.
        environment.set_debug(true);
        environment.set_fuel(Some(TEMPLATE_FUEL));
        environment.add_filter("tojson", strict_tojson);
        match environment.add_template_owned(TEMPLATE_NAME, source.to_owned()) {
            Ok(()) => Ok(Template { environment }),
            Err(error) => Err(describe_template_error(&error, source)),
        }
    }

    /// The rendered text for `event`, if it renders and is JSON.
    ///
    /// # Errors
    ///
    /// The render error, located in the template (`line 1, column 4:
    /// undefined value: `nope` is undefined`), or why the text is not JSON
    /// (`rendered text is not JSON: expected value at line 1 column 1`).
    pub fn render(&self, event: &Event) -> Result<String, String> {
        let template = self
            .environment
            .get_template(TEMPLATE_NAME)
            .map_err(|error| error.to_string())?;
        let text = template
            .render(variables(event))
            .map_err(|error| describe_template_error(&error, template.source()))?;
        match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
            Ok(_) => Ok(text),
            Err(error) => Err(format!("rendered text is not JSON: {error}")),
        }
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = self
            .environment
            .get_template(TEMPLATE_NAME)
            .map(|template| template.source().to_owned())
            .unwrap_or_default();
        f.debug_struct("Template").field("source", &source).finish()
    }
}

/// minijinja's `tojson`, except that an undefined value is an error, as
/// Jinja2's `StrictUndefined` makes it: the builtin writes `null`, so
/// `{{ labels.tema | tojson }}` would quietly send `"team": null`.
fn strict_tojson(
    value: &Value,
    indent: Option<Value>,
    options: Kwargs,
) -> Result<Value, minijinja::Error> {
    if value.is_undefined() {
        // Looking into an undefined value fails with the error that says
        // which expression was undefined (`labels.tema` is undefined).
        value.get_attr("")?;
        return Err(minijinja::Error::from(ErrorKind::UndefinedError));
    }
    minijinja::filters::tojson(value, indent, options)
}

/// The template's variables (§11.2).
fn variables(event: &Event) -> Value {
    let mut variables = BTreeMap::new();
    variables.insert("alert", Value::from(event.alert.as_str()));
    variables.insert("check", Value::from(event.check.as_str()));
    variables.insert("status", Value::from(event.status.as_str()));
    variables.insert("timestamp", Value::from(rfc3339(event.timestamp)));
    variables.insert("labels", Value::from(event.labels.clone()));
    variables.insert("info", Value::from(event.info.clone()));
    variables.insert("error", Value::from(error_text(event)));
    Value::from(variables)
}

/// §11.1, or §11.2 when there is a template that renders to JSON.
fn webhook(event: &Event, template: Option<&Template>) -> Payload {
    let Some(template) = template else {
        return json_payload(JSON, &default_webhook(event));
    };
    match template.render(event) {
        Ok(text) => Payload {
            content_type: JSON,
            body: text.into_bytes(),
            warning: None,
        },
        Err(reason) => Payload {
            warning: Some(format!(
                "alert {}: body-template: {reason}; the default webhook body is sent instead",
                quote(&event.alert)
            )),
            ..json_payload(JSON, &default_webhook(event))
        },
    }
}

/// The body of a format that is a JSON document.
fn json_payload(content_type: &'static str, document: &impl Serialize) -> Payload {
    Payload {
        content_type,
        // Structs of strings and string maps: serialising cannot fail.
        body: serde_json::to_vec(document).unwrap_or_default(),
        warning: None,
    }
}

/// §11.1: the default webhook body.
#[derive(Serialize)]
struct Webhook<'e> {
    alert: &'e str,
    check: &'e str,
    status: &'static str,
    timestamp: String,
    labels: &'e StringMap,
    info: &'e StringMap,
    /// Only for `down`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'e str>,
}

fn default_webhook(event: &Event) -> Webhook<'_> {
    Webhook {
        alert: &event.alert,
        check: &event.check,
        status: event.status.as_str(),
        timestamp: rfc3339(event.timestamp),
        labels: &event.labels,
        info: &event.info,
        error: down_error(event),
    }
}

/// §11.3: one alert in Alertmanager's v2 `PostableAlert` shape.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertmanagerAlert<'e> {
    labels: StringMap,
    annotations: &'e StringMap,
    starts_at: String,
    /// Only for a recovery: a firing alert has no end.
    #[serde(skip_serializing_if = "Option::is_none")]
    ends_at: Option<String>,
}

fn alertmanager(event: &Event) -> [AlertmanagerAlert<'_>; 1] {
    let mut labels = event.labels.clone();
    // These two override user labels of the same name.
    labels.insert("alertname".into(), event.check.clone());
    labels.insert("check".into(), event.check.clone());
    [AlertmanagerAlert {
        labels,
        annotations: &event.info,
        starts_at: rfc3339(event.down_since),
        ends_at: match event.status {
            EventStatus::Down => None,
            EventStatus::Up => Some(rfc3339(event.timestamp)),
        },
    }]
}

/// §11.4: a CloudEvents 1.0 event in structured mode.
#[derive(Serialize)]
struct CloudEvent<'e> {
    specversion: &'static str,
    id: &'e str,
    source: &'static str,
    #[serde(rename = "type")]
    type_: &'static str,
    subject: &'e str,
    time: String,
    datacontenttype: &'static str,
    data: CloudEventData<'e>,
}

#[derive(Serialize)]
struct CloudEventData<'e> {
    alert: &'e str,
    check: &'e str,
    status: &'static str,
    labels: &'e StringMap,
    info: &'e StringMap,
    /// Only for `down`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'e str>,
}

fn cloud_event(event: &Event) -> CloudEvent<'_> {
    CloudEvent {
        specversion: "1.0",
        id: &event.id,
        source: "vigild",
        type_: match event.status {
            EventStatus::Down => "io.vigil.check.failed",
            EventStatus::Up => "io.vigil.check.recovered",
        },
        subject: &event.check,
        time: rfc3339(event.timestamp),
        datacontenttype: JSON,
        data: CloudEventData {
            alert: &event.alert,
            check: &event.check,
            status: event.status.as_str(),
            labels: &event.labels,
            info: &event.info,
            error: down_error(event),
        },
    }
}

/// §11.5: an OTLP/HTTP JSON `ExportLogsServiceRequest` with one log record.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OtlpLogs<'e> {
    resource_logs: [ResourceLogs<'e>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceLogs<'e> {
    resource: Resource<'e>,
    scope_logs: [ScopeLogs<'e>; 1],
}

#[derive(Serialize)]
struct Resource<'e> {
    attributes: [KeyValue<'e>; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeLogs<'e> {
    scope: Scope<'e>,
    log_records: [LogRecord<'e>; 1],
}

#[derive(Serialize)]
struct Scope<'e> {
    name: &'static str,
    version: &'e str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogRecord<'e> {
    /// Decimal strings: OTLP's JSON encoding writes 64-bit integers so.
    time_unix_nano: String,
    observed_time_unix_nano: String,
    severity_number: u8,
    severity_text: &'static str,
    body: AnyValue<'e>,
    attributes: Vec<KeyValue<'e>>,
}

#[derive(Serialize)]
struct KeyValue<'e> {
    key: &'e str,
    value: AnyValue<'e>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue<'e> {
    string_value: Cow<'e, str>,
}

impl<'e> KeyValue<'e> {
    fn new(key: &'e str, value: &'e str) -> Self {
        KeyValue {
            key,
            value: AnyValue {
                string_value: value.into(),
            },
        }
    }
}

fn otlp_logs<'e>(
    event: &'e Event,
    observed: SystemTime,
    hostname: &'e str,
    version: &'e str,
) -> OtlpLogs<'e> {
    let (severity_number, severity_text, body) = match event.status {
        // OTLP's SeverityNumber: 17 is ERROR, 9 is INFO.
        EventStatus::Down => (
            17,
            "ERROR",
            match down_error(event) {
                Some(error) if !error.is_empty() => {
                    format!("check {} failed: {error}", event.check)
                }
                _ => format!("check {} failed", event.check),
            },
        ),
        EventStatus::Up => (9, "INFO", format!("check {} recovered", event.check)),
    };
    OtlpLogs {
        resource_logs: [ResourceLogs {
            resource: Resource {
                attributes: [
                    KeyValue::new("service.name", "vigild"),
                    KeyValue::new("host.name", hostname),
                ],
            },
            scope_logs: [ScopeLogs {
                scope: Scope {
                    name: "vigild",
                    version,
                },
                log_records: [LogRecord {
                    time_unix_nano: unix_nanos(event.timestamp),
                    observed_time_unix_nano: unix_nanos(observed),
                    severity_number,
                    severity_text,
                    body: AnyValue {
                        string_value: body.into(),
                    },
                    attributes: otlp_attributes(event),
                }],
            }],
        }],
    }
}

/// `check.name`, `check.status`, `alert.name`, then the labels and then the
/// send-info fields, each sorted by key; a key already given is dropped.
fn otlp_attributes(event: &Event) -> Vec<KeyValue<'_>> {
    let fixed = [
        ("check.name", event.check.as_str()),
        ("check.status", event.status.as_str()),
        ("alert.name", event.alert.as_str()),
    ];
    let pairs = fixed.into_iter().chain(
        event
            .labels
            .iter()
            .chain(&event.info)
            .map(|(key, value)| (key.as_str(), value.as_str())),
    );
    let mut attributes: Vec<KeyValue<'_>> = Vec::new();
    for (key, value) in pairs {
        if !attributes.iter().any(|attribute| attribute.key == key) {
            attributes.push(KeyValue::new(key, value));
        }
    }
    attributes
}

/// The failure message of a `down` event; `None` for `up`.
fn down_error(event: &Event) -> Option<&str> {
    match event.status {
        EventStatus::Down => Some(event.error.as_deref().unwrap_or_default()),
        EventStatus::Up => None,
    }
}

/// The template's `error`: the failure message, empty for `up`.
fn error_text(event: &Event) -> &str {
    down_error(event).unwrap_or_default()
}

/// RFC 3339 in UTC with up to nine fraction digits.
fn rfc3339(at: SystemTime) -> String {
    Timestamp::utc(at).format(Precision::Nanoseconds)
}

/// Nanoseconds since the Unix epoch as a decimal string (0 before it).
fn unix_nanos(at: SystemTime) -> String {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
        .to_string()
}

#[cfg(test)]
mod tests {
    //! Each format against a fixture written from the spec's example
    //! (checks-and-alerts.md §11) and the public specification of the
    //! receiver: Alertmanager's v2 `PostableAlert`, CloudEvents 1.0 in its
    //! JSON format, and OTLP/HTTP's JSON encoding of
    //! `ExportLogsServiceRequest`. Values are compared as JSON, and bytes
    //! where the order of keys is part of the contract.

    use std::time::Duration;

    use serde_json::{Value as Json, json};

    use super::*;

    /// 2025-03-01T10:15:30.123456789Z, the spec's example time.
    fn went_down() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_740_824_130, 123_456_789)
    }

    /// 2025-03-01T10:16:00.5Z.
    fn came_up() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_740_824_160, 500_000_000)
    }

    /// otlp-logs' `observedTimeUnixNano` in the spec's example.
    fn observed() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_740_824_130, 123_501_000)
    }

    fn map(pairs: &[(&str, &str)]) -> StringMap {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    /// The spec's example event: `pager` watches `web-ready`, which failed.
    fn down() -> Event {
        Event {
            alert: "pager".into(),
            check: "web-ready".into(),
            status: EventStatus::Down,
            timestamp: went_down(),
            labels: map(&[("team", "payments")]),
            info: map(&[("runbook", "https://wiki.example.com/runbooks/web")]),
            error: Some("non-2xx status code 503".into()),
            down_since: went_down(),
            id: "3f1c2a4e-8d0b-4c1e-9a57-2b8e6d1f0c33".into(),
        }
    }

    /// Its recovery, half a minute later.
    fn up() -> Event {
        Event {
            status: EventStatus::Up,
            timestamp: came_up(),
            error: None,
            id: "9b2d7c1e-4a5f-4e3b-8c6d-0f1e2a3b4c5d".into(),
            ..down()
        }
    }

    fn build(format: AlertFormat, event: &Event) -> Payload {
        payload(format, event, None, observed(), "web-7f9c", "1.0.0")
    }

    fn body_json(payload: &Payload) -> Json {
        serde_json::from_slice(&payload.body).unwrap()
    }

    fn body_text(payload: &Payload) -> &str {
        std::str::from_utf8(&payload.body).unwrap()
    }

    /// Asserts the payload's body equals the JSON text `expected` as a
    /// value and, key order included, byte for byte once compacted.
    #[track_caller]
    fn assert_body(payload: &Payload, expected: &str) {
        let value: Json = serde_json::from_str(expected).unwrap();
        assert_eq!(body_json(payload), value);
        assert_eq!(body_text(payload), compact(expected));
    }

    /// The compact form of JSON text written as in the spec, keys in the
    /// order written (`serde_json::Value` would sort them).
    fn compact(text: &str) -> String {
        let mut out = String::new();
        let mut in_string = false;
        let mut escaped = false;
        for c in text.chars() {
            if in_string {
                out.push(c);
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
                out.push(c);
            } else if !c.is_whitespace() {
                out.push(c);
            }
        }
        out
    }

    // ----- webhook (§11.1) -----

    const WEBHOOK_DOWN: &str = r#"{
      "alert": "pager",
      "check": "web-ready",
      "status": "down",
      "timestamp": "2025-03-01T10:15:30.123456789Z",
      "labels": {"team": "payments"},
      "info": {"runbook": "https://wiki.example.com/runbooks/web"},
      "error": "non-2xx status code 503"
    }"#;

    #[test]
    fn webhook_down_is_the_spec_example() {
        let payload = build(AlertFormat::Webhook, &down());
        assert_eq!(payload.content_type, "application/json");
        assert_eq!(payload.warning, None);
        assert_body(&payload, WEBHOOK_DOWN);
    }

    #[test]
    fn webhook_up_has_no_error_key() {
        let payload = build(AlertFormat::Webhook, &up());
        assert_eq!(payload.content_type, "application/json");
        assert_body(
            &payload,
            r#"{
              "alert": "pager",
              "check": "web-ready",
              "status": "up",
              "timestamp": "2025-03-01T10:16:00.5Z",
              "labels": {"team": "payments"},
              "info": {"runbook": "https://wiki.example.com/runbooks/web"}
            }"#,
        );
        assert!(body_json(&payload).get("error").is_none());
    }

    #[test]
    fn webhook_maps_are_objects_even_when_empty_and_sorted() {
        let event = Event {
            labels: StringMap::new(),
            info: map(&[("zone", "b"), ("app", "shop")]),
            timestamp: UNIX_EPOCH + Duration::from_secs(1_740_824_130),
            ..down()
        };
        let payload = build(AlertFormat::Webhook, &event);
        assert_eq!(
            body_text(&payload),
            r#"{"alert":"pager","check":"web-ready","status":"down","timestamp":"2025-03-01T10:15:30Z","labels":{},"info":{"app":"shop","zone":"b"},"error":"non-2xx status code 503"}"#
        );
    }

    // ----- webhook with body-template (§11.2) -----

    /// The spec's example template, as a YAML block scalar gives it (with
    /// its final newline).
    const SPEC_TEMPLATE: &str = "{\"text\": \"{{ check }} is {{ status | upper }}\", \"team\": {{ labels.team | tojson }}}\n";

    fn with_template(source: &str, event: &Event) -> Payload {
        let template = Template::compile(source).unwrap();
        payload(
            AlertFormat::Webhook,
            event,
            Some(&template),
            observed(),
            "web-7f9c",
            "1.0.0",
        )
    }

    #[test]
    fn template_renders_the_spec_example_byte_for_byte() {
        let payload = with_template(SPEC_TEMPLATE, &down());
        assert_eq!(payload.content_type, "application/json");
        assert_eq!(payload.warning, None);
        assert_eq!(
            body_text(&payload),
            r#"{"text": "web-ready is DOWN", "team": "payments"}"#
        );
    }

    #[test]
    fn template_sees_every_variable() {
        let source = r#"{"a": {{ alert | tojson }}, "c": {{ check | tojson }}, "s": {{ status | tojson }}, "t": {{ timestamp | tojson }}, "l": {{ labels | tojson }}, "i": {{ info | tojson }}, "e": {{ error | tojson }}}"#;
        let payload = with_template(source, &down());
        assert_eq!(payload.warning, None);
        assert_eq!(
            body_json(&payload),
            json!({
                "a": "pager",
                "c": "web-ready",
                "s": "down",
                "t": "2025-03-01T10:15:30.123456789Z",
                "l": {"team": "payments"},
                "i": {"runbook": "https://wiki.example.com/runbooks/web"},
                "e": "non-2xx status code 503",
            })
        );
        let payload = with_template(source, &up());
        assert_eq!(payload.warning, None);
        let body = body_json(&payload);
        assert_eq!(body["s"], "up");
        assert_eq!(body["t"], "2025-03-01T10:16:00.5Z");
        assert_eq!(body["e"], "", "error is empty, not undefined, for up");
    }

    #[test]
    fn template_output_is_not_escaped() {
        let event = Event {
            error: Some(r#"body was "<b>down</b>" & 'gone'"#.into()),
            ..down()
        };
        let payload = with_template(r#"{"e": "{{ error | replace('"', "'") }}"}"#, &event);
        assert_eq!(payload.warning, None);
        assert_eq!(
            body_text(&payload),
            r#"{"e": "body was '<b>down</b>' & 'gone'"}"#
        );
        // tojson quotes safely; its HTML-safe escapes are still JSON.
        let payload = with_template(r#"{"e": {{ error | tojson }}}"#, &event);
        assert_eq!(payload.warning, None);
        assert_eq!(
            body_json(&payload)["e"],
            r#"body was "<b>down</b>" & 'gone'"#
        );
    }

    #[test]
    fn undefined_variable_sends_the_default_body_with_a_warning() {
        for source in [
            r#"{"text": "{{ check }} {{ nope }}"}"#,
            r#"{"team": {{ labels.owner | tojson }}}"#,
        ] {
            let payload = with_template(source, &down());
            assert_eq!(payload.content_type, "application/json");
            assert_eq!(body_text(&payload), compact(WEBHOOK_DOWN), "{source}");
        }
        // Given to tojson too, where minijinja alone would write null.
        let payload = with_template(r#"{"team": {{ labels.tema | tojson }}}"#, &down());
        assert_eq!(
            payload.warning.as_deref(),
            Some(
                "alert \"pager\": body-template: line 1, column 27: undefined value: `labels.tema` is undefined; \
                 the default webhook body is sent instead"
            )
        );
        let payload = with_template("{\"a\": 1,\n \"b\": {{ nope }}}", &down());
        assert_eq!(
            payload.warning.as_deref(),
            Some(
                "alert \"pager\": body-template: line 2, column 10: undefined value: `nope` is undefined; \
                 the default webhook body is sent instead"
            )
        );
    }

    #[test]
    fn other_render_errors_send_the_default_body_with_a_warning() {
        let payload = with_template(r#"{"text": {{ check | no_such_filter }}}"#, &down());
        assert_eq!(body_text(&payload), compact(WEBHOOK_DOWN));
        assert_eq!(
            payload.warning.as_deref(),
            Some(
                "alert \"pager\": body-template: line 1, column 21: unknown filter: filter no_such_filter is unknown; \
                 the default webhook body is sent instead"
            )
        );
    }

    #[test]
    fn non_json_output_sends_the_default_body_with_a_warning() {
        let payload = with_template("{{ check }} is {{ status }}", &up());
        assert_eq!(payload.content_type, "application/json");
        assert_eq!(
            body_json(&payload),
            body_json(&build(AlertFormat::Webhook, &up()))
        );
        assert_eq!(
            payload.warning.as_deref(),
            Some(
                "alert \"pager\": body-template: rendered text is not JSON: expected value at line 1 column 1; \
                 the default webhook body is sent instead"
            )
        );
        // Trailing text after a JSON value is not JSON either.
        let payload = with_template(r#"{"ok": true} and more"#, &down());
        assert_eq!(body_text(&payload), compact(WEBHOOK_DOWN));
        assert!(payload.warning.is_some());
    }

    #[test]
    fn a_runaway_template_runs_out_of_fuel() {
        let payload = with_template(
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}{}",
            &down(),
        );
        assert_eq!(body_text(&payload), compact(WEBHOOK_DOWN));
        let warning = payload.warning.unwrap();
        assert!(warning.contains("fuel"), "{warning}");
    }

    #[test]
    fn compile_errors_are_located_as_the_plan_check_words_them() {
        // The same text as vigil-proto's plan test
        // `body_template_that_does_not_compile_fails_the_load`.
        assert_eq!(
            Template::compile(r#"{"text": "{{ check }"}"#).unwrap_err(),
            "line 1, column 20: syntax error: unexpected `}`, expected end of variable block"
        );
        assert_eq!(
            Template::compile("{\"a\": 1,\n \"b\": {% if %}}").unwrap_err(),
            "line 2, column 13: syntax error: unexpected end of block"
        );
    }

    #[test]
    fn template_is_ignored_by_other_formats() {
        let template = Template::compile("not json").unwrap();
        for format in [
            AlertFormat::Alertmanager,
            AlertFormat::CloudEvents,
            AlertFormat::OtlpLogs,
        ] {
            let with = payload(format, &down(), Some(&template), observed(), "h", "1");
            assert_eq!(with, payload(format, &down(), None, observed(), "h", "1"));
        }
    }

    // ----- alertmanager (§11.3) -----

    /// Alertmanager's API v2 `postableAlert`: `labels` (required),
    /// `annotations`, `startsAt`, `endsAt`, `generatorURL`; label and
    /// annotation values are strings, times are date-times.
    #[track_caller]
    fn assert_postable_alerts(body: &Json) {
        let alerts = body.as_array().expect("an array of alerts");
        for alert in alerts {
            let alert = alert.as_object().unwrap();
            for key in alert.keys() {
                assert!(
                    [
                        "labels",
                        "annotations",
                        "startsAt",
                        "endsAt",
                        "generatorURL"
                    ]
                    .contains(&key.as_str()),
                    "{key}"
                );
            }
            for key in ["labels", "annotations"] {
                if let Some(map) = alert.get(key) {
                    assert!(map.as_object().unwrap().values().all(Json::is_string));
                }
            }
            for key in ["startsAt", "endsAt"] {
                if let Some(time) = alert.get(key) {
                    Timestamp::parse(time.as_str().unwrap()).unwrap();
                }
            }
        }
    }

    #[test]
    fn alertmanager_firing_is_the_spec_example() {
        let payload = build(AlertFormat::Alertmanager, &down());
        assert_eq!(payload.content_type, "application/json");
        assert_eq!(payload.warning, None);
        assert_eq!(
            body_text(&payload),
            compact(
                r#"[
                  {
                    "labels": {"alertname": "web-ready", "check": "web-ready", "team": "payments"},
                    "annotations": {"runbook": "https://wiki.example.com/runbooks/web"},
                    "startsAt": "2025-03-01T10:15:30.123456789Z"
                  }
                ]"#
            )
        );
        assert_postable_alerts(&body_json(&payload));
    }

    #[test]
    fn alertmanager_recovery_ends_at_the_recovery_and_starts_when_it_went_down() {
        let payload = build(AlertFormat::Alertmanager, &up());
        assert_body(
            &payload,
            r#"[{
              "labels": {"alertname": "web-ready", "check": "web-ready", "team": "payments"},
              "annotations": {"runbook": "https://wiki.example.com/runbooks/web"},
              "startsAt": "2025-03-01T10:15:30.123456789Z",
              "endsAt": "2025-03-01T10:16:00.5Z"
            }]"#,
        );
        assert_postable_alerts(&body_json(&payload));
    }

    #[test]
    fn alertmanager_starts_at_is_when_the_check_went_down() {
        // A re-post while still down (D19): its own event time, the same
        // startsAt.
        let repost = Event {
            timestamp: went_down() + Duration::from_secs(60),
            ..down()
        };
        let body = body_json(&build(AlertFormat::Alertmanager, &repost));
        assert_eq!(body[0]["startsAt"], "2025-03-01T10:15:30.123456789Z");
        assert!(body[0].get("endsAt").is_none());
    }

    #[test]
    fn alertmanager_alertname_and_check_override_user_labels() {
        let event = Event {
            labels: map(&[("alertname", "mine"), ("check", "other"), ("zone", "b")]),
            info: StringMap::new(),
            ..down()
        };
        let body = body_json(&build(AlertFormat::Alertmanager, &event));
        assert_eq!(
            body[0]["labels"],
            json!({"alertname": "web-ready", "check": "web-ready", "zone": "b"})
        );
        assert_eq!(body[0]["annotations"], json!({}));
    }

    // ----- cloud-events (§11.4) -----

    /// CloudEvents 1.0, JSON event format: the required context attributes
    /// `specversion`, `id`, `source`, `type` are non-empty strings; `time`
    /// is RFC 3339; `data` is JSON because `datacontenttype` says so.
    #[track_caller]
    fn assert_cloud_event(body: &Json) {
        for key in ["specversion", "id", "source", "type"] {
            assert!(!body[key].as_str().unwrap().is_empty(), "{key}");
        }
        assert_eq!(body["specversion"], "1.0");
        Timestamp::parse(body["time"].as_str().unwrap()).unwrap();
        assert_eq!(body["datacontenttype"], "application/json");
        assert!(body["data"].is_object());
    }

    #[test]
    fn cloud_event_down_is_the_spec_example() {
        let payload = build(AlertFormat::CloudEvents, &down());
        assert_eq!(
            payload.content_type,
            "application/cloudevents+json; charset=utf-8"
        );
        assert_eq!(payload.warning, None);
        assert_eq!(
            body_text(&payload),
            compact(
                r#"{
                  "specversion": "1.0",
                  "id": "3f1c2a4e-8d0b-4c1e-9a57-2b8e6d1f0c33",
                  "source": "vigild",
                  "type": "io.vigil.check.failed",
                  "subject": "web-ready",
                  "time": "2025-03-01T10:15:30.123456789Z",
                  "datacontenttype": "application/json",
                  "data": {
                    "alert": "pager",
                    "check": "web-ready",
                    "status": "down",
                    "labels": {"team": "payments"},
                    "info": {"runbook": "https://wiki.example.com/runbooks/web"},
                    "error": "non-2xx status code 503"
                  }
                }"#
            )
        );
        assert_cloud_event(&body_json(&payload));
    }

    #[test]
    fn cloud_event_recovery() {
        let payload = build(AlertFormat::CloudEvents, &up());
        assert_body(
            &payload,
            r#"{
              "specversion": "1.0",
              "id": "9b2d7c1e-4a5f-4e3b-8c6d-0f1e2a3b4c5d",
              "source": "vigild",
              "type": "io.vigil.check.recovered",
              "subject": "web-ready",
              "time": "2025-03-01T10:16:00.5Z",
              "datacontenttype": "application/json",
              "data": {
                "alert": "pager",
                "check": "web-ready",
                "status": "up",
                "labels": {"team": "payments"},
                "info": {"runbook": "https://wiki.example.com/runbooks/web"}
              }
            }"#,
        );
        assert_cloud_event(&body_json(&payload));
    }

    #[test]
    fn cloud_event_id_is_the_events_own() {
        // Retries and re-posts of one event build the same bytes.
        let first = build(AlertFormat::CloudEvents, &down());
        let again = payload(
            AlertFormat::CloudEvents,
            &down(),
            None,
            observed() + Duration::from_secs(5),
            "other",
            "2",
        );
        assert_eq!(first, again);
    }

    // ----- otlp-logs (§11.5) -----

    const OTLP_DOWN: &str = r#"{
      "resourceLogs": [{
        "resource": {"attributes": [
          {"key": "service.name", "value": {"stringValue": "vigild"}},
          {"key": "host.name", "value": {"stringValue": "web-7f9c"}}
        ]},
        "scopeLogs": [{
          "scope": {"name": "vigild", "version": "1.0.0"},
          "logRecords": [{
            "timeUnixNano": "1740824130123456789",
            "observedTimeUnixNano": "1740824130123501000",
            "severityNumber": 17,
            "severityText": "ERROR",
            "body": {"stringValue": "check web-ready failed: non-2xx status code 503"},
            "attributes": [
              {"key": "check.name", "value": {"stringValue": "web-ready"}},
              {"key": "check.status", "value": {"stringValue": "down"}},
              {"key": "alert.name", "value": {"stringValue": "pager"}},
              {"key": "team", "value": {"stringValue": "payments"}},
              {"key": "runbook", "value": {"stringValue": "https://wiki.example.com/runbooks/web"}}
            ]
          }]
        }]
      }]
    }"#;

    fn log_record(body: &Json) -> &Json {
        &body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    }

    /// The record's attributes as (key, value) pairs, in order.
    fn attributes(body: &Json) -> Vec<(String, String)> {
        log_record(body)["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| {
                (
                    kv["key"].as_str().unwrap().to_string(),
                    kv["value"]["stringValue"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn otlp_down_is_the_spec_example() {
        let payload = build(AlertFormat::OtlpLogs, &down());
        assert_eq!(payload.content_type, "application/json");
        assert_eq!(payload.warning, None);
        assert_eq!(body_text(&payload), compact(OTLP_DOWN));
    }

    #[test]
    fn otlp_follows_the_json_encoding_of_otlp() {
        // OTLP/HTTP JSON: lowerCamelCase field names, 64-bit integers as
        // decimal strings, enums (SeverityNumber) as integers, AnyValue as
        // {"stringValue": ...}.
        let body = body_json(&build(AlertFormat::OtlpLogs, &down()));
        let record = log_record(&body);
        for key in ["timeUnixNano", "observedTimeUnixNano"] {
            let text = record[key].as_str().unwrap();
            assert!(text.parse::<u64>().is_ok(), "{key}: {text}");
        }
        assert!(record["severityNumber"].is_u64());
        assert!(record["body"]["stringValue"].is_string());
    }

    #[test]
    fn otlp_recovery_is_info() {
        let payload = build(AlertFormat::OtlpLogs, &up());
        let body = body_json(&payload);
        let record = log_record(&body);
        assert_eq!(record["timeUnixNano"], "1740824160500000000");
        assert_eq!(record["observedTimeUnixNano"], "1740824130123501000");
        assert_eq!(record["severityNumber"], 9);
        assert_eq!(record["severityText"], "INFO");
        assert_eq!(
            record["body"],
            json!({"stringValue": "check web-ready recovered"})
        );
        assert_eq!(attributes(&body)[1], ("check.status".into(), "up".into()));
        let mut expected: Json = serde_json::from_str(OTLP_DOWN).unwrap();
        let fields = &mut expected["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        fields["timeUnixNano"] = json!("1740824160500000000");
        fields["severityNumber"] = json!(9);
        fields["severityText"] = json!("INFO");
        fields["body"] = json!({"stringValue": "check web-ready recovered"});
        fields["attributes"][1]["value"]["stringValue"] = json!("up");
        assert_eq!(body, expected);
    }

    #[test]
    fn otlp_attributes_are_ordered_then_sorted_and_deduplicated() {
        let event = Event {
            labels: map(&[
                ("zone", "b"),
                ("check.name", "label-wins-nothing"),
                ("team", "payments"),
                ("alert.name", "dropped"),
            ]),
            info: map(&[
                ("team", "info-loses-to-label"),
                ("check.status", "dropped"),
                ("runbook", "https://wiki.example.com/runbooks/web"),
                ("a", "first-of-info"),
            ]),
            ..down()
        };
        let body = body_json(&build(AlertFormat::OtlpLogs, &event));
        let expected: Vec<(String, String)> = [
            ("check.name", "web-ready"),
            ("check.status", "down"),
            ("alert.name", "pager"),
            ("team", "payments"),
            ("zone", "b"),
            ("a", "first-of-info"),
            ("runbook", "https://wiki.example.com/runbooks/web"),
        ]
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
        assert_eq!(attributes(&body), expected);
    }

    #[test]
    fn otlp_resource_and_scope_name_the_host_and_version() {
        let built = payload(
            AlertFormat::OtlpLogs,
            &down(),
            None,
            observed(),
            "node-1",
            "0.1.0",
        );
        let body = body_json(&built);
        assert_eq!(
            body["resourceLogs"][0]["resource"],
            json!({"attributes": [
                {"key": "service.name", "value": {"stringValue": "vigild"}},
                {"key": "host.name", "value": {"stringValue": "node-1"}},
            ]})
        );
        assert_eq!(
            body["resourceLogs"][0]["scopeLogs"][0]["scope"],
            json!({"name": "vigild", "version": "0.1.0"})
        );
    }

    // ----- times -----

    #[test]
    fn times_are_utc_with_up_to_nine_fraction_digits() {
        let cases = [
            (Duration::new(1_740_824_130, 0), "2025-03-01T10:15:30Z"),
            (
                Duration::new(1_740_824_130, 1),
                "2025-03-01T10:15:30.000000001Z",
            ),
            (
                Duration::new(1_740_824_130, 120_000_000),
                "2025-03-01T10:15:30.12Z",
            ),
        ];
        for (since_epoch, text) in cases {
            assert_eq!(rfc3339(UNIX_EPOCH + since_epoch), text);
        }
        assert_eq!(unix_nanos(UNIX_EPOCH + Duration::new(1, 5)), "1000000005");
        assert_eq!(unix_nanos(UNIX_EPOCH - Duration::from_secs(1)), "0");
    }
}
