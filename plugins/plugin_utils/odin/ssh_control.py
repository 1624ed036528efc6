# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SSH control sockets on the controller: where Ansible's ssh connection puts them, and a short folder when that
place is too deep for a unix socket.

Ansible's ssh connection (with ControlPersist in its ssh args, as by default) names each host's ControlPath
``<control_path_dir>/<10 hex digits>``; ssh, as the ControlMaster, binds that name plus ``.<16 random characters>``
first. So the folder must be at most 107 - 11 - 17 = 79 bytes long. Ansible's default, ``~/.ansible/cp``, is too
long from a home folder of more than 66 bytes: ``noops deploy|rollback|control`` then give ansible-playbook a short
private folder instead (``$XDG_RUNTIME_DIR/noops-cp``, else ``/tmp/noops-cp-<uid>``); a folder the user configured
that cannot fit is refused before anything starts (``control_path_dir``), as ``control_path_problems`` does for
every host of a play (``ansible_control_path_dir``).
"""

from __future__ import annotations

import os
import re
import stat
import typing as t

from ansible_collections.noops.platform.plugins.module_utils.unix_socket import (
    ANSIBLE_CONTROL_NAME,
    SSH_MASTER_BIND_SUFFIX,
    SocketPathError,
    socket_path_problem,
)

DEFAULT_CONTROL_PATH_DIR = "~/.ansible/cp"
ENV_DIR = "ANSIBLE_SSH_CONTROL_PATH_DIR"
ENV_PATH = "ANSIBLE_SSH_CONTROL_PATH"
INI_ORIGIN = "[ssh_connection] control_path_dir"
# ssh's own tokens in a ControlPath whose expansion does not depend on the host: %C is a 40-hex-digit hash.
_FIXED_TOKENS = {"%%": "%", "%C": "C" * 40}
_TOKEN_RE = re.compile(r"%.")


def expand_dir(path: str, home: str) -> str:
    """``path`` as Ansible uses it: ``~`` is ``home``, environment variables expanded, absolute and normalized."""
    if path == "~" or path.startswith("~/"):
        path = home.rstrip("/") + path[1:]
    return os.path.normpath(os.path.abspath(os.path.expandvars(path)))


def dir_problem(directory: str, origin: str) -> str | None:
    """None when control sockets in ``directory`` (an expanded folder) fit; else the one-line problem:
    ``<origin>=<directory>: SSH control sockets <directory>/<10-character hash>: N bytes, ... longer than the
    107-byte limit for a unix socket``."""
    real = directory.rstrip("/") + "/" + "0" * (ANSIBLE_CONTROL_NAME - 1)
    problem = socket_path_problem(real, SSH_MASTER_BIND_SUFFIX, "ssh")
    if problem is None:
        return None
    shown = directory.rstrip("/") + "/<%d-character hash>" % (ANSIBLE_CONTROL_NAME - 1)
    return "%s=%s: SSH control sockets %s%s" % (origin, directory, shown, problem[len(real):])


def path_problem(control_path: str, directory: str, origin: str, ansible: bool = True) -> str | None:
    """The problem of an explicit ControlPath, or None when it fits or holds ssh tokens whose length depends on
    the host (%h, %r, %p ...: ssh itself refuses those). ``ansible``: the value is Ansible's ``control_path``,
    which Ansible formats with ``%(directory)s`` = ``directory`` (so ``%%`` stands for ssh's ``%``) before ssh
    expands its own tokens; else it is a ``-o ControlPath=`` given to ssh as it is."""
    path = control_path
    if ansible:
        try:
            path = control_path % {"directory": directory}
        except (KeyError, ValueError, TypeError):
            return None
    if any(tok not in _FIXED_TOKENS for tok in _TOKEN_RE.findall(path)):
        return None
    path = _TOKEN_RE.sub(lambda m: _FIXED_TOKENS[m.group(0)], path)
    problem = socket_path_problem(path, SSH_MASTER_BIND_SUFFIX, "ssh")
    if problem is None:
        return None
    return "%s=%s" % (origin, problem) if path == control_path else "%s=%s: %s" % (origin, control_path, problem)


def control_path_dir(env: t.Mapping[str, str], ini: t.Mapping[str, str], home: str, uid: int,
                     runtime_dir: str | None) -> str | None:
    """The ``ANSIBLE_SSH_CONTROL_PATH_DIR`` a run must be given: None to leave Ansible's own, else a short folder.

    ``env`` is the environment, ``ini`` the ``[ssh_connection]`` section of the ansible.cfg the run reads,
    ``runtime_dir`` the user's private runtime folder (``$XDG_RUNTIME_DIR``) or None.
    A folder set in ``env`` or ``ini`` is the user's choice: kept when its sockets fit, else SocketPathError
    naming it, its sockets' length and the limit. Ansible's default ``~/.ansible/cp`` is replaced by
    ``<runtime_dir>/noops-cp``, else ``/tmp/noops-cp-<uid>``, when its sockets would not fit.
    """
    for origin, value in ((ENV_DIR, env.get(ENV_DIR)), (INI_ORIGIN, ini.get("control_path_dir"))):
        if value:
            directory = expand_dir(value, home)
            problem = dir_problem(directory, origin)
            if problem:
                raise SocketPathError(problem)
            return None
    directory = expand_dir(DEFAULT_CONTROL_PATH_DIR, home)
    control_path = env.get(ENV_PATH) or ini.get("control_path")
    if control_path:
        problem = path_problem(control_path, directory, ENV_PATH if env.get(ENV_PATH) else "[ssh_connection] "
                               "control_path")
        if problem:
            raise SocketPathError(problem)
        if "%(directory)s" not in control_path:
            return None
    if dir_problem(directory, "") is None:
        return None
    if runtime_dir and os.path.isabs(runtime_dir):
        short = os.path.join(os.path.normpath(runtime_dir), "noops-cp")
        if dir_problem(short, "") is None:
            return short
    return "/tmp/noops-cp-%d" % uid


def user_runtime_dir(env: t.Mapping[str, str], uid: int) -> str | None:
    """``$XDG_RUNTIME_DIR``, else ``/run/user/<uid>``, when it is a folder of this user that only it can write."""
    for candidate in (env.get("XDG_RUNTIME_DIR"), "/run/user/%d" % uid):
        if not candidate or not os.path.isabs(candidate):
            continue
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o022:
            return candidate
    return None


def private_dir(path: str) -> str:
    """Make ``path`` (mode 0700) unless it exists; return it when it is this user's folder that no one else can
    write (another user's folder in /tmp would let them stand in for a host's control socket).
    Raises SocketPathError naming the folder otherwise."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise SocketPathError("%s: cannot make the folder for SSH control sockets: %s" % (path, e.strerror)) from e
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise SocketPathError("%s: not a folder of this user; SSH control sockets cannot go there" % path)
    if st.st_mode & 0o022:
        raise SocketPathError("%s: group or others can write to it (mode %o); SSH control sockets cannot go there"
                              % (path, stat.S_IMODE(st.st_mode)))
    return path


def run_env(env: t.Mapping[str, str], ini: t.Mapping[str, str]) -> dict[str, str]:
    """What a run of ansible-playbook must add to ``env`` so that every SSH control socket fits: empty, or
    ``ANSIBLE_SSH_CONTROL_PATH_DIR`` set to a short private folder (made now). Raises SocketPathError."""
    uid = os.getuid()
    home = env.get("HOME") or os.path.expanduser("~")
    directory = control_path_dir(env, ini, home, uid, user_runtime_dir(env, uid))
    if directory is None:
        return {}
    return {ENV_DIR: private_dir(directory)}


def control_path_problems(hosts: t.Iterable[str], options: t.Callable[[str], t.Mapping[str, t.Any]],
                          home: str) -> list[str]:
    """The problems of the hosts' SSH control sockets, one line per host and problem.

    ``options(host)`` gives the host's ssh connection options as Ansible resolves them (``connection``,
    ``control_path_dir``, ``control_path``, ``ssh_args``, ``ssh_common_args``, ``ssh_extra_args``). A host not
    reached over ssh, or without ControlPersist in its ssh arguments (then Ansible makes no control socket), has
    none. A ``-o ControlPath=`` of its own is checked instead of the folder.
    """
    problems = []
    for host in hosts:
        opts = options(host)
        if opts.get("connection") not in ("ssh", "smart", "ansible.builtin.ssh"):
            continue
        args = " ".join(str(opts.get(k) or "") for k in ("ssh_args", "ssh_common_args", "ssh_extra_args"))
        if not re.search(r"controlpersist", args, re.IGNORECASE):
            continue
        directory = expand_dir(str(opts.get("control_path_dir") or DEFAULT_CONTROL_PATH_DIR), home)
        own = re.search(r"controlpath[= ]\s*[\"']?([^\"'\s]+)", args, re.IGNORECASE)
        if own:
            problem = path_problem(own.group(1), directory, "host %s: -o ControlPath" % host, ansible=False)
        elif opts.get("control_path"):
            problem = path_problem(str(opts["control_path"]), directory, "host %s: control_path" % host)
        else:
            problem = dir_problem(directory, "host %s: control_path_dir" % host)
        if problem:
            problems.append(problem)
    return problems


_SSH_OPTIONS = ("control_path_dir", "control_path", "ssh_args", "ssh_common_args", "ssh_extra_args")


def ansible_ssh_options(host_vars: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The ssh connection options of a host as Ansible resolves them in a run (host variables, environment,
    ansible.cfg, defaults), with its ``connection`` (``ansible_connection``, else Ansible's default transport)."""
    from ansible import constants as C
    from ansible.plugins.loader import connection_loader

    connection_loader.get("ssh", class_only=True)  # loads the plugin's option definitions
    out: dict[str, t.Any] = {"connection": host_vars.get("ansible_connection") or C.DEFAULT_TRANSPORT}
    for name in _SSH_OPTIONS:
        out[name] = C.config.get_config_value(name, plugin_type="connection", plugin_name="ssh",
                                              variables=host_vars)
    return out
