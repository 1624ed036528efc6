"""``noops demo``: the whole flow on this machine, no root and no SSH.

A local fleet made from the example service tree (machines of several rooms, each a ``noops_root`` folder with
its own supervisord), the example ``hello`` service built as 1.0.0 and 2.0.0, a cluster.yml for it; then
deploy 1.0.0 in batches with a pause (continued by itself here, as an operator would with
``noops tasks resume``), the processes of every host, deploy 2.0.0, roll back to 1.0.0, and where to look next.
Running it again reuses the fleet; ``noops demo --clean`` stops its supervisors and removes it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import typing as t
import urllib.request

import yaml

from noops_cli import COLLECTION_ROOT
from noops_cli.deploy import playbook_fqcn
from noops_cli.operator_input import Operator
from noops_cli.runner import RunSpec, run_playbook
from noops_cli.views import EXIT_OK, summarize
from noops_cli.main import CliError
from ansible_collections.noops.platform.plugins.plugin_utils import fleet as fleetlib
from ansible_collections.noops.platform.plugins.plugin_utils import yaml_file
from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import CLUSTER_FIELDS
from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package
from ansible_collections.noops.platform.plugins.module_utils.supervisor import instance_layout
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag

SERVICE = "hello"
VERSIONS = ("1.0.0", "2.0.0")
FIRST_PORT = 18080
EXAMPLE_CLUSTER = os.path.join(COLLECTION_ROOT, "examples", "cluster", "hello.yml")


def default_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "noops", "demo")


def register(subparsers: t.Any) -> None:
    p = subparsers.add_parser(
        "demo", help="deploy, pause, upgrade and roll back a service on a local fleet (no root, no SSH)",
        description="Makes a local fleet from the example service tree (each host a folder with its own "
                    "supervisord), builds the example hello service 1.0.0 and 2.0.0, deploys 1.0.0 in batches "
                    "with a pause, shows the processes, deploys 2.0.0 and rolls back to 1.0.0.")
    p.add_argument("--dir", default=None, metavar="DIR",
                   help="where the fleet lives (default $NOOPS_DEMO_DIR, else ~/.local/share/noops/demo)")
    p.add_argument("--hosts", type=int, default=4, metavar="N", help="fleet size (default 4, over 3 rooms)")
    p.add_argument("--pause-seconds", type=float, default=3.0, metavar="S",
                   help="how long the demo stays paused before it resumes by itself (default 3)")
    p.add_argument("--clean", action="store_true", help="stop the demo fleet's supervisors and remove it")
    p.add_argument("--plain", action="store_true", help="print lines instead of live tables")
    p.set_defaults(handler=run_demo)


class Demo:
    def __init__(self, base: str, hosts: int, pause_seconds: float, plain: bool | None) -> None:
        self.base = os.path.abspath(base)
        self.count = hosts
        self.pause_seconds = pause_seconds
        self.plain = plain
        self.fleet_dir = os.path.join(self.base, "fleet")
        self.inventory = os.path.join(self.fleet_dir, fleetlib.INVENTORY_FILE)
        self.hosts: list[fleetlib.FleetHost] = []
        self.steps = 0
        self.tasks: list[int] = []

    # -- output

    def step(self, text: str) -> None:
        self.steps += 1
        print("\n\033[1m==> %d. %s\033[0m" % (self.steps, text) if sys.stdout.isatty() else "\n==> %d. %s"
              % (self.steps, text), flush=True)

    # -- the fleet

    def supervisor_venv(self) -> str:
        """The venv whose supervisord the hosts run: noops' own when it has one, else one the role installs."""
        if os.access(os.path.join(sys.prefix, "bin", "supervisord"), os.X_OK):
            return sys.prefix
        return os.path.join(self.base, "supervisor-venv")

    def make_fleet(self) -> None:
        tree_file = os.path.join(self.fleet_dir, fleetlib.TREE_FILE)
        existing = []
        if os.path.isfile(tree_file):
            with open(tree_file, encoding="utf-8") as f:
                existing = fleetlib.read_fleet(yaml_file.load_yaml_strict(f.read(), tree_file) or {})
        job = Tag.parse(self.example_cluster()["cluster"]["jobs"][0])
        if existing and len(existing) == self.count and fleetlib.jobs_of(existing, SERVICE) == [str(job)]:
            self.hosts = existing
            print("reusing the fleet of %d hosts in %s" % (len(existing), self.base))
        else:
            if existing:
                self.stop_supervisors(existing)
            example_tree = os.path.join(COLLECTION_ROOT, "examples", "tree.yml")
            with open(example_tree, encoding="utf-8") as f:
                example = yaml_file.load_yaml_strict(f.read(), example_tree)
            # The service tag carries the example cluster.yml's company/department/product, so that file's `jobs`
            # select these machines too.
            pairs = {k: v for k, v in job.items() if k in ("cop", "owt", "pdl")}
            self.hosts = fleetlib.plan_fleet(os.path.join(self.base, "hosts"), self.count, SERVICE,
                                             tree_doc=example, ports=fleetlib.free_ports(self.count, FIRST_PORT),
                                             service_pairs=pairs)
            doc = fleetlib.fleet_tree(self.hosts, supervisor_venv=self.supervisor_venv())
            os.makedirs(self.fleet_dir, exist_ok=True)
            _write(tree_file, "# The demo's local fleet (noops demo): machines of examples/tree.yml, each a "
                              "noops_root folder on this computer.\n" + yaml.safe_dump(doc, sort_keys=False, width=200))
            _write(self.inventory, fleetlib.inventory_source())
        rooms = sorted({h.idc for h in self.hosts})
        for host in self.hosts:
            print("  %-18s room %-3s port %-5d root %s" % (host.name, host.idc, host.port, host.root))
        print("%d hosts in %d rooms (%s); inventory %s" % (len(self.hosts), len(rooms), ", ".join(rooms),
                                                           self.inventory))

    def build_packages(self) -> dict[str, str]:
        pkgs = os.path.join(self.base, "packages")
        os.makedirs(pkgs, exist_ok=True)
        source = os.path.join(COLLECTION_ROOT, "examples", "packages", SERVICE)
        out = {}
        for version in VERSIONS:
            path = os.path.join(pkgs, "%s-%s.tar.gz" % (SERVICE, version))
            build_package(source, path, version=version)
            out[version] = path
            print("  %s (sha256 %s)" % (path, _sha256(path)[:16]))
        return out

    @staticmethod
    def example_cluster() -> dict[str, t.Any]:
        with open(EXAMPLE_CLUSTER, encoding="utf-8") as f:
            return yaml_file.load_yaml_strict(f.read(), EXAMPLE_CLUSTER, CLUSTER_FIELDS)

    def write_cluster(self, version: str, package: str) -> str:
        """examples/cluster/hello.yml with this version's built tarball (pinned by its sha256)."""
        doc = self.example_cluster()
        doc["cluster"]["version"] = version
        block = doc[SERVICE]
        block.update(version=version, pkg_url="file://" + package, pkg_sha256=_sha256(package))
        # `port` stays as the example has it: every demo host overrides it with its own (odin_host_values).
        path = os.path.join(self.base, "cluster-%s.yml" % version)
        _write(path, "# %s with the %s package built by noops demo.\n" % (os.path.relpath(EXAMPLE_CLUSTER,
                                                                                       COLLECTION_ROOT), version)
               + yaml.safe_dump(doc, sort_keys=False, width=200))
        return path

    def write_services_cluster(self, cluster_file: str) -> str:
        """The cluster.yml of the version the fleet runs now, as ``fleet/clusters/hello.yml``: the clusters folder
        beside the fleet's tree, where ``noops services`` and the console's Services page look. Returns the
        folder."""
        folder = os.path.join(self.fleet_dir, "clusters")
        os.makedirs(folder, exist_ok=True)
        with open(cluster_file, encoding="utf-8") as f:
            _write(os.path.join(folder, "%s.yml" % SERVICE), f.read())
        return folder

    def console_lines(self, clusters: str) -> tuple[str, ...]:
        """How to open the web console on the demo's fleet: the command (the demo's history store, its tree and
        clusters folder) and the URL."""
        import shlex

        from noops_cli.runner import history_dsn
        from ansible_collections.noops.platform.plugins.plugin_utils.history.store import redact_dsn

        tree = os.path.join(self.fleet_dir, fleetlib.TREE_FILE)
        return (
            "NOOPS_TREE=%s noops console --dsn %s   # the web console over the demo's history store and fleet "
            "(pip install 'noops-platform[console]')" % (shlex.quote(tree), shlex.quote(redact_dsn(history_dsn()))),
            "  then open http://127.0.0.1:8642/ as admin (the console prints its password at its first start); "
            "Services shows %s" % os.path.join(clusters, "%s.yml" % SERVICE),
        )

    # -- running the playbooks

    def auto_resume(self, operator: Operator, task_id: int | None) -> None:
        """What an operator does after looking at the first batch: resume, from another terminal."""
        def later() -> None:
            time.sleep(self.pause_seconds)
            operator.say("$ noops tasks resume %s      # typed by the demo after %gs; an operator would look first"
                         % (operator.find_task() or "ID", self.pause_seconds))
            operator.request("resume", "noops demo")
        threading.Thread(target=later, daemon=True).start()

    def run(self, playbook: str, title: str, extravars: dict[str, t.Any], roles: t.Collection[str] = ("thor",),
            what: str = "deploy") -> bool:
        spec = RunSpec(playbook=playbook_fqcn(playbook), title=title,
                       extravars=extravars, inventory=[self.inventory], progress_roles=roles,
                       # Every demo host is reached with ansible_connection: local (no SSH control socket).
                       ssh=False)
        outcome = run_playbook(spec, plain=self.plain, on_pause=self.auto_resume)
        status = summarize(outcome, what, print)
        if outcome.tracker.task_id:
            self.tasks.append(outcome.tracker.task_id)
        return status == EXIT_OK

    def served(self) -> dict[str, str]:
        out = {}
        for host in self.hosts:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/" % host.port, timeout=5) as r:
                    body = json.load(r)
                out[host.name] = "%s (%s)" % (body.get("version"), body["config"]["hello"].get("greeting"))
            except (OSError, ValueError, KeyError) as e:
                out[host.name] = "not answering: %s" % e
        return out

    def check_served(self, version: str) -> bool:
        served = self.served()
        good = True
        for name, text in served.items():
            port = next(h.port for h in self.hosts if h.name == name)
            print("  http://127.0.0.1:%-5d %-18s %s" % (port, name, text))
            good = good and text.startswith(version + " ")
        if not good:
            print("noops demo: not every host serves %s" % version)
        return good

    # -- cleaning

    def stop_supervisors(self, hosts: t.Sequence[fleetlib.FleetHost]) -> None:
        """supervisorctl shutdown for every host's instance (it stops the services it runs)."""
        ctl = os.path.join(self.supervisor_venv(), "bin", "supervisorctl")
        if not os.access(ctl, os.X_OK):
            ctl = shutil.which("supervisorctl") or ctl
        procs = []
        for host in hosts:
            layout = instance_layout(host.root, "supervisord")
            if os.path.exists(layout["pidfile"]):
                procs.append((host, layout, subprocess.Popen([ctl, "-c", layout["main_conf"], "shutdown"],
                                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
        for host, layout, proc in procs:
            proc.wait(timeout=60)
            deadline = time.monotonic() + 20
            while os.path.exists(layout["pidfile"]) and time.monotonic() < deadline:
                time.sleep(0.1)
            print("  stopped the supervisord of %s" % host.name)

    def clean(self) -> int:
        tree_file = os.path.join(self.fleet_dir, fleetlib.TREE_FILE)
        if os.path.isfile(tree_file):
            with open(tree_file, encoding="utf-8") as f:
                self.stop_supervisors(fleetlib.read_fleet(yaml_file.load_yaml_strict(f.read(), tree_file) or {}))
        if os.path.isdir(self.base):
            shutil.rmtree(self.base)
            print("removed %s" % self.base)
        else:
            print("nothing to clean in %s" % self.base)
        return 0

    # -- the whole flow

    def main(self) -> int:
        started = time.monotonic()
        self.step("A local fleet from the example service tree")
        self.make_fleet()
        self.step("Build the hello service: %s" % " and ".join(VERSIONS))
        pkgs = self.build_packages()
        v1, v2 = VERSIONS
        cluster1 = self.write_cluster(v1, pkgs[v1])
        cluster2 = self.write_cluster(v2, pkgs[v2])
        print("  cluster.yml: %s, %s" % (cluster1, cluster2))
        n = len(self.hosts)
        half = max(1, (n + 1) // 2)

        self.step("Deploy %s %s to %d hosts, %d at a time, pausing after %d" % (SERVICE, v1, n, half, half))
        print("$ noops deploy -f %s -i %s --batch %d --pause-step %d" % (cluster1, self.inventory, half, half))
        if not self.run("deploy.yml", "deploy %s %s" % (SERVICE, v1),
                        {"cluster_file": cluster1, "batch": half, "pause_step": half}):
            return 1
        if not self.check_served(v1):
            return 1

        self.step("The processes of every host")
        print("$ noops control service.%s status -i %s --batch %d" % (SERVICE, self.inventory, n))
        if not self.run("control.yml", "processes of service.%s" % SERVICE,
                        {"query": "service.%s" % SERVICE, "action": "status", "batch": n}, roles=(), what="status"):
            return 1

        self.step("Deploy %s %s to all %d hosts at once" % (SERVICE, v2, n))
        print("$ noops deploy -f %s -i %s --batch %d" % (cluster2, self.inventory, n))
        if not self.run("deploy.yml", "deploy %s %s" % (SERVICE, v2), {"cluster_file": cluster2, "batch": n}):
            return 1
        if not self.check_served(v2):
            return 1

        self.step("Roll back to %s" % v1)
        print("$ noops rollback -f %s -i %s --batch %d" % (cluster2, self.inventory, n))
        if not self.run("rollback.yml", "rollback %s" % SERVICE, {"cluster_file": cluster2, "batch": n},
                        what="rollback"):
            return 1
        if not self.check_served(v1):
            return 1

        clusters = self.write_services_cluster(cluster1)
        self.step("Done in %.0f s. Where to look next" % (time.monotonic() - started))
        tasks = " ".join(str(x) for x in self.tasks)
        for line in self.console_lines(clusters) + (
            "noops tasks list                          # the deploy history (tasks %s)" % tasks,
            "noops tasks show %-24s # one rollout, host by host" % (self.tasks[0] if self.tasks else "ID"),
            "noops tree show -i %s" % self.inventory,
            "noops control service.%s restart -i %s --batch 2" % (SERVICE, self.inventory),
            "noops deploy -f %s -i %s   # the example cluster.yml" % (EXAMPLE_CLUSTER, self.inventory),
            "curl http://127.0.0.1:%d/                # a hello service (one per host)" % self.hosts[0].port,
            "ls %s                  # a host's root: home/work/hello -> .releases/hello/<version>" % self.hosts[0].root,
            "noops demo --clean%s   # stop the fleet's supervisors and remove %s"
            % ("" if self.base == os.path.abspath(default_dir()) else " --dir " + self.base, self.base),
        ):
            print("  " + line)
        return 0


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def run_demo(args: argparse.Namespace) -> int:
    if args.hosts < 2:
        raise CliError("--hosts must be at least 2 (a fleet over two rooms), got %d" % args.hosts)
    base = args.dir or os.environ.get("NOOPS_DEMO_DIR") or default_dir()
    demo = Demo(base, args.hosts, args.pause_seconds, True if args.plain else None)
    if args.clean:
        return demo.clean()
    try:
        return demo.main()
    except fleetlib.FleetError as e:
        raise CliError(str(e)) from e
