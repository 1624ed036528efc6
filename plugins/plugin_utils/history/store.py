# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy history store: one schema on SQLite (default) or PostgreSQL (psycopg 3), with migrations.

Where it lives (first that is set):
  1. an explicit DSN (callback option, ``noops tasks --dsn``, task_control ``dsn``),
  2. the environment variable ``NOOPS_HISTORY_DSN``,
  3. ``[noops_history] dsn =`` in ansible.cfg,
  4. ``${XDG_DATA_HOME:-~/.local/share}/noops/history.db``.
A DSN is a file path, ``sqlite:///path`` (``sqlite:////abs/path`` also accepted) or ``postgresql://…``.

Times are stored as seconds since the epoch (float): one type both engines order and compare alike.
SQL is written once with ``?`` parameters; the PostgreSQL connection rewrites them to ``%s``.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.history.control import (
    ACTIVE_STATUSES, ControlError, control_request, controller_gone, TASK_STATUSES,
)
from ansible_collections.noops.platform.plugins.module_utils.redact import mask_urls

DSN_ENV = "NOOPS_HISTORY_DSN"


class StoreError(Exception):
    """The store cannot be opened, migrated, read or written; the message names the store."""


class StoreLocked(StoreError):
    """Another process holds the store's write lock longer than we wait."""


# --- where the store is ------------------------------------------------------------------------------


def default_sqlite_path(env: t.Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "noops", "history.db")


