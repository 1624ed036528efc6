#!/usr/bin/env python3
"""Cost of a deploy with Odin + Thor against a hand-written minimal playbook doing the same file operations.

A local fleet of HOSTS hosts (ansible_connection: local, each its own noops_root and supervisord; see
plugins/plugin_utils/fleet.py), the example hello package. Each round, on the same fleet and with the same
ansible.cfg (history callback on for both):

  minimal   a playbook that copies and unpacks the tarball, templates the config, switches a symlink and starts
            the process under supervisord with supervisorctl - what a deploy does at the least;
  full      playbooks/deploy.yml -e cluster_file=... (validation, package fetch and lint, lock, thor on every host:
            render, stage, switch, supervise, health check, prune; history recorded);
  no-op     playbooks/deploy.yml again with the same version (every host is skipped).

Targets: full <= 1.3 x minimal, no-op <= 0.25 x full. Exits 1 when a target is missed. With --profile, one more
full deploy and its no-op redeploy run through ansible-runner and the tasks that take the most wall time are listed.

    .venv/bin/python bench/deploy.py                      # 50 hosts, forks 25
    .venv/bin/python bench/deploy.py --quick              # 10 hosts, forks 5
    .venv/bin/python bench/deploy.py --hosts 20 --forks 10 --repeat 2 --profile
"""

from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(os.path.abspath(sys.executable))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.noops.platform.plugins.plugin_utils import fleet as fleetlib  # noqa: E402
from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package  # noqa: E402
from ansible_collections.noops.platform.plugins.module_utils.supervisor import instance_layout  # noqa: E402

SERVICE = "hello"

# The same file operations as thor, without its checks: folders, copy + unpack, config from a template, symlink
# switch, supervisord program config, (re)start through supervisorctl.
MINIMAL_PLAYBOOK = r"""
- name: Minimal deploy of hello {{ version }}
  hosts: all
  gather_facts: false
  vars:
    app_root: "{{ noops_root }}/home/work"
    release: "{{ app_root }}/.releases/mini/{{ version }}"
    data: "{{ noops_root }}/data/mini"
    sd: "{{ noops_root }}/etc/noops/supervisor/supervisord"
    ctl: "{{ supervisor_venv }}/bin/supervisorctl -c {{ sd }}/supervisord.conf"
  tasks:
    - name: Create the release and data folders
      ansible.builtin.file:
        path: "{{ item }}"
        state: directory
        mode: "0755"
      loop: ["{{ release }}/conf", "{{ data }}/log"]

    - name: Unpack the program
      ansible.builtin.unarchive:
        src: "{{ package }}"
        dest: "{{ release }}"
        extra_opts: [--strip-components=2, release/target]

    - name: Template the config
      ansible.builtin.template:
        src: "{{ template }}"
        dest: "{{ release }}/conf/hello.conf"
        mode: "0640"
      vars:
        mod_name: mini
        env: production
        tag: "{{ noops_tags[0] }}"
        listen: 127.0.0.1
        port: "{{ mini_port }}"
        workers: 8
        greeting: "hello from mini {{ version }}"
        pid_file: "{{ data }}/run/mini.pid"
        log_file: "{{ data }}/log/mini.log"
        db_dsn: "mysql://hello:bench@db:3306/hello"
        db_password: bench

    - name: Switch the symlink
      ansible.builtin.file:
        src: "{{ release }}"
        dest: "{{ app_root }}/mini"
        state: link
        force: true

    - name: Write the supervisord program
      ansible.builtin.copy:
        dest: "{{ sd }}/conf.d/mini.conf"
        mode: "0644"
        content: |
          [program:mini]
          command = {{ app_root }}/mini/bin/run.sh
          directory = {{ app_root }}/mini
          autorestart = true
          stopasgroup = true
          killasgroup = true
          stdout_logfile = {{ data }}/log/mini.log
          redirect_stderr = true

    - name: Start it under supervisord
      ansible.builtin.shell: "{{ ctl }} update mini && {{ ctl }} restart mini"
      changed_when: true
"""

