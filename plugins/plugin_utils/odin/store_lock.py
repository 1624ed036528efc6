# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One deploy per service cluster across several controllers: the deploy lock in a PostgreSQL history store.

When the history store (``history_dsn``) is PostgreSQL, every controller that deploys shares it, and the deploy lock
of a service cluster is a row of ``noops_locks`` there instead of a file on one controller (``lock.py``):

    name (the service cluster), controller, pid, pid_start, task_id, user_name, playbook,
    since, heartbeat_at, expiry

The holder is the ansible-playbook process (``pid`` with its start time ``pid_start``) on ``controller`` (its host
name), with the run's task in the history. Times are the database server's clock (seconds since the epoch), so
controllers whose clocks differ judge a holder alike. While the run lives, its guard process (``guard``) renews
``heartbeat_at`` every ``expiry / 4`` seconds; the rollout confirms the lock before each batch (``confirm``).

A holder is dead when its heartbeat is older than its own ``expiry`` (seconds; ``lock_expiry``), or, seen from its
own controller, when its process has ended. A dead holder's lock is taken over by the next deploy, in one
transaction that also records the takeover in ``noops_lock_takeovers`` (who took it, from whom, when, why). A live
holder's lock is never taken. A run that finds its lock taken over stops before its next batch.

Every function raises ``StoreError`` (history/store.py) when the store cannot be reached or written.
"""

from __future__ import annotations

import contextlib
import getpass
import math
import os
import time
import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    HistoryStore, StoreError, parse_dsn,
)
from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import (
    LockHeld, pid_alive, process_start, spawn_guard, wait_for_end,
)

EXPIRY_ENV = "NOOPS_LOCK_EXPIRY"
DEFAULT_EXPIRY = 60.0
MIN_EXPIRY = 2.0
LOCK_FIELDS = ("name", "controller", "pid", "pid_start", "task_id", "user_name", "playbook", "since",
               "heartbeat_at", "expiry")
TAKEOVER_FIELDS = ("name", "at", "controller", "pid", "task_id", "user_name", "from_controller", "from_pid",
                   "from_task_id", "from_user", "from_since", "from_heartbeat_at", "reason")
# The database server's clock, in seconds since the epoch.
_NOW = {"sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
        "postgresql": "EXTRACT(EPOCH FROM clock_timestamp())::double precision"}


def in_store(dsn: str) -> bool:
    """Whether the deploy lock of a history store ``dsn`` lives in the store (PostgreSQL) rather than in a file on
    the controller (SQLite: one controller). Raises StoreError for a DSN that cannot be parsed."""
    return parse_dsn(dsn)[0] == "postgresql"


def lock_expiry(explicit: t.Any = None, config_path: str | None = None,
                env: t.Mapping[str, str] | None = None) -> float:
    """Seconds without a heartbeat after which a holder is dead: ``explicit``, else ``$NOOPS_LOCK_EXPIRY``, else
    ``[noops_history] lock_expiry`` of the ansible.cfg, else 60. Raises ValueError naming where a value that is not
    a number of seconds >= 2 came from."""
    env = os.environ if env is None else env
    for where, value in (("expiry", explicit), (EXPIRY_ENV, env.get(EXPIRY_ENV))):
        if value not in (None, ""):
            return _seconds(where, value)
    value = _config_expiry(config_path)
    return DEFAULT_EXPIRY if value in (None, "") else _seconds("[noops_history] lock_expiry", value)


def _config_expiry(config_path: str | None) -> str | None:
    import configparser

    path = config_path
    if path is None:
        with contextlib.suppress(Exception):
            from ansible.config.manager import find_ini_config_file
            path = find_ini_config_file()
    if not path or not os.path.isfile(path):
        return None
    parser = configparser.ConfigParser(interpolation=None)
    with contextlib.suppress(configparser.Error):
        parser.read(path)
        return parser.get("noops_history", "lock_expiry", fallback=None)
    return None


def _seconds(where: str, value: t.Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < MIN_EXPIRY:
        raise ValueError("%s: must be a number of seconds >= %g, got %r" % (where, MIN_EXPIRY, value))
    return seconds


def new_holder(name: str, pid: int, task_id: int | None = None, playbook: str | None = None,
               expiry: float = DEFAULT_EXPIRY) -> dict[str, t.Any]:
    """The lock row a run ``pid`` of this controller asks for (``since``/``heartbeat_at`` are the server's)."""
    try:
        user = os.environ.get("NOOPS_USER") or getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return dict(name=name, controller=controller_name(), pid=int(pid), pid_start=process_start(pid),
                task_id=task_id, user_name=user, playbook=playbook, expiry=float(expiry))


def _now(store: HistoryStore) -> float:
    return float(store._execute("SELECT %s AS now" % _NOW[store.engine]).fetchone()["now"])


def _is(row: t.Mapping[str, t.Any], holder: t.Mapping[str, t.Any]) -> bool:
    return (row.get("controller") == holder.get("controller") and int(row.get("pid") or 0) == int(holder["pid"])
            and (row.get("pid_start") or "") == (holder.get("pid_start") or ""))


_MATCH = "name = ? AND controller = ? AND pid = ? AND COALESCE(pid_start, '') = ?"


def _match(holder: t.Mapping[str, t.Any]) -> list[t.Any]:
    return [holder["name"], holder["controller"], int(holder["pid"]), holder.get("pid_start") or ""]


def dead_reason(row: t.Mapping[str, t.Any], now: float, hostname: str | None = None,
                alive: t.Callable[[int, str | None], bool] = pid_alive) -> str | None:
    """Why the holder ``row`` is dead at server time ``now``, or None while it lives: no heartbeat for longer than its
    ``expiry``, or (seen from its own controller ``hostname``) its process has ended."""
    hostname = controller_name() if hostname is None else hostname
    if row.get("controller") == hostname and not alive(int(row.get("pid") or 0), row.get("pid_start") or None):
        return "its run has ended (pid %s on %s)" % (row.get("pid"), row.get("controller"))
    age = now - float(row.get("heartbeat_at") or 0.0)
    if age > float(row.get("expiry") or DEFAULT_EXPIRY):
        return "no heartbeat for %d s (expiry %g s)" % (age, float(row.get("expiry") or DEFAULT_EXPIRY))
    return None


def _when(epoch: t.Any) -> str:
    if epoch is None:
        return "an unknown time"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(float(epoch)))


