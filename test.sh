#!/usr/bin/env bash
# Every check that CI runs, in order: formatting, lints, unit tests, then the
# end-to-end tests in vtest/. Run it before pushing; .ci/run runs it too.
#
# A fresh Debian machine needs only the Rust toolchain (rustup): the rustfmt
# and clippy components are added when missing, and vtest/run.sh installs
# varnishtest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

step() {
    printf '\n=== %s\n' "$*"
}

# Adds a rustup component when the cargo subcommand that needs it is missing.
ensure_component() {
    local subcommand="$1" component="$2"
    if cargo "$subcommand" --version >/dev/null 2>&1; then
        return
    fi
    if ! command -v rustup >/dev/null 2>&1; then
        echo "test.sh: cargo $subcommand is missing and rustup is not available to add $component" >&2
        exit 1
    fi
    step "rustup component add $component"
    rustup component add "$component"
}

ensure_component fmt rustfmt
ensure_component clippy clippy

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --workspace

step "vtest/run.sh"
vtest/run.sh

printf '\n=== all checks passed\n'
