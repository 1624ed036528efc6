"""``noops deploy`` as an operator runs it, on a 2-host local fleet (plugins/module_utils/fleet.py): a rejected
request changes nothing and exits 2; a deploy exits 0; a broken release fails its first host (which keeps serving
the previous release), stops the rollout (max_fail 0: the other host is not reached) and exits 1; Ctrl-C during a
pause cancels the rollout before its next batch."""

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.noops.platform.plugins.module_utils import fleet as fleetlib  # noqa: E402
from ansible_collections.noops.platform.plugins.module_utils.package import build_package  # noqa: E402
from ansible_collections.noops.platform.plugins.module_utils.supervisor import instance_layout  # noqa: E402
from ansible_collections.noops.platform.plugins.module_utils.tags import Tag  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(os.path.join(sys.prefix, "bin", "supervisord"), os.X_OK),
                       reason="supervisor is not installed in this venv (pip install -e '.[test]')"),
]
HELLO = os.path.join(ROOT, "examples", "packages", "hello")


@pytest.fixture(scope="module")
def local_fleet():
    base = tempfile.mkdtemp(prefix="ndc-", dir="/tmp")
    hosts = fleetlib.plan_fleet(os.path.join(base, "h"), 2, "hello")
    doc = fleetlib.fleet_tree(hosts, supervisor_venv=sys.prefix)
    with open(os.path.join(base, fleetlib.TREE_FILE), "w") as f:
        yaml.safe_dump(doc, f)
    with open(os.path.join(base, fleetlib.INVENTORY_FILE), "w") as f:
        f.write(fleetlib.inventory_source())
    broken = os.path.join(base, "broken")
    shutil.copytree(HELLO, broken)
    with open(os.path.join(broken, "release", "target", "bin", "run.sh"), "w") as f:
        # The program says why it cannot start, and leaks the database password doing so.
        f.write("#!/bin/sh\necho 'cannot start: broken build' >&2\necho 'login cli-test-secret refused' >&2\n"
                "exit 3\n")
    os.chmod(os.path.join(broken, "release", "target", "bin", "run.sh"), 0o755)
    for version, src in (("1.0.0", HELLO), ("2.0.0", HELLO), ("3.0.0", broken)):
        build_package(src, os.path.join(base, "hello-%s.tar.gz" % version), version=version)
    # Private history, package cache, staging and deploy locks: other runs on this machine deploy the same service.
    env = dict(os.environ, NOOPS_HISTORY_DSN=os.path.join(base, "history.db"), XDG_CACHE_HOME=os.path.join(base, "c"),
               NOOPS_STAGING=os.path.join(base, "staging"), NOOPS_LOCK_DIR=os.path.join(base, "locks"))
    env.pop("ANSIBLE_CONFIG", None)
    ctx = {"base": base, "hosts": hosts, "env": env, "inventory": os.path.join(base, fleetlib.INVENTORY_FILE)}
    yield ctx
    for host in hosts:
        layout = instance_layout(host.root, "supervisord")
        if os.path.exists(layout["pidfile"]):
            subprocess.run([os.path.join(sys.prefix, "bin", "supervisorctl"), "-c", layout["main_conf"], "shutdown"],
                           capture_output=True, timeout=60)
    shutil.rmtree(base, ignore_errors=True)


