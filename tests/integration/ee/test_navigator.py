"""The playbooks in the execution environment, the way AWX and ansible-navigator run them: the EE image
(conftest.py's ee_image) in podman with the host's network, against a namespace fleet over real SSH (the key from
an ssh-agent), the history on a private PostgreSQL server (tests/conftest.py's pg_server).

- `ansible-navigator run noops.platform.deploy|rollback|control` (container mode, podman, --pull-policy never,
  mode stdout): with the flags on the command line as docs/awx.md gives them, and with ee/ansible-navigator.yml;
- survey answers the playbooks refuse, given as AWX gives them: ansible-runner with extra vars (env/extravars)
  and the machine credential (env/ssh_key), in the EE; the job fails with the command line's one-line error
  naming the field and value, no host changes, the history records the refused task.

The tests are steps of one story on one fleet: v1, refused requests, v2, rollback to v1, a restart.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(os.path.dirname(HERE))
ROOT = os.path.dirname(TESTS)
for path in (TESTS, os.path.join(TESTS, "integration", "fleet"), os.path.join(ROOT, "collections")):
    if path not in sys.path:
        sys.path.insert(0, path)

from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package  # noqa: E402
from fleetctl import HELLO, JOB, PORT, SECRET, Controller, prepared_fleet  # noqa: E402

pytestmark = pytest.mark.slow
BIN = os.path.dirname(sys.executable)
SETTINGS = os.path.join(ROOT, "ee", "ansible-navigator.yml")
HOSTS = ("h1", "h2")
# The project as AWX checks it out (docs/awx.md, section 2): ansible.cfg, wrapper playbooks, clusters, inventory.
PROJECT_CFG = """\
[defaults]
callbacks_enabled = noops.platform.history
host_key_checking = False
interpreter_python = auto_silent
retry_files_enabled = False

