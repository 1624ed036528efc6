# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the history callback keeps in memory and how it reaches the store.

``HostProgress`` turns task results into per-host progress (pending, deploying, success, failed, skipped,
unreachable). ``Recorder`` buffers task fields, host rows and log rows and writes them from one background
thread in batches, so the playbook's own thread only appends to a list; a store that is down or locked makes
it warn once, keep the buffer (bounded) and retry, and marks the task's record incomplete.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import typing as t
import weakref

from ansible_collections.noops.platform.plugins.plugin_utils.history.failure import describe_failure
from ansible_collections.noops.platform.plugins.plugin_utils.history.control import host_transition
from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    RECAP_FIELDS, HistoryStore, StoreError,
)

NO_LOG_MESSAGE = "output hidden (no_log)"
# Ansible's stats (v2_playbook_on_stats) for each recap field: failures and dark are what PLAY RECAP prints as
# failed and unreachable.
_STATS_OF_RECAP = {"ok": "ok", "changed": "changed", "unreachable": "dark", "failed": "failures",
                   "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}
WORKING = frozenset(("deploying", "running"))
# Keys of a result that are bookkeeping, not output worth keeping in the log.
_QUIET_KEYS = frozenset((
    "changed", "failed", "skipped", "unreachable", "msg", "stdout", "stderr", "stdout_lines", "stderr_lines",
    "rc", "cmd", "start", "end", "delta", "invocation", "ansible_facts", "_ansible_verbose_always",
    "_ansible_no_log", "_ansible_item_label", "_ansible_verbose_override", "warnings", "deprecations",
    "skip_reason", "false_condition", "ansible_loop_var", "item", "diff", "exception", "censored",
    "skipped_reason", "results", "_ansible_ignore_errors", "include_args", "attempts",
))


# AWX (and Tower) pass who launched a job as extra vars; a scheduled launch has no user but a schedule (of the
# job, or of the workflow that ran it).
AWX_USER_VARS = ("awx_user_name", "tower_user_name")
AWX_SCHEDULE_VARS = ("awx_schedule_name", "tower_schedule_name", "awx_parent_job_schedule_name",
                     "tower_parent_job_schedule_name")


def launch_fields(extra_vars: t.Mapping[str, t.Any], user_vars: t.Sequence[str] = AWX_USER_VARS) -> dict[str, t.Any]:
    """What AWX's (or Tower's) job variables in a run's extra vars say about its launch, as task fields.

    ``initiator``: the first non-empty of ``user_vars``, else ``schedule:<name>`` for a scheduled launch;
    ``awx_job_id`` (int) and ``awx_job_template`` (the job template's name). A field the extra vars do not give
    is absent, so a run outside AWX gets an empty dict.
    """
    fields: dict[str, t.Any] = {}
    user = next((str(extra_vars[v]) for v in user_vars if extra_vars.get(v)), None)
    schedule = next((str(extra_vars[v]) for v in AWX_SCHEDULE_VARS if extra_vars.get(v)), None)
    if user or schedule:
        fields["initiator"] = user or "schedule:%s" % schedule
    for var in ("awx_job_id", "tower_job_id"):
        value = extra_vars.get(var)
        if isinstance(value, int) and not isinstance(value, bool) or isinstance(value, str) and value.isdigit():
            fields["awx_job_id"] = int(value)
            break
    template = extra_vars.get("awx_job_template_name") or extra_vars.get("tower_job_template_name")
    if template:
        fields["awx_job_template"] = str(template)
    return fields


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def summarize_result(result: t.Mapping[str, t.Any], no_log: bool, tail: int, masker: Masker) -> tuple[str, str | None]:
    """(message, output tail) of one task result, masked; nothing of a no_log result but the fact it ran.

    Every text taken from the result - ``msg``, stdout, stderr, a failure's lines, every string however deep under
    any other key (the ``process`` module's ``log_lines``) - goes through ``masker.scrub``: the text rule of
    module_utils/redact.py (``password X``, ``token=X``, URL passwords...) and the secret values the run knows.
    Texts are masked whole before the output is cut to its last ``tail`` characters, so the cut never leaves a
    secret without the name that gave it away.
    """
    if no_log or result.get("_ansible_no_log") or "censored" in result:
        return NO_LOG_MESSAGE, None
    message = result.get("msg")
    if message is not None and not isinstance(message, str):
        message = "" if message is None else json.dumps(masker.mask(message), default=str, ensure_ascii=False)
    if result.get("failed"):
        # what failed: a command's argv, exit status and last stderr lines, not just "non-zero return code"
        message = describe_failure(dict(result, msg=message))
    if not message and result.get("skip_reason"):
        message = str(result["skip_reason"])
    # Anything else a module returned (debug var=..., a module's own data) is kept as masked JSON; masked first, so
    # the secrets it names are scrubbed from the texts below as well.
    extra = {k: v for k, v in result.items() if k not in _QUIET_KEYS and not k.startswith("_ansible")}
    extra_json = json.dumps(masker.mask(extra), default=str, ensure_ascii=False, sort_keys=True) if extra else None
    parts = []
    for key in ("stdout", "stderr"):
        value = result.get(key)
        if isinstance(value, str) and value:
            value = str(masker.scrub(value))
            parts.append(value if key == "stdout" else "[stderr] " + value)
    loops = result.get("results")
    if isinstance(loops, list):
        item_msgs = []
        for item in loops:
            if isinstance(item, t.Mapping):
                if item.get("_ansible_no_log") or "censored" in item:
                    item_msgs.append(NO_LOG_MESSAGE)
                elif item.get("failed") and item.get("msg"):
                    item_msgs.append(str(item.get("msg")))
                elif isinstance(item.get("stdout"), str) and item.get("stdout"):
                    parts.append(str(masker.scrub(item["stdout"])))
        message = message or "%d item(s)%s" % (len(loops), (": " + "; ".join(item_msgs)) if item_msgs else "")
    if extra_json:
        parts.append(extra_json)
    output = _tail("\n".join(str(p) for p in parts), tail) if parts and tail > 0 else None
    # str(): results may carry str subclasses (Ansible's tagged values); the store gets plain strings.
    return str(masker.scrub(message) or "")[:max(tail, 200)], (str(output) if output else None)


_BUILD_LOGS = re.compile(r"\(logs: ([^,()]*build\.log), ([^,()]*build-error\.log)\)|\(logs: ([^,()]*build-error\.log)\)")


def build_texts(result: t.Mapping[str, t.Any], masker: Masker, limit: int = 4 * 1024 * 1024) -> dict[str, str]:
    """The build logs a result names, read and masked: ``{"build": build.log, "build-error": build-error.log}``.

    ``odin_prepare`` returns their paths under ``build`` (``log``, ``error_log``) when it built from code (the
    playbook's fact ``odin_build`` repeats it where callbacks can see it); a failed
    build names them in its message (``(logs: …/build.log, …/build-error.log)``). A file that cannot be read is left
    out; of a long one the last ``limit`` characters are kept."""
    paths: dict[str, str] = {}
    build = result.get("build")
    if not isinstance(build, t.Mapping):
        # A successful odin_prepare hides its whole result (it holds the template values): deploy.yml records its
        # ``build`` (paths and commit only) as the fact ``odin_build``.
        build = (result.get("ansible_facts") or {}).get("odin_build")
    if isinstance(build, t.Mapping):
        for name, key in (("build", "log"), ("build-error", "error_log")):
            if isinstance(build.get(key), str) and build[key]:
                paths[name] = build[key]
    message = result.get("msg")
    if not paths and isinstance(message, str) and "build" in message:
        found = _BUILD_LOGS.search(message)
        if found:
            log, error_log, only_error = found.groups()
            paths = {"build": log, "build-error": error_log} if log else {"build-error": only_error}
    out = {}
    for name, path in paths.items():
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                size = os.fstat(f.fileno()).st_size
                if size > limit:
                    f.seek(size - limit)
                text = f.read()
        except OSError:
            continue
        out[name] = str(masker.scrub(text))
    return out


class _Host:
    __slots__ = ("name", "failed", "unreachable", "message", "started_at", "ended_at", "any_result", "any_ran",
                 "progress_started", "progress_ran", "progress_done", "skip_flag", "release", "recap", "emitted",
                 "batch_done")

    def __init__(self, name: str) -> None:
        self.name = name
        self.failed = self.unreachable = self.any_result = self.any_ran = False
        self.progress_started = self.progress_ran = self.progress_done = self.skip_flag = False
        self.message: str | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.release: str | None = None
        self.recap: tuple[int, ...] | None = None
        self.emitted: tuple[t.Any, ...] | None = None
        self.batch_done = False


class HostProgress:
    """Per-host progress of a run.

    In a deploy (``deploy`` true: the run names a service, or a progress role such as ``thor`` ran), a host
    moves only with the progress role's tasks: deploying from its first one, success (or skipped, when they
    were all skipped or a task set the fact ``thor_skipped``) when the next task outside the role starts or
    the play ends. In any other playbook every task counts: a host is running from its first result and
    success at the end. Failures and unreachability count in both. A host's release is the last one a result
    reported; its recap is Ansible's count of its results (``recap``).
    """

    def __init__(self, deploy: bool = False) -> None:
        self.deploy = deploy
        self._hosts: dict[str, _Host] = {}
        self.finished = False

    def __contains__(self, name: str) -> bool:
        return name in self._hosts

    def _host(self, name: str) -> _Host:
        h = self._hosts.get(name)
        if h is None:
            h = self._hosts[name] = _Host(name)
        return h

    def add_hosts(self, names: t.Iterable[str]) -> list[dict[str, t.Any]]:
        for name in names:
            self._host(name)
        return self.changed_rows()

    def set_deploy(self) -> list[dict[str, t.Any]]:
        if self.deploy:
            return []
        self.deploy = True
        return self.changed_rows()

    def status_of(self, h: _Host) -> str:
        if h.unreachable:
            return "unreachable"
        if h.failed:
            return "failed"
        if self.deploy:
            if h.progress_done or (self.finished and h.progress_started):
                return "skipped" if h.skip_flag or not h.progress_ran else "success"
            if h.progress_started:
                return "deploying"
            return "pending"
        if (self.finished or h.batch_done) and h.any_result:
            return "success" if h.any_ran else "skipped"
        return "running" if h.any_result else "pending"

    def result(self, host: str, outcome: str, progress: bool, now: float, message: str | None = None,
               release: str | None = None, skip: bool = False, counts: bool = True) -> dict[str, t.Any] | None:
        """Account one task result (outcome: ok, changed, failed, skipped, unreachable); the host's row if it changed.

        ``release`` is the release the host's program path points at now, when the result says so ("" for none;
        None: the result does not say). ``counts`` false (a cancelled batch's task_control failure) leaves the
        host as it was.
        """
        h = self._host(host)
        if not counts:
            return None
        ran = outcome != "skipped"
        if h.started_at is None and ran and (progress or not self.deploy):
            h.started_at = now
        h.any_result = True
        if progress:
            h.progress_started = True
            if ran:
                h.progress_ran = True
        if ran:
            h.any_ran = True
        if skip:
            h.skip_flag = True
        if release is not None:
            h.release = release or None
        if outcome == "failed":
            h.failed, h.message, h.ended_at = True, message, now
        elif outcome == "unreachable":
            h.unreachable, h.message, h.ended_at = True, message, now
        return self._row_if_changed(h)

    def end_progress(self, now: float) -> list[dict[str, t.Any]]:
        """A task outside the progress role starts: hosts whose progress tasks ran are done."""
        rows = []
        for h in self._hosts.values():
            if h.progress_started and not h.progress_done:
                h.progress_done = True
                if h.ended_at is None:
                    h.ended_at = now
                row = self._row_if_changed(h)
                if row:
                    rows.append(row)
        return rows

    def end_batch(self, now: float) -> list[dict[str, t.Any]]:
        """A serial play starts its next batch: the hosts the previous batch worked on are done (in a deploy, the
        progress role's end already said so; in any other run this is when a host is done before the run ends)."""
        rows = self.end_progress(now)
        if self.deploy:
            return rows
        for h in self._hosts.values():
            if h.any_result and not h.batch_done:
                h.batch_done = True
                if h.ended_at is None and not (h.failed or h.unreachable):
                    h.ended_at = now
                row = self._row_if_changed(h)
                if row:
                    rows.append(row)
        return rows

    def finish(self, now: float, completed: bool = True, note: str | None = None) -> list[dict[str, t.Any]]:
        """The run ended: every host gets its final status (hosts never reached stay pending).

        When the run did not complete (interrupted, stopped on an error), hosts caught half-way stay
        ``deploying`` (``running`` when not a deploy) with ``note`` as their message instead of being called a
        success.
        """
        if not completed:
            rows = {}
            for h in self._hosts.values():
                if self.status_of(h) in WORKING:
                    h.message = note
                    row = self._row_if_changed(h)
                    if row:
                        rows[h.name] = row
            return list(rows.values())
        rows = {row["host"]: row for row in self.end_progress(now)}
        self.finished = True
        for h in self._hosts.values():
            if h.any_result and h.ended_at is None:
                h.ended_at = now
        rows.update((row["host"], row) for row in self.changed_rows())
        return list(rows.values())

    def recap(self, stats: t.Mapping[str, t.Mapping[str, int]], processed: t.Iterable[str]) -> list[dict[str, t.Any]]:
        """Each host's recap from Ansible's stats (``stats[name][host]`` for name in ok, changed, failures,
        skipped, dark, rescued, ignored), for the hosts of ``processed`` that are this run's; their changed rows."""
        rows = []
        for name in processed:
            h = self._hosts.get(name)
            if h is None:
                continue
            h.recap = tuple(int((stats.get(_STATS_OF_RECAP[f]) or {}).get(name, 0) or 0) for f in RECAP_FIELDS)
            row = self._row_if_changed(h)
            if row:
                rows.append(row)
        return rows

    def changed_rows(self) -> list[dict[str, t.Any]]:
        return [row for row in (self._row_if_changed(h) for h in self._hosts.values()) if row]

    def _row_if_changed(self, h: _Host) -> dict[str, t.Any] | None:
        last = h.emitted[1] if h.emitted else None
        status = host_transition(last, self.status_of(h), h.name)
        state = (h.name, status, h.started_at, h.ended_at if status != "pending" and status not in WORKING else None,
                 h.release, h.message) + (h.recap or (None,) * len(RECAP_FIELDS))
        if state == h.emitted:
            return None
        h.emitted = state
        return dict(zip(("host", "status", "started_at", "ended_at", "release", "message") + RECAP_FIELDS, state))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self._hosts.values():
            status = h.emitted[1] if h.emitted else self.status_of(h)
            out[status] = out.get(status, 0) + 1
        return out


# Recorders whose writer may be inside the store. Ansible forks a worker per host and task from the playbook's
# thread; a child forked while the writer is in SQLite inherits SQLite's in-process record of the parent's locks
# (and its mutexes), so its own connection (task_control's) finds the write lock "held" forever and fails with
# "database is locked". A fork waits until no recorder is writing.
_WRITING: "weakref.WeakSet[Recorder]" = weakref.WeakSet()
_HELD: list[threading.Lock] = []


def _before_fork() -> None:
    for rec in list(_WRITING):
        rec._io_lock.acquire()
        _HELD.append(rec._io_lock)


def _after_fork() -> None:
    while _HELD:
        _HELD.pop().release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)


