"""The execution environment (execution-environment.yml, ansible-builder v3): its build context is made offline,
and the image builds with podman from a Debian base made on this machine (debootstrap from the Debian mirror,
podman import, the rootfs kept in the harness cache) without any registry, and holds the collection with its
Python and system packages (the collection's meta/execution-environment.yml, requirements.txt, bindep.txt)."""

import os
import subprocess
import sys

import pytest
import yaml

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT = os.path.dirname(TESTS)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from hosts import podman  # noqa: E402
from hosts.common import missing_programs  # noqa: E402

BIN = os.path.dirname(sys.executable)
EE_FILE = os.path.join(ROOT, "execution-environment.yml")
pytestmark = pytest.mark.slow


def offline():
    """A command prefix that runs without any network (a new network namespace) when we can make one."""
    if os.geteuid() == 0 and not missing_programs("unshare"):
        if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
            return ["unshare", "-n"]
    return []


def test_the_collection_declares_its_dependencies():
    meta = yaml.safe_load(open(os.path.join(ROOT, "meta", "execution-environment.yml")))
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    python = open(os.path.join(ROOT, "requirements.txt")).read()
    # What the controller-side plugins import beyond ansible-core: YAML files, templates, the PostgreSQL store.
    for package in ("PyYAML", "Jinja2", "psycopg[binary]"):
        assert "\n" + package in "\n" + python, package
    system = open(os.path.join(ROOT, "bindep.txt")).read()
    for package in ("openssh-client", "git"):
        assert "\n" + package + " [" in "\n" + system, package
    # god, supervisord and systemd run on the target hosts, not in the execution environment.
    for host_side in ("ruby-god", "supervisor", "systemd"):
        assert host_side not in system.replace("god, supervisord and systemd", "")


def test_builder_create_works_offline(tmp_path):
    podman.collection_tarball()
    context = tmp_path / "context"
    proc = subprocess.run(offline() + [os.path.join(BIN, "ansible-builder"), "create", "-f", EE_FILE, "-c",
                                       str(context), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="localhost/noops-ee-base:latest"' in containerfile
    assert 'ARG PKGMGR="/usr/local/bin/apt-pkgmgr"' in containerfile
    assert "introspect.py introspect" in containerfile
    build = context / "_build"
    assert (build / "scripts" / "apt-pkgmgr").is_file()
    assert any(p.name.startswith("noops-platform-") for p in (build / "collections").iterdir())
    assert yaml.safe_load((build / "requirements.yml").read_text())["collections"] == [
        {"name": "/build/collections/noops-platform.tar.gz", "type": "file"}]


def test_image_builds_without_a_registry(ee_image):
    # Built by the session's ee_image (conftest.py) with --pull=never from the debootstrapped base, or kept from an
    # earlier run when nothing it is made of changed.
    image = ee_image.name

    def in_image(*cmd):
        return subprocess.run(["podman", "run", "--rm", "--pull", "never", "--network", "none", image, *cmd],
                              capture_output=True, text=True, timeout=300)

    shown = in_image("ansible-galaxy", "collection", "list", "noops.platform")
    assert "noops.platform" in shown.stdout, shown.stdout + shown.stderr
    doc = in_image("ansible-doc", "-t", "callback", "noops.platform.history")
    assert doc.returncode == 0 and "CALLBACK_TYPE" not in doc.stderr, doc.stderr
    # The collection's Python and system packages came in through its meta/execution-environment.yml.
    deps = in_image("python3", "-c", "import psycopg, yaml, jinja2, ansible_runner; print(psycopg.__version__)")
    assert deps.returncode == 0, deps.stderr
    tools = in_image("sh", "-c", "git --version && ssh -V 2>&1")
    assert tools.returncode == 0 and "git version" in tools.stdout and "OpenSSH" in tools.stdout, tools.stderr
    # The history store opens in the image (SQLite here; PostgreSQL through the psycopg just checked).
    store = in_image("sh", "-c", "PYTHONPATH=/usr/share/ansible/collections python3 -c 'from ansible_collections."
                     "noops.platform.plugins.plugin_utils.history.store import HistoryStore; "
                     "print(HistoryStore(\"/tmp/h.db\").schema_version())'")
    assert store.returncode == 0 and store.stdout.strip().isdigit(), store.stderr
    assert podman.image_recipe(image) == podman.ee_recipe_hash(podman.collection_tarball())
