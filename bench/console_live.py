#!/usr/bin/env python3
"""Live update latency of the console's task page: from a host result written to the history store to the moment
a server-sent events client receives it.

Starts a real ``noops console`` (uvicorn) on a free loopback port over a new SQLite history store, makes an API
token, and follows ``GET /api/v1/tasks/ID/events`` (the stream the task page's JSON twin sends; the page's own
stream polls the same store the same way). A writer then deploys a task of 50 hosts as the history callback
records one: every host goes pending -> deploying -> success (or failed), in batches, each change one
``write_batch`` of the store (the call the callback's writer makes). For each host change, the latency is the time
from just before its ``write_batch`` to the arrival of the first event that shows the host in that status.

Prints the count, median, p95 and max latency and the ratio of the p95 to the target (1 s).

    .venv/bin/python bench/console_live.py                 # 50 hosts, batches of 5
    .venv/bin/python bench/console_live.py --hosts 200 --batch 10 --step 0.05
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 1.0  # seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _noops() -> str:
    found = os.path.join(os.path.dirname(sys.executable), "noops")
    return found if os.path.exists(found) else (shutil.which("noops") or "noops")


def start_console(base: str, dsn: str) -> tuple[subprocess.Popen, int, dict[str, str]]:
    port = _free_port()
    env = dict(os.environ, XDG_DATA_HOME=os.path.join(base, "data"), XDG_CACHE_HOME=os.path.join(base, "cache"))
    for name in ("NOOPS_CONSOLE_DB", "NOOPS_HISTORY_DSN"):
        env.pop(name, None)
    proc = subprocess.Popen([_noops(), "console", "--bind", "127.0.0.1:%d" % port, "--dsn", dsn], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=base)
    deadline = time.monotonic() + 60
    while True:
        line = proc.stdout.readline()
        if re.search(r"created user admin", line):
            break
        if (not line and proc.poll() is not None) or time.monotonic() > deadline:
            raise SystemExit("noops console did not start: %s" % line)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("noops console is not listening on %d" % port)
            time.sleep(0.1)
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # drain its output
    return proc, port, env


def follow(port: int, token: str, task_id: int, seen: dict[tuple[str, str], float], done: threading.Event) -> None:
    """Read the task's event stream; record when each (host, status) was first seen."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/api/v1/tasks/%d/events" % task_id, headers={"Authorization": "Bearer %s" % token})
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit("events: HTTP %d %s" % (response.status, response.read()[:200]))
    event, data = None, []
    while True:
        line = response.readline()
        if not line:
            break
        line = line.decode("utf-8").rstrip("\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line == "":
            now = time.monotonic()
            if event == "change":
                for host in json.loads("\n".join(data))["hosts"]:
                    seen.setdefault((host["host"], host["status"]), now)
            elif event == "end":
                break
            event, data = None, []
    done.set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--batch", type=int, default=5, help="hosts deployed at once")
    parser.add_argument("--step", type=float, default=0.1, help="seconds between two host changes")
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "collections"))
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

    base = tempfile.mkdtemp(prefix="noops-bench-live-")
    dsn = os.path.join(base, "history.db")
    hosts = ["web%03d" % i for i in range(args.hosts)]
    with HistoryStore(dsn) as store:
        task_id = store.create_task(playbook="deploy.yml", initiator="bench", service="job.bench", version="1.0.0")
        store.write_batch(task_id, None, [{"host": h, "status": "pending"} for h in hosts], ())
    proc, port, env = start_console(base, dsn)
    try:
        token = subprocess.run([_noops(), "console", "token", "add", "admin"], env=env, cwd=base, check=True,
                               capture_output=True, text=True).stdout.strip().split()[-1]
        seen: dict[tuple[str, str], float] = {}
        done = threading.Event()
        reader = threading.Thread(target=follow, args=(port, token, task_id, seen, done), daemon=True)
        reader.start()
        time.sleep(1.0)  # the stream is open and has sent the pending hosts
        written: dict[tuple[str, str], float] = {}
        with HistoryStore(dsn) as store:
            for i in range(0, len(hosts), args.batch):
                batch = hosts[i:i + args.batch]
                for h in batch:
                    written[(h, "deploying")] = time.monotonic()
                    store.write_batch(task_id, None, [{"host": h, "status": "deploying", "started_at": time.time()}],
                                      [{"host": h, "at": time.time(), "task_name": "thor release", "status": "ok"}])
                    time.sleep(args.step)
                for n, h in enumerate(batch):
                    status = "failed" if (i + n) % 17 == 16 else "success"
                    written[(h, status)] = time.monotonic()
                    store.write_batch(task_id, None, [{"host": h, "status": status, "ended_at": time.time()}],
                                      [{"host": h, "at": time.time(), "task_name": "thor switch", "status": "ok"}])
                    time.sleep(args.step)
            store.update_task(task_id, status="success", ended_at=time.time())
        done.wait(30)
    finally:
        proc.terminate()
        proc.wait(15)
        shutil.rmtree(base, ignore_errors=True)
    lost = [k for k in written if k not in seen]
    latencies = sorted(seen[k] - t0 for k, t0 in written.items() if k in seen)
    if not latencies:
        print("no change arrived")
        return 1
    p95 = latencies[max(0, int(round(0.95 * len(latencies))) - 1)]
    print("%d hosts, batches of %d, a change every %.2f s: %d host changes, %d not received" % (
        len(hosts), args.batch, args.step, len(written), len(lost)))
    print("latency: median %.3f s, p95 %.3f s, max %.3f s; p95 / target (%.1f s) = %.2f" % (
        statistics.median(latencies), p95, latencies[-1], TARGET, p95 / TARGET))
    return 0 if not lost and p95 <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
