"""The controller side of the fleet tests: a 4-host namespace fleet prepared like real hosts, and the runs onto it.

The hosts use a real host's layout (empty `noops_root`). On top of the harness's private /home /root /tmp /run
/data, each host gets bind mounts of its own over:

- /etc/noops and /var/log/noops, where its supervisor instance keeps configs and logs: on the machine's shared
  /etc every host would overwrite the others' process configs;
- /opt/noops/supervisor, the supervisor role's venv: the machine's own may run on a Python the hosts cannot
  see (a pyenv under the real /root), so the fleet gets one made from /usr/bin/python3 under /var/tmp.
"""

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest
import yaml

from hosts import netns

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)
HELLO = os.path.join(ROOT, "examples", "packages", "hello")
JOB = "job.hello_service.hello_pdl.demo_owt.ops_cop.example"
PORT = 18080
SECRET = "fleet-db-Secret-4417"
# Paths the supervisor writes outside the harness's private dirs (see plugins/module_utils/supervisor.py).
HOST_PRIVATE_EXTRA = {"/etc/noops": "/root/.host/etc-noops", "/var/log/noops": "/root/.host/log-noops"}
SUPERVISOR_VENV = "/opt/noops/supervisor"
SUPERVISOR_SPEC = "supervisor==4.3.0"    # the role's supervisor_pip_spec


def host_tag(host) -> str:
    """The host's service-tree tag: the cluster's job, a machine room (two rooms over four hosts), online."""
    idc = "lg" if host.index % 2 else "sd"
    return f"cop.example_owt.ops_pdl.demo_service.hello_job.hello_idc.{idc}_status.service"


def supervisors() -> list:
    """The backend per host: god and supervisord side by side when god is installed, else supervisord."""
    god = subprocess.run(["sh", "-c", "command -v god"], capture_output=True, check=False).returncode == 0
    return ["supervisord", "god"] if god else ["supervisord"]


