# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for noops.platform.deploy_lock (documentation in plugins/modules/deploy_lock.py).

The lock lives on the controller (plugin_utils/odin/lock.py); its holder is the ansible-playbook process.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import (
    LockHeld, acquire, describe, is_stale, lock_file, playbook_pid, read, release,
)

ARGUMENT_SPEC = dict(
    # Not "key": the history callback masks the values of key-named fields, and this one is the service's name.
    name=dict(type="str", required=True, aliases=["key"], no_log=False),
    state=dict(type="str", default="acquired", choices=["acquired", "released"]),
    # "break" is a Python keyword, hence the alias for callers who prefer the plain word.
    break_lock=dict(type="bool", default=False, aliases=["break"]),
    playbook=dict(type="str"),
    lock_dir=dict(type="path"),
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
        result.update(name=key, path=lock_file(key, directory), pid=pid, changed=False)
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
            holder, changed, broken = acquire(key, pid, playbook, args["break_lock"], directory)
        except LockHeld as e:
            result.update(failed=True, msg=str(e), holder=_shown(e.holder), stale=e.stale)
            return result
        except OSError as e:
            result.update(failed=True, msg="cannot take the lock %s: %s" % (result["path"], e))
            return result
        result.update(changed=changed, holder=_shown(holder), broken=_shown(broken))
        if broken:
            result.setdefault("warnings", []).append("broke the lock of a dead run: %s" % describe(key, broken))
        return result


def _shown(holder):
    """The lock file's content as a result shows it: its "key" field (the service) as "name", see ARGUMENT_SPEC."""
    if not isinstance(holder, dict):
        return holder
    shown = dict(holder)
    if "key" in shown:
        shown["name"] = shown.pop("key")
    return shown
