#!/usr/bin/env bash
# Measures vigild's core (issue 3's benchmark): not a test, nothing asserts.
#
#   bench/core.sh [COUNT...]
#
# For each COUNT of `sleep` services (default: 10 and 100), it starts a
# release vigild as a plain process and prints:
#   - vigild's RSS (VmRSS, with its anonymous and file-backed parts) once
#     every service is up;
#   - the time from launching vigild until every service process exists
#     (has exec'd `sleep`);
#   - vigild's CPU time and context switches over 10 s of idleness (all
#     threads; CPU from /proc/PID/task/*/schedstat, in nanoseconds);
#   - GET /v1/services requests per second over one keep-alive connection;
#   - the restart latency of an always-failing service with zero backoff:
#     the p50 of the time between two consecutive starts, each start
#     stamped by the service itself ($EPOCHREALTIME in bash).
# Then a bare loop for comparison: the same bash command run by
# os.posix_spawn + waitpid from python3 (the p50 between two starts), and
# the p50 of one posix_spawn + waitpid of /bin/true.
#
# Needs cargo, python3 and bash. Takes about a minute; results go to stdout
# and the working files stay in a temporary directory, printed at the end.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
counts=("$@")
if [ ${#counts[@]} -eq 0 ]; then
    counts=(10 100)
fi
# Restarts measured per run, and the idle window in seconds.
restarts=2000
idle_seconds=10
api_requests=5000

echo "--- building the release binaries"
(cd "$root" && cargo build --workspace --bins --release)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in
/*) ;;
*) target_dir="$root/$target_dir" ;;
esac
vigild="$target_dir/release/vigild"
vigil="$target_dir/release/vigil"

work="$(mktemp -d /tmp/vigil-bench.XXXXXX)"
probe="$work/probe.py"
# The measuring helpers: small, and in python3 for the clock and the socket.
cat >"$probe" <<'PY'
import os, socket, statistics, sys, time

def children(pid):
    """Pids of pid's children that have exec'd sleep."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids = f.read().split()
    except OSError:
        return []
    ready = []
    for child in pids:
        try:
            with open(f"/proc/{child}/comm") as f:
                if f.read().strip() == "sleep":
                    ready.append(child)
        except OSError:
            pass
    return ready

def launch(count, out, err, argv):
    """Starts vigild (stdout and stderr to files), polls every 0.2 ms until it
    has count sleep children, and prints its pid and the ms that took. It
    does not wait for vigild, which outlives it."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    deadline = start + 30
    while len(children(pid)) < count:
        if time.perf_counter() > deadline:
            sys.exit(f"only {len(children(pid))} of {count} services started")
        time.sleep(0.0002)
    print(pid, f"{(time.perf_counter() - start) * 1000:.1f}")

def counters(pid):
    """CPU ns (schedstat) and voluntary/involuntary switches, summed over threads."""
    cpu = vol = invol = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            cpu += int(f.read().split()[0])
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    vol += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    invol += int(line.split()[1])
    return cpu, vol, invol

def idle(pid, seconds):
    """CPU µs, voluntary and involuntary switches over the window; thread count."""
    before = counters(pid)
    time.sleep(seconds)
    after = counters(pid)
    threads = len(os.listdir(f"/proc/{pid}/task"))
    print((after[0] - before[0]) // 1000, after[1] - before[1], after[2] - before[2], threads)

def rss(pid):
    """VmRSS, and its anonymous and file-backed parts, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.split()[0] if value.split() else "0"
    print(fields["VmRSS"], fields["RssAnon"], fields["RssFile"])

def api(path, requests):
    """Sequential keep-alive GET /v1/services; prints requests/s and body size."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    request = b"GET /v1/services HTTP/1.1\r\nHost: localhost\r\n\r\n"
    buffer = b""
    size = 0
    start = time.perf_counter()
    for _ in range(requests):
        s.sendall(request)
        while b"\r\n\r\n" not in buffer:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("connection closed")
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 200"):
            sys.exit(f"unexpected response: {head[:80]!r}")
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            sys.exit("response without Content-Length")
        while len(buffer) < length:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("connection closed")
            buffer += chunk
        size = length
        buffer = buffer[length:]
    elapsed = time.perf_counter() - start
    print(f"{requests / elapsed:.0f}", size)

def intervals(path, skip):
    """p50 and p90 in ms between consecutive stamps of the file, after skip."""
    with open(path) as f:
        stamps = [float(line) for line in f if line.strip()][skip:]
    deltas = sorted((b - a) * 1000 for a, b in zip(stamps, stamps[1:]))
    print(f"{statistics.median(deltas):.3f} {deltas[len(deltas) * 9 // 10]:.3f} {len(deltas)}")

def wait_lines(path, count, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with open(path) as f:
                if sum(1 for _ in f) >= count:
                    return
        except OSError:
            pass
        time.sleep(0.05)

def bare_loop(path, count):
    """The service's own command, started by posix_spawn + waitpid, count times."""
    argv = ["bash", "-c", f"echo $EPOCHREALTIME >> {path}; exit 1"]
    for _ in range(count):
        pid = os.posix_spawn("/bin/bash", argv, os.environ)
        os.waitpid(pid, 0)

def spawn_true(count):
    """p50 in ms of one posix_spawn + waitpid of /bin/true."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        pid = os.posix_spawn("/bin/true", ["true"], os.environ)
        os.waitpid(pid, 0)
        times.append((time.perf_counter() - start) * 1000)
    print(f"{statistics.median(times):.3f}")

command, *args = sys.argv[1:]
if command == "launch":
    launch(int(args[0]), args[1], args[2], args[3:])
elif command == "idle":
    idle(int(args[0]), float(args[1]))
elif command == "rss":
    rss(int(args[0]))
elif command == "api":
    api(args[0], int(args[1]))
elif command == "intervals":
    intervals(args[0], int(args[1]))
elif command == "wait-lines":
    wait_lines(args[0], int(args[1]), float(args[2]))
elif command == "bare-loop":
    bare_loop(args[0], int(args[1]))
elif command == "spawn-true":
    spawn_true(int(args[0]))
PY

# vigild is started by the probe, so it is not this shell's child: stop it
# and poll until it is gone.
vigild_pid=
stop_vigild() {
    kill -TERM "$vigild_pid" 2>/dev/null || true
    for _ in $(seq 200); do
        kill -0 "$vigild_pid" 2>/dev/null || break
        sleep 0.05
    done
    vigild_pid=
}
cleanup() {
    if [ -n "$vigild_pid" ]; then
        stop_vigild
    fi
}
trap cleanup EXIT

results=()
for count in "${counts[@]}"; do
    echo "--- $count sleep services"
    dir="$work/$count"
    mkdir -p "$dir/layers"
    {
        echo "services:"
        for i in $(seq -w 1 "$count"); do
            printf '  s%s:\n    command: sleep 100000\n    startup: enabled\n' "$i"
        done
        # Started only for the restart measurement.
        printf '  fail:\n'
        printf "    command: bash -c 'echo \$EPOCHREALTIME >> %s; exit 1'\n" "$dir/starts"
        printf '    backoff-delay: 0ms\n'
    } >"$dir/layers/010-bench.yaml"
    socket="$dir/v.sock"

    read -r vigild_pid start_ms < <(python3 "$probe" launch "$count" "$dir/vigild.out" "$dir/vigild.log" \
        "$vigild" --layers-dir "$dir/layers" --socket "$socket")
    # Past the 1 s okay delay: every start task is done.
    sleep 1.5
    read -r rss_kib rss_anon rss_file < <(python3 "$probe" rss "$vigild_pid")
    read -r idle_us idle_vol idle_invol threads < <(python3 "$probe" idle "$vigild_pid" "$idle_seconds")
    read -r api_rate api_size < <(python3 "$probe" api "$socket" "$api_requests")

    "$vigil" --socket "$socket" start fail >/dev/null 2>&1 || true
    python3 "$probe" wait-lines "$dir/starts" "$restarts" 30
    "$vigil" --socket "$socket" stop fail >/dev/null
    # The first interval includes the failed start task's bookkeeping.
    read -r restart_p50 restart_p90 restart_n < <(python3 "$probe" intervals "$dir/starts" 2)

    stop_vigild

    printf '    RSS after start:        %s KiB (anonymous %s, file %s)\n' "$rss_kib" "$rss_anon" "$rss_file"
    printf '    all processes exist:    %s ms after launch\n' "$start_ms"
    printf '    idle %ss:               %s µs CPU, %s voluntary + %s involuntary switches (%s threads)\n' \
        "$idle_seconds" "$idle_us" "$idle_vol" "$idle_invol" "$threads"
    printf '    GET /v1/services:       %s requests/s (%s-byte body, %s requests)\n' "$api_rate" "$api_size" "$api_requests"
    printf '    restart start-to-start: p50 %s ms, p90 %s ms (%s intervals)\n' "$restart_p50" "$restart_p90" "$restart_n"
    results+=("$count $rss_kib $start_ms $idle_us $idle_vol $api_rate $restart_p50")
done

echo "--- bare loop: the same bash command, posix_spawn + waitpid from python3"
python3 "$probe" bare-loop "$work/bare-starts" "$restarts"
read -r bare_p50 bare_p90 bare_n < <(python3 "$probe" intervals "$work/bare-starts" 2)
true_p50=$(python3 "$probe" spawn-true "$restarts")
printf '    start-to-start:         p50 %s ms, p90 %s ms (%s intervals)\n' "$bare_p50" "$bare_p90" "$bare_n"
printf '    posix_spawn+wait true:  p50 %s ms\n' "$true_p50"

echo
echo "--- machine"
echo "nproc: $(nproc)"
echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "kernel: $(uname -sr)"
echo "rustc: $(rustc --version)"
echo "vigild: $(stat -c %s "$vigild") bytes"
echo
echo "| services | RSS after start | all processes exist | idle ${idle_seconds} s: CPU, voluntary switches | GET /v1/services per s | restart p50, start to start | over the bare loop |"
echo "|---|---|---|---|---|---|---|"
for line in "${results[@]}"; do
    echo "$line" | awk -v bare="$bare_p50" '{
        printf "| %s | %s KiB | %s ms | %s µs, %s | %s | %s ms | +%.3f ms |\n", $1, $2, $3, $4, $5, $6, $7, $7 - bare
    }'
done
echo "| bare loop | | | | | $bare_p50 ms | |"
echo
echo "working files: $work"
