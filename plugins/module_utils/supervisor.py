# -*- coding: utf-8 -*-
# Copyright: noops.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Supervisor configs for one process (the GOD file of the original platform), as pure functions, each instance's
layout, and the backend classes of ``noops.platform.supervisor_config`` (default log, god shim, file check).

``ProcessSpec`` is what ``noops.platform.supervisor_config`` was asked for; ``render(spec)`` turns it into the
text of a god watch file, a supervisord ``[program:x]`` file or a systemd unit. ``instance_layout`` fixes where a
supervisor instance keeps its files under a host's ``noops_root`` so that the role, both modules and the tests
agree on paths without passing each one around.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field

from ansible_collections.noops.platform.plugins.module_utils.unix_socket import (
    SHORT_SOCKET_DIR,
    SUPERVISORD_BIND_SUFFIX,
    SocketPathError,
    check_socket_path,
    fits,
)

BACKENDS = ("god", "supervisord", "systemd")
EXTENSIONS = {"god": ".god", "supervisord": ".conf", "systemd": ".service"}
RESTART_POLICIES = ("always", "on-failure")
SIGNALS = ("HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP", "WINCH")
GOD_DEFAULT_PORT = 17165
GOD_PORT_BASE = 20000
GOD_PORT_SPAN = 20000

# The options every module working with a host's supervisor instance takes (documented once: doc fragment
# noops.platform.supervisor), and where an instance is when it is not where the supervisor role put it for the root
# (fragment noops.platform.supervisor.instance).
INSTANCE_ARGS = dict(
    backend=dict(type="str", required=True, choices=list(BACKENDS)),
    root=dict(type="path", default=""),
)
INSTANCE_PATH_ARGS = dict(
    god_port=dict(type="int"),
    supervisord_conf=dict(type="path"),
    conf_dir=dict(type="path"),
    pid_dir=dict(type="path"),
)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,199}$")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$")
SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(i?B?)?\s*$", re.IGNORECASE)
# Characters for which Ruby's exec, and so god, hands a command to /bin/sh; the other backends copy that rule.
SHELL_META = set("*?{}[]<>()~&|\\$;'`\"\n#=%")

HEADER = "Managed by noops.platform.supervisor_config; edits are overwritten on the next deploy."

# god 0.13 calls Kernel#timeout, which Ruby 3 removed: without this every process check fails (docs/supervisors.md, Ruby 3 shim for god).
GOD_RUBY3_SHIM = """\
require 'timeout'
if defined?(God::System::SlashProcPoller)
  class God::System::SlashProcPoller
    def self.readable?(path)
      Timeout.timeout(1) { File.read(path) }
    rescue Timeout::Error
      false
    end
  end
end
"""

# Two fixes to god 0.13's driver (one per watch). It queues the crash-loop rule's transition (a trigger's message)
# behind the process check that the same start scheduled for "now"; when that check finds the process already dead
# it starts it again, and that move clears the queue: the rule's transition is lost and the loop runs 3 more starts
# (6 or 9 for a rule of 3). Queued operations now run before due checks. And a removed watch's driver, woken with
# an empty queue, logged a FATAL "undefined method `handle_event' for nil" before it ended; it ends quietly.
# It patches the god process once, for every watch; loading it again changes nothing.
GOD_DRIVER_FIX = """\
if defined?(God::DriverOperation) && !God::TimedEvent.method_defined?(:noops_operations_first)
  class God::TimedEvent
    def noops_operations_first; end

    def <=>(other)
      mine = is_a?(God::DriverOperation) ? 0 : 1
      theirs = other.is_a?(God::DriverOperation) ? 0 : 1
      mine == theirs ? at <=> other.at : mine <=> theirs
    end
  end

  class God::DriverEventQueue
    alias_method :noops_pop, :pop

    def pop
      loop do
        event = noops_pop
        return event if event
        raise ThreadError, 'queue empty' if @shutdown
      end
    end
  end
end
"""


