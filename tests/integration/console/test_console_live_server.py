"""A real ``noops console`` with an open event stream: the stream is followed over HTTP, and stopping the console
does not wait for the stream to end."""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)


def test_stopping_the_console_does_not_wait_for_open_streams(tmp_path):
    pytest.importorskip("django", reason="noops console needs the console extra")
    pytest.importorskip("uvicorn", reason="noops console needs the console extra")
    sys.path.insert(0, os.path.join(ROOT, "collections"))
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

    dsn = str(tmp_path / "history.db")
    with HistoryStore(dsn) as store:
        task = store.create_task(playbook="deploy.yml", initiator="ann", status="running")
        store.write_batch(task, None, [{"host": "h1", "status": "deploying", "started_at": time.time()}], ())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    for name in ("NOOPS_CONSOLE_DB", "NOOPS_HISTORY_DSN"):
        env.pop(name, None)
    proc = subprocess.Popen([os.path.join(BIN, "noops"), "console", "--bind", "127.0.0.1:%d" % port, "--dsn", dsn],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while "created user admin" not in (proc.stdout.readline() or "") and time.monotonic() < deadline:
            assert proc.poll() is None
        token = subprocess.run([os.path.join(BIN, "noops"), "console", "token", "add", "admin"], env=env,
                               capture_output=True, text=True, check=True).stdout.strip().split()[-1]
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/v1/tasks/%d/events" % task, headers={"Authorization": "Bearer " + token})
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
        got = b""
        while not re.search(rb"event: change\ndata: .*\n\n", got):
            got += response.readline()
        assert re.search(rb"id: \d+\nevent: change\ndata: \{", got), got
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
