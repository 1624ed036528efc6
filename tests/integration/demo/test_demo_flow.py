"""``noops demo`` end to end on a 2-host local fleet: build, deploy 1.0.0 with a pause that resumes, processes,
2.0.0, rollback; every host's hello answering the right version over HTTP after each step; a second run reuses
the fleet (its first deploy skips the hosts already at 1.0.0); ``--clean`` stops the supervisors and removes it."""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(os.path.join(sys.prefix, "bin", "supervisord"), os.X_OK),
                       reason="supervisor is not installed in this venv (pip install -e '.[test]'); the demo would "
                              "download it"),
]


@pytest.fixture(scope="module")
def demo():
    # Short: every host's supervisord socket lives below this folder (AF_UNIX paths are at most 107 bytes).
    base = tempfile.mkdtemp(prefix="nd-", dir="/tmp")
    env = dict(os.environ, NOOPS_HISTORY_DSN=os.path.join(base, "history.db"), XDG_CACHE_HOME=os.path.join(base, "c"),
               NOOPS_STAGING=os.path.join(base, "staging"), NOOPS_LOCK_DIR=os.path.join(base, "locks"),
               NOOPS_USER="demo-tester")
    env.pop("ANSIBLE_CONFIG", None)
    ctx = {"dir": os.path.join(base, "demo"), "env": env, "dsn": env["NOOPS_HISTORY_DSN"]}

    def run(*args, timeout=1800):
        return subprocess.run([os.path.join(BIN, "noops"), "demo", "--dir", ctx["dir"], *args], env=env, cwd=base,
                              capture_output=True, text=True, timeout=timeout)
    ctx["run"] = run
    yield ctx
    run("--clean", timeout=300)
    shutil.rmtree(base, ignore_errors=True)


def fleet_hosts(ctx):
    with open(os.path.join(ctx["dir"], "fleet", "tree.yml")) as f:
        doc = yaml.safe_load(f)
    return {name: entry["vars"] for name, entry in doc["machines"].items()}


def served(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as r:
        return json.load(r)


def tasks(dsn):
    conn = sqlite3.connect(dsn)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT id, playbook, status, control_reason FROM noops_tasks ORDER BY id")
        return [dict(r) for r in rows]
    finally:
        conn.close()


def test_demo_twice_then_clean(demo):
    first = demo["run"]("--hosts", "2", "--plain", "--pause-seconds", "1")
    out = first.stdout
    assert first.returncode == 0, out[-6000:] + first.stderr[-3000:]
    for step in ("==> 1. A local fleet from the example service tree", "==> 3. Deploy hello 1.0.0 to 2 hosts",
                 "==> 4. The processes of every host", "==> 5. Deploy hello 2.0.0 to all 2 hosts at once",
                 "==> 6. Roll back to 1.0.0",
                 "Where to look next"):
        assert step in out
    # The pause: task_control's message, our hint, and the resume the demo typed.
    assert re.search(r"task \d+ paused by pause_step at .*: pause_step 1", out)
    assert re.search(r"paused: run `noops tasks resume \d+`", out)
    assert re.search(r"\$ noops tasks resume \d+ ", out)
    assert out.count("deploy 1.0.0: 2 host(s): 2 success") == 1
    assert "deploy 2.0.0: 2 host(s): 2 success" in out
    assert "rollback" in out and "2 host(s): 2 success" in out.split("==> 6.")[1]

    hosts = fleet_hosts(demo)
    assert len(hosts) == 2
    with open(os.path.join(demo["dir"], "fleet", "tree.yml")) as f:
        tags = [t for e in yaml.safe_load(f)["machines"].values() for t in e["tags"]]
    assert len({re.search(r"idc\.(\w+)", t).group(1) for t in tags}) == 2
    for name, hvars in hosts.items():
        body = served(hvars["noops_port"])
        assert body["version"] == "1.0.0", name
        assert body["config"]["hello"]["greeting"] == "hello from hello 1.0.0"
        link = os.path.join(hvars["noops_root"], "home", "work", "hello")
        assert os.readlink(link) == ".releases/hello/1.0.0"
        # The process list step printed this host's hello with its pid and version.
        assert re.search(r"%s\s+success\s.*hello running \d+ 1\.0\.0" % re.escape(name), out)

    console_started_on_the_demo(demo, out)

    recorded = tasks(demo["dsn"])
    assert [t["playbook"] for t in recorded] == ["deploy.yml", "control.yml", "deploy.yml", "rollback.yml"]
    assert all(t["status"] == "success" for t in recorded), recorded
    assert recorded[0]["control_reason"] == "noops demo"

    second = demo["run"]("--hosts", "2", "--plain", "--pause-seconds", "1")
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr[-3000:]
    assert "reusing the fleet of 2 hosts" in second.stdout
    assert "deploy 1.0.0: 2 host(s): 2 skipped" in second.stdout
    assert all(served(h["noops_port"])["version"] == "1.0.0" for h in hosts.values())

    pidfiles = [os.path.join(h["noops_root"], "var", "run", "noops", "supervisord", "supervisord.pid")
                for h in hosts.values()]
    assert all(os.path.exists(p) for p in pidfiles)
    clean = demo["run"]("--clean", timeout=300)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert not os.path.exists(demo["dir"])
    for hvars in hosts.values():
        with pytest.raises(OSError):
            served(hvars["noops_port"])


def console_started_on_the_demo(demo, out):
    """The demo ends with how to open the console on its fleet: the command, run as printed (on a free port),
    serves the demo's history store, tree and cluster.yml at the URL printed."""
    import shlex
    import socket
    import time

    pytest.importorskip("django", reason="noops console needs the console extra")
    after = out.split("Where to look next", 1)[1]
    line = next(ln.strip() for ln in after.splitlines() if " noops console --dsn " in ln)
    assert "http://127.0.0.1:8642/" in after
    words = shlex.split(line.split("#", 1)[0])
    env_words = [w for w in words if "=" in w and not w.startswith("-")][:1]
    command = words[len(env_words):]
    assert command[:3] == ["noops", "console", "--dsn"] and command[3] == demo["dsn"], line
    tree = env_words[0].split("=", 1)[1]
    assert tree == os.path.join(demo["dir"], "fleet", "tree.yml")
    assert os.path.isfile(os.path.join(demo["dir"], "fleet", "clusters", "hello.yml"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tempfile.mkdtemp(prefix="nd-console-")
    env = dict(demo["env"], NOOPS_TREE=tree, XDG_DATA_HOME=home)
    env.pop("NOOPS_HISTORY_DSN")
    proc = subprocess.Popen([os.path.join(BIN, "noops")] + command[1:] + ["--bind", "127.0.0.1:%d" % port], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while not any("history store" in ln and "did not exist" not in ln for ln in seen):
            seen.append(proc.stdout.readline())
            assert proc.poll() is None and time.monotonic() < deadline, "".join(seen)
        assert any(ln.strip() == "noops console: history store %s" % demo["dsn"] for ln in seen), seen
        password = re.search(r"created user admin with password (\S+) ", "".join(seen)).group(1)
        token = subprocess.run([os.path.join(BIN, "noops"), "console", "token", "add", "admin"], env=env,
                               capture_output=True, text=True, timeout=60).stdout.strip()
        assert password and token
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        get = urllib.request.Request("http://127.0.0.1:%d/api/v1/services" % port,
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(get, timeout=30) as r:
            services = json.load(r)["services"]
        [hello] = [row for row in services if row["cluster_file"]]
        assert hello["name"] == "hello" and hello["instances"] == {"running": 2, "total": 2}
        assert hello["last_task"]["playbook"] == "rollback.yml"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