class SupervisorConfigError(ValueError):
    """A spec value no backend can express; the message names the field and the value."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    command: str
    backend: str
    version: str = ""
    stop_command: str = ""
    stop_signal: str = "TERM"
    reload_signal: str = "HUP"
    directory: str = ""
    user: str = ""
    group: str = ""
    environment: dict = field(default_factory=dict)
    stdout_log: str = ""
    stderr_log: str = ""
    stop_timeout: int = 10
    restart: str = "always"
    crash_times: int = 3
    crash_within: int = 600
    notify: str = ""
    memory_max: int = 0
    cpu_max: int = 0
    interval: int = 5
    god_shim: bool = False
    start_seconds: int | None = None  # supervisord's startsecs; None: min(interval, 10)


def parse_size(value) -> int:
    """``"512M"`` / ``"1G"`` / ``1048576`` -> bytes (binary multiples, as god and systemd count)."""
    if value in (None, ""):
        return 0
    if isinstance(value, int):
        return value
    match = SIZE_RE.match(str(value))
    if not match:
        raise SupervisorConfigError("memory_max: %r is not a size such as 512M, 2G or a byte count" % (value,))
    return int(match.group(1)) * 1024 ** "BKMGT".index((match.group(2) or "B").upper())


def validate(spec: ProcessSpec) -> None:
    """Reject values that would render into a config the supervisor misreads (not merely refuses)."""
    def bad(name, value, why):
        raise SupervisorConfigError("%s: %r %s" % (name, value, why))

    if spec.backend not in BACKENDS:
        bad("backend", spec.backend, "is not one of %s" % ", ".join(BACKENDS))
    if not NAME_RE.match(spec.name):
        bad("name", spec.name, "must start with a letter or digit and hold only letters, digits and _ . @ -")
    if not spec.command.strip():
        bad("command", spec.command, "is empty")
    for name in ("command", "stop_command", "version", "directory", "stdout_log", "stderr_log", "notify"):
        if "\n" in getattr(spec, name) or "\r" in getattr(spec, name):
            bad(name, getattr(spec, name), "must be a single line")
    for name in ("stop_signal", "reload_signal"):
        if getattr(spec, name) not in SIGNALS:
            bad(name, getattr(spec, name), "is not one of %s" % ", ".join(SIGNALS))
    for name in ("user", "group"):
        if getattr(spec, name) and not USER_RE.match(getattr(spec, name)):
            bad(name, getattr(spec, name), "is not a user or group name")
    for name in ("directory", "stdout_log", "stderr_log"):
        if getattr(spec, name) and not getattr(spec, name).startswith("/"):
            bad(name, getattr(spec, name), "must be an absolute path")
    if spec.restart not in RESTART_POLICIES:
        bad("restart", spec.restart, "is not one of %s" % ", ".join(RESTART_POLICIES))
    for name, low in (("stop_timeout", 1), ("crash_times", 1), ("crash_within", 1), ("interval", 1),
                      ("memory_max", 0), ("cpu_max", 0), ("start_seconds", 0)):
        if getattr(spec, name) is not None and getattr(spec, name) < low:
            bad(name, getattr(spec, name), "must be at least %d" % low)
    for key, value in spec.environment.items():
        if not ENV_KEY_RE.match(key):
            bad("environment", key, "is not a variable name")
        if "\n" in value:
            bad("environment." + key, value, "must be a single line")
        if spec.backend == "supervisord" and '"' in value and "'" in value:
            bad("environment." + key, value, "holds both quote kinds, which supervisord cannot parse")
    if spec.backend == "systemd" and spec.notify and not spec.notify.endswith((".service", ".target")):
        bad("notify", spec.notify, "must name a systemd unit (…service or …target) for OnFailure=")


def warnings_for(spec: ProcessSpec) -> list:
    """What the backend cannot honour, said once per write so a deploy log shows it."""
    notes = []
    if spec.backend == "supervisord":
        if spec.stop_command:
            notes.append("supervisord has no stop command: stop_command is kept as a label only and %s is sent "
                         "to the process group instead" % spec.stop_signal)
        if spec.cpu_max:
            notes.append("supervisord cannot cap CPU: cpu_max=%d is not enforced (use god or systemd)" % spec.cpu_max)
    if spec.backend == "god" and spec.restart == "on-failure":
        notes.append("god cannot see exit codes: restart=on-failure restarts after every exit, like always")
    return notes


def labels(spec: ProcessSpec) -> list:
    """Header comment lines (without the comment character)."""
    lines = [HEADER, "noops-name: " + spec.name, "noops-backend: " + spec.backend, "noops-command: " + spec.command]
    if spec.version:
        lines.append("noops-version: " + spec.version)
    lines.append("noops-reload-signal: " + spec.reload_signal)
    if spec.stop_command:
        lines.append("noops-stop-command: " + spec.stop_command)
    if spec.stdout_log:
        lines.append("noops-log: " + spec.stdout_log)
    if spec.stderr_log and spec.stderr_log != spec.stdout_log:
        lines.append("noops-err-log: " + spec.stderr_log)
    lines.append("noops-crash-loop: %d/%d" % (spec.crash_times, spec.crash_within))
    if spec.notify:
        lines.append("noops-notify: " + spec.notify)
    return lines


def environment(spec: ProcessSpec) -> dict:
    env = dict(sorted(spec.environment.items()))
    if spec.version:
        env["NOOPS_VERSION"] = spec.version  # god's w.ver, visible to the program and to ps e
    return env


def needs_shell(command: str) -> bool:
    return any(char in SHELL_META for char in command)


def ruby_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def god_fixes(shim: bool) -> list[str]:
    """The Ruby lines every god file of ours starts with (watch files and the supervisor role's main.god): the
    Ruby 3 shim when ``shim``, then the driver fix; each opens with a blank line and a comment."""
    out = []
    if shim:
        out += ["", "# Ruby 3 removed Kernel#timeout, which god 0.13's /proc poller still calls."]
        out += GOD_RUBY3_SHIM.splitlines()
    out += ["", "# god 0.13 could lose the crash-loop rule's transition: queued operations go before due checks;",
            "# a removed watch's driver ends without a FATAL log line."]
    out += GOD_DRIVER_FIX.splitlines()
    return out


def render_god(spec: ProcessSpec) -> str:
    out = ["# " + line for line in labels(spec)]
    out += god_fixes(spec.god_shim)
    secs = "%d.seconds"
    out += ["", "God.watch do |w|",
            "  w.name = %s" % ruby_str(spec.name),
            "  w.interval = " + secs % spec.interval,
            "  w.start = %s" % ruby_str(spec.command)]
    if spec.stop_command:
        out.append("  w.stop = %s" % ruby_str(spec.stop_command))
    else:
        # god setsid()s every process it starts: signal the whole group so that children of a wrapper script
        # (sh run.sh -> java) stop with it instead of being orphaned, as supervisord's stopasgroup does.
        out += ["  w.stop = lambda do",
                "    pid = w.pid",
                "    next unless pid",
                "    begin",
                "      ::Process.kill(%s, -pid)" % ruby_str(spec.stop_signal),
                "    rescue Errno::ESRCH, Errno::EPERM",
                "      ::Process.kill(%s, pid) rescue nil" % ruby_str(spec.stop_signal),
                "    end",
                "    deadline = Time.now + %d" % spec.stop_timeout,
                # a zombie has exited: where nothing reaps god's orphans (containers), kill(0) still succeeds
                "    alive = lambda { |p| (File.read(\"/proc/#{p}/stat\") !~ /\\) [ZX] /) rescue false }",
                "    sleep 0.2 while Time.now < deadline && alive.call(pid)",
                "    ::Process.kill('KILL', -pid) rescue nil",
                "  end"]
    out.append("  w.stop_timeout = " + secs % spec.stop_timeout)
    if spec.directory:
        out.append("  w.dir = %s" % ruby_str(spec.directory))
    if spec.user:
        out.append("  w.uid = %s" % ruby_str(spec.user))
    if spec.group:
        out.append("  w.gid = %s" % ruby_str(spec.group))
    if spec.stdout_log:
        out.append("  w.log = %s" % ruby_str(spec.stdout_log))
    if spec.stderr_log:
        out.append("  w.err_log = %s" % ruby_str(spec.stderr_log))
    env = environment(spec)
    if env:
        out.append("  w.env = {")
        out += ["    %s => %s," % (ruby_str(key), ruby_str(value)) for key, value in env.items()]
        out.append("  }")
    out += ["  w.start_if do |start|",
            "    start.condition(:process_running) do |c|",
            "      c.interval = " + secs % spec.interval,
            "      c.running = false",
            "    end",
            "  end"]
    if spec.memory_max or spec.cpu_max:
        out.append("  w.restart_if do |restart|")
        if spec.memory_max:
            out += ["    restart.condition(:memory_usage) do |c|",
                    "      c.interval = " + secs % spec.interval,
                    "      c.above = %d # kilobytes (%d bytes)" % (max(1, spec.memory_max // 1024), spec.memory_max),
                    "      c.times = [3, 5]",
                    "    end"]
        if spec.cpu_max:
            out += ["    restart.condition(:cpu_usage) do |c|",
                    "      c.interval = " + secs % spec.interval,
                    "      c.above = %d.percent" % spec.cpu_max,
                    "      c.times = 5",
                    "    end"]
        out.append("  end")
    # The crash-loop rule (N starts within T seconds -> stop); moving to :unmonitored is what "stop" means to god (no more restarts).
    out += ["  w.lifecycle do |on|",
            "    on.condition(:flapping) do |c|",
            "      c.to_state = [:start, :restart]",
            "      c.times = %d" % spec.crash_times,
            "      c.within = " + secs % spec.crash_within,
            "      c.transition = :unmonitored"]
    if spec.notify:
        out.append("      c.notify = %s" % ruby_str(spec.notify))
    out += ["    end", "  end", "end"]
    return "\n".join(out) + "\n"


def ini_value(value: str) -> str:
    return value.replace("%", "%%")  # supervisord expands %(name)s in every value


def ini_env_value(value: str) -> str:
    quote = "'" if '"' in value else '"'
    return quote + ini_value(value) + quote


def sh_single(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


# supervisord's config parser (Python's configparser, as supervisor sets it up) ends a value at a ";" or "#" that
# follows whitespace: "command=sh -c 'a ; b'" would run "sh -c 'a". A shell-quoted command closes and reopens its
# quotes there ('a '';b' is the same word to sh and to supervisord's shlex.split), so no whitespace is left in front.
INI_COMMENT_PREFIXES = (";", "#")


def ini_command(command: str) -> str:
    """``command`` for a supervisord value: ``%`` escaped, and ``''`` before every ``;``/``#`` that follows
    whitespace (only ever inside a single-quoted shell word here; elsewhere the read-back check refuses it)."""
    out = []
    for index, char in enumerate(command):
        if char in INI_COMMENT_PREFIXES and index > 0 and command[index - 1].isspace():
            out.append("''")
        out.append(char)
    return ini_value("".join(out))


def supervisord_command(spec: ProcessSpec) -> str:
    """The command line supervisord is given (before ini escaping): the shell for shell characters, prlimit."""
    command = spec.command
    if needs_shell(command):
        command = "/bin/sh -c " + sh_single(command)
    if spec.memory_max:
        # supervisord has no memory control; an address-space rlimit is the nearest thing it can exec.
        command = "prlimit --as=%d -- %s" % (spec.memory_max, command)
    return command


def supervisord_intent(spec: ProcessSpec) -> dict:
    """What supervisord must read back from the program file: the argv it executes, and the other values."""
    argv = ["/bin/sh", "-c", spec.command] if needs_shell(spec.command) else spec.command.split()
    if spec.memory_max:
        argv = ["prlimit", "--as=%d" % spec.memory_max, "--"] + argv
    intent = {"command": argv, "environment": environment(spec)}
    if spec.directory:
        intent["directory"] = spec.directory
    if spec.stdout_log:
        intent["stdout_logfile"] = spec.stdout_log
    if spec.stderr_log and spec.stderr_log != spec.stdout_log:
        intent["stderr_logfile"] = spec.stderr_log
    return intent


def supervisord_env_pairs(text: str) -> dict:
    """supervisord's reading of ``environment=`` (supervisor.datatypes.dict_of_key_value_pairs): a non-POSIX
    shlex, each value stripped of its quotes."""
    lexer = shlex.shlex(text)
    lexer.wordchars += "/.+-():"
    tokens = list(lexer)
    pairs, index = {}, 0
    while index < len(tokens):
        triple = tokens[index:index + 3]
        if len(triple) != 3 or triple[1] != "=":
            raise ValueError("unexpected end of key/value pairs in %r" % text)
        pairs[triple[0]] = triple[2].strip("'\"")
        index += 4  # and the comma after it, unchecked, as supervisord does
    return pairs


def split_or_text(command: str):
    """supervisord's argv for ``command`` (``shlex.split``), or the text itself when it cannot be split (an
    unclosed quote: supervisord then fails to spawn the program)."""
    try:
        return shlex.split(command)
    except ValueError:
        return command


def supervisord_reading(text: str, name: str) -> dict:
    """What supervisord reads from a program file's ``[program:name]``: the same parser settings, ``%``
    expansion, ``shlex.split`` of the command (as supervisord does before it executes it)."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=INI_COMMENT_PREFIXES, strict=False)
    parser.read_string(text)
    section = "program:" + name
    values = {key: parser.get(section, key).replace("%%", "%")
              for key in ("command", "environment", "directory", "stdout_logfile", "stderr_logfile")
              if parser.has_option(section, key)}
    reading = {"command": split_or_text(values.get("command", "")), "environment": {}}
    if values.get("environment"):
        try:
            reading["environment"] = supervisord_env_pairs(values["environment"])
        except ValueError:
            reading["environment"] = values["environment"]  # supervisord refuses the program
    for key in ("directory", "stdout_logfile", "stderr_logfile"):
        if key in values:
            reading[key] = values[key]
    return reading


