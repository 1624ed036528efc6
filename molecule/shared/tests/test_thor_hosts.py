"""Verify a thor deploy inside each container of a thor-* scenario (testinfra, run by Molecule's verify step).

Shared by thor-god, thor-supervisord and thor-systemd: the backend comes from the host's `noops_supervisor`
inventory variable, the service's names and values from ../vars.yml. The state under test is what prepare and
converge left: hello 1.0.0 deployed, then upgraded to 2.0.0, plus a crash-looping `crasher` config loaded.
The tests run in file order; the last ones change the host (kill -9, crash loop, rollback) and put it back, so
the verify can be run again.
"""

import json
import os
import shlex
import subprocess
import sys
import time

import pytest
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

SHARED = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(SHARED, "vars.yml"), encoding="utf-8") as f:
    VARS = yaml.safe_load(f)

NAME = VARS["thor_name"]
USER = VARS["thor_user"]
PATH = VARS["thor_path"]
PORT = VARS["hello_port"]
SECRET = VARS["hello_db_passwd"]
OLD, NEW = VARS["hello_versions"][0], VARS["hello_versions"][-1]
RELEASES = os.path.join(os.path.dirname(PATH), ".releases", os.path.basename(PATH))
DATA = "/data/" + NAME
PID_FILE = DATA + "/run/hello.pid"  # hello writes it itself (config.template.yml: $<data_path>/run/hello.pid)
CRASHER = VARS["crasher_name"]
CRASH_TIMES = VARS["crasher_times"]
STARTS_FILE = "/data/%s/starts" % CRASHER  # one line per start (vars.yml crasher_command)

SUPERVISORCTL = "/opt/noops/supervisor/bin/supervisorctl -c /etc/noops/supervisor/supervisord/supervisord.conf"
# Per backend: the supervisor's own status command and words; how a process is started afresh, with no
# memory of earlier crashes (god's flapping history, supervisord's retry count, systemd's start limit); how
# often it looks at hello (thor's interval is 5 s: god polls that often inside a container; supervisord and
# systemd learn of an exit at once, systemd waits RestartSec=1) and when it calls a started process running
# (supervisord: startsecs = that interval).
BACKENDS = {
    "god": {
        "status": "god status {name}",
        "running": "{name}: up",
        "stopped_by_rule": ("{name}: unmonitored",),
        # god unmonitors and removes asynchronously: unmonitor and remove the watch, and wait until it is gone,
        # before loading it again (as noops.platform.process state=absent does; docs/supervisors.md).
        "start_afresh": "god unmonitor {name}; for i in $(seq 40); do god status {name} | grep -q unmonitored "
                        "&& break; sleep 0.25; done; god remove {name}; for i in $(seq 40); do god status "
                        "| grep -q '^ *{name}:' || break; sleep 0.25; done; "
                        "god load /etc/noops/supervisor/god/conf.d/{name}.god",
        "poll": 5,
        "settle": 0,
    },
    "supervisord": {
        "status": SUPERVISORCTL + " status {name}",
        "running": "RUNNING",
        "stopped_by_rule": ("FATAL", "STOPPED"),
        "start_afresh": SUPERVISORCTL + " remove {name}; " + SUPERVISORCTL + " add {name}",
        "poll": 1,
        "settle": 5,
    },
    "systemd": {
        "status": "systemctl is-active {name}",
        "running": "active",
        "stopped_by_rule": ("failed",),
        "start_afresh": "systemctl reset-failed {name}; systemctl start {name}",
        "poll": 1,
        "settle": 0,
    },
}
# Time a restarted hello needs beyond the supervisor's poll: python start-up on a loaded 2-core machine.
START_MARGIN = 10


@pytest.fixture(scope="module")
def inventory():
    return AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture
def name(host):
    return host.backend.get_hostname()


@pytest.fixture
def backend(inventory, name):
    return inventory.get_variables(name)["noops_supervisor"]


def status(host, backend, process):
    cmd = BACKENDS[backend]["status"].format(name=process)
    return host.run(cmd).stdout.strip()


def is_running(host, backend, process):
    return BACKENDS[backend]["running"].format(name=process) in status(host, backend, process)


def served(host):
    """hello's answer on / inside the container, or None when nothing answers."""
    cmd = ("python3 -c 'import urllib.request; "
           "print(urllib.request.urlopen(\"http://127.0.0.1:%d/\", timeout=5).read().decode())'" % PORT)
    out = host.run(cmd)
    return json.loads(out.stdout) if out.rc == 0 else None


def hello_pid(host):
    out = host.run("cat %s" % PID_FILE)
    return int(out.stdout) if out.rc == 0 and out.stdout.strip().isdigit() else None


def alive(host, pid):
    return host.run("kill -0 %d" % pid).rc == 0


