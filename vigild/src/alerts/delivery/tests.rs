//! Delivery against real receivers and proxies on 127.0.0.1: small
//! HTTP/1.1 servers on std threads, each wait bounded by [`WAIT`].

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};

use super::*;

/// How long a test waits for something that should happen.
const WAIT: Duration = Duration::from_secs(10);

/// How long a test watches for something that should not happen.
const QUIET: Duration = Duration::from_millis(300);

/// What a test server does with one request.
enum Action {
    /// Answers at once with this whole reply.
    Reply(String),
    /// Answers once [`Server::release`] is called (or after [`WAIT`]).
    Gated(String),
    /// Never answers; holds the connection until the client goes.
    Hang,
}

/// One request as a test server read it.
struct Seen {
    /// The request line, without its CRLF.
    line: String,
    /// The whole head.
    head: String,
    body: String,
    at: Instant,
}

impl Seen {
    /// The header lines of the head, in order, each as `name: value` with
    /// the name in lower case.
    fn headers(&self) -> Vec<String> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| format!("{}: {}", name.to_ascii_lowercase(), value.trim()))
            .collect()
    }

    fn header(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}: ");
        self.headers()
            .iter()
            .filter_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }
}

/// A test server on 127.0.0.1 that answers each request as its script says
/// and reports what it read.
struct Server {
    port: u16,
    seen: Receiver<Seen>,
    gate: mpsc::Sender<()>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Serves requests until dropped; `script(n)` decides about the `n`th
    /// request (from 0), over TLS with `tls`.
    fn start(
        tls: Option<Arc<rustls::ServerConfig>>,
        script: impl Fn(usize) -> Action + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen_sender, seen) = mpsc::channel();
        let (gate, gate_receiver) = mpsc::channel::<()>();
        let gate_receiver = Arc::new(Mutex::new(gate_receiver));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let script: Arc<dyn Fn(usize) -> Action + Send + Sync> = Arc::new(script);
        let count = Arc::new(AtomicUsize::new(0));
        thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let stream = match listener.accept() {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let tls = tls.clone();
                let context = Connection {
                    seen: seen_sender.clone(),
                    gate: Arc::clone(&gate_receiver),
                    script: Arc::clone(&script),
                    count: Arc::clone(&count),
                };
                thread::spawn(move || {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(WAIT)).unwrap();
                    stream.set_write_timeout(Some(WAIT)).unwrap();
                    match tls {
                        None => context.serve(stream),
                        Some(config) => {
                            let connection = rustls::ServerConnection::new(config).unwrap();
                            context.serve(rustls::StreamOwned::new(connection, stream));
                        }
                    }
                });
            }
        });
        Server {
            port,
            seen,
            gate,
            stop,
        }
    }

    /// A server that answers every request with `reply`.
    fn always(reply: String) -> Server {
        Server::start(None, move |_| Action::Reply(reply.clone()))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next request it read.
    fn next(&self) -> Seen {
        self.seen.recv_timeout(WAIT).expect("a request")
    }

    /// Asserts that no further request comes for a while.
    fn assert_quiet(&self) {
        match self.seen.recv_timeout(QUIET) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(seen) => panic!("unexpected request {:?}", seen.line),
            Err(RecvTimeoutError::Disconnected) => panic!("the server stopped"),
        }
    }

    /// Lets one [`Action::Gated`] reply go.
    fn release(&self) {
        self.gate.send(()).unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What a server's connection thread needs.
struct Connection {
    seen: mpsc::Sender<Seen>,
    gate: Arc<Mutex<Receiver<()>>>,
    script: Arc<dyn Fn(usize) -> Action + Send + Sync>,
    count: Arc<AtomicUsize>,
}

impl Connection {
    /// Reads one request, reports it and acts on it.
    fn serve(&self, stream: impl Read + Write) {
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let index = self.count.fetch_add(1, Ordering::SeqCst);
        let _ = self.seen.send(Seen {
            line: head.lines().next().unwrap_or_default().to_owned(),
            head: head.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        let mut stream = reader.into_inner();
        match (self.script)(index) {
            Action::Reply(reply) => {
                let _ = stream.write_all(reply.as_bytes());
                let _ = stream.flush();
            }
            Action::Gated(reply) => {
                let _ = self.gate.lock().unwrap().recv_timeout(WAIT);
                let _ = stream.write_all(reply.as_bytes());
                let _ = stream.flush();
            }
            Action::Hang => {
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink);
            }
        }
    }
}

/// A whole HTTP/1.1 reply that closes the connection.
fn reply(status: &str, headers: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n{headers}\r\nok")
}

fn ok() -> String {
    reply("200 OK", "")
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A job of `alert` to `url` with one attempt and a short backoff.
fn job(alert: &str, url: String) -> Job {
    Job {
        alert: alert.to_owned(),
        url: Ok(url),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), "vigild/test".into()),
        ],
        body: b"{}".to_vec(),
        tls_insecure: false,
        tls_ca: None,
        proxy: None,
        proxy_ca: None,
        no_proxy: None,
        attempts: 1,
        backoff: vec![Duration::from_millis(10)],
        timeout: Duration::from_secs(5),
        created: Instant::now(),
        repost: false,
    }
}

