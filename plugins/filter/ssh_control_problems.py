# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: ssh_control_problems
short_description: The hosts whose SSH control socket would be too long for a unix socket
version_added: 0.1.0
author: noops maintainers (!UNKNOWN)
description:
  - Takes a list of inventory host names and returns one line per host whose SSH control socket could not be
    bound, naming the path, its length and the 107-byte limit of a unix socket.
  - A host reached over ssh with ControlPersist in its ssh arguments (Ansible's default) gets the control socket
    C(<control_path_dir>/<10-character hash>); ssh, as the ControlMaster, binds it with C(.<16 random characters>)
    appended first, so C(control_path_dir) may be at most 79 bytes. An explicit C(control_path) or
    C(-o ControlPath=) is checked as it is (when its length does not depend on the host).
  - The options are resolved as Ansible does for the host (host variables such as C(ansible_control_path_dir),
    environment, ansible.cfg, defaults).
options:
  _input:
    description: Host names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) mapping.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse hosts whose SSH control socket cannot be bound
  ansible.builtin.fail:
    msg: "{{ problems | join('\n') }}"
  vars:
    problems: "{{ groups['all'] | noops.platform.ssh_control_problems(hostvars) }}"
  when: problems | length > 0
"""

RETURN = r"""
_value:
  description: Problem lines, empty when every socket fits.
  type: list
  elements: str
"""

import os

from ansible_collections.noops.platform.plugins.plugin_utils.odin.ssh_control import (
    ansible_ssh_options,
    control_path_problems,
)


def ssh_control_problems(hosts, hostvars):
    return control_path_problems(hosts, lambda host: ansible_ssh_options(hostvars.get(host) or {}),
                                 home=os.path.expanduser("~"))


class FilterModule:
    def filters(self):
        return {"ssh_control_problems": ssh_control_problems}
