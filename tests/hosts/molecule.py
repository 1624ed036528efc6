"""Run Molecule scenarios from molecule/ with the environment this repository needs.

Every scenario is run with the shared base config `molecule/base.yml` (podman driver, no Galaxy, testinfra),
the driver collections unpacked by `hosts.podman.collections_dir()` plus this checkout's `collections/` on
ANSIBLE_COLLECTIONS_PATH, and the venv's bin first on PATH so Molecule runs this venv's ansible and pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys

from . import podman
from .common import REPO_ROOT, HostsError

BASE_CONFIG = REPO_ROOT / "molecule" / "base.yml"
SCENARIOS = REPO_ROOT / "molecule"
# The podman driver labels every container it creates so; leftovers of an interrupted run are found by it.
CONTAINER_LABEL = "owner=molecule"


def scenarios() -> list[str]:
    return sorted(p.parent.name for p in SCENARIOS.glob("*/molecule.yml"))


def molecule_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join([str(podman.collections_dir()), str(REPO_ROOT / "collections")])
    # Scenarios live in molecule/ (the classic place); say so, so Molecule does not look in extensions/molecule/.
    env["MOLECULE_GLOB"] = "molecule/*/molecule.yml"
    # Molecule writes its own ansible.cfg and points ANSIBLE_CONFIG at it; an inherited one must not leak in.
    env.pop("ANSIBLE_CONFIG", None)
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    env.setdefault("NO_COLOR", "1")
    env.update(extra or {})
    return env


def molecule_command(scenario: str, command: str = "test", extra_args: list[str] | None = None) -> list[str]:
    if scenario not in scenarios():
        raise HostsError(f"molecule scenario {scenario!r}: no {SCENARIOS / scenario / 'molecule.yml'} "
                         f"(have: {', '.join(scenarios()) or 'none'})")
    bindir = os.path.dirname(sys.executable)
    return [os.path.join(bindir, "molecule"), "-c", str(BASE_CONFIG), command, "-s", scenario, *(extra_args or [])]


def run_scenario(scenario: str, command: str = "test", *, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, stream: bool = False,
                 timeout: float = 1800) -> subprocess.CompletedProcess:
    """`molecule COMMAND -s SCENARIO` from the repository root. With stream, output goes to the terminal;
    otherwise stdout and stderr (merged) are captured in the result's stdout for the caller to show on failure."""
    cmd = molecule_command(scenario, command, extra_args)
    output = None if stream else subprocess.PIPE
    return subprocess.run(cmd, cwd=REPO_ROOT, env=molecule_env(env), timeout=timeout, text=True, check=False,
                          stdout=output, stderr=subprocess.STDOUT if output else None)
