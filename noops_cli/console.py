"""``noops console``: the web console over the deploy history (package ``noops_console``, extra ``console``)."""

from __future__ import annotations

import argparse
import typing as t

from noops_cli.main import CliError


def register(subparsers: t.Any) -> None:
    parser = subparsers.add_parser(
        "console", help="the web console: task pages and a JSON API over the deploy history",
        description="Without an action, serve the console (uvicorn). Its own database (users, sessions, API tokens, "
                    "audit log) is --db, else $NOOPS_CONSOLE_DB, else ${XDG_DATA_HOME:-~/.local/share}/noops/"
                    "console.db; the history store is found as for noops tasks. The first start creates the user "
                    "admin and prints its generated password once.")
    parser.add_argument("--db", metavar="PATH", help="the console's own SQLite database")
    parser.add_argument("--dsn", help="history store: a path, sqlite:///path or postgresql://...")
    parser.add_argument("--bind", default="127.0.0.1:8642", metavar="HOST:PORT",
                        help="address to listen on (default 127.0.0.1:8642)")
    parser.add_argument("--certfile", metavar="PEM", help="TLS certificate (chain) file")
    parser.add_argument("--keyfile", metavar="PEM", help="TLS private key file")
    parser.add_argument("--insecure-bind", action="store_true",
                        help="allow a non-loopback --bind without TLS (passwords and sessions go in clear text)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a host name clients use to reach the console (repeatable)")
    parser.set_defaults(handler=run_serve)
    sub = parser.add_subparsers(dest="console_command", metavar="ACTION")

    user = sub.add_parser("user", help="console users").add_subparsers(dest="user_command", metavar="ACTION")
    user.required = True
    add = user.add_parser("add", help="add a user with a role (password from a prompt or --password-stdin)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=("viewer", "operator", "admin"),
                     help="viewer: read; operator: also launch, pause, continue, cancel, process actions; "
                          "admin: also users and services")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=run_user_add)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", metavar="ACTION")
    token.required = True
    tadd = token.add_parser("add", help="print a new API token of user NAME (shown once; only its hash is kept)")
    tadd.add_argument("name", metavar="NAME")
    tadd.set_defaults(handler=run_token_add)


def _server() -> t.Any:
    try:
        from noops_console import server
        import django  # noqa: F401
        import uvicorn  # noqa: F401
        import django_htmx  # noqa: F401
    except ImportError as e:
        raise CliError("noops console needs the console extra (%s): pip install 'noops-platform[console]'" % e) \
            from None
    return server


def _setup(args: argparse.Namespace, first_admin: bool = False, **kw: t.Any) -> t.Any:
    server = _server()
    try:
        server.configure(db=args.db, history_dsn=args.dsn, **kw)
        return server, server.prepare(first_admin)
    except server.ConsoleError as e:
        raise CliError(str(e)) from e


def run_serve(args: argparse.Namespace) -> int:
    server = _server()
    try:
        host, port = server.parse_bind(args.bind)
        server.check_bind(host, args.certfile, args.keyfile, args.insecure_bind)
    except server.ConsoleError as e:
        raise CliError(str(e)) from e
    server, password = _setup(args, first_admin=True, tls=bool(args.certfile),
                              hosts=server.allowed_hosts(host, args.allowed_host))
    try:
        name = server.check_history()
    except server.ConsoleError as e:
        raise CliError(str(e)) from e
    if password:
        print("noops console: first start: created user admin with password %s (shown only this once; "
              "add more users with noops console user add)" % password, flush=True)
    print("noops console: history store %s" % name, flush=True)
    server.serve(host, port, args.certfile, args.keyfile)
    return 0


def run_user_add(args: argparse.Namespace) -> int:
    server, dummy = _setup(args)
    from noops_console import accounts

    try:
        new = server.read_password(args.password_stdin)
        accounts.add_user(args.name, args.role, new, by="noops console user add")
    except (server.ConsoleError, accounts.AccountError) as e:
        raise CliError(str(e)) from e
    print("user %s added with role %s" % (args.name, args.role))
    return 0


def run_token_add(args: argparse.Namespace) -> int:
    server, dummy = _setup(args)
    from noops_console import accounts

    try:
        token = accounts.add_token(args.name, by="noops console token add")
    except accounts.AccountError as e:
        raise CliError(str(e)) from e
    print(token)
    return 0
