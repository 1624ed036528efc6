"""The progress of a run as ``noops deploy | rollback | control`` shows it, read from the history store.

The run's state is what the history callback records for it (plugins/callback/history.py): its task (found by the
ansible-playbook process, ``HistoryStore.find_run``), the task's status (running, paused, cancelled, ...) and
control request, and per host its status, times, release and message. The host statuses move by the one table of
``history.control.host_transition``, here as in the recorder; a move the table refuses is kept in ``refused``.
ansible-runner's events add only what the store does not keep: the ansible-playbook pid (the run's identity),
the task a host is on now, and in check mode the thor steps that would change a host.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.history.control import (
    HOST_STATUSES, decide, host_transition,
)
from ansible_collections.noops.platform.plugins.module_utils.redact import mask_urls

# deploying: the deploy role works on the host (deploy, rollback); running: a control action does.
# "would change": a host a check-mode run (--check) would have changed, and changed nothing (shown, not stored).
HOST_STATES = ("pending", "deploying", "running", "success", "would change", "failed", "skipped", "unreachable")
WORKING_STATES = frozenset(("deploying", "running"))
FINAL_STATES = frozenset(("success", "would change", "failed", "skipped", "unreachable"))
GOOD_STATES = frozenset(("success", "would change", "skipped"))
PROGRESS_ROLES = frozenset(("thor",))
# A failure's message carries what failed (command, exit status, last log or stderr lines): keep that much.
FAILURE_LIMIT = 1500


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
    status: str = "pending"  # the recorded status (state is what is shown: "would change" in check mode)
    note: str = ""  # a run that is not a deploy: what the host's last debug task said (control's process list)

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


class RolloutTracker:
    """Per-host rows and run-level facts (task id, pause, cancel, errors) of one run.

    ``apply(task, hosts)`` takes the run's records from the store (``StoreReader``); ``handle(event)`` takes
    ansible-runner's events, called from its thread. The view reads under ``lock``. ``progress_roles`` empty means
    every changed task of a host counts as a step (control.yml).
    """

    def __init__(self, progress_roles: t.Collection[str] = PROGRESS_ROLES, clock: t.Callable[[], float] = time.time,
                 check: bool = False):
        self.progress_roles = frozenset(progress_roles)
        self.clock = clock
        # Check mode: a host that would change ends "would change" (with the steps) instead of "success".
        self.check = check
        self.lock = threading.RLock()
        self.rows: dict[str, HostRow] = {}
        # What events said of hosts the store has not listed yet (it is read every half second): their rows start
        # from these.
        self._early: dict[str, HostRow] = {}
        self.changes: list[HostRow] = []   # rows whose state changed, for line-by-line output
        self.refused: list[str] = []       # host moves the transition table refused ("host: from -> to")
        self.pid: int | None = None        # ansible-playbook's process: the run's identity
        # ... with its start time (None where unknown): an older run's task of a reused pid is not this run's
        self.pid_start: str | None = None
        self.task_id: int | None = None
        self.status: str | None = None     # the task's recorded status
        self.paused: str | None = None     # why the run is held, while it is
        self.pause_events = 0
        self.cancelling: str | None = None  # an operator asked to cancel; the run ends before its next batch
        self.cancelled: str | None = None
        self.service = ""
        self.version = ""
        self.request_errors: list[str] = []  # failures of the run's own work on the controller: bad request, lock
        self.failed_events: list[str] = []   # every failure ansible-runner reported (when no task is recorded)
        self.stats: dict[str, t.Any] | None = None
        self.masker: t.Any = None  # redact.Masker for the messages shown (secrets_masker)

    # -- rows

    def _row(self, host: str) -> HostRow:
        row = self.rows.get(host)
        if row is None:
            row = self.rows[host] = self._early.pop(host, None) or HostRow(host)
        return row

    def _detail(self, host: str) -> HostRow:
        """The row events add details to: the host's row, or one kept until the store lists the host."""
        row = self.rows.get(host)
        if row is None:
            row = self._early.get(host)
            if row is None:
                row = self._early[host] = HostRow(host)
        return row

    def _scrub(self, text: str) -> str:
        return (self.masker.scrub(text) or text) if self.masker is not None and text else text

    def _shown(self, row: HostRow) -> tuple[str, str]:
        """(state, message) shown for the row's recorded status."""
        if row.status == "success" and self.check and row.changed_steps:
            return "would change", ", ".join(row.changed_steps)
        if row.status == "skipped" and not row.message:
            return "skipped", "already at %s" % (self.version or "this version")
        if row.status == "success" and not row.message and row.note:
            return "success", row.note
        return row.status, row.message

    def _show(self, row: HostRow) -> None:
        if self.rows.get(row.name) is not row:
            return  # not listed by the store yet
        state, message = self._shown(row)
        if (state, message) != (row.state, row.message):
            changed = state != row.state
            if changed and row.state == "pending" and state in FINAL_STATES and row.started is not None:
                # Worked on and done between two reads of the store (a fast control action): the host was at work
                # all the same, and a line-by-line log says so before it says how it ended.
                self.changes.append(dataclasses.replace(row, state="running" if not self.progress_roles else "deploying",
                                                        message=""))
            row.state, row.message = state, message
            if changed:
                self.changes.append(dataclasses.replace(row))

    # -- the store

    def apply(self, task: t.Mapping[str, t.Any] | None, hosts: t.Iterable[t.Mapping[str, t.Any]] = ()) -> None:
        """The run's task row and host rows as the store holds them now."""
        with self.lock:
            if task is None:
                return
            self.task_id = int(task["id"])
            self.status = str(task.get("status") or "")
            self.service = str(task.get("service") or self.service)
            self.version = str(task.get("version") or self.version)
            decision = decide(task)
            if self.status == "paused":
                if self.paused is None:
                    self.pause_events += 1
                self.paused = decision.message
            else:
                self.paused = None
            self.cancelling = decision.message if decision.action == "cancel" else None
            if self.status == "cancelled":
                self.cancelled = decision.message
            for host in hosts:
                self._apply_host(host)

    def _apply_host(self, host: t.Mapping[str, t.Any]) -> None:
        name = str(host["host"])
        known = name in self.rows
        row = self._row(name)
        new = str(host.get("status") or "pending")
        if new not in HOST_STATUSES:
            self.refused.append("%s: unknown status %r" % (row.name, new))
            return
        status = host_transition(row.status if known else None, new)
        if status != new:
            self.refused.append("%s: %s -> %s" % (row.name, row.status, new))
            return
        row.status = status
        before = row.release
        row.release = str(host.get("release") or "").strip()
        row.started = host.get("started_at")
        row.ended = host.get("ended_at")
        message = host.get("message")
        row.message = self._scrub(one_line(message, FAILURE_LIMIT)) if message and status not in (
            "success", "skipped") else ""
        if row.state == "success" and row.message == "" and row.note:
            row.message = row.note  # already shown: not a change
        changes = len(self.changes)
        self._show(row)
        if known and len(self.changes) == changes and row.state in FINAL_STATES and row.release != before:
            # A host's release after its final state (a failed host switched back): a change to show again, so
            # the line printed last names the release the host's path points at now.
            self.changes.append(dataclasses.replace(row))

    def controller_failures(self, messages: t.Iterable[str]) -> None:
        """The failures of the run's own work on the controller (a refused request, a lock held), as recorded."""
        with self.lock:
            lines: list[str] = []
            cancel = {self.cancelled, self.cancelling} - {None}
            for text in messages:
                if text in cancel:
                    continue  # the operator's cancel, said apart
                text = self._scrub(mask_urls(str(text or "")))
                lines.extend(line.strip() for line in text.splitlines() if line.strip())
            self.request_errors = lines

    # -- ansible-runner's events

    def handle(self, event: t.Mapping[str, t.Any]) -> None:
        with self.lock:
            self._handle(event)

    def _handle(self, event: t.Mapping[str, t.Any]) -> None:
        kind = event.get("event")
        data = event.get("event_data") or {}
        host = data.get("host")
        res = data.get("res") if isinstance(data.get("res"), dict) else {}
        if kind == "playbook_on_start":
            pid = event.get("pid")
            if pid and pid != self.pid:
                from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import process_start
                self.pid, self.pid_start = pid, process_start(int(pid))
        elif kind == "runner_on_start" and host:
            self._detail(host).task = one_line(data.get("task"), 80)
        elif kind == "runner_on_ok" and host:
            self._step(self._detail(host), data, res)
        elif kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            if not res.get("noops_cancelled"):
                text = mask_urls(str(res.get("msg") or _result_message(res, self.masker)))
                self.failed_events.extend(line for line in self._scrub(text).splitlines() if line.strip())
        elif kind == "playbook_on_stats":
            self.stats = {k: data.get(k) or {} for k in ("failures", "dark", "ok", "skipped", "changed")}

    def _step(self, row: HostRow, data: t.Mapping[str, t.Any], res: t.Mapping[str, t.Any]) -> None:
        """A changed result of a progress-role task is a step; in a run that is not a deploy, a debug task's message
        is the host's note (control.yml's "Show the processes")."""
        if not self.progress_roles and str(data.get("task_action") or "").endswith("debug") \
                and res.get("msg") is not None:
            row.note = self._scrub(one_line(res.get("msg")))
            self._show(row)
        self._count_step(row, data, res)

    def _count_step(self, row: HostRow, data: t.Mapping[str, t.Any], res: t.Mapping[str, t.Any]) -> None:
        """A changed result of a progress-role task (any task when there are no progress roles) is a step."""
        if not res.get("changed") or (self.progress_roles and data.get("role") not in self.progress_roles):
            return
        # The step is the task file (thor's prepare, unpack, config, switch, ...), else the task's name.
        path = str(data.get("task_path") or "").rsplit(":", 1)[0]
        step = os.path.splitext(os.path.basename(path))[0] if path else one_line(data.get("task"), 60)
        if step and step not in row.changed_steps:
            row.changed_steps.append(step)
            self._show(row)

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

    def errors(self) -> list[str]:
        """What went wrong outside the hosts: the recorded controller failures; without a recorded task (the
        history store could not be written), every failure ansible-runner reported."""
        with self.lock:
            if self.task_id is None:
                return list(self.failed_events)
            return list(self.request_errors)

    def succeeded(self, rc: int) -> bool:
        """Every host ended success or skipped (and the run itself ended well)."""
        with self.lock:
            return rc == 0 and not self.errors() and all(r.state in GOOD_STATES for r in self.rows.values())


