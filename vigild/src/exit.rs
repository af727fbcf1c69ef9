//! The exit codes that vigild itself decides on (supervision.md §13).
//!
//! A service's own exit status can also become vigild's through a `shutdown`
//! action, so any of these codes may come from a service too; the one-line
//! reason on stderr that precedes every code below tells them apart.
//!
//! The three boot failures follow BSD's `sysexits.h`, so that init systems
//! and container runtimes that know those codes read them correctly.

/// `failure-shutdown` after a service exited **successfully** (its
/// `on-success` is `failure-shutdown`), so the exit status is not the
/// service's own 0.
pub const FAILURE_SHUTDOWN_AFTER_SUCCESS: u8 = 10;

/// A check failed and its `on-check-failure` action is `shutdown`.
pub const CHECK_FAILURE_SHUTDOWN: u8 = 11;

/// The command line or a `VIGIL_*`/`PEBBLE*` variable is invalid: unknown
/// flag, missing or bad value (`EX_USAGE`). Nothing was started.
pub const USAGE: u8 = 64;

/// Setting up the operating system failed: the socket or a listener cannot
/// be bound, another vigild owns the socket, a required directory cannot be
/// created, the TLS certificate or key is unusable, or re-exec failed
/// (`EX_OSERR`).
pub const OS_SETUP: u8 = 71;

/// The configuration is invalid at boot: a layer problem, an invalid
/// identities seed, an unreadable state file, or `--args` naming an unknown
/// service (`EX_CONFIG`). Also the result of `--check-config` on a bad
/// configuration.
pub const CONFIG: u8 = 78;
