# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One deploy per service cluster at a time: lock files on the controller.

    ${NOOPS_LOCK_DIR:-${XDG_STATE_HOME:-~/.local/state}/noops/locks}/<sha256(key)[:32]>.json
    {"key", "user", "pid", "pid_start", "host", "since", "task_id", "playbook"}

A lock appears complete or not at all: its JSON is written to a temp file and hard-linked to the lock name,
which fails when the name exists (the O_EXCL of link). The holder is the ansible-playbook process (``pid``),
recorded with its start time so that a reused pid does not keep a dead run's lock alive. A lock whose holder
ran on this host and has ended is stale; it is broken only when asked (``break_stale``).

The lock is the deploy's own: the playbook releases it in its last play, and ``guard`` (started by the
``deploy_lock`` action when it takes a lock) releases it when the playbook process ends without doing so (a
cancelled or failed rollout that stops early, Ctrl-C), whatever callbacks the run has.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import getpass
import hashlib
import json
import os
import select
import signal
import tempfile
import time
import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name


class LockHeld(Exception):
    """The lock is held by someone else; ``holder`` is its content, ``stale`` whether that run has ended."""

    def __init__(self, message: str, holder: dict[str, t.Any], stale: bool) -> None:
        super().__init__(message)
        self.holder = holder
        self.stale = stale


def lock_dir() -> str:
    if os.environ.get("NOOPS_LOCK_DIR"):
        return os.environ["NOOPS_LOCK_DIR"]
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "noops", "locks")


def lock_file(key: str, directory: str | None = None) -> str:
    return os.path.join(directory or lock_dir(), "%s.json" % hashlib.sha256(key.encode("utf-8")).hexdigest()[:32])


# --------------------------------------------------------------------------- processes

def _proc(pid: int, name: str) -> bytes | None:
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            return f.read()
    except OSError:
        return None


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), None where unknown."""
    stat = _proc(pid, "stat")
    if not stat:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its closing ")".
    fields = stat[stat.rfind(b")") + 2:].split()
    return fields[19].decode() if len(fields) > 19 else None


def pid_alive(pid: int, start: str | None = None) -> bool:
    """Whether ``pid`` runs on this host and, when ``start`` is known, is still the same process."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                        # alive, another user's
    if start is not None:
        now = process_start(pid)
        if now is not None and now != start:
            return False            # the pid was reused by a newer process
    return True


def _parent(pid: int) -> int | None:
    stat = _proc(pid, "stat")
    if not stat:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    return int(fields[1]) if len(fields) > 1 else None


def playbook_pid(pid: int | None = None) -> int:
    """The ansible-playbook process an action runs under.

    Ansible forks its workers from the playbook process, so a worker has the same command line as its parent;
    the playbook process is the highest ancestor that still has it (its own parent is a shell, a runner, ...).
    Without /proc this is the parent process.
    """
    pid = pid or os.getpid()
    command = _proc(pid, "cmdline")
    if command is None:
        return os.getppid() if pid == os.getpid() else pid
    while True:
        parent = _parent(pid)
        if not parent or parent <= 1 or _proc(parent, "cmdline") != command:
            return pid
        pid = parent


# --------------------------------------------------------------------------- the lock

def describe(key: str, holder: t.Mapping[str, t.Any]) -> str:
    text = "deploy of %s is locked by %s since %s (pid %s on %s)" % (
        key, holder.get("user") or "someone", holder.get("since") or "an unknown time", holder.get("pid", "?"),
        holder.get("host") or "an unknown host")
    if holder.get("task_id"):
        text += ", task %s" % holder["task_id"]
    return text


def read(key: str, directory: str | None = None) -> dict[str, t.Any] | None:
    """The lock's content, None when free; an unreadable lock reads as ``{"key": key, "unreadable": True}``."""
    try:
        with open(lock_file(key, directory), encoding="utf-8") as f:
            holder = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"key": key, "unreadable": True}
    return holder if isinstance(holder, dict) else {"key": key, "unreadable": True}


def is_stale(holder: t.Mapping[str, t.Any]) -> bool:
    """A lock taken on this host by a process that has ended. A lock from another host is never judged stale."""
    if holder.get("host") != controller_name():
        return False
    pid = holder.get("pid")
    return not pid_alive(pid, holder.get("pid_start")) if isinstance(pid, int) else False


def new_holder(key: str, pid: int, playbook: str | None = None,
               task_id: int | None = None) -> dict[str, t.Any]:
    try:
        user = os.environ.get("NOOPS_USER") or getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return dict(key=key, user=user, pid=pid, pid_start=process_start(pid), host=controller_name(),
                since=datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(timespec="seconds"),
                task_id=task_id, playbook=playbook)


def acquire(key: str, pid: int, playbook: str | None = None, break_stale: bool = False,
            directory: str | None = None, task_id: int | None = None) -> tuple[dict[str, t.Any], bool, dict[str, t.Any] | None]:
    """Take the lock for the run ``pid`` -> (holder, changed, the broken lock or None); raises LockHeld.

    Taking a lock this run already holds changes nothing. ``break_stale`` breaks a lock whose run has ended
    (or one from another host, which cannot be checked from here), never a live one on this host.
    """
    path = lock_file(key, directory)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    holder = new_holder(key, pid, playbook, task_id)
    if _link_new(path, holder):
        return holder, True, None
    current = read(key, directory) or {}
    if current.get("pid") == pid and current.get("host") == holder["host"]:
        return current, False, None
    stale = is_stale(current)
    if not break_stale or (not stale and current.get("host") == holder["host"] and not current.get("unreadable")):
        raise LockHeld(_held_message(key, current, stale, path), current, stale)
    # Breakers take turns (an flock on the locks folder, no file left behind): each one looks again at what it is
    # about to remove, so a lock another breaker has just taken is never moved aside, even for a moment.
    turn = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        fcntl.flock(turn, fcntl.LOCK_EX)
        broken = _break(path, current)
        if broken is None or not _link_new(path, holder):
            now = read(key, directory) or current
            raise LockHeld(_held_message(key, now, is_stale(now), path), now, is_stale(now))
    finally:
        os.close(turn)
    return holder, True, broken


