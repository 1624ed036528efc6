"""The deploy lock is Odin's own: ``ansible-playbook playbooks/deploy.yml`` with the history callback turned off
leaves no lock behind, whether the deploy succeeds, fails on a host, or is interrupted (Ctrl-C) half-way."""

import glob
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from localfleet import NEEDS_SUPERVISOR
from test_deploy_cli_runs import BIN, ROOT, cluster, local_fleet, served  # noqa: F401 (local_fleet: a fixture)

pytestmark = [pytest.mark.slow, NEEDS_SUPERVISOR]


def locks_left(ctx, wait=10.0):
    """The lock files in the fleet's lock folder, waiting up to ``wait`` s for them to go."""
    deadline = time.monotonic() + wait
    while True:
        left = sorted(glob.glob(os.path.join(ctx["env"]["NOOPS_LOCK_DIR"], "*.json")))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def tasks_recorded(ctx):
    path = ctx["env"]["NOOPS_HISTORY_DSN"]
    if not os.path.exists(path):
        return 0
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM noops_tasks").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def history_off_config(ctx):
    """The repository's ansible.cfg without ``callbacks_enabled``: the history is off."""
    with open(os.path.join(ROOT, "ansible.cfg")) as f:
        lines = [line for line in f if not line.startswith("callbacks_enabled")]
    text = "".join(lines).replace("collections_path = ./collections",
                                  "collections_path = %s" % os.path.join(ROOT, "collections"))
    assert "callbacks_enabled" not in text and os.path.join(ROOT, "collections") in text
    path = os.path.join(ctx["base"], "history-off.cfg")
    with open(path, "w") as f:
        f.write(text)
    return path


def start_deploy(ctx, cluster_file, *args):
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", ctx["inventory"],
            os.path.join(ROOT, "playbooks", "deploy.yml"), "-e", "cluster_file=%s" % cluster_file, *args]
    env = dict(ctx["env"], ANSIBLE_CONFIG=history_off_config(ctx), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


@pytest.mark.parametrize("how", ["success", "failure", "interrupted"])
def test_no_lock_left_with_history_off(local_fleet, how):
    hosts = local_fleet["hosts"]
    before = tasks_recorded(local_fleet)
    if how == "success":
        proc = start_deploy(local_fleet, cluster(local_fleet, "1.0.0"), "-e", "batch=2")
        out = proc.communicate(timeout=1800)[0]
        assert proc.returncode == 0, out[-4000:]
    elif how == "failure":
        # The broken release fails the first host; max_fail 0 stops the rollout.
        proc = start_deploy(local_fleet, cluster(local_fleet, "3.0.0"), "-e", "batch=1")
        out = proc.communicate(timeout=1800)[0]
        assert proc.returncode != 0, out[-4000:]
    else:
        # Ctrl-C while the rollout sleeps between its two batches: the first host is done, the second not reached.
        proc = start_deploy(local_fleet, cluster(local_fleet, "2.0.0"), "-e", "batch=1", "-e", "sleep=120")
        try:
            deadline = time.monotonic() + 900
            while served(hosts[0], wait=0) != "2.0.0":
                assert proc.poll() is None, "the deploy ended before its first host was done:\n" + proc.stdout.read()
                assert time.monotonic() < deadline, "the first host was not deployed in time"
                time.sleep(1)
            time.sleep(2)
            os.killpg(proc.pid, signal.SIGINT)
            out = proc.communicate(timeout=300)[0]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert proc.returncode != 0, out[-4000:]
        assert served(hosts[1]) in ("1.0.0", "3.0.0")  # not reached: still its own complete release
    assert tasks_recorded(local_fleet) == before, "the history callback was not off"
    assert locks_left(local_fleet) == [], out[-4000:]
