"""``noops deploy`` as an operator runs it, on a 2-host local fleet (plugins/plugin_utils/fleet.py): a rejected
request changes nothing and exits 2; a deploy exits 0; a broken release fails its first host (which keeps serving
the previous release), stops the rollout (max_fail 0: the other host is not reached) and exits 1; Ctrl-C during a
pause cancels the rollout before its next batch."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from localfleet import (
    BIN, HELLO, NEEDS_SUPERVISOR, ROOT, broken_hello, build_hello, hello_cluster, make_fleet, remove_fleet, write_yaml,
)
from ansible_collections.noops.platform.plugins.plugin_utils import fleet as fleetlib
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag

pytestmark = [pytest.mark.slow, NEEDS_SUPERVISOR]


@pytest.fixture(scope="module")
def local_fleet():
    ctx = make_fleet("ndc-")
    # The program says why it cannot start, and leaks the database password doing so.
    broken = broken_hello(ctx, ("cannot start: broken build", "login cli-test-secret refused"))
    for version, src in (("1.0.0", HELLO), ("2.0.0", HELLO), ("3.0.0", broken)):
        build_hello(ctx, version, src)
    yield ctx
    remove_fleet(ctx)


def cluster(ctx, version, jobs=None, **changes):
    return write_yaml(os.path.join(ctx["base"], "cluster-%s.yml" % version),
                      hello_cluster(ctx, version, jobs, secret="cli-test-secret", **changes))


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


# --- the rollout's own accounting, with ansible-playbook run directly (as AWX runs it) ------------------------


def ansible_deploy(ctx, cluster_file, *args, extra_inventory=None):
    """``ansible-playbook playbooks/deploy.yml`` on the fleet (plus ``extra_inventory``, an ini text listed after
    it) -> (the finished process, {host: its PLAY RECAP counts})."""
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", ctx["inventory"]]
    if extra_inventory:
        path = os.path.join(ctx["base"], "extra.ini")
        with open(path, "w") as f:
            f.write(extra_inventory)
        argv += ["-i", path]
    argv += [os.path.join(ROOT, "playbooks", "deploy.yml"), "-e", "cluster_file=%s" % cluster_file, *args]
    env = dict(ctx["env"], ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    recap = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", proc.stdout, re.M):
        recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return proc, recap


def history(ctx, task_id=None):
    """(task, {host: row}, log rows) of the last task (or ``task_id``) in the fleet's history store."""
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore
    with HistoryStore(ctx["env"]["NOOPS_HISTORY_DSN"]) as store:
        task_id = task_id or store.list_tasks(limit=1)[0]["id"]
        return (store.get_task(task_id), {h["host"]: h for h in store.task_hosts(task_id)},
                store.task_log(task_id))


BYSTANDER = "bystander ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable


def test_controller_work_is_recorded_on_the_controller(local_fleet):
    hosts = local_fleet["hosts"]
    names = [h.name for h in hosts]
    first = noops_deploy(local_fleet, "-f", cluster(local_fleet, "2.0.0"), "--batch", "2")
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    # A redeploy of the running version changes nothing on any target host; a host in the inventory that the
    # cluster does not select (listed after the fleet) is neither touched nor on the task.
    proc, recap = ansible_deploy(local_fleet, cluster(local_fleet, "2.0.0"), "-e", "batch=2",
                                 extra_inventory=BYSTANDER)
    assert proc.returncode == 0, proc.stdout[-6000:]
    # (Ansible counts the controller's steps under the first host of the inventory, target or not.)
    assert set(names) <= set(recap) and {n: c["changed"] for n, c in recap.items()} == {n: 0 for n in recap}, \
        proc.stdout[-3000:]
    task, rows, log = history(local_fleet)
    assert (task["status"], sorted(rows)) == ("success", sorted(names))
    assert {rows[n]["status"] for n in names} == {"skipped"}
    # The controller's own steps (the checks, the lock) are the task's, not the first host's.
    controller = [r for r in log if r["host"] is None]
    assert {"Check cluster.yml, the hosts and the package", "Release the deploy lock"} <= {
        r["task_name"] for r in controller}
    assert all(r["host"] in names or r["host"] is None for r in log)

    # The second host fails (a hook of thor's), the first deploys: each is recorded as what happened to it.
    hook = os.path.join(local_fleet["base"], "fail-hook.yml")
    with open(hook, "w") as f:
        f.write("- name: Fail on the second host\n  ansible.builtin.fail:\n    msg: the second host's own fault\n"
                "  when: inventory_hostname == %r\n" % names[1])
    proc, recap = ansible_deploy(local_fleet, cluster(local_fleet, "1.0.0"), "-e", "batch=1", "-e", "max_fail=1",
                                 "-e", "thor_before_prepare_tasks_file=%s" % hook, extra_inventory=BYSTANDER)
    assert proc.returncode != 0, proc.stdout[-6000:]
    assert {n: c["failed"] for n, c in recap.items()} == {n: int(n == names[1]) for n in recap}, proc.stdout[-3000:]
    task, rows, log = history(local_fleet)
    assert sorted(rows) == sorted(names)
    assert (rows[names[0]]["status"], rows[names[1]]["status"]) == ("success", "failed")
    assert "the second host's own fault" in (rows[names[1]]["message"] or "")
    assert "second host" not in (rows[names[0]]["message"] or "")
    # A host starts with its own first step, not with the controller's checks before it.
    checked = [r["at"] for r in log if r["task_name"] == "Check cluster.yml, the hosts and the package"]
    assert len(checked) == 1 and rows[names[0]]["started_at"] > checked[0]
    assert [served(h, v) for h, v in zip(hosts, ("1.0.0", "2.0.0"))] == ["1.0.0", "2.0.0"]


