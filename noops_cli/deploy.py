"""``noops deploy | rollback | control``: run the Odin playbooks through ansible-runner with a live per-host table.

The playbooks (playbooks/deploy.yml, rollback.yml, control.yml) do the work and are the same ones
``ansible-playbook`` and AWX run; this module only builds their extra vars, follows ansible-runner's events and
shows per host: pending -> deploying (running for a control action) -> success | failed | skipped | unreachable
(with ``--check``: would change, naming the thor steps that would change the host, instead of success), and
the release the host's program path points at. Pauses of the rollout
(``noops.platform.task_control``) are continued with ``noops tasks resume ID`` or ``c`` + Enter here; the first
Ctrl-C cancels before the next batch, the second interrupts the run, the third kills it.
"""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import getpass
import os
import re
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import typing as t

from noops_cli import COLLECTION_ROOT, LOCATION, collection
from noops_cli.main import CliError

from ansible_collections.noops.platform.plugins.module_utils.redact import mask_urls

# deploying: the deploy role works on the host (deploy, rollback); running: a control action does.
# "would change": a host a check-mode run (--check) would have changed, and changed nothing.
HOST_STATES = ("pending", "deploying", "running", "success", "would change", "failed", "skipped", "unreachable")
WORKING_STATES = frozenset(("deploying", "running"))
FINAL_STATES = frozenset(("success", "would change", "failed", "skipped", "unreachable"))
GOOD_STATES = frozenset(("success", "would change", "skipped"))
# The deploy playbook's contract (playbooks/deploy.yml): a thor task moves a host to deploying; this set_fact
# task ends it with fact odin_host_result (success or skipped). control.yml ends a host with its process list.
PROGRESS_ROLES = frozenset(("thor",))
RESULT_FACT = "odin_host_result"
# Set by thor whenever the release the host's program path points at changes.
RELEASE_FACT = "thor_current_release"
DONE_TASKS = frozenset(("Record the host's deploy result", "Report the host's result", "Show the processes"))
# What task_control prints when it holds the run (plugins/action/task_control.py).
PAUSED_RE = re.compile(r"(task (\d+) paused by .*?)\s+\S+\s+continue with: noops tasks resume (\d+)")
STATE_STYLE = {"pending": "dim", "deploying": "cyan", "running": "cyan", "success": "green",
               "would change": "yellow", "failed": "bold red", "skipped": "dim green", "unreachable": "bold red"}
EXIT_OK, EXIT_FAILED, EXIT_REJECTED, EXIT_INTERRUPTED = 0, 1, 2, 130
PLAYBOOKS = {"deploy": "deploy.yml", "rollback": "rollback.yml", "control": "control.yml"}


# --- the per-host state, from ansible-runner events ------------------------------------------------------------


@dataclasses.dataclass
class HostRow:
    name: str
    state: str = "pending"
    release: str = ""  # what the host's program path points at, as thor last reported it
    started: float | None = None
    ended: float | None = None
    message: str = ""
    task: str = ""  # the task running on the host while it deploys (shown instead of the message)
    changed_steps: list[str] = dataclasses.field(default_factory=list)  # progress-role task files that changed

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.ended if self.ended is not None else now) - self.started


def one_line(text: t.Any, limit: int = 300) -> str:
    """A result message on one line (messages may be lists, dicts or multi-line)."""
    if isinstance(text, (list, tuple)):
        text = "; ".join(one_line(x, limit) for x in text)
    text = mask_urls(" ".join(str(text if text is not None else "").split()))
    return text if len(text) <= limit else text[:limit - 1] + "…"


# A failure's message carries what failed (command, exit status, last log or stderr lines): keep that much.
FAILURE_LIMIT = 1500


def _result_message(res: t.Mapping[str, t.Any], masker: t.Any = None) -> str:
    if res.get("failed"):
        from ansible_collections.noops.platform.plugins.plugin_utils.history.failure import describe_failure
        return one_line(describe_failure(res, masker), FAILURE_LIMIT)
    for key in ("msg", "reason", "stderr", "module_stderr", "stdout"):
        value = res.get(key)
        if value:
            text = one_line(value, FAILURE_LIMIT)
            return (masker.scrub(text) or text) if masker is not None else text
    return ""


