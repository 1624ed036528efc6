#!/usr/bin/env python3
"""The console under a big history: task list and task page times, and the console process's memory.

A history store of TASKS tasks (200 services, 5-20 hosts each, one task of 1,000 hosts) holding LOG_ROWS log rows
(task events), filled through the store's own ``write_batch``, on SQLite and on PostgreSQL (a private server made
with initdb and pg_ctl in a temporary folder on a free loopback port, as the tests' ``pg_server`` fixture does;
never the system service; skipped, saying why, without the server binaries or psycopg). Against each, a real
``noops console`` process is started, logged in to, and every request below is timed from the client over loopback
(median of --repeat after one warm-up): the task list (first page, a deep page, filtered by status, initiator and
service tag query, the API's list) and the task page (an ordinary task, the 1,000-host task, the API's task).
Then the console process's resident memory (VmRSS now, VmHWM its peak) is read from /proc.

Targets: every request's median < 300 ms, the console's peak RSS < 200 MiB. Prints each figure with its ratio to the
target (< 1 meets it) and exits 1 when one is missed.

    .venv/bin/python bench/console.py                           # 10,000 tasks, 1,000,000 log rows, both stores
    .venv/bin/python bench/console.py --tasks 1000 --log-rows 50000 --store sqlite     # a smoke run
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import pwd
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))
sys.path.insert(0, os.path.join(ROOT, "collections"))
SERVICES = 200
BIG_TASK_HOSTS = 1000
TARGET_MS = 300.0
TARGET_RSS_MIB = 200.0
STATUSES = ("success",) * 16 + ("failed", "cancelled", "partial", "success")


def job(i: int) -> str:
    return "job.s%03d_service.s%03d_cluster.prod-lg_pdl.p%02d_owt.o%d_cop.example" % (i, i, i % 20, i % 4)


def fill(dsn: str, tasks: int, log_rows: int) -> dict[str, int]:
    """Fill the store through its own write path; returns {"task": an ordinary task id, "big": the 1,000-host
    task's id}."""
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

    per_task = max(1, log_rows // tasks)
    extra = log_rows - per_task * tasks
    now = time.time() - tasks * 60
    ids = {}
    with HistoryStore(dsn) as store:
        for i in range(tasks):
            big = i == tasks // 2
            n_hosts = BIG_TASK_HOSTS if big else 5 + i % 16
            service = job(i % SERVICES)
            started = now + i * 60
            status = STATUSES[i % len(STATUSES)]
            task_id = store.create_task(playbook="deploy.yml" if i % 7 else "rollback.yml",
                                        initiator=("ann", "bob", "ci", "dora")[i % 4], service=service,
                                        cluster="s%03d" % (i % SERVICES), version="1.%d.%d" % (i // 100, i % 100),
                                        status=status, started_at=started, ended_at=started + 50,
                                        cluster_yml="cluster: {name: s%03d}\n" % (i % SERVICES))
            hosts = ["s%03d-h%04d" % (i % SERVICES, h) for h in range(n_hosts)]
            host_rows = [{"host": h, "status": "failed" if status == "failed" and k == 0 else "success",
                          "started_at": started + k, "ended_at": started + k + 5, "release": "1.%d" % i,
                          "message": "switched to 1.%d" % i} for k, h in enumerate(hosts)]
            count = per_task + (extra if i == tasks - 1 else 0)
            logs = [{"host": hosts[k % n_hosts] if k % 10 else None, "at": started + k * 0.1,
                     "task_name": "noops.platform.thor : step %d" % (k % 30), "action": "command",
                     "status": "ok", "changed": int(k % 3 == 0), "message": "step %d of task %d" % (k, i),
                     "output": "line %d\n" % k} for k in range(count)]
            store.write_batch(task_id, None, host_rows, logs)
            if big:
                ids["big"] = task_id
            if i == tasks // 3:
                ids["task"] = task_id
            if (i + 1) % max(1, tasks // 10) == 0:
                print("  filled %d of %d tasks" % (i + 1, tasks), flush=True)
    return ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivatePostgres:
    """A PostgreSQL server of our own: initdb in a temporary folder, pg_ctl start on 127.0.0.1 and a free port
    (as root, run as the "postgres" user); stopped and removed on exit."""

    def __init__(self) -> None:
        import glob

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if not initdb:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are missing: apt-get install postgresql")
        self.bindir = os.path.dirname(initdb)
        self.prefix: list[str] = []
        self.base = tempfile.mkdtemp(prefix="noops-bench-pg-")
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.base, "data")
        self.port = free_port()

    def __enter__(self) -> str:
        subprocess.run(self.prefix + [os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                                      "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
                       check=True, capture_output=True, timeout=120)
        opts = "-h 127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off" % (self.port, self.base)
        subprocess.run(self.prefix + [os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l",
                                      os.path.join(self.base, "server.log"), "-o", opts, "-w", "-t", "60", "start"],
                       check=True, capture_output=True, timeout=120)
        return "postgresql://postgres@127.0.0.1:%d/postgres" % self.port

    def __exit__(self, *exc: object) -> None:
        subprocess.run(self.prefix + [os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                                      "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


class Console:
    """A real ``noops console`` over ``dsn``, logged in as its first admin."""

    def __init__(self, dsn: str, folder: str) -> None:
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        env = dict(os.environ, XDG_DATA_HOME=os.path.join(folder, "data"), XDG_CACHE_HOME=os.path.join(folder, "c"))
        for name in ("NOOPS_CONSOLE_DB", "NOOPS_HISTORY_DSN"):
            env.pop(name, None)
        self.proc = subprocess.Popen([os.path.join(BIN, "noops"), "console", "--bind", "127.0.0.1:%d" % self.port,
                                      "--dsn", dsn], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, cwd=folder)
        password = None
        deadline = time.monotonic() + 120
        while password is None:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("noops console ended (exit status %s)" % self.proc.returncode)
            m = re.search(r"created user admin with password (\S+) ", line)
            password = m.group(1) if m else None
            if time.monotonic() > deadline:
                raise RuntimeError("noops console printed no admin password")
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("noops console is not listening") from None
                time.sleep(0.1)
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        login = self.opener.open(self.url + "/login", timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
        form = urllib.parse.urlencode({"username": "admin", "password": password, "csrfmiddlewaretoken": token,
                                       "next": "/tasks"}).encode()
        self.opener.open(urllib.request.Request(self.url + "/login", data=form,
                                                headers={"Referer": self.url + "/login"}), timeout=60).read()

    def get_ms(self, path: str) -> float:
        start = time.perf_counter()
        with self.opener.open(self.url + path, timeout=120) as response:
            body = response.read()
            if response.status != 200 or not body:
                raise RuntimeError("%s: HTTP %d" % (path, response.status))
        return (time.perf_counter() - start) * 1000

    def memory_mib(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the console process, MiB."""
        values = {}
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure(name: str, dsn: str, args: argparse.Namespace, folder: str) -> list[str]:
    """Fill, start, time; print the table; returns the missed targets."""
    print("%s: filling %d tasks, %d log rows through HistoryStore.write_batch ..." % (name, args.tasks,
                                                                                    args.log_rows), flush=True)
    start = time.perf_counter()
    ids = fill(dsn, args.tasks, args.log_rows)
    print("  filled in %.1f s" % (time.perf_counter() - start), flush=True)
    os.makedirs(folder, exist_ok=True)
    console = Console(dsn, folder)
    missed = []
    try:
        last = max(1, args.tasks // 25)
        requests = [
            ("task list, first page", "/tasks"),
            ("task list, page %d (the last)" % last, "/tasks?page=%d" % last),
            ("task list, status failed", "/tasks?status=failed"),
            ("task list, initiator ann", "/tasks?initiator=ann"),
            ("task list, service tag query", "/tasks?service=service.s042"),
            ("task list, service query, page 2", "/tasks?service=owt.o1,!cluster.none&page=2"),
            ("API task list", "/api/v1/tasks?per_page=200"),
            ("API task list, service", "/api/v1/tasks?service=service.s042_pdl.p02"),
            ("task page (%d hosts)" % (5 + (args.tasks // 3) % 16), "/tasks/%d" % ids["task"]),
            ("task page (%d hosts)" % BIG_TASK_HOSTS, "/tasks/%d" % ids["big"]),
            ("API task (%d hosts)" % BIG_TASK_HOSTS, "/api/v1/tasks/%d" % ids["big"]),
        ]
        print("  %-36s %10s %10s %8s" % ("request", "median ms", "max ms", "ratio"))
        for label, path in requests:
            console.get_ms(path)  # warm-up: imports, templates, the store's first connection
            times = [console.get_ms(path) for dummy in range(args.repeat)]
            median = statistics.median(times)
            ratio = median / TARGET_MS
            print("  %-36s %10.1f %10.1f %7.2fx" % (label, median, max(times), ratio), flush=True)
            if ratio >= 1:
                missed.append("%s %s: %.0f ms" % (name, label, median))
        rss, peak = console.memory_mib()
        print("  console process: RSS %.1f MiB, peak %.1f MiB: ratio %.2fx (target < %.0f MiB)"
              % (rss, peak, peak / TARGET_RSS_MIB, TARGET_RSS_MIB))
        if peak >= TARGET_RSS_MIB:
            missed.append("%s console peak RSS %.0f MiB" % (name, peak))
    finally:
        console.close()
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per page (after one warm-up)")
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    print("console benchmark: %d tasks, %d log rows; targets: < %.0f ms a request, peak RSS < %.0f MiB"
          % (args.tasks, args.log_rows, TARGET_MS, TARGET_RSS_MIB))
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="noops-bench-console-") as folder:
        if args.store in ("sqlite", "both"):
            missed += measure("SQLite", os.path.join(folder, "history.db"), args, os.path.join(folder, "sqlite"))
        if args.store in ("postgresql", "both"):
            try:
                import psycopg  # noqa: F401
                server = PrivatePostgres()
            except (ImportError, RuntimeError, KeyError) as e:
                print("PostgreSQL: skipped: %s" % e)
            else:
                with server as dsn:
                    missed += measure("PostgreSQL", dsn, args, os.path.join(folder, "pg"))
    if missed:
        print("bench: missed: %s" % "; ".join(missed), file=sys.stderr)
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