@pytest.mark.parametrize("how", [("--pause-step", "1"), ("--canary", "1")], ids=["pause_step", "canary"])
def test_over_max_fail_the_rollout_stops_without_pausing(local_fleet, how):
    proc = noops_deploy(local_fleet, "-f", cluster(local_fleet, "3.0.0"), "--batch", "1", "--max-fail", "0",
                        "--plain", *how, background=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("paused: run `noops tasks resume"):
                task_id = re.search(r"resume (\d+)", line).group(1)
                subprocess.run([os.path.join(BIN, "noops"), "tasks", "cancel", task_id], env=local_fleet["env"],
                               capture_output=True, timeout=120)
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines)
    assert "paused" not in out, out[-4000:]
    assert proc.returncode == 1, out[-4000:]
    assert "deploy 3.0.0: 2 host(s): 1 failed, 1 not reached" in out
    task, rows, dummy = history(local_fleet)
    assert (task["status"], task["control"]) == ("failed", "run")


def _held_lock(ctx):
    """A deploy lock of the hello cluster held by a live process (this test's) on this host."""
    from ansible_collections.noops.platform.plugins.plugin_utils.odin import lock
    key = ",".join(sorted(fleetlib.jobs_of(ctx["hosts"], "hello")))
    lock.acquire(key, os.getpid(), "another deploy", directory=ctx["env"]["NOOPS_LOCK_DIR"])
    return key


REFUSALS = [
    pytest.param({"pkg_url": "gopher://example.com/hello.tar.gz"}, r'hello\.pkg_url: "gopher://.*scheme must be',
                 id="bad-field"),
    pytest.param({"pkg_url": "file:///nonexistent/hello.tar.gz"}, r"hello\.pkg_url: .*nonexistent",
                 id="download-refused"),
    pytest.param({"path": "relative/path", "pkg_sha256": 42}, r"hello\.path: .*absolute", id="two-bad-fields"),
    pytest.param("lock", r"deploy of .* is locked by", id="lock-held"),
]


@pytest.mark.parametrize("change, problem_re", REFUSALS)
def test_a_refused_request_is_a_failed_task_with_no_host(local_fleet, change, problem_re):
    from ansible_collections.noops.platform.plugins.plugin_utils.odin import lock
    key = None
    try:
        if change == "lock":
            key = _held_lock(local_fleet)
            change = {}
        proc, recap = ansible_deploy(local_fleet, cluster(local_fleet, "1.0.0", **change), extra_inventory=BYSTANDER)
    finally:
        if key:
            lock.release(key, os.getpid(), local_fleet["env"]["NOOPS_LOCK_DIR"])
    assert proc.returncode != 0, proc.stdout[-4000:]
    task, rows, dummy = history(local_fleet)
    assert task["status"] == "failed"
    assert re.search(problem_re, task["message"] or ""), (task["message"], proc.stdout[-3000:])
    assert rows == {}
    assert (task["service"], task["version"]) == (fleetlib.jobs_of(local_fleet["hosts"], "hello")[0], "1.0.0")