def secrets_masker(extravars: t.Mapping[str, t.Any]) -> t.Any:
    """A Masker (module_utils/redact.py) that knows the secrets of the run: secret-looking extra vars and the values of
    secret-looking keys in the cluster file it names."""
    from ansible_collections.noops.platform.plugins.plugin_utils.history.failure import masker_for
    docs: list[t.Any] = [dict(extravars)]
    path = extravars.get("cluster_file")
    if path:
        import yaml
        try:
            with open(str(path), encoding="utf-8") as handle:
                docs.append(yaml.safe_load(handle))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            pass  # the playbook reports an unreadable cluster file itself
    return masker_for(*docs)


def _added_hosts(res: t.Mapping[str, t.Any]) -> list[tuple[str, list[str]]]:
    """(host name, groups) that an ``add_host`` result (or a loop of them) adds."""
    out = []
    for item in [res] + [r for r in res.get("results") or [] if isinstance(r, dict)]:
        added = item.get("add_host")
        if isinstance(added, dict) and added.get("host_name"):
            out.append((str(added["host_name"]), [str(g) for g in added.get("groups") or []]))
    return out


class RolloutTracker:
    """Per-host rows and run-level facts (task id, pause, errors) built from ansible-runner event dicts.

    ``handle`` is called from ansible-runner's thread; the view reads under ``lock``. Target hosts are the ones
    the playbook adds with ``add_host`` (odin_targets, control_targets) and any host a progress-role task runs on.
    ``progress_roles`` empty means every task of a target host counts as progress (control.yml): a host being
    worked on is then ``running``, not ``deploying``.
    """

    def __init__(self, progress_roles: t.Collection[str] = PROGRESS_ROLES, clock: t.Callable[[], float] = time.time,
                 check: bool = False):
        self.progress_roles = frozenset(progress_roles)
        self.clock = clock
        # Check mode: a host that would change ends "would change" (with the steps) instead of "success".
        self.check = check
        self.lock = threading.RLock()
        self.rows: dict[str, HostRow] = {}
        self.changes: list[HostRow] = []   # rows whose state changed, for line-by-line output
        self.pid: int | None = None        # ansible-playbook's process
        self.task_id: int | None = None
        self.paused: str | None = None     # task_control's message while the run is held
        self.pause_events = 0
        self.cancelled: str | None = None
        self.service = ""
        self.version = ""
        self.request_errors: list[str] = []  # failures outside the target hosts: bad request, lock, ...
        self.warnings: list[str] = []
        self.stats: dict[str, t.Any] | None = None
        # Groups the playbook adds its targets to, and whether the current play runs on them: a controller play
        # (hosts: all + run_once, say) may run on a target host without being that host's rollout.
        self.target_groups: set[str] = set()
        self.in_targets = True
        self.working = "deploying" if self.progress_roles else "running"
        self.masker: t.Any = None  # redact.Masker for the messages shown (secrets_masker)

    # -- rows

    def _row(self, host: str) -> HostRow:
        row = self.rows.get(host)
        if row is None:
            row = self.rows[host] = HostRow(host)
        return row

    def _move(self, row: HostRow, state: str, message: str | None = None) -> None:
        now = self.clock()
        if message is not None:
            row.message = message
        if state == "success" and self.check and row.changed_steps:
            state = "would change"
            row.message = ", ".join(row.changed_steps)
        if row.state == state:
            return
        # A failure is final; success and skipped may still turn into a failure (a later check failed).
        bad = ("failed", "unreachable")
        if row.state in bad or (row.state in GOOD_STATES and state not in bad):
            return
        if state in WORKING_STATES or row.started is None:
            row.started = row.started or now
        if state in FINAL_STATES:
            row.ended = now
        row.state = state
        self.changes.append(dataclasses.replace(row))

    def _end_play(self) -> None:
        """The play ended for the hosts still deploying (running) without a failure: they succeeded."""
        for row in self.rows.values():
            if row.state in WORKING_STATES:
                self._move(row, "success")

    # -- events

    def handle(self, event: t.Mapping[str, t.Any]) -> None:
        with self.lock:
            self._handle(event)

    def _handle(self, event: t.Mapping[str, t.Any]) -> None:
        kind = event.get("event")
        data = event.get("event_data") or {}
        host = data.get("host")
        res = data.get("res") if isinstance(data.get("res"), dict) else {}
        if kind == "playbook_on_start":
            self.pid = event.get("pid") or self.pid
        elif kind == "verbose":
            self._verbose(event.get("stdout") or "")
        elif kind == "warning":
            self.warnings.append(one_line(data.get("warning") or event.get("stdout") or ""))
        elif kind == "playbook_on_play_start":
            # Each batch of a serial play starts as a play: the previous batch's hosts are done.
            self._end_play()
            words = set(re.split(r"[\s,:!&]+", str(data.get("play_pattern") or data.get("pattern") or "")))
            self.in_targets = not self.target_groups or bool(words & self.target_groups)
        elif kind == "runner_on_start" and host:
            self._started(host, data)
        elif kind == "runner_on_ok" and host:
            self._ok(host, data, res)
        elif kind == "runner_on_failed" and host and not data.get("ignore_errors"):
            self._failed(host, res)
        elif kind == "runner_on_unreachable" and host:
            if host in self.rows and self.in_targets:
                self._move(self.rows[host], "unreachable", _result_message(res, self.masker))
            else:
                self.request_errors.append("%s: unreachable: %s" % (host, _result_message(res, self.masker)))
        elif kind == "playbook_on_stats":
            self.stats = {k: data.get(k) or {} for k in ("failures", "dark", "ok", "skipped", "changed")}
            for name in self.stats["dark"]:
                if name in self.rows:
                    self._move(self.rows[name], "unreachable")
            for name in self.stats["failures"]:
                if name in self.rows and self.rows[name].state not in FINAL_STATES:
                    self._move(self.rows[name], "failed")
            self._end_play()

    def _verbose(self, text: str) -> None:
        match = PAUSED_RE.search(text)
        if match:
            self.task_id = int(match.group(3))
            self.paused = match.group(1)
            self.pause_events += 1

    def _started(self, host: str, data: t.Mapping[str, t.Any]) -> None:
        action = str(data.get("task_action") or "")
        if action.endswith("task_control") or not self.in_targets:
            return
        # A task after a pause means the run goes on.
        self.paused = None
        role = data.get("role") or ""
        if self.progress_roles:
            if role in self.progress_roles:
                self._move(self._row(host), self.working)
        elif host in self.rows and self.rows[host].state == "pending":
            self._move(self.rows[host], self.working)
        if host in self.rows:
            self.rows[host].task = one_line(data.get("task"), 80)

    def _ok(self, host: str, data: t.Mapping[str, t.Any], res: t.Mapping[str, t.Any]) -> None:
        for name, groups in _added_hosts(res):
            self._row(name)
            self.target_groups.update(groups)
        if str(data.get("task_action") or "").endswith("task_control"):
            self.paused = None
            if res.get("task_id"):
                self.task_id = int(res["task_id"])
        facts = res.get("ansible_facts") if isinstance(res.get("ansible_facts"), dict) else {}
        if facts.get("odin_version") is not None:
            self.version = str(facts["odin_version"])
        if facts.get("odin_service"):
            self.service = str(facts["odin_service"])
        row = self.rows.get(host)
        if row is None or not self.in_targets:
            return
        if res.get("changed") and (not self.progress_roles or data.get("role") in self.progress_roles):
            # The step is the task file (thor's prepare, unpack, config, switch, ...), else the task's name.
            path = str(data.get("task_path") or "").rsplit(":", 1)[0]
            step = os.path.splitext(os.path.basename(path))[0] if path else one_line(data.get("task"), 60)
            if step and step not in row.changed_steps:
                row.changed_steps.append(step)
        if RELEASE_FACT in facts:
            row.release = str(facts[RELEASE_FACT] or "").strip()
        result = facts.get(RESULT_FACT)
        if result in ("failed", "unreachable"):
            # The playbook rescued the host's failure and recorded it; the failing task's event said why.
            self._move(row, str(result))
        elif result in ("success", "skipped"):
            why = "already at %s" % (self.version or "this version") if result == "skipped" else None
            self._move(row, str(result), why)
        elif data.get("task") in DONE_TASKS:
            if str(data.get("task_action") or "").endswith("debug") and res.get("msg") is not None:
                row.message = one_line(res.get("msg"))
            self._move(row, "success")

    def _failed(self, host: str, res: t.Mapping[str, t.Any]) -> None:
        message = _result_message(res, self.masker)
        if res.get("noops_cancelled"):
            # task_control failed the batch on purpose: the hosts of that batch were not touched.
            self.cancelled = message
            self.paused = None
            return
        if host in self.rows and self.in_targets:
            row = self.rows[host]
            if row.state in ("failed", "unreachable"):
                row.message = message  # the role's own final report says more than the step that failed
            else:
                self._move(row, "failed", message)
        else:
            text = mask_urls(str(res.get("msg") or message))
            text = (self.masker.scrub(text) or text) if self.masker is not None else text
            self.request_errors.extend(line for line in text.splitlines() if line.strip())

    # -- results

    def take_changes(self) -> list[HostRow]:
        with self.lock:
            out, self.changes = self.changes, []
            return out

    def counts(self) -> dict[str, int]:
        with self.lock:
            out = {state: 0 for state in HOST_STATES}
            for row in self.rows.values():
                out[row.state] += 1
            return out

    def succeeded(self, rc: int) -> bool:
        """Every host ended success or skipped (and the run itself ended well)."""
        with self.lock:
            return rc == 0 and not self.request_errors and all(r.state in GOOD_STATES for r in self.rows.values())