class StoreReader:
    """Reads one run's records from the history store: the task of the ansible-playbook process ``pid`` on this
    controller, its hosts, and at the end the failures of its controller work. A store that does not exist yet
    is not created; one that cannot be read is retried at the next call (``error`` says why)."""

    def __init__(self, dsn: str, controller: str | None = None) -> None:
        self.dsn = dsn
        self.controller = controller or controller_name()
        self.error: str | None = None
        self._store: t.Any = None

    def _open(self) -> t.Any:
        from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore, parse_dsn

        if self._store is None:
            engine, target = parse_dsn(self.dsn)
            if engine == "sqlite" and not os.path.exists(target):
                return None
            self._store = HistoryStore(self.dsn, lock_timeout=2.0, migrate=False)
        return self._store

    def read(self, tracker: RolloutTracker, final: bool = False) -> None:
        """Bring ``tracker`` up to date with the store (with ``final``, also the controller failures)."""
        from ansible_collections.noops.platform.plugins.plugin_utils.history.store import StoreError

        with tracker.lock:
            pid, pid_start, task_id = tracker.pid, tracker.pid_start, tracker.task_id
        if not pid:
            return
        try:
            store = self._open()
            if store is None:
                return
            task = store.get_task(task_id) if task_id else store.find_run(self.controller, pid, pid_start)
            if task is None:
                return
            hosts = store.task_hosts(int(task["id"]))
            tracker.apply(task, hosts)
            if final:
                tracker.controller_failures(store.controller_failures(int(task["id"])))
            self.error = None
        except (StoreError, ValueError) as e:
            self.error = str(e)
            self.close()

    def close(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except Exception:
                pass
            self._store = None
