//! Connection-level tests: whole exchanges over the in-memory pipe of
//! [`testing`](super::testing), with a fake clock.

use std::time::Duration;

use serde_json::json;
use vigil_proto::api::StatusCode;

use super::limits::{
    BODY_TIMEOUT, HEAD_TIMEOUT, IDLE_TIMEOUT, LINGER_TIMEOUT, MAX_BLANK_LINES, MAX_BODY,
    MAX_HEADER_SECTION, MAX_REQUEST_LINE, READ_BUFFER_LIMIT, STREAM_BUFFER_LIMIT,
    WRITE_STALL_TIMEOUT,
};
use super::testing::{Driver, WireResponse, parse_responses};
use super::{CloseReason, Interest, JSON, RequestError, Response, SendError, Version};

fn ok(body: &str) -> Response {
    Response::new(StatusCode::Ok, "text/plain", body.as_bytes().to_vec())
}

fn responses(driver: &mut Driver) -> Vec<WireResponse> {
    parse_responses(driver.output().as_bytes())
}

fn only_response(driver: &mut Driver) -> WireResponse {
    let mut all = responses(driver);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn assert_refused(driver: &mut Driver, code: u16, status_line: &str, message: &str) {
    let response = only_response(driver);
    assert_eq!(response.status_line, status_line);
    assert_eq!(response.code, code);
    assert_eq!(response.header("content-type"), Some(JSON));
    assert_eq!(response.header("connection"), Some("close"));
    let reason = status_line.splitn(3, ' ').nth(2).unwrap();
    assert_eq!(
        response.json(),
        json!({"type": "error", "status-code": code, "status": reason,
               "result": {"message": message}})
    );
}

const GET: &str = "GET /v1/services HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[test]
fn request_split_into_single_bytes() {
    let text = "POST /v1/services?names=a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    let mut driver = Driver::new();
    for (index, byte) in text.bytes().enumerate() {
        assert!(
            driver.connection.next_request().is_none(),
            "complete after {index} bytes"
        );
        driver.send([byte]);
    }
    let request = driver.request();
    assert_eq!(request.method(), "POST");
    assert_eq!(request.path(), "/v1/services");
    assert_eq!(request.query_value("names"), Some("a"));
    assert_eq!(request.body(), b"hello");
}

#[test]
fn one_byte_reads_are_drained_in_one_turn() {
    let mut driver = Driver::new();
    driver.io.read_size = 1;
    driver.io.inbound.extend(GET.as_bytes());
    driver.connection.read_from(&mut driver.io, driver.now);
    assert_eq!(driver.io.reads, GET.len() + 1, "drained until WouldBlock");
    assert_eq!(driver.request().path(), "/v1/services");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut driver = Driver::new();
    driver.send(format!(
        "{GET}POST /v1/services HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}GET /third HTTP/1.1\r\n\r\n"
    ));
    let first = driver.request();
    assert_eq!(first.method(), "GET");
    // One at a time: nothing more until the first is answered.
    assert!(driver.connection.next_request().is_none());
    assert!(driver.connection.is_awaiting_response());
    driver.respond(ok("one"));

    let second = driver.request();
    assert_eq!((second.method(), second.body()), ("POST", &b"{}"[..]));
    driver.respond(ok("two"));
    assert_eq!(driver.request().path(), "/third");
    driver.respond(ok("three"));

    let bodies: Vec<_> = responses(&mut driver)
        .into_iter()
        .map(|response| String::from_utf8(response.body).unwrap())
        .collect();
    assert_eq!(bodies, ["one", "two", "three"]);
    assert!(!driver.connection.closed());
}

#[test]
fn http_1_1_keeps_the_connection_alive() {
    let mut driver = Driver::new();
    driver.send(GET);
    driver.request();
    driver.respond(ok("x"));
    let response = only_response(&mut driver);
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.header("connection"), None);
    assert_eq!(response.header("content-length"), Some("1"));
    assert!(!driver.connection.closed());
    assert_eq!(
        driver.connection.interest(),
        Interest {
            read: true,
            write: false
        }
    );

    driver.send(GET);
    driver.request();
}