def wait_for(what, check, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %ss" % (what, timeout))
        time.sleep(step)


def supervisor_pid(host, backend):
    if backend == "god":
        out = host.run("cat /var/run/noops/god/pids/%s.pid" % NAME).stdout
    elif backend == "supervisord":
        out = host.run(SUPERVISORCTL + " pid " + NAME).stdout
    else:
        out = host.run("systemctl show -p MainPID --value " + NAME).stdout
    return int(out.strip()) if out.strip().isdigit() else None


def rollback(name, **extra):
    """Run ../rollback.yml (thor's tasks_from: rollback) against this one host, as an operator would."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
           "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", name, os.path.join(SHARED, "rollback.yml")]
    for key, value in extra.items():
        cmd += ["-e", "%s=%s" % (key, value)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert SECRET not in proc.stdout + proc.stderr
    return proc


# --- what the deploy left: folders, owners and modes ---

def test_path_is_a_link_to_the_new_release(host):
    link = host.file(PATH)
    assert link.is_symlink
    assert link.linked_to == RELEASES + "/" + NEW


@pytest.mark.parametrize("version", [OLD, NEW])
def test_release_folders_belong_to_the_deploy_user(host, version):
    release = host.file(RELEASES + "/" + version)
    assert release.is_directory
    assert (release.user, release.mode) == (USER, 0o755)
    run_sh = host.file(RELEASES + "/" + version + "/bin/run.sh")
    assert run_sh.user == USER and run_sh.mode & 0o111


@pytest.mark.parametrize("version", [OLD, NEW])
def test_config_is_versioned_with_the_program_and_kept_secret(host, version):
    conf = host.file(RELEASES + "/" + version + "/conf/hello.conf")
    assert conf.is_file
    assert conf.user == USER
    assert conf.mode & 0o037 == 0, "a file holding a secret must be 0640 or stricter, is %o" % conf.mode
    assert "version = %s\n" % version in conf.content_string
    assert SECRET in conf.content_string


@pytest.mark.parametrize("folder", [DATA, DATA + "/log", DATA + "/dict", DATA + "/run"])
def test_logs_and_data_live_outside_the_program(host, folder):
    f = host.file(folder)
    assert f.is_directory
    assert f.user == USER


def test_no_log_or_data_folder_inside_a_release(host):
    found = host.run("find %s -name log -o -name data -o -name dict" % shlex.quote(RELEASES)).stdout.split()
    assert found == []


# --- the process under its supervisor ---

def test_hello_runs_under_its_supervisor_as_the_deploy_user(host, backend):
    assert is_running(host, backend, NAME)
    pid = hello_pid(host)
    assert pid and alive(host, pid)
    # The supervisor's pid is hello itself, or the shell it started hello from (systemd's ExecStart=/bin/sh -c).
    spid = supervisor_pid(host, backend)
    assert spid in (pid, int(host.run("ps -o ppid= -p %d" % pid).stdout.strip()))
    assert host.run("ps -o user= -p %d" % pid).stdout.strip() == USER


def test_hello_answers_with_the_deployed_version(host):
    answer = served(host)
    assert answer and answer["version"] == NEW and answer["service"] == NAME
    assert SECRET not in json.dumps(answer)


def test_supervisor_restarts_hello_after_kill_9(host, backend):
    old = hello_pid(host)
    assert old and alive(host, old)
    host.run_test("kill -9 %d" % old)
    limit = BACKENDS[backend]["poll"] + START_MARGIN

    def back():
        pid = hello_pid(host)
        return pid if pid not in (None, old) and alive(host, pid) and served(host) else None

    new = wait_for("hello back after kill -9 of pid %d" % old, back, limit)
    assert alive(host, new) and new != old
    assert served(host)["version"] == NEW
    wait_for("hello running again under %s" % backend, lambda: is_running(host, backend, NAME),
             BACKENDS[backend]["settle"] + START_MARGIN)


# --- the crash-loop rule ---

def test_crash_loop_is_stopped_by_the_rule(host, backend):
    b = BACKENDS[backend]
    # Converge loaded the crasher (and its loop ran then); start it afresh and count its starts from here.
    host.run_test("rm -f %s" % STARTS_FILE)
    host.run(b["start_afresh"].format(name=CRASHER))
    stopped = tuple(s.format(name=CRASHER) for s in b["stopped_by_rule"])
    wait_for("crasher stopped by the crash-loop rule",
             lambda: any(s in status(host, backend, CRASHER) for s in stopped), 60)
    starts = len(host.file(STARTS_FILE).content_string.split())
    assert 2 <= starts <= CRASH_TIMES + 1, "crasher started %d times" % starts
    # And it stays stopped: no further start over several of the supervisor's check intervals.
    time.sleep(3 * VARS["crasher_interval"] + 2)
    assert len(host.file(STARTS_FILE).content_string.split()) == starts
    assert any(s in status(host, backend, CRASHER) for s in stopped)


# --- rollback (thor's tasks_from: rollback) ---

def test_rollback_restores_the_previous_release_and_back(host, backend, name):
    rollback(name)
    assert host.file(PATH).linked_to == RELEASES + "/" + OLD
    assert served(host)["version"] == OLD
    assert is_running(host, backend, NAME)

    # A named release brings the upgrade back (and leaves the host as converge did).
    rollback(name, thor_rollback_version=NEW)
    assert host.file(PATH).linked_to == RELEASES + "/" + NEW
    assert served(host)["version"] == NEW
