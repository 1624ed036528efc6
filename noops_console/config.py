"""Where the console keeps its own database and secret key, and the environment variables that configure it.

``noops console`` resolves its options into these variables before Django starts, so the settings module,
the ASGI application and ``noops console user|token`` all read one configuration:

- ``NOOPS_CONSOLE_DB``: the console's SQLite file (users, sessions, tokens, audit log);
  default ``${XDG_DATA_HOME:-~/.local/share}/noops/console.db``.
- ``NOOPS_CONSOLE_HISTORY_DSN``: the history store (resolved like ``noops tasks``: ``--dsn``,
  ``$NOOPS_HISTORY_DSN``, ``[noops_history] dsn`` in ansible.cfg, the default SQLite file).
- ``NOOPS_CONSOLE_TLS``: ``1`` when served over TLS (cookies get the Secure flag).
- ``NOOPS_CONSOLE_ALLOWED_HOSTS``: comma-separated host names the console answers to.
"""

from __future__ import annotations

import os
import secrets
import typing as t

DB_ENV = "NOOPS_CONSOLE_DB"
HISTORY_DSN_ENV = "NOOPS_CONSOLE_HISTORY_DSN"
TLS_ENV = "NOOPS_CONSOLE_TLS"
ALLOWED_HOSTS_ENV = "NOOPS_CONSOLE_ALLOWED_HOSTS"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def default_db_path(env: t.Mapping[str, str] | None = None) -> str:
    """``${XDG_DATA_HOME:-~/.local/share}/noops/console.db`` (beside the default history store)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "noops", "console.db")


def secret_key(db_path: str) -> str:
    """The Django secret key kept in ``<db_path>.key`` (mode 0600), created with 50 random bytes on first use.

    Raises OSError when the file cannot be read or created.
    """
    path = db_path + ".key"
    try:
        with open(path, encoding="ascii") as f:
            key = f.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it just now
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")
    return key