def intent_mismatches(intent: dict, reading: dict) -> list:
    """Each value supervisord would read differently from what was asked: "field: asked X, supervisord reads Y"."""
    out = []
    for key, wanted in intent.items():
        got = reading.get(key)
        if key == "environment" and isinstance(got, str):
            for var in sorted(var for var, value in wanted.items() if "%s=" % var not in got or value not in got):
                out.append("environment.%s: %r, but supervisord reads the environment as %r and cannot parse it"
                           % (var, wanted[var], got))
        elif key == "environment":
            for var in sorted(set(wanted) | set(got or {})):
                if (got or {}).get(var) != wanted.get(var):
                    out.append("environment.%s: %r, but supervisord reads %r"
                               % (var, wanted.get(var), (got or {}).get(var)))
        elif got != wanted:
            out.append("%s: %r, but supervisord reads %r" % (key, wanted, got))
    return out


def check_supervisord(text: str, spec: ProcessSpec) -> None:
    """Refuse a program file that supervisord would read differently from the spec (SupervisorConfigError)."""
    try:
        reading = supervisord_reading(text, spec.name)
    except (configparser.Error, ValueError) as exc:
        raise SupervisorConfigError("supervisord could not read the program line: %s" % exc) from None
    problems = intent_mismatches(supervisord_intent(spec), reading)
    if problems:
        raise SupervisorConfigError(
            "supervisord would read the program file differently from what was asked (its parser ends a value "
            "at ';' or '#' after whitespace and strips quotes around environment values): %s" % "; ".join(problems))