class Recorder:
    """Buffers one task's record and writes it from a background thread.

    The playbook thread calls ``update_task``/``host``/``log`` (a dict update or list append under a lock);
    the writer thread flushes every ``flush_interval`` seconds and at ``close``. With ``heartbeat`` (seconds), the
    writer also sets the task's ``heartbeat_at`` that often, so readers elsewhere can tell the run is alive.
    Write failures are kept as the first error text (shown once by the caller), the buffer is kept up to
    ``max_buffer`` log rows, and the task is marked ``incomplete``. A fork of the process waits for a write in
    progress to end.
    """

    def __init__(self, open_store: t.Callable[[], HistoryStore], flush_interval: float = 1.0,
                 max_buffer: int = 200_000, heartbeat: float | None = None) -> None:
        self._open_store = open_store
        self._interval = flush_interval
        self._heartbeat = heartbeat
        self._last_beat = time.monotonic()
        self._max = max_buffer
        self._cond = threading.Condition()
        self._fields: dict[str, t.Any] = {}
        self._create: dict[str, t.Any] | None = None
        self._hosts: dict[str, dict[str, t.Any]] = {}
        self._logs: list[dict[str, t.Any]] = []
        self._texts: dict[str, str] = {}
        self._store: HistoryStore | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._kicked = False
        self._io_lock = threading.Lock()
        self.task_id: int | None = None
        self.incomplete = False
        self.dropped = 0
        self.error: str | None = None
        self.warned = False

    # -- called from the playbook's thread

    def start(self, fields: t.Mapping[str, t.Any]) -> int | None:
        """Create the task now (its id is needed before the first task runs) and start the writer."""
        with self._io_lock:
            try:
                self._store = self._open_store()
                self.task_id = self._store.create_task(**fields)
            except StoreError as e:
                self._failed(e)
                self._create = dict(fields)  # created later, when the store answers again
        _WRITING.add(self)
        self._thread = threading.Thread(target=self._run, name="noops-history-writer", daemon=True)
        self._thread.start()
        return self.task_id

    def update_task(self, **fields: t.Any) -> None:
        with self._cond:
            self._fields.update(fields)

    def host(self, row: t.Mapping[str, t.Any]) -> None:
        with self._cond:
            self._hosts[row["host"]] = dict(row)

    def log(self, row: dict[str, t.Any]) -> None:
        with self._cond:
            if len(self._logs) < self._max:
                self._logs.append(row)
            else:
                self.dropped += 1
                self.incomplete = True

    def text(self, name: str, text: str) -> None:
        """A text to keep with the task (``HistoryStore.put_text``: ``build``, ``build-error``), masked by the
        caller; a later one of the same name replaces it."""
        with self._cond:
            self._texts[name] = text

    def kick(self) -> None:
        """Flush soon rather than at the next interval (a batch ended: operators look at it now)."""
        with self._cond:
            self._kicked = True
            self._cond.notify_all()

    def close(self, fields: t.Mapping[str, t.Any], timeout: float) -> bool:
        """Final fields, last flush, stop the writer; True when everything reached the store."""
        with self._cond:
            self._fields.update(fields)
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._failed(StoreError("history store: still writing after %.0f s; giving up" % timeout))
                return False
        else:
            self.flush()
        with self._io_lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            _WRITING.discard(self)
        with self._cond:
            pending = bool(self._fields or self._hosts or self._logs or self._create)
        return not pending

    # -- the writer

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closing and not self._kicked:
                    self._cond.wait(self._interval)
                self._kicked = False
                closing = self._closing
            self.flush()
            if closing:
                return

    def _failed(self, e: BaseException) -> None:
        self.incomplete = True
        if self.error is None:
            self.error = str(e)

    def flush(self) -> bool:
        with self._cond:
            fields, hosts, logs, texts = self._fields, self._hosts, self._logs, self._texts
            self._fields, self._hosts, self._logs, self._texts = {}, {}, [], {}
            closing = self._closing
        if self._heartbeat and not closing and time.monotonic() - self._last_beat >= self._heartbeat:
            fields.setdefault("heartbeat_at", time.time())
            self._last_beat = time.monotonic()
        if not (fields or hosts or logs or texts or self._create):
            return True
        with self._io_lock:
            try:
                if self._store is None:
                    self._store = self._open_store()
                if self.task_id is None:
                    create = dict(self._create or {})
                    create["incomplete"] = 1
                    self.task_id = self._store.create_task(**create)
                    self._create = None
                if self.incomplete:
                    fields["incomplete"] = 1
                self._store.write_batch(self.task_id, fields, hosts.values(), logs)
                fields, hosts, logs = {}, {}, []
                while texts:
                    name = next(iter(texts))
                    self._store.put_text(self.task_id, name, texts[name])
                    del texts[name]
                return True
            except (StoreError, ValueError) as e:
                self._failed(e)
                if self._store is not None and self._store.engine == "postgresql":
                    self._store.close()  # a broken server connection is reopened on the next try
                    self._store = None
            except Exception as e:  # the callback must never break the run, whatever the driver raises
                self._failed(e)
        # Put the batch back under anything newer that arrived meanwhile.
        with self._cond:
            fields.update(self._fields)
            self._fields = fields
            hosts.update(self._hosts)
            self._hosts = hosts
            texts.update(self._texts)
            self._texts = texts
            room = max(0, self._max - len(self._logs))
            self.dropped += max(0, len(logs) - room)
            self._logs = logs[:room] + self._logs
        return False
