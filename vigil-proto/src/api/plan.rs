//! `GET /v1/plan` and `POST /v1/layers` (spec api.md §6.6, §6.7).
//!
//! The plan's reply is a YAML string and needs no type. The layers body keeps
//! `action` and `format` as sent, so that a wrong value reaches the handler
//! and gets Pebble's `invalid action "x"` or `invalid format "x"` reply.

use serde::{Deserialize, Serialize};

use super::null_as_default;

/// The body of `POST /v1/layers`:
///
/// ```json
/// {"action": "add", "label": "web", "combine": true, "inner": false, "format": "yaml",
///  "layer": "services:\n  web:\n    command: webd\n"}
/// ```
///
/// A missing or `null` field reads as empty or false. Its result is `true`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayersRequest {
    /// Only `add` is known.
    #[serde(rename = "action", default, deserialize_with = "null_as_default")]
    pub action: String,
    /// Merge into an existing layer of the same label instead of refusing.
    #[serde(rename = "combine", default, deserialize_with = "null_as_default")]
    pub combine: bool,
    /// A `dir/sub` label goes after the last layer of `dir`.
    #[serde(rename = "inner", default, deserialize_with = "null_as_default")]
    pub inner: bool,
    /// The layer's label.
    #[serde(rename = "label", default, deserialize_with = "null_as_default")]
    pub label: String,
    /// Only `yaml` is known.
    #[serde(rename = "format", default, deserialize_with = "null_as_default")]
    pub format: String,
    /// The layer's YAML text.
    #[serde(rename = "layer", default, deserialize_with = "null_as_default")]
    pub layer: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn layers_request_matches_the_spec_example() {
        let want = json!({"action": "add", "label": "web", "combine": true, "inner": false,
                          "format": "yaml", "layer": "services: {}\n"});
        let request: LayersRequest = serde_json::from_value(want.clone()).unwrap();
        assert_eq!(
            request,
            LayersRequest {
                action: "add".into(),
                combine: true,
                inner: false,
                label: "web".into(),
                format: "yaml".into(),
                layer: "services: {}\n".into(),
            }
        );
        assert_eq!(serde_json::to_value(&request).unwrap(), want);
        let sparse: LayersRequest =
            serde_json::from_value(json!({"action": "add", "combine": null})).unwrap();
        assert!(!sparse.combine && sparse.label.is_empty());
    }
}