def render_supervisord(spec: ProcessSpec) -> str:
    out = ["# " + line for line in labels(spec)]
    out += ["", "[program:%s]" % spec.name,
            "command=" + ini_command(supervisord_command(spec)),
            "autostart=true",
            "autorestart=%s" % ("true" if spec.restart == "always" else "unexpected"),
            # exits faster than startsecs count against startretries; FATAL afterwards is the quick crash loop,
            # the noops listener covers slower ones (crash_times exits within crash_within seconds).
            "startsecs=%d" % (min(spec.interval, 10) if spec.start_seconds is None else spec.start_seconds),
            "startretries=%d" % spec.crash_times,
            "stopsignal=" + spec.stop_signal,
            "stopwaitsecs=%d" % spec.stop_timeout,
            "stopasgroup=true",
            "killasgroup=true"]
    if spec.directory:
        out.append("directory=" + ini_value(spec.directory))
    if spec.user:
        out.append("user=" + spec.user)
    if spec.stdout_log:
        out.append("stdout_logfile=" + ini_value(spec.stdout_log))
    if spec.stderr_log and spec.stderr_log != spec.stdout_log:
        out.append("stderr_logfile=" + ini_value(spec.stderr_log))
    elif spec.stdout_log:
        out.append("redirect_stderr=true")
    env = environment(spec)
    if env:
        out.append("environment=" + ",".join("%s=%s" % (key, ini_env_value(value)) for key, value in env.items()))
    text = "\n".join(out) + "\n"
    check_supervisord(text, spec)
    return text