# --- showing it ---------------------------------------------------------------------------------------------


def _fmt_elapsed(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return "%.0fs" % seconds if seconds >= 10 else "%.1fs" % seconds


class PlainView:
    """One line per host state change (stdout is not a terminal: CI logs, pipes)."""

    def __init__(self, tracker: RolloutTracker, title: str, out: t.TextIO | None = None) -> None:
        self.tracker = tracker
        self.title = title
        self.out = out or sys.stdout
        self._paused_shown: str | None = None

    def __enter__(self) -> "PlainView":
        self.say(self.title)
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.refresh()

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def refresh(self) -> None:
        now = time.time()
        for row in self.tracker.take_changes():
            self.say("%s %-24s %-11s %-14s %-6s %s" % (time.strftime("%H:%M:%S", time.localtime(now)), row.name,
                                                     row.state, row.release or "-",
                                                     _fmt_elapsed(row.elapsed(now)), row.message))


class LiveView:
    """A rich Live table: host, state, version, time, message; a status line under it."""

    def __init__(self, tracker: RolloutTracker, title: str) -> None:
        from rich.console import Console
        from rich.live import Live

        self.tracker = tracker
        self.title = title
        self.console = Console()
        self.status = ""
        self.live = Live(console=self.console, refresh_per_second=4, transient=False,
                         get_renderable=self.render)

    def __enter__(self) -> "LiveView":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.live.refresh()
        self.live.__exit__(None, None, None)

    def say(self, text: str) -> None:
        self.live.console.print(text, markup=False, highlight=False)

    def refresh(self) -> None:
        self.tracker.take_changes()

    def render(self) -> t.Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        now = time.time()
        tracker = self.tracker
        with tracker.lock:
            rows = [dataclasses.replace(r) for r in tracker.rows.values()]
            paused, task_id = tracker.paused, tracker.task_id
        counts = {s: sum(1 for r in rows if r.state == s) for s in HOST_STATES}
        caption = "  ".join("%s %d" % (s, n) for s, n in counts.items() if n)
        table = Table(title=self.title + ("  (task %d)" % task_id if task_id else ""), caption=caption,
                      expand=False, show_lines=False)
        for col, kw in (("host", {}), ("state", {}), ("release", {}), ("time", {"justify": "right"}),
                        ("message", {"overflow": "fold", "max_width": 80})):
            table.add_column(col, **kw)
        for r in rows:
            message = Text(r.task, style="dim") if r.state in WORKING_STATES and r.task else Text(r.message)
            table.add_row(r.name, Text(r.state, style=STATE_STYLE.get(r.state, "")), r.release or "-",
                          _fmt_elapsed(r.elapsed(now)), message)
        parts: list[t.Any] = [table]
        if paused:
            parts.append(Text("%s\n%s" % (paused, pause_hint(task_id, True)), style="bold yellow"))
        elif self.status:
            parts.append(Text(self.status, style="yellow"))
        return Group(*parts)


def pause_hint(task_id: int | None, keys: bool) -> str:
    where = "run `noops tasks resume %s`" % (task_id if task_id else "ID")
    return "paused: %s%s" % (where, " (or press c + Enter here; a + Enter cancels)" if keys else "")


# --- running a playbook -------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunSpec:
    playbook: str
    title: str
    extravars: dict[str, t.Any]
    inventory: list[str] = dataclasses.field(default_factory=list)
    limit: str | None = None
    check: bool = False
    forks: int | None = None
    verbosity: int = 0
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    progress_roles: t.Collection[str] = PROGRESS_ROLES
    # The hosts may be reached over SSH: its control sockets must fit (a short folder, or refused before the run).
    ssh: bool = True


@dataclasses.dataclass
class RunOutcome:
    rc: int
    status: str
    tracker: RolloutTracker
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.interrupted and self.tracker.succeeded(self.rc)


def ansible_config_path() -> str:
    """The ansible.cfg a run uses: $ANSIBLE_CONFIG when set, else the repository's (collections path, history)."""
    return os.environ.get("ANSIBLE_CONFIG") or os.path.join(COLLECTION_ROOT, "ansible.cfg")


def history_dsn(config_path: str) -> str:
    """The history store the run writes to: $NOOPS_HISTORY_DSN, else ``[noops_history] dsn``, else the default."""
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import resolve_dsn

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(config_path)
    except configparser.Error as e:
        raise CliError("%s: %s" % (config_path, e)) from e
    return resolve_dsn(None, parser.get("noops_history", "dsn", fallback=None) or None)


def ssh_env(config_path: str) -> dict[str, str]:
    """``ANSIBLE_SSH_CONTROL_PATH_DIR`` for the run when Ansible's own folder for SSH control sockets is too deep
    for a unix socket (plugin_utils/odin/ssh_control.py), else nothing. Raises CliError naming a configured folder
    that cannot fit."""
    from ansible_collections.noops.platform.plugins.plugin_utils.odin.ssh_control import run_env
    from ansible_collections.noops.platform.plugins.module_utils.unix_socket import SocketPathError

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(config_path)
    except configparser.Error as e:
        raise CliError("%s: %s" % (config_path, e)) from e
    ini = dict(parser.items("ssh_connection")) if parser.has_section("ssh_connection") else {}
    try:
        return run_env(os.environ, ini)
    except SocketPathError as e:
        raise CliError("%s (%s)" % (e, config_path) if "[ssh_connection]" in str(e) else str(e)) from e


def runner_env(spec: RunSpec, dsn: str) -> dict[str, str]:
    """What ansible-playbook needs beyond our environment (which ansible-runner passes on, NOOPS_* included)."""
    bin_dir = os.path.dirname(sys.executable)
    env = {
        "ANSIBLE_CONFIG": ansible_config_path(),
        # The collection this command found (noops_cli/collection.py) is the one the playbooks run from.
        "ANSIBLE_COLLECTIONS_PATH": collection.ansible_collections_path(LOCATION),
        # The noops venv's ansible-playbook, also when `noops` was started without activating the venv.
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "NOOPS_HISTORY_DSN": dsn,
        "NOOPS_USER": os.environ.get("NOOPS_USER") or getpass.getuser(),
        "ANSIBLE_FORCE_COLOR": "0",
    }
    if spec.ssh:
        env.update(ssh_env(env["ANSIBLE_CONFIG"]))
    env.update(spec.env)
    return env


class Operator:
    """The operator's side of a run: resume/cancel through the history store, keys typed on the terminal."""

    def __init__(self, tracker: RolloutTracker, dsn: str, say: t.Callable[[str], None]) -> None:
        self.tracker = tracker
        self.dsn = dsn
        self.say = say
        self.who = os.environ.get("NOOPS_USER") or getpass.getuser()

    def find_task(self) -> int | None:
        """The run's task id: printed by task_control, else the store's task of this ansible-playbook process."""
        with self.tracker.lock:
            if self.tracker.task_id or not self.tracker.pid:
                return self.tracker.task_id
            pid = self.tracker.pid
        try:
            from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

            with HistoryStore(self.dsn, lock_timeout=2.0, migrate=False) as store:
                for task in store.list_tasks(limit=20):
                    if task.get("pid") == pid and task.get("status") in ("running", "paused"):
                        with self.tracker.lock:
                            self.tracker.task_id = int(task["id"])
                        return int(task["id"])
        except Exception:  # a store we cannot read only costs the resume shortcut
            return None
        return None

    def request(self, action: str, reason: str) -> bool:
        task_id = self.find_task()
        if task_id is None:
            self.say("noops: the run's task is not in the history store yet; cannot %s it" % action)
            return False
        from ansible_collections.noops.platform.plugins.plugin_utils.history.control import ControlError
        from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore, StoreError

        try:
            with HistoryStore(self.dsn, lock_timeout=5.0) as store:
                store.request_control(task_id, action, by=self.who, reason=reason)
        except (ControlError, StoreError, KeyError) as e:
            self.say("noops: %s task %s: %s" % (action, task_id, e))
            return False
        return True


def _stdin_keys(operator: Operator, stop: threading.Event) -> None:
    """c + Enter continues a paused run, a + Enter cancels it (only when stdin is a terminal)."""
    while not stop.is_set():
        try:
            ready, _, _ = select.select([sys.stdin], [], [], 0.3)
        except (OSError, ValueError):
            return
        if not ready:
            continue
        line = sys.stdin.readline()
        if not line:
            return
        key = line.strip().lower()
        if key in ("c", "continue") and operator.tracker.paused:
            if operator.request("resume", "from the noops terminal"):
                operator.say("continuing")
        elif key in ("a", "cancel"):
            if operator.request("cancel", "from the noops terminal"):
                operator.say("cancelling before the next batch")


def run_playbook(spec: RunSpec, plain: bool | None = None,
                 on_pause: t.Callable[[Operator, int | None], None] | None = None) -> RunOutcome:
    """Run ``spec.playbook`` through ansible-runner, showing per-host progress until it ends.

    ``on_pause(operator, task_id)`` is called once each time the run is held (the demo resumes by itself).
    """
    import ansible_runner

    tracker = RolloutTracker(spec.progress_roles, check=spec.check)
    tracker.masker = secrets_masker(spec.extravars)
    dsn = history_dsn(ansible_config_path())
    envvars = runner_env(spec, dsn)  # before anything starts: it refuses an SSH control folder that cannot fit
    plain = (not sys.stdout.isatty()) if plain is None else plain
    view: t.Any = PlainView(tracker, spec.title) if plain else LiveView(tracker, spec.title)
    operator = Operator(tracker, dsn, view.say)
    private = tempfile.mkdtemp(prefix="noops-run-")
    cancel = {"kill": False}
    interrupts = 0
    stop_keys = threading.Event()
    cmdline = ["--check"] if spec.check else []
    if spec.verbosity:
        cmdline.append("-" + "v" * spec.verbosity)
    kwargs: dict[str, t.Any] = dict(
        private_data_dir=private, project_dir=COLLECTION_ROOT, playbook=spec.playbook,
        extravars=spec.extravars, envvars=envvars, quiet=True,
        event_handler=lambda e: (tracker.handle(e), True)[1], cancel_callback=lambda: cancel["kill"],
        # Events are what we show; the job_events files in the private folder are not needed.
        settings={"suppress_ansible_output": True, "pexpect_timeout": 1},
    )
    if spec.inventory:
        kwargs["inventory"] = spec.inventory
    if spec.limit:
        kwargs["limit"] = spec.limit
    if spec.forks:
        kwargs["forks"] = spec.forks
    if cmdline:
        kwargs["cmdline"] = " ".join(cmdline)
    try:
        with view:
            thread, runner = ansible_runner.run_async(**kwargs)
            if not plain and sys.stdin.isatty():
                threading.Thread(target=_stdin_keys, args=(operator, stop_keys), daemon=True).start()
            seen_pauses = 0
            while thread.is_alive():
                try:
                    view.refresh()
                    if tracker.pause_events != seen_pauses and tracker.paused:
                        seen_pauses = tracker.pause_events
                        if plain:
                            view.say(tracker.paused)
                            view.say(pause_hint(tracker.task_id, False))
                        if on_pause is not None:
                            on_pause(operator, tracker.task_id)
                    # Not thread.join(0.2): a Ctrl-C that interrupts join() can leave the thread reported as
                    # finished while ansible-playbook still runs, and the loop would end before the run does.
                    time.sleep(0.2)
                except KeyboardInterrupt:
                    interrupts += 1
                    interrupts = _interrupt(interrupts, tracker, operator, view, cancel)
            view.refresh()
    finally:
        stop_keys.set()
        shutil.rmtree(private, ignore_errors=True)
    rc = runner.rc if runner.rc is not None else 1
    return RunOutcome(rc=rc, status=str(runner.status), tracker=tracker, interrupted=interrupts > 0)


def _interrupt(count: int, tracker: RolloutTracker, operator: Operator, view: t.Any, cancel: dict) -> int:
    """Ctrl-C: 1st cancels before the next batch, 2nd interrupts ansible-playbook (SIGINT), 3rd kills it."""
    if count == 1 and operator.find_task() is not None:
        if operator.request("cancel", "Ctrl-C on the noops terminal"):
            view.say("cancelling: hosts being deployed now finish, no new batch starts (Ctrl-C again to interrupt now)")
            return count
        count = 2
    if count <= 2 and tracker.pid:
        view.say("interrupting ansible-playbook (Ctrl-C again to kill it)")
        try:
            os.kill(tracker.pid, signal.SIGINT)
        except OSError:
            pass
        return max(count, 2)
    view.say("killing ansible-playbook")
    cancel["kill"] = True
    return count


def summarize(outcome: RunOutcome, what: str, say: t.Callable[[str], None]) -> int:
    """Print the end of a run (per-state counts, failures, not reached hosts); returns the exit status."""
    tracker = outcome.tracker
    with tracker.lock:
        rows = list(tracker.rows.values())
        errors = list(tracker.request_errors)
        task_id, cancelled = tracker.task_id, tracker.cancelled
    for line in errors:
        say("error: %s" % line)
    counts = {s: sum(1 for r in rows if r.state == s) for s in HOST_STATES}
    order = ("success", "would change", "skipped", "failed", "unreachable", "deploying", "running", "pending")
    parts = ["%d %s" % (counts[s], "not reached" if s == "pending" else s) for s in order if counts[s]]
    label = " ".join(x for x in ("check" if tracker.check else "", what, tracker.version) if x)
    say("%s: %d host(s)%s%s" % (label, len(rows), (": " + ", ".join(parts)) if parts else "",
                                ("; task %d (noops tasks show %d)" % (task_id, task_id)) if task_id else ""))
    for row in rows:
        if row.state in ("failed", "unreachable"):
            say("  %s %s: %s" % (row.name, row.state, row.message or "-"))
    if cancelled:
        say("cancelled: %s" % cancelled)
    if outcome.ok:
        return EXIT_OK
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    if errors and not any(r.state != "pending" for r in rows):
        return EXIT_REJECTED
    return EXIT_FAILED


# --- the commands -------------------------------------------------------------------------------------------


def _max_fail(text: str) -> str:
    if not re.fullmatch(r"\d+%?", text.strip()):
        raise argparse.ArgumentTypeError("want a count or a percentage (2, 10%%), got %r" % text)
    return text.strip()


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("want an integer >= 0, got %r" % text) from None
    if value < 0:
        raise argparse.ArgumentTypeError("want an integer >= 0, got %d" % value)
    return value


def _positive_int(text: str) -> int:
    value = _nonneg_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("want an integer >= 1, got %d" % value)
    return value


def _extra_var(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise argparse.ArgumentTypeError("want KEY=VALUE, got %r" % text)
    return key, value


def _common(p: argparse.ArgumentParser, batching: bool = True) -> None:
    p.add_argument("-i", "--inventory", action="append", default=[], metavar="SOURCE",
                   help="inventory source (repeatable; default: ansible.cfg's, the example service tree)")
    p.add_argument("-l", "--limit", metavar="PATTERN", help="further limit the hosts (Ansible host pattern)")
    p.add_argument("--forks", type=_positive_int, metavar="N", help="parallel connections (Ansible's --forks)")
    p.add_argument("-e", "--extra-var", action="append", default=[], type=_extra_var, metavar="KEY=VALUE",
                   help="extra variable for the playbook (repeatable)")
    p.add_argument("--plain", action="store_true", help="print lines instead of a live table (default when "
                                                        "stdout is not a terminal)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="ansible-playbook verbosity")
    if batching:
        p.add_argument("--batch", type=_positive_int, metavar="N", help="hosts deployed in parallel (default 1)")
        p.add_argument("--sleep", type=_nonneg_int, metavar="S", help="seconds to wait after each batch")


def register(subparsers: t.Any) -> None:
    deploy = subparsers.add_parser(
        "deploy", help="deploy a service from cluster.yml in batches",
        description="Run playbooks/deploy.yml through ansible-runner with a live per-host table. Exit status 0 when "
                    "every host ended success or skipped, 1 when a host failed or was not reached, 2 when the request "
                    "was rejected before any host was touched (bad cluster.yml, lock held), 130 when interrupted. "
                    "A pause is continued with `noops tasks resume ID` or c + Enter here; Ctrl-C cancels before "
                    "the next batch (twice: interrupt now).")
    deploy.add_argument("-f", "--file", required=True, metavar="CLUSTER_YML", help="the cluster.yml to deploy")
    _common(deploy)
    deploy.add_argument("--check", action="store_true", help="check mode: validate and show what would change")
    deploy.add_argument("--pause-step", type=_nonneg_int, metavar="N", help="pause after every N hosts (0: never)")
    deploy.add_argument("--max-fail", type=_max_fail, metavar="N|N%",
                        help="failed hosts tolerated before the rollout stops (default 0)")
    deploy.add_argument("--canary", type=_nonneg_int, metavar="N", help="a first batch of N hosts, then a pause")
    deploy.add_argument("--force", action="store_true", help="deploy also to hosts already running the version")
    deploy.add_argument("--break-lock", action="store_true", help="take the cluster's deploy lock even when a dead "
                                                                  "run left it")
    deploy.set_defaults(handler=run_deploy)

    rollback = subparsers.add_parser(
        "rollback", help="switch a cluster back to the previous (or a named) release",
        description="Run playbooks/rollback.yml through ansible-runner with the same batching and table as deploy.")
    rollback.add_argument("-f", "--file", required=True, metavar="CLUSTER_YML", help="the cluster.yml of the service")
    rollback.add_argument("--version", metavar="V", help="roll back to this version (default: the previous release)")
    _common(rollback)
    rollback.add_argument("--check", action="store_true", help="check mode")
    rollback.add_argument("--pause-step", type=_nonneg_int, metavar="N", help="pause after every N hosts")
    rollback.add_argument("--max-fail", type=_max_fail, metavar="N|N%", help="failed hosts tolerated")
    rollback.add_argument("--break-lock", action="store_true", help="take a lock left by a dead run")
    rollback.set_defaults(handler=run_rollback)

    control = subparsers.add_parser(
        "control", help="start, stop, restart or reload the processes of a tag query's machines in batches",
        description="Run playbooks/control.yml through ansible-runner (start/stop actions, 启停动作).")
    control.add_argument("query", metavar="QUERY",
                         help="tag query of the machines (service.dch_idc.sd,!status.offline)")
    control.add_argument("action", choices=("start", "stop", "restart", "reload", "kill", "status"))
    control.add_argument("--name", metavar="PROCESS", help="only this process (default: every process)")
    _common(control)
    control.add_argument("--check", action="store_true", help="check mode")
    control.set_defaults(handler=run_control)


def _abs_inventory(sources: t.Sequence[str]) -> list[str]:
    # ansible-runner runs from the collection root: a relative path means the caller's folder.
    return [os.path.abspath(s) if os.path.exists(s) else s for s in sources]


def _cluster_file(path: str) -> str:
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise CliError("%s: no such cluster file" % path)
    return full


def _rollout_vars(args: argparse.Namespace) -> dict[str, t.Any]:
    extra: dict[str, t.Any] = {}
    for name in ("batch", "sleep", "pause_step", "max_fail", "canary"):
        value = getattr(args, name, None)
        if value is not None:
            extra[name] = value
    if getattr(args, "force", False):
        extra["force"] = True
    if getattr(args, "break_lock", False):
        extra["odin_break_lock"] = True
    extra.update(dict(args.extra_var))
    return extra


def playbook_fqcn(name: str) -> str:
    """The FQCN ansible-playbook runs for the collection's ``playbooks/<name>`` (``noops.platform.deploy``).
    Raises CliError when the collection lacks it."""
    try:
        return collection.playbook(LOCATION, name)
    except collection.CollectionNotFound as e:
        raise CliError(str(e)) from e


def spec_for(args: argparse.Namespace) -> RunSpec:
    """The playbook run a parsed command line asks for."""
    command = args.command
    playbook = playbook_fqcn(PLAYBOOKS[command])
    extra = {}
    if command in ("deploy", "rollback"):
        extra["cluster_file"] = _cluster_file(args.file)
        if command == "rollback" and args.version:
            extra["version"] = args.version
        title = "%s %s" % (command, os.path.basename(args.file))
        roles: t.Collection[str] = PROGRESS_ROLES
    else:
        extra.update(query=args.query, action=args.action)
        if args.name:
            extra["name"] = args.name
        title = "%s %s %s" % (args.action, args.name or "every process", args.query)
        roles = ()
    extra.update(_rollout_vars(args))
    return RunSpec(playbook=playbook, title=title, extravars=extra, inventory=_abs_inventory(args.inventory),
                   limit=args.limit, check=args.check, forks=args.forks, verbosity=args.verbose,
                   progress_roles=roles)


def _run(args: argparse.Namespace, what: str) -> int:
    spec = spec_for(args)
    outcome = run_playbook(spec, plain=True if args.plain else None)
    return summarize(outcome, what, print)


def run_deploy(args: argparse.Namespace) -> int:
    return _run(args, "deploy")


def run_rollback(args: argparse.Namespace) -> int:
    return _run(args, "rollback")


def run_control(args: argparse.Namespace) -> int:
    return _run(args, args.action)