fn with_body(mut job: Job, body: &str) -> Job {
    job.body = body.as_bytes().to_vec();
    job
}

/// A [`Delivery`] with no proxy variables, and its outcomes as they come.
struct Harness {
    delivery: Delivery,
    wakes: Receiver<()>,
    pending: VecDeque<Outcome>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with_env(&[])
    }

    fn with_env(vars: &[(&str, &str)]) -> Harness {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let (wake, wakes) = mpsc::channel();
        let delivery = Delivery::with_env(
            Box::new(move || {
                let _ = wake.send(());
            }),
            move |name: &str| {
                vars.iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.clone())
            },
        )
        .unwrap();
        Harness {
            delivery,
            wakes,
            pending: VecDeque::new(),
        }
    }

    /// The next outcome, waiting for its wake.
    fn outcome(&mut self) -> Outcome {
        let deadline = Instant::now() + WAIT;
        loop {
            self.pending.extend(self.delivery.outcomes());
            if let Some(outcome) = self.pending.pop_front() {
                return outcome;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no outcome within {WAIT:?}");
            let _ = self.wakes.recv_timeout(left);
        }
    }

    fn assert_no_outcome(&mut self) {
        let _ = self.wakes.recv_timeout(QUIET);
        self.pending.extend(self.delivery.outcomes());
        assert!(self.pending.is_empty(), "unexpected {:?}", self.pending);
    }
}

fn error(outcome: &Outcome) -> &str {
    outcome.result.as_ref().expect_err("a failure")
}

// ---- Outcomes and retries.

#[test]
fn a_2xx_is_delivered_once() {
    let server = Server::always(ok());
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/hook"));
    sent.attempts = 3;
    sent.repost = true;
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(outcome.alert, "pager");
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.attempts, 1);
    assert!(outcome.repost);
    let seen = server.next();
    assert_eq!(seen.line, "POST /hook HTTP/1.1");
    assert_eq!(seen.body, "{}");
    server.assert_quiet();
}

#[test]
fn a_5xx_is_retried_until_it_succeeds() {
    let server = Server::start(None, |n| match n {
        0 | 1 => Action::Reply(reply("503 Service Unavailable", "")),
        _ => Action::Reply(ok()),
    });
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/"));
    sent.attempts = 5;
    sent.backoff = vec![Duration::from_millis(50), Duration::from_millis(100)];
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.attempts, 3);
    let first = server.next();
    let second = server.next();
    let third = server.next();
    // retry-backoff[0], then retry-backoff[1].
    assert!(second.at - first.at >= Duration::from_millis(50));
    assert!(third.at - second.at >= Duration::from_millis(100));
    server.assert_quiet();
}

#[test]
fn the_last_error_of_a_failed_job_is_reported() {
    let server = Server::always(reply("500 Internal Server Error", ""));
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/"));
    sent.attempts = 2;
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(error(&outcome), "HTTP 500");
    assert_eq!(outcome.attempts, 2);
}

#[test]
fn a_4xx_fails_at_once() {
    let server = Server::always(reply("400 Bad Request", ""));
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/"));
    sent.attempts = 3;
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(error(&outcome), "HTTP 400");
    assert_eq!(outcome.attempts, 1);
    server.next();
    server.assert_quiet();
}

