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
    # --db also after the action (noops console user add ann --role viewer --db PATH): SUPPRESS keeps the value
    # given before the action when it is not repeated after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help="the console's own SQLite database")
    role_help = "viewer, operator or admin (see docs/console.md for what each may do)"

    user = sub.add_parser("user", help="console users").add_subparsers(dest="user_command", metavar="ACTION")
    user.required = True
    add = user.add_parser("add", parents=[common],
                          help="add a user with a role (password from a prompt or --password-stdin)")
    add.add_argument("name", metavar="NAME")
    # No argparse choices: a bad role is named together with the password's problems (accounts.add_user).
    add.add_argument("--role", required=True, metavar="ROLE", help=role_help)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=run_user_add)
    ulist = user.add_parser("list", parents=[common], help="list the users: role, active, tokens, last login")
    ulist.set_defaults(handler=run_user_list)
    setpw = user.add_parser("set-password", parents=[common],
                            help="give a user a new password (its sessions end)")
    setpw.add_argument("name", metavar="NAME")
    setpw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    setpw.set_defaults(handler=run_user_set_password)
    setrole = user.add_parser("set-role", parents=[common], help="change a user's role")
    setrole.add_argument("name", metavar="NAME")
    setrole.add_argument("--role", required=True, choices=("viewer", "operator", "admin"), help=role_help)
    setrole.set_defaults(handler=run_user_set_role)
    for action, what in (("disable", "stop a user from logging in and using its API tokens (kept)"),
                         ("enable", "let a disabled user in again"),
                         ("remove", "delete a user and its API tokens (the audit log keeps its name)")):
        one = user.add_parser(action, parents=[common], help=what)
        one.add_argument("name", metavar="NAME")
        one.set_defaults(handler=run_user_change, change=action)

    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", metavar="ACTION")
    token.required = True
    tadd = token.add_parser("add", parents=[common],
                            help="print a new API token of user NAME (shown once; only its hash is kept)")
    tadd.add_argument("name", metavar="NAME")
    tadd.set_defaults(handler=run_token_add)
    tlist = token.add_parser("list", parents=[common],
                             help="list API tokens: id, user, first characters, created, last used")
    tlist.add_argument("--user", metavar="NAME", help="only this user's tokens")
    tlist.set_defaults(handler=run_token_list)
    revoke = token.add_parser("revoke", parents=[common], help="delete API token ID (as token list shows it)")
    revoke.add_argument("token_id", metavar="ID", type=int)
    revoke.set_defaults(handler=run_token_revoke)

    audit = sub.add_parser("audit", parents=[common],
                           help="the audit log, newest first: who did what to what, when, from where")
    audit.add_argument("--user", metavar="NAME", help="only this user's entries")
    audit.add_argument("--action", metavar="ACTION", help="only actions starting with this (task., login, user.add)")
    audit.add_argument("--target", metavar="TARGET", help="only this target (task:12, user:ann, host:web1/hello)")
    audit.add_argument("--limit", metavar="N", type=int, default=100, help="at most N entries (default 100)")
    audit.add_argument("--json", action="store_true", help="print JSON (times in ISO 8601, UTC)")
    audit.set_defaults(handler=run_audit)


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
    """Check the options and listen before anything is created or printed; then the database, the first admin,
    the history store, and serve."""
    import sys

    server = _server()
    try:
        host, port = server.parse_bind(args.bind)
        server.check_bind(host, args.certfile, args.keyfile, args.insecure_bind)
        hosts = server.allowed_hosts(host, args.allowed_host)
        if args.insecure_bind:
            print("noops console: warning: --insecure-bind: passwords and session cookies cross the network in "
                  "clear text", file=sys.stderr, flush=True)
        sock = server.bind_socket(host, port)
    except server.ConsoleError as e:
        raise CliError(str(e)) from e
    try:
        server, password = _setup(args, first_admin=True, tls=bool(args.certfile), hosts=hosts)
        try:
            name, created = server.check_history(create=True)
        except server.ConsoleError as e:
            raise CliError(str(e)) from e
        if password:
            print("noops console: first start: created user admin with password %s (shown only this once; "
                  "add more users with noops console user add)" % password, flush=True)
        if created:
            print("noops console: history store %s did not exist: created it, empty (deploys record into it; "
                  "--dsn names another)" % name, flush=True)
        print("noops console: history store %s" % name, flush=True)
        server.serve(sock, args.certfile, args.keyfile)
    finally:
        sock.close()
    return 0


