"""Real god and supervisord instances on this machine, driven by the role and both modules through ansible.

Four simulated hosts share the machine (``ansible_connection: local``, a distinct ``noops_root`` each): two under
god, two under supervisord. Each runs the ``supervisor`` role, gets a small shell program and starts it; the
tests then kill, stop, start, restart, reload and nuke it, check the crash-loop rule and that the two instances
of one backend do not touch each other. systemd is covered only when it is PID 1 (it is not in CI containers).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import noops_cli
from ansible_collections.noops.platform.plugins.module_utils.supervisor import GOD_DRIVER_FIX
from ansible_collections.noops.platform.plugins.module_utils.supervisor_status import pid_alive

pytestmark = pytest.mark.slow

ROOT = noops_cli.COLLECTION_ROOT
HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
GOD = shutil.which("god")
try:
    import supervisor  # noqa: F401
    SUPERVISOR = os.path.exists(os.path.join(BIN, "supervisord"))
except ImportError:
    SUPERVISOR = False

TICKER = """#!/bin/sh
trap 'echo "reloaded $NOOPS_VERSION"' HUP
echo "started $NOOPS_VERSION $$"
while true; do sleep 1 & wait $!; echo tick; done
"""

BACKENDS = []
if GOD:
    BACKENDS.append("god")
if SUPERVISOR:
    BACKENDS.append("supervisord")
HOSTS = {"god": ("g1", "g2"), "supervisord": ("s1", "s2")}
HISTORY = os.path.join(os.environ.get("TMPDIR", "/tmp"), "noops-supervisor-tests-%d.db" % os.getpid())


def run(argv, **kwargs):
    # The history callback of ansible.cfg stays on, but records these fixture runs in the test's own store.
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="0",
               NOOPS_HISTORY_DSN=HISTORY)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, **kwargs)


class Lab:
    def __init__(self, folder):
        self.folder = folder
        self.inventory = os.path.join(folder, "inventory.yml")
        self.script = os.path.join(folder, "ticker.sh")
        with open(self.script, "w", encoding="utf-8") as handle:
            handle.write(TICKER)
        os.chmod(self.script, 0o755)
        hosts = {}
        for backend in BACKENDS:
            for host in HOSTS[backend]:
                hosts[host] = {"noops_root": os.path.join(folder, host), "noops_supervisor": backend}
        inventory = {"all": {"hosts": hosts, "vars": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "supervisor_venv": sys.prefix, "supervisor_install": False,
            "ticker_script": self.script, "ticker_version": "1.0.7"}}}
        with open(self.inventory, "w", encoding="utf-8") as handle:
            json.dump(inventory, handle)  # JSON is YAML
        self.hosts = hosts

    def playbook(self, name):
        result = run([os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, os.path.join(HERE, name)])
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result.stdout

    def module(self, host, module, check=False, **args):
        """One module call through ``ansible`` ad hoc; returns the host's result dict."""
        backend = self.hosts[host]["noops_supervisor"]
        args.setdefault("backend", backend)
        args.setdefault("root", self.hosts[host]["noops_root"])
        if backend == "supervisord" and module == "supervisor_config":
            args.setdefault("supervisord_python", sys.executable)
        result = run([os.path.join(BIN, "ansible"), "-i", self.inventory, host, "-m",
                      "noops.platform." + module, "-a", json.dumps(args)] + (["--check"] if check else []))
        text = result.stdout
        assert "=>" in text, "ansible %s on %s printed no result:\n%s\n%s" % (module, host, text, result.stderr)
        data = json.loads(text[text.index("=>") + 2:])
        data.setdefault("failed", "FAILED!" in text[:text.index("=>")])
        return data

    def status(self, host, name="ticker", **args):
        result = self.module(host, "process", name=name, **args)
        assert "processes" in result, result
        return result["processes"][0]

    def wait_for(self, host, predicate, what, timeout=30, name="ticker"):
        deadline = time.time() + timeout
        while True:
            proc = self.status(host, name)
            if predicate(proc):
                return proc
            assert time.time() < deadline, "%s: %s not reached, last %s" % (host, what, proc)
            time.sleep(0.5)


def recap_changed(output):
    return {line.split()[0]: int(line.split("changed=")[1].split()[0])
            for line in output.splitlines() if " : ok=" in line}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not BACKENDS:
        pytest.skip("neither god (apt install ruby-god) nor supervisor (pip install supervisor) is installed")
    lab = Lab(str(tmp_path_factory.mktemp("supervisors")))
    lab.first_run = lab.playbook("up.yml")
    lab.second_run = lab.playbook("up.yml")
    yield lab
    lab.playbook("down.yml")
    if os.path.exists(HISTORY):
        os.unlink(HISTORY)


def backends():
    return [pytest.param(b, id=b) for b in ("god", "supervisord")]


