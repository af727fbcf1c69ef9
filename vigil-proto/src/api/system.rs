//! `GET /v1/system-info` and `GET /v1/health` (spec api.md §6.1, §6.2): the
//! two open endpoints that describe the daemon itself.

use serde::{Deserialize, Serialize};

use super::Error;
use super::envelope::{Response, StatusCode};
use super::time::Timestamp;

/// The `result` of `GET /v1/system-info`.
///
/// ```json
/// {"boot-id": "0c6d1d5e-...", "http-address": ":4000", "https-address": ":8443",
///  "version": "1.0.0", "start-time": "2025-03-01T10:00:00.123456789Z"}
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// The kernel's boot id, or a random UUID made once per process when it
    /// cannot be read.
    #[serde(rename = "boot-id")]
    pub boot_id: String,
    /// The plain HTTP listen address as given; omitted when that listener is
    /// off.
    #[serde(
        rename = "http-address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_address: Option<String>,
    /// The HTTPS listen address as given; omitted when that listener is off.
    #[serde(
        rename = "https-address",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub https_address: Option<String>,
    /// vigild's own version.
    #[serde(rename = "version")]
    pub version: String,
    /// When this vigild process started (a vigil extension).
    #[serde(rename = "start-time")]
    pub start_time: Timestamp,
}

/// The `result` of `GET /v1/health`: exactly `{"healthy": bool}`.
///
/// ops' tests compare the whole body, so this type MUST NOT gain fields, even
/// optional ones (§1, §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthInfo {
    /// Whether every selected check is up.
    #[serde(rename = "healthy")]
    pub healthy: bool,
}

impl HealthInfo {
    /// The whole reply: 200 when healthy and 502 when not, `sync` either way.
    #[must_use]
    pub fn into_response(self) -> Response<Self> {
        let status = if self.healthy {
            StatusCode::Ok
        } else {
            StatusCode::BadGateway
        };
        Response::sync_with_status(status, self)
    }
}

/// The `level` query parameter of `GET /v1/health`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthLevel {
    /// `alive`: only `alive` checks count.
    Alive,
    /// `ready`: `alive` and `ready` checks count.
    Ready,
}

impl HealthLevel {
    /// Parses the query value: empty means no level, `alive` and `ready` are
    /// levels (checks-and-alerts.md §8 says what each selects).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHealthLevel`] for any other value.
    pub fn parse_query(value: &str) -> Result<Option<Self>, Error> {
        match value {
            "" => Ok(None),
            "alive" => Ok(Some(Self::Alive)),
            "ready" => Ok(Some(Self::Ready)),
            _ => Err(Error::InvalidHealthLevel),
        }
    }

    /// The level as it is spelled in the query.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::Ready => "ready",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    #[test]
    fn system_info_matches_the_spec_example() {
        let info = SystemInfo {
            boot_id: "0c6d1d5e-3f4a-4b8e-9d2c-5b1f7a8e9c01".into(),
            http_address: Some(":4000".into()),
            https_address: Some(":8443".into()),
            version: "1.0.0".into(),
            start_time: Timestamp::utc(UNIX_EPOCH + Duration::new(1_740_823_200, 123_456_789)),
        };
        let want = json!({
            "boot-id": "0c6d1d5e-3f4a-4b8e-9d2c-5b1f7a8e9c01",
            "http-address": ":4000",
            "https-address": ":8443",
            "version": "1.0.0",
            "start-time": "2025-03-01T10:00:00.123456789Z"
        });
        assert_eq!(serde_json::to_value(&info).unwrap(), want);
        assert_eq!(serde_json::from_value::<SystemInfo>(want).unwrap(), info);
    }

    #[test]
    fn system_info_omits_listeners_that_are_off() {
        let info = SystemInfo {
            boot_id: "b".into(),
            http_address: None,
            https_address: None,
            version: "1.0.0".into(),
            start_time: Timestamp::utc(UNIX_EPOCH),
        };
        let want =
            json!({"boot-id": "b", "version": "1.0.0", "start-time": "1970-01-01T00:00:00Z"});
        assert_eq!(serde_json::to_value(&info).unwrap(), want);
        assert_eq!(serde_json::from_value::<SystemInfo>(want).unwrap(), info);
    }

    #[test]
    fn health_replies_are_exactly_the_spec_bodies() {
        assert_eq!(
            serde_json::to_string(&HealthInfo { healthy: true }.into_response()).unwrap(),
            r#"{"type":"sync","status-code":200,"status":"OK","result":{"healthy":true}}"#
        );
        assert_eq!(
            serde_json::to_string(&HealthInfo { healthy: false }.into_response()).unwrap(),
            r#"{"type":"sync","status-code":502,"status":"Bad Gateway","result":{"healthy":false}}"#
        );
        let back: Response<HealthInfo> = serde_json::from_str(
            r#"{"type":"sync","status-code":502,"status":"Bad Gateway","result":{"healthy":false}}"#,
        )
        .unwrap();
        assert_eq!(back, HealthInfo { healthy: false }.into_response());
    }

    #[test]
    fn health_level_query() {
        assert_eq!(HealthLevel::parse_query(""), Ok(None));
        assert_eq!(
            HealthLevel::parse_query("alive"),
            Ok(Some(HealthLevel::Alive))
        );
        assert_eq!(
            HealthLevel::parse_query("ready"),
            Ok(Some(HealthLevel::Ready))
        );
        assert_eq!(
            HealthLevel::parse_query("Ready"),
            Err(Error::InvalidHealthLevel)
        );
        assert_eq!(HealthLevel::Ready.as_str(), "ready");
    }
}