def resolve_dsn(explicit: str | None = None, config_dsn: str | None = None,
                env: t.Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    for candidate in (explicit, env.get(DSN_ENV), config_dsn):
        if candidate and str(candidate).strip():
            return str(candidate).strip()
    return default_sqlite_path(env)


def config_dsn(config_path: str | None = None) -> str | None:
    """``[noops_history] dsn`` of an ansible.cfg: ``config_path``, else the one Ansible itself reads
    ($ANSIBLE_CONFIG, ./ansible.cfg, ~/.ansible.cfg, /etc/ansible/ansible.cfg); None when unset or no file.

    Raises StoreError naming the file when it cannot be parsed.
    """
    import configparser

    path = config_path
    if path is None:
        try:
            from ansible.config.manager import find_ini_config_file
            path = find_ini_config_file()
        except Exception:
            path = None
    if not path or not os.path.isfile(path):
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except configparser.Error as e:
        raise StoreError("%s: %s" % (path, e)) from e
    return parser.get("noops_history", "dsn", fallback=None) or None


def history_dsn(explicit: str | None = None, config_path: str | None = None,
                env: t.Mapping[str, str] | None = None) -> str:
    """The history store every reader and writer uses (the CLI, the callback, task_control, the console): the
    explicit DSN, else ``$NOOPS_HISTORY_DSN``, else ``[noops_history] dsn`` of the ansible.cfg (``config_dsn``),
    else the default SQLite file. Raises StoreError for an ansible.cfg that cannot be parsed."""
    env = os.environ if env is None else env
    for candidate in (explicit, env.get(DSN_ENV)):
        if candidate and str(candidate).strip():
            return str(candidate).strip()
    return resolve_dsn(None, config_dsn(config_path), env)


def task_of_run(pid: int, dsn: str | None = None, controller: str | None = None, pid_start: str | None = None,
                lock_timeout: float = 2.0) -> int | None:
    """The id of the task the history callback records for the ansible-playbook process ``pid`` on
    ``controller`` (default this host), or None: history off, not recorded yet, or a store that cannot be read.
    A SQLite store that does not exist is not created."""

    dsn = history_dsn(dsn)
    try:
        engine, target = parse_dsn(dsn)
        if engine == "sqlite" and not os.path.exists(target):
            return None
        with HistoryStore(dsn, lock_timeout=lock_timeout, migrate=False) as store:
            task = store.find_run(controller or controller_name(), pid, pid_start)
    except StoreError:
        return None
    return int(task["id"]) if task else None


def parse_dsn(dsn: str) -> tuple[str, str]:
    """(engine, target): ("sqlite", absolute path) or ("postgresql", the libpq URL or key=value string)."""
    if not dsn or not dsn.strip():
        raise StoreError("empty history store DSN")
    dsn = dsn.strip()
    if re.match(r"^postgres(ql)?://", dsn) or re.match(r"^\w+=", dsn):
        return "postgresql", dsn
    if dsn.startswith("sqlite:"):
        rest = dsn[len("sqlite:"):]
        if not rest.startswith("///"):
            raise StoreError("history store DSN %r: write sqlite:///path/to/history.db" % dsn)
        rest = rest[2:]
        if rest.startswith("//"):  # sqlite:////abs/path, as SQLAlchemy spells absolute paths
            rest = rest[1:]
        dsn = rest
    if "://" in dsn:
        raise StoreError("history store DSN %r: unknown scheme (use a path, sqlite:///path or postgresql://)"
                         % redact_dsn(dsn))
    return "sqlite", os.path.abspath(os.path.expanduser(dsn))


def redact_dsn(dsn: str) -> str:
    """The DSN without its password, for messages (the one mask of module_utils/redact.py)."""
    return mask_urls(dsn)


# --- schema --------------------------------------------------------------------------------------------

# Each migration: (version, what it adds, statements). "{pk}" and "{real}" are filled per engine.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "tasks, per-host progress and per-host log", [
        """CREATE TABLE noops_tasks (
            id {pk},
            playbook TEXT NOT NULL,
            initiator TEXT NOT NULL,
            service TEXT,
            cluster TEXT,
            version TEXT,
            status TEXT NOT NULL,
            started_at {real} NOT NULL,
            ended_at {real},
            incomplete INTEGER NOT NULL DEFAULT 0,
            cluster_file TEXT,
            cluster_yml TEXT,
            controller TEXT,
            pid INTEGER
        )""",
        "CREATE INDEX noops_tasks_started ON noops_tasks (started_at)",
        """CREATE TABLE noops_task_hosts (
            task_id INTEGER NOT NULL REFERENCES noops_tasks (id) ON DELETE CASCADE,
            host TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at {real},
            ended_at {real},
            release TEXT,
            message TEXT,
            PRIMARY KEY (task_id, host)
        )""",
        """CREATE TABLE noops_task_log (
            id {pk},
            task_id INTEGER NOT NULL REFERENCES noops_tasks (id) ON DELETE CASCADE,
            host TEXT,
            at {real} NOT NULL,
            task_name TEXT,
            action TEXT,
            status TEXT NOT NULL,
            changed INTEGER NOT NULL DEFAULT 0,
            message TEXT,
            output TEXT
        )""",
        "CREATE INDEX noops_task_log_task ON noops_task_log (task_id, host, id)",
    ]),
    (2, "task control: what the operator asked for, read by the rollout between batches", [
        "ALTER TABLE noops_tasks ADD COLUMN control TEXT NOT NULL DEFAULT 'run'",
        "ALTER TABLE noops_tasks ADD COLUMN control_by TEXT",
        "ALTER TABLE noops_tasks ADD COLUMN control_at {real}",
        "ALTER TABLE noops_tasks ADD COLUMN control_reason TEXT",
    ]),
    (3, "per-host recap: Ansible's counts of the host's task results, as its PLAY RECAP prints them", [
        "ALTER TABLE noops_task_hosts ADD COLUMN ok INTEGER",
        "ALTER TABLE noops_task_hosts ADD COLUMN changed INTEGER",
        "ALTER TABLE noops_task_hosts ADD COLUMN unreachable INTEGER",
        "ALTER TABLE noops_task_hosts ADD COLUMN failed INTEGER",
        "ALTER TABLE noops_task_hosts ADD COLUMN skipped INTEGER",
        "ALTER TABLE noops_task_hosts ADD COLUMN rescued INTEGER",
        "ALTER TABLE noops_task_hosts ADD COLUMN ignored INTEGER",
    ]),
    (4, "the run's own failure and its controller's liveness (process start time, heartbeat)", [
        "ALTER TABLE noops_tasks ADD COLUMN message TEXT",
        "ALTER TABLE noops_tasks ADD COLUMN pid_start TEXT",
        "ALTER TABLE noops_tasks ADD COLUMN heartbeat_at {real}",
    ]),
    (5, "the AWX job that ran the playbook: its id and its job template's name", [
        "ALTER TABLE noops_tasks ADD COLUMN awx_job_id BIGINT",
        "ALTER TABLE noops_tasks ADD COLUMN awx_job_template TEXT",
    ]),
    (6, "a run finds its own task: by its controller and ansible-playbook process", [
        "CREATE INDEX noops_tasks_run ON noops_tasks (pid, controller)",
    ]),
    (7, "a change sequence live readers follow, the task a retry repeats, texts kept with a task (build logs)", [
        # One counter row: a writer takes the next number under the row's lock, so numbers commit in order and a
        # reader that has seen N has seen every change up to N.
        "CREATE TABLE noops_seq (id INTEGER PRIMARY KEY, value BIGINT NOT NULL)",
        "INSERT INTO noops_seq (id, value) VALUES (1, 0)",
        "ALTER TABLE noops_tasks ADD COLUMN seq BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE noops_task_hosts ADD COLUMN seq BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE noops_tasks ADD COLUMN retry_of BIGINT",
        "CREATE INDEX noops_tasks_seq ON noops_tasks (seq)",
        "CREATE INDEX noops_tasks_retry ON noops_tasks (retry_of)",
        """CREATE TABLE noops_task_texts (
            task_id INTEGER NOT NULL REFERENCES noops_tasks (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            at {real} NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (task_id, name)
        )""",
    ]),
    (8, "deploy locks shared by several controllers (plugin_utils/odin/store_lock.py) and their takeovers", [
        """CREATE TABLE noops_locks (
            name TEXT PRIMARY KEY,
            controller TEXT NOT NULL,
            pid INTEGER NOT NULL,
            pid_start TEXT,
            task_id INTEGER,
            user_name TEXT,
            playbook TEXT,
            since {real} NOT NULL,
            heartbeat_at {real} NOT NULL,
            expiry {real} NOT NULL
        )""",
        """CREATE TABLE noops_lock_takeovers (
            id {pk},
            name TEXT NOT NULL,
            at {real} NOT NULL,
            controller TEXT NOT NULL,
            pid INTEGER NOT NULL,
            task_id INTEGER,
            user_name TEXT,
            from_controller TEXT NOT NULL,
            from_pid INTEGER NOT NULL,
            from_task_id INTEGER,
            from_user TEXT,
            from_since {real},
            from_heartbeat_at {real},
            reason TEXT
        )""",
        "CREATE INDEX noops_lock_takeovers_task ON noops_lock_takeovers (task_id)",
        "CREATE INDEX noops_lock_takeovers_from ON noops_lock_takeovers (from_task_id)",
    ]),
    (9, "the task list's filters (service, status, initiator), newest first, without reading every task", [
        "CREATE INDEX noops_tasks_service ON noops_tasks (service, id)",
        "CREATE INDEX noops_tasks_status ON noops_tasks (status, id)",
        "CREATE INDEX noops_tasks_initiator ON noops_tasks (initiator, id)",
    ]),
]
LATEST_VERSION = MIGRATIONS[-1][0]

