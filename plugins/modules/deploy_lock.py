# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name (plugins/action/deploy_lock.py), on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock
short_description: One deploy per service cluster at a time (in a PostgreSQL history store or a lock file)
description:
  - Where the lock lives follows the history store (the DSN the C(noops.platform.history) callback uses,
    C(NOOPS_HISTORY_DSN) or C([noops_history] dsn)). With a PostgreSQL store the lock is a row of the store's
    C(noops_locks) table, shared by every controller that uses the store (see below). Otherwise (SQLite, one
    controller) it is a lock file on the controller.
  - O(state=acquired) creates the lock of O(name) atomically. When another run holds it, the task fails at
    once with C(deploy of <name> is locked by <user> since <time> (pid N on H)).
  - A lock taken on this controller by a run that has ended is reported as C(left by a dead run (pid N ended));
    O(break=true) then breaks it and takes it. A live run's lock is never broken; a lock taken on another
    controller (shared lock folder) cannot be checked and is broken only with O(break=true).
  - O(state=released) removes the lock when this run holds it; otherwise it changes nothing (idempotent).
  - "Lock files: C(${NOOPS_LOCK_DIR:-${XDG_STATE_HOME:-~/.local/state}/noops/locks}/<hash of name>.json) holding
    the name (as C(key)), user (C(NOOPS_USER) or the login), pid and start time of the ansible-playbook process, host, since,
    task_id (the run's task in the deploy history, when the history callback records it) and playbook."
  - The run is the ansible-playbook process, not the worker that runs the task, so a lock taken in one play
    is released in a later play of the same run. When the process ends without releasing it (a rollout stopped
    early by a cancel or a failed batch, Ctrl-C, SIGKILL), a small guard process started with the lock releases
    it, with or without the history callback; only a run whose guard is killed too leaves a dead run's lock.
  - "In a PostgreSQL store: the holder is the controller (host name), the ansible-playbook process (pid and start
    time), its task in the history, the user, C(since) and C(heartbeat_at) (the database server's clock). The guard
    renews the heartbeat every O(expiry)/4 seconds while the run lives and releases the lock when it ends. A second
    deploy of the cluster from any controller fails at once with C(deploy of <name> is locked by controller <host>
    (pid N, task T, user U) since <time>, last heartbeat N s ago)."
  - "A holder whose heartbeat is older than its O(expiry) (a killed controller, a lost machine), or whose process
    has ended on this controller, is dead: the next deploy takes its lock over without O(break), and the takeover is
    recorded in the store (C(noops_lock_takeovers): who took it, from whom, when, why; C(noops tasks show) prints it
    on both tasks). A live holder's lock is never taken. When the store cannot be reached the lock cannot be taken
    and the task fails (no deploy without its lock)."
  - O(state=held) confirms, before each batch, that the lock is still this run's and renews its heartbeat. While the
    store cannot be reached it waits, trying again every O(poll) seconds (the next batch waits; O(timeout) ends the
    wait). When another run took the lock over meanwhile, the task fails naming that run, so the rollout stops
    before its next batch. With a lock file it fails when the file is no longer this run's.
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
      - C(acquired) takes the lock, C(held) confirms that this run still holds it, C(released) gives it back.
    type: str
    choices: [acquired, held, released]
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
      - Folder of the lock files instead of the default (see the description). Not used with a PostgreSQL store.
    type: path
  expiry:
    description:
      - With a PostgreSQL store, seconds without a heartbeat after which this run's lock counts as dead and may be
        taken over (at least 2). Make it longer than a controller may be cut off from the store without being dead.
      - Default C(NOOPS_LOCK_EXPIRY), else C([noops_history] lock_expiry) of the ansible.cfg, else 60.
    type: float
  poll:
    description:
      - With O(state=held), seconds between two tries while the store cannot be reached.
    type: float
    default: 2.0
  timeout:
    description:
      - With O(state=held), seconds to wait for an unreachable store before the task fails; 0 waits as long as it
        takes.
    type: float
    default: 0.0
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: The work is done on the controller by the action plugin of the same name.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Takes or releases nothing; reports the holder as a warning.
  diff_mode:
    support: none
  platform:
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

- name: Confirm the deploy lock before a batch
  noops.platform.deploy_lock:
    name: "{{ odin.lock_name }}"
    state: held
  delegate_to: localhost
  run_once: true

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
  returned: when the lock is a file
  type: str
store:
  description: The history store holding the lock, its password masked.
  returned: when the lock is in a PostgreSQL store
  type: str
expiry:
  description: Seconds without a heartbeat after which this run's lock counts as dead.
  returned: when the lock is in a PostgreSQL store
  type: float
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
  description: The dead run's lock that was broken; in a PostgreSQL store, the takeover recorded (C(from_controller),
    C(from_pid), C(from_task_id), C(at), C(reason)...).
  returned: when a dead run's lock was broken or taken over
  type: dict
"""
