#!/usr/bin/env python3
"""Overhead of the noops.platform.history callback on a real ansible-playbook run.

A playbook of TASKS tasks (a realistic mix: set_fact, debug, assert, a few command and stat modules) on HOSTS
local hosts (ansible_connection: local), run with and without the callback, REPEAT times each, interleaved
(off/on, then on/off, ...) so drift on a shared machine hits both alike. Prints each run, the medians and the
overhead; checks that every "on" run really recorded one log row per result; exits 1 when the median
overhead is above --target percent.

    .venv/bin/python bench/callback.py                   # 100 tasks x 50 hosts, 3 rounds, target 5 %
    .venv/bin/python bench/callback.py --hosts 10 --tasks 20 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))


def task_mix(count: int) -> list[str]:
    """Cheap controller-side tasks mostly, and a module on the host every tenth task, as a deploy play has."""
    tasks = []
    for i in range(count):
        kind = i % 10
        if kind == 3:
            tasks.append("    - name: Run a command %d\n      ansible.builtin.command: echo step-%d {{ inventory_hostname }}\n"
                         "      changed_when: false\n" % (i, i))
        elif kind == 7:
            tasks.append("    - name: Stat a path %d\n      ansible.builtin.stat:\n        path: /etc/hostname\n" % i)
        elif kind in (1, 5):
            tasks.append("    - name: Debug %d\n      ansible.builtin.debug:\n        msg: \"{{ inventory_hostname }} at "
                         "step %d of {{ app_version }}\"\n" % (i, i))
        elif kind == 9:
            tasks.append("    - name: Check %d\n      ansible.builtin.assert:\n        that: step_%d is defined\n"
                         "        quiet: true\n" % (i, i - 1))
        else:
            tasks.append("    - name: Set a fact %d\n      ansible.builtin.set_fact:\n        step_%d: \"{{ "
                         "inventory_hostname }}-%d\"\n" % (i, i, i))
    return tasks


def write_files(folder: str, hosts: int, tasks: int, forks: int) -> dict[str, str]:
    inv = os.path.join(folder, "hosts.ini")
    with open(inv, "w") as f:
        f.write("[fleet]\n")
        for i in range(hosts):
            f.write("bench%03d ansible_connection=local ansible_python_interpreter=%s\n" % (i, sys.executable))
    play = os.path.join(folder, "bench.yml")
    with open(play, "w") as f:
        f.write("- name: Callback benchmark\n  hosts: fleet\n  gather_facts: false\n  vars:\n"
                "    app_version: \"93043\"\n    db_passwd: bench-secret-value\n  tasks:\n")
        f.writelines(task_mix(tasks))
    cfgs = {}
    for mode in ("off", "on"):
        cfg = os.path.join(folder, "ansible-%s.cfg" % mode)
        with open(cfg, "w") as f:
            f.write("[defaults]\ncollections_path = %s\nforks = %d\nhost_key_checking = False\n"
                    "retry_files_enabled = False\ninterpreter_python = auto_silent\n"
                    % (os.path.join(ROOT, "collections"), forks))
            if mode == "on":
                f.write("callbacks_enabled = noops.platform.history\n")
        cfgs[mode] = cfg
    return {"inventory": inv, "playbook": play, **cfgs}


def run_once(files: dict[str, str], mode: str, dsn: str) -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=files[mode], NOOPS_HISTORY_DSN=dsn, ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", files["inventory"], files["playbook"]],
                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit("bench: ansible-playbook (%s) failed with %d: %s" % (mode, proc.returncode, proc.stderr[-2000:]))
    return elapsed


def recorded_rows(dsn: str) -> tuple[int, int, str]:
    """(log rows, host rows, status) of the newest task: proof that the callback really recorded the run."""
    conn = sqlite3.connect(dsn)
    try:
        task_id, status = conn.execute("SELECT id, status FROM noops_tasks ORDER BY id DESC LIMIT 1").fetchone()
        logs = conn.execute("SELECT COUNT(*) FROM noops_task_log WHERE task_id = ?", (task_id,)).fetchone()[0]
        hosts = conn.execute("SELECT COUNT(*) FROM noops_task_hosts WHERE task_id = ?", (task_id,)).fetchone()[0]
        return logs, hosts, status
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each round runs both modes")
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--target", type=float, default=5.0, help="maximum median overhead in percent")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="noops-bench-cb-") as folder:
        files = write_files(folder, args.hosts, args.tasks, args.forks)
        dsn = os.path.join(folder, "history.db")
        results = args.hosts * args.tasks
        times: dict[str, list[float]] = {"off": [], "on": []}
        print("callback benchmark: %d tasks x %d hosts = %d results, forks %d, %d round(s)"
              % (args.tasks, args.hosts, results, args.forks, args.repeat))
        for round_no in range(args.repeat):
            order = ("off", "on") if round_no % 2 == 0 else ("on", "off")
            for mode in order:
                elapsed = run_once(files, mode, dsn)
                times[mode].append(elapsed)
                note = ""
                if mode == "on":
                    logs, hosts, status = recorded_rows(dsn)
                    if logs != results or hosts != args.hosts or status != "success":
                        print("bench: the callback recorded %d log rows, %d hosts, status %s; expected %d, %d, "
                              "success" % (logs, hosts, status, results, args.hosts), file=sys.stderr)
                        return 2
                    note = "  (recorded %d log rows, %d hosts)" % (logs, hosts)
                print("  round %d  %-3s %7.2f s%s" % (round_no + 1, mode, elapsed, note))
        off, on = statistics.median(times["off"]), statistics.median(times["on"])
        overhead = (on - off) / off * 100
        print("median without callback: %.2f s" % off)
        print("median with callback:    %.2f s" % on)
        print("overhead: %+.1f %% (%+.2f ms per result); target <= %.1f %%"
              % (overhead, (on - off) / results * 1000, args.target))
        if overhead > args.target:
            print("bench: overhead %.1f %% is above the target %.1f %%" % (overhead, args.target), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