def systemd_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return '"' + escaped + '"'


def systemd_exec(command: str) -> str:
    return "/bin/sh -c " + systemd_quote(command)


def render_systemd(spec: ProcessSpec) -> str:
    description = "noops %s" % spec.name + (" version %s" % spec.version if spec.version else "")
    out = ["# " + line for line in labels(spec)]
    out += ["", "[Unit]",
            "Description=" + description.replace("%", "%%"),
            "StartLimitIntervalSec=%d" % spec.crash_within,
            "StartLimitBurst=%d" % spec.crash_times]
    if spec.version:
        out.append("X-Noops-Version=" + spec.version.replace("%", "%%"))
    if spec.notify:
        out.append("OnFailure=" + spec.notify)
    out += ["", "[Service]", "Type=simple", "ExecStart=" + systemd_exec(spec.command)]
    if spec.stop_command:
        out.append("ExecStop=" + systemd_exec(spec.stop_command))
    out.append("ExecReload=/bin/kill -%s $MAINPID" % spec.reload_signal)
    out += ["KillSignal=SIG" + spec.stop_signal,
            "KillMode=control-group",
            "TimeoutStopSec=%d" % spec.stop_timeout,
            "Restart=" + spec.restart,
            "RestartSec=1"]
    if spec.directory:
        out.append("WorkingDirectory=" + spec.directory.replace("%", "%%"))
    if spec.user:
        out.append("User=" + spec.user)
    if spec.group:
        out.append("Group=" + spec.group)
    for key, value in environment(spec).items():
        out.append("Environment=" + systemd_quote("%s=%s" % (key, value)))
    if spec.stdout_log:
        out.append("StandardOutput=append:" + spec.stdout_log.replace("%", "%%"))
        out.append("StandardError=append:" + (spec.stderr_log or spec.stdout_log).replace("%", "%%"))
    if spec.memory_max:
        out.append("MemoryMax=%d" % spec.memory_max)
    if spec.cpu_max:
        out.append("CPUQuota=%d%%" % spec.cpu_max)
    out += ["", "[Install]", "WantedBy=multi-user.target"]
    return "\n".join(out) + "\n"