def need(backend):
    if backend not in BACKENDS:
        pytest.skip({"god": "god is not installed (apt install ruby-god)",
                     "supervisord": "supervisor is not installed next to %s" % sys.executable}[backend])


@pytest.mark.parametrize("backend", backends())
def test_second_run_changes_nothing(lab, backend):
    need(backend)
    first, second = recap_changed(lab.first_run), recap_changed(lab.second_run)
    for host in HOSTS[backend]:
        assert first[host] > 0
        assert second[host] == 0, lab.second_run[-3000:]


def test_god_main_config_carries_the_driver_fix(lab):
    need("god")
    for host in HOSTS["god"]:
        with open(os.path.join(lab.hosts[host]["noops_root"], "etc/noops/supervisor/god/main.god"),
                  encoding="utf-8") as handle:
            text = handle.read()
        assert GOD_DRIVER_FIX in text and text.index(GOD_DRIVER_FIX) < text.index("God.load(file)")


@pytest.mark.parametrize("backend", backends())
def test_program_runs_under_its_supervisor_with_version(lab, backend):
    need(backend)
    proc = lab.status(HOSTS[backend][0], log_lines=5)
    assert proc["state"] == "running" and pid_alive(proc["pid"])
    assert proc["version"] == "1.0.7" and proc["start_time"]
    with open("/proc/%d/environ" % proc["pid"], "rb") as handle:
        assert b"NOOPS_VERSION=1.0.7" in handle.read().split(b"\0")
    assert any(line.startswith("started 1.0.7") or line == "tick" for line in proc["log_lines"])


@pytest.mark.parametrize("backend", backends())
def test_restarted_after_kill_9(lab, backend):
    need(backend)
    host = HOSTS[backend][0]
    old = lab.status(host)["pid"]
    os.kill(old, signal.SIGKILL)
    new = lab.wait_for(host, lambda p: p["state"] == "running" and p["pid"] not in (None, old), "restart", 20)
    assert pid_alive(new["pid"])


@pytest.mark.parametrize("backend", backends())
def test_actions(lab, backend):
    need(backend)
    host = HOSTS[backend][1]

    def ticker(**args):
        return lab.module(host, "process", name="ticker", **args)
    pid = lab.status(host)["pid"]

    stopped = ticker(state="stopped")
    assert stopped["changed"] and stopped["processes"][0]["state"] == "stopped"
    assert not pid_alive(pid)
    assert not ticker(state="stopped")["changed"]

    check = ticker(state="started", check=True)
    assert check["changed"] and check["processes"][0]["state"] == "stopped"

    started = ticker(state="started")
    assert started["changed"] and started["processes"][0]["state"] == "running"
    assert not ticker(state="started")["changed"]
    pid = started["processes"][0]["pid"]

    restarted = ticker(state="restarted")["processes"][0]
    assert restarted["state"] == "running" and restarted["pid"] != pid and not pid_alive(pid)

    reloaded = ticker(state="reloaded")
    assert reloaded["changed"] and reloaded["processes"][0]["pid"] == restarted["pid"]
    deadline = time.time() + 10
    while "reloaded 1.0.7" not in ticker(log_lines=50)["processes"][0]["log_lines"]:
        assert time.time() < deadline, "the program never logged the reload signal"
        time.sleep(0.5)

    tree = [int(p) for p in subprocess.run(["pgrep", "-g", str(restarted["pid"])], capture_output=True,
                                           text=True).stdout.split()]
    assert len(tree) >= 2  # the shell and its sleep
    killed = ticker(state="killed")
    assert killed["changed"] and killed["processes"][0]["state"] == "stopped"
    assert not any(pid_alive(p) for p in tree)
    time.sleep(3)  # well past the 1 s check interval: nothing may bring it back
    assert lab.status(host)["state"] == "stopped"
    assert not ticker(state="killed")["changed"]

    assert ticker(state="started")["processes"][0]["state"] == "running"


@pytest.mark.parametrize("backend", backends())
def test_instances_are_independent(lab, backend):
    need(backend)
    one, two = HOSTS[backend]
    before = lab.status(two)
    lab.module(one, "process", name="ticker", state="stopped")
    after = lab.status(two)
    assert after["state"] == "running" and after["pid"] == before["pid"]
    assert lab.status(one)["state"] == "stopped"
    lab.module(one, "process", name="ticker", state="started")