[connection]
pipelining = True
"""
WRAPPERS = {name: "---\n- name: noops %s\n  ansible.builtin.import_playbook: noops.platform.%s\n" % (name, name)
            for name in ("deploy", "rollback", "control")}
# The job variables AWX adds to the extra vars of a job launched by a user.
AWX_VARS = {"awx_job_id": 301, "awx_job_template_name": "noops deploy", "awx_user_name": "ann",
            "awx_job_launch_type": "manual"}


class EEFleet:
    """The fleet, the project folder the EE runs in, the history store and the ssh-agent holding the fleet's key."""

    def __init__(self, controller, project, dsn, agent_env, image):
        self.controller = controller
        self.fleet = controller.fleet
        self.project = project
        self.dsn = dsn
        self.image = image
        self.env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""), NOOPS_HISTORY_DSN=dsn,
                        NOOPS_USER="ee-tester", **agent_env)
        for key in ("ANSIBLE_CONFIG", "ANSIBLE_NAVIGATOR_CONFIG", "NOOPS_TASK_ID"):
            self.env.pop(key, None)

    def navigator(self, playbook, *args, settings=False, timeout=600):
        """``ansible-navigator run noops.platform.<playbook>`` in the project folder: the EE flags on the command
        line (docs/awx.md), or (settings=True) from ee/ansible-navigator.yml with only the image named."""
        if settings:
            cmd = [os.path.join(BIN, "ansible-navigator"), "run", "noops.platform." + playbook, "--eei", self.image]
            env = dict(self.env, ANSIBLE_NAVIGATOR_CONFIG=SETTINGS)
        else:
            cmd = [os.path.join(BIN, "ansible-navigator"), "run", "noops.platform." + playbook,
                   "--mode", "stdout", "--ee", "true", "--ce", "podman", "--eei", self.image, "--pull-policy", "never",
                   "--co=--network=host", "--penv", "NOOPS_HISTORY_DSN", "--penv", "NOOPS_USER", "--pae", "false"]
            env = self.env
        cmd += ["-i", "inventory.yml", *args]
        return subprocess.run(cmd, cwd=self.project, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def store(self):
        from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

        return HistoryStore(self.dsn)

    def last_task(self):
        with self.store() as store:
            task = store.list_tasks(limit=1)[0]
            return (store.get_task(task["id"]), {h["host"]: h for h in store.task_hosts(task["id"])},
                    store.controller_failures(task["id"]))

    def noops_tasks(self, *args):
        return subprocess.run([os.path.join(BIN, "noops"), "tasks", *args, "--dsn", self.dsn], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=60, check=False)

    def releases(self):
        """The release each host runs, asked of the hosts: the version its service answers with, and the release
        its current link names."""
        out = {}
        for host in self.fleet.hosts:
            link = self.fleet.run(host, "readlink /home/work/hello", check=False).stdout.strip()
            out[host.name] = (self.controller.served(host), os.path.basename(link))
        return out


def tail(proc):
    return "rc %d\n%s\n%s" % (proc.returncode, proc.stdout[-8000:], proc.stderr[-3000:])


def write_project(project, fleet_inventory):
    os.makedirs(os.path.join(project, "clusters"))
    with open(os.path.join(project, "ansible.cfg"), "w") as f:
        f.write(PROJECT_CFG)
    for name, text in WRAPPERS.items():
        with open(os.path.join(project, name + ".yml"), "w") as f:
            f.write(text)
    # The fleet's inventory without its key file: the key reaches the EE through the ssh-agent.
    with open(fleet_inventory) as f:
        inventory = yaml.safe_load(f)
    del inventory["all"]["vars"]["ansible_ssh_private_key_file"]
    with open(os.path.join(project, "inventory.yml"), "w") as f:
        yaml.safe_dump(inventory, f, sort_keys=False)
    for version in ("1.0.0", "2.0.0"):
        package = os.path.join(project, "packages", "hello-%s.tar.gz" % version)
        build_package(HELLO, package, version=version)
        with open(package, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        doc = {"cluster": {"name": "hello", "version": version, "env": "production", "jobs": [JOB]},
               "hello": {"pkg_url": "../packages/hello-%s.tar.gz" % version, "pkg_sha256": digest,
                         "path": "/home/work/hello", "port": PORT, "db_passwd": SECRET}}
        with open(os.path.join(project, "clusters", "hello-%s.yml" % version), "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)


def start_agent(directory, key):
    """An ssh-agent of this test holding ``key``: (its environment, its pid)."""
    sock = os.path.join(directory, "agent.sock")
    out = subprocess.run(["ssh-agent", "-s", "-a", sock], capture_output=True, text=True, check=True).stdout
    pid = int(re.search(r"SSH_AGENT_PID=(\d+)", out).group(1))
    env = {"SSH_AUTH_SOCK": sock}
    subprocess.run(["ssh-add", "-q", str(key)], env=dict(os.environ, **env), capture_output=True, check=True)
    return env, pid


@pytest.fixture(scope="module")
def ee(ee_image, netns_usable, pg_server, tmp_path_factory):
    import psycopg

    if shutil.which("ssh-agent") is None:
        pytest.skip("ssh-agent is not installed (apt-get install openssh-client)")
    tmp = tmp_path_factory.mktemp("ee")
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS noops_ee")
        conn.execute("CREATE DATABASE noops_ee")
    dsn = pg_server.rsplit("/", 1)[0] + "/noops_ee"
    with prepared_fleet(len(HOSTS), tmp) as fleet:
        controller = Controller(fleet, tmp)
        # One supervisor for every host: the EE story is about how the playbooks run, not the backends.
        controller.backends = ["supervisord"]
        project = str(tmp / "project")
        write_project(project, controller.inventory())
        agent_env, agent_pid = start_agent(str(tmp), fleet.key)
        try:
            yield EEFleet(controller, project, dsn, agent_env, ee_image.name)
        finally:
            os.kill(agent_pid, signal.SIGTERM)


def check_task(ee, playbook, hosts_status="success"):
    """The newest task in PostgreSQL is this run's, finished ``success`` with every host ``hosts_status``, and
    ``noops tasks list --dsn`` shows it."""
    task, hosts, _ = ee.last_task()
    assert (os.path.basename(task["playbook"]), task["status"]) == (playbook + ".yml", "success"), task
    assert {h: row["status"] for h, row in hosts.items()} == dict.fromkeys(HOSTS, hosts_status)
    listed = ee.noops_tasks("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(t["id"], t["status"]) for t in json.loads(listed.stdout)][0] == (task["id"], "success")
    table = ee.noops_tasks("list")
    rows = [[cell.strip() for cell in line.split("\u2502")] for line in table.stdout.splitlines() if "\u2502" in line]
    assert any(row[1] == str(task["id"]) and "success" in row for row in rows), table.stdout
    return task


def test_1_navigator_deploys_v1_from_the_command_line(ee):
    started = time.monotonic()
    proc = ee.navigator("deploy", "-e", "cluster_file=clusters/hello-1.0.0.yml", "-e", "batch=2")
    assert proc.returncode == 0, tail(proc)
    assert "PLAY RECAP" in proc.stdout
    assert ee.releases() == dict.fromkeys(HOSTS, ("1.0.0", "1.0.0"))
    task = check_task(ee, "deploy")
    assert (task["service"], task["version"], task["initiator"]) == (JOB, "1.0.0", "ee-tester")
    print("navigator deploy: %.1f s" % (time.monotonic() - started))


def run_as_awx(ee, extravars):
    """The deploy job as AWX runs it: ansible-runner in the EE (podman, host network) with the project checked out
    into the job's folder, the extra vars in env/extravars and the machine credential's key in env/ssh_key."""
    import ansible_runner

    private = os.path.join(ee.controller.tmp, "job-%d" % extravars["awx_job_id"])
    shutil.copytree(ee.project, os.path.join(private, "project"))
    os.makedirs(os.path.join(private, "inventory"))
    shutil.copy(os.path.join(ee.project, "inventory.yml"), os.path.join(private, "inventory", "hosts.yml"))
    with open(ee.fleet.key) as f:
        key = f.read()
    events = []
    runner = ansible_runner.run(
        private_data_dir=private, playbook="deploy.yml", extravars=extravars, ssh_key=key,
        envvars={"NOOPS_HISTORY_DSN": ee.dsn}, process_isolation=True, process_isolation_executable="podman",
        container_image=ee.image, container_options=["--network=host", "--user=root"], quiet=True,
        event_handler=lambda e: (events.append(e), True)[1])
    return runner, events, runner.stdout.read()


@pytest.fixture(scope="module")
def cli_lines(ee):
    """The command line's problem lines for the same bad values (checked before anything runs)."""
    proc = subprocess.run([os.path.join(BIN, "noops"), "deploy", "-f", "clusters/hello-1.0.0.yml", "--batch", "0",
                           "-e", "env=pre prod", "-e", "version=1 2"], cwd=ee.project, env=ee.env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, tail(proc)
    return [line.removeprefix("noops: ") for line in proc.stderr.splitlines()]


@pytest.mark.parametrize("answer, line", [
    # AWX gives an integer question's answer as an integer; the command line has the text of --batch.
    ({"batch": 0}, "extra vars: batch: 0: must be an integer >= 1"),
    ({"env": "pre prod"}, 'extra vars: env: "pre prod": must be the name of a section of config.template.yml '
                          "(production, staging, ...)"),
    ({"version": "1 2"}, 'extra vars: version: "1 2": must match [A-Za-z0-9][A-Za-z0-9_.+-]* (it names the '
                         "release folder on every host)"),
])
def test_2_survey_answers_refused_in_the_ee_as_on_the_command_line(ee, cli_lines, answer, line):
    [(field, value)] = answer.items()
    reason = line.rsplit(": ", 1)[1]
    # The command line says the same of the same value: the extra var's own line, or its option's (--batch).
    assert line in cli_lines or '--%s: "%s": %s' % (field, value, reason) in cli_lines, cli_lines
    before = ee.controller.trees()
    job_id = {"batch": 311, "env": 312, "version": 313}[field]
    extravars = dict(AWX_VARS, awx_job_id=job_id, cluster_file="clusters/hello-1.0.0.yml", **answer)
    runner, events, stdout = run_as_awx(ee, extravars)
    assert (runner.status, runner.rc) == ("failed", 2), stdout[-6000:]
    failed = [e["event_data"] for e in events if e.get("event") == "runner_on_failed"]
    assert [e["task"] for e in failed] == ["Check cluster.yml, the hosts and the package"], stdout[-6000:]
    assert failed[0]["res"]["msg"].splitlines() == [line]
    # No host was touched: the first task refused the job.
    assert ee.controller.trees() == before
    assert ee.releases() == dict.fromkeys(HOSTS, ("1.0.0", "1.0.0"))
    task, hosts, failures = ee.last_task()
    assert (task["status"], task["initiator"], task["awx_job_id"], task["awx_job_template"]) == (
        "failed", "ann", job_id, "noops deploy"), task
    assert any(line in f.splitlines() for f in failures), failures
    shown = ee.noops_tasks("show", str(task["id"]))
    assert shown.returncode == 0 and line in shown.stdout, shown.stdout + shown.stderr
    assert all(row["status"] not in ("success", "deploying", "failed") for row in hosts.values()), hosts


def test_3_navigator_deploys_v2_and_rolls_back_with_the_settings_file(ee):
    proc = ee.navigator("deploy", "-e", "cluster_file=clusters/hello-2.0.0.yml", "-e", "batch=1", settings=True)
    assert proc.returncode == 0, tail(proc)
    assert ee.releases() == dict.fromkeys(HOSTS, ("2.0.0", "2.0.0"))
    check_task(ee, "deploy")
    proc = ee.navigator("rollback", "-e", "cluster_file=clusters/hello-2.0.0.yml", "-e", "batch=2", settings=True)
    assert proc.returncode == 0, tail(proc)
    assert ee.releases() == dict.fromkeys(HOSTS, ("1.0.0", "1.0.0"))
    task = check_task(ee, "rollback")
    assert task["version"] == "1.0.0", task


def service_pids(ee):
    """The pid listening on the service's port, per host."""
    out = {}
    for host in ee.fleet.hosts:
        listening = ee.fleet.run(host, "ss -Hltnp 'sport = :%d'" % PORT, check=False).stdout
        out[host.name] = re.findall(r"pid=(\d+)", listening)
    return out


def test_4_navigator_control_restarts_the_service(ee):
    pids = service_pids(ee)
    proc = ee.navigator("control", "-e", "query=service.hello", "-e", "action=restart", "-e", "batch=2",
                        settings=True)
    assert proc.returncode == 0, tail(proc)
    check_task(ee, "control")
    after = service_pids(ee)
    assert all(pids[h] and after[h] != pids[h] for h in HOSTS), (pids, after)
    assert ee.releases() == dict.fromkeys(HOSTS, ("1.0.0", "1.0.0"))
