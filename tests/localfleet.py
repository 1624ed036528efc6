"""A local fleet for integration tests: hello machines that are folders of this machine, each with its own
supervisord of this venv, a service tree and its inventory source, hello packages, and a private history store,
package cache, staging and lock folder (other runs on this machine deploy the same service).

Importable from every test folder: pytest puts ``tests/`` on ``sys.path`` for ``tests/conftest.py``.
"""

import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing as t

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
HELLO = os.path.join(ROOT, "examples", "packages", "hello")
if os.path.join(ROOT, "collections") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.noops.platform.plugins.plugin_utils import fleet as fleetlib  # noqa: E402
from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package  # noqa: E402
from ansible_collections.noops.platform.plugins.module_utils.supervisor import instance_layout  # noqa: E402

NEEDS_SUPERVISOR = pytest.mark.skipif(not os.access(os.path.join(BIN, "supervisord"), os.X_OK),
                                      reason="supervisor is not installed in this venv (pip install -e '.[test]')")


def make_fleet(prefix: str, count: int = 2, subfolder: str = "") -> dict[str, t.Any]:
    """Plan ``count`` hello machines under a new ``/tmp/<prefix>…`` folder (short: supervisord's socket path is at
    most 107 bytes) and write their tree and inventory source into its ``subfolder`` (default: the folder itself).

    Returns ``{"base", "hosts" (FleetHost list), "inventory", "tree", "env"}``; ``env`` is this process's environment
    with a private ``NOOPS_HISTORY_DSN`` (``<base>/history.db``), ``XDG_CACHE_HOME``, ``NOOPS_STAGING`` and
    ``NOOPS_LOCK_DIR``, and without ``ANSIBLE_CONFIG``. End it with :func:`remove_fleet`.
    """
    base = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    folder = os.path.join(base, subfolder)
    os.makedirs(folder, exist_ok=True)
    hosts = fleetlib.plan_fleet(os.path.join(base, "h"), count, "hello")
    tree = os.path.join(folder, fleetlib.TREE_FILE)
    with open(tree, "w") as f:
        yaml.safe_dump(fleetlib.fleet_tree(hosts, supervisor_venv=sys.prefix), f)
    inventory = os.path.join(folder, fleetlib.INVENTORY_FILE)
    with open(inventory, "w") as f:
        f.write(fleetlib.inventory_source())
    env = dict(os.environ, NOOPS_HISTORY_DSN=os.path.join(base, "history.db"), XDG_CACHE_HOME=os.path.join(base, "c"),
               NOOPS_STAGING=os.path.join(base, "staging"), NOOPS_LOCK_DIR=os.path.join(base, "locks"))
    env.pop("ANSIBLE_CONFIG", None)
    return {"base": base, "hosts": hosts, "inventory": inventory, "tree": tree, "env": env}


def build_hello(ctx: t.Mapping[str, t.Any], version: str, src: str = HELLO) -> str:
    """Build ``<base>/hello-<version>.tar.gz`` from ``src`` (default the example hello package); its path."""
    package = os.path.join(ctx["base"], "hello-%s.tar.gz" % version)
    build_package(src, package, version=version)
    return package


def broken_hello(ctx: t.Mapping[str, t.Any], said: t.Sequence[str] = ("cannot start: broken build",)) -> str:
    """A copy of the hello package folder (``<base>/broken``) whose program writes ``said`` to stderr and exits 3
    at once: a release that cannot start. Returns the folder, for :func:`build_hello`."""
    broken = os.path.join(ctx["base"], "broken")
    shutil.copytree(HELLO, broken)
    run_sh = os.path.join(broken, "release", "target", "bin", "run.sh")
    with open(run_sh, "w") as f:
        f.write("#!/bin/sh\n" + "".join("echo %s >&2\n" % shlex.quote(line) for line in said) + "exit 3\n")
    os.chmod(run_sh, 0o755)
    return broken


def hello_cluster(ctx: t.Mapping[str, t.Any], version: str, jobs: t.Sequence[str] | None = None,
                  secret: str = "fleet-test-secret", **changes: t.Any) -> dict[str, t.Any]:
    """The cluster.yml document deploying ``<base>/hello-<version>.tar.gz`` (built before) to the fleet, its sha256
    given; ``changes`` update the hello block."""
    package = os.path.join(ctx["base"], "hello-%s.tar.gz" % version)
    with open(package, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    doc = {"cluster": {"name": "hello", "version": version, "env": "production",
                       "jobs": list(jobs or fleetlib.jobs_of(ctx["hosts"], "hello"))},
           "hello": {"path": "/home/work/hello", "pkg_url": "file://" + package, "pkg_sha256": digest,
                     "port": 8080, "db_passwd": secret}}
    doc["hello"].update(changes)
    return doc


def write_yaml(path: str, doc: t.Any) -> str:
    """Write ``doc`` as YAML to ``path``; returns ``path``."""
    with open(path, "w") as f:
        yaml.safe_dump(doc, f)
    return path


def remove_fleet(ctx: t.Mapping[str, t.Any]) -> None:
    """Shut every host's supervisord down (it stops the services it runs), end what still runs on the fleet's
    files (a deploy a test launched and left paused, in a session of its own), and remove the fleet's folder."""
    for host in ctx["hosts"]:
        layout = instance_layout(host.root, "supervisord")
        if os.path.exists(layout["pidfile"]):
            subprocess.run([os.path.join(BIN, "supervisorctl"), "-c", layout["main_conf"], "shutdown"],
                           capture_output=True, timeout=60, check=False)
    end_processes_of(ctx["base"])
    shutil.rmtree(ctx["base"], ignore_errors=True)


def end_processes_of(folder: str, wait: float = 10.0) -> list[int]:
    """SIGTERM (then, after ``wait`` seconds, SIGKILL) every process of this user whose command line names a path
    below ``folder``, and their process groups; returns their pids."""
    mark = (folder.rstrip("/") + "/").encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if mark in f.read() and os.stat("/proc/%s" % pid).st_uid == os.getuid():
                    found.append(int(pid))
        except OSError:
            continue
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid in found if _alive(pid)]
        for pid in alive:
            try:
                pgid = os.getpgid(pid)
                if pgid != os.getpgid(0):
                    os.killpg(pgid, sig)
                else:
                    os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while any(_alive(pid) for pid in alive) and time.monotonic() < deadline:
            time.sleep(0.1)
    return found


def _alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