def cluster(ctx, version, jobs=None, **changes):
    package = os.path.join(ctx["base"], "hello-%s.tar.gz" % version)
    with open(package, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    doc = {"cluster": {"name": "hello", "version": version, "env": "production",
                       "jobs": jobs or fleetlib.jobs_of(ctx["hosts"], "hello")},
           "hello": {"path": "/home/work/hello", "pkg_url": "file://" + package, "pkg_sha256": digest,
                     "port": 8080, "db_passwd": "cli-test-secret"}}
    doc["hello"].update(changes)
    path = os.path.join(ctx["base"], "cluster-%s.yml" % version)
    with open(path, "w") as f:
        yaml.safe_dump(doc, f)
    return path


def noops_deploy(ctx, *args, background=False):
    cmd = [os.path.join(BIN, "noops"), "deploy", "-i", ctx["inventory"], *args]
    if background:
        return subprocess.Popen(cmd, env=ctx["env"], cwd=ctx["base"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    return subprocess.run(cmd, env=ctx["env"], cwd=ctx["base"], capture_output=True, text=True, timeout=1800)


def served_tag(host):
    """The job tag ($<job>) in the config that a host's hello serves."""
    with urllib.request.urlopen("http://127.0.0.1:%d/" % host.port, timeout=5) as r:
        return json.load(r)["config"]["hello"]["tag"]


def served(host, want=None, wait=30.0):
    """The version a host's hello serves; waits up to ``wait`` s for ``want`` (a restarted Python service takes a
    moment to listen on a loaded machine)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/" % host.port, timeout=5) as r:
                got = json.load(r)["version"]
        except (OSError, ValueError):
            got = None
        if want is None or got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def last_task(ctx):
    conn = sqlite3.connect(ctx["env"]["NOOPS_HISTORY_DSN"])
    try:
        return conn.execute("SELECT id, status FROM noops_tasks ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        conn.close()


def test_rejected_request_touches_no_host(local_fleet):
    bad = cluster(local_fleet, "1.0.0", pkg_url="gopher://example.com/hello.tar.gz")
    proc = noops_deploy(local_fleet, "-f", bad)
    assert proc.returncode == 2, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r'^error: .*hello\.pkg_url: "gopher://example\.com/hello\.tar\.gz": scheme must be http, https, '
                     r'ftp or file', proc.stdout, re.M), proc.stdout
    assert "deploy 1.0.0: 0 host(s)" in proc.stdout or "0 host(s)" in proc.stdout
    assert not any(os.path.exists(h.root) for h in local_fleet["hosts"])


def test_deploy_then_a_broken_release(local_fleet):
    hosts = local_fleet["hosts"]
    # One jobs tag per machine room: each host's $<job> is the one its own tags match.
    job = fleetlib.jobs_of(hosts, "hello")[0]
    room_jobs = [str(Tag.parse("%s_idc.%s" % (job, host.idc))) for host in hosts]
    assert len(set(room_jobs)) == 2
    good = noops_deploy(local_fleet, "-f", cluster(local_fleet, "1.0.0", jobs=room_jobs), "--batch", "2")
    assert good.returncode == 0, good.stdout[-6000:] + good.stderr[-2000:]
    assert "deploy 1.0.0: 2 host(s): 2 success" in good.stdout
    for host, host_job in zip(hosts, room_jobs):
        assert re.search(r"^\d\d:\d\d:\d\d %s\s+deploying" % re.escape(host.name), good.stdout, re.M)
        assert served(host, "1.0.0") == "1.0.0"
        assert served_tag(host) == host_job

    broken = noops_deploy(local_fleet, "-f", cluster(local_fleet, "3.0.0"), "--batch", "1", "--max-fail", "0")
    assert broken.returncode == 1, broken.stdout[-6000:] + broken.stderr[-2000:]
    assert "deploy 3.0.0: 2 host(s): 1 failed, 1 not reached" in broken.stdout
    assert re.search(r"^  %s failed: thor: deploy of hello 3\.0\.0 failed at .*switched back to 1\.0\.0"
                     % re.escape(hosts[0].name), broken.stdout, re.M), broken.stdout
    assert [served(h, "1.0.0") for h in hosts] == ["1.0.0", "1.0.0"]
    assert last_task(local_fleet)[1] == "failed"
    # What failed reaches the table (a line per state change here), the summary and the history: the command,
    # its exit status and the program's own last lines, the secret it printed masked; at once, not after 30 s.
    why = r"command: \S+/home/work/hello/bin/run\.sh; exit status 3; .*cannot start: broken build.*" \
          r"login \*{8} refused"
    assert re.search(r"^\d\d:\d\d:\d\d %s\s+failed .*gave up on it.*%s" % (re.escape(hosts[0].name), why),
                     broken.stdout, re.M), broken.stdout
    assert re.search(r"^  %s failed: thor: deploy of hello 3\.0\.0 failed at .*%s.*switched back to 1\.0\.0"
                     % (re.escape(hosts[0].name), why), broken.stdout, re.M), broken.stdout
    assert "within 30s" not in broken.stdout
    task_id = last_task(local_fleet)[0]
    tasks = [os.path.join(BIN, "noops"), "tasks"]
    env = dict(local_fleet["env"], COLUMNS="4000")
    shown = subprocess.run(tasks + ["show", str(task_id), "--json"], env=env, capture_output=True, text=True)
    message = {h["host"]: h.get("message") or "" for h in json.loads(shown.stdout)["hosts"]}[hosts[0].name]
    assert re.search(why, message), message
    table = subprocess.run(tasks + ["show", str(task_id)], env=env, capture_output=True, text=True).stdout
    logged = subprocess.run(tasks + ["log", str(task_id), "--host", hosts[0].name], env=env, capture_output=True,
                            text=True).stdout
    assert "cannot start: broken build" in table and "exit status 3" in table, table
    assert "cannot start: broken build" in logged and "exit status 3" in logged, logged
    for text in (broken.stdout, broken.stderr, shown.stdout, table, logged):
        assert "cli-test-secret" not in text


def test_ctrl_c_while_paused_cancels_before_the_next_batch(local_fleet):
    hosts = local_fleet["hosts"]
    proc = noops_deploy(local_fleet, "-f", cluster(local_fleet, "2.0.0"), "--batch", "1", "--pause-step", "1",
                        "--plain", background=True)
    lines = []
    deadline = time.monotonic() + 1500
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("paused: run `noops tasks resume"):
                proc.send_signal(signal.SIGINT)
                break
            assert time.monotonic() < deadline, "no pause within the time:\n" + "".join(lines[-50:])
        rest, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 130, out[-6000:]
    assert "cancelling: hosts being deployed now finish, no new batch starts" in out
    assert re.search(r"cancelled: task \d+ cancelled by ", out), out[-3000:]
    assert "deploy 2.0.0: 2 host(s): 1 success, 1 not reached" in out
    assert [served(h, v) for h, v in zip(hosts, ("2.0.0", "1.0.0"))] == ["2.0.0", "1.0.0"]
    assert last_task(local_fleet)[1] == "cancelled"
