#!/usr/bin/env bash
# Runs vigil's end-to-end tests: every vtest/*.vtc (or the tests named on the
# command line) under Debian's varnishtest, against freshly built binaries.
#
#   vtest/run.sh [--release] [TEST...]
#
# TEST is a path to a .vtc file, or a name in vtest/ with or without ".vtc"
# (`vtest/run.sh cli_help`). --release tests optimised binaries; the default
# is a debug build, which is faster to build.
#
# Each test gets the macros ${vigild} and ${vigil} (absolute paths of the
# binaries), ${root} (the repository root, to reach examples/) and ${python}
# (a venv's python with Canonical's `ops` library, installed here). Tests run
# two at a time, each with a 60 s timeout, and all of them run even when one
# fails. The exit status is non-zero when any test fails.
#
# varnishtest comes from Debian's `varnish` package, installed here when it
# is missing (with sudo unless running as root), as are curl and openssl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile=debug
tests=()
for arg in "$@"; do
    case "$arg" in
    --release) profile=release ;;
    -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    -*)
        echo "run.sh: unknown option $arg (try --help)" >&2
        exit 2
        ;;
    *)
        if [ -f "$arg" ]; then
            tests+=("$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")")
        elif [ -f "$root/vtest/$arg" ]; then
            tests+=("$root/vtest/$arg")
        elif [ -f "$root/vtest/$arg.vtc" ]; then
            tests+=("$root/vtest/$arg.vtc")
        else
            echo "run.sh: no test $arg (neither a file nor vtest/$arg.vtc)" >&2
            exit 2
        fi
        ;;
    esac
done
if [ ${#tests[@]} -eq 0 ]; then
    shopt -s nullglob
    tests=("$root"/vtest/*.vtc)
    shopt -u nullglob
fi
if [ ${#tests[@]} -eq 0 ]; then
    echo "run.sh: no tests in $root/vtest" >&2
    exit 1
fi

echo "--- building the $profile binaries"
build=(cargo build --workspace --bins)
if [ "$profile" = release ]; then
    build+=(--release)
fi
(cd "$root" && "${build[@]}")
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
/*) ;;
*) target_dir="$root/$target_dir" ;;
esac
vigild="$target_dir/$profile/vigild"
vigil="$target_dir/$profile/vigil"
for binary in "$vigild" "$vigil"; do
    if [ ! -x "$binary" ]; then
        echo "run.sh: $binary was not built" >&2
        exit 1
    fi
done

# Debian packages the tests need: varnishtest (package varnish), and curl
# and openssl for the HTTPS tests.
packages=()
command -v varnishtest >/dev/null 2>&1 || packages+=(varnish)
command -v curl >/dev/null 2>&1 || packages+=(curl)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
if [ ${#packages[@]} -gt 0 ]; then
    echo "--- installing ${packages[*]} (Debian)"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "run.sh: ${packages[*]} missing and sudo is not available;" \
                "install these Debian packages as root" >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
fi

# The compatibility target's Python client, for the tests that drive vigild
# the way charms do. Pinned to the version the spec was written against.
ops_version=3.9.0
venv="$target_dir/vtest-venv"
if ! "$venv/bin/python" -c "import ops; assert ops.__version__ == '$ops_version'" 2>/dev/null; then
    echo "--- installing ops $ops_version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "ops==$ops_version"
fi

echo "--- running ${#tests[@]} test(s) with $(command -v varnishtest)"
echo "    vigild: $vigild"
echo "    vigil:  $vigil"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
varnishtest -k -j 2 -t 60 \
    -D vigild="$vigild" -D vigil="$vigil" -D root="$root" -D python="$venv/bin/python" \
    "${tests[@]}" 2>&1 | tee "$log" || status=$?

passed=$(grep -c '^#  *top  *TEST .* passed' "$log" || true)
failed=$(grep -c '^#  *top  *TEST .* FAILED' "$log" || true)
skipped=$(grep -c '^#  *top  *TEST .* skipped' "$log" || true)
echo "--- vtest summary: ${#tests[@]} test(s): $passed passed, $failed failed, $skipped skipped"
grep '^#  *top  *TEST .* FAILED' "$log" | sed 's/^/    /' || true
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$((passed + skipped))" -ne ${#tests[@]} ]; then
    echo "--- vtest: FAILED (varnishtest exit status $status)"
    exit 1
fi
echo "--- vtest: ok"
