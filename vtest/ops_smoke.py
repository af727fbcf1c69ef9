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

print("ops smoke: ok")