RENDERERS = {"god": render_god, "supervisord": render_supervisord, "systemd": render_systemd}


def render(spec: ProcessSpec) -> str:
    validate(spec)
    return RENDERERS[spec.backend](spec)


def god_needs_shim(ruby_version: str, poller_source: str) -> bool:
    """True when Ruby >= 3 runs a god whose /proc poller still calls the removed ``Kernel#timeout``."""
    match = re.match(r"^(\d+)", ruby_version.strip())
    if not match or int(match.group(1)) < 3:
        return False
    return re.search(r"(?<![.\w])timeout\s*\(", poller_source) is not None


def god_port(root: str) -> int:
    """god's default port for the machine's own instance; a stable port in 20000-39999 for each noops_root.

    The ``supervisor`` role computes the same value in Jinja (``supervisor_god_port`` in its defaults).
    """
    if not root:
        return GOD_DEFAULT_PORT
    digest = hashlib.md5(root.encode("utf-8")).hexdigest()  # nosec - a spread, not security
    return GOD_PORT_BASE + int(digest[:6], 16) % GOD_PORT_SPAN


def supervisord_socket(root: str, run_dir: str) -> str:
    """The instance's unix socket: ``<run_dir>/supervisord.sock`` when that path, with the ``.<pid>`` supervisord
    appends to the name it binds first, fits in a unix socket address (107 bytes); else
    ``/tmp/noops-supervisord-<md5(root)[:16]>.sock`` (45 bytes), one per root.

    The role's ``supervisor_supervisord_socket`` comes from this function (filter
    ``noops.platform.supervisor_socket``). Raises SupervisorConfigError when neither path fits.
    """
    path = run_dir + "/supervisord.sock"
    if fits(path, SUPERVISORD_BIND_SUFFIX):
        return path
    short = "%s/noops-supervisord-%s.sock" % (SHORT_SOCKET_DIR, hashlib.md5(root.encode()).hexdigest()[:16])  # nosec
    try:
        return check_socket_path(short, SUPERVISORD_BIND_SUFFIX, "supervisord")
    except SocketPathError as e:
        raise SupervisorConfigError("supervisord socket of noops_root %s: %s" % (root, e)) from e


def god_socket(port: int) -> str:
    """god's DRb socket for ``port``: ``/tmp/god.<port>.sock``, fixed by god (bound as it is, at most 20 bytes)."""
    return "/tmp/god.%d.sock" % port


def instance_layout(root: str, backend: str) -> dict:
    """Where one supervisor instance keeps its files on a host whose paths are prefixed by ``root``."""
    root = (root or "").rstrip("/")
    if backend == "systemd":
        if root:
            raise SupervisorConfigError("noops_root: %r is set, but systemd is one per machine; simulated hosts "
                                        "must use god or supervisord" % root)
        return {"conf_dir": "/etc/systemd/system", "run_dir": "/run/systemd", "log_dir": "/var/log/noops"}
    base = "%s/etc/noops/supervisor/%s" % (root, backend)
    run = "%s/var/run/noops/%s" % (root, backend)
    layout = {"base_dir": base, "conf_dir": base + "/conf.d", "run_dir": run,
              "log_dir": "%s/var/log/noops/%s" % (root, backend)}
    if backend == "god":
        port = god_port(root)
        layout.update(main_conf=base + "/main.god", pid_dir=run + "/pids", pidfile=run + "/god.pid",
                      port=port, socket=god_socket(port), log=layout["log_dir"] + "/god.log")
    else:
        layout.update(main_conf=base + "/supervisord.conf", socket=supervisord_socket(root, run),
                      pidfile=run + "/supervisord.pid", log=layout["log_dir"] + "/supervisord.log")
    return layout


