#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin of the same name (plugins/action/task_control.py);
# this file carries the documentation, as ansible.builtin.pause does.

from __future__ import annotations

DOCUMENTATION = r"""
module: task_control
short_description: Honour pause, resume and cancel of the recorded task between deploy batches
version_added: 0.1.0
description:
  - Runs on the controller, once per batch (it bypasses the host loop, like M(ansible.builtin.pause)).
  - Reads the control state of the current task in the noops history store, as set by
    C(noops tasks pause|resume|cancel ID) from any terminal.
  - C(pause) holds the run here, polling every O(poll) seconds until the task is resumed or cancelled; the
    task's status reads C(paused) meanwhile.
  - C(cancel) fails the batch with "task ID cancelled by USER at TIME" and the history callback records the
    task as C(cancelled); hosts already done are left as they are.
  - With O(pause=true) it is a C(pause_step) pause - it sets the task to paused itself, then waits the same way,
    so it can be continued from another terminal or under AWX where no terminal exists.
  - The task is the one the C(noops.platform.history) callback records for this run, found in the store by the
    run's C(ansible-playbook) process (controller, pid and its start time); it is returned as RV(task_id). The
    store is the callback's (C(NOOPS_HISTORY_DSN), else C([noops_history] dsn) in ansible.cfg, else the default).
    Without a task (callback not enabled) it warns and lets the run go on; a store that cannot be read before any
    pause also only warns - control must never break a deploy.
options:
  task_id:
    description: The task to control. Default the run's own task (the one recorded for this ansible-playbook process).
    type: int
  dsn:
    description:
      - The history store. Default the one the callback uses (C(NOOPS_HISTORY_DSN), else C([noops_history] dsn) of
        ansible.cfg).
    type: str
  pause:
    description: Pause here (a C(pause_step) pause) and wait for C(noops tasks resume) or C(cancel).
    type: bool
    default: false
  reason:
    description: Why the run pauses, shown by C(noops tasks show) (with O(pause=true)).
    type: str
  wait:
    description:
      - Hold while the task is paused. With V(false) it only reports the state (and still fails on cancel).
    type: bool
    default: true
  poll:
    description: Seconds between two reads of the control state while paused.
    type: float
    default: 2.0
  timeout:
    description: Fail when still paused after this many seconds; V(0) waits for ever.
    type: float
    default: 0
  pause_prompt:
    description:
      - When the controller has a terminal, also offer a prompt while paused - C(c) continues (as C(noops tasks
        resume)), C(a) cancels. Without a terminal (AWX, CI) it waits for the store alone.
    type: bool
    default: false
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
    support: full
  check_mode:
    support: full
    details: In check mode a O(pause=true) pause is not written; an operator's pause and cancel are honoured.
  diff_mode:
    support: none
  platform:
    details: Runs on the controller only; the hosts of the batch are not contacted.
    platforms: all
author:
  - noops maintainers (!UNKNOWN)
seealso:
  - plugin: noops.platform.history
    plugin_type: callback
  - module: ansible.builtin.pause
"""

EXAMPLES = r"""
- name: Roll out in batches; the operator may pause, resume or cancel between them
  hosts: service_dch
  serial: 2
  tasks:
    - name: Honour pause/cancel before this batch
      noops.platform.task_control:
        poll: 2

    - name: Deploy the batch
      ansible.builtin.include_role:
        name: noops.platform.thor

    - name: Pause after every batch (pause_step 1), until "noops tasks resume"
      noops.platform.task_control:
        pause: true
        reason: "pause_step: check the batch before going on"
        pause_prompt: true
"""

RETURN = r"""
task_id:
  description: The task controlled (null when no task is on record).
  returned: always
  type: int
  sample: 8220
control:
  description: The control state read last (run, pause or cancel).
  returned: when a task is on record
  type: str
  sample: run
paused_seconds:
  description: How long the run was held here.
  returned: always
  type: float
  sample: 42.5
resumed_by:
  description: Who resumed the run, when it was held.
  returned: when the run was held and resumed
  type: str
  sample: shiyan_cc
noops_cancelled:
  description: True when the task was cancelled; the history callback records the task as cancelled.
  returned: when cancelled
  type: bool
  sample: true
"""
