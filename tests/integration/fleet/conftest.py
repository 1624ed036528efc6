"""Fixtures of the fleet tests: one prepared 4-host namespace fleet per test module (see fleetctl.py), and
steps: in a module with `FLEET_STEPS = True`, a failed test skips the ones after it (each starts from the state
the previous one left)."""

import os
import shutil
import tempfile

import pytest

from fleetctl import HOST_PRIVATE_EXTRA, SUPERVISOR_VENV, Controller, supervisor_venv
from hosts import netns


def pytest_runtest_makereport(item, call):
    if (call.when == "call" and call.excinfo is not None and not call.excinfo.errisinstance(pytest.skip.Exception)
            and getattr(item.module, "FLEET_STEPS", False)):
        item.module.__dict__.setdefault("_fleet_step_failed", item.name)


def pytest_runtest_setup(item):
    failed = item.module.__dict__.get("_fleet_step_failed") if getattr(item.module, "FLEET_STEPS", False) else None
    if failed:
        pytest.skip(f"the earlier step {failed} failed; this one starts from its result")


@pytest.fixture(scope="module")
def controller(netns_usable, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleet")
    # /tmp is private on the hosts: what they share with the controller lives under /var/tmp.
    shared = tempfile.mkdtemp(prefix="noops-fleet-", dir="/var/tmp")
    # Mount points for the hosts' private folders: empty folders on the real machine (as the harness makes /data),
    # removed afterwards when this run made them and they are still empty.
    mounts = dict(HOST_PRIVATE_EXTRA)
    made = [d for d in [*mounts, SUPERVISOR_VENV] if not os.path.exists(d)]
    fleet = netns.Fleet(4, tmp / "hosts")
    try:
        venv = supervisor_venv(shared)
        for d in made:
            os.makedirs(d)
        fleet.up()
        for host in fleet.hosts:
            binds = [f"mkdir -p {src} && mount --bind {src} {mnt}" for mnt, src in mounts.items()]
            binds.append(f"mount --bind {venv} {SUPERVISOR_VENV}")
            fleet.run(host, " && ".join(binds))
        yield Controller(fleet, tmp)
    finally:
        # The hosts' pid namespaces (supervisors, services) and mount namespaces end with their launchers.
        fleet.down()
        for d in reversed(made):
            try:
                os.rmdir(d)
            except OSError:
                pass
        shutil.rmtree(shared, ignore_errors=True)