class Controller:
    """The controller side of the fleet tests: inventories, cluster files and ansible-playbook runs, with a
    private history store, lock folder, package/build cache and staging folder."""

    def __init__(self, fleet, tmp):
        self.fleet = fleet
        self.tmp = tmp
        self.backends = supervisors()
        self.env = dict(os.environ)
        self.env.update({
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "NOOPS_HISTORY_DSN": str(tmp / "history.db"),
            "NOOPS_LOCK_DIR": str(tmp / "locks"),
            "XDG_CACHE_HOME": str(tmp / "cache"),
            "NOOPS_STAGING": str(tmp / "staging"),
            "NOOPS_USER": "fleet-tester",
            # One SSH round trip per task instead of three, as a fleet of real hosts would be run.
            "ANSIBLE_PIPELINING": "True",
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        })
        self.env.pop("NOOPS_TASK_ID", None)

    def backend(self, host) -> str:
        return self.backends[(host.index - 1) % len(self.backends)]

    # ---- inputs ----------------------------------------------------------------------------------------------
    def inventory(self, name="inventory.yml", host_vars=None) -> str:
        """The fleet's inventory with each host's tags and supervisor; host_vars {host: {var: value}} adds more."""
        extra = host_vars or {}
        per_host = {h.name: {"noops_tags": [host_tag(h)], "noops_supervisor": self.backend(h), **extra.get(h.name, {})}
                    for h in self.fleet.hosts}
        return str(self.fleet.write_inventory(self.tmp / name, host_vars=per_host))

    def cluster(self, name, module=None, cluster=None, raw=None) -> str:
        """A cluster.yml in tmp: the example service from the package folder, with changes; raw: the file's text."""
        path = self.tmp / name
        if raw is not None:
            path.write_text(raw)
            return str(path)
        doc = {"cluster": {"name": "hello", "version": "1.0.0", "env": "production", "jobs": [JOB]},
               "hello": {"pkg_url": HELLO, "path": "/home/work/hello", "port": PORT, "db_passwd": SECRET}}
        doc["cluster"].update(cluster or {})
        doc["hello"].update(module or {})
        for block in doc.values():
            for key in [k for k, v in block.items() if v is None]:
                del block[key]
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return str(path)

    # ---- runs ------------------------------------------------------------------------------------------------
    def command(self, cluster_file, playbook="deploy.yml", inventory=None, limit=None, **extra) -> list:
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory or self.inventory(),
               os.path.join(ROOT, "playbooks", playbook), "-e", "cluster_file=" + cluster_file]
        cmd += ["--limit", limit] if limit else []
        for key, value in extra.items():
            cmd += ["-e", f"{key}={value}"]
        return cmd

    def run(self, cluster_file, playbook="deploy.yml", inventory=None, limit=None, timeout=900, **extra):
        return subprocess.run(self.command(cluster_file, playbook, inventory, limit, **extra), cwd=ROOT, env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self, cluster_file, playbook="deploy.yml", inventory=None, limit=None, **extra) -> subprocess.Popen:
        log = open(self.tmp / "background.log", "w")  # noqa: SIM115 - closed by the caller through the Popen
        # No terminal (stdin from /dev/null): a pause waits for `noops tasks resume`, as under AWX or CI.
        return subprocess.Popen(self.command(cluster_file, playbook, inventory, limit, **extra), cwd=ROOT, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)

    def noops(self, *args):
        return subprocess.run([os.path.join(BIN, "noops"), *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=120, check=False)

    def tasks(self) -> list:
        proc = self.noops("tasks", "list", "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    # ---- the hosts -------------------------------------------------------------------------------------------
    def served(self, host) -> str:
        """The version hello answers with on the host (it listens on the host's 127.0.0.1), or a reason."""
        script = ("import json, urllib.request\n"
                  "try:\n"
                  f"    print(json.load(urllib.request.urlopen('http://127.0.0.1:{PORT}/', timeout=5))['version'])\n"
                  "except Exception as e:\n"
                  "    print('down: %s' % e)\n")
        return self.fleet.run(host, "python3 -", input=script).stdout.strip()

    def versions(self) -> dict:
        return {h.name: self.served(h) for h in self.fleet.hosts}

    def trees(self) -> dict:
        """Every host's /home, /data and supervisor config trees: path -> (type, size or link target, mtime).
        Logs and pid files are left out: a running service writes them whatever the deploy does."""
        out = {}
        for h in self.fleet.hosts:
            tree = {}
            for inside in ("/home", "/data", HOST_PRIVATE_EXTRA["/etc/noops"]):
                top = h.path(inside)
                for d, dirs, files in os.walk(top):
                    for f in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
                        full = os.path.join(d, f)
                        rel = inside + "/" + os.path.relpath(full, top)
                        if "/log/" in rel or "/run/" in rel:
                            continue
                        st = os.lstat(full)
                        tree[rel] = (stat.S_IFMT(st.st_mode),
                                     os.readlink(full) if os.path.islink(full) else st.st_size, st.st_mtime_ns)
            out[h.name] = tree
        return out


def supervisor_venv(shared: str) -> str:
    """A supervisor venv of the hosts' python3 in a folder the hosts see; skips the module when pip cannot."""
    venv = os.path.join(shared, "supervisor")
    proc = subprocess.run(f"/usr/bin/python3 -m venv {venv} && {venv}/bin/pip install -q --disable-pip-version-check "
                          f"{SUPERVISOR_SPEC}", shell=True, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot make a {SUPERVISOR_SPEC} venv of /usr/bin/python3 for the hosts: "
                    f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    return venv


@contextlib.contextmanager
def prepared_fleet(n: int, tmp):
    """A started fleet of `n` namespace hosts prepared as above (private /etc/noops and /var/log/noops, the
    supervisor venv), under `tmp`; torn down on exit."""
    # /tmp is private on the hosts: what they share with the controller lives under /var/tmp.
    shared = tempfile.mkdtemp(prefix="noops-fleet-", dir="/var/tmp")
    # Mount points for the hosts' private folders: empty folders on the real machine (as the harness makes /data),
    # removed afterwards when this run made them and they are still empty.
    mounts = dict(HOST_PRIVATE_EXTRA)
    made = [d for d in [*mounts, SUPERVISOR_VENV] if not os.path.exists(d)]
    fleet = netns.Fleet(n, tmp / "hosts")
    try:
        venv = supervisor_venv(shared)
        for d in made:
            os.makedirs(d)
        fleet.up()
        for host in fleet.hosts:
            binds = [f"mkdir -p {src} && mount --bind {src} {mnt}" for mnt, src in mounts.items()]
            binds.append(f"mount --bind {venv} {SUPERVISOR_VENV}")
            fleet.run(host, " && ".join(binds))
        yield fleet
    finally:
        # The hosts' pid namespaces (supervisors, services) and mount namespaces end with their launchers.
        fleet.down()
        for d in reversed(made):
            try:
                os.rmdir(d)
            except OSError:
                pass
        shutil.rmtree(shared, ignore_errors=True)
