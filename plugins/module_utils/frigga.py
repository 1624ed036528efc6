# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Frigga: one supervisor instance (god, supervisord or systemd) and what is done to its processes.

Used by the ``process`` module (start, stop, restart, reload, nuke, report) and by the ``release`` module's read
(a deploy's first look at a host). Errors are raised as ``FriggaError``; the caller turns them into its result.
``module`` is the calling AnsibleModule (commands, binaries, check mode, warnings); ``options`` the backend's
settings: timeout, god_port, pid_dir, supervisord_conf, log_lines.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from ansible_collections.noops.platform.plugins.module_utils.supervisor import (
    EXTENSIONS,
    SupervisorConfigError,
    god_port,
    instance_layout,
)
from ansible_collections.noops.platform.plugins.module_utils import supervisord_rpc as rpc
from ansible_collections.noops.platform.plugins.module_utils.redact import Masker, secret_values
from ansible_collections.noops.platform.plugins.module_utils.supervisor_listener import parse_labels
from ansible_collections.noops.platform.plugins.module_utils.supervisor_status import (
    UP_STATES,
    normalise,
    parse_god_status,
    parse_systemctl_show,
    pid_alive,
    proc_table,
    process_age,
    process_tree,
    read_pidfile,
    start_time,
    tail_lines,
)


class FriggaError(Exception):
    """What went wrong, and extra result fields (the process report of a failed health check)."""

    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.msg = msg
        self.extra = extra


LISTENER = "noops_crashloop"
POLL = 0.25
# What a program left behind gets this long after SIGTERM before SIGKILL.
LEFTOVER_STOP_SECONDS = 5


class Backend:
    """One supervisor instance; subclasses run its tool. ``status()`` -> {name: (raw state, pid or None)}."""

    def __init__(self, module, layout, options):
        self.module = module
        self.layout = layout
        self.options = options
        self.ext = EXTENSIONS[self.kind]

    kind = ""

    # Check mode only: why the supervisor instance does not answer (not started yet: a first deploy, whose
    # supervisor role is checked too). It then counts as an instance without processes.
    not_running = None

    def fail(self, msg, **extra):
        raise FriggaError(msg, **extra)

    def not_running_in_check_mode(self, why):
        """Outside check mode: fail with ``why``. In check mode: warn once and take the instance as one without
        processes (what a check of a first deploy finds before the supervisor is started)."""
        if not getattr(self.module, "check_mode", False):
            self.fail(why)
        if self.not_running is None:
            self.not_running = why
            self.module.warn("%s; check mode: taken as having no process (a deploy starts it first)" % why)

    def config(self, name):
        return os.path.join(self.layout["conf_dir"], name + self.ext)

    def configured(self):
        try:
            files = sorted(os.listdir(self.layout["conf_dir"]))
        except OSError:
            return []
        return [f[:-len(self.ext)] for f in files if f.endswith(self.ext)]

    def state(self, name, statuses):
        if name not in statuses:
            return "absent", None
        raw, pid = statuses[name]
        return normalise(self.kind, raw), pid

    # Set by Frigga before it acts: a start, stop or exit the supervisor reports from before this is not ours.
    since = 0.0
    # Whether "starting" may hide a program that already ended (god: up, but its pid is gone).
    starting_tells = False
    # Whether facts() tells every exit since Frigga acted, with its status (supervisord's log).
    exit_known = False

    def facts(self, name):
        """The supervisor's own account of the program's last run: ``exit`` (status, or None when unknown),
        ``spawn_error``, ``said`` (its description), ``started`` (epoch seconds of the last start, or None)."""
        return {}

    def gave_up(self, name, current, facts):
        """True when the supervisor will not start the program again by itself (FATAL, a crash-loop stop)."""
        return current == "fatal"

    def leftovers(self, name, pid):
        """Live processes the program started that the supervisor no longer tracks (not ``pid``'s tree)."""
        return []

    def log_lines(self, name, count):
        """The last ``count`` lines of what the program wrote: its error log, else its log."""
        labels = labels_of(self.config(name))
        for log in (labels.get("err-log"), labels.get("log")):
            if log:
                lines = log_tail(self.module, self, name, log, count)
                if lines:
                    return lines
        return log_tail(self.module, self, name, "", count)

    def explain(self, name, facts=None):
        """Why the program is not up, as "; "-joined clauses: command, exit status, spawn error, the supervisor's
        words, the last distinct log lines. Secrets (secret-looking environment entries and options) are masked."""
        facts = self.facts(name) if facts is None else facts
        labels = labels_of(self.config(name))
        parts = []
        if labels.get("command"):
            parts.append("command: " + labels["command"])
        if facts.get("ended"):
            parts.append(facts["ended"])
        elif facts.get("exit") is not None:
            parts.append("exit status %s" % facts["exit"])
        if facts.get("spawn_error"):
            parts.append("spawn error: " + facts["spawn_error"])
        if facts.get("said"):
            parts.append("%s says: %s" % (self.kind, facts["said"]))
        # A program restarted in a loop writes the same lines at every start: each line once, where last written.
        lines = [line.strip() for line in self.log_lines(name, 50) if line.strip()]
        last = {line: i for i, line in enumerate(lines)}
        tail = [line for i, line in enumerate(lines) if last[line] == i]
        if tail:
            parts.append("last log lines: " + " | ".join(tail[-5:]))
        return mask_secrets("; ".join(parts), self.config(name))

    def failure(self, name, what, current, pid=None, facts=None):
        facts = self.facts(name) if facts is None else facts
        why = self.explain(name, facts)
        return "%s %s under %s: it is %s%s%s" % (
            name, what, self.describe(), current, " (pid %s)" % pid if pid else "", ("; " + why) if why else "")

    def daemonized(self, name, current, pid, facts):
        """A program that put itself in the background: its command ended (status 0 where the supervisor knows
        it) while processes it started live on. Stops the program and those processes; the message, or None."""
        # An exit status other than 0 is a crash, not a program that went to the background; where the supervisor
        # knows exit statuses (supervisord), only an exit 0 since we acted counts.
        if current == "stopping" or facts.get("spawn_error") or \
                facts.get("exit") != 0 and (self.exit_known or facts.get("exit") is not None):
            return None
        strays = self.leftovers(name, pid)
        if not strays:
            return None
        if not self.module.check_mode:
            self.halt(name)
            stop_processes(strays, LEFTOVER_STOP_SECONDS)
        labels = labels_of(self.config(name))
        return mask_secrets(
            "%s puts itself in the background under %s: its command%s ended%s while %d process(es) it started "
            "live on (pids %s), which the supervisor cannot watch; they were stopped. Run the program in the "
            "foreground (no daemon mode, no trailing '&', exec the program as the last step of the script)"
            % (name, self.describe(), (" " + labels["command"]) if labels.get("command") else "",
               " with exit status 0" if facts.get("exit") == 0 else "", len(strays),
               " ".join(str(p) for p in strays[:10])), self.config(name))

    def halt(self, name):
        """Stop the program without waiting (the daemon check): the supervisor must not start more copies."""
        self.stop(name)

    def wait(self, name, wanted, what, old_pid=None):
        """Poll until the normalised state is in ``wanted`` (and the pid is not ``old_pid``); fail after the timeout.

        While waiting for ``running``: fail at once when the supervisor has given up on the program, or when the
        program put itself in the background; every failure says why (``explain``).
        """
        deadline = time.time() + self.options["timeout"]
        up = "running" in wanted
        while True:
            current, pid = self.state(name, self.status())
            if current in wanted and (old_pid is None or pid != old_pid):
                return current, pid
            if up and current not in ("running", "stopping") and (current != "starting" or self.starting_tells):
                facts = self.facts(name)
                daemon = self.daemonized(name, current, pid, facts)
                if daemon:
                    self.fail(daemon)
                if self.gave_up(name, current, facts):
                    self.fail(self.failure(name, "did not %s: %s gave up on it" % (what, self.kind), current,
                                           pid, facts))
            if time.time() > deadline:
                if up:
                    self.fail(self.failure(name, "did not %s within %ss" % (what, self.options["timeout"]),
                                           current, pid))
                self.fail("%s did not %s within %ss under %s: it is %s"
                          % (name, what, self.options["timeout"], self.describe(), current))
            time.sleep(POLL)


class God(Backend):
    kind = "god"

    def __init__(self, module, layout, options):
        super().__init__(module, layout, options)
        self.bin = module.get_bin_path("god")
        if not self.bin:
            self.fail("god is not installed on this host (Debian: apt install ruby-god)")
        self.port = options.get("god_port") or layout["port"]
        self.pid_dir = options.get("pid_dir") or layout["pid_dir"]

    def describe(self):
        return "god on port %d" % self.port

    def run(self, *args, check=True):
        rc, out, err = self.module.run_command([self.bin, "-p", str(self.port)] + list(args))
        if "server is not available" in out:
            self.not_running_in_check_mode("god on port %d is not running: %s" % (self.port, out.strip()))
            return rc, ""
        if check and rc != 0:
            self.fail("god -p %d %s failed (rc %d): %s" % (self.port, " ".join(args), rc, (err or out).strip()))
        return rc, out

    def status(self):
        _rc, out = self.run("status", check=False)
        result = {}
        for name, raw in parse_god_status(out).items():
            pid = read_pidfile(os.path.join(self.pid_dir, name + ".pid"))
            result[name] = (raw, pid if pid_alive(pid) else None)
        return result

    def state(self, name, statuses):
        current, pid = super().state(name, statuses)
        # god reports "up" as soon as it monitors a watch, before its start command has run.
        if current == "running" and pid is None:
            current = "starting"
        if current == "stopped" and pid is not None:
            current = "stopping"  # god stop is asynchronous: unmonitored while the old process still exits
        return current, pid

    def load(self, name):
        self.run("load", self.config(name))

    def unload(self, name):
        # god's unmonitor and remove are messages to the watch's driver, which may still run a check it had queued:
        # unmonitor, wait until god says so, then remove and wait until the watch is gone, so that a load of the
        # same name right after meets no old watch.
        self.run("unmonitor", name, check=False)
        self.wait(name, ("stopped", "absent"), "stop being monitored")
        self.run("remove", name)
        self.wait(name, ("absent",), "leave god")

    def start(self, name):
        self.wait(name, ("stopped", "running", "starting", "absent"), "finish stopping")
        self.run("start", name)

    def stop(self, name):
        self.run("stop", name)

    def restart(self, name):
        current, _pid = self.state(name, self.status())
        self.run("start" if current == "stopped" else "restart", name)

    def signal(self, name, sig):
        self.run("signal", name, sig)

    def nuke(self, name, pid):
        self.run("unmonitor", name)  # god would restart what we kill otherwise
        kill_tree(pid)

    starting_tells = True

    def pidfile(self, name):
        return os.path.join(self.pid_dir, name + ".pid")

    def facts(self, name):
        # god cannot see exit codes; what it logged about the watch says why it stopped (flapping).
        try:
            said = [line.split(" -- : ", 1)[-1] for line in tail_lines(self.layout.get("log", ""), 200)
                    if (" %s " % name) in line or ("%s [" % name) in line]
        except OSError:
            said = []
        try:
            started = os.stat(self.pidfile(name)).st_mtime
        except OSError:
            started = None
        return {"said": " | ".join(said[-2:]), "started": started}

    def gave_up(self, name, current, facts):
        # The crash-loop rule unmonitors the watch: stopped after a start god made since we acted.
        return current == "fatal" or (current == "stopped" and (facts.get("started") or 0) >= self.since)

    def leftovers(self, name, pid):
        last = read_pidfile(self.pidfile(name))
        if not last or pid_alive(last):
            return []
        table = proc_table()
        keep = set(process_tree(pid, table)) if pid else set()
        # god setsid()s what it starts: what the ended command left keeps its group or session.
        return [other for other in process_tree(last, table)[1:] if other not in keep and other != os.getpid()]

    def halt(self, name):
        self.run("unmonitor", name, check=False)


class Supervisord(Backend):
    """supervisord through its XML-RPC interface (what supervisorctl does, without a Python start per call)."""

    kind = "supervisord"
    exit_known = True

    def __init__(self, module, layout, options):
        super().__init__(module, layout, options)
        self.conf = options.get("supervisord_conf") or layout["main_conf"]
        self.main_log = rpc.main_log(self.conf, layout.get("log", ""))
        try:
            self.rpc = rpc.Supervisord(*rpc.server_address(self.conf, layout.get("socket", "")))
        except rpc.RpcUnavailable as exc:
            self.not_running_in_check_mode("supervisord for %s is not running: %s" % (self.conf, exc))

    def describe(self):
        return "supervisord for %s" % self.conf

    def call(self, method, *args, ok=()):
        try:
            return self.rpc.call("supervisor." + method, *args)
        except rpc.RpcUnavailable as exc:
            self.fail("supervisord for %s is not running: %s" % (self.conf, exc))
        except rpc.Fault as fault:
            if fault.faultCode in ok:
                return None
            self.fail("supervisord for %s: %s %s failed: %s"
                      % (self.conf, method, " ".join(map(str, args)), fault.faultString))

    def status(self):
        if self.not_running:
            return {}
        return {rpc.process_name(info): (info["statename"], info["pid"] or None)
                for info in self.call("getAllProcessInfo") if info["name"] != LISTENER}

    def pending(self):
        """Programs whose file is new or changed since supervisord read it (``reread``)."""
        if self.not_running:
            return set()
        added, changed, _removed = self.call("reloadConfig")[0]
        return set(added) | set(changed)

    def load(self, name):
        """``supervisorctl update NAME``: (re)create the program's group from its file; autostart starts it."""
        added, changed, removed = self.call("reloadConfig")[0]
        if name in changed or name in removed:
            self.call("stopProcessGroup", name, True, ok=(rpc.NOT_RUNNING, rpc.BAD_NAME))
            self.call("removeProcessGroup", name, ok=(rpc.BAD_NAME,))
        if name in changed or name in added:
            self.call("addProcessGroup", name, ok=(rpc.ALREADY_ADDED,))

    def unload(self, name):
        self.call("removeProcessGroup", name, ok=(rpc.BAD_NAME,))

    def start(self, name):
        # A program that fails to spawn or exits before startsecs: the wait that follows says why.
        try:
            self.rpc.call("supervisor.startProcess", name, True)
        except rpc.RpcUnavailable as exc:
            self.fail("supervisord for %s is not running: %s" % (self.conf, exc))
        except rpc.Fault as fault:
            if fault.faultCode in (rpc.NO_FILE, rpc.NOT_EXECUTABLE):
                # checked before any spawn: supervisord will never start this command
                current, pid = self.state(name, self.status())
                facts = dict(self.facts(name), spawn_error=fault.faultString.split(": ", 1)[-1])
                self.fail(self.failure(name, "cannot be started", current, pid, facts))
            if fault.faultCode not in (rpc.ALREADY_STARTED, rpc.SPAWN_ERROR, rpc.ABNORMAL_TERMINATION):
                self.fail("supervisord for %s: startProcess %s failed: %s" % (self.conf, name, fault.faultString))

    def stop(self, name):
        self.call("stopProcess", name, True, ok=(rpc.NOT_RUNNING,))

    def restart(self, name):
        self.stop(name)
        self.start(name)

    def signal(self, name, sig):
        self.call("signalProcess", name, sig)

    def facts(self, name):
        try:
            info = self.rpc.call("supervisor.getProcessInfo", name)
        except (rpc.RpcUnavailable, rpc.Fault):
            return {}
        state = info.get("statename", "")
        spawn_error = info.get("spawnerr") or ""
        said = ""
        if spawn_error.startswith(("Exited too quickly", "Bad exit code")):
            # supervisord's words for an exit (before startsecs, or with an unexpected code), not a spawn failure
            said, spawn_error = spawn_error, ""
        # The exit status of an exit before startsecs is only in supervisord's log ("exited: NAME (exit status 3;
        # not expected)"); getProcessInfo says 0 then.
        try:
            last = rpc.last_exit(tail_lines(self.main_log, 400), info.get("name", name), self.since)
        except OSError:
            last = None
        if last is None and state == "EXITED":
            last = (info.get("exitstatus"), "exit status %s" % info.get("exitstatus"))
        return {"exit": last[0] if last else None, "ended": last[1] if last else "", "spawn_error": spawn_error,
                "said": said, "started": info.get("start") or None}

    def gave_up(self, name, current, facts):
        # FATAL: startretries exhausted. STOPPED or EXITED after a start made since we acted: the crash-loop
        # listener stopped it, or it ended and supervisord does not restart it (restart: on-failure).
        return current == "fatal" or (current in ("stopped", "exited")
                                      and (facts.get("started") or 0) >= int(self.since))

    def leftovers(self, name, pid):
        group, _sep, process = name.partition(":")
        process = process or group
        table = proc_table()
        keep = set(process_tree(pid, table)) if pid else set()
        urls = {self.rpc.url}
        if self.rpc.url.startswith("unix://"):
            urls.add("unix://" + os.path.realpath(self.rpc.url[len("unix://"):]))
        marks = {"SUPERVISOR_PROCESS_NAME": process, "SUPERVISOR_GROUP_NAME": group, "SUPERVISOR_SERVER_URL": urls}
        # supervisord puts these in the environment of what it starts; daemons keep them past fork and setsid.
        return [other for other in sorted(table) if other not in keep and other != os.getpid()
                and environ_has(other, marks)]

    def halt(self, name):
        self.call("stopProcess", name, True, ok=(rpc.NOT_RUNNING, rpc.BAD_NAME))

    def log_lines(self, name, count):
        lines = super().log_lines(name, count)
        if lines:
            return lines
        for method in ("tailProcessStderrLog", "tailProcessStdoutLog"):
            try:
                text = self.rpc.call("supervisor." + method, name, 0, 4096)[0]
            except (rpc.RpcUnavailable, rpc.Fault):
                continue
            if text.strip():
                return text.splitlines()[-count:]
        return []

    def nuke(self, name, pid):
        tree = freeze_tree(pid)
        # A stop waits for the exit; while it waits the program is STOPPING, so the SIGKILL below is an expected
        # death and supervisord does not restart it. The frozen tree cannot react to the TERM. The stop runs in a
        # thread, with a client of its own, while this one waits for STOPPING and kills the tree.
        other = self.rpc.clone()

        def stop():
            try:
                other.call("supervisor.stopProcess", name, True)
            except (rpc.RpcUnavailable, rpc.Fault):
                pass  # the wait below says what became of it
        stopper = threading.Thread(target=stop, daemon=True)
        stopper.start()
        self.wait(name, ("stopping", "stopped", "exited", "fatal"), "begin stopping")
        kill_tree(pid, tree)
        stopper.join(timeout=self.options["timeout"])


class Systemd(Backend):
    kind = "systemd"
    PROPS = ["Id", "LoadState", "ActiveState", "MainPID", "NeedDaemonReload", "UnitFileState"]

    def __init__(self, module, layout, options):
        super().__init__(module, layout, options)
        self.bin = module.get_bin_path("systemctl")
        if not self.bin:
            self.fail("systemctl is not installed on this host")
        try:
            with open("/proc/1/comm", encoding="ascii") as handle:
                init = handle.read().strip()
        except OSError as exc:
            init = str(exc)
        if init != "systemd":
            self.fail("systemd is not running on this host: PID 1 is %s" % init)

    def describe(self):
        return "systemd"

    def run(self, *args, check=True):
        rc, out, err = self.module.run_command([self.bin] + list(args))
        if check and rc != 0:
            self.fail("systemctl %s failed (rc %d): %s" % (" ".join(args), rc, (err or out).strip()))
        return rc, out

    def show(self, names):
        args = ["show"] + ["-p" + prop for prop in self.PROPS] + [n + ".service" for n in names]
        return {unit["Id"][:-len(".service")]: unit for unit in parse_systemctl_show(self.run(*args)[1])
                if unit.get("Id", "").endswith(".service")}

    def status(self):
        names = self.configured()
        units = self.show(names) if names else {}
        return {name: (unit["ActiveState"], int(unit["MainPID"]) or None) for name, unit in units.items()
                if unit.get("LoadState") == "loaded"}

    def pending(self):
        return {name for name, unit in self.show(self.configured()).items()
                if unit.get("NeedDaemonReload") == "yes" or unit.get("LoadState") == "not-found"}

    def load(self, name):
        self.run("daemon-reload")
        self.run("enable", name + ".service")

    def unload(self, name):
        self.run("disable", name + ".service")

    def start(self, name):
        self.run("start", name + ".service")

    def stop(self, name):
        self.run("stop", name + ".service")

    def restart(self, name):
        self.run("restart", name + ".service")

    def signal(self, name, sig):
        self.run("kill", "--kill-whom=main", "--signal=SIG" + sig, name + ".service")

    def facts(self, name):
        args = ["show", "-pExecMainStatus", "-pExecMainCode", "-pResult", name + ".service"]
        units = parse_systemctl_show(self.run(*args, check=False)[1])
        unit = units[0] if units else {}
        exited = unit.get("ExecMainCode") == "1"  # CLD_EXITED: ExecMainStatus is an exit status
        result = unit.get("Result", "")
        return {"exit": int(unit["ExecMainStatus"]) if exited and unit.get("ExecMainStatus", "").isdigit() else None,
                "said": "" if result in ("", "success") else "result " + result}

    def nuke(self, name, pid):
        self.run("kill", "--signal=SIGSTOP", name + ".service")
        self.run("stop", "--no-block", name + ".service")
        self.run("kill", "--signal=SIGKILL", name + ".service")


BACKENDS = {"god": God, "supervisord": Supervisord, "systemd": Systemd}


def freeze_tree(pid):
    tree = [p for p in process_tree(pid, proc_table()) if p != os.getpid()]
    for member in tree:
        try:
            os.kill(member, signal.SIGSTOP)  # nothing in the tree may fork or restart a sibling meanwhile
        except OSError:
            pass
    return tree


def kill_tree(pid, tree=None):
    tree = tree if tree is not None else freeze_tree(pid)
    # a process may have joined the group between the freeze and now
    tree += [p for p in process_tree(pid, proc_table()) if p not in tree and p != os.getpid()]
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.time() + 5
    while any(pid_alive(member) for member in tree) and time.time() < deadline:
        time.sleep(0.05)


def kill_pids(pids):
    """SIGKILL processes that no supervisor tracks (what a program left behind), all frozen first."""
    pids = [member for member in pids if member != os.getpid()]
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for member in pids:
            try:
                os.kill(member, sig)
            except OSError:
                pass
    deadline = time.time() + 5
    while any(pid_alive(member) for member in pids) and time.time() < deadline:
        time.sleep(0.05)


def stop_processes(pids, timeout):
    """SIGTERM, up to ``timeout`` seconds for them to end, then SIGKILL."""
    for member in pids:
        try:
            os.kill(member, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + timeout
    while any(pid_alive(member) for member in pids) and time.time() < deadline:
        time.sleep(0.1)
    alive = [member for member in pids if pid_alive(member)]
    if alive:
        kill_pids(alive)


def environ_has(pid, marks):
    """True when the environment of ``pid`` holds, for each NAME of ``marks``, one of its values (a set) or its
    value (a string); False when it cannot be read."""
    try:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            entries = set(handle.read().split(b"\0"))
    except OSError:
        return False
    for key, values in marks.items():
        values = {values} if isinstance(values, str) else values
        if not any(("%s=%s" % (key, value)).encode() in entries for value in values):
            return False
    return pid_alive(pid)


def mask_secrets(text, config_path=""):
    """``text`` with secrets masked (redact's Masker): the text rule of module_utils/redact.py (``password X``,
    ``--token X``, ``DB_PASSWD=X``, URL passwords...), and the values that rule finds in the process's config
    (secret-looking environment entries) wherever they appear in the text."""
    masker = Masker()
    try:
        with open(config_path, encoding="utf-8", errors="replace") as handle:
            config = handle.read(65536)
    except (OSError, TypeError):
        config = ""
    for value in secret_values(config + "\n" + text):
        masker.add_secret(value)
    return masker.scrub(text) or text


class Frigga:
    """Apply one state to one process; record what was done."""

    def __init__(self, module, backend):
        self.module = module
        self.backend = backend
        self.actions = []
        self._pending = None

    def act(self, name, action, *args):
        self.actions.append("%s:%s" % (name, action))
        if not self.module.check_mode:
            getattr(self.backend, action)(name, *args)

    def needs_load(self, name, statuses):
        if not os.path.exists(self.backend.config(name)):
            if name in statuses:
                return False
            if self.module.check_mode:
                # A check of a first deploy: the config that supervisor_config would write is not there yet.
                return True
            raise FriggaError("%s has no config %s and %s does not know it; write it with "
                              "noops.platform.supervisor_config first"
                              % (name, self.backend.config(name), self.backend.describe()))
        if isinstance(self.backend, God):
            return name not in statuses or self.loaded_digest(name) != self.file_digest(name)
        if self._pending is None:
            self._pending = self.backend.pending()  # reread only compares files; safe in check mode
        return name not in statuses or name in self._pending

    # god cannot say which file a watch came from: keep a digest of what was loaded last, per instance.
    def marker(self, name):
        return os.path.join(self.backend.layout["run_dir"], "loaded", name + ".sha256")

    def file_digest(self, name):
        return self.module.digest_from_file(self.backend.config(name), "sha256")

    def loaded_digest(self, name):
        try:
            with open(self.marker(name), encoding="ascii") as handle:
                return handle.read().strip()
        except OSError:
            return None

    def ensure_loaded(self, name, statuses):
        if not self.needs_load(name, statuses):
            return False
        self.act(name, "load")
        if isinstance(self.backend, God) and not self.module.check_mode:
            os.makedirs(os.path.dirname(self.marker(name)), exist_ok=True)
            with open(self.marker(name), "w", encoding="ascii") as handle:
                handle.write(self.file_digest(name) + "\n")
        return True

    def apply(self, name, state):
        self.backend.since = time.time()
        statuses = self.backend.status()
        current, pid = self.backend.state(name, statuses)
        check = self.module.check_mode
        if state == "absent":
            if current == "absent":
                return
            if current not in ("stopped", "fatal", "exited"):
                self.act(name, "stop")
                if not check:
                    self.backend.wait(name, ("stopped", "fatal", "exited", "absent"), "stop")
            self.act(name, "unload")
            if isinstance(self.backend, God) and not check and os.path.exists(self.marker(name)):
                os.unlink(self.marker(name))
            return
        if state == "stopped":
            if current in ("running", "starting", "backoff"):
                self.act(name, "stop")
                if not check:
                    self.backend.wait(name, ("stopped", "fatal", "exited"), "stop")
            elif current == "stopping" and not check:
                self.backend.wait(name, ("stopped", "fatal", "exited"), "stop")
            return
        if state == "killed":
            # What the program left behind (it put itself in the background) is part of it too.
            strays = self.backend.leftovers(name, pid)
            if pid is not None:
                self.act(name, "nuke", pid)
                if not check:
                    self.backend.wait(name, ("stopped", "fatal", "exited"), "die")
            if strays:
                self.actions.append("%s:nuke-leftovers" % name)
                if not check:
                    kill_pids(strays)
            return
        known_before_load = current != "absent"
        loaded = self.ensure_loaded(name, statuses)
        if loaded and not check:
            statuses = self.backend.status()
            current, pid = self.backend.state(name, statuses)
        if state == "present" or check and loaded:
            return
        if state == "started":
            if current not in UP_STATES:
                self.act(name, "start")
        elif state == "restarted":
            # supervisord's update already restarted a changed program (or started a new one), and god starts a
            # watch it did not know before (a reloaded one keeps its state, unmonitored included); a restart on
            # top would be a second start, which counts against the crash-loop rule.
            started_by_load = loaded and (isinstance(self.backend, Supervisord)
                                          or (isinstance(self.backend, God) and not known_before_load))
            if not started_by_load:
                self.act(name, "restart")
                if not check and pid is not None:
                    self.backend.wait(name, ("running",), "restart", old_pid=pid)  # god restarts asynchronously
        elif state == "reloaded":
            if current == "running":
                self.act(name, "signal", self.reload_signal(name))
            else:
                self.act(name, "start")
        if not check:
            self.backend.wait(name, ("running",), "start")

    def settle(self, name, seconds):
        """Still running, same pid, ``seconds`` later: a crash and a supervisor restart change the pid."""
        _current, before = self.backend.state(name, self.backend.status())
        # Up for ``seconds`` since it started: a supervisor that waited for it (supervisord's startsecs) counts.
        age = process_age(before) if before else None
        time.sleep(max(0.0, seconds - (age or 0.0)))
        current, pid = self.backend.state(name, self.backend.status())
        if current == "running" and pid == before:
            return
        facts = self.backend.facts(name)
        msg = self.backend.daemonized(name, current, pid, facts)
        if not msg:
            why = self.backend.explain(name, facts)
            msg = ("%s did not stay up for %gs under %s: it is %s (pid %s, was %s)%s"
                   % (name, seconds, self.backend.describe(), current, pid or "-", before or "-",
                      ("; " + why) if why else ""))
        raise FriggaError(msg, actions=self.actions, processes=report(self.module, self.backend, [name]))

    def reload_signal(self, name):
        return labels_of(self.backend.config(name)).get("reload-signal") or "HUP"


def labels_of(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse_labels(handle.read(4096))
    except OSError:
        return {}


def report(module, backend, names):
    statuses = backend.status()
    count = backend.options.get("log_lines", 0)
    out = []
    for name in names:
        current, pid = backend.state(name, statuses)
        labels = labels_of(backend.config(name))
        entry = dict(name=name, state=current, raw_state=statuses.get(name, ("", None))[0], pid=pid,
                     start_time=start_time(pid) if pid else "", version=labels.get("version", ""),
                     log=labels.get("log", ""))
        if count > 0:
            # A log tail is the program's own words: a password it printed is masked like in every other message.
            lines = log_tail(module, backend, name, entry["log"], count)
            entry["log_lines"] = mask_secrets("\n".join(lines), backend.config(name)).split("\n") if lines else []
        out.append(entry)
    return out


def process_or_error(module, name, backend, root=""):
    """``report`` of one process under the ``backend`` instance of ``root``, or ``{"name": name, "error": why}``
    when that supervisor does not answer, is not installed or cannot be at that root."""
    module.run_command_environ_update = dict(LANGUAGE="C", LC_ALL="C")
    try:
        return report(module, open_backend(module, backend, root or ""), [name])[0]
    except (FriggaError, SupervisorConfigError) as e:
        return {"name": name, "error": str(e)}


def log_tail(module, backend, name, log, count):
    if log:
        try:
            return tail_lines(log, count)
        except OSError as exc:
            module.warn("cannot read the log of %s: %s" % (name, exc))
            return []
    if isinstance(backend, Systemd):
        journal = module.get_bin_path("journalctl")
        if journal:
            _rc, out, _err = module.run_command([journal, "-u", name + ".service", "-n", str(count),
                                                 "--no-pager", "-o", "cat"])
            return out.splitlines()
    return []


def open_backend(module, backend, root="", options=None):
    """The instance of ``backend`` for the host root ``root`` (SupervisorConfigError for a bad combination)."""
    options = dict({"timeout": 30, "log_lines": 0}, **{k: v for k, v in (options or {}).items() if v is not None})
    layout = instance_layout(root, backend)
    if options.get("conf_dir"):
        layout["conf_dir"] = options["conf_dir"]
    if backend == "god" and not options.get("god_port"):
        options["god_port"] = god_port(root)
    return BACKENDS[backend](module, layout, options)
