# -*- coding: utf-8 -*-
# Copyright: noops.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Config labels and the crash-loop rule, shared by the modules and by supervisord's event listener.

This file uses the standard library only: the ``supervisor`` role ships it as ``files/noops_listener.py`` (the same
bytes; a unit test keeps the two identical), copies it next to supervisord and runs it as an
``[eventlistener:...]`` under the Python that has ``supervisor`` installed, which need not have Ansible.

Labels are comment lines at the top of every config file ``noops.platform.supervisor_config`` writes::

    # noops-name: dch
    # noops-version: 93043
    # noops-crash-loop: 3/600

They survive in every backend's syntax (Ruby, ini, systemd unit) and let ``noops.platform.process`` and the
listener read a process's version, log file, reload signal and crash-loop rule without a second state store.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import time

LABEL_RE = re.compile(r"^[#;]\s*noops-([a-z][a-z0-9-]*):\s?(.*)$")


def parse_labels(text: str) -> dict:
    """Return the ``noops-*`` labels of a config file's leading comment block (key without the prefix)."""
    labels = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith(("#", ";")):
            break  # labels only live in the header; later comments belong to the user
        match = LABEL_RE.match(stripped)
        if match:
            labels[match.group(1)] = match.group(2).strip()
    return labels


def parse_crash_loop(value: str) -> tuple:
    """``"3/600"`` -> ``(3, 600)``: restarts allowed within that many seconds before the process is stopped."""
    match = re.match(r"^\s*(\d+)\s*/\s*(\d+)\s*$", value or "")
    if not match:
        raise ValueError("crash-loop label %r is not TIMES/SECONDS" % (value,))
    return int(match.group(1)), int(match.group(2))


class CrashLoop:
    """Sliding window of exit times per process: ``record`` says when the rule trips (default: 3 within 10 min)."""

    def __init__(self) -> None:
        self._exits = collections.defaultdict(collections.deque)

    def record(self, name: str, when: float, times: int, within: float) -> bool:
        window = self._exits[name]
        window.append(when)
        while window and when - window[0] >= within:
            window.popleft()
        if len(window) >= times:
            window.clear()  # start counting afresh once an operator starts it again
            return True
        return False


def _parse_header(line: str) -> dict:
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


def _rule_for(conf_dir: str, process: str) -> tuple:
    """Read the crash-loop rule and notify command of ``process`` from its file in ``conf_dir``."""
    path = os.path.join(conf_dir, process + ".conf")
    try:
        with open(path, encoding="utf-8") as handle:
            labels = parse_labels(handle.read())
        times, within = parse_crash_loop(labels.get("crash-loop", ""))
    except (OSError, ValueError):
        return None, None, None
    return times, within, labels.get("notify") or None


def _notify(command: str, process: str, event: str) -> None:
    env = dict(os.environ, NOOPS_PROCESS=process, NOOPS_EVENT=event)
    try:
        subprocess.run(command, shell=True, env=env, timeout=30, check=False,
                       stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr)
    except (OSError, subprocess.SubprocessError) as exc:
        sys.stderr.write("noops-listener: notify for %s failed: %s\n" % (process, exc))


def main(argv: list) -> int:  # pragma: no cover - exercised by the integration tests under a real supervisord
    """supervisord event listener: stop a process whose exits trip its crash-loop rule, run its notify command."""
    from supervisor import childutils  # only present under supervisord's own Python

    conf_dir = argv[1]
    rpc = childutils.getRPCInterface(os.environ)
    loops = CrashLoop()
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        event = headers.get("eventname", "")
        body = _parse_header(payload.split("\n", 1)[0])
        process = body.get("processname", "")
        times, within, notify = _rule_for(conf_dir, process)
        if times is not None:
            # BACKOFF is an exit before startsecs, EXITED one after it: both are crashes of the same loop, and on
            # a loaded host one program's exits fall on either side of startsecs.
            crashed = event in ("PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF")
            if crashed and loops.record(process, time.time(), times, within):
                sys.stderr.write("noops-listener: %s exited %d times within %ds, stopping it\n"
                                 % (process, times, within))
                try:
                    rpc.supervisor.stopProcess("%s:%s" % (body.get("groupname", process), process), False)
                except Exception as exc:  # the process may already be stopping; never let the listener die
                    sys.stderr.write("noops-listener: stop %s failed: %s\n" % (process, exc))
                if notify:
                    _notify(notify, process, "crash-loop")
            elif event == "PROCESS_STATE_FATAL" and notify:
                _notify(notify, process, "fatal")
        sys.stderr.flush()
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":  # pragma: no cover - supervisord runs this file as its event listener program
    raise SystemExit(main(sys.argv))