_TYPES = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL"},
    "postgresql": {"pk": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION"},
}

TASK_FIELDS = ("playbook", "initiator", "service", "cluster", "version", "status", "started_at", "ended_at",
               "incomplete", "cluster_file", "cluster_yml", "controller", "pid",
               "control", "control_by", "control_at", "control_reason", "message", "pid_start", "heartbeat_at",
               "awx_job_id", "awx_job_template", "retry_of")
# Texts kept with a task (``put_text``): the build command's standard output and standard error.
TEXT_NAMES = ("build", "build-error")
MAX_TEXT = 4 * 1024 * 1024  # characters of a kept text (the last ones are kept)
# A host's recap, as Ansible's PLAY RECAP prints it; NULL for a host Ansible has no stats for.
RECAP_FIELDS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
HOST_FIELDS = ("host", "status", "started_at", "ended_at", "release", "message") + RECAP_FIELDS
LOG_FIELDS = ("host", "at", "task_name", "action", "status", "changed", "message", "output")
# NOT NULL columns of a log row get these when a caller leaves them out, rather than failing the whole batch.
_LOG_DEFAULTS = {"changed": 0, "status": "ok", "at": 0.0}
# A fixed 64-bit key for PostgreSQL's advisory lock, so two processes never migrate at once.
_PG_MIGRATION_LOCK = 0x6E6F6F7073686973


# --- the store ----------------------------------------------------------------------------------------


