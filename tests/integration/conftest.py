"""Fixtures for tests on real hosts, from the harness in tests/hosts (docs/testing.md).

- `fleet_factory(n)` -> a started `hosts.netns.Fleet` of n namespace hosts with sshd, torn down after the test;
  `fleet` is a 3-host one (parametrize it indirectly with another size).
- `run_molecule(scenario, command="test", *args)` -> the finished `molecule` process (output in .stdout).
Both skip, saying why, where root, namespaces, sshd or podman are not available.
"""

import os
import sys

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from hosts import molecule, netns, podman  # noqa: E402
from hosts.common import HostsError  # noqa: E402


@pytest.fixture(scope="session")
def netns_usable():
    reason = netns.unusable_reason()
    if reason:
        pytest.skip(reason)
    # Fleets of an interrupted earlier run would hold their bridges and subnets.
    netns.cleanup_stale()


@pytest.fixture
def fleet_factory(netns_usable, tmp_path):
    fleets = []

    def make(n: int) -> netns.Fleet:
        fleet = netns.Fleet(n, tmp_path / f"fleet{len(fleets)}")
        fleets.append(fleet)
        return fleet.up()

    yield make
    for fleet in reversed(fleets):
        fleet.down()


@pytest.fixture
def fleet(fleet_factory, request):
    return fleet_factory(getattr(request, "param", 3))


@pytest.fixture(scope="session")
def podman_prepared():
    reason = podman.unusable_reason()
    if reason:
        pytest.skip(reason)
    try:
        return podman.prepare()
    except HostsError as e:
        pytest.skip(f"podman cannot run test containers here: {e}")


@pytest.fixture
def run_molecule(podman_prepared):
    def run(scenario: str, command: str = "test", *args: str):
        return molecule.run_scenario(scenario, command, extra_args=list(args))

    return run