#[test]
fn a_redirect_is_a_failure_and_is_not_followed() {
    let server = Server::always(reply("302 Found", "Location: /elsewhere\r\n"));
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/"));
    sent.attempts = 3;
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(error(&outcome), "HTTP 302");
    assert_eq!(outcome.attempts, 1);
    server.next();
    server.assert_quiet();
}

#[test]
fn a_429_waits_for_its_retry_after() {
    let server = Server::start(None, |n| match n {
        0 => Action::Reply(reply("429 Too Many Requests", "Retry-After: 1\r\n")),
        _ => Action::Reply(ok()),
    });
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/"));
    sent.attempts = 2;
    sent.backoff = vec![Duration::from_millis(10)];
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(outcome.attempts, 2);
    let first = server.next();
    let second = server.next();
    assert!(
        second.at - first.at >= Duration::from_secs(1),
        "{:?}",
        second.at - first.at
    );
}

#[test]
fn a_refused_connection_is_retried_then_fails() {
    let port = closed_port();
    let mut harness = Harness::new();
    let mut sent = job("pager", format!("http://127.0.0.1:{port}/"));
    sent.attempts = 3;
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(
        error(&outcome),
        format!("dial tcp 127.0.0.1:{port}: connect: connection refused")
    );
    assert_eq!(outcome.attempts, 3);
}

