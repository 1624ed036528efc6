"""Start-up of the console: configuration, its database, the first admin, and serving with uvicorn.

Used by ``noops console`` (``noops_cli/console.py``), which only parses the command line.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
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
    if certfile and keyfile and not problems:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile, keyfile)
        except (ssl.SSLError, OSError, ValueError) as e:
            why = " ".join(str(getattr(e, "reason", None) or e).split()) or type(e).__name__
            problems.append("--certfile %s, --keyfile %s: not a PEM certificate and its key: %s"
                            % (certfile, keyfile, why))
    if problems:
        raise ConsoleError("; ".join(problems))


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket of ``host:port``, made before anything else is done, so an address in use (or not of
    this machine) stops the start with one line. Raises ConsoleError."""
    shown = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    try:
        family, kind, proto, dummy, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                  flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ConsoleError("--bind %s: cannot listen: %s" % (shown, e.strerror or e)) from e
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: no wait after a restart
        if family == socket.AF_INET6:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ConsoleError("--bind %s: cannot listen: %s" % (shown, (e.strerror or str(e)).lower())) from e
    sock.set_inheritable(True)
    return sock


def local_addresses() -> list[str]:
    """This machine's IP addresses as Host headers write them (IPv6 in brackets): its interfaces' addresses
    (Linux: ``/proc/net/fib_trie``, ``/proc/net/if_inet6``) and what its host names resolve to."""
    found: list[str] = []
    with contextlib.suppress(OSError):
        with open("/proc/net/fib_trie", encoding="ascii") as f:
            last = None
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] in ("|--", "+--"):
                    last = words[1]
                elif "/32 host LOCAL" in line and last:
                    found.append(last.split("/")[0])
    with contextlib.suppress(OSError):
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            for line in f:
                raw = line.split()[0] if line.split() else ""
                if len(raw) == 32:
                    found.append(":".join(raw[i:i + 4] for i in range(0, 32, 4)))
    for name in {socket.gethostname(), socket.getfqdn()}:
        with contextlib.suppress(OSError, UnicodeError):
            found += [info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)]
    out = []
    for text in found:
        shown = config.host_name(text.split("%")[0])
        if shown and not shown.startswith("[fe80:"):  # link-local addresses need a zone a Host cannot carry
            out.append(shown)
    return list(dict.fromkeys(out))


def allowed_hosts(host: str, extra: t.Sequence[str] = ()) -> list[str]:
    """Host names the console answers to: loopback names, the bound address (this machine's names and addresses
    when bound to every address), and ``extra``.

    Raises ConsoleError naming every ``extra`` that is not a DNS name or an IP address (``*``, empty, spaces,
    wildcards and ports are refused: they would switch the Host check off or never match).
    """
    bad = [e for e in extra if config.host_name(e) is None]
    if bad:
        raise ConsoleError("; ".join("--allowed-host %r: a host name or IP address" % e for e in bad))
    names = list(config.LOOPBACK_NAMES)
    if host in ("0.0.0.0", "::", ""):
        for name in (socket.gethostname(), socket.getfqdn()):
            shown = config.host_name(name)
            if shown:
                names.append(shown)
        names += local_addresses()
    else:
        names.append(config.host_name(host) or host)
    names += [config.host_name(e) or e for e in extra]
    return list(dict.fromkeys(names))


def configure(db: str | None = None, history_dsn: str | None = None, tls: bool = False,
              hosts: t.Sequence[str] = ()) -> None:
    """Point the settings at the console database and history store, then set Django up.

    ``db`` None: ``$NOOPS_CONSOLE_DB``, else the default file; ``history_dsn`` None: resolved as ``noops tasks``.
    The database file is made (mode 0600) or checked first; warnings (a file made owner-only) go to standard
    error. Raises ConsoleError naming the file and why it cannot be used.
    """
    from noops_cli.main import CliError
    from noops_cli.runner import history_dsn as resolve_history_dsn

    path = os.path.abspath(os.path.expanduser(db or os.environ.get(config.DB_ENV) or config.default_db_path()))
    try:
        for line in config.prepare_db_file(path):
            print("noops console: warning: %s" % line, file=sys.stderr, flush=True)
        config.secret_key(path)
    except config.ConfigError as e:
        raise ConsoleError(str(e)) from e
    except OSError as e:
        raise ConsoleError("--db %s: cannot make its key file %s.key: %s" % (path, path, e.strerror or e)) from e
    os.environ[config.DB_ENV] = path
    try:
        os.environ[config.HISTORY_DSN_ENV] = resolve_history_dsn(history_dsn)
    except CliError as e:
        raise ConsoleError(str(e)) from e
    os.environ[config.TLS_ENV] = "1" if tls else "0"
    if hosts:
        os.environ[config.ALLOWED_HOSTS_ENV] = ",".join(hosts)
    os.environ["DJANGO_SETTINGS_MODULE"] = "noops_console.settings"
    import django

    django.setup()


