#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: noops.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: process
short_description: Start, stop, restart, reload or nuke supervised processes and report their state (Frigga)
description:
  - Frigga's process page as a module - per host, the status of every supervised process (name, state, pid, start
    time, version, log tail) and the actions start, stop, restart, reload and nuke.
  - Works with the instance of C(god), C(supervisord) or C(systemd) that the C(noops.platform.supervisor) role runs
    for the host's C(noops_root); configs come from M(noops.platform.supervisor_config).
  - Changes something only when the state must change; V(restarted) and V(reloaded) always act.
version_added: "0.1.0"
author: noops maintainers (!UNKNOWN)
options:
  name:
    description:
      - Process name. Without it the module reports every process of the instance, and applies O(state) (except
        V(absent)) to each config found in the instance's config folder.
    type: str
  state:
    description:
      - V(present) loads (or reloads a changed) config into the supervisor - god C(load), supervisord
        C(reread)+C(update), systemd C(daemon-reload)+C(enable). god and supervisord start a newly loaded
        process at once.
      - V(started), V(restarted), V(reloaded) first do what V(present) does.
      - V(stopped) stops the process; god's stop is asynchronous, so the module waits until the process is gone.
      - V(reloaded) sends the reload signal from the config's C(noops-reload-signal) label (default C(HUP)) to a
        running process, and starts a stopped one.
      - V(killed) is Frigga's "nuke" - SIGKILL to the whole process tree (descendants and every process still in
        its group or session), without a graceful stop and without a restart - god C(unmonitor) first; supervisord
        and systemd are told to stop while the tree is frozen with SIGSTOP, so they neither wait nor restart.
      - V(absent) stops the process and removes it from the supervisor (the file stays; remove it with
        M(noops.platform.supervisor_config)).
      - Omitted - only report.
    type: str
    choices: [started, stopped, restarted, reloaded, killed, present, absent]
  log_lines:
    description: Return this many last lines of each reported process's log (its C(noops-log) label, or the journal).
    type: int
    default: 0
  timeout:
    description: Seconds to wait for a process to reach the requested state.
    type: int
    default: 30
  settle:
    description:
      - After O(state=started), O(state=restarted) or O(state=reloaded), the process must have been running with
        the same pid for this many seconds since it started (the health check of a deploy; time the supervisor
        already waited, such as supervisord's C(startsecs), counts); otherwise the task fails with the process's
        state and the last lines of its log.
    type: float
    default: 0
extends_documentation_fragment:
  - noops.platform.supervisor
  - noops.platform.supervisor.instance
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Nothing is started, stopped or signalled; C(changed) tells what would change.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership: [noops.platform.supervisor]
notes:
  - A supervisor instance that is not running is an error naming it (C(god on port 17165 is not running ...)).
seealso:
  - module: noops.platform.supervisor_config
"""

EXAMPLES = r"""
- name: What runs on this host (Frigga's list), with the last 20 log lines each
  noops.platform.process:
    backend: "{{ noops_supervisor }}"
    root: "{{ noops_root | default('') }}"
    log_lines: 20
  register: frigga

- name: Load the new config and restart the service after a deploy; it must stay up for 3 seconds
  noops.platform.process:
    name: dch
    backend: god
    state: restarted
    settle: 3

- name: Nuke a wedged process (SIGKILL its tree, no restart)
  noops.platform.process:
    name: dch
    backend: supervisord
    root: /srv/sim/h1
    state: killed

- name: Start again
  noops.platform.process:
    name: dch
    backend: supervisord
    root: /srv/sim/h1
    state: started
"""

RETURN = r"""
processes:
  description: Every reported process (the named one, or all of the instance), after the action.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Process name., type: str, sample: dch}
    state:
      description: running, starting, stopping, stopped, backoff, fatal, exited, absent or unknown.
      type: str
      sample: running
    raw_state: {description: "The supervisor's own word (god C(up), supervisord C(RUNNING), systemd C(active)).",
                type: str, sample: up}
    pid: {description: "Main pid while running, else null.", type: int, sample: 104881}
    start_time: {description: When the running pid started (local time)., type: str, sample: "2013-08-05 14:32:59"}
    version: {description: Version label of the config file., type: str, sample: "93043"}
    log: {description: Log file from the config label., type: str}
    log_lines: {description: "Last O(log_lines) lines of the log, secrets masked.", type: list, elements: str, returned: when O(log_lines) > 0}
actions:
  description: What was done, in order (C(name:action)).
  returned: always
  type: list
  elements: str
  sample: ["dch:load", "dch:start"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.noops.platform.plugins.module_utils.frigga import (
    Frigga,
    FriggaError,
    open_backend,
    report,
)
from ansible_collections.noops.platform.plugins.module_utils.supervisor import (
    INSTANCE_ARGS,
    INSTANCE_PATH_ARGS,
    SupervisorConfigError,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            state=dict(type="str", choices=["started", "stopped", "restarted", "reloaded", "killed", "present",
                                            "absent"]),
            **INSTANCE_ARGS,
            **INSTANCE_PATH_ARGS,
            log_lines=dict(type="int", default=0),
            timeout=dict(type="int", default=30),
            settle=dict(type="float", default=0),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANGUAGE="C", LC_ALL="C")
    p = module.params
    options = {k: p[k] for k in ("god_port", "supervisord_conf", "conf_dir", "pid_dir", "log_lines", "timeout")}
    frigga = None
    try:
        backend = open_backend(module, p["backend"], p["root"], options)
        if p["name"]:
            names = [p["name"]]
        else:
            if p["state"] == "absent":
                module.fail_json(msg="state=absent needs a name: it would unload every process of %s"
                                     % backend.describe())
            names = sorted(set(backend.configured()) | set(backend.status()))
        frigga = Frigga(module, backend)
        if p["state"]:
            for name in names:
                frigga.apply(name, p["state"])
            if p["settle"] > 0 and p["state"] in ("started", "restarted", "reloaded") and not module.check_mode:
                for name in names:
                    frigga.settle(name, p["settle"])
        processes = report(module, backend, names)
    except SupervisorConfigError as exc:
        module.fail_json(msg=str(exc))
    except FriggaError as exc:
        extra = dict(exc.extra)
        if frigga is not None:
            extra.setdefault("actions", frigga.actions)
        module.fail_json(msg=exc.msg, **extra)
    module.exit_json(changed=bool(frigga.actions), actions=frigga.actions, processes=processes)


if __name__ == "__main__":
    main()
