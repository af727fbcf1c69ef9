"""Drives vigild with Canonical's ops library, the way a charm drives Pebble.

Usage: ops_smoke.py SOCKET DIR. Every call below must succeed against vigild
unchanged; a failure raises and the script exits non-zero.
"""

import os
import sys
import time

import ops.pebble as pebble

socket, workdir = sys.argv[1], sys.argv[2]
marker = os.path.join(workdir, "usr1")
client = pebble.Client(socket_path=socket)


def until(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


info = client.get_system_info()
assert info.version, info

command = f"sh -c 'trap \"echo got >> {marker}\" USR1; while true; do sleep 0.05; done'"
client.add_layer(
    "smoke",
    {
        "summary": "ops smoke test",
        "services": {
            "svc": {"override": "replace", "command": command, "startup": "enabled"},
        },
    },
)
plan = client.get_plan()
assert "svc" in plan.services, plan.to_yaml()
assert plan.services["svc"].command == command, plan.to_yaml()

# replan_services, start_services and stop_services wait for their change.
client.replan_services()
(svc,) = client.get_services(["svc"])
assert svc.current == pebble.ServiceStatus.ACTIVE, svc

client.stop_services(["svc"])
(svc,) = client.get_services(["svc"])
assert svc.current == pebble.ServiceStatus.INACTIVE, svc

client.start_services(["svc"])
(svc,) = client.get_services(["svc"])
assert svc.current == pebble.ServiceStatus.ACTIVE, svc
assert svc.is_running(), svc

client.send_signal("SIGUSR1", ["svc"])
until(lambda: os.path.exists(marker), "the service to get SIGUSR1")

changes = client.get_changes(select=pebble.ChangeState.ALL)
kinds = [change.kind for change in changes]
assert kinds.count("replan") == 1 and "stop" in kinds and "start" in kinds, kinds
assert all(change.ready for change in changes), changes

# A bad layer is refused with the located error, and nothing changes.
try:
    client.add_layer("broken", "services:\n  svc:\n    kill-delay: 5\n")
except pebble.APIError as error:
    assert error.code == 400, error
    assert 'layer "broken":3:17' in error.message, error.message
else:
    raise AssertionError("a broken layer was accepted")

# Checks start as soon as their layer is added, no replan needed: up, with
# the perform-check change that drives them.
client.add_layer(
    "checks",
    {
        "checks": {
            "alive-check": {
                "override": "replace",
                "level": "alive",
                "period": "100ms",
                "threshold": 3,
                "exec": {"command": "true"},
            },
            "ready-check": {
                "override": "replace",
                "level": "ready",
                "period": "100ms",
                "exec": {"command": "true"},
            },
        },
    },
)
checks = client.get_checks()
assert [check.name for check in checks] == ["alive-check", "ready-check"], checks
alive = checks[0]
assert alive.status == pebble.CheckStatus.UP, alive
assert alive.level == pebble.CheckLevel.ALIVE, alive
assert alive.startup == pebble.CheckStartup.ENABLED, alive
assert alive.threshold == 3 and alive.failures == 0, alive
assert alive.change_id, alive
change = client.get_change(alive.change_id)
assert change.kind == "perform-check", change
assert change.summary == 'Perform exec check "alive-check"', change
assert not change.ready, change
until(
    lambda: client.get_checks(names=["alive-check"])[0].successes >= 2,
    "alive-check to pass its probes",
)

# The level filter is an exact match; names may be repeated in the query.
alive_only = client.get_checks(level=pebble.CheckLevel.ALIVE)
assert [check.name for check in alive_only] == ["alive-check"], alive_only
ready_only = client.get_checks(level=pebble.CheckLevel.READY)
assert [check.name for check in ready_only] == ["ready-check"], ready_only
both = client.get_checks(names=["ready-check", "alive-check"])
assert [check.name for check in both] == ["alive-check", "ready-check"], both

# Stop and start return the checks they changed; a stopped check is
# inactive, without a change id, and its change is no longer in progress.
assert client.stop_checks(["alive-check"]) == ["alive-check"]
(stopped,) = client.get_checks(names=["alive-check"])
assert stopped.status == pebble.CheckStatus.INACTIVE, stopped
assert stopped.change_id is None, stopped
assert client.get_change(alive.change_id).ready
assert client.stop_checks(["alive-check", "ready-check"]) == ["ready-check"]
assert client.stop_checks(["alive-check"]) == []
assert client.start_checks(["alive-check"]) == ["alive-check"]
(started,) = client.get_checks(names=["alive-check"])
assert started.status == pebble.CheckStatus.UP, started
assert started.change_id and started.change_id != alive.change_id, started
assert client.start_checks(["alive-check"]) == []
(ready,) = client.get_checks(names=["ready-check"])
assert ready.status == pebble.CheckStatus.INACTIVE, ready
try:
    client.start_checks(["nope"])
except pebble.APIError as error:
    assert error.code == 400, error
    assert error.message == "cannot start checks: cannot find checks in plan: nope", error.message
else:
    raise AssertionError("an unknown check was started")

print("ops smoke: ok")
