# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: supervisor_socket
short_description: The unix socket of a host's supervisor instance, short enough for the kernel
version_added: 0.1.0
author: noops maintainers (!UNKNOWN)
description:
  - Returns the socket path of the supervisor instance of a C(noops_root), as
    C(plugins/module_utils/supervisor.py) C(instance_layout()) computes it for the modules.
  - supervisord, C(<root>/var/run/noops/supervisord/supervisord.sock) when that path, plus the C(.<pid>)
    supervisord appends to the name it binds first (at most 8 bytes), fits in a unix socket's 107 bytes; else
    C(/tmp/noops-supervisord-<md5(root)[:16]>.sock).
  - god, C(/tmp/god.<port>.sock) for the instance's port (god fixes that name).
  - Fails, naming the path, its length and the 107-byte limit, when no path can fit.
options:
  _input:
    description: The instance's C(noops_root); empty for the machine's own instance.
    type: str
    required: true
  backend:
    description: C(supervisord) or C(god).
    type: str
    default: supervisord
  port:
    description: god's control port (default the instance's, see C(supervisor_god_port)).
    type: int
"""

EXAMPLES = r"""
- name: Where the instance's supervisord listens
  ansible.builtin.debug:
    msg: "{{ noops_root | noops.platform.supervisor_socket }}"
"""

RETURN = r"""
_value:
  description: An absolute path of at most 107 bytes (99 for supervisord, which appends C(.<pid>)).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.noops.platform.plugins.module_utils.supervisor import (
    SupervisorConfigError,
    god_socket,
    instance_layout,
)
from ansible_collections.noops.platform.plugins.module_utils.unix_socket import SocketPathError, check_socket_path


def supervisor_socket(root, backend="supervisord", port=None):
    if backend not in ("supervisord", "god"):
        raise AnsibleFilterError("supervisor_socket: backend must be supervisord or god, got %r" % (backend,))
    try:
        if backend == "god" and port is not None:
            return check_socket_path(god_socket(int(port)), 0, "god")
        return instance_layout(str(root or ""), backend)["socket"]
    except (SupervisorConfigError, SocketPathError, ValueError) as e:
        raise AnsibleFilterError("supervisor_socket: %s" % e) from e


class FilterModule:
    def filters(self):
        return {"supervisor_socket": supervisor_socket}
