"""Fixtures of the fleet tests: one prepared 4-host namespace fleet per test module (see fleetctl.py), and
steps: in a module with `FLEET_STEPS = True`, a failed test skips the ones after it (each starts from the state
the previous one left)."""

import pytest

from fleetctl import Controller, prepared_fleet


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
    with prepared_fleet(4, tmp) as fleet:
        yield Controller(fleet, tmp)