#[test]
fn connection_close_is_honoured() {
    let mut driver = Driver::new();
    driver.send(format!("GET / HTTP/1.1\r\nConnection: close\r\n\r\n{GET}"));
    driver.request();
    driver.respond(ok("x"));
    let response = only_response(&mut driver);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::Finished)
    ));
    // The pipelined request after `Connection: close` is never served.
    assert!(driver.connection.next_request().is_none());
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let mut driver = Driver::new();
    driver.send("GET / HTTP/1.0\r\n\r\n");
    assert_eq!(driver.request().version(), Version::Http10);
    driver.respond(ok("x"));
    let response = only_response(&mut driver);
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.header("connection"), Some("close"));
    assert!(driver.connection.closed());

    let mut driver = Driver::new();
    driver.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    driver.request();
    driver.respond(ok("x"));
    assert_eq!(
        only_response(&mut driver).header("connection"),
        Some("keep-alive")
    );
    assert!(!driver.connection.closed());
}

#[test]
fn a_response_can_force_the_close() {
    let mut driver = Driver::new();
    driver.send(GET);
    driver.request();
    driver.respond(ok("bye").with_close());
    assert_eq!(
        only_response(&mut driver).header("connection"),
        Some("close")
    );
    assert!(driver.connection.closed());
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let mut driver = Driver::new();
    driver.io.read_size = 3;
    driver.send(
        "POST /v1/files HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
         4;name=\"quoted value\"\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n\
         0;final\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
    );
    let request = driver.request();
    assert_eq!(request.body(), b"Wikipedia in\r\n\r\nchunks.");
    driver.respond(ok("x"));
    assert_eq!(only_response(&mut driver).code, 200);
    assert!(!driver.connection.closed());
}

#[test]
fn content_length_body_arriving_late() {
    let mut driver = Driver::new();
    driver.send("POST /v1/layers HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234");
    assert!(driver.connection.next_request().is_none());
    // The body timer counts inactivity, so a slow upload that keeps moving
    // never trips it.
    driver.advance(BODY_TIMEOUT - Duration::from_secs(1));
    driver.send("567");
    driver.advance(BODY_TIMEOUT - Duration::from_secs(1));
    assert!(driver.connection.next_request().is_none());
    assert!(!driver.connection.closed());
    driver.send("89");
    assert_eq!(driver.request().body(), b"0123456789");
}

#[test]
fn body_timeout_closes_silently() {
    let mut driver = Driver::new();
    driver.send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n012");
    assert_eq!(driver.advance_to_deadline(), BODY_TIMEOUT);
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::BodyTimeout)
    ));
    assert_eq!(driver.output(), "");
}

#[test]
fn oversized_header_section_gets_431() {
    let mut driver = Driver::new();
    driver.send(format!(
        "GET / HTTP/1.1\r\nCookie: {}\r\n\r\n",
        "c".repeat(MAX_HEADER_SECTION)
    ));
    assert_refused(
        &mut driver,
        431,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "request headers too large",
    );
    assert!(driver.connection.next_request().is_none());
    driver.shut_down_client();
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::BadRequest(RequestError::HeaderSectionTooLarge))
    ));
}

#[test]
fn a_header_section_that_never_ends_is_refused_at_the_bound() {
    // Header bytes keep coming without a blank line: refused once they pass
    // the limit, and the read buffer never holds more than its bound.
    let mut driver = Driver::new();
    driver.send("GET / HTTP/1.1\r\n");
    let line = format!("X-Filler: {}\r\n", "f".repeat(1000));
    while driver.io.outbound.is_empty() {
        driver.send(&line);
        assert!(driver.io.inbound.len() <= READ_BUFFER_LIMIT);
    }
    assert_refused(
        &mut driver,
        431,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "request headers too large",
    );
}