def prepare(first_admin: bool = True) -> str | None:
    """Create or migrate the console database; with ``first_admin``, on a console without users, create ``admin``
    and return its generated password (None otherwise)."""
    import fcntl

    from django.core.management import call_command
    from django.db import Error as DatabaseError

    from noops_console import accounts

    path = os.environ[config.DB_ENV]
    try:
        # One process at a time migrates and makes the first admin: two first starts on one database would both
        # create the tables ("table already exists") and both make an admin. The flock is on a file of its own
        # (<db>.lock), never on the database: closing any descriptor of the database would drop this process's
        # POSIX locks on it (SQLite's own) while its connections stay open, and another process closing its
        # connection (a ``noops console user …`` beside a running console) would then take itself for the last
        # one and delete the -wal and -shm files under the running console ("disk I/O error").
        fd = os.open(config.lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                call_command("migrate", interactive=False, verbosity=0)
                call_command("clearsessions", verbosity=0)  # expired sessions stay in the table until removed
                return accounts.ensure_first_admin() if first_admin else None
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    except (DatabaseError, OSError) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise ConsoleError("console database %s: %s" % (path, why)) from e


def check_history(create: bool = True) -> tuple[str, bool]:
    """Open the history store once, so a wrong DSN fails at start and not on the first page. A missing SQLite
    store is created only here, with ``create`` (the caller says so); the pages never create one. Returns its name
    and whether it was created. Raises ConsoleError."""
    from noops_console import history

    created = False
    try:
        missing = history.missing_store()
        if missing and not create:
            raise history.StoreError("history store %s does not exist" % missing)
        created = bool(missing)
        with history.open_store(create=created) as store:
            return store.name, created
    except history.StoreError as e:
        raise ConsoleError(str(e)) from e


def serve(sock: socket.socket, certfile: str | None = None, keyfile: str | None = None) -> None:
    """Serve the configured console with uvicorn on the listening socket ``sock`` (from ``bind_socket``) until
    interrupted (one process: the login throttle's counters live in its memory)."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    scheme = "https" if certfile else "http"
    shown = "[%s]" % host if ":" in host else host
    print("noops console: serving %s://%s:%d/ (console database %s)" % (scheme, shown, port,
                                                                        os.environ[config.DB_ENV]), flush=True)
    settings = uvicorn.Config("noops_console.asgi:application", host=host, port=port, ssl_certfile=certfile,
                              ssl_keyfile=keyfile, proxy_headers=False, lifespan="off", log_level="warning",
                              access_log=False, server_header=False,
                              # open event streams (task pages) would hold a stop until they end: 5 s, then closed
                              timeout_graceful_shutdown=5)
    uvicorn.Server(settings).run(sockets=[sock])


def read_password(from_stdin: bool, prompt: t.Callable[[str], str] | None = None) -> str:
    """A new password: the first line of standard input, or typed twice at a prompt. Raises ConsoleError."""
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if not password:
            raise ConsoleError("--password-stdin: standard input has no password line")
        return password
    import getpass

    if prompt is None and not sys.stdin.isatty():
        raise ConsoleError("no terminal to ask for the password: pipe it with --password-stdin")
    ask = prompt or getpass.getpass
    try:
        first = ask("Password: ")
        again = ask("Password (again): ")
    except EOFError:
        raise ConsoleError("no password typed: pipe it with --password-stdin") from None
    if again != first:
        raise ConsoleError("the two passwords differ")
    return first
