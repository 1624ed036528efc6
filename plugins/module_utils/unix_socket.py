# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The length rule for the unix sockets noops creates for a host: supervisord's, god's and SSH's control sockets.

Linux keeps a unix socket's path in ``sun_path``, 108 bytes with the final NUL: a path of more than 107 bytes
cannot be bound. Two of the programs bind a longer temporary name first and then rename it into place, so their
path must leave room for that suffix too:

- supervisord (``supervisor/http.py``): ``"%s.%d" % (socketname, os.getpid())`` — a dot and the pid, at most
  ``.4194304`` (8 bytes; Linux's largest pid_max);
- ssh as a ControlMaster (OpenSSH ``mux.c`` ``muxserver_listen``): ``"%s.%s"`` with 16 random characters (17
  bytes).

god binds ``/tmp/god.<port>.sock`` as it is (at most 20 bytes). Ansible's ssh connection names a control socket
``<control_path_dir>/`` plus the first 10 hex digits of a sha1 (11 bytes).
"""

from __future__ import annotations

# sun_path is 108 bytes on Linux, the last one the terminating NUL.
UNIX_PATH_MAX = 107
# Linux's PID_MAX_LIMIT is 4194304 (2**22): the longest ".<pid>" supervisord appends.
SUPERVISORD_BIND_SUFFIX = len(".4194304")
# OpenSSH's ControlMaster binds "<ControlPath>.<16 random characters>" before linking it to ControlPath.
SSH_MASTER_BIND_SUFFIX = 1 + 16
# Ansible's ssh connection: ControlPath "%(directory)s/" + sha1(host-port-user)[:10].
ANSIBLE_CONTROL_NAME = 1 + 10
# Where a socket whose natural path is too long goes instead (short, the same on every host).
SHORT_SOCKET_DIR = "/tmp"


class SocketPathError(ValueError):
    """A unix socket path longer than the kernel accepts (the message names the path, its length and the limit)."""


def socket_path_problem(path: str, bind_suffix: int = 0, binder: str = "") -> str | None:
    """None when ``path`` (plus the ``bind_suffix`` bytes its ``binder`` appends to the name it binds first) fits
    in a unix socket address; else the one-line problem: ``<path>: N bytes, longer than the 107-byte limit for a
    unix socket``. Lengths are in bytes of the UTF-8 path."""
    size = len(path.encode("utf-8", "surrogateescape"))
    if size + bind_suffix <= UNIX_PATH_MAX:
        return None
    if bind_suffix:
        return "%s: %d bytes, %d with the %d-byte suffix %s binds first, longer than the %d-byte limit for a unix " \
               "socket" % (path, size, size + bind_suffix, bind_suffix, binder or "the program", UNIX_PATH_MAX)
    return "%s: %d bytes, longer than the %d-byte limit for a unix socket" % (path, size, UNIX_PATH_MAX)


def fits(path: str, bind_suffix: int = 0) -> bool:
    """True when ``path`` plus ``bind_suffix`` bytes is at most 107 bytes."""
    return socket_path_problem(path, bind_suffix) is None


def check_socket_path(path: str, bind_suffix: int = 0, binder: str = "") -> str:
    """``path`` when it fits (see ``socket_path_problem``); raises SocketPathError naming it otherwise."""
    problem = socket_path_problem(path, bind_suffix, binder)
    if problem:
        raise SocketPathError(problem)
    return path