def describe(row: t.Mapping[str, t.Any], now: float | None = None) -> str:
    """``deploy of NAME is locked by controller C (pid P, task T, user U) since TIME[, last heartbeat N s ago]``."""
    text = "deploy of %s is locked by controller %s (pid %s, task %s, user %s) since %s" % (
        row.get("name"), row.get("controller") or "?", row.get("pid") or "?",
        row.get("task_id") if row.get("task_id") is not None else "-", row.get("user_name") or "?",
        _when(row.get("since")))
    if now is not None and row.get("heartbeat_at") is not None:
        text += ", last heartbeat %d s ago" % max(0, now - float(row["heartbeat_at"]))
    return text


def read(store: HistoryStore, name: str) -> dict[str, t.Any] | None:
    """The lock row of ``name``, None when free."""
    rows = store._read("cannot read the deploy lock of %s" % name,
                       "SELECT %s FROM noops_locks WHERE name = ?" % ", ".join(LOCK_FIELDS), (name,))
    return rows[0] if rows else None


def acquire(store: HistoryStore, holder: t.Mapping[str, t.Any]
            ) -> tuple[dict[str, t.Any], bool, dict[str, t.Any] | None]:
    """Take the lock ``holder["name"]`` for ``holder`` (``new_holder``) -> (the lock row, changed, the takeover
    recorded or None).

    Taking a lock the run already holds changes nothing. A dead holder's lock (``dead_reason``) is taken over and
    the takeover recorded, in one transaction. Raises LockHeld (``stale`` False) naming a live holder, StoreError.
    """
    name = holder["name"]
    lock_row = " FOR UPDATE" if store.engine == "postgresql" else ""
    for dummy in range(5):
        with store._write("cannot take the deploy lock of %s" % name):
            now = _now(store)
            found = store._execute("SELECT %s FROM noops_locks WHERE name = ?%s" % (", ".join(LOCK_FIELDS), lock_row),
                                   (name,)).fetchone()
            row = dict(found) if found is not None else None
            values = dict(holder, since=now, heartbeat_at=now)
            if row is None:
                cur = store._execute("INSERT INTO noops_locks (%s) VALUES (%s) ON CONFLICT (name) DO NOTHING"
                                     % (", ".join(LOCK_FIELDS), ", ".join("?" * len(LOCK_FIELDS))),
                                     [values.get(f) for f in LOCK_FIELDS])
                if cur.rowcount == 1:
                    return {f: values.get(f) for f in LOCK_FIELDS}, True, None
                continue                        # another run inserted it meanwhile: look again
            if _is(row, holder):
                return row, False, None
            why = dead_reason(row, now)
            if why is None:
                refused = LockHeld(describe(row, now), row, False)
                break                           # raised outside the transaction (which would wrap it)
            cols = [f for f in LOCK_FIELDS if f != "name"]
            cur = store._execute("UPDATE noops_locks SET %s WHERE %s AND since = ?"
                                 % (", ".join("%s = ?" % c for c in cols), _MATCH),
                                 [values.get(c) for c in cols] + _match(row) + [row["since"]])
            if cur.rowcount != 1:
                continue                        # renewed or taken by another run meanwhile: look again
            takeover = dict(name=name, at=now, controller=holder["controller"], pid=holder["pid"],
                            task_id=holder.get("task_id"), user_name=holder.get("user_name"),
                            from_controller=row["controller"], from_pid=row["pid"], from_task_id=row.get("task_id"),
                            from_user=row.get("user_name"), from_since=row.get("since"),
                            from_heartbeat_at=row.get("heartbeat_at"), reason=why)
            store._execute("INSERT INTO noops_lock_takeovers (%s) VALUES (%s)"
                           % (", ".join(TAKEOVER_FIELDS), ", ".join("?" * len(TAKEOVER_FIELDS))),
                           [takeover[f] for f in TAKEOVER_FIELDS])
            return {f: values.get(f) for f in LOCK_FIELDS}, True, takeover
    else:
        row = read(store, name) or {"name": name}
        refused = LockHeld(describe(row), row, False)
    raise refused