def _held_message(key: str, holder: t.Mapping[str, t.Any], stale: bool, path: str) -> str:
    if holder.get("unreadable"):
        return ("deploy of %s is locked, but the lock file %s cannot be read; break it with odin_break_lock=true"
                % (key, path))
    text = describe(key, holder)
    if stale:
        text += ", left by a dead run (pid %s ended); break it with odin_break_lock=true" % holder.get("pid")
    return text


def _link_new(path: str, holder: t.Mapping[str, t.Any]) -> bool:
    """Create the lock with its whole content at once; False when it exists."""
    fd, tmp = tempfile.mkstemp(prefix=".lock-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(holder, f, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _break(path: str, seen: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """Remove the lock if it still is the one judged breakable; None when another run replaced it meanwhile."""
    aside = "%s.broken-%d" % (path, os.getpid())
    try:
        with open(path, encoding="utf-8") as f:
            now = json.load(f)
    except FileNotFoundError:
        return dict(seen)               # gone already: free to take
    except (OSError, ValueError):
        now = {"key": seen.get("key"), "unreadable": True}
    if now != dict(seen) and not (seen.get("unreadable") and now.get("unreadable")):
        return None                     # another run took the lock since it was judged breakable
    try:
        os.rename(path, aside)          # only one breaker gets the file
    except FileNotFoundError:
        return dict(seen)
    try:
        with open(aside, encoding="utf-8") as f:
            taken = json.load(f)
    except (OSError, ValueError):
        taken = {"key": seen.get("key"), "unreadable": True}
    if taken != dict(seen) and not seen.get("unreadable"):
        # A live run took the lock between our read and the rename: put it back.
        with contextlib.suppress(OSError):
            os.link(aside, path)
        os.unlink(aside)
        return None
    os.unlink(aside)
    return taken


def release(key: str, pid: int, directory: str | None = None) -> tuple[bool, dict[str, t.Any] | None]:
    """Remove the lock when the run ``pid`` on this host holds it -> (released, the holder left in place)."""
    path = lock_file(key, directory)
    current = read(key, directory)
    if current is None:
        return False, None
    if current.get("pid") != pid or current.get("host") != controller_name():
        return False, current
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True, None


# --------------------------------------------------------------------------- the guard

def wait_for_end(pid: int, start: str | None, poll: float = 0.5, timeout: float | None = None) -> bool:
    """Wait until the process ``pid`` (started at ``start``) has ended: at once through a pidfd where the system has
    one, else by polling every ``poll`` seconds. Returns True when it has ended, False when ``timeout`` seconds
    (None: no limit) passed first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    fd = None
    with contextlib.suppress(AttributeError, OSError):
        fd = os.pidfd_open(pid)
    try:
        while pid_alive(pid, start):
            left = 60.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            if fd is not None:
                with contextlib.suppress(InterruptedError):
                    select.select([fd], [], [], min(60.0, left))
            else:
                time.sleep(min(poll, left))
        return True
    finally:
        if fd is not None:
            os.close(fd)


def guard(key: str, pid: int, directory: str | None = None) -> int | None:
    """Release the lock ``key`` of the run ``pid`` when that process ends, if the run has not released it itself.

    Forks a small process (detached from the caller, holding none of its files, deaf to SIGINT, SIGTERM and SIGHUP)
    that waits for ``pid`` to end (``wait_for_end``) and then calls ``release``: a deploy that stops early (a
    cancel, every host of a batch failed, Ctrl-C, even SIGKILL) leaves no lock behind, with or without the history
    callback. Only a run whose guard is killed too (or a controller that goes down) leaves a dead run's lock.
    Returns the guard's pid, or None when it could not be started (the lock then stays until released or broken).
    """
    start = process_start(pid)
    return spawn_guard(lambda: _guard_main(key, pid, start, directory))


def spawn_guard(main: t.Callable[[], None]) -> int | None:
    """Run ``main`` in a small detached process (holding none of the caller's files, deaf to SIGINT, SIGTERM and
    SIGHUP, the caller's process group's) and return its pid, or None when it could not be started. The guards of
    the deploy locks (``guard`` here, ``store_lock.guard``) run this way."""
    rfd, wfd = os.pipe()
    try:
        child = os.fork()
    except OSError:
        os.close(rfd)
        os.close(wfd)
        return None
    if child:
        os.close(wfd)
        with os.fdopen(rfd, "rb") as r:
            data = r.read()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)
        return int(data) if data.strip().isdigit() else None
    # The first child: start the guard and leave at once, so the caller reaps it and the guard is nobody's zombie.
    try:
        os.close(rfd)
        grandchild = os.fork()
        if grandchild:
            os.write(wfd, str(grandchild).encode())
            os._exit(0)
        os.close(wfd)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        # Hold none of the caller's files: a runner waiting for the end of the run's output must not wait for us.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 65536)
        with contextlib.suppress(Exception):
            main()
    finally:
        os._exit(0)


def _guard_main(key: str, pid: int, start: str | None, directory: str | None) -> None:
    wait_for_end(pid, start)
    holder = read(key, directory)
    if holder and holder.get("pid") == pid and (start is None or holder.get("pid_start") in (None, start)):
        release(key, pid, directory)
