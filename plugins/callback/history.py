# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: history
type: notification
short_description: Record every playbook run as a task in the noops deploy history
description:
  - Records each C(ansible-playbook) run as a task in the history store (SQLite by default, PostgreSQL by DSN) —
    an increasing id, initiator, service, cluster, version, playbook, start and end time, status
    (running, paused, success, failed, cancelled, interrupted), per-host progress (pending, deploying or running,
    success, failed, skipped, unreachable, with start, end, the release and Ansible's recap of the host) and a
    per-host log of task results (task name, changed, message, output tail), plus the masked cluster.yml used.
  - A host's release is what its program path points at, as the fact C(thor_current_release) last reported it
    (role C(noops.platform.thor) sets it when it reads the host, switches and switches back).
  - A host's recap is Ansible's count of its results at the end of the run (ok, changed, unreachable, failed,
    skipped, rescued, ignored), as the PLAY RECAP prints it.
  - Secrets never reach the store; results of C(no_log) tasks are reduced to "output hidden (no_log)"; values of
    keys with a secret name (passwd, password, passphrase, secret, credential, a last word key, token, auth…)
    are masked, and those values are also scrubbed from every message and output tail, as are URL passwords.
  - Never breaks a run. A store that is down or locked gives one warning, the run goes on, the buffered record
    is retried and the task is marked as having an incomplete record. SIGINT/SIGTERM mark it interrupted.
  - Writes happen from a background thread in batches; the playbook's thread only appends to a buffer.
  - The task is created at the first play with the run's identity - controller, pid and start time of the
    C(ansible-playbook) process - by which M(noops.platform.task_control), C(noops deploy) and the console find
    it in the store; nothing is handed through the environment.
  - Run C(noops tasks list|show|log) to read the history and C(noops tasks pause|resume|cancel) to control a run.
version_added: 0.1.0
requirements:
  - psycopg 3 for a PostgreSQL store
options:
  dsn:
    description:
      - Where the history lives - a file path, V(sqlite:///path) or a V(postgresql://) URL.
      - Default V(${XDG_DATA_HOME:-~/.local/share}/noops/history.db).
    type: str
    env:
      - name: NOOPS_HISTORY_DSN
    ini:
      - section: noops_history
        key: dsn
  lock_timeout:
    description: Seconds to wait for a locked store (or to connect) before a write counts as failed.
    type: float
    default: 5.0
    env:
      - name: NOOPS_HISTORY_LOCK_TIMEOUT
    ini:
      - section: noops_history
        key: lock_timeout
  flush_interval:
    description: Seconds between two batched writes while the run goes on (what C(noops tasks show) lags at most).
    type: float
    default: 1.0
    env:
      - name: NOOPS_HISTORY_FLUSH_INTERVAL
    ini:
      - section: noops_history
        key: flush_interval
  output_tail:
    description: Characters of output (stdout, stderr, returned data) kept per result, from the end.
    type: int
    default: 2000
    ini:
      - section: noops_history
        key: output_tail
  progress_roles:
    description:
      - Roles whose tasks move a host through deploying to success in a deploy; other tasks only count when
        they fail. Matched against the role's short name.
    type: list
    elements: str
    default: [thor]
    ini:
      - section: noops_history
        key: progress_roles
  service_var:
    description: Variable (extra var, play var or fact) naming the service - the job tag - of a deploy.
    type: str
    default: odin_service
    ini:
      - section: noops_history
        key: service_var
  cluster_var:
    description: Variable naming the cluster of a deploy.
    type: str
    default: odin_cluster
    ini:
      - section: noops_history
        key: cluster_var
  version_var:
    description: Variable holding the version being deployed.
    type: str
    default: odin_version
    ini:
      - section: noops_history
        key: version_var
  cluster_file_var:
    description: Variable holding the path of the cluster.yml used; its masked text is kept with the task.
    type: str
    default: cluster_file
    ini:
      - section: noops_history
        key: cluster_file_var
  initiator_vars:
    description:
      - Extra vars that name who started the run, first set wins (AWX and Tower pass these); then, for a run AWX
        launched from a schedule, V(schedule:<name>) from C(awx_schedule_name); then the environment variable
        C(NOOPS_USER), then the login name.
      - The AWX job id (C(awx_job_id)) and job template name (C(awx_job_template_name)) are kept on the task too.
    type: list
    elements: str
    default: [awx_user_name, tower_user_name]
    ini:
      - section: noops_history
        key: initiator_vars
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = noops.platform.history
# [noops_history]
# dsn = postgresql://noops@db.example.com/noops

# Or for one run:
#   ANSIBLE_CALLBACKS_ENABLED=noops.platform.history NOOPS_HISTORY_DSN=/srv/noops/history.db ansible-playbook deploy.yml
#   noops tasks list
"""

import atexit
import contextlib
import functools
import getpass
import os
import signal
import time
import typing as t

from ansible.plugins.callback import CallbackBase

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.history.control import (
    HEARTBEAT_INTERVAL, final_status,
)
from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import process_start
from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text
from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
from ansible_collections.noops.platform.plugins.plugin_utils.history.record import (
    HostProgress, Recorder, build_texts, launch_fields, summarize_result,
)
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore, history_dsn

# A result carrying this key (set by noops.platform.task_control) ended the run on an operator's cancel.
CANCEL_MARKER = "noops_cancelled"
# Set by thor whenever the release the host's program path points at changes (read, switch, switch back).
RELEASE_FACT = "thor_current_release"
# Ansible's per-host counters (AggregateStats) kept as each host's recap.
STATS_COUNTS = ("ok", "changed", "failures", "skipped", "dark", "rescued", "ignored")
_CLUSTER_FILE_LIMIT = 256 * 1024
# Names a task is delegated to when it runs on the controller itself.
_CONTROLLER_NAMES = frozenset(("localhost", "127.0.0.1", "::1"))


def _result_data(result: t.Any) -> t.Mapping[str, t.Any]:
    """The result's data as handed to callbacks (already censored for no_log).

    ``result.result`` converts the whole result to native types for every callback separately, which costs
    more than everything else this callback does per result; the few keys read here are plain strings,
    numbers and lists either way, and every string is copied with str() before it is stored.
    """
    data = getattr(result, "_return_data", None)
    return data if isinstance(data, dict) else result.result


def _never_breaks(method: t.Callable[..., None]) -> t.Callable[..., None]:
    """A history bug must never fail a deploy: any error is shown once as a warning and recording stops."""

    @functools.wraps(method)
    def wrapper(self: "CallbackModule", *args: t.Any, **kwargs: t.Any) -> None:
        # After an error only the end of the run is still recorded (status, times, incomplete).
        if self._broken and method.__name__ != "v2_playbook_on_stats":
            return
        try:
            method(self, *args, **kwargs)
        except Exception as e:
            if not self._broken:
                self._broken = True
                self._display.warning("noops history: recording stopped after an internal error in %s: %s: %s"
                                      % (method.__name__, type(e).__name__, e))
            with contextlib.suppress(Exception):
                if self._recorder is not None:
                    self._recorder.incomplete = True

    return wrapper


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "noops.platform.history"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display: t.Any = None) -> None:
        super().__init__(display=display)
        self._pid = os.getpid()
        self._recorder: Recorder | None = None
        self._progress = HostProgress()
        self._masker = Masker()
        self._playbook = ""
        self._done = False
        self._cancelled = False
        self._interrupted: str | None = None
        self._warned = False
        self._task_progress = False
        self._fields: dict[str, t.Any] = {}
        self._previous_handlers: dict[int, t.Any] = {}
        self._broken = False
        self._plays_seen: set[t.Any] = set()
        self._bypass: dict[str, bool] = {}
        self._task_message: str | None = None

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._dsn = history_dsn(self.get_option("dsn"))
        self._lock_timeout = float(self.get_option("lock_timeout"))
        self._flush_interval = float(self.get_option("flush_interval"))
        self._tail = int(self.get_option("output_tail"))
        self._progress_roles = frozenset(r.split(".")[-1] for r in self.get_option("progress_roles") or ())
        self._vars = {
            "service": self.get_option("service_var"),
            "cluster": self.get_option("cluster_var"),
            "version": self.get_option("version_var"),
            "cluster_file": self.get_option("cluster_file_var"),
        }
        self._initiator_vars = list(self.get_option("initiator_vars") or ())

    # -- helpers

    def _open_store(self) -> HistoryStore:
        return HistoryStore(self._dsn, lock_timeout=self._lock_timeout)

    def _warn_once(self) -> None:
        """Show the store's first error once, from the playbook's thread (the writer thread only notes it)."""
        rec = self._recorder
        if rec is not None and rec.error and not self._warned:
            self._warned = True
            if rec.task_id is not None:
                then = "task %d is marked as an incomplete record" % rec.task_id
            else:
                then = "the task is recorded (marked incomplete) if the store answers before the run ends"
            self._display.warning("noops history: %s; the run goes on, %s" % (rec.error, then))

    def _is_progress_task(self, task: t.Any) -> bool:
        role = getattr(task, "_role", None)
        if role is None:
            return False
        try:
            name = role.get_name(include_role_fqcn=False)
        except TypeError:
            name = role.get_name()
        return name.split(".")[-1] in self._progress_roles

    def _on_controller(self, task: t.Any, data: t.Mapping[str, t.Any]) -> bool:
        """Whether a result is the run's own work on the controller rather than work on its host.

        Ansible reports such a result under a host of the play (the first one, or the first of the batch): a
        task run once for the play and delegated to the controller (``run_once`` + ``delegate_to: localhost``),
        or an action that bypasses the host loop (``pause``, ``add_host``, ``noops.platform.task_control``).
        A task delegated to the controller for each host (not ``run_once``) stays that host's.
        """
        if self._bypasses_host_loop(task):
            return True
        if not getattr(task, "run_once", False):
            return False
        delegated = data.get("_ansible_delegated_vars")
        address = delegated.get("ansible_host") if isinstance(delegated, dict) else None
        return str(getattr(task, "delegate_to", None)) in _CONTROLLER_NAMES or str(address) in _CONTROLLER_NAMES

    def _bypasses_host_loop(self, task: t.Any) -> bool:
        action = str(getattr(task, "action", "") or "")
        known = self._bypass.get(action)
        if known is None:
            known = False
            with contextlib.suppress(Exception):
                from ansible.plugins.loader import action_loader
                plugin = action_loader.get(action, class_only=True, collection_list=getattr(task, "collections", None))
                known = bool(getattr(plugin, "BYPASS_HOST_LOOP", False))
            self._bypass[action] = known
        return known

    def _learn_vars(self, data: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
        """Remember secrets in ``data`` and return the recognised task fields it carries."""
        if not data:
            return {}
        self._masker.learn(data)
        found = {}
        for field, var in self._vars.items():
            value = data.get(var)
            if value not in (None, ""):
                found[field] = str(value)
        return found

    def _apply_fields(self, found: t.Mapping[str, t.Any]) -> None:
        changes = {k: v for k, v in found.items() if self._fields.get(k) != v}
        if not changes:
            return
        self._fields.update(changes)
        update = {k: self._masker.scrub(v) for k, v in changes.items() if k in ("service", "cluster", "version")}
        if "cluster_file" in changes:
            update.update(self._read_cluster_file(changes["cluster_file"]))
        if self._recorder is None:
            return
        if "service" in changes:
            for row in self._progress.set_deploy():
                self._recorder.host(row)
        if update:
            self._recorder.update_task(**update)

    def _read_cluster_file(self, path: str) -> dict[str, t.Any]:
        try:
            with open(os.path.expanduser(path), "rb") as f:
                text = f.read(_CLUSTER_FILE_LIMIT).decode("utf-8", errors="replace")
        except OSError:
            return {"cluster_file": path}
        return {"cluster_file": path, "cluster_yml": mask_document_text(text, self._masker)}

    def _initiator(self, extra_vars: t.Mapping[str, t.Any]) -> str:
        launched = launch_fields(extra_vars, self._initiator_vars).get("initiator")
        if launched:
            return launched
        if os.environ.get("NOOPS_USER"):
            return os.environ["NOOPS_USER"]
        try:
            return getpass.getuser()
        except Exception:
            return "uid-%d" % os.getuid()

    # -- signals and exit

    def _install_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous_handlers[signum] = signal.getsignal(signum)
                signal.signal(signum, self._on_signal)
            except (ValueError, OSError):  # not the main thread: leave signals alone
                pass
        atexit.register(self._at_exit)

    def _on_signal(self, signum: int, frame: t.Any) -> None:
        previous = self._previous_handlers.get(signum)
        # Workers are forked from this process and inherit the handler: only the controller records.
        if os.getpid() == self._pid and not self._done:
            self._interrupted = signal.Signals(signum).name
            if signum != signal.SIGINT:
                # SIGTERM ends the process without running atexit: write the record now.
                with contextlib.suppress(Exception):
                    self._finish(None)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL or previous is None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _at_exit(self) -> None:
        if os.getpid() == self._pid and not self._done:
            with contextlib.suppress(Exception):
                self._finish(None)

    def _finish(self, failed: bool | None) -> None:
        rec = self._recorder
        if rec is None or self._done:
            return
        self._done = True
        ended = time.time()
        completed = failed is not None and self._interrupted is None
        if self._interrupted is None and failed is None:
            # No stats: the run stopped on an error (or was interrupted before the handler saw it).
            failed = True
        status = final_status(bool(failed), self._cancelled, self._interrupted is not None)
        for row in self._progress.finish(ended, completed=completed, note="run %s" % status):
            rec.host(row)
        fields: dict[str, t.Any] = {"status": status, "ended_at": ended}
        if rec.incomplete:
            fields["incomplete"] = 1
        rec.close(fields, timeout=self._lock_timeout + 5)
        self._warn_once()

    # -- events

    @_never_breaks
    def v2_playbook_on_start(self, playbook: t.Any) -> None:
        self._playbook = os.path.basename(getattr(playbook, "_file_name", "") or "")

    @_never_breaks
    def v2_playbook_on_play_start(self, play: t.Any) -> None:
        # A serial play starts again for every batch, with the same play: its hosts and variables are read once.
        key = getattr(play, "_uuid", None) or id(play)
        if key in self._plays_seen:
            # The next batch: the hosts of the previous one are done.
            if self._recorder is not None:
                rows = self._progress.end_batch(time.time())
                for row in rows:
                    self._recorder.host(row)
                if rows:
                    self._recorder.kick()
            return
        self._plays_seen.add(key)
        try:
            vm = play.get_variable_manager()
            extra_vars = dict(vm.extra_vars or {}) if vm is not None else {}
            inventory = getattr(vm, "_inventory", None)
            # A serial play starts once per batch with the inventory restricted to that batch: list every
            # host of the play (still within --limit) so hosts of later batches show as pending.
            hosts = inventory.get_hosts(play.hosts, ignore_restrictions=True) if inventory is not None else []
        except Exception:
            extra_vars, hosts = {}, []
        found = self._learn_vars(extra_vars)
        found.update({k: v for k, v in self._learn_vars(play.get_vars() or {}).items() if k not in found})
        # Inventory variables that look secret are scrubbed from output too (db_passwd in host or group vars).
        seen_groups = set()
        for host in hosts:
            self._masker.learn(getattr(host, "vars", None) or {})
            for group in host.get_groups():
                if group.name not in seen_groups:
                    seen_groups.add(group.name)
                    self._masker.learn(getattr(group, "vars", None) or {})
        if any(r.get_name().split(".")[-1] in self._progress_roles for r in play.get_roles()):
            self._progress.set_deploy()
        if "service" in found:
            self._progress.set_deploy()

        if self._recorder is None:
            self._start(extra_vars, found)
        else:
            self._apply_fields(found)
        # A play run once (the controller's checks and summary, written for "all" hosts so that --limit keeps it)
        # does not make its hosts the run's: a host joins with a play on it, or with a result of its own.
        if not getattr(play, "run_once", False):
            for row in self._progress.add_hosts(h.name for h in hosts):
                self._recorder.host(row)
        self._warn_once()

    def _start(self, extra_vars: t.Mapping[str, t.Any], found: t.Mapping[str, t.Any]) -> None:
        self._fields = dict(found)
        fields = {
            "playbook": self._playbook or "(unknown)",
            "initiator": self._masker.scrub(self._initiator(extra_vars)),
            "status": "running",
            "started_at": time.time(),
            "controller": controller_name(),
            "pid": os.getpid(),
            # Readers tell a live run from a killed one by these (noops tasks shows a dead one as interrupted).
            "pid_start": process_start(os.getpid()),
            "heartbeat_at": time.time(),
        }
        fields.update({k: self._masker.scrub(v) for k, v in found.items() if k in ("service", "cluster", "version")})
        fields.update({k: v for k, v in launch_fields(extra_vars).items() if k != "initiator"})
        if found.get("cluster_file"):
            fields.update(self._read_cluster_file(found["cluster_file"]))
        self._recorder = Recorder(self._open_store, flush_interval=self._flush_interval, heartbeat=HEARTBEAT_INTERVAL)
        self._recorder.start(fields)
        self._install_handlers()

    @_never_breaks
    def v2_playbook_on_task_start(self, task: t.Any, is_conditional: bool) -> None:
        progress = self._is_progress_task(task)
        self._task_progress = progress
        if self._recorder is None:
            return
        if progress:
            for row in self._progress.set_deploy():
                self._recorder.host(row)
        else:
            rows = self._progress.end_progress(time.time())
            for row in rows:
                self._recorder.host(row)
            if rows:
                self._recorder.kick()

    @_never_breaks
    def v2_playbook_on_handler_task_start(self, task: t.Any) -> None:
        self.v2_playbook_on_task_start(task, False)

    def _record(self, result: t.Any, outcome: str) -> None:
        rec = self._recorder
        if rec is None:
            return
        if rec.error and not self._warned:
            self._warn_once()
        data = _result_data(result)
        task = result.task
        host = result.host.get_name()
        now = time.time()
        facts = data.get("ansible_facts")
        release, skip = None, False
        if facts:
            self._apply_fields(self._learn_vars(facts))
            if RELEASE_FACT in facts:
                # What the host's program path points at now; "" (or null): no release at all.
                release = str(facts[RELEASE_FACT] or "")
            skip = bool(facts.get("thor_skipped"))
        cancelled = bool(data.get(CANCEL_MARKER))
        if cancelled:
            self._cancelled = True
        no_log = bool(getattr(task, "no_log", False))
        message, output = summarize_result(data, no_log, self._tail, self._masker)
        progress = self._is_progress_task(task)
        for name, text in build_texts(data, self._masker).items():  # a build from code: its logs, kept
            rec.text(name, text)
        if self._on_controller(task, data):
            # The run's own work: logged without a host, and no host moves; its first failure (a refused request,
            # a lock held, the rollout's own end) is the task's message.
            if outcome == "failed" and not cancelled and self._task_message is None:
                self._task_message = message
                rec.update_task(message=message)
            row, host = None, None
        else:
            row = self._progress.result(host, outcome, progress, now, message=message if outcome in (
                "failed", "unreachable") else None, release=release, skip=skip, counts=not cancelled)
        if row:
            rec.host(row)
        rec.log({
            "host": host, "at": now, "task_name": str(self._masker.scrub(result.task_name or task.action)),
            "action": task.action, "status": outcome, "changed": 1 if data.get("changed") else 0,
            "message": message, "output": output,
        })

    @_never_breaks
    def v2_runner_on_ok(self, result: t.Any) -> None:
        self._record(result, "changed" if _result_data(result).get("changed") else "ok")

    @_never_breaks
    def v2_runner_on_failed(self, result: t.Any, ignore_errors: bool = False) -> None:
        self._record(result, "ignored" if ignore_errors else "failed")

    @_never_breaks
    def v2_runner_on_skipped(self, result: t.Any) -> None:
        self._record(result, "skipped")

    @_never_breaks
    def v2_runner_on_unreachable(self, result: t.Any) -> None:
        self._record(result, "unreachable")

    @_never_breaks
    def v2_playbook_on_stats(self, stats: t.Any) -> None:
        if self._recorder is not None:
            counts = {name: dict(getattr(stats, name, None) or {}) for name in STATS_COUNTS}
            for row in self._progress.recap(counts, (stats.processed or {}).keys()):
                self._recorder.host(row)
        failed = any(stats.failures.values()) or any(stats.dark.values())
        self._finish(bool(failed))
