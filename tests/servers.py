"""Real server processes for tests: a free loopback port, and a ``noops console`` whose start waits for the
first admin's password (when asked) and for the port to listen.

Importable from every test folder: pytest puts ``tests/`` on ``sys.path`` for ``tests/conftest.py``.
"""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import typing as t


def noops_bin() -> str:
    """The ``noops`` command of this Python environment (else the one on PATH)."""
    found = os.path.join(os.path.dirname(sys.executable), "noops")
    return found if os.path.exists(found) else (shutil.which("noops") or "noops")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of the call."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0,
                   lines: t.Sequence[str] = ()) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections; fails when ``proc`` ends first or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            ended = proc is not None and proc.poll() is not None
            assert not ended and time.monotonic() < deadline, "not listening on %d:\n%s" % (port, "".join(lines))
            time.sleep(0.1)


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running_console(args: t.Sequence[str], env: t.Mapping[str, str], cwd: str | None = None,
                    first_start: bool = True, timeout: float = 60.0,
                    command: t.Sequence[str] | None = None) -> t.Iterator[dict[str, t.Any]]:
    """Run ``noops console --bind 127.0.0.1:PORT ARGS`` until the block ends.

    Yields ``{"proc", "port", "url", "password", "lines"}``: with ``first_start`` the start is awaited until it
    prints the generated admin password (``password``; else ``None``), then until the port listens. ``lines`` are
    the output lines read so far. ``command`` replaces ``[noops_bin()]`` (e.g. a noops of another environment).
    """
    port = free_port()
    proc = subprocess.Popen(list(command or [noops_bin()]) + ["console", "--bind", "127.0.0.1:%d" % port]
                            + list(args), env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    try:
        password = None
        deadline = time.monotonic() + timeout
        while first_start and password is None:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "noops console ended:\n" + "".join(lines)
            lines.append(line)
            found = re.search(r"created user admin with password (\S+) ", line)
            if found:
                password = found.group(1)
            assert time.monotonic() < deadline, "no admin password printed:\n" + "".join(lines)
        wait_listening(port, proc, max(1.0, deadline - time.monotonic()), lines)
        yield {"proc": proc, "port": port, "url": "http://127.0.0.1:%d" % port, "password": password,
               "lines": lines}
    finally:
        stop(proc)