def config_path(root: str, backend: str, name: str) -> str:
    return "%s/%s%s" % (instance_layout(root, backend)["conf_dir"], name, EXTENSIONS[backend])


# --- What supervisor_config does differently per supervisor (these run commands through the AnsibleModule) ---

class ConfigCheckError(SupervisorConfigError):
    """The supervisor's own checker rejects a new config file; the message names the process and the checker."""


class ConfigBackend:
    """One supervisor as ``noops.platform.supervisor_config`` sees it: where a process logs by default, whether a
    god file carries the Ruby 3 shim, and how a new file is checked before it replaces the old one.

    ``module`` is the running AnsibleModule (``get_bin_path``, ``run_command``, ``tmpdir``, ``debug``).
    """

    name = ""

    def __init__(self, module, supervisord_python=None):
        self.module = module
        self.supervisord_python = supervisord_python

    def default_stdout_log(self, layout: dict, name: str) -> str:
        """The program's output file when none is given: ``<log_dir>/<name>.log`` of the instance."""
        return "%s/%s.log" % (layout["log_dir"], name)

    def god_shim(self, wanted: str) -> tuple[bool, str]:
        """(shim, reason) for the ``god_shim`` option (auto, always, never); only god files use it."""
        return wanted == "always", "the option"

    def result(self, spec: ProcessSpec) -> dict:
        """Backend-specific values of the module's result."""
        return {}

    def check_file(self, path: str, spec: ProcessSpec) -> str:
        """Check the rendered file at ``path`` (named as it will be): return the checker's name, or
        ``"skipped: <why>"`` when there is none; raise ConfigCheckError when the checker rejects the file."""
        raise NotImplementedError


class GodConfig(ConfigBackend):
    name = "god"
    # Ruby's version and the path of god's /proc poller, whose source tells whether the shim is needed.
    RUBY_PROBE = ("print RUBY_VERSION; puts; "
                  "f = $LOAD_PATH.map { |d| File.join(d, 'god/system/slash_proc_poller.rb') }.find { |p| File.exist?(p) }; "
                  "print f.to_s")

    def god_shim(self, wanted):
        if wanted != "auto":
            return wanted == "always", "the option"
        ruby = self.module.get_bin_path("ruby")
        if not ruby:
            return True, "ruby not found"
        rc, out, err = self.module.run_command([ruby, "-e", self.RUBY_PROBE])
        lines = out.splitlines()
        if rc != 0 or len(lines) < 2 or not lines[1]:
            return True, "god's poller not found: %s" % (err.strip() or out.strip())
        try:
            with open(lines[1], encoding="utf-8") as handle:
                source = handle.read()
        except OSError as exc:
            return True, "cannot read %s: %s" % (lines[1], exc)
        return god_needs_shim(lines[0], source), "ruby %s, %s" % (lines[0], lines[1])

    def result(self, spec):
        return {"god_shim": spec.god_shim}

    def check_file(self, path, spec):
        ruby = self.module.get_bin_path("ruby")
        if not ruby:
            return "skipped: ruby not installed"
        rc, out, err = self.module.run_command([ruby, "-c", path])
        if rc != 0:
            raise ConfigCheckError("god config for %s does not parse (ruby -c): %s" % (spec.name, (err or out).strip()))
        return "ruby -c"


