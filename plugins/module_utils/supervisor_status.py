# -*- coding: utf-8 -*-
# Copyright: noops.platform contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading supervisors back (Frigga's view): status output parsers, /proc facts and log tails.

Every parser is a pure function over the text a tool prints under ``LC_ALL=C``; the unit tests feed them
recorded output. States are normalised to one vocabulary so callers need not know the backend:
``running``, ``starting``, ``stopping``, ``stopped``, ``backoff``, ``fatal``, ``exited``, ``unknown``.
"""

from __future__ import annotations

import os
import re
import time

GOD_STATES = {"up": "running", "unmonitored": "stopped", "init": "starting", "start": "starting",
              "restart": "starting", "stop": "stopping"}
SUPERVISORD_STATES = {"RUNNING": "running", "STARTING": "starting", "STOPPING": "stopping", "STOPPED": "stopped",
                      "BACKOFF": "backoff", "FATAL": "fatal", "EXITED": "exited", "UNKNOWN": "unknown"}
SYSTEMD_STATES = {"active": "running", "reloading": "running", "activating": "starting",
                  "deactivating": "stopping", "inactive": "stopped", "failed": "fatal"}
# States in which the program is (or is about to be) running: "started" leaves these alone.
UP_STATES = ("running", "starting")

# "name: up", "  name: up" under a group header, or a god patched to show pid and user: "name[pid user]: running (start)".
GOD_LINE_RE = re.compile(r"^(\s*)([^\s\[]+?)(?:\[\d+ [^\]]*\])?:\s*(\S*)(?:\s+\(.*\))?\s*$")


def parse_god_status(text: str) -> dict:
    """``god status`` -> {watch: god state}; group headers (``name:`` with nothing after) are skipped."""
    watches = {}
    for line in text.splitlines():
        match = GOD_LINE_RE.match(line)
        if match and match.group(3):
            watches[match.group(2)] = match.group(3)
    return watches


def parse_systemctl_show(text: str) -> list:
    """``systemctl show -p A -p B UNIT...`` -> list of {property: value}, one per unit (blank-line separated)."""
    units, current = [], {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                units.append(current)
                current = {}
            continue
        key, _sep, value = line.partition("=")
        current[key] = value
    if current:
        units.append(current)
    return units


def normalise(backend: str, raw: str) -> str:
    table = {"god": GOD_STATES, "supervisord": SUPERVISORD_STATES, "systemd": SYSTEMD_STATES}[backend]
    return table.get(raw, "unknown")


def proc_stat_starttime(stat_text: str) -> int:
    """Field 22 of /proc/PID/stat (clock ticks since boot); the command name may hold spaces and parens."""
    rest = stat_text[stat_text.rindex(")") + 2:].split()
    return int(rest[19])


def boot_time(proc: str = "/proc") -> float:
    with open(os.path.join(proc, "stat"), encoding="ascii") as handle:
        for line in handle:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise OSError("no btime line in %s/stat" % proc)


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def pid_alive(pid, proc: str = "/proc") -> bool:
    """True for a live process; a zombie (state Z) has exited already and counts as gone."""
    if not pid:
        return False
    try:
        stat = _read(os.path.join(proc, str(pid), "stat"))
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] not in ("Z", "X")


def start_time(pid, proc: str = "/proc") -> str:
    """When ``pid`` started, as local ``YYYY-MM-DD HH:MM:SS`` (Frigga's process list column), or "" if gone."""
    try:
        ticks = proc_stat_starttime(_read(os.path.join(proc, str(pid), "stat")))
        started = boot_time(proc) + ticks / float(os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))


def process_age(pid, proc: str = "/proc") -> float | None:
    """Seconds since ``pid`` started (both clocks count from boot), or None when it is gone."""
    try:
        ticks = proc_stat_starttime(_read(os.path.join(proc, str(pid), "stat")))
        uptime = float(_read(os.path.join(proc, "uptime")).split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - ticks / float(os.sysconf("SC_CLK_TCK")))


def proc_stat_ids(stat_text: str) -> tuple:
    """(ppid, process group, session) from one /proc/PID/stat line."""
    fields = stat_text[stat_text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[2]), int(fields[3])


def proc_table(proc: str = "/proc") -> dict:
    """{pid: (ppid, pgrp, session)} for every process visible now."""
    table = {}
    for entry in os.listdir(proc):
        if entry.isdigit():
            try:
                table[int(entry)] = proc_stat_ids(_read(os.path.join(proc, entry, "stat")))
            except (OSError, ValueError, IndexError):
                continue  # exited while we looked
    return table


def process_tree(pid: int, table: dict) -> list:
    """``pid``, its descendants, and every process still in its group or session, parents first.

    god and supervisord make each program a group (and god a session) leader; a child that double-forked away
    from the tree still carries the leader's group or session, and Frigga's "nuke" must reach it too.
    """
    children = {}
    for child, (ppid, _pgrp, _sid) in table.items():
        children.setdefault(ppid, []).append(child)
    order, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        if current in order:
            continue
        order.append(current)
        todo.extend(sorted(children.get(current, [])))
    order += sorted(other for other, (_ppid, pgrp, sid) in table.items()
                    if other not in order and other != 1 and pid in (pgrp, sid))
    return order


def tail_lines(path: str, count: int, block: int = 8192) -> list:
    """The last ``count`` lines of a file without reading all of it (logs grow large)."""
    if count <= 0:
        return []
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= count:
            step = min(block, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:]


def read_pidfile(path: str):
    try:
        content = _read(path).strip()
    except OSError:
        return None
    return int(content) if content.isdigit() else None
