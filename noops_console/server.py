"""Start-up of the console: configuration, its database, the first admin, and serving with uvicorn.

Used by ``noops console`` (``noops_cli/console.py``), which only parses the command line.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import typing as t

from noops_console import config

DEFAULT_BIND = "127.0.0.1:8642"


class ConsoleError(Exception):
    """A start-up problem, printed on one line."""


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port). Raises ConsoleError naming the value."""
    host, sep, port = (bind or "").rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConsoleError("--bind %r: write HOST:PORT, e.g. 127.0.0.1:8642 or [::1]:8642" % bind)
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, certfile: str | None, keyfile: str | None, insecure: bool) -> None:
    """Refuse a non-loopback bind without TLS or ``--insecure-bind``; TLS needs both files, readable.

    Raises ConsoleError naming every problem at once.
    """
    problems = []
    if bool(certfile) != bool(keyfile):
        problems.append("--certfile and --keyfile go together (got only %s)" % ("--certfile" if certfile else
                                                                              "--keyfile"))
    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path and not os.access(path, os.R_OK):
            problems.append("%s %s: not a readable file" % (option, path))
    if not is_loopback(host) and not (certfile and keyfile) and not insecure:
        problems.append("--bind %s is not a loopback address: serve it over TLS (--certfile, --keyfile) or say "
                        "--insecure-bind" % host)
    if problems:
        raise ConsoleError("; ".join(problems))


def allowed_hosts(host: str, extra: t.Sequence[str] = ()) -> list[str]:
    """Host names the console answers to: loopback names, the bound address, this machine's names when bound to
    every address, and ``extra``."""
    names = list(config.LOOPBACK_NAMES)
    if host in ("0.0.0.0", "::", ""):
        names += [socket.gethostname(), socket.getfqdn()]
    else:
        names.append(host if ":" not in host else "[%s]" % host)
    names += [e for e in extra if e]
    return list(dict.fromkeys(names))


def configure(db: str | None = None, history_dsn: str | None = None, tls: bool = False,
              hosts: t.Sequence[str] = ()) -> None:
    """Point the settings at the console database and history store, then set Django up.

    ``db`` None: ``$NOOPS_CONSOLE_DB``, else the default file; ``history_dsn`` None: resolved as ``noops tasks``.
    """
    from noops_cli.tasks import config_dsn
    from ansible_collections.noops.platform.plugins.module_utils.history_store import resolve_dsn

    os.environ[config.DB_ENV] = os.path.abspath(os.path.expanduser(
        db or os.environ.get(config.DB_ENV) or config.default_db_path()))
    os.environ[config.HISTORY_DSN_ENV] = resolve_dsn(history_dsn, config_dsn())
    os.environ[config.TLS_ENV] = "1" if tls else "0"
    if hosts:
        os.environ[config.ALLOWED_HOSTS_ENV] = ",".join(hosts)
    os.environ["DJANGO_SETTINGS_MODULE"] = "noops_console.settings"
    import django

    django.setup()


def prepare(first_admin: bool = True) -> str | None:
    """Create or migrate the console database; with ``first_admin``, on a console without users, create ``admin``
    and return its generated password (None otherwise)."""
    from django.core.management import call_command

    from noops_console import accounts

    call_command("migrate", interactive=False, verbosity=0)
    call_command("clearsessions", verbosity=0)  # expired sessions stay in the table until removed
    return accounts.ensure_first_admin() if first_admin else None


def check_history() -> str:
    """Open the history store once, so a wrong DSN fails at start and not on the first page. Returns its name."""
    from noops_console import history

    try:
        with history.open_store() as store:
            return store.name
    except history.StoreError as e:
        raise ConsoleError(str(e)) from e


def serve(host: str, port: int, certfile: str | None = None, keyfile: str | None = None) -> None:
    """Serve the configured console with uvicorn until interrupted (one process: the login throttle's counters
    live in its memory)."""
    import uvicorn

    scheme = "https" if certfile else "http"
    shown = "[%s]" % host if ":" in host else host
    print("noops console: serving %s://%s:%d/ (console database %s)" % (scheme, shown, port,
                                                                        os.environ[config.DB_ENV]), flush=True)
    uvicorn.run("noops_console.asgi:application", host=host, port=port, ssl_certfile=certfile,
                ssl_keyfile=keyfile, proxy_headers=False, lifespan="off", log_level="warning", access_log=False,
                server_header=False)


def read_password(from_stdin: bool, prompt: t.Callable[[str], str] | None = None) -> str:
    """A new password: the first line of standard input, or typed twice at a prompt. Raises ConsoleError."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise ConsoleError("--password-stdin: standard input has no password line")
        return password
    import getpass

    ask = prompt or getpass.getpass
    first = ask("Password: ")
    if ask("Password (again): ") != first:
        raise ConsoleError("the two passwords differ")
    return first
