# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name (plugins/action/deploy_lock.py), on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock
short_description: One deploy per service cluster at a time (a lock file on the controller)
description:
  - O(state=acquired) creates the lock of O(name) atomically. When another run holds it, the task fails at
    once with C(deploy of <name> is locked by <user> since <time> (pid N on H)).
  - A lock taken on this controller by a run that has ended is reported as C(left by a dead run (pid N ended));
    O(break=true) then breaks it and takes it. A live run's lock is never broken; a lock taken on another
    controller (shared lock folder) cannot be checked and is broken only with O(break=true).
  - O(state=released) removes the lock when this run holds it; otherwise it changes nothing (idempotent).
  - "Lock files: C(${NOOPS_LOCK_DIR:-${XDG_STATE_HOME:-~/.local/state}/noops/locks}/<hash of name>.json) holding
    the name (as C(key)), user (C(NOOPS_USER) or the login), pid and start time of the ansible-playbook process, host, since,
    task_id (C(NOOPS_TASK_ID)) and playbook."
  - The run is the ansible-playbook process, not the worker that runs the task, so a lock taken in one play
    is released in a later play of the same run, and the C(release_owned_by(pid)) function of
    C(plugin_utils/odin/lock.py) releases what a finished run still holds.
version_added: "0.1.0"
author: noops maintainers (!UNKNOWN)
options:
  name:
    description:
      - The service cluster, as M(noops.platform.odin_prepare) returns it in C(lock_name).
      - Not called C(key) because the history callback masks the values of key-named fields.
    type: str
    required: true
    aliases: [key]
  state:
    description:
      - C(acquired) takes the lock, C(released) gives it back.
    type: str
    choices: [acquired, released]
    default: acquired
  break_lock:
    description:
      - Break a lock left by a dead run (or one from another controller) and take it.
    type: bool
    default: false
    aliases: [break]
  playbook:
    description:
      - Recorded in the lock for whoever finds it held. Defaults to C(playbook_dir).
    type: str
  lock_dir:
    description:
      - Folder of the lock files instead of the default (see the description).
    type: path
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Takes or releases nothing; reports the holder as a warning.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    details: Runs on the controller only; no host is contacted.
    platforms: all
seealso:
  - module: noops.platform.odin_prepare
"""

EXAMPLES = r"""
- name: Take the deploy lock
  noops.platform.deploy_lock:
    name: "{{ odin.lock_name }}"
    state: acquired
    break: "{{ odin_break_lock | default(false) | bool }}"

- name: Release the deploy lock
  noops.platform.deploy_lock:
    name: "{{ odin.lock_name }}"
    state: released
"""

RETURN = r"""
name:
  description: The lock's name (the service cluster).
  returned: always
  type: str
path:
  description: The lock file.
  returned: always
  type: str
pid:
  description: The ansible-playbook process of this run.
  returned: always
  type: int
holder:
  description: The lock's content (this run's after acquiring; the other run's when held or left in place).
  returned: when there is a lock
  type: dict
  sample: {name: "job.dch_service.dch", user: alice, pid: 4242, host: ctl1, since: "2024-05-01T10:00:00+08:00",
           task_id: null, playbook: /srv/noops/playbooks}
stale:
  description: When the lock is held, whether its run has ended.
  returned: when held
  type: bool
broken:
  description: The dead run's lock that was broken.
  returned: when O(break) broke one
  type: dict
"""