@pytest.mark.parametrize("backend", backends())
def test_crash_loop_stops_a_program_that_exits_at_once(lab, backend):
    need(backend)
    host = HOSTS[backend][0]
    config = lab.module(host, "supervisor_config", name="crasher", command="sh -c 'echo crash; exit 3'",
                        interval=1, crash_times=3, crash_within=60)
    assert config["changed"], config
    lab.module(host, "process", name="crasher", state="present")
    # supervisord: FATAL after startretries quick exits; on a loaded machine an exit may come after startsecs,
    # and then the listener's rule stops it (STOPPED). Either way the rule ended the loop.
    final = {"god": ("stopped",), "supervisord": ("fatal", "stopped")}[backend]
    proc = lab.wait_for(host, lambda p: p["state"] in final, "crash-loop stop", 30, name="crasher")
    crashes = len(lab.status(host, "crasher", log_lines=100)["log_lines"])
    assert 3 <= crashes <= 4, proc
    time.sleep(3)
    again = lab.status(host, "crasher", log_lines=100)
    assert again["state"] == proc["state"] and len(again["log_lines"]) == crashes


def test_listener_stops_a_slow_crash_loop(lab):
    """supervisord only retries quick exits itself; the noops listener enforces the rule for slower ones."""
    need("supervisord")
    host = HOSTS["supervisord"][1]
    lab.module(host, "supervisor_config", name="slowcrash", command="sh -c 'echo up; sleep 1.5; exit 1'",
               interval=1, crash_times=3, crash_within=60)
    lab.module(host, "process", name="slowcrash", state="present")
    lab.wait_for(host, lambda p: p["state"] == "stopped", "listener stop", 30, name="slowcrash")
    runs = len(lab.status(host, "slowcrash", log_lines=100)["log_lines"])
    time.sleep(3)
    # supervisord restarts at once after an exit; the listener's stop may meet that next run (hence 3 or 4)
    assert len(lab.status(host, "slowcrash", log_lines=100)["log_lines"]) == runs and 3 <= runs <= 4


@pytest.mark.parametrize("backend", backends())
def test_restart_with_settle_is_a_health_check(lab, backend):
    """settle: the restarted process must still run with the same pid; a program that dies after 2.5 s fails."""
    need(backend)
    host = HOSTS[backend][0]
    settled = lab.module(host, "process", name="ticker", state="restarted", settle=2)
    assert not settled.get("failed") and settled["processes"][0]["state"] == "running", settled
    lab.module(host, "supervisor_config", name="shortlived", command="sh -c 'echo up; sleep 2.5; echo bye; exit 1'",
               interval=1, crash_times=50, crash_within=60)
    failed = lab.module(host, "process", name="shortlived", state="restarted", settle=5)
    assert failed["failed"] and failed["msg"].startswith("shortlived did not stay up for 5s under "), failed
    assert "last log lines: " in failed["msg"] and "bye" in failed["msg"]
    lab.module(host, "process", name="shortlived", state="absent")


