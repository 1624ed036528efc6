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

import ipaddress
import os
import re
import secrets
import stat
import typing as t

DB_ENV = "NOOPS_CONSOLE_DB"
HISTORY_DSN_ENV = "NOOPS_CONSOLE_HISTORY_DSN"
TLS_ENV = "NOOPS_CONSOLE_TLS"
ALLOWED_HOSTS_ENV = "NOOPS_CONSOLE_ALLOWED_HOSTS"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
SQLITE_HEADER = b"SQLite format 3\x00"
# Files SQLite keeps beside a database: they hold its data too (the WAL holds recent writes: live sessions).
DB_COMPANIONS = ("-wal", "-shm", "-journal")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class ConfigError(Exception):
    """A console file or setting that cannot be used; the message names the option, the path and why."""


def host_name(value: str) -> str | None:
    """``value`` as Django's ALLOWED_HOSTS holds it (lower case; IPv6 in brackets), or None when it is neither a
    DNS name nor an IP address (``*``, ``.example.org`` wildcards, spaces, ports are not)."""
    text = (value or "").strip().lower()
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(inner)
        return "[%s]" % address.compressed if address.version == 6 else address.compressed
    except ValueError:
        pass
    if text != inner or not text or len(text) > 253:
        return None
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    return text if all(_LABEL.match(label) for label in labels) else None


def default_db_path(env: t.Mapping[str, str] | None = None) -> str:
    """``${XDG_DATA_HOME:-~/.local/share}/noops/console.db`` (beside the default history store)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "noops", "console.db")


def _owner_only(path: str) -> str | None:
    """Make an existing ``path`` mode 0600 when others may read or write it; a warning line when it was changed."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    if not mode & 0o077:
        return None
    os.chmod(path, mode & 0o700 | 0o600)
    return "%s was readable by other users: made it owner-only (0600)" % path


def prepare_db_file(path: str) -> list[str]:
    """Make sure the console database ``path`` can be used, before Django opens it: its folder exists (created
    0700), the file exists (created empty, mode 0600, so SQLite creates its -wal and -shm files 0600 as well) and
    is an SQLite database, and neither it nor its companion files are open to other users (an existing one is
    made 0600). Returns warning lines for files that were made owner-only.

    Raises ConfigError naming ``--db``, the path and why (a folder, not a database, a folder that is a file,
    no permission).
    """
    def fail(why: str) -> ConfigError:
        return ConfigError("--db %s: %s" % (path, why))

    if os.path.isdir(path):
        raise fail("is a folder, not a file")
    folder = os.path.dirname(path) or "."
    parent = folder
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent.rstrip("/")) or "/"
    if not os.path.isdir(parent):
        raise fail("%s is not a folder" % parent)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as e:
        raise fail("cannot create its folder: %s" % (e.strerror or e)) from e
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        return []
    except FileExistsError:
        pass
    except OSError as e:
        raise fail("cannot create it: %s" % (e.strerror or e)) from e
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as e:
        raise fail("cannot read it: %s" % (e.strerror or e)) from e
    if head and head != SQLITE_HEADER:
        raise fail("not an SQLite database")
    warnings = []
    for name in [path] + [path + suffix for suffix in DB_COMPANIONS] + [path + ".key", lock_path(path)]:
        try:
            changed = _owner_only(name)
        except OSError as e:
            raise ConfigError("--db %s: %s is open to other users and cannot be made owner-only: %s"
                              % (path, name, e.strerror or e)) from e
        if changed:
            warnings.append(changed)
    return warnings


def lock_path(db_path: str) -> str:
    """``<db_path>.lock``: the file processes flock to migrate the database one at a time (mode 0600). Never the
    database itself: a process closing a descriptor of a database file loses SQLite's locks on it."""
    return db_path + ".lock"


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
