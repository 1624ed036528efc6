"""Podman harness: cached images that run what deploys need, a booting systemd image, the driver's collections,
and the default Molecule scenario end to end. Needs root and podman (skipped otherwise, with the reason)."""

import json
import re
import subprocess
import time

import pytest

from hosts import molecule, podman

pytestmark = pytest.mark.slow


def podman_cmd(*args, check=True, timeout=120):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def test_second_prepare_builds_nothing(podman_prepared):
    assert podman.ensure_images() == {podman.BASE_IMAGE: "cached", podman.SYSTEMD_IMAGE: "cached"}
    assert podman.setup_engine() == []


@pytest.mark.parametrize("image,recipe", [
    (podman.BASE_IMAGE, podman.base_recipe_hash),
    (podman.SYSTEMD_IMAGE, podman.systemd_recipe_hash),
])
def test_images_carry_their_recipe(podman_prepared, image, recipe):
    assert podman.image_recipe(image) == recipe()


# What a deploy needs on a target host, checked inside the base image.
IN_BASE_IMAGE = [
    ("python3 -c 'import sys; print(sys.version_info[0])'", "3"),
    ("python3 -c 'import venv; print(venv.__name__)'", "venv"),
    ("god --version | cut -d' ' -f1-2", "Version 0.13.7"),
    ("sudo -n true && echo ok", "ok"),
    ("ps -p 1 -o comm=", "sh"),
    (". /etc/os-release && echo $VERSION_CODENAME", "bookworm"),
]


@pytest.mark.parametrize("cmd,expected", IN_BASE_IMAGE, ids=[c[0].split()[0] for c in IN_BASE_IMAGE])
def test_base_image_has_what_deploys_use(podman_prepared, cmd, expected):
    out = podman_cmd("run", "--rm", "--network", "none", podman.BASE_IMAGE, "sh", "-c", cmd).stdout.strip()
    assert out == expected


def test_systemd_image_boots(podman_prepared):
    name = f"noops-systemd-probe-{time.monotonic_ns()}"
    podman_cmd("run", "-d", "--name", name, "--systemd=always", "--network", "none", podman.SYSTEMD_IMAGE,
               "/sbin/init")
    try:
        state = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = podman_cmd("exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        assert state in ("running", "degraded"), f"systemd state {state!r}"
        assert podman_cmd("exec", name, "ps", "-p", "1", "-o", "comm=").stdout.strip() == "systemd"
    finally:
        podman_cmd("rm", "-f", "-t", "0", name, check=False)


@pytest.mark.parametrize("name,minimum", [("containers/podman", (1, 7, 0)), ("ansible/posix", (1, 3, 0))])
def test_driver_collections_are_unpacked(podman_prepared, name, minimum):
    version = podman.collection_version(podman.collections_dir(), name)
    assert tuple(int(p) for p in version.split(".")[:3]) >= minimum


def test_molecule_default_scenario(run_molecule):
    proc = run_molecule("default")
    assert proc.returncode == 0, proc.stdout[-6000:]
    # Each step of the sequence ran for real, and the verify ran every testinfra check.
    for step in ("create", "converge", "idempotence", "verify", "destroy"):
        assert f"default > {step}: Executed: Successful" in proc.stdout
    assert re.search(r"=+ \d+ passed in ", proc.stdout) and not re.search(r"\d+ failed", proc.stdout)
    left = podman_cmd("ps", "-a", "--filter", f"label={molecule.CONTAINER_LABEL}", "--format", "json").stdout
    assert [c["Names"] for c in json.loads(left or "[]") if any(n.startswith("noops-default") for n in c["Names"])] == []


def test_unknown_scenario_is_named(podman_prepared):
    with pytest.raises(molecule.HostsError, match="molecule scenario 'nope'"):
        molecule.run_scenario("nope")
