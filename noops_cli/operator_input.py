"""The operator's side of a run: continue or cancel it through the history store (c / a + Enter typed on the
terminal, Ctrl-C), and interrupt or kill ansible-playbook on a second and third Ctrl-C."""

from __future__ import annotations

import getpass
import os
import select
import signal
import sys
import threading
import typing as t

from noops_cli.tracker import RolloutTracker


class Operator:
    """Resume / cancel requests for the run's task, written to the history store as ``noops tasks`` does."""

    def __init__(self, tracker: RolloutTracker, dsn: str, say: t.Callable[[str], None]) -> None:
        self.tracker = tracker
        self.dsn = dsn
        self.say = say
        self.who = os.environ.get("NOOPS_USER") or getpass.getuser()

    def find_task(self) -> int | None:
        """The run's task id: the store's task of this ansible-playbook process (None until it is recorded)."""
        with self.tracker.lock:
            if self.tracker.task_id or not self.tracker.pid:
                return self.tracker.task_id
            pid, pid_start = self.tracker.pid, self.tracker.pid_start
        from ansible_collections.noops.platform.plugins.plugin_utils.history.store import task_of_run

        task_id = task_of_run(pid, self.dsn, pid_start=pid_start)
        if task_id is not None:
            with self.tracker.lock:
                self.tracker.task_id = task_id
        return task_id

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


def stdin_keys(operator: Operator, stop: threading.Event) -> None:
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


def interrupt(count: int, tracker: RolloutTracker, operator: Operator, say: t.Callable[[str], None],
              cancel: dict) -> int:
    """Ctrl-C: 1st cancels before the next batch, 2nd interrupts ansible-playbook (SIGINT), 3rd kills it
    (``cancel["kill"]`` tells ansible-runner). Returns the count of Ctrl-C so far."""
    if count == 1 and operator.find_task() is not None:
        if operator.request("cancel", "Ctrl-C on the noops terminal"):
            say("cancelling: hosts being deployed now finish, no new batch starts (Ctrl-C again to interrupt now)")
            return count
        count = 2
    if count <= 2 and tracker.pid:
        say("interrupting ansible-playbook (Ctrl-C again to kill it)")
        try:
            os.kill(tracker.pid, signal.SIGINT)
        except OSError:
            pass
        return max(count, 2)
    say("killing ansible-playbook")
    cancel["kill"] = True
    return count
