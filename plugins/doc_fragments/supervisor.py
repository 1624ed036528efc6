# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the modules that work with a host's supervisor instance (their argument spec:
``module_utils/supervisor.py``, ``INSTANCE_ARGS`` and ``INSTANCE_PATH_ARGS``)."""

from __future__ import annotations


class ModuleDocFragment:

    # The supervisor and the host root: which instance a module talks to.
    DOCUMENTATION = r"""
options:
  backend:
    description: Which supervisor the host runs (its C(noops_supervisor)).
    type: str
    required: true
    choices: [god, supervisord, systemd]
  root:
    description:
      - The host's C(noops_root). It selects the supervisor instance of that root and prefixes the instance's
        default paths (configs, logs, pid files, sockets), so that simulated hosts on one machine stay apart.
      - Must be empty for O(backend=systemd) (one systemd per machine).
    type: path
    default: ""
"""

    # Where an instance is, when it is not where the noops.platform.supervisor role put it for O(root).
    INSTANCE = r"""
options:
  god_port:
    description:
      - Port of the god instance; default 17165 without O(root), else the port the C(noops.platform.supervisor) role
        derives from the root.
    type: int
  supervisord_conf:
    description: Main config of the supervisord instance; default C(<root>/etc/noops/supervisor/supervisord/supervisord.conf).
    type: path
  conf_dir:
    description: Folder of the process configs (for labels and for O(name)-less actions); default from O(root).
    type: path
  pid_dir:
    description: god's pid file folder; default C(<root>/var/run/noops/god/pids), as the role's main.god sets it.
    type: path
"""
