"""The example package as a real service: render, lay out a release behind the path symlink, run, query, stop."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HELLO = os.path.join(ROOT, "examples", "packages", "hello")
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.noops.platform.plugins.plugin_utils.package import (  # noqa: E402
    open_package, render_package,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("python3") is None, reason="run.sh needs python3 on PATH"),
              pytest.mark.skipif(shutil.which("sh") is None, reason="run.sh needs sh")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, json.loads(response.read())


def wait_for(url, proc, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("hello exited with %s: %s" % (proc.returncode, proc.stderr.read()))
        try:
            return get(url)
        except OSError:
            time.sleep(0.05)
    raise AssertionError("hello did not answer %s in %d s" % (url, seconds))


@pytest.mark.parametrize("env", ["production", "staging"])
def test_hello_runs_from_its_release(tmp_path, env):
    port = free_port()
    path = str(tmp_path / "home/work/hello")
    release = str(tmp_path / "home/work/.releases/hello/3.1")
    data = str(tmp_path / "data/hello")
    values = dict(name="hello", user="work", path=path, version="3.1", job="job.hello", data_path=data, port=port,
                  db_passwd="hunter2-secret")
    with open_package(HELLO) as pkg:
        rendered = render_package(pkg, env, values, release)
        shutil.copytree(pkg.abspath("release/target"), release)
    for f in rendered.files:
        os.makedirs(os.path.dirname(f.dest), exist_ok=True)
        with open(f.dest, "w") as out:
            out.write(f.content)
        os.chmod(f.dest, int(f.mode, 8))
    os.symlink(release, path)           # the stable name, as the thor role switches it

    proc = subprocess.Popen([os.path.join(path, "bin/run.sh")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        status, health = wait_for("http://127.0.0.1:%d/health" % port, proc)
        assert (status, health) == (200, {"status": "ok"})
        status, doc = get("http://127.0.0.1:%d/" % port)
        assert (status, doc["service"], doc["version"], doc["env"]) == (200, "hello", "3.1", env)
        assert doc["config"]["hello"]["port"] == str(port)
        assert doc["config"]["db"] == {"dsn": "<secret>", "password": "<secret>"}
        assert "hunter2-secret" not in json.dumps(doc)
        pid_file = os.path.join(data, "run/hello.pid")
        with open(pid_file) as f:
            assert int(f.read()) == proc.pid          # run.sh execs python: the supervisor sees the service itself
        stop = subprocess.run([os.path.join(path, "bin/stop.sh")], capture_output=True, text=True, timeout=20)
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(timeout=10) == 0
        assert not os.path.exists(pid_file)
        with open(os.path.join(data, "log/hello.log")) as f:
            log = f.read()
        assert "GET /health" in log and "stopped" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # stop.sh on a stopped service is a no-op, as a supervisor's stop command must be.
    assert subprocess.run([os.path.join(path, "bin/stop.sh")], timeout=20).returncode == 0