def pids_of(pattern):
    """Pids whose command line matches ``pattern`` exactly (pgrep -f -x)."""
    out = subprocess.run(["pgrep", "-f", "-x", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


# (test id, command, environment, what the message must hold)
FAILED_STARTS = [
    ("exits-1", "sh -c 'echo boom: no config at /etc/svc.yml >&2; exit 1'", {},
     ["gave up on it", "command: sh -c 'echo boom", "exit status 1", "boom: no config at /etc/svc.yml"]),
    ("cannot-spawn", "/nonexistent/bin/run.sh --port 1", {},
     ["cannot be started", "command: /nonexistent/bin/run.sh --port 1", "spawn error: can't find command",
      "/nonexistent/bin/run.sh"]),
    ("secret-masked", "sh -c 'echo cannot log in with $DB_PASSWORD >&2; exit 2'",
     {"DB_PASSWORD": "hunter2-very-secret"}, ["exit status 2", "cannot log in with ********"]),
]


@pytest.mark.parametrize("case, command, env, fragments", FAILED_STARTS, ids=[c[0] for c in FAILED_STARTS])
def test_a_failed_start_says_why_at_once(lab, case, command, env, fragments):
    """supervisord gives up (FATAL after startretries): the module fails then, not after its timeout, with the
    command, the exit status or spawn error and the program's last log lines, secrets masked."""
    need("supervisord")
    host = HOSTS["supervisord"][1]
    name = "fails-" + case
    lab.module(host, "supervisor_config", name=name, command=command, environment=env, interval=1,
               crash_times=2, crash_within=60)
    began = time.monotonic()
    result = lab.module(host, "process", name=name, state="started", timeout=120)
    took = time.monotonic() - began
    lab.module(host, "process", name=name, state="absent")
    assert result["failed"], result
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]
    assert "hunter2-very-secret" not in json.dumps(result)
    assert took < 60, "waited %.0fs for a program supervisord had given up on" % took


# A program that backgrounds itself, as a classic init script behind run.sh does; one with setsid leaves even
# the process group and session.
DAEMONS = [
    ("background", "sh -c 'sleep 3217 >/dev/null 2>&1 & exit 0'", "sleep 3217"),
    ("setsid", "sh -c 'setsid sleep 3218 >/dev/null 2>&1 < /dev/null & exit 0'", "sleep 3218"),
]


@pytest.mark.parametrize("case, command, stray", DAEMONS, ids=[d[0] for d in DAEMONS])
def test_a_program_that_puts_itself_in_the_background_is_named_and_cleaned_up(lab, case, command, stray):
    need("supervisord")
    host = HOSTS["supervisord"][1]
    name = "daemon-" + case
    lab.module(host, "supervisor_config", name=name, command=command, interval=1, crash_times=3, crash_within=60)
    began = time.monotonic()
    result = lab.module(host, "process", name=name, state="started", timeout=120)
    took = time.monotonic() - began
    try:
        assert result["failed"], result
        assert "puts itself in the background" in result["msg"] and "foreground" in result["msg"], result["msg"]
        assert "exit status 0" in result["msg"]
        assert not pids_of(stray), "left running: %s" % pids_of(stray)
        assert took < 60
        assert lab.status(host, name)["state"] in ("stopped", "fatal")
    finally:
        for pid in pids_of(stray):
            os.kill(pid, signal.SIGKILL)
        lab.module(host, "process", name=name, state="absent")


def test_nuke_finds_what_a_restarted_program_left_behind(lab):
    """kill -9 of the main pid orphans its child; supervisord starts a new copy. state=killed kills both."""
    need("supervisord")
    host = HOSTS["supervisord"][1]
    lab.module(host, "supervisor_config", name="leaver", command="sh -c 'sleep 3219 & exec sleep 3220'",
               interval=1, crash_times=50, crash_within=60)
    first = lab.module(host, "process", name="leaver", state="started")["processes"][0]
    try:
        os.kill(first["pid"], signal.SIGKILL)
        lab.wait_for(host, lambda p: p["state"] == "running" and p["pid"] not in (None, first["pid"]), "restart",
                     20, name="leaver")
        assert len(pids_of("sleep 3219")) == 2  # the orphan of the first run and the child of the second
        killed = lab.module(host, "process", name="leaver", state="killed")
        assert killed["changed"] and "leaver:nuke-leftovers" in killed["actions"], killed
        assert not pids_of("sleep 3219") and not pids_of("sleep 3220")
    finally:
        for pid in pids_of("sleep 3219") + pids_of("sleep 3220"):
            os.kill(pid, signal.SIGKILL)
        lab.module(host, "process", name="leaver", state="absent")


def test_not_running_instance_is_a_clear_error(lab, tmp_path):
    need("god")
    result = lab.module("g1", "process", root=str(tmp_path / "nowhere"))
    assert result.get("failed") and "is not running" in result["msg"] and "god on port" in result["msg"]


def test_systemd_only_when_pid1():
    with open("/proc/1/comm", encoding="ascii") as handle:
        init = handle.read().strip()
    if init != "systemd":
        pytest.skip("PID 1 is %s, not systemd: systemd units are checked by the Molecule scenarios" % init)
    result = run(["systemctl", "is-system-running"])
    assert result.stdout.strip() in ("running", "degraded", "starting")


def _supervisord_pids(conf):
    """Pids of the supervisord processes started with ``conf``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"supervisord") for a in argv[:2]) and conf.encode() in argv:
            found.append(int(pid))
    return found


def test_a_moved_socket_reaches_the_running_supervisord(lab):
    """An instance started when its socket was elsewhere (an older release, a shorter path): the role must make
    that very supervisord listen where the config now says, never start a second one beside it."""
    need("supervisord")
    root = lab.hosts["s2"]["noops_root"]
    conf = os.path.join(root, "etc/noops/supervisor/supervisord/supervisord.conf")
    with open(conf, encoding="utf-8") as handle:
        text = handle.read()
    socket_now = [line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith("file = ")][0]
    before = lab.status("s2")
    assert before["state"] == "running" and _supervisord_pids(conf), before
    old_socket = os.path.join(root, "old.sock")
    ctl = [os.path.join(BIN, "supervisorctl"), "-c", conf]
    # Put the running daemon on another socket, as if its config had said so when it started.
    with open(conf, "w", encoding="utf-8") as handle:
        handle.write(text.replace(socket_now, old_socket))
    assert run(ctl + ["-s", "unix://" + socket_now, "reload"]).returncode == 0
    deadline = time.time() + 30
    while not os.path.exists(old_socket) or os.path.exists(socket_now):
        assert time.time() < deadline, "supervisord did not move to %s" % old_socket
        time.sleep(0.2)
    with open(conf, "w", encoding="utf-8") as handle:
        handle.write(text)
    daemon = _supervisord_pids(conf)
    assert len(daemon) == 1, daemon
    lab.playbook("up.yml")
    assert _supervisord_pids(conf) == daemon  # the same daemon, and only it
    after = lab.wait_for("s2", lambda p: p["state"] == "running", "running again")
    assert after["state"] == "running", after
