"""Launching from the console: ``POST /api/v1/deploys`` on a real ``noops console`` deploys to a 2-host local fleet
exactly as ``noops deploy`` does (same command, a process of its own), the console user is the history's
initiator, and a bad cluster.yml starts nothing."""

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

from localfleet import BIN, NEEDS_SUPERVISOR, build_hello, hello_cluster, make_fleet, remove_fleet
from servers import running_console

pytestmark = [pytest.mark.slow, NEEDS_SUPERVISOR]


@pytest.fixture
def fleet_console():
    pytest.importorskip("django", reason="noops console needs the console extra")
    ctx = make_fleet("ncl-")
    build_hello(ctx, "1.0.0")
    doc = hello_cluster(ctx, "1.0.0", secret="launch-test-secret", batch=1)
    env = dict(ctx["env"], XDG_DATA_HOME=os.path.join(ctx["base"], "data"), NOOPS_TREE=ctx["tree"])
    for name in ("NOOPS_CONSOLE_DB", "NOOPS_HISTORY_DSN", "NOOPS_USER"):
        env.pop(name, None)
    dsn = os.path.join(ctx["base"], "history.db")
    try:
        with running_console(["--dsn", dsn], env, cwd=ctx["base"]) as run:
            token = subprocess.run([os.path.join(BIN, "noops"), "console", "token", "add", "admin"], env=env,
                                   capture_output=True, text=True, check=True).stdout.strip().split()[-1]
            yield {"url": run["url"], "token": token, "doc": doc, "hosts": ctx["hosts"], "base": ctx["base"],
                   "inventory": ctx["inventory"], "dsn": dsn}
    finally:
        remove_fleet(ctx)


def _api(ctx, method, path, body=None):
    request = urllib.request.Request(ctx["url"] + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + ctx["token"],
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_launch_deploys_as_noops_deploy_does(fleet_console):
    ctx = fleet_console
    bad = dict(ctx["doc"], hello=dict(ctx["doc"]["hello"], batch=0))
    status, answer = _api(ctx, "POST", "/api/v1/deploys", {"cluster_yml": yaml.safe_dump(bad),
                                                           "inventory": ctx["inventory"]})
    assert status == 400 and "cluster.yml: hello.batch: 0: must be an integer >= 1" in answer["errors"]
    assert not any(os.path.exists(h.root) for h in ctx["hosts"])  # nothing started
    status, answer = _api(ctx, "POST", "/api/v1/deploys", {"cluster_yml": yaml.safe_dump(ctx["doc"]),
                                                           "inventory": ctx["inventory"]})
    assert status == 201, answer
    task_id = answer["task"]
    deadline = time.monotonic() + 600
    while True:
        status, task = _api(ctx, "GET", "/api/v1/tasks/%d" % task_id)
        assert status == 200
        if task["status"] not in ("running", "paused"):
            break
        assert time.monotonic() < deadline, task
        time.sleep(2)
    assert task["status"] == "success", task
    assert task["initiator"] == "admin" and task["version"] == "1.0.0" and task["playbook"] == "deploy.yml"
    assert sorted((h["host"], h["status"], h["version"]) for h in task["hosts"]) == sorted(
        (h.name, "success", "1.0.0") for h in ctx["hosts"])
    assert "launch-test-secret" not in json.dumps(task)
    deploys = os.path.join(ctx["base"], "data", "noops", "deploys")
    kept = [f for f in os.listdir(deploys) if f.endswith(".yml")]
    assert len(kept) == 1 and task["cluster_file"] == os.path.join(deploys, kept[0])
    assert os.stat(os.path.join(deploys, kept[0])).st_mode & 0o077 == 0
    log = os.path.join(deploys, kept[0][:-4] + ".log")  # noops deploy's own output
    deadline = time.monotonic() + 60
    while not re.search(r"deploy 1\.0\.0: 2 host\(s\): 2 success", open(log).read()):
        assert time.monotonic() < deadline, open(log).read()[-3000:]
        time.sleep(1)
