# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""States of a recorded task and of its hosts, and the rules for moving between them.

A task has two fields that must not be confused:

* ``status`` is what the run reports: running, paused, success, failed, cancelled, interrupted.
* ``control`` is what an operator asked for: ``run``, ``pause`` or ``cancel``. The rollout reads it between
  batches (``noops.platform.task_control``): ``pause`` holds the run and turns the status to paused,
  ``run`` lets it go on, ``cancel`` ends it before the next batch.

A ``pause_step`` pause is the same state: the rollout sets ``control`` to ``pause`` itself, so the run is
continued with ``noops tasks resume`` from any terminal, or under AWX where no terminal exists.
"""

from __future__ import annotations

import logging
import time
import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import pid_alive

TASK_STATUSES = ("running", "paused", "success", "failed", "cancelled", "interrupted")
ACTIVE_STATUSES = frozenset(("running", "paused"))
FINAL_STATUSES = frozenset(TASK_STATUSES) - ACTIVE_STATUSES
CONTROL_ACTIONS = {"pause": "pause", "resume": "run", "cancel": "cancel"}

# A live run writes a heartbeat (heartbeat_at) this often, in seconds; a run on another host whose heartbeat is
# older than HEARTBEAT_STALE seconds is taken as gone (a killed controller, a lost machine).
HEARTBEAT_INTERVAL = 10.0
HEARTBEAT_STALE = 120.0

# deploying: a deploy's progress role works on the host; running: a run that is not a deploy (control.yml, any
# playbook) works on it.
HOST_STATUSES = ("pending", "deploying", "running", "success", "failed", "skipped", "unreachable")
FINAL_HOST_STATUSES = frozenset(("success", "failed", "skipped", "unreachable"))

# Which host status may follow which: the one table the recorder (history.record.HostProgress) and every reader
# of the store (the CLI's tracker, the console) move hosts by. A host that failed or was unreachable stays so: a
# later task cannot turn a failure into success. A success may still become failed (a check after the deploy
# failed on that host).
HOST_TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset(("deploying", "running", "success", "failed", "skipped", "unreachable")),
    "deploying": frozenset(("success", "failed", "skipped", "unreachable")),
    # A run that learns it is a deploy after its first results (the service from a fact) moves on to deploying.
    "running": frozenset(("deploying", "success", "failed", "skipped", "unreachable")),
    "success": frozenset(("failed", "unreachable")),
    "skipped": frozenset(("deploying", "failed", "unreachable")),
    "failed": frozenset(),
    "unreachable": frozenset(),
}


class ControlError(ValueError):
    """A control request that does not fit the task's state (the message says why)."""


_log = logging.getLogger("noops.history")


def host_transition(current: str | None, new: str, host: str | None = None) -> str:
    """The host status after an event that suggests ``new`` (``HOST_TRANSITIONS``); a move the table does not
    allow keeps ``current`` and is logged (logger ``noops.history``, debug level, naming ``host``).

    Raises ValueError for a status that is not one of HOST_STATUSES.
    """
    if new not in HOST_STATUSES:
        raise ValueError("unknown host status %r (one of %s)" % (new, ", ".join(HOST_STATUSES)))
    if current is None or current == new:
        return new
    if new in HOST_TRANSITIONS.get(current, frozenset()):
        return new
    _log.debug("host %s: %s -> %s refused (not an allowed host transition)", host or "?", current, new)
    return current


def control_request(task_id: int, status: str, control: str, action: str) -> str:
    """The new ``control`` value for an operator's ``action`` (pause, resume, cancel) on a task.

    Raises ControlError when the request makes no sense, e.g. pausing a finished task or resuming one
    that is neither paused nor asked to pause.
    """
    if action not in CONTROL_ACTIONS:
        raise ControlError("unknown action %r (one of %s)" % (action, ", ".join(CONTROL_ACTIONS)))
    if status in FINAL_STATUSES:
        raise ControlError("task %d already ended (%s): nothing to %s" % (task_id, status, action))
    if control == "cancel":
        raise ControlError("task %d is being cancelled: it ends before its next batch" % task_id)
    if action == "resume" and status != "paused" and control != "pause":
        raise ControlError("task %d is %s and not paused: nothing to resume" % (task_id, status))
    return CONTROL_ACTIONS[action]


def controller_gone(task: t.Mapping[str, t.Any], hostname: str | None = None, now: float | None = None,
                    alive: t.Callable[[int, str | None], bool] = pid_alive,
                    stale_after: float = HEARTBEAT_STALE) -> str | None:
    """Why the controller of a running or paused task is gone, or None when it is alive or cannot be judged.

    On the controller's own host (``controller`` equals ``hostname``, default this host) the run is alive while
    its process ``pid`` is, with the same start time (``pid_start``, so a reused pid does not count). From another
    host only the heartbeat tells: older than ``stale_after`` seconds is gone; a record without one (written by
    an older noops) cannot be judged.
    """
    hostname = controller_name() if hostname is None else hostname
    controller, pid = task.get("controller"), task.get("pid")
    if controller and controller == hostname and isinstance(pid, int) and pid > 0:
        if alive(pid, task.get("pid_start") or None):
            return None
        return "its controller (pid %d on %s) has ended" % (pid, controller)
    beat = task.get("heartbeat_at")
    if beat is None:
        return None
    age = (time.time() if now is None else now) - float(beat)
    if age > stale_after:
        return "no heartbeat from its controller (pid %s on %s) for %d s" % (pid or "?", controller or "?", age)
    return None


def shown_status(task: t.Mapping[str, t.Any], **kwargs: t.Any) -> tuple[str, str | None]:
    """(status, why) as readers show a task: a running or paused task whose controller is gone is interrupted."""
    status = str(task.get("status") or "")
    if status in ACTIVE_STATUSES:
        gone = controller_gone(task, **kwargs)
        if gone:
            return "interrupted", gone
    return status, None


def final_status(failed: bool, cancelled: bool, interrupted: bool) -> str:
    """The status a run ends with; an interruption or a cancel outranks host failures."""
    if interrupted:
        return "interrupted"
    if cancelled:
        return "cancelled"
    return "failed" if failed else "success"


class Decision(t.NamedTuple):
    """What the rollout does at a batch boundary: go on, hold, or stop."""

    action: str  # "continue", "wait", "cancel"
    message: str


def decide(task: t.Mapping[str, t.Any]) -> Decision:
    """The rollout's decision from the task's current row (status, control, control_by, control_at, control_reason):
    its message is "task ID cancelled|paused by USER at TIME[: REASON]"."""
    control = task.get("control") or "run"
    reason = task.get("control_reason")
    if control == "cancel":
        return Decision("cancel", "task %s cancelled by %s at %s%s" % (
            task.get("id"), task.get("control_by") or "unknown", format_time(task.get("control_at")),
            (": %s" % reason) if reason else ""))
    if control == "pause":
        return Decision("wait", "task %s paused by %s at %s%s" % (
            task.get("id"), task.get("control_by") or "unknown", format_time(task.get("control_at")),
            (": %s" % reason) if reason else ""))
    return Decision("continue", "task %s running" % task.get("id"))


def format_time(epoch: float | None) -> str:
    """Local wall-clock time of an epoch timestamp, as the task list shows it."""
    if epoch is None:
        return "-"
    import time as _time

    return _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(float(epoch)))
