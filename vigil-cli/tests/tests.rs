//! vigil's integration tests, in one binary (STYLE.md §6): the real `vigil`
//! binary run against the fake vigild of `util/fake.rs`, checking stdout,
//! stderr, exit codes and the requests that reached the server.

mod cli;
mod util;
