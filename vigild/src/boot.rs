//! From a parsed [`Config`] to a running daemon, and the exit code it ends
//! with.
//!
//! Boot order matters for the promise "a bad configuration is reported before
//! anything is bound or started": the plan is loaded and checked first, and
//! any problem ends the boot with exit code 78 and the full problem list.

use std::process::ExitCode;
use std::time::SystemTime;

use vigil_proto::api::UtcOffset;
use vigil_proto::plan::{self, Built, Layer};

use crate::api::{self, State};
use crate::config::{Config, Persist};
use crate::exit;
use crate::identity::{self, persist};
use crate::log::Logger;
use crate::logs::LogStore;
use crate::reactor::children;
use crate::reactor::listener::ApiSocket;
use crate::reactor::tcp::TcpApiListener;
use crate::reactor::tls;
use crate::reactor::{Ending, Reactor};
use crate::relaunch::{NotRelaunched, Relaunch};
use crate::supervisor::{Options, Supervisor};

/// Boots vigild with `config` and returns the code it exits with
/// ([`crate::exit`]), or executes it again with `relaunch` when a daemon
/// restart was asked for (it then returns only if that failed).
pub fn run(config: &Config, relaunch: &Relaunch) -> ExitCode {
    let logger = Logger::new(config.log_format, config.log_level);
    // Identities first (supervision.md §11, step 3), but a bad plan is
    // reported too, so that --check-config lists every problem.
    let identities = load_identities(config);
    let plan = load_plan(config);
    let (identities, (layers, built)) = match (identities, plan) {
        (Ok(identities), Ok(loaded)) => (identities, loaded),
        (identities, plan) => {
            let failures = [identities.err(), plan.err()];
            let mut code = exit::CONFIG;
            for Failure {
                code: failed,
                message,
            } in failures.into_iter().flatten()
            {
                eprintln!("error: {message}");
                code = failed;
            }
            return ExitCode::from(code);
        }
    };
    for warning in &built.warnings {
        logger.warn(warning);
    }
    if config.check_config {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    if (pid == 1 || config.reaper)
        && let Err(error) = children::become_subreaper()
    {
        eprintln!("error: cannot become a child subreaper: {error}");
        return ExitCode::from(exit::OS_SETUP);
    }
    let socket = match ApiSocket::bind(&config.socket, config.socket_mode) {
        Ok(socket) => socket,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(exit::OS_SETUP);
        }
    };
    let listeners = match bind_listeners(config) {
        Ok(listeners) => listeners,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(exit::OS_SETUP);
        }
    };
    let utc_offset = local_offset();
    let options = Options {
        args: config
            .service_args
            .iter()
            .map(|group| (group.service.clone(), group.args.clone()))
            .collect(),
        rng_seed: seed(),
        utc_offset,
        ..Options::default()
    };
    let state = State {
        supervisor: Supervisor::new(built.plan, options),
        // Started by the reactor with the boot, at its first clock reading.
        checks: crate::checks::Checks::default(),
        check_changes: crate::checks::tracker::Tracker::default(),
        alerts: crate::alerts::firing::Alerts::new(
            Box::new(api::random_uuid),
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_owned())
                .unwrap_or_default(),
        ),
        logs: LogStore::new(config.log_buffer_size),
        layers_dir: config.layers_dir.clone(),
        layers: api::LayerStack::new(layers),
        boot_id: api::boot_id(),
        start_time: SystemTime::now(),
        utc_offset,
        // SAFETY: getuid has no preconditions and cannot fail.
        daemon_uid: unsafe { libc::getuid() },
        identities,
        restarting: false,
        http_address: listeners.http.as_ref().map(|l| l.address().to_owned()),
        https_address: listeners
            .https
            .as_ref()
            .map(|(l, _)| l.address().to_owned()),
        security_warnings: Vec::new(),
    };
    let mut reactor = match Reactor::new(socket, state, logger) {
        Ok(reactor) => reactor,
        Err(error) => {
            eprintln!("error: cannot set up the event loop: {error}");
            return ExitCode::from(exit::OS_SETUP);
        }
    };
    // From here on, vigild's log goes through the loop's writer, which
    // never blocks.
    reactor.info(&format!(
        "Started daemon vigild {} (pid {pid}).",
        env!("CARGO_PKG_VERSION")
    ));
    reactor.info(&format!("Listening on {}", config.socket.display()));
    let Bound { http, https } = listeners;
    if let Some(listener) = http {
        let line = format!("Listening on {} (HTTP)", listener.address());
        if let Err(error) = reactor.add_listener(listener) {
            eprintln!("error: cannot set up the event loop: {error}");
            return ExitCode::from(exit::OS_SETUP);
        }
        reactor.info(&line);
    }
    if let Some((listener, fingerprint)) = https {
        let line = format!(
            "Listening on {} (HTTPS, certificate SHA-256 {fingerprint})",
            listener.address()
        );
        if let Err(error) = reactor.add_listener(listener) {
            eprintln!("error: cannot set up the event loop: {error}");
            return ExitCode::from(exit::OS_SETUP);
        }
        reactor.info(&line);
    }
    match reactor.run(config.hold) {
        Ending::Exit(code) => ExitCode::from(code),
        // The reactor is gone: every descriptor it held is closed and the
        // socket file removed, so the new image binds afresh.
        Ending::Restart => match relaunch.exec() {
            Err(NotRelaunched::StopSignal) => {
                Logger::new(config.log_format, config.log_level)
                    .info("Received a stop signal during the restart: exiting.");
                ExitCode::SUCCESS
            }
            Err(NotRelaunched::Failed(message)) => {
                eprintln!("error: {message}");
                ExitCode::from(exit::OS_SETUP)
            }
        },
    }
}