#[test]
fn a_receiver_that_never_answers_times_out() {
    let server = Server::start(None, |_| Action::Hang);
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/"));
    sent.timeout = Duration::from_millis(300);
    let started = Instant::now();
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(error(&outcome), "timed out after 300ms");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn an_unset_url_fails_at_once_without_the_network() {
    let mut harness = Harness::new();
    let mut sent = job("pager", String::new());
    sent.url = Err("url env:PAGER_URL is not set".into());
    sent.attempts = 3;
    sent.backoff = vec![Duration::from_secs(30)];
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(error(&outcome), "url env:PAGER_URL is not set");
    assert_eq!(outcome.attempts, 1);

    let mut sent = job("pager", "ftp://127.0.0.1/".into());
    sent.attempts = 3;
    harness.delivery.submit(sent);
    assert_eq!(
        error(&harness.outcome()),
        "Post \"ftp://127.0.0.1/\": unsupported protocol scheme \"ftp\""
    );
}

// ---- Order and parallelism.

#[test]
fn jobs_of_one_alert_arrive_in_order_even_when_retried() {
    let server = Server::start(None, |n| match n {
        0 => Action::Reply(reply("503 Service Unavailable", "")),
        _ => Action::Reply(ok()),
    });
    let mut harness = Harness::new();
    for body in ["first", "second"] {
        let mut sent = with_body(job("pager", server.url("/")), body);
        sent.attempts = 3;
        sent.backoff = vec![Duration::from_millis(200)];
        harness.delivery.submit(sent);
    }
    let bodies: Vec<String> = (0..3).map(|_| server.next().body).collect();
    assert_eq!(bodies, ["first", "first", "second"]);
    let first = harness.outcome();
    let second = harness.outcome();
    assert_eq!((first.result, first.attempts), (Ok(()), 2));
    assert_eq!((second.result, second.attempts), (Ok(()), 1));
    server.assert_quiet();
}

#[test]
fn a_hung_receiver_does_not_delay_another_alert() {
    let hung = Server::start(None, |_| Action::Hang);
    let fine = Server::always(ok());
    let mut harness = Harness::new();
    harness.delivery.submit(job("slow", hung.url("/")));
    hung.next();
    let started = Instant::now();
    harness.delivery.submit(job("fast", fine.url("/")));
    let outcome = harness.outcome();
    assert_eq!(outcome.alert, "fast");
    assert_eq!(outcome.result, Ok(()));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(harness.delivery.shutdown(Duration::ZERO), 1);
}

// ---- The queue.

#[test]
fn a_full_queue_drops_its_oldest_job() {
    let server = Server::start(None, |n| match n {
        0 => Action::Gated(ok()),
        _ => Action::Reply(ok()),
    });
    let mut harness = Harness::new();
    harness.delivery.set_limits(2, Duration::from_secs(60));
    harness
        .delivery
        .submit(with_body(job("pager", server.url("/")), "1"));
    // Job 1 is on a worker; jobs 2-4 of the same alert wait behind it.
    assert_eq!(server.next().body, "1");
    for body in ["2", "3", "4"] {
        harness
            .delivery
            .submit(with_body(job("pager", server.url("/")), body));
    }
    let outcome = harness.outcome();
    assert_eq!(
        error(&outcome),
        "dropped: the queue is full (max-queue-depth 2)"
    );
    assert_eq!(outcome.attempts, 0);
    server.release();
    for _ in 0..3 {
        assert_eq!(harness.outcome().result, Ok(()));
    }
    let bodies: Vec<String> = (0..2).map(|_| server.next().body).collect();
    assert_eq!(bodies, ["3", "4"]);
}

#[test]
fn a_smaller_depth_drops_the_oldest_waiting_jobs() {
    let server = Server::start(None, |n| match n {
        0 => Action::Gated(ok()),
        _ => Action::Reply(ok()),
    });
    let mut harness = Harness::new();
    harness.delivery.submit(job("pager", server.url("/")));
    server.next();
    for body in ["2", "3", "4"] {
        harness
            .delivery
            .submit(with_body(job("pager", server.url("/")), body));
    }
    harness.assert_no_outcome();
    harness.delivery.set_limits(1, Duration::from_secs(60));
    for _ in 0..2 {
        assert_eq!(
            error(&harness.outcome()),
            "dropped: the queue is full (max-queue-depth 1)"
        );
    }
    server.release();
    assert_eq!(harness.outcome().result, Ok(()));
    assert_eq!(harness.outcome().result, Ok(()));
    assert_eq!(server.next().body, "4");
}

#[test]
fn a_job_that_waited_too_long_is_dropped_unsent() {
    let server = Server::always(ok());
    let mut harness = Harness::new();
    harness.delivery.set_limits(256, Duration::from_secs(1));
    let mut sent = job("pager", server.url("/"));
    sent.created = Instant::now()
        .checked_sub(Duration::from_secs(2))
        .expect("a machine up for 2 s");
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(
        error(&outcome),
        "dropped: waited longer than 1s in the queue"
    );
    assert_eq!(outcome.attempts, 0);
    server.assert_quiet();
}

#[test]
fn a_job_is_not_retried_past_max_queue_time() {
    let server = Server::always(reply("503 Service Unavailable", ""));
    let mut harness = Harness::new();
    harness.delivery.set_limits(256, Duration::from_millis(500));
    let mut sent = job("pager", server.url("/"));
    sent.attempts = 5;
    sent.backoff = vec![Duration::from_secs(1)];
    let started = Instant::now();
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(error(&outcome), "HTTP 503");
    assert_eq!(outcome.attempts, 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

// ---- The request.

#[test]
fn headers_arrive_in_order_and_configured_ones_override() {
    let server = Server::always(ok());
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/hook?x=1"));
    sent.headers.extend(
        [
            ("X-First", "1"),
            ("content-type", "text/plain"),
            ("X-Second", "2"),
            ("USER-AGENT", "custom/1"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    harness.delivery.submit(with_body(sent, "payload"));
    assert_eq!(harness.outcome().result, Ok(()));
    let seen = server.next();
    assert_eq!(seen.line, "POST /hook?x=1 HTTP/1.1");
    assert_eq!(seen.body, "payload");
    assert_eq!(seen.header("content-type"), ["text/plain"]);
    assert_eq!(seen.header("user-agent"), ["custom/1"]);
    let order: Vec<String> = seen
        .headers()
        .into_iter()
        .filter_map(|line| {
            let name = line.split_once(':').map(|(name, _)| name.to_owned())?;
            ["content-type", "user-agent", "x-first", "x-second"]
                .contains(&name.as_str())
                .then_some(name)
        })
        .collect();
    assert_eq!(order, ["content-type", "user-agent", "x-first", "x-second"]);
}

// ---- Shutdown.

#[test]
fn shutdown_abandons_what_is_left_after_the_grace() {
    let server = Server::start(None, |_| Action::Hang);
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/"));
    sent.timeout = Duration::from_secs(10);
    harness.delivery.submit(sent.clone());
    server.next();
    harness.delivery.submit(sent.clone());
    harness.delivery.submit(sent);
    let grace = Duration::from_millis(300);
    let started = Instant::now();
    assert_eq!(harness.delivery.shutdown(grace), 3);
    let took = started.elapsed();
    assert!(
        took >= grace && took < grace + Duration::from_secs(1),
        "{took:?}"
    );

    // Nothing is taken afterwards.
    harness.delivery.submit(job("pager", server.url("/")));
    assert_eq!(
        error(&harness.outcome()),
        "dropped: vigild is shutting down"
    );
}

#[test]
fn shutdown_lets_jobs_finish_within_the_grace() {
    let server = Server::start(None, |n| match n {
        0 => Action::Reply(reply("503 Service Unavailable", "")),
        _ => Action::Reply(ok()),
    });
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/"));
    sent.attempts = 2;
    sent.backoff = vec![Duration::from_millis(100)];
    harness.delivery.submit(sent);
    assert_eq!(harness.delivery.shutdown(Duration::from_secs(5)), 0);
    let outcome = harness.outcome();
    assert_eq!((outcome.result, outcome.attempts), (Ok(()), 2));
}

#[test]
fn shutdown_cuts_a_retry_wait_short() {
    let server = Server::always(reply("503 Service Unavailable", ""));
    let mut harness = Harness::new();
    let mut sent = job("pager", server.url("/"));
    sent.attempts = 3;
    sent.backoff = vec![Duration::from_secs(30)];
    harness.delivery.submit(sent);
    server.next();
    let started = Instant::now();
    assert_eq!(harness.delivery.shutdown(Duration::from_secs(5)), 1);
    assert!(started.elapsed() < Duration::from_secs(1));
}

// ---- TLS.

/// A self-signed certificate for `localhost` only, and a TLS server config
/// with it.
fn tls_server() -> (String, Arc<rustls::ServerConfig>) {
    tls_server_with(rcgen::IsCa::NoCa)
}

/// [`tls_server`], with the certificate marked as a CA or not (`openssl req
/// -x509` marks its own as one).
fn tls_server_with(is_ca: rcgen::IsCa) -> (String, Arc<rustls::ServerConfig>) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = is_ca;
    let signing_key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&signing_key).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(crate::outbound::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    (cert.pem(), Arc::new(config))
}

/// A `CONNECT` proxy on 127.0.0.1 that tunnels each connection to the
/// `host:port` it asks for, and reports each request line.
fn tunnel() -> (u16, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let sender = sender.clone();
            thread::spawn(move || {
                stream.set_read_timeout(Some(WAIT)).unwrap();
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let _ = sender.send(line.trim_end().to_owned());
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                let mut client = reader.into_inner();
                let Ok(mut upstream) = std::net::TcpStream::connect(target) else {
                    return;
                };
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let mut client_reader = client.try_clone().unwrap();
                let mut upstream_writer = upstream.try_clone().unwrap();
                thread::spawn(move || {
                    let _ = std::io::copy(&mut client_reader, &mut upstream_writer);
                });
                let _ = std::io::copy(&mut upstream, &mut client);
            });
        }
    });
    (port, lines)
}

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-delivery-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn https_needs_the_tls_ca_of_a_private_receiver() {
    let (pem, config) = tls_server();
    let server = Server::start(Some(config), |_| Action::Reply(ok()));
    let url = format!("https://localhost:{}/hook", server.port);
    let mut harness = Harness::new();

    harness.delivery.submit(job("pager", url.clone()));
    let outcome = harness.outcome();
    assert_eq!(
        error(&outcome),
        format!("{url}: tls: invalid peer certificate: unknown issuer")
    );
    assert_eq!(outcome.attempts, 1);

    let dir = temp_dir("tls-ca");
    let ca = dir.join("ca.pem");
    fs::write(&ca, pem).unwrap();
    let mut sent = job("pager", url);
    sent.tls_ca = Some(ca);
    harness.delivery.submit(sent);
    assert_eq!(harness.outcome().result, Ok(()));
    assert_eq!(server.next().line, "POST /hook HTTP/1.1");

    // tls-insecure skips the checks: the name does not match here.
    let mut sent = job("pager", format!("https://127.0.0.1:{}/", server.port));
    sent.tls_insecure = true;
    harness.delivery.submit(sent);
    assert_eq!(harness.outcome().result, Ok(()));

    let mut sent = job("pager", format!("https://localhost:{}/", server.port));
    sent.tls_ca = Some(dir.join("missing.pem"));
    harness.delivery.submit(sent);
    assert_eq!(
        error(&harness.outcome()),
        format!(
            "cannot load tls-ca file \"{}\": no such file or directory",
            dir.join("missing.pem").display()
        )
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_tls_ca_naming_the_receivers_own_ca_certificate_is_trusted() {
    // `openssl req -x509` marks its certificate as a CA; webpki alone
    // refuses that as a server's own, curl and Go accept it.
    let (pem, config) = tls_server_with(rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained));
    let server = Server::start(Some(config), |_| Action::Reply(ok()));
    let dir = temp_dir("tls-ca-self");
    let ca = dir.join("ca.pem");
    fs::write(&ca, pem).unwrap();
    let url = format!("https://localhost:{}/hook", server.port);
    let mut harness = Harness::new();

    harness.delivery.submit(job("pager", url.clone()));
    assert_eq!(
        error(&harness.outcome()),
        format!("{url}: tls: invalid peer certificate: unknown issuer")
    );

    let mut sent = job("pager", url.clone());
    sent.tls_ca = Some(ca.clone());
    harness.delivery.submit(sent.clone());
    assert_eq!(harness.outcome().result, Ok(()));
    assert_eq!(server.next().line, "POST /hook HTTP/1.1");

    // Through a CONNECT tunnel too.
    let (proxy, lines) = tunnel();
    sent.proxy = Some(format!("http://127.0.0.1:{proxy}"));
    harness.delivery.submit(sent.clone());
    assert_eq!(harness.outcome().result, Ok(()));
    assert_eq!(
        lines.recv_timeout(WAIT).unwrap(),
        format!("CONNECT localhost:{} HTTP/1.1", server.port)
    );
    assert_eq!(server.next().line, "POST /hook HTTP/1.1");

    // The name is still checked.
    let url = format!("https://127.0.0.1:{}/hook", server.port);
    sent.url = Ok(url.clone());
    sent.proxy = None;
    harness.delivery.submit(sent);
    assert_eq!(
        error(&harness.outcome()),
        format!(
            "{url}: tls: invalid peer certificate: certificate not valid for name \"127.0.0.1\" \
             (it names \"localhost\")"
        )
    );
    fs::remove_dir_all(dir).unwrap();
}

// ---- Proxies.

#[test]
fn an_http_target_goes_through_the_proxy_in_absolute_form() {
    let proxy = Server::always(ok());
    let mut harness = Harness::new();
    let mut sent = job("pager", "http://receiver.invalid:8080/hook?x=1".into());
    sent.proxy = Some(format!("http://user:pass@127.0.0.1:{}", proxy.port));
    harness.delivery.submit(with_body(sent, "payload"));
    assert_eq!(harness.outcome().result, Ok(()));
    let seen = proxy.next();
    assert_eq!(
        seen.line,
        "POST http://receiver.invalid:8080/hook?x=1 HTTP/1.1"
    );
    assert_eq!(seen.header("host"), ["receiver.invalid:8080"]);
    // base64("user:pass")
    assert_eq!(seen.header("proxy-authorization"), ["Basic dXNlcjpwYXNz"]);
    assert_eq!(seen.header("content-type"), ["application/json"]);
    assert_eq!(seen.body, "payload");
}

#[test]
fn the_proxy_can_come_from_the_environment() {
    let proxy = Server::always(reply("502 Bad Gateway", ""));
    let address = format!("http://127.0.0.1:{}", proxy.port);
    let mut harness = Harness::with_env(&[("ALL_PROXY", &address)]);
    harness
        .delivery
        .submit(job("pager", "http://receiver.invalid/".into()));
    assert_eq!(error(&harness.outcome()), "HTTP 502");
    assert_eq!(proxy.next().line, "POST http://receiver.invalid/ HTTP/1.1");
}

#[test]
fn no_proxy_sends_the_request_direct() {
    let proxy = Server::always(ok());
    let receiver = Server::always(ok());
    let address = format!("http://127.0.0.1:{}", proxy.port);
    let mut harness = Harness::with_env(&[("HTTP_PROXY", &address), ("NO_PROXY", "127.0.0.0/8")]);
    harness.delivery.submit(job("pager", receiver.url("/env")));
    assert_eq!(harness.outcome().result, Ok(()));
    assert_eq!(receiver.next().line, "POST /env HTTP/1.1");

    let mut sent = job("pager", receiver.url("/explicit"));
    sent.proxy = Some(address);
    sent.no_proxy = Some(format!("example.com, 127.0.0.1:{}", receiver.port));
    harness.delivery.submit(sent);
    assert_eq!(harness.outcome().result, Ok(()));
    assert_eq!(receiver.next().line, "POST /explicit HTTP/1.1");
    proxy.assert_quiet();
}

#[test]
fn an_https_target_is_tunnelled_with_connect() {
    // The proxy refuses the tunnel; the CONNECT is what matters.
    let proxy = Server::always(reply("403 Forbidden", ""));
    let mut harness = Harness::new();
    let mut sent = job("pager", "https://receiver.invalid/hook".into());
    sent.proxy = Some(format!("http://user:pass@127.0.0.1:{}", proxy.port));
    harness.delivery.submit(sent);
    let outcome = harness.outcome();
    assert_eq!(
        error(&outcome),
        "proxyconnect tcp: proxy server responded 403/403"
    );
    let seen = proxy.next();
    assert_eq!(seen.line, "CONNECT receiver.invalid:443 HTTP/1.1");
    assert_eq!(seen.header("proxy-authorization"), ["Basic dXNlcjpwYXNz"]);
}

#[test]
fn a_dead_proxy_reads_like_go() {
    let port = closed_port();
    let mut harness = Harness::new();
    for url in ["http://receiver.invalid/", "https://receiver.invalid/"] {
        let mut sent = job("pager", url.into());
        sent.proxy = Some(format!("http://127.0.0.1:{port}"));
        harness.delivery.submit(sent);
        assert_eq!(
            error(&harness.outcome()),
            format!("proxyconnect tcp: dial tcp 127.0.0.1:{port}: connect: connection refused"),
            "{url}"
        );
    }
    let mut sent = job("pager", "http://receiver.invalid/".into());
    sent.proxy = Some("socks5://127.0.0.1:1080".into());
    harness.delivery.submit(sent);
    assert_eq!(
        error(&harness.outcome()),
        "unsupported proxy scheme in proxy"
    );
}

#[test]
fn an_https_proxy_is_trusted_through_proxy_ca() {
    // The proxy's own certificate as proxy-ca, marked as a CA or not.
    let kinds = [
        ("leaf", rcgen::IsCa::NoCa),
        (
            "ca",
            rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained),
        ),
    ];
    for (kind, is_ca) in kinds {
        let (pem, config) = tls_server_with(is_ca);
        let proxy = Server::start(Some(config), |_| Action::Reply(ok()));
        let dir = temp_dir(&format!("proxy-ca-{kind}"));
        let ca = dir.join("proxy-ca.pem");
        fs::write(&ca, pem).unwrap();
        let mut harness = Harness::new();

        let mut sent = job("pager", "http://receiver.invalid/hook".into());
        sent.proxy = Some(format!("https://localhost:{}", proxy.port));
        harness.delivery.submit(sent.clone());
        assert_eq!(
            error(&harness.outcome()),
            "proxyconnect tcp: tls: invalid peer certificate: unknown issuer",
            "{kind}"
        );

        sent.proxy_ca = Some(ca);
        harness.delivery.submit(sent);
        assert_eq!(harness.outcome().result, Ok(()), "{kind}");
        assert_eq!(
            proxy.next().line,
            "POST http://receiver.invalid/hook HTTP/1.1"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn backoff_follows_the_list_then_its_last_entry() {
    let mut sent = job("pager", String::new());
    sent.backoff = vec![Duration::from_secs(1), Duration::from_secs(2)];
    assert_eq!(backoff(&sent, 1, None), Duration::from_secs(1));
    assert_eq!(backoff(&sent, 2, None), Duration::from_secs(2));
    assert_eq!(backoff(&sent, 5, None), Duration::from_secs(2));
    let asked = Some(Duration::from_secs(5));
    assert_eq!(backoff(&sent, 1, asked), Duration::from_secs(5));
    let huge = Some(Duration::from_secs(3600));
    assert_eq!(backoff(&sent, 1, huge), MAX_RETRY_AFTER);
    let small = Some(Duration::from_millis(10));
    assert_eq!(backoff(&sent, 2, small), Duration::from_secs(2));
    sent.backoff.clear();
    assert_eq!(backoff(&sent, 1, None), Duration::ZERO);
}
