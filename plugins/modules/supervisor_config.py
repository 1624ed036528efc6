#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: noops.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: supervisor_config
short_description: Write one process's supervisor config (god watch, supervisord program or systemd unit)
description:
  - Renders the config that keeps one program running under C(god), C(supervisord) or C(systemd) - the GOD
    file of the original platform - and writes it atomically, after checking that the supervisor can read it.
  - Every file starts with C(# noops-*) label lines (name, version, log, reload signal, crash-loop rule) that
    M(noops.platform.process) reads back; the version is also exported to the program as C(NOOPS_VERSION).
  - The crash-loop rule (default 3 restarts within 10 minutes, then stop and notify) becomes god's
    C(:flapping) lifecycle condition moving the watch to C(:unmonitored); supervisord's C(startretries) plus the
    noops event listener that the C(noops.platform.supervisor) role installs; systemd's C(StartLimitBurst) and
    C(StartLimitIntervalSec) with C(OnFailure=).
  - A god file also carries a short patch of god's driver so that the flapping rule's transition runs before the
    next process check; without it god 0.13 can lose the transition and restart a crashing program 3 more times.
  - Writing the file does not load it; use M(noops.platform.process) with O(noops.platform.process#module:state=present)
    (or V(started), V(restarted)) for that.
  - See C(docs/supervisors.md) in the collection for the file layout of each supervisor instance.
version_added: "0.1.0"
author: noops maintainers (!UNKNOWN)
extends_documentation_fragment:
  - noops.platform.supervisor
  - ansible.builtin.files
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: The file is rendered and compared; nothing is written.
  diff_mode:
    support: full
  platform:
    platforms: posix
  action_group:
    support: full
    membership: [noops.platform.supervisor]
options:
  name:
    description:
      - Process name; the god watch, supervisord program or systemd unit (without C(.service)) name.
      - Letters, digits and C(_ . @ -), starting with a letter or digit.
    type: str
    required: true
  command:
    description:
      - Command line that starts the program in the foreground (C(mod_start) in a GOD file).
      - A line with shell characters runs through C(/bin/sh -c), as god does, in every backend.
      - Required when O(state=present).
    type: str
  dest:
    description:
      - Where to write the file.
      - Defaults to C(<root>/etc/noops/supervisor/<backend>/conf.d/<name>.god|.conf), which the instance started by
        the C(noops.platform.supervisor) role loads, or C(/etc/systemd/system/<name>.service).
    type: path
  state:
    description: V(absent) removes the file (unload the process first with M(noops.platform.process)).
    type: str
    choices: [present, absent]
    default: present
  version:
    description: Release version, written as a label, into C(NOOPS_VERSION) and (systemd) C(X-Noops-Version=).
    type: str
    default: ""
  stop_command:
    description:
      - Command that stops the program (C(mod_stop)); god then waits O(stop_timeout) and kills what is left.
      - Without it the supervisor sends O(stop_signal) to the process group.
      - supervisord has no stop command; it keeps this as a label and warns.
    type: str
    default: ""
  stop_signal:
    description: Signal that stops the program when there is no O(stop_command).
    type: str
    default: TERM
    choices: [HUP, INT, QUIT, KILL, USR1, USR2, TERM]
  reload_signal:
    description: Signal that makes the program reload its config (M(noops.platform.process) V(reloaded)).
    type: str
    default: HUP
    choices: [HUP, INT, QUIT, USR1, USR2, TERM, WINCH, CONT]
  directory:
    description: Working folder of the program.
    type: path
  user:
    description: User the program runs as (the supervisor must run as root to switch).
    type: str
  group:
    description: Group the program runs as (supervisord takes the user's primary group).
    type: str
  environment:
    description: Extra environment variables.
    type: dict
    default: {}
  stdout_log:
    description:
      - File for the program's output.
      - Defaults to C(<root>/var/log/noops/<backend>/<name>.log) for god and supervisord; the journal for systemd.
    type: path
  stderr_log:
    description: File for the program's error output; defaults to O(stdout_log).
    type: path
  stop_timeout:
    description: Seconds to wait after the stop before killing the process.
    type: int
    default: 10
  restart:
    description:
      - V(always) restarts after every exit, V(on-failure) only after a crash or a non-zero exit.
      - god cannot see exit codes and treats V(on-failure) like V(always).
    type: str
    default: always
    choices: [always, on-failure]
  crash_times:
    description: Crash-loop rule - this many (re)starts ...
    type: int
    default: 3
  crash_within:
    description: ... within this many seconds stop the process instead of restarting it again.
    type: int
    default: 600
  notify:
    description:
      - Whom to tell when the crash-loop rule stops the process.
      - god - a contact or contact group name (C(c.notify)), defined in any C(*.god) file of the instance.
      - supervisord - a shell command run by the noops listener with C(NOOPS_PROCESS) and C(NOOPS_EVENT) set.
      - systemd - a unit for C(OnFailure=).
    type: str
    default: ""
  memory_max:
    description:
      - Memory limit such as V(512M) or V(2G).
      - god restarts the process when its resident memory stays above it (3 of 5 checks); systemd sets
        C(MemoryMax=); supervisord starts the program under C(prlimit --as), an address-space limit (allocations
        fail above it), which is coarser than resident memory.
    type: str
  cpu_max:
    description:
      - CPU limit in percent of one core.
      - god restarts the process after 5 checks above it; systemd sets C(CPUQuota=); supervisord cannot enforce it.
    type: int
  interval:
    description: Seconds between god's process checks; supervisord's C(startsecs) (at most 10) unless O(start_seconds).
    type: int
    default: 5
  start_seconds:
    description:
      - supervisord's C(startsecs) - the program counts as started once it stayed up this long, and quicker exits
        count against the crash-loop rule; default the smaller of O(interval) and 10. God and systemd have no
        such setting.
    type: int
  god_shim:
    description:
      - Put the Ruby 3 compatibility shim for god 0.13 at the top of a god file.
      - V(auto) adds it when C(ruby) is 3 or newer and god's C(/proc) poller calls C(Kernel#timeout)
        (and when that cannot be checked, since the shim is harmless).
    type: str
    default: auto
    choices: [auto, always, never]
  validate:
    description:
      - Check the new file before it replaces the old one - C(ruby -c) for god, supervisor's own config parser
        for supervisord, C(systemd-analyze verify) for systemd. A missing checker is a warning, not a failure.
    type: bool
    default: true
  supervisord_python:
    description:
      - Python that has the C(supervisor) package, for validating supervisord files.
      - By default the interpreter named in the C(supervisord) script found on C(PATH) or in
        C(/opt/noops/supervisor/bin).
    type: path
  backup:
    description: Keep a timestamped copy of the file being replaced.
    type: bool
    default: false
seealso:
  - module: noops.platform.process
"""

EXAMPLES = r"""
- name: God watch for a database-change-handler (3 restarts in 10 min -> stop, tell proc_down)
  noops.platform.supervisor_config:
    name: database-change-handler_production-sd
    backend: god
    command: sh /home/work/database-change-handler/bin/DbEventListener.sh -r
    directory: /home/work/database-change-handler
    user: root
    group: root
    stdout_log: /data/soft/database-change/logs/database-change.log
    stop_timeout: 300
    version: "139594"
    notify: proc_down

- name: Same program under this host's supervisord instance, with a memory cap
  noops.platform.supervisor_config:
    name: dch
    backend: "{{ noops_supervisor }}"
    root: "{{ noops_root | default('') }}"
    command: "{{ noops_path }}/bin/run.sh"
    version: "{{ version }}"
    memory_max: 512M
    environment:
      JAVA_OPTS: -Xmx256m
  register: dch_config

- name: systemd unit that starts a notifier unit when the crash-loop rule trips
  noops.platform.supervisor_config:
    name: dch
    backend: systemd
    command: /home/work/dch/bin/run.sh
    stop_command: /home/work/dch/bin/stop.sh
    notify: noops-notify@dch.service
    cpu_max: 150
"""

RETURN = r"""
dest:
  description: Path of the config file.
  returned: always
  type: str
  sample: /srv/h1/etc/noops/supervisor/god/conf.d/dch.god
name:
  description: Process name.
  returned: always
  type: str
backend:
  description: Backend the file is written for.
  returned: always
  type: str
version:
  description: Version label written into the file.
  returned: always
  type: str
content:
  description: The rendered file.
  returned: when O(state=present)
  type: str
god_shim:
  description: Whether the god file carries the Ruby 3 shim.
  returned: when O(backend=god) and O(state=present)
  type: bool
validated_by:
  description: The check the new file passed, or why none ran.
  returned: when the file changed
  type: str
  sample: ruby -c
backup_file:
  description: Copy of the replaced file.
  returned: when O(backup=true) and the file changed
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.noops.platform.plugins.module_utils.supervisor import (
    EXTENSIONS,
    INSTANCE_ARGS,
    ConfigCheckError,
    ProcessSpec,
    SupervisorConfigError,
    config_backend,
    config_path,
    instance_layout,
    parse_size,
    render,
    warnings_for,
)


def build_spec(module, backend, shim):
    p = module.params
    stdout_log = p["stdout_log"] or backend.default_stdout_log(instance_layout(p["root"], p["backend"]), p["name"])
    return ProcessSpec(
        name=p["name"], command=p["command"] or "", backend=p["backend"], version=p["version"],
        stop_command=p["stop_command"], stop_signal=p["stop_signal"], reload_signal=p["reload_signal"],
        directory=p["directory"] or "", user=p["user"] or "", group=p["group"] or "",
        environment={str(k): str(v) for k, v in p["environment"].items()},
        stdout_log=stdout_log, stderr_log=p["stderr_log"] or "", stop_timeout=p["stop_timeout"],
        restart=p["restart"], crash_times=p["crash_times"], crash_within=p["crash_within"], notify=p["notify"],
        memory_max=parse_size(p["memory_max"]), cpu_max=p["cpu_max"] or 0, interval=p["interval"], god_shim=shim,
        start_seconds=p["start_seconds"])


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            **INSTANCE_ARGS,
            command=dict(type="str"),
            dest=dict(type="path"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            version=dict(type="str", default=""),
            stop_command=dict(type="str", default=""),
            stop_signal=dict(type="str", default="TERM", choices=["HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM"]),
            reload_signal=dict(type="str", default="HUP",
                               choices=["HUP", "INT", "QUIT", "USR1", "USR2", "TERM", "WINCH", "CONT"]),
            directory=dict(type="path"),
            user=dict(type="str"),
            group=dict(type="str"),
            environment=dict(type="dict", default={}),
            stdout_log=dict(type="path"),
            stderr_log=dict(type="path"),
            stop_timeout=dict(type="int", default=10),
            restart=dict(type="str", default="always", choices=["always", "on-failure"]),
            crash_times=dict(type="int", default=3),
            crash_within=dict(type="int", default=600),
            notify=dict(type="str", default=""),
            memory_max=dict(type="str"),
            cpu_max=dict(type="int"),
            interval=dict(type="int", default=5),
            start_seconds=dict(type="int"),
            god_shim=dict(type="str", default="auto", choices=["auto", "always", "never"]),
            validate=dict(type="bool", default=True),
            supervisord_python=dict(type="path"),
            backup=dict(type="bool", default=False),
        ),
        required_if=[("state", "present", ["command"])],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANGUAGE="C", LC_ALL="C")
    p = module.params
    try:
        dest = p["dest"] or config_path(p["root"], p["backend"], p["name"])
    except SupervisorConfigError as exc:
        module.fail_json(msg=to_native(exc))
    result = dict(changed=False, dest=dest, name=p["name"], backend=p["backend"], version=p["version"])
    before = read_text(dest)

    if p["state"] == "absent":
        if before is not None:
            result["changed"] = True
            if module._diff:
                result["diff"] = dict(before=before, after="", before_header=dest, after_header="(absent)")
            if not module.check_mode:
                if p["backup"]:
                    result["backup_file"] = module.backup_local(dest)
                os.unlink(dest)
        module.exit_json(**result)

    backend = config_backend(module, p["backend"], p["supervisord_python"])
    shim, reason = backend.god_shim(p["god_shim"])
    module.debug("god_shim %s: %s (%s)" % (p["god_shim"], shim, reason))
    try:
        spec = build_spec(module, backend, shim)
        content = render(spec)
    except SupervisorConfigError as exc:
        module.fail_json(msg="%s config for %s: %s" % (p["backend"], p["name"], to_native(exc)), dest=dest)
    for note in warnings_for(spec):
        module.warn(note)
    result["content"] = content
    result.update(backend.result(spec))

    if before != content:
        result["changed"] = True
        if module._diff:
            result["diff"] = dict(before=before or "", after=content,
                                  before_header=dest if before is not None else "%s (absent)" % dest,
                                  after_header=dest)
        if not module.check_mode:
            try:
                write(module, backend, dest, content, spec, result)
            except ConfigCheckError as exc:
                module.fail_json(msg=to_native(exc), dest=dest)

    file_args = module.load_file_common_arguments(p, path=dest)
    if not module.check_mode or before is not None:
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


def make_folder(module, folder, owner=None, group=None):
    if os.path.isdir(folder):
        return
    try:
        os.makedirs(folder, 0o755)
    except OSError as exc:
        module.fail_json(msg="cannot create %s for %s: %s" % (folder, module.params["name"], to_native(exc)))
    if owner or group:
        module.set_owner_if_different(folder, owner, False) if owner else None
        module.set_group_if_different(folder, group, False) if group else None


def write(module, backend, dest, content, spec, result):
    """Write ``content`` to ``dest`` through a temporary file that ``backend`` checks first (ConfigCheckError when
    its checker rejects it; ``dest`` is then untouched)."""
    make_folder(module, os.path.dirname(dest))
    # Every supervisor refuses (or silently fails) to start a program whose log folder is missing.
    for log in {spec.stdout_log, spec.stderr_log} - {""}:
        make_folder(module, os.path.dirname(log), spec.user or None, spec.group or None)
    # The temp file keeps the real base name: systemd-analyze derives the unit type from it.
    tmp = os.path.join(module.tmpdir, os.path.basename(dest) or module.params["name"] + EXTENSIONS[module.params["backend"]])
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(content)
    if module.params["validate"]:
        result["validated_by"] = backend.check_file(tmp, spec)
        if result["validated_by"].startswith("skipped"):
            module.warn("%s not validated: %s" % (dest, result["validated_by"]))
    if module.params["backup"] and os.path.exists(dest):
        result["backup_file"] = module.backup_local(dest)
    module.atomic_move(tmp, dest, unsafe_writes=module.params["unsafe_writes"])


if __name__ == "__main__":
    main()
