# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers shared by the action plugins, the history and the deploy locks."""

from __future__ import annotations

import os
import socket

from ansible.errors import AnsibleError

# The inode of the kernel's initial PID namespace (PROC_PID_INIT_INO): the host's own process numbers.
INIT_PID_NAMESPACE = 4026531836


def controller_path(action, path: str, missing: str) -> str:
    """``path`` when it exists on the controller, else the play's ``files/`` lookup of it (as copy does).

    ``missing`` is the error message, with ``%s`` for the path, when neither finds it.
    """
    if os.path.exists(path):
        return path
    try:
        return action._find_needle("files", path)  # pylint: disable=protected-access
    except AnsibleError:
        raise AnsibleError(missing % path) from None


def controller_name() -> str:
    """This controller's name in the history and the deploy locks: the host name, and ``/pidns:<inode>`` after it
    when this process does not see the host's own process numbers (a container's PID namespace: an execution
    environment run with the host's network has the host's name but pids of its own). A pid recorded under a
    name is judged alive or ended only by a process of that same name, where the number means the same process;
    elsewhere only the heartbeat tells."""
    name = socket.gethostname()
    try:
        inode = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return name
    return name if inode == INIT_PID_NAMESPACE else "%s/pidns:%d" % (name, inode)