def run_user_add(args: argparse.Namespace) -> int:
    server, dummy = _setup(args)
    from noops_console import accounts

    try:
        new = server.read_password(args.password_stdin)
    except server.ConsoleError as e:
        # No password to check: still name every other problem (the role, the name) with this one.
        others = accounts.user_problems(args.name, args.role)
        raise CliError("; ".join(others + [str(e)])) from e
    try:
        accounts.add_user(args.name, args.role, new, by="noops console user add")
    except accounts.AccountError as e:
        raise CliError(str(e)) from e
    print("user %s added with role %s" % (args.name, args.role))
    return 0


def _account_call(call: t.Callable[[], t.Any]) -> t.Any:
    from noops_console import accounts

    try:
        return call()
    except accounts.AccountError as e:
        raise CliError(str(e)) from e


def _when(value: t.Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def run_user_list(args: argparse.Namespace) -> int:
    _setup(args)
    from noops_console import accounts

    rows = [("NAME", "ROLE", "ACTIVE", "TOKENS", "LAST LOGIN (UTC)")]
    rows += [(u["name"], u["role"], "yes" if u["active"] else "no", str(u["tokens"]), _when(u["last_login"]))
             for u in accounts.list_users()]
    _print_table(rows)
    return 0


def run_user_set_password(args: argparse.Namespace) -> int:
    server, dummy = _setup(args)
    from noops_console import accounts

    try:
        new = server.read_password(args.password_stdin)
    except server.ConsoleError as e:
        raise CliError(str(e)) from e
    _account_call(lambda: accounts.set_password(args.name, new, by="noops console user set-password"))
    print("user %s has a new password" % args.name)
    return 0


def run_user_set_role(args: argparse.Namespace) -> int:
    _setup(args)
    from noops_console import accounts

    _account_call(lambda: accounts.set_user_role(args.name, args.role, by="noops console user set-role"))
    print("user %s has role %s" % (args.name, args.role))
    return 0


def run_user_change(args: argparse.Namespace) -> int:
    _setup(args)
    from noops_console import accounts

    by = "noops console user %s" % args.change
    if args.change == "remove":
        _account_call(lambda: accounts.remove_user(args.name, by=by))
    else:
        _account_call(lambda: accounts.set_active(args.name, args.change == "enable", by=by))
    print("user %s %s" % (args.name, {"remove": "removed", "enable": "enabled", "disable": "disabled"}[args.change]))
    return 0


def run_token_list(args: argparse.Namespace) -> int:
    _setup(args)
    from noops_console import accounts

    rows = [("ID", "USER", "TOKEN", "CREATED (UTC)", "LAST USED (UTC)")]
    rows += [(str(r["id"]), r["user"], r["hint"] + "…", _when(r["created"]), _when(r["last_used"]))
             for r in _account_call(lambda: accounts.list_tokens(args.user))]
    _print_table(rows)
    return 0


def run_token_revoke(args: argparse.Namespace) -> int:
    _setup(args)
    from noops_console import accounts

    _account_call(lambda: accounts.revoke_token(args.token_id, by="noops console token revoke"))
    print("token %d revoked" % args.token_id)
    return 0


def run_audit(args: argparse.Namespace) -> int:
    _setup(args)
    import json

    from noops_console import accounts

    if args.limit < 1:
        raise CliError("--limit: %d: a whole number from 1" % args.limit)
    entries = accounts.audit_entries(args.user, args.action, args.target, args.limit)
    if args.json:
        print(json.dumps([dict(e, at=e["at"].strftime("%Y-%m-%dT%H:%M:%SZ")) for e in entries], indent=1))
        return 0
    rows = [("AT (UTC)", "USER", "ACTION", "TARGET", "ADDRESS", "DETAIL")]
    rows += [(_when(e["at"]), e["user"] or "-", e["action"], e["target"] or "-", e["address"] or "-",
              " ".join((e["detail"] or "-").split())) for e in entries]
    _print_table(rows)
    return 0


def _print_table(rows: t.Sequence[t.Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def run_token_add(args: argparse.Namespace) -> int:
    server, dummy = _setup(args)
    from noops_console import accounts

    try:
        token = accounts.add_token(args.name, by="noops console token add")
    except accounts.AccountError as e:
        raise CliError(str(e)) from e
    print(token)
    return 0