def renew(store: HistoryStore, holder: t.Mapping[str, t.Any], task_id: int | None = None) -> bool:
    """Set the heartbeat of ``holder``'s lock to now (and its task when it had none); False when ``holder`` no
    longer holds it (taken over, released)."""
    with store._write("cannot renew the deploy lock of %s" % holder["name"]):
        cur = store._execute("UPDATE noops_locks SET heartbeat_at = %s, task_id = COALESCE(task_id, ?) WHERE %s"
                             % (_NOW[store.engine], _MATCH), [task_id] + _match(holder))
        return cur.rowcount == 1


def release(store: HistoryStore, holder: t.Mapping[str, t.Any]) -> bool:
    """Remove ``holder``'s lock; False (nothing changed) when it holds none."""
    with store._write("cannot release the deploy lock of %s" % holder["name"]):
        return store._execute("DELETE FROM noops_locks WHERE %s" % _MATCH, _match(holder)).rowcount == 1


def lost_message(store: HistoryStore, holder: t.Mapping[str, t.Any]) -> str:
    """Why ``holder`` no longer holds its lock, naming the run that took it over when one did."""
    name = holder["name"]
    rows = store._read("cannot read the takeovers of %s" % name,
                       "SELECT %s FROM noops_lock_takeovers WHERE name = ? AND from_controller = ? AND from_pid = ? "
                       "ORDER BY id DESC LIMIT 1" % ", ".join(TAKEOVER_FIELDS),
                       (name, holder["controller"], int(holder["pid"])))
    if rows:
        took = rows[0]
        return ("the deploy lock of %s was taken over by controller %s (pid %s, task %s, user %s) at %s: %s"
                % (name, took["controller"], took["pid"], took["task_id"] if took["task_id"] is not None else "-",
                   took["user_name"] or "?", _when(took["at"]), took["reason"]))
    row = read(store, name)
    if row is not None:
        return "the deploy lock of %s is no longer this run's: %s" % (name, describe(row))
    return "the deploy lock of %s is no longer this run's (released or removed)" % name


def confirm(store: HistoryStore, holder: t.Mapping[str, t.Any], task_id: int | None = None) -> str | None:
    """Renew ``holder``'s lock before a batch: None when it still holds it, else why not (``lost_message``)."""
    if renew(store, holder, task_id):
        return None
    return lost_message(store, holder)


def takeovers_of_task(store: HistoryStore, task_id: int) -> list[dict[str, t.Any]]:
    """The takeovers the task made (``task_id``) or suffered (``from_task_id``), oldest first."""
    return store._read("cannot read the lock takeovers of task %d" % task_id,
                       "SELECT %s FROM noops_lock_takeovers WHERE task_id = ? OR from_task_id = ? ORDER BY id"
                       % ", ".join(TAKEOVER_FIELDS), (int(task_id), int(task_id)))


def guard(dsn: str, holder: t.Mapping[str, t.Any], interval: float | None = None) -> int | None:
    """Keep ``holder``'s lock alive while its run lives: a detached process (``lock.spawn_guard``) that renews the
    heartbeat every ``interval`` seconds (default ``expiry / 4``) and releases the lock when the ansible-playbook
    process ``holder["pid"]`` ends. A store that cannot be reached is tried again at the next beat; a lock taken
    over meanwhile is left alone. Killing the guard with its run (SIGKILL to the process group, a lost machine)
    stops the heartbeat: the lock is dead after ``expiry`` seconds. Returns the guard's pid, or None."""
    beat = interval if interval is not None else max(0.5, float(holder.get("expiry") or DEFAULT_EXPIRY) / 4.0)
    return spawn_guard(lambda: _guard_main(dsn, dict(holder), beat))


def _guard_main(dsn: str, holder: dict[str, t.Any], beat: float) -> None:
    pid, start = int(holder["pid"]), holder.get("pid_start")
    store: HistoryStore | None = None
    try:
        while not wait_for_end(pid, start, timeout=beat):
            try:
                if store is None:
                    store = HistoryStore(dsn, lock_timeout=max(1.0, min(beat, 5.0)), migrate=False)
                if not renew(store, holder):
                    return                      # taken over or released: nothing of ours to keep alive
            except StoreError:
                if store is not None:
                    store.close()
                store = None
        # The run has ended without releasing its lock: release it, trying for up to one expiry.
        deadline = time.monotonic() + float(holder.get("expiry") or DEFAULT_EXPIRY)
        while True:
            try:
                if store is None:
                    store = HistoryStore(dsn, lock_timeout=max(1.0, min(beat, 5.0)), migrate=False)
                release(store, holder)
                return
            except StoreError:
                if store is not None:
                    store.close()
                store = None
                if time.monotonic() > deadline:
                    return
                time.sleep(beat)
    finally:
        if store is not None:
            store.close()