#[test]
fn oversized_body_gets_413_before_it_is_read() {
    let mut driver = Driver::new();
    driver.send(format!(
        "POST /v1/layers HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    ));
    assert_refused(
        &mut driver,
        413,
        "HTTP/1.1 413 Request Entity Too Large",
        "request body too large",
    );
}

#[test]
fn oversized_chunked_body_gets_413() {
    let mut driver = Driver::new();
    driver.send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "b".repeat(1 << 20));
    for _ in 0..4 {
        driver.send(&chunk);
        assert!(driver.io.outbound.is_empty(), "4 MiB is still allowed");
    }
    driver.send("1\r\nx\r\n");
    assert_refused(
        &mut driver,
        413,
        "HTTP/1.1 413 Request Entity Too Large",
        "request body too large",
    );
}

#[test]
fn too_long_request_line_gets_414() {
    let mut driver = Driver::new();
    driver.send(format!(
        "GET /v1/files?path={} HTTP/1.1\r\n\r\n",
        "a".repeat(MAX_REQUEST_LINE)
    ));
    assert_refused(
        &mut driver,
        414,
        "HTTP/1.1 414 Request URI Too Long",
        "request line too long",
    );
}

#[test]
fn garbage_gets_400_then_close() {
    let mut driver = Driver::new();
    driver.send("\u{1}\u{2} this is not http\r\n\r\n");
    assert_refused(
        &mut driver,
        400,
        "HTTP/1.1 400 Bad Request",
        "malformed HTTP request",
    );
    // The connection lingers to let the client read the reply, then closes
    // when the client does.
    assert!(!driver.connection.closed());
    driver.shut_down_client();
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::BadRequest(RequestError::Malformed(_)))
    ));
}

#[test]
fn bad_framing_gets_400() {
    for fields in [
        "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length: nope\r\n",
        "Transfer-Encoding: gzip\r\n",
    ] {
        let mut driver = Driver::new();
        driver.send(format!("POST / HTTP/1.1\r\n{fields}\r\nabc"));
        assert_refused(
            &mut driver,
            400,
            "HTTP/1.1 400 Bad Request",
            "malformed HTTP request",
        );
    }
    let mut driver = Driver::new();
    driver.send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    assert_refused(
        &mut driver,
        400,
        "HTTP/1.1 400 Bad Request",
        "malformed HTTP request",
    );
}

#[test]
fn lingering_close_discards_input_then_ends() {
    let mut driver = Driver::new();
    driver.send(format!(
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    ));
    assert_eq!(only_response(&mut driver).code, 413);
    // The client goes on sending its body: read and thrown away.
    driver.send(vec![b'x'; 100_000]);
    assert!(driver.io.inbound.is_empty());
    assert!(!driver.connection.closed());
    assert_eq!(driver.advance_to_deadline(), LINGER_TIMEOUT);
    assert!(driver.connection.closed());
}

#[test]
fn head_timeout_gets_408_and_close() {
    let mut driver = Driver::new();
    driver.send("GET /v1/services HTTP/1.1\r\nHost:");
    assert_eq!(driver.advance_to_deadline(), HEAD_TIMEOUT);
    assert_refused(
        &mut driver,
        408,
        "HTTP/1.1 408 Request Timeout",
        "request timeout",
    );
    driver.advance(LINGER_TIMEOUT);
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::BadRequest(RequestError::HeadTimeout))
    ));
}

#[test]
fn head_timeout_counts_from_the_first_byte() {
    let mut driver = Driver::new();
    driver.advance(Duration::from_secs(100));
    driver.send("G");
    assert_eq!(
        driver.connection.deadline(),
        Some(driver.now + HEAD_TIMEOUT)
    );
    driver.advance(HEAD_TIMEOUT - Duration::from_millis(1));
    assert!(driver.io.outbound.is_empty());
    driver.advance(Duration::from_millis(1));
    assert_eq!(only_response(&mut driver).code, 408);
}

#[test]
fn idle_timeout_closes_silently() {
    let mut driver = Driver::new();
    assert_eq!(
        driver.connection.deadline(),
        Some(driver.now + IDLE_TIMEOUT)
    );
    driver.send(GET);
    driver.request();
    driver.advance(Duration::from_secs(500));
    assert!(
        !driver.connection.closed(),
        "no idle timer while a request waits"
    );
    driver.respond(ok("x"));
    driver.output();
    driver.advance(IDLE_TIMEOUT - Duration::from_secs(1));
    assert!(!driver.connection.closed());
    driver.advance(Duration::from_secs(1));
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::IdleTimeout)
    ));
    assert_eq!(driver.output(), "", "closed without a reply");
}

#[test]
fn blank_lines_before_a_request_are_ignored() {
    let mut driver = Driver::new();
    driver.send("\r\n\r\n");
    driver.advance(IDLE_TIMEOUT / 2);
    driver.send("\r\n");
    assert!(driver.io.outbound.is_empty());
    // They neither start the head timer nor hold off the idle one.
    driver.advance(IDLE_TIMEOUT / 2);
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::IdleTimeout)
    ));

    // A few are fine between pipelined requests...
    let mut driver = Driver::new();
    driver.send(format!("{GET}\r\n{GET}"));
    driver.request();
    driver.respond(ok("x"));
    driver.request();

    // ...but a flood of them is refused rather than read for ever.
    let mut driver = Driver::new();
    driver.send("\r\n".repeat(MAX_BLANK_LINES));
    assert_refused(
        &mut driver,
        400,
        "HTTP/1.1 400 Bad Request",
        "malformed HTTP request",
    );
}

