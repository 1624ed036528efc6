# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for noops.platform.deploy_lock (documentation in plugins/modules/deploy_lock.py).

The lock lives in the history store when that is PostgreSQL (plugin_utils/odin/store_lock.py: several controllers),
else in a file on the controller (plugin_utils/odin/lock.py); its holder is the ansible-playbook process.
"""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    HistoryStore, StoreError, history_dsn, redact_dsn, task_of_run,
)
from ansible_collections.noops.platform.plugins.plugin_utils.odin import store_lock
from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import (
    LockHeld, acquire, describe, guard, is_stale, lock_file, playbook_pid, process_start, read, release,
)

display = Display()

ARGUMENT_SPEC = dict(
    # Not "key": the history callback masks the values of key-named fields, and this one is the service's name.
    name=dict(type="str", required=True, aliases=["key"], no_log=False),
    state=dict(type="str", default="acquired", choices=["acquired", "held", "released"]),
    # "break" is a Python keyword, hence the alias for callers who prefer the plain word.
    break_lock=dict(type="bool", default=False, aliases=["break"]),
    playbook=dict(type="str"),
    lock_dir=dict(type="path"),
    expiry=dict(type="float"),
    poll=dict(type="float", default=2.0),
    timeout=dict(type="float", default=0.0),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        key, directory = args["name"], args["lock_dir"]
        if not key.strip():
            result.update(failed=True, msg="name: must not be empty (the service cluster, e.g. its job tag)")
            return result
        pid = playbook_pid()
        try:
            dsn = history_dsn()
            shared = store_lock.in_store(dsn)
        except StoreError as e:
            result.update(failed=True, msg="cannot find the deploy lock of %s: %s" % (key, e))
            return result
        if shared:
            return self._in_store(dsn, key, pid, args, task_vars, result)
        result.update(name=key, path=lock_file(key, directory), pid=pid, changed=False)
        if args["state"] == "held":
            holder = read(key, directory)
            if holder is None or holder.get("pid") != pid or holder.get("host") != controller_name():
                result.update(failed=True, holder=_shown(holder), msg=(
                    "the deploy lock of %s is no longer this run's (%s); the rollout stops before its next batch"
                    % (key, describe(key, holder) if holder else "released or removed")))
            else:
                result["holder"] = _shown(holder)
            return result
        if args["state"] == "released":
            released, holder = release(key, pid, directory)
            result.update(changed=released, holder=_shown(holder))
            if holder is not None:
                result["msg"] = "left in place: %s" % describe(key, holder)
            return result
        if self._task.check_mode:
            # A check run changes nothing and may run beside a deploy; it only reports the holder.
            holder = read(key, directory)
            result["holder"] = _shown(holder)
            if holder is not None:
                result.setdefault("warnings", []).append(describe(key, holder) + (" (dead run)" if is_stale(holder)
                                                                                  else ""))
            return result
        playbook = args["playbook"] or task_vars.get("playbook_dir")
        try:
            # The run's task in the history, when the history callback records one (None otherwise).
            task_id = task_of_run(pid, pid_start=process_start(pid))
            holder, changed, broken = acquire(key, pid, playbook, args["break_lock"], directory, task_id)
        except LockHeld as e:
            result.update(failed=True, msg=str(e), holder=_shown(e.holder), stale=e.stale)
            return result
        except OSError as e:
            result.update(failed=True, msg="cannot take the lock %s: %s" % (result["path"], e))
            return result
        result.update(changed=changed, holder=_shown(holder), broken=_shown(broken))
        if changed:
            # Released by the playbook's last play; the guard releases it if the run ends before that play.
            guard(key, pid, directory)
        if broken:
            result.setdefault("warnings", []).append("broke the lock of a dead run: %s" % describe(key, broken))
        return result

    # -- the lock in a PostgreSQL history store, shared by several controllers

    def _in_store(self, dsn, key, pid, args, task_vars, result):
        try:
            expiry = store_lock.lock_expiry(args["expiry"])
        except ValueError as e:
            result.update(failed=True, msg=str(e))
            return result
        holder = store_lock.new_holder(key, pid, playbook=args["playbook"] or task_vars.get("playbook_dir"),
                                       expiry=expiry)
        result.update(name=key, store=redact_dsn(dsn), pid=pid,
                      changed=False, expiry=expiry)
        state = args["state"]
        if state == "held":
            return self._confirm(dsn, holder, args, result)
        try:
            store = HistoryStore(dsn, lock_timeout=5.0, migrate=state == "acquired")
        except StoreError as e:
            if state == "released":
                display.warning("deploy lock of %s: %s; it is released when its guard reaches the store, or taken "
                                "over once its heartbeat is %g s old" % (key, e, expiry))
                result["msg"] = str(e)
                return result
            result.update(failed=True, msg="cannot take the deploy lock of %s: %s; no deploy without its lock"
                                           % (key, e))
            return result
        try:
            if state == "released":
                result["changed"] = store_lock.release(store, holder)
                if not result["changed"]:
                    current = store_lock.read(store, key)
                    result["holder"] = current
                    if current is not None:
                        result["msg"] = "left in place: %s" % store_lock.describe(current)
                return result
            if self._task.check_mode:
                current = store_lock.read(store, key)
                result["holder"] = current
                if current is not None:
                    result.setdefault("warnings", []).append(store_lock.describe(current))
                return result
            holder["task_id"] = task_of_run(pid, dsn, pid_start=holder["pid_start"])
            row, changed, takeover = store_lock.acquire(store, holder)
        except LockHeld as e:
            result.update(failed=True, msg=str(e), holder=e.holder, stale=False)
            return result
        except StoreError as e:
            result.update(failed=True, msg="cannot take the deploy lock of %s: %s; no deploy without its lock"
                                           % (key, e))
            return result
        finally:
            store.close()
        result.update(changed=changed, holder=row, broken=takeover)
        if changed:
            # Renews the heartbeat while the run lives, releases the lock when it ends without the last play.
            store_lock.guard(dsn, row)
        if takeover:
            result.setdefault("warnings", []).append(
                "took over the deploy lock of %s from controller %s (pid %s, task %s): %s" % (
                    key, takeover["from_controller"], takeover["from_pid"],
                    takeover["from_task_id"] if takeover["from_task_id"] is not None else "-", takeover["reason"]))
        return result

    def _confirm(self, dsn, holder, args, result):
        """Before a batch: the lock must still be this run's. While the store cannot be reached, wait and try
        again (the next batch waits); when another run took the lock over, fail (the rollout stops)."""
        if args["poll"] <= 0:
            result.update(failed=True, msg="poll must be > 0 seconds, got %s" % args["poll"])
            return result
        started = time.monotonic()
        warned = False
        task_id = None
        while True:
            try:
                with HistoryStore(dsn, lock_timeout=max(1.0, min(5.0, args["poll"])), migrate=False) as store:
                    if task_id is None:
                        task_id = _task_of(store, holder)
                    lost = store_lock.confirm(store, holder, task_id)
                    break
            except StoreError as e:
                if not warned:
                    warned = True
                    display.warning("the deploy lock of %s cannot be confirmed: %s; the next batch waits until it is"
                                    % (holder["name"], e))
                if args["timeout"] and time.monotonic() - started >= args["timeout"]:
                    result.update(failed=True, msg="the deploy lock of %s could not be confirmed for %.0f s: %s; the "
                                                   "rollout stops before its next batch" % (holder["name"],
                                                                                            args["timeout"], e))
                    return result
                time.sleep(args["poll"])
        result["waited_seconds"] = round(time.monotonic() - started, 1) if warned else 0.0
        if lost:
            result.update(failed=True, msg="%s; the rollout stops before its next batch" % lost)
            return result
        if warned:
            display.display("the deploy lock of %s is confirmed again after %.0f s"
                            % (holder["name"], result["waited_seconds"]))
        result["msg"] = "the deploy lock of %s is this run's" % holder["name"]
        return result


def _task_of(store, holder):
    try:
        task = store.find_run(holder["controller"], holder["pid"], holder["pid_start"])
    except StoreError:
        return None
    return int(task["id"]) if task else None


def _shown(holder):
    """The lock file's content as a result shows it: its "key" field (the service) as "name", see ARGUMENT_SPEC."""
    if not isinstance(holder, dict):
        return holder
    shown = dict(holder)
    if "key" in shown:
        shown["name"] = shown.pop("key")
    return shown