SUPERVISORS_PLAYBOOK = """
- name: Start every host's supervisord
  hosts: all
  gather_facts: false
  tasks:
    - name: Supervisor instance
      ansible.builtin.include_role:
        name: noops.platform.supervisor
"""


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        # Short: the supervisord socket path of every host must fit in AF_UNIX's 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="nbd-", dir="/tmp")
        self.dsn = os.path.join(self.dir, "history.db")
        ports = fleetlib.free_ports(2 * args.hosts)
        self.hosts = fleetlib.plan_fleet(os.path.join(self.dir, "h"), args.hosts, SERVICE, ports=ports[:args.hosts])
        self.mini_ports = dict(zip((h.name for h in self.hosts), ports[args.hosts:]))
        doc = fleetlib.fleet_tree(self.hosts, supervisor_venv=sys.prefix)
        for name, entry in doc["machines"].items():
            entry["vars"]["mini_port"] = self.mini_ports[name]
        self.inventory = os.path.join(self.dir, fleetlib.INVENTORY_FILE)
        with open(os.path.join(self.dir, fleetlib.TREE_FILE), "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        with open(self.inventory, "w") as f:
            f.write(fleetlib.inventory_source())
        self.minimal = os.path.join(self.dir, "minimal.yml")
        with open(self.minimal, "w") as f:
            f.write(MINIMAL_PLAYBOOK)
        self.supervisors = os.path.join(self.dir, "supervisors.yml")
        with open(self.supervisors, "w") as f:
            f.write(SUPERVISORS_PLAYBOOK)
        self.template = os.path.join(ROOT, "examples", "packages", SERVICE, "release", "deploy", "templates",
                                     "hello.conf.j2")

    def env(self) -> dict[str, str]:
        return dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORKS=str(self.args.forks),
                    NOOPS_HISTORY_DSN=self.dsn, NOOPS_STAGING=os.path.join(self.dir, "staging"),
                    XDG_CACHE_HOME=os.path.join(self.dir, "cache"), NOOPS_LOCK_DIR=os.path.join(self.dir, "locks"),
                    ANSIBLE_NOCOLOR="1",
                    PATH=BIN + os.pathsep + os.environ.get("PATH", ""))

    def playbook(self, path: str, *extra: str) -> float:
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, path]
        for item in extra:
            cmd += ["-e", item]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit("bench: %s failed (rc %d):\n%s\n%s" % (" ".join(cmd), proc.returncode, proc.stdout[-4000:],
                                                           proc.stderr[-2000:]))
        return elapsed

    def package(self, version: str) -> str:
        path = os.path.join(self.dir, "%s-%s.tar.gz" % (SERVICE, version))
        if not os.path.exists(path):
            build_package(os.path.join(ROOT, "examples", "packages", SERVICE), path, version=version)
        return path

    def cluster(self, version: str) -> str:
        package = self.package(version)
        doc = {"cluster": {"name": SERVICE, "version": version, "env": "production",
                           "jobs": fleetlib.jobs_of(self.hosts, SERVICE)},
               SERVICE: {"version": version, "path": "/home/work/hello", "pkg_url": "file://" + package,
                         "pkg_sha256": sha256(package), "port": 8080, "db_passwd": "bench-secret-1",
                         "batch": len(self.hosts)}}
        path = os.path.join(self.dir, "cluster-%s.yml" % version)
        with open(path, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        return path

    def served(self, ports: dict[str, int], version: str, wait: float = 60.0) -> None:
        """Every host serves ``version`` (the minimal playbook has no health check: give a just restarted Python
        service up to ``wait`` s to listen)."""
        wrong = {}
        deadline = time.monotonic() + wait
        for name, port in ports.items():
            while True:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5) as r:
                        got = json.load(r).get("version")
                except (OSError, ValueError) as e:
                    got = str(e)
                if got == version or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            if got != version:
                wrong[name] = got
        if wrong:
            sys.exit("bench: hosts not serving %s: %s" % (version, dict(list(wrong.items())[:5])))

    def profile(self, cluster: str, what: str) -> None:
        """Wall time per task of one deploy, from ansible-runner's event times (the linear strategy runs a
        task on every host of the batch before the next, so a task's wall time is the gap to the next one)."""
        import ansible_runner

        starts: list[tuple[float, str]] = []

        def on_event(event: dict) -> bool:
            if event.get("event") in ("playbook_on_task_start", "playbook_on_stats"):
                data = event.get("event_data") or {}
                name = "%s : %s" % (data.get("role") or "-", data.get("task") or event["event"])
                starts.append((datetime.datetime.fromisoformat(event["created"]).timestamp(), name))
            return False

        private = tempfile.mkdtemp(prefix="nbd-runner-", dir=self.dir)
        env = {k: v for k, v in self.env().items() if k.startswith(("ANSIBLE_", "NOOPS_", "XDG_", "PATH"))}
        ansible_runner.run(private_data_dir=private, project_dir=ROOT, inventory=self.inventory,
                           playbook=self.args.playbook,
                           extravars={"cluster_file": cluster}, envvars=env, quiet=True, event_handler=on_event,
                           forks=self.args.forks)
        per_task: dict[str, float] = collections.defaultdict(float)
        for (t0, name), (t1, _) in zip(starts, starts[1:]):
            per_task[name] += t1 - t0
        total = sum(per_task.values())
        print("profile of one %s (%d hosts, forks %d): %.1f s over %d tasks"
              % (what, len(self.hosts), self.args.forks, total, len(per_task)))
        for name, secs in sorted(per_task.items(), key=lambda kv: -kv[1])[:20]:
            print("  %6.2f s  %4.1f %%  %s" % (secs, 100 * secs / total, name))

    def stop(self) -> None:
        procs = []
        for host in self.hosts:
            layout = instance_layout(host.root, "supervisord")
            if os.path.exists(layout["pidfile"]):
                procs.append(subprocess.Popen([os.path.join(sys.prefix, "bin", "supervisorctl"), "-c",
                                               layout["main_conf"], "shutdown"], stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
        for proc in procs:
            proc.wait(timeout=60)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return "%.1f / %.1f / %.1f" % (one, five, fifteen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of minimal/full/no-op (medians are compared)")
    parser.add_argument("--quick", action="store_true", help="10 hosts, forks 5, one round")
    parser.add_argument("--profile", action="store_true",
                        help="also list the slowest tasks of a full deploy and of its no-op redeploy")
    parser.add_argument("--target-full", type=float, default=1.3, help="maximum full / minimal ratio")
    parser.add_argument("--target-noop", type=float, default=0.25, help="maximum no-op / full ratio")
    parser.add_argument("--keep", action="store_true", help="leave the fleet running and its folder in place")
    parser.add_argument("--playbook", default=os.path.join(ROOT, "playbooks", "deploy.yml"),
                        help="the deploy playbook to measure (default playbooks/deploy.yml)")
    args = parser.parse_args()
    if args.quick:
        args.hosts, args.forks, args.repeat = 10, 5, 1
    if not os.access(os.path.join(sys.prefix, "bin", "supervisord"), os.X_OK):
        sys.exit("bench: supervisord is not installed in %s (pip install supervisor)" % sys.prefix)

    bench = Bench(args)
    times: dict[str, list[float]] = {"minimal": [], "full": [], "noop": []}
    print("deploy benchmark: %d local hosts, forks %d, %d round(s); %d cores, load %s; fleet %s"
          % (args.hosts, args.forks, args.repeat, os.cpu_count() or 0, load(), bench.dir))
    try:
        setup = bench.playbook(bench.supervisors)
        print("  setup: every host's supervisord started in %.1f s (not counted)" % setup)
        for round_no in range(args.repeat):
            version = "1.0.%d" % (round_no + 1)
            cluster = bench.cluster(version)
            minimal = bench.playbook(bench.minimal, "version=%s" % version, "package=%s" % bench.package(version),
                                     "template=%s" % bench.template)
            bench.served(bench.mini_ports, version)
            full = bench.playbook(args.playbook, "cluster_file=%s" % cluster)
            bench.served({h.name: h.port for h in bench.hosts}, version)
            noop = bench.playbook(args.playbook, "cluster_file=%s" % cluster)
            for key, value in (("minimal", minimal), ("full", full), ("noop", noop)):
                times[key].append(value)
            print("  round %d (version %s): minimal %.1f s, full %.1f s, no-op %.1f s; load %s"
                  % (round_no + 1, version, minimal, full, noop, load()))
        if args.profile:
            cluster = bench.cluster("1.9.%d" % args.repeat)
            bench.profile(cluster, "full deploy")
            bench.profile(cluster, "no-op redeploy")
    finally:
        if not args.keep:
            bench.stop()
            shutil.rmtree(bench.dir, ignore_errors=True)

    minimal, full, noop = (statistics.median(times[k]) for k in ("minimal", "full", "noop"))
    full_ratio, noop_ratio = full / minimal, noop / full
    print("median: minimal %.1f s, full deploy %.1f s, no-op redeploy %.1f s" % (minimal, full, noop))
    print("full / minimal = %.2f (target <= %.2f); no-op / full = %.2f (target <= %.2f)"
          % (full_ratio, args.target_full, noop_ratio, args.target_noop))
    missed = []
    if full_ratio > args.target_full:
        missed.append("full deploy is %.2fx the minimal playbook (target %.2fx)" % (full_ratio, args.target_full))
    if noop_ratio > args.target_noop:
        missed.append("no-op redeploy is %.2fx a full deploy (target %.2fx)" % (noop_ratio, args.target_noop))
    for line in missed:
        print("bench: missed: " + line, file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