/// The TCP listeners, bound, with the HTTPS certificate's fingerprint.
struct Bound {
    http: Option<TcpApiListener>,
    https: Option<(TcpApiListener, String)>,
}

/// Binds `--http` and `--tls-addr` and sets up TLS. The error is the
/// message for exit code 71: an address that cannot be bound, or a
/// certificate, key or client CA bundle that cannot be used.
fn bind_listeners(config: &Config) -> Result<Bound, String> {
    let listeners = &config.listeners;
    let http = match &listeners.http {
        Some(address) => Some(TcpApiListener::bind(address)?),
        None => None,
    };
    let https = match &listeners.https {
        Some(address) => {
            let listener = TcpApiListener::bind(address)?;
            let source = match &listeners.cert_and_key {
                Some((cert, key)) => tls::CertificateSource::Files { cert, key },
                None => tls::CertificateSource::SelfSigned {
                    host: listener.host(),
                },
            };
            let server = tls::server(source, listeners.client_ca.as_deref())?;
            Some((listener.with_tls(server.config), server.fingerprint))
        }
        None => None,
    };
    Ok(Bound { http, https })
}

/// The local zone's offset from UTC now, for times shown in the API.
fn local_offset() -> UtcOffset {
    // SAFETY: localtime_r writes only into the `tm` we pass; a zeroed `tm`
    // is a valid value of the struct.
    let seconds = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff as i32
        }
    };
    UtcOffset::from_seconds(seconds).unwrap_or(UtcOffset::UTC)
}

/// A seed for the backoff jitter; it need not be secret, only differ
/// between daemons started together.
fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut bytes))
        .is_ok();
    if random {
        return u64::from_le_bytes(bytes);
    }
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// Why the boot stopped: the exit code and the message after `error: `.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

/// Loads and checks the layers, and checks that every `--args` names a
/// service of the plan.
fn load_plan(config: &Config) -> Result<(Vec<Layer>, Built), Failure> {
    if config.create_dirs && !config.layers_dir.exists() {
        create_dir(&config.layers_dir)?;
    }
    let (layers, built) = plan::load(&config.layers_dir).map_err(|error| Failure {
        code: exit::CONFIG,
        message: error.render("cannot load plan", "  "),
    })?;
    for group in &config.service_args {
        if !built.plan.services().contains_key(&group.service) {
            return Err(Failure {
                code: exit::CONFIG,
                message: format!("--args names unknown service \"{}\"", group.service),
            });
        }
    }
    Ok((layers, built))
}

/// Reads the state file and applies the `--identities` seed (api.md §8).
/// A seeded set is persisted at once, except by `--check-config`.
fn load_identities(config: &Config) -> Result<identity::Store, Failure> {
    let invalid = |message| Failure {
        code: exit::CONFIG,
        message,
    };
    let state_file = match config.persist {
        Persist::Auto => Some(persist::state_file(&config.state_dir)),
        Persist::Never => None,
    };
    if state_file.is_some()
        && config.create_dirs
        && !config.check_config
        && !config.state_dir.exists()
    {
        create_dir(&config.state_dir)?;
    }
    let mut identities = match &state_file {
        Some(path) => persist::load(path).map_err(invalid)?,
        None => identity::Identities::default(),
    };
    if let Some(seed) = &config.identities {
        identities = persist::seed(seed, &identities).map_err(invalid)?;
        if let Some(path) = state_file.as_ref().filter(|_| !config.check_config) {
            persist::save(path, &identities).map_err(|message| Failure {
                code: exit::OS_SETUP,
                message,
            })?;
        }
    }
    Ok(identity::Store {
        identities,
        state_file,
    })
}

/// Creates a directory and its parents with mode 0755.
fn create_dir(path: &std::path::Path) -> Result<(), Failure> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|error| Failure {
            code: exit::OS_SETUP,
            message: format!("cannot create directory {}: {error}", path.display()),
        })
}
