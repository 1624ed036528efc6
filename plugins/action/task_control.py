# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of noops.platform.task_control: read the task's control state, hold or stop the run."""

from __future__ import annotations

import getpass
import os
import time
import typing as t

from ansible.errors import AnsiblePromptInterrupt, AnsiblePromptNoninteractive
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.noops.platform.plugins.plugin_utils.history.control import ControlError, decide
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    DSN_ENV, HistoryStore, StoreError, resolve_dsn,
)

display = Display()

TASK_ID_ENV = "NOOPS_TASK_ID"

ARGUMENT_SPEC = dict(
    task_id=dict(type="int"),
    dsn=dict(type="str", no_log=True),
    pause=dict(type="bool", default=False),
    reason=dict(type="str"),
    wait=dict(type="bool", default=True),
    poll=dict(type="float", default=2.0),
    timeout=dict(type="float", default=0.0),
    pause_prompt=dict(type="bool", default=False),
)


class ActionModule(ActionBase):
    # Once per batch, whatever the number of hosts in it, and on the controller.
    BYPASS_HOST_LOOP = True
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result.update(changed=False, paused_seconds=0.0)

        task_id = args["task_id"]
        if task_id is None and os.environ.get(TASK_ID_ENV, "").isdigit():
            task_id = int(os.environ[TASK_ID_ENV])
        result["task_id"] = task_id
        if task_id is None:
            display.warning("noops.platform.task_control: no task on record (is the noops.platform.history "
                            "callback enabled?); the run goes on without pause/cancel control")
            result["msg"] = "no task on record"
            return result
        if args["poll"] <= 0:
            result.update(failed=True, msg="poll must be > 0 seconds, got %s" % args["poll"])
            return result

        dsn = resolve_dsn(args["dsn"] or os.environ.get(DSN_ENV))
        try:
            store = HistoryStore(dsn, lock_timeout=min(10.0, max(1.0, args["poll"])))
        except StoreError as e:
            display.warning("noops.platform.task_control: %s; the run goes on without pause/cancel control" % e)
            result["msg"] = str(e)
            return result
        try:
            return self._control(store, task_id, args, result)
        finally:
            store.close()

    def _control(self, store: HistoryStore, task_id: int, args: dict[str, t.Any],
                 result: dict[str, t.Any]) -> dict[str, t.Any]:
        try:
            if args["pause"] and not self._task.check_mode:
                try:
                    store.request_control(task_id, "pause", by="pause_step", reason=args["reason"])
                except ControlError:
                    pass  # already cancelled or ended: decide() below says what to do
            task = store.get_task(task_id)
        except (StoreError, KeyError) as e:
            display.warning("noops.platform.task_control: task %s: %s; the run goes on" % (task_id, e))
            result["msg"] = str(e)
            return result
        if task is None:
            display.warning("noops.platform.task_control: task %s is not in the history store %s; the run goes on"
                            % (task_id, store.name))
            result["msg"] = "task %s not found" % task_id
            return result

        started = time.monotonic()
        held = False
        prompt = args["pause_prompt"]
        while True:
            decision = decide(task)
            result["control"] = task.get("control")
            if decision.action == "cancel":
                result.update(failed=True, msg=decision.message, noops_cancelled=True,
                              paused_seconds=round(time.monotonic() - started, 1) if held else 0.0)
                return result
            if decision.action == "continue":
                if held:
                    self._set_status(store, task_id, "running")
                    result.update(paused_seconds=round(time.monotonic() - started, 1),
                                  resumed_by=task.get("control_by"))
                    result["msg"] = "task %s resumed by %s" % (task_id, task.get("control_by") or "unknown")
                else:
                    result["msg"] = decision.message
                return result
            # decision.action == "wait"
            if not args["wait"]:
                result.update(msg=decision.message, paused=True)
                return result
            if not held:
                held = True
                self._set_status(store, task_id, "paused")
                display.display("%s — continue with: noops tasks resume %s   stop with: noops tasks cancel %s"
                                % (decision.message, task_id, task_id))
            if args["timeout"] and time.monotonic() - started >= args["timeout"]:
                self._set_status(store, task_id, "running")
                result.update(failed=True, paused_seconds=round(time.monotonic() - started, 1),
                              msg="task %s still paused after %.0f s (timeout)" % (task_id, args["timeout"]))
                return result
            if prompt:
                prompt = self._prompt(store, task_id, args["poll"])
            else:
                time.sleep(args["poll"])
            try:
                task = store.get_task(task_id) or task
            except StoreError as e:
                # Holding on: going on by itself while an operator asked for a pause would be worse.
                display.warning("noops.platform.task_control: %s; still paused, retrying" % e)

    def _set_status(self, store: HistoryStore, task_id: int, status: str) -> None:
        if self._task.check_mode:
            return
        try:
            store.set_status(task_id, status)
        except StoreError as e:
            display.warning("noops.platform.task_control: %s" % e)

    def _prompt(self, store: HistoryStore, task_id: int, poll: float) -> bool:
        """Wait up to ``poll`` seconds for a key; returns False once we know there is no terminal."""
        who = os.environ.get("NOOPS_USER") or getpass.getuser()
        try:
            # Keys typed before the poll interval ends are returned either way (Enter or time out), so 'c' is
            # read from what was typed rather than used as the completing key, which would be indistinguishable
            # from a time-out.
            key = display.prompt_until("task %s paused: type 'c' (Enter) to continue, 'a' to cancel" % task_id,
                                       seconds=max(1, int(poll)), interrupt_input=(b"a",),
                                       complete_input=(b"\r", b"\n"))
        except AnsiblePromptNoninteractive:
            time.sleep(poll)
            return False
        except AnsiblePromptInterrupt:
            action = "cancel"
        else:
            action = "resume" if key and b"c" in key.lower() else None
        if action:
            try:
                store.request_control(task_id, action, by=who, reason="from the run's terminal")
            except (ControlError, StoreError) as e:
                display.warning("noops.platform.task_control: %s" % e)
        return True