#[test]
fn peer_closing_between_requests_ends_the_connection() {
    let mut driver = Driver::new();
    driver.send(GET);
    driver.request();
    driver.respond(ok("x"));
    driver.shut_down_client();
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::Finished)
    ));
}

#[test]
fn half_closed_client_still_gets_its_reply() {
    let mut driver = Driver::new();
    driver.io.inbound.extend(GET.as_bytes());
    driver.shut_down_client();
    let request = driver.request();
    assert_eq!(request.path(), "/v1/services");
    // Parked with the peer gone: reported closed...
    assert!(driver.connection.closed());
    // ...but answering at once still works, and the reply goes out.
    driver.respond(ok("late"));
    assert_eq!(only_response(&mut driver).body, b"late");
    assert!(driver.connection.closed());
}

#[test]
fn parked_request_notices_the_peer_closing() {
    let mut driver = Driver::new();
    driver.send("GET /v1/changes/1/wait?timeout=10m HTTP/1.1\r\n\r\n");
    driver.request();
    assert!(!driver.connection.closed());
    assert!(driver.connection.interest().read, "still watching the peer");
    // Pipelined bytes are buffered but not parsed while a request is parked.
    driver.send(GET);
    assert!(driver.connection.next_request().is_none());
    driver.shut_down_client();
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::PeerClosed)
    ));
    driver.connection.close();
    assert_eq!(
        driver.connection.respond(ok("x"), driver.now),
        Err(SendError::Closed)
    );
}

#[test]
fn parked_request_with_full_buffer_stops_reading_then_resumes() {
    let mut driver = Driver::new();
    driver.send(GET);
    driver.request();
    let head = "POST /next HTTP/1.1\r\nContent-Length: 100000\r\n\r\n";
    driver.send(format!("{head}{}", "b".repeat(100_000)));
    assert_eq!(
        driver.io.inbound.len(),
        head.len() + 100_000 - READ_BUFFER_LIMIT,
        "stopped at the bound"
    );
    assert!(driver.connection.interest().is_empty());
    assert!(!driver.connection.read_pending(), "no room yet");
    // A stray event while full reads nothing.
    let reads = driver.io.reads;
    driver.io.readable = true;
    driver.pump();
    assert_eq!(driver.io.reads, reads);
    // Answering frees the buffer, and reading resumes without a new event
    // (read_pending): the next request comes in whole.
    driver.respond(ok("x"));
    assert!(driver.io.inbound.is_empty());
    let next = driver.request();
    assert_eq!((next.path(), next.body().len()), ("/next", 100_000));
}

#[test]
fn partial_request_then_close_drops_it() {
    let mut driver = Driver::new();
    driver.send("POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc");
    driver.shut_down_client();
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::PeerClosed)
    ));
}

#[test]
fn write_back_pressure() {
    let mut driver = Driver::new();
    driver.io.write_room = Some(0);
    driver.send(GET);
    driver.request();
    driver.respond(ok(&"r".repeat(100_000)));
    assert!(driver.io.outbound.is_empty());
    assert_eq!(
        driver.connection.interest(),
        Interest {
            read: true,
            write: true
        }
    );
    // Partial progress keeps the output queued and the interest on.
    driver.advance(WRITE_STALL_TIMEOUT / 2);
    driver.io.write_room = Some(1000);
    driver.pump();
    assert_eq!(driver.io.outbound.len(), 1000);
    assert!(driver.connection.wants_write());
    // A client that stops reading is dropped after the write stall timeout,
    // counted from its last progress.
    driver.advance(WRITE_STALL_TIMEOUT - Duration::from_secs(1));
    assert!(!driver.connection.closed());
    driver.advance(Duration::from_secs(1));
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::WriteStalled)
    ));
}