class SupervisordConfig(ConfigBackend):
    name = "supervisord"
    SEARCH = ["/opt/noops/supervisor/bin", "/usr/local/bin", "/usr/bin"]
    # Parses one program file the way supervisord does at start-up (include inside a minimal main config) and
    # prints what it read for each program: the argv it would execute (supervisord shlex-splits the command when it
    # spawns) and the other values, as JSON, to compare with what was asked.
    CHECK = """
import json, shlex, sys
from supervisor.options import ServerOptions
options = ServerOptions()
try:
    options.read_config(sys.argv[1])
    out = {}
    for group in options.configroot.supervisord.process_group_configs:
        for pconfig in getattr(group, "process_configs", []):
            try:
                argv = shlex.split(pconfig.command or "")
            except ValueError:
                argv = pconfig.command  # supervisord cannot spawn it
            read = {"command": argv, "environment": dict(pconfig.environment or {})}
            for key in ("directory", "stdout_logfile", "stderr_logfile"):
                value = getattr(pconfig, key, None)
                if isinstance(value, str):
                    read[key] = value
            out[pconfig.name] = read
except (ValueError, OSError) as exc:
    sys.stderr.write(str(exc))
    raise SystemExit(2)
sys.stdout.write(json.dumps(out))
"""

    def python(self):
        """The Python that has the supervisor package: the option, else the interpreter of the ``supervisord``
        script found on PATH or in the usual folders; None when there is none."""
        if self.supervisord_python:
            return self.supervisord_python
        script = self.module.get_bin_path("supervisord", opt_dirs=self.SEARCH)
        if not script:
            return None
        try:
            with open(script, encoding="utf-8", errors="replace") as handle:
                first = handle.readline()
        except OSError:
            return None
        match = re.match(r"^#!\s*(\S+)", first)
        return match.group(1) if match else None

    @staticmethod
    def same_python(python):
        """True when ``python`` is the interpreter running this code (a venv's python is a link: compare its name)."""
        try:
            return os.path.realpath(python) == os.path.realpath(sys.executable) and \
                os.path.dirname(os.path.abspath(python)) == os.path.dirname(os.path.abspath(sys.executable))
        except (TypeError, ValueError):
            return False

    def problem(self, python, main, spec):
        """What supervisord's own parser (under ``python``) says of ``main``: "" when it reads the program as
        ``spec`` asks, else the problem (a parse error, or each value it would read differently); None when that
        Python has no supervisor package."""
        if self.same_python(python):
            try:
                from supervisor.options import ServerOptions  # pylint: disable=import-outside-toplevel
            except ImportError:
                return None
            options = ServerOptions()
            try:
                options.read_config(main)
            except (ValueError, OSError) as exc:
                return str(exc) or exc.__class__.__name__
            programs = {}
            for group in options.configroot.supervisord.process_group_configs:  # as CHECK does in another Python
                for pconfig in getattr(group, "process_configs", []):
                    read = {"command": split_or_text(pconfig.command or ""),
                            "environment": dict(pconfig.environment or {})}
                    read.update({key: getattr(pconfig, key) for key in ("directory", "stdout_logfile", "stderr_logfile")
                                 if isinstance(getattr(pconfig, key, None), str)})
                    programs[pconfig.name] = read
            reading = programs.get(spec.name)
        else:
            rc, out, err = self.module.run_command([python, "-c", self.CHECK, main])
            if rc == 1 and "No module named" in err:
                return None
            if rc != 0:
                return (err or out).strip() or "exit status %d" % rc
            try:
                reading = json.loads(out).get(spec.name)
            except ValueError:
                return "unreadable answer from %s: %s" % (python, out.strip()[:200])
        if reading is None:
            return "supervisord finds no program %s in the file" % spec.name
        problems = intent_mismatches(supervisord_intent(spec), reading)
        if problems:
            return "it would not run what was asked: %s" % "; ".join(problems)
        return ""

    def check_file(self, path, spec):
        python = self.python()
        if not python:
            return "skipped: no python with supervisor found (set supervisord_python)"
        main = os.path.join(self.module.tmpdir, "noops-check-supervisord.conf")
        with open(main, "w", encoding="utf-8") as handle:
            handle.write("[supervisord]\n[include]\nfiles = %s\n" % path)
        problem = self.problem(python, main, spec)
        if problem is None:
            return "skipped: %s has no supervisor package" % python
        if problem:
            raise ConfigCheckError("supervisord cannot read the program file for %s: %s" % (spec.name, problem))
        return "supervisor.options"


class SystemdConfig(ConfigBackend):
    name = "systemd"

    def default_stdout_log(self, layout, name):
        return ""  # the journal

    def check_file(self, path, spec):
        analyze = self.module.get_bin_path("systemd-analyze")
        if not analyze:
            return "skipped: systemd-analyze not installed"
        rc, out, err = self.module.run_command([analyze, "verify", path])
        # verify exits 0 on many unit errors and only logs "…service:LINE: …"; treat those lines as failures.
        problems = [line for line in (err + out).splitlines() if os.path.basename(path) + ":" in line]
        if rc != 0 or problems:
            raise ConfigCheckError("systemd-analyze verify rejects the unit for %s: %s"
                                   % (spec.name, "; ".join(problems) or (err or out).strip()))
        return "systemd-analyze verify"


CONFIG_BACKENDS = {cls.name: cls for cls in (GodConfig, SupervisordConfig, SystemdConfig)}


def config_backend(module, backend: str, supervisord_python: str | None = None) -> ConfigBackend:
    """The ConfigBackend of ``backend`` (one of BACKENDS) for the running module."""
    return CONFIG_BACKENDS[backend](module, supervisord_python)
