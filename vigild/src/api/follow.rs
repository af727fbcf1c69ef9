//! `GET /v1/logs/follow` (api.md §6.9, ext): the backlog of `n` entries,
//! then live ones, as Server-Sent Events or ndjson.
//!
//! The handler only checks the query: the reactor parks the stream on the
//! connection, and `reactor/connections.rs` feeds it, pings it and reports
//! what a slow reader missed.

use vigil_proto::api::{FollowFormat, LogCount};

use super::{Reply, bad_request};
use crate::http::Request;
use crate::logs::{ServiceFilter, StreamFormat};

/// Parses `services`, `n` (default 0) and `format` (default `json`).
pub(super) fn follow(request: &Request) -> Reply {
    let format = match FollowFormat::parse_query(request.query_value("format").unwrap_or("")) {
        Ok(format) => format,
        Err(e) => return bad_request(e.to_string()),
    };
    let count = match LogCount::parse_query(request.query_value("n").unwrap_or("")) {
        Ok(count) => count.unwrap_or(LogCount::Last(0)),
        Err(e) => return bad_request(e.to_string()),
    };
    Reply::Logs {
        filter: ServiceFilter::from_names(request.query_list("services")),
        count,
        follow: true,
        format: StreamFormat::Follow(format),
    }
}