class HistoryStore:
    """A connection to the history store. Not shared between threads without the caller's lock."""

    def __init__(self, dsn: str, lock_timeout: float = 5.0, migrate: bool = True) -> None:
        self.dsn = dsn
        self.engine, self._target = parse_dsn(dsn)
        self.lock_timeout = float(lock_timeout)
        self._conn: t.Any = None
        self._connect()
        if migrate:
            self.migrate()

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.close()

    @property
    def name(self) -> str:
        return redact_dsn(self._target)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # -- connection and transactions

    def _connect(self) -> None:
        try:
            if self.engine == "sqlite":
                folder = os.path.dirname(self._target)
                if folder and not os.path.isdir(folder):
                    os.makedirs(folder, mode=0o700, exist_ok=True)
                # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer takes the lock up
                # front and waits (busy timeout) instead of failing half-way with "database is locked".
                conn = sqlite3.connect(self._target, timeout=self.lock_timeout, isolation_level=None,
                                       check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA busy_timeout = %d" % int(self.lock_timeout * 1000))
                # WAL: readers (noops tasks show) never block the writer and the writer never blocks them.
                self._set_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                self._conn = conn
            else:
                try:
                    import psycopg
                    from psycopg.rows import dict_row
                except ImportError as e:
                    raise StoreError("history store %s needs the Python package psycopg (pip install "
                                     "'psycopg[binary]')" % self.name) from e
                self._conn = psycopg.connect(self._target, autocommit=True, row_factory=dict_row,
                                             connect_timeout=max(1, int(self.lock_timeout)))
                self._conn.execute("SET lock_timeout = %d" % int(self.lock_timeout * 1000))
        except StoreError:
            raise
        except Exception as e:
            raise self._error("cannot open", e) from e

    def _set_wal(self, conn: sqlite3.Connection) -> None:
        """Switch a new store to WAL. Two processes opening a new store at once both hold a shared lock and want an
        exclusive one; SQLite answers one of them "database is locked" at once, without waiting (that would
        deadlock), so the loser tries again until the lock timeout."""
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)

    def _error(self, what: str, e: BaseException) -> StoreError:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        cls = StoreLocked if "locked" in text or "lock timeout" in text else StoreError
        return cls("history store %s: %s: %s" % (self.name, what, text))

    def _sql(self, sql: str) -> str:
        if self.engine == "postgresql":
            sql = sql.replace("?", "%s")
        return sql.format(**_TYPES[self.engine]) if "{" in sql else sql

    def _execute(self, sql: str, params: t.Sequence[t.Any] = ()) -> t.Any:
        return self._conn.execute(self._sql(sql), tuple(params))

    def _executemany(self, sql: str, rows: t.Sequence[t.Sequence[t.Any]]) -> None:
        if not rows:
            return
        if self.engine == "sqlite":
            self._conn.executemany(self._sql(sql), rows)
        else:
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), rows)

    @contextlib.contextmanager
    def _write(self, what: str) -> t.Iterator[None]:
        """One write transaction; errors become StoreError naming the store and what was being done."""
        if self._conn is None:
            raise StoreError("history store %s: closed" % self.name)
        try:
            if self.engine == "sqlite":
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            else:
                with self._conn.transaction():
                    yield
        except StoreError:
            raise
        except (ControlError, KeyError, ValueError):
            raise
        except Exception as e:
            raise self._error(what, e) from e

    def _read(self, what: str, sql: str, params: t.Sequence[t.Any] = ()) -> list[dict[str, t.Any]]:
        if self._conn is None:
            raise StoreError("history store %s: closed" % self.name)
        try:
            return [dict(r) for r in self._execute(sql, params).fetchall()]
        except Exception as e:
            raise self._error(what, e) from e

    # -- schema

    def schema_version(self) -> int:
        try:
            if self.engine == "sqlite":
                exists = self._conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name='noops_schema'").fetchone()
            else:
                exists = self._conn.execute("SELECT to_regclass('noops_schema') AS t").fetchone()["t"]
            if not exists:
                return 0
            row = self._execute("SELECT MAX(version) AS v FROM noops_schema").fetchone()
            return int((row["v"] if row is not None else 0) or 0)
        except Exception as e:
            raise self._error("cannot read the schema version", e) from e

    def migrate(self, target: int = LATEST_VERSION) -> int:
        """Bring the schema to ``target``; returns the version reached. Safe when several processes race."""
        if self.schema_version() == target:
            return target
        with self._write("cannot migrate the schema"):
            if self.engine == "postgresql":
                self._execute("SELECT pg_advisory_xact_lock(?)", (_PG_MIGRATION_LOCK,))
            self._execute("CREATE TABLE IF NOT EXISTS noops_schema (version INTEGER NOT NULL, applied_at {real})")
            row = self._execute("SELECT MAX(version) AS v FROM noops_schema").fetchone()
            current = int((row["v"] if row is not None else 0) or 0)
            if current > LATEST_VERSION:
                raise StoreError("history store %s has schema version %d, newer than this noops knows (%d): "
                                 "upgrade noops.platform" % (self.name, current, LATEST_VERSION))
            for version, dummy, statements in MIGRATIONS:
                if current < version <= target:
                    for statement in statements:
                        self._execute(statement)
                    self._execute("INSERT INTO noops_schema (version, applied_at) VALUES (?, ?)",
                                  (version, time.time()))
                    current = version
        return current

    # -- writes

    def create_task(self, **fields: t.Any) -> int:
        fields.setdefault("status", "running")
        fields.setdefault("started_at", time.time())
        cols = _check_fields(fields, TASK_FIELDS)
        sql = "INSERT INTO noops_tasks (%s, seq) VALUES (%s, ?)" % (", ".join(cols), ", ".join("?" * len(cols)))
        with self._write("cannot create a task"):
            values = [fields[c] for c in cols] + [self._next_seq()]
            if self.engine == "sqlite":
                task_id = self._execute(sql, values).lastrowid
            else:
                task_id = self._execute(sql + " RETURNING id", values).fetchone()["id"]
        return int(task_id)

    def update_task(self, task_id: int, **fields: t.Any) -> None:
        self.write_batch(task_id, fields, (), ())

    def write_batch(self, task_id: int, task_fields: t.Mapping[str, t.Any] | None,
                    hosts: t.Iterable[t.Mapping[str, t.Any]], logs: t.Iterable[t.Mapping[str, t.Any]]) -> None:
        """Task fields, host rows (upserted by host) and log rows of one task, in one transaction."""
        hosts = list(hosts)
        logs = list(logs)
        log_rows = [tuple([task_id] + [_LOG_DEFAULTS.get(f) if row.get(f) is None else row.get(f) for f in LOG_FIELDS])
                    for row in logs]
        cols = _check_fields(task_fields or {}, TASK_FIELDS)
        if not (cols or hosts or log_rows):
            return
        with self._write("cannot record task %d" % task_id):
            seq = self._next_seq()  # the task and the hosts written here carry this change's number
            host_rows = [tuple([task_id] + [h.get(f) for f in HOST_FIELDS] + [seq]) for h in hosts]
            self._execute("UPDATE noops_tasks SET %s WHERE id = ?"
                          % ", ".join(["%s = ?" % c for c in cols] + ["seq = ?"]),
                          [task_fields[c] for c in cols] + [seq, task_id])
            self._executemany(
                "INSERT INTO noops_task_hosts (task_id, %s, seq) VALUES (?, %s, ?) ON CONFLICT (task_id, host) DO "
                "UPDATE SET %s" % (", ".join(HOST_FIELDS), ", ".join("?" * len(HOST_FIELDS)),
                                   ", ".join("%s = excluded.%s" % (f, f) for f in HOST_FIELDS[1:] + ("seq",))),
                host_rows)
            self._executemany("INSERT INTO noops_task_log (task_id, %s) VALUES (?, %s)"
                              % (", ".join(LOG_FIELDS), ", ".join("?" * len(LOG_FIELDS))), log_rows)

    def request_control(self, task_id: int, action: str, by: str, reason: str | None = None) -> dict[str, t.Any]:
        """Record an operator's pause/resume/cancel; returns the updated task. ControlError when it does not fit."""
        with self._write("cannot %s task %d" % (action, task_id)):
            task = self._get_task(task_id)
            if task is None:
                raise KeyError(task_id)
            gone = controller_gone(task) if task["status"] in ACTIVE_STATUSES else None
            if gone:
                raise ControlError("task %d is interrupted: %s; nothing to %s" % (task_id, gone, action))
            control = control_request(task_id, task["status"], task["control"], action)
            self._execute("UPDATE noops_tasks SET control = ?, control_by = ?, control_at = ?, control_reason = ?, "
                          "seq = ? WHERE id = ?", (control, by, time.time(), reason, self._next_seq(), task_id))
        return self.get_task(task_id) or {}

    def set_status(self, task_id: int, status: str) -> bool:
        """Set a running task's status (running <-> paused, as the rollout holds); False if it has ended."""
        if status not in ACTIVE_STATUSES:
            raise ValueError("set_status is for running/paused, not %r" % status)
        with self._write("cannot set the status of task %d" % task_id):
            cur = self._execute("UPDATE noops_tasks SET status = ?, seq = ? WHERE id = ? AND status IN ('running', "
                                "'paused')", (status, self._next_seq(), task_id))
            return bool(cur.rowcount)

    def _next_seq(self) -> int:
        """The next change number, inside a write transaction: the counter row stays locked until the commit, so
        changes commit in the order of their numbers."""
        self._execute("UPDATE noops_seq SET value = value + 1 WHERE id = 1")
        return int(self._execute("SELECT value FROM noops_seq WHERE id = 1").fetchone()["value"])

    def put_text(self, task_id: int, name: str, text: str) -> None:
        """Keep a text with a task (one of TEXT_NAMES: ``build``, ``build-error``), replacing one of that name; only
        its last MAX_TEXT characters are kept. The caller masks it. Raises ValueError for another name."""
        if name not in TEXT_NAMES:
            raise ValueError("unknown text %r (one of %s)" % (name, ", ".join(TEXT_NAMES)))
        text = str(text)
        if len(text) > MAX_TEXT:
            text = "…" + text[-MAX_TEXT:]
        with self._write("cannot keep the %s text of task %d" % (name, task_id)):
            self._execute("INSERT INTO noops_task_texts (task_id, name, at, text) VALUES (?, ?, ?, ?) ON CONFLICT "
                          "(task_id, name) DO UPDATE SET at = excluded.at, text = excluded.text",
                          (task_id, name, time.time(), text))
            self._execute("UPDATE noops_tasks SET seq = ? WHERE id = ?", (self._next_seq(), task_id))

    def prune(self, older_than: float, now: float | None = None) -> int:
        """Delete ended tasks that started more than ``older_than`` seconds ago; returns how many."""
        cutoff = (time.time() if now is None else now) - older_than
        with self._write("cannot prune"):
            rows = self._execute("SELECT id FROM noops_tasks WHERE started_at < ? AND status NOT IN ('running', "
                                 "'paused')", (cutoff,)).fetchall()
            ids = [int(r["id"]) for r in rows]
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ", ".join("?" * len(chunk))
                # Children first: SQLite only cascades when foreign keys are on for that connection.
                self._execute("DELETE FROM noops_task_log WHERE task_id IN (%s)" % marks, chunk)
                self._execute("DELETE FROM noops_task_texts WHERE task_id IN (%s)" % marks, chunk)
                self._execute("DELETE FROM noops_task_hosts WHERE task_id IN (%s)" % marks, chunk)
                self._execute("DELETE FROM noops_tasks WHERE id IN (%s)" % marks, chunk)
        return len(ids)

    # -- reads

    def _get_task(self, task_id: int) -> dict[str, t.Any] | None:
        row = self._execute("SELECT * FROM noops_tasks WHERE id = ?", (task_id,)).fetchone()
        return dict(row) if row is not None else None

    def get_task(self, task_id: int) -> dict[str, t.Any] | None:
        rows = self._read("cannot read task %d" % task_id, "SELECT * FROM noops_tasks WHERE id = ?", (task_id,))
        return rows[0] if rows else None

    def list_tasks(self, status: str | None = None, limit: int | None = None) -> list[dict[str, t.Any]]:
        """Tasks, newest first, without their cluster.yml text."""
        if status is not None and status not in TASK_STATUSES:
            raise ValueError("unknown status %r (one of %s)" % (status, ", ".join(TASK_STATUSES)))
        cols = ", ".join(["id"] + [c for c in TASK_FIELDS if c != "cluster_yml"])
        sql = "SELECT %s FROM noops_tasks" % cols
        params: list[t.Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY id DESC"
        if limit:
            sql += " LIMIT %d" % int(limit)
        return self._read("cannot list tasks", sql, params)

    def find_run(self, controller: str, pid: int, pid_start: str | None = None) -> dict[str, t.Any] | None:
        """The newest task of the ansible-playbook process ``pid`` on ``controller`` (with start time
        ``pid_start`` when given, so that a reused pid is not taken for it), without its cluster.yml; None."""
        cols = ", ".join(["id"] + [c for c in TASK_FIELDS if c != "cluster_yml"])
        sql = "SELECT %s FROM noops_tasks WHERE pid = ? AND controller = ?" % cols
        params: list[t.Any] = [int(pid), controller]
        if pid_start is not None:
            sql += " AND (pid_start = ? OR pid_start IS NULL)"
            params.append(str(pid_start))
        rows = self._read("cannot find the task of pid %d" % pid, sql + " ORDER BY id DESC LIMIT 1", params)
        return rows[0] if rows else None

    def controller_failures(self, task_id: int) -> list[str]:
        """Messages of the task's failed results that belong to no host (the run's own work on the controller:
        a refused request, a lock held), oldest first."""
        rows = self._read("cannot read the log of task %d" % task_id,
                          "SELECT message FROM noops_task_log WHERE task_id = ? AND host IS NULL AND status = 'failed' "
                          "ORDER BY id", (task_id,))
        return [str(r["message"] or "") for r in rows]

    def task_hosts(self, task_id: int) -> list[dict[str, t.Any]]:
        return self._read("cannot read the hosts of task %d" % task_id,
                          "SELECT %s FROM noops_task_hosts WHERE task_id = ? ORDER BY started_at IS NULL, "
                          "started_at, host" % ", ".join(HOST_FIELDS), (task_id,))

    def host_progress(self, task_ids: t.Sequence[int]) -> dict[int, tuple[int, int]]:
        """Task id -> (hosts done: success, failed, skipped or unreachable; hosts selected) of those tasks."""
        out: dict[int, tuple[int, int]] = {}
        ids = [int(i) for i in task_ids]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            sql = ("SELECT task_id, SUM(CASE WHEN status IN ('success', 'failed', 'skipped', 'unreachable') THEN 1 "
                   "ELSE 0 END) AS done, COUNT(*) AS selected FROM noops_task_hosts WHERE task_id IN (%s) "
                   "GROUP BY task_id" % ", ".join("?" * len(chunk)))
            rows = self._read("cannot read the host progress", sql, chunk)
            out.update((int(r["task_id"]), (int(r["done"] or 0), int(r["selected"]))) for r in rows)
        return out

    def change_seq(self) -> int:
        """The number of the newest change committed to the store (0: none yet)."""
        rows = self._read("cannot read the change sequence", "SELECT value FROM noops_seq WHERE id = 1")
        return int(rows[0]["value"]) if rows else 0

    def task_changes(self, task_id: int, since: int = 0) -> dict[str, t.Any] | None:
        """What changed in a task after change number ``since``: ``{"seq": the task's newest change number,
        "status": the task's status, "task": the task row (without its cluster.yml) or None when it did not change,
        "hosts": the host rows that changed, oldest first}``; None when there is no such task. Raises StoreError."""
        cols = ", ".join(["id", "seq"] + [c for c in TASK_FIELDS if c != "cluster_yml"])
        rows = self._read("cannot read task %d" % task_id, "SELECT %s FROM noops_tasks WHERE id = ?" % cols,
                          (task_id,))
        if not rows:
            return None
        task = rows[0]
        hosts = self._read("cannot read the hosts of task %d" % task_id,
                           "SELECT %s, seq FROM noops_task_hosts WHERE task_id = ? AND seq > ? ORDER BY seq, "
                           "started_at IS NULL, started_at, host" % ", ".join(HOST_FIELDS), (task_id, int(since)))
        return {"seq": int(task["seq"] or 0), "status": task["status"],
                "task": task if int(task["seq"] or 0) > since else None, "hosts": hosts}

    def tasks_changed(self, since: int, limit: int = 200) -> list[dict[str, t.Any]]:
        """Tasks (without their cluster.yml) changed after change number ``since``, oldest change first, at most
        ``limit``. Raises StoreError."""
        cols = ", ".join(["id", "seq"] + [c for c in TASK_FIELDS if c != "cluster_yml"])
        return self._read("cannot read the changed tasks", "SELECT %s FROM noops_tasks WHERE seq > ? ORDER BY seq "
                          "LIMIT %d" % (cols, int(limit)), (int(since),))

    def retries_of(self, task_id: int) -> list[dict[str, t.Any]]:
        """The tasks that retry ``task_id`` (id, status), oldest first. Raises StoreError."""
        return self._read("cannot read the retries of task %d" % task_id,
                          "SELECT id, status FROM noops_tasks WHERE retry_of = ? ORDER BY id", (task_id,))

    def task_text_names(self, task_id: int) -> list[str]:
        """The names of the texts kept with a task. Raises StoreError."""
        rows = self._read("cannot read the texts of task %d" % task_id,
                          "SELECT name FROM noops_task_texts WHERE task_id = ? ORDER BY name", (task_id,))
        return [r["name"] for r in rows]

    def task_texts(self, task_id: int) -> dict[str, str]:
        """The texts kept with a task (``put_text``): {name: text}. Raises StoreError."""
        rows = self._read("cannot read the texts of task %d" % task_id,
                          "SELECT name, text FROM noops_task_texts WHERE task_id = ? ORDER BY name", (task_id,))
        return {r["name"]: r["text"] for r in rows}

    def task_log(self, task_id: int, host: str | None = None) -> list[dict[str, t.Any]]:
        sql = "SELECT %s FROM noops_task_log WHERE task_id = ?" % ", ".join(("id",) + LOG_FIELDS)
        params: list[t.Any] = [task_id]
        if host is not None:
            sql += " AND host = ?"
            params.append(host)
        return self._read("cannot read the log of task %d" % task_id, sql + " ORDER BY id", params)


def _check_fields(fields: t.Mapping[str, t.Any], allowed: t.Sequence[str]) -> list[str]:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValueError("unknown task field(s) %s" % ", ".join(unknown))
    return [c for c in allowed if c in fields]


def open_store(dsn: str | None = None, lock_timeout: float = 5.0, config_dsn: str | None = None) -> HistoryStore:
    """Open (and migrate) the store named by ``dsn`` or, when None, by the environment/config/default."""
    return HistoryStore(resolve_dsn(dsn, config_dsn), lock_timeout=lock_timeout)


def _filters(status: str | None, initiator: str | None) -> tuple[list[str], list[t.Any]]:
    if status is not None and status not in TASK_STATUSES:
        raise ValueError("unknown status %r (one of %s)" % (status, ", ".join(TASK_STATUSES)))
    where, params = [], []  # type: list[str], list[t.Any]
    for column, value in (("status", status), ("initiator", initiator)):
        if value is not None:
            where.append("%s = ?" % column)
            params.append(value)
    return where, params


def task_services(store: HistoryStore, status: str | None = None, initiator: str | None = None) -> list[str]:
    """The distinct services of the tasks (with ``status`` and ``initiator``, None: any), sorted: what a service
    query is matched against before one page of tasks is read (``query_tasks(services=...)``). Raises ValueError
    for an unknown status, StoreError."""
    where, params = _filters(status, initiator)
    where.append("service IS NOT NULL")
    rows = store._read("cannot list the tasks' services", "SELECT DISTINCT service FROM noops_tasks WHERE "
                       + " AND ".join(where), params)
    return sorted(str(r["service"]) for r in rows)


def query_tasks(store: HistoryStore, status: str | None = None, initiator: str | None = None,
                limit: int | None = None, offset: int = 0, services: t.Sequence[str] | None = None
                ) -> tuple[list[dict[str, t.Any]], int]:
    """One page of tasks, newest first, without their cluster.yml text, and how many match in all.

    ``status`` and ``initiator`` filter exactly (None: any), ``services`` keeps the tasks of those services (None:
    any; empty: none); ``limit`` None returns every match from ``offset``. The filters and the order are served by
    the store's indexes. Raises ValueError for an unknown status, StoreError when the store cannot be read.
    """
    where, params = _filters(status, initiator)
    if services is not None:
        if not services:
            return [], 0
        where.append("service IN (%s)" % ", ".join("?" * len(services)))
        params += list(services)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total = store._read("cannot count tasks", "SELECT COUNT(*) AS n FROM noops_tasks" + clause, params)[0]["n"]
    cols = ", ".join(["id"] + [c for c in TASK_FIELDS if c != "cluster_yml"])
    sql = "SELECT %s FROM noops_tasks%s ORDER BY id DESC" % (cols, clause)
    if limit is not None:
        sql += " LIMIT %d" % max(0, int(limit))
    elif offset and store.engine == "sqlite":
        sql += " LIMIT -1"  # SQLite takes OFFSET only after a LIMIT
    if offset:
        sql += " OFFSET %d" % max(0, int(offset))
    return store._read("cannot list tasks", sql, params), int(total)


def host_counts(store: HistoryStore, task_ids: t.Sequence[int]) -> dict[int, dict[str, int]]:
    """Per task, how many of its hosts are in each host status: {task_id: {"success": 3, "pending": 1}}.

    Tasks without host rows are absent. Raises StoreError when the store cannot be read.
    """
    out: dict[int, dict[str, int]] = {}
    ids = [int(i) for i in task_ids]
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        rows = store._read("cannot count the hosts of tasks",
                           "SELECT task_id, status, COUNT(*) AS n FROM noops_task_hosts WHERE task_id IN (%s) "
                           "GROUP BY task_id, status" % ", ".join("?" * len(chunk)), chunk)
        for row in rows:
            out.setdefault(int(row["task_id"]), {})[row["status"]] = int(row["n"])
    return out


# Playbooks whose hosts end on a release of the service (a control run starts or stops processes, no release).
RELEASE_PLAYBOOKS = ("deploy.yml", "rollback.yml")
_HOST_FINAL = ("success", "skipped", "failed", "unreachable")


def service_history(store: HistoryStore, services: t.Sequence[str]) -> dict[str, dict[str, t.Any]]:
    """What the history knows of each service (the job tag as the tasks record it), from grouped queries — the
    tasks themselves are never all read:

    ``{service: {"deploys": number of deploy.yml tasks, "last_task": the newest task of any playbook (id, playbook,
    status, version, initiator, started_at, ended_at), "last_version": the version of the newest deploy or
    rollback that ended success (None: none did), "hosts": {host: (its latest final status of a deploy or
    rollback: success, skipped, failed or unreachable; the release it recorded)}}}``.

    Services with no task are absent. Raises StoreError when the store cannot be read.
    """
    names = sorted({str(s) for s in services if s})
    out: dict[str, dict[str, t.Any]] = {}
    for i in range(0, len(names), 200):
        chunk = names[i:i + 200]
        marks = ", ".join("?" * len(chunk))
        release_marks = ", ".join("?" * len(RELEASE_PLAYBOOKS))
        final_marks = ", ".join("?" * len(_HOST_FINAL))
        rows = store._read("cannot read the services' tasks",
                           "SELECT service, MAX(id) AS last_id, SUM(CASE WHEN playbook = 'deploy.yml' THEN 1 ELSE 0 "
                           "END) AS deploys FROM noops_tasks WHERE service IN (%s) GROUP BY service" % marks, chunk)
        for row in rows:
            out[row["service"]] = {"deploys": int(row["deploys"] or 0), "last_task": None, "last_version": None,
                                   "hosts": {}, "_last_id": int(row["last_id"])}
        good = store._read("cannot read the services' releases",
                           "SELECT service, MAX(id) AS good_id FROM noops_tasks WHERE service IN (%s) AND status = "
                           "'success' AND playbook IN (%s) GROUP BY service" % (marks, release_marks),
                           chunk + list(RELEASE_PLAYBOOKS))
        good_ids = {int(r["good_id"]): r["service"] for r in good}
        wanted = sorted(set(good_ids) | {v["_last_id"] for v in out.values()})
        if wanted:
            tasks = store._read("cannot read the services' tasks",
                                "SELECT id, service, playbook, status, version, initiator, started_at, ended_at "
                                "FROM noops_tasks WHERE id IN (%s)" % ", ".join("?" * len(wanted)), wanted)
            for task in tasks:
                entry = out[task["service"]]
                if int(task["id"]) == entry["_last_id"]:
                    entry["last_task"] = {k: task[k] for k in ("id", "playbook", "status", "version", "initiator",
                                                               "started_at", "ended_at")}
                if int(task["id"]) in good_ids:
                    entry["last_version"] = task["version"]
        # Each host's newest final row among the service's deploys and rollbacks.
        hosts = store._read(
            "cannot read the services' hosts",
            "SELECT t.service AS service, h.host AS host, h.status AS status, h.release AS release "
            "FROM noops_task_hosts h JOIN noops_tasks t ON t.id = h.task_id "
            "JOIN (SELECT t2.service AS service, h2.host AS host, MAX(h2.task_id) AS last_id "
            "FROM noops_task_hosts h2 JOIN noops_tasks t2 ON t2.id = h2.task_id "
            "WHERE t2.service IN (%s) AND t2.playbook IN (%s) AND h2.status IN (%s) GROUP BY t2.service, h2.host) l "
            "ON l.last_id = h.task_id AND l.host = h.host AND l.service = t.service"
            % (marks, release_marks, final_marks),
            chunk + list(RELEASE_PLAYBOOKS) + list(_HOST_FINAL))
        for row in hosts:
            out[row["service"]]["hosts"][row["host"]] = (row["status"], row["release"])
    for entry in out.values():
        del entry["_last_id"]
    return out