#[test]
fn stream_output_is_bounded() {
    let mut driver = Driver::new();
    driver.io.write_room = Some(0);
    driver.send("GET /v1/logs?follow=true HTTP/1.1\r\n\r\n");
    driver.request();
    driver
        .connection
        .start_stream(StatusCode::Ok, "application/x-ndjson", driver.now)
        .unwrap();
    let line = vec![b'l'; 1000];
    let mut accepted = 0;
    while driver.connection.can_accept(line.len()) {
        driver.connection.send_chunk(&line, driver.now).unwrap();
        accepted += 1;
    }
    assert_eq!(
        driver.connection.send_chunk(&line, driver.now),
        Err(SendError::Full)
    );
    let backlog = driver.connection.stream_backlog();
    assert!(backlog <= STREAM_BUFFER_LIMIT);
    assert!(backlog > STREAM_BUFFER_LIMIT - 1010, "{backlog}");
    assert!(accepted > 1000);
    assert!(driver.connection.interest().write);
    // The client reads: room again.
    driver.io.write_room = None;
    driver.pump();
    assert_eq!(driver.connection.stream_backlog(), 0);
    assert!(driver.connection.can_accept(line.len()));
    driver.connection.send_chunk(&line, driver.now).unwrap();
}

#[test]
fn streaming_chunks_and_terminator() {
    let mut driver = Driver::new();
    driver.send("GET /v1/logs?follow=true HTTP/1.1\r\n\r\n");
    driver.request();
    let connection = &mut driver.connection;
    connection
        .start_stream(StatusCode::Ok, "application/x-ndjson", driver.now)
        .unwrap();
    connection.send_chunk(b"{\"n\":1}\n", driver.now).unwrap();
    connection.send_chunk(b"", driver.now).unwrap();
    connection.send_chunk(&[b'z'; 300], driver.now).unwrap();
    driver.pump();
    let so_far = driver.output();
    assert_eq!(
        so_far,
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n\
             8\r\n{{\"n\":1}}\n\r\n12c\r\n{}\r\n",
            "z".repeat(300)
        )
    );
    assert!(driver.connection.is_streaming());
    driver.connection.end_stream(driver.now).unwrap();
    driver.pump();
    assert_eq!(driver.output(), "0\r\n\r\n");
    assert!(!driver.connection.closed(), "keep-alive after a stream");
    assert_eq!(
        driver.connection.send_chunk(b"x", driver.now),
        Err(SendError::NoStream)
    );
    driver.send(GET);
    driver.request();
}

#[test]
fn stream_to_http_1_0_ends_with_the_connection() {
    let mut driver = Driver::new();
    driver.send("GET /v1/logs HTTP/1.0\r\n\r\n");
    driver.request();
    driver
        .connection
        .start_stream(StatusCode::Ok, "application/x-ndjson", driver.now)
        .unwrap();
    driver.connection.send_chunk(b"line\n", driver.now).unwrap();
    driver.connection.end_stream(driver.now).unwrap();
    driver.pump();
    assert_eq!(
        driver.output(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\nline\n"
    );
    assert!(driver.connection.closed());
}

#[test]
fn stream_follower_going_away_is_reported() {
    let mut driver = Driver::new();
    driver.send("GET /v1/logs?follow=true HTTP/1.1\r\n\r\n");
    driver.request();
    driver
        .connection
        .start_stream(StatusCode::Ok, "application/x-ndjson", driver.now)
        .unwrap();
    driver.shut_down_client();
    assert!(driver.connection.closed());
    assert!(!driver.connection.can_accept(1));
    assert_eq!(
        driver.connection.send_chunk(b"x", driver.now),
        Err(SendError::Closed)
    );
}

#[test]
fn percent_decoding_through_the_connection() {
    let mut driver = Driver::new();
    driver.send("GET /v1/files%2Fx?path=%2Ftmp%2Fa+b&names=a,b&names=c HTTP/1.1\r\n\r\n");
    let request = driver.request();
    assert_eq!(request.path(), "/v1/files/x");
    assert_eq!(request.query_value("path"), Some("/tmp/a b"));
    assert_eq!(request.query_list("names"), ["a", "b", "c"]);

    let mut driver = Driver::new();
    driver.send("GET /v1/%zz HTTP/1.1\r\n\r\n");
    assert_refused(
        &mut driver,
        400,
        "HTTP/1.1 400 Bad Request",
        "malformed HTTP request",
    );
}

#[test]
fn expect_100_continue() {
    let mut driver = Driver::new();
    driver.send("POST /v1/layers HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    assert_eq!(driver.output(), "HTTP/1.1 100 Continue\r\n\r\n");
    driver.send("body");
    assert_eq!(driver.request().body(), b"body");
    driver.respond(ok("x"));
    assert_eq!(only_response(&mut driver).status_line, "HTTP/1.1 200 OK");
}

#[test]
fn expect_100_continue_skipped_when_refused_or_body_already_sent() {
    // Refused from the head alone: the 413, and no 100.
    let mut driver = Driver::new();
    driver.send(format!(
        "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    ));
    let all = responses(&mut driver);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].code, 413);

    // The client did not wait: no 100 needed.
    let mut driver = Driver::new();
    driver.send("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
    driver.request();
    assert_eq!(driver.output(), "");

    // HTTP/1.0 clients never get one.
    let mut driver = Driver::new();
    driver.send("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(driver.output(), "");
}

#[test]
fn reason_phrases_are_exact() {
    for status in StatusCode::ALL {
        let mut driver = Driver::new();
        driver.send(GET);
        driver.request();
        driver.respond(Response::error(status, "x"));
        let response = only_response(&mut driver);
        assert_eq!(
            response.status_line,
            format!("HTTP/1.1 {} {}", status.code(), status.reason())
        );
        assert_eq!(response.json()["status"], status.reason());
    }
    let mut driver = Driver::new();
    driver.send(GET);
    driver.request();
    driver.respond(Response::error(
        StatusCode::NotFound,
        "invalid API endpoint requested",
    ));
    assert!(driver.output().starts_with("HTTP/1.1 404 Not Found\r\n"));
}

#[test]
fn head_requests_get_no_body() {
    let mut driver = Driver::new();
    driver.send("HEAD /v1/health HTTP/1.1\r\n\r\n");
    driver.request();
    driver.respond(ok("twelve bytes"));
    assert_eq!(
        driver.output(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
    );
}

#[test]
fn commands_out_of_turn_are_refused() {
    let mut driver = Driver::new();
    assert_eq!(
        driver.connection.respond(ok("x"), driver.now),
        Err(SendError::NoRequest)
    );
    assert_eq!(
        driver
            .connection
            .start_stream(StatusCode::Ok, JSON, driver.now),
        Err(SendError::NoRequest)
    );
    assert_eq!(
        driver.connection.end_stream(driver.now),
        Err(SendError::NoStream)
    );
    driver.send(GET);
    driver.request();
    driver.respond(ok("x"));
    assert_eq!(
        driver.connection.respond(ok("again"), driver.now),
        Err(SendError::NoRequest)
    );
    assert!(!driver.connection.can_accept(1));
}

#[test]
fn io_errors_close() {
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::ConnectionReset.into())
        }
    }
    let mut driver = Driver::new();
    driver.connection.read_from(&mut Broken, driver.now);
    assert!(driver.connection.closed());
    assert!(matches!(
        driver.connection.close_reason(),
        Some(CloseReason::Io(error)) if error.kind() == std::io::ErrorKind::ConnectionReset
    ));
    assert_eq!(driver.connection.deadline(), None);
    assert!(driver.connection.interest().is_empty());
}

#[test]
fn spurious_timeouts_do_nothing() {
    let mut driver = Driver::new();
    driver.send("GET / HTTP/1.1\r\n");
    driver.connection.handle_timeout(driver.now);
    driver
        .connection
        .handle_timeout(driver.now + Duration::from_secs(1));
    assert!(driver.io.outbound.is_empty());
    assert!(!driver.connection.closed());
    driver.send("\r\n");
    driver.request();
}

#[test]
fn peer_is_kept_for_the_api_layer() {
    use super::{Connection, Credentials, Peer};
    let peer = Peer::local(Credentials {
        uid: 1000,
        gid: 100,
        pid: 4242,
    });
    let connection = Connection::new(peer.clone(), std::time::Instant::now());
    assert_eq!(connection.peer(), &peer);
    assert_eq!(
        (peer.uid(), peer.gid(), peer.pid()),
        (Some(1000), Some(100), Some(4242))
    );
    assert_eq!(Peer::remote().uid(), None);
}

#[test]
fn request_helper_for_handler_tests() {
    let request = super::testing::request(
        "POST /v1/services HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"action\":\"stop\"}",
    );
    assert_eq!(request.header("content-type"), Some(JSON));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(request.body()).unwrap(),
        json!({"action": "stop"})
    );
}
