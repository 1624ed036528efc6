"""Hardening of the console: bad input refused with one line, files owner-only, limits on ids, pages and bodies,
JSON errors under /api/, the history store never created behind the user's back, user and token management."""

import io
import json
import logging
import os
import socket
import stat
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from noops_cli.main import main
from noops_console import accounts, config, roles, server
from noops_console.models import ApiToken, AuditEntry

PASSWORD = "Correct-Horse-Battery-7"  # the password conftest gives the users of its users fixture

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


# --- the console database's files ---------------------------------------------------------------------------

def test_console_db_is_created_owner_only(tmp_path):
    db = tmp_path / "shared" / "console.db"
    old = os.umask(0o022)
    try:
        assert config.prepare_db_file(str(db)) == []
    finally:
        os.umask(old)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o700


def test_console_db_readable_by_others_is_made_owner_only(tmp_path):
    db = tmp_path / "console.db"
    import sqlite3
    sqlite3.connect(str(db)).execute("CREATE TABLE x (y)").connection.commit()
    wal = tmp_path / "console.db-wal"
    wal.write_bytes(b"")
    for f in (db, wal):
        os.chmod(f, 0o644)
    warnings = config.prepare_db_file(str(db))
    assert stat.S_IMODE(db.stat().st_mode) == 0o600 and stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert warnings == ["%s was readable by other users: made it owner-only (0600)" % p for p in (db, wal)]


@pytest.mark.parametrize("kind, message", [
    ("folder", "--db {db}: is a folder, not a file"),
    ("text", "--db {db}: not an SQLite database"),
    ("under-file", "--db {db}: {parent} is not a folder"),
    ("read-only", "--db {db}: cannot create it: Permission denied"),
])
def test_bad_console_db_is_one_line(kind, message, tmp_path):
    parent = tmp_path / "p"
    db = parent / "console.db"
    if kind == "folder":
        db.mkdir(parents=True)
    elif kind == "text":
        parent.mkdir()
        db.write_text("hello\n")
    elif kind == "under-file":
        parent.write_text("a file")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        parent.mkdir(mode=0o500)
    with pytest.raises(config.ConfigError) as e:
        config.prepare_db_file(str(db))
    assert str(e.value) == message.format(db=db, parent=parent)


def test_cli_bad_db_is_one_line_before_anything(tmp_path, capsys):
    folder = tmp_path / "dir"
    folder.mkdir()
    assert main(["console", "--db", str(folder), "token", "list"]) == 2
    err = capsys.readouterr().err
    assert err == "noops: --db %s: is a folder, not a file\n" % folder


def test_cli_unusable_database_is_one_line(tmp_path):
    db = tmp_path / "console.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)  # an SQLite header on a damaged file
    db.chmod(0o600)
    env = dict(os.environ, NOOPS_CONSOLE_DB=str(db))
    noops = os.path.join(os.path.dirname(sys.executable), "noops")
    done = subprocess.run([noops, "console", "user", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("noops: console database %s: " % db) and done.stderr.count("\n") == 1, done.stderr


# --- allowed hosts and the bind ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["*", "", " ", "bad host", ".example.org", "a*.example.org", "host:80", "-x.org",
                                 "a..b"])
def test_allowed_host_refused(bad):
    with pytest.raises(server.ConsoleError) as e:
        server.allowed_hosts("127.0.0.1", [bad])
    assert str(e.value) == "--allowed-host %r: a host name or IP address" % bad


def test_allowed_host_names_every_bad_one(capsys):
    assert main(["console", "--allowed-host", "*", "--allowed-host", "ok.example.org", "--allowed-host",
                 "x y"]) == 2
    assert capsys.readouterr().err == ("noops: --allowed-host '*': a host name or IP address; "
                                       "--allowed-host 'x y': a host name or IP address\n")


@pytest.mark.parametrize("good, shown", [("console.example.org", "console.example.org"), ("10.0.0.5", "10.0.0.5"),
                                         ("fe80::1", "[fe80::1]"), ("[2001:db8::1]", "[2001:db8::1]"),
                                         ("CONSOLE", "console")])
def test_allowed_host_accepted(good, shown):
    assert shown in server.allowed_hosts("127.0.0.1", [good])


def test_allowed_hosts_of_an_every_address_bind_hold_this_machines_addresses():
    hosts = server.allowed_hosts("0.0.0.0")
    assert {"127.0.0.1", "localhost", "[::1]"} <= set(hosts)
    mine = set(server.local_addresses())
    assert mine and mine <= set(hosts)
    # an address the machine has: reach one of them, as a client would
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            assert s.getsockname()[0] in hosts
        except OSError:
            pass  # no route at all: only loopback
    assert "*" not in hosts


def test_insecure_bind_warns(monkeypatch, capsys):
    monkeypatch.setattr(server, "bind_socket", lambda host, port: (_ for _ in ()).throw(server.ConsoleError("stop")))
    assert main(["console", "--bind", "0.0.0.0:1", "--insecure-bind"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("noops console: warning: --insecure-bind: passwords and session cookies cross the "
                          "network in clear text\n")


def test_port_in_use_is_one_line_before_anything(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["console", "--bind", "127.0.0.1:%d" % port]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("noops: --bind 127.0.0.1:%d: cannot listen: " % port)
    assert captured.err.count("\n") == 1
    assert not (tmp_path / "noops").exists()


def test_keyfile_that_is_not_a_key_is_one_line(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    with pytest.raises(server.ConsoleError) as e:
        server.check_bind("0.0.0.0", str(cert), str(key), False)
    assert str(e.value).startswith("--certfile %s, --keyfile %s: not a PEM certificate and its key: " % (cert, key))
    assert "\n" not in str(e.value)


# --- passwords from a pipe, first start under a lock ---------------------------------------------------------

def test_password_without_a_terminal_says_use_password_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    with pytest.raises(server.ConsoleError) as e:
        server.read_password(False)
    assert str(e.value) == "no terminal to ask for the password: pipe it with --password-stdin"


# --- CLI: --db after the action, user and token management ----------------------------------------------------

@pytest.fixture
def cli(db, monkeypatch):
    monkeypatch.setenv("NOOPS_CONSOLE_DB", os.environ["NOOPS_CONSOLE_DB"])

    def run(*argv, stdin=None):
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return main(["console"] + list(argv))
    return run


def test_db_option_after_the_action(cli, capsys):
    db = os.environ["NOOPS_CONSOLE_DB"]
    assert cli("user", "add", "erin", "--role", "viewer", "--password-stdin", "--db", db, stdin=PASSWORD + "\n") == 0
    assert cli("token", "add", "erin", "--db", db) == 0
    assert cli("user", "list", "--db", db) == 0
    assert "erin" in capsys.readouterr().out


def test_user_management(cli, users, capsys):
    User = get_user_model()
    assert cli("user", "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "ROLE", "ACTIVE", "TOKENS", "LAST", "LOGIN", "(UTC)"]
    assert [line.split()[:3] for line in out[1:]] == [["admin1", "admin", "yes"], ["operator1", "operator", "yes"],
                                                       ["viewer1", "viewer", "yes"]]
    assert cli("user", "set-role", "viewer1", "--role", "operator") == 0
    assert roles.role_of(User.objects.get(username="viewer1")) == "operator"
    assert cli("user", "set-password", "viewer1", "--password-stdin", stdin="Another-Good-Pass-42\n") == 0
    assert User.objects.get(username="viewer1").check_password("Another-Good-Pass-42")
    token = accounts.add_token("viewer1")
    assert cli("user", "disable", "viewer1") == 0
    assert not User.objects.get(username="viewer1").is_active and accounts.user_for_token(token) is None
    assert Client().post("/login", {"username": "viewer1", "password": "Another-Good-Pass-42"}).status_code == 401
    assert cli("user", "enable", "viewer1") == 0
    assert accounts.user_for_token(token) is not None
    assert cli("user", "remove", "viewer1") == 0
    assert not User.objects.filter(username="viewer1").exists() and not ApiToken.objects.exists()
    actions = list(AuditEntry.objects.filter(target="user:viewer1").values_list("action", flat=True))
    assert {"user.set-role", "user.set-password", "user.disable", "user.enable", "user.remove"} <= set(actions)
    capsys.readouterr()
    # the last active admin stays
    assert cli("user", "disable", "admin1") == 2
    assert capsys.readouterr().err == "noops: user name 'admin1': the last active admin stays\n"
    assert cli("user", "set-role", "admin1", "--role", "viewer") == 2
    assert cli("user", "remove", "admin1") == 2
    assert cli("user", "remove", "nobody") == 2
    assert capsys.readouterr().err.endswith("noops: user name 'nobody': no such user\n")
    assert cli("user", "set-password", "operator1", "--password-stdin", stdin="short\n") == 2
    assert capsys.readouterr().err.startswith("noops: password: ")


def test_token_list_and_revoke(cli, users, capsys):
    token = accounts.add_token("operator1")
    accounts.add_token("viewer1")
    row = ApiToken.objects.get(user__username="operator1")
    assert cli("token", "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["ID", "USER", "TOKEN"]
    assert any(line.split()[:3] == [str(row.pk), "operator1", row.hint + "…"] for line in out[1:])
    assert token not in "\n".join(out) and token[:len(row.hint) + 1] not in "\n".join(out)  # never the token
    assert cli("token", "list", "--user", "viewer1") == 0
    assert [line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]] == ["viewer1"]
    assert cli("token", "revoke", str(row.pk)) == 0
    assert accounts.user_for_token(token) is None
    assert AuditEntry.objects.filter(action="token.revoke", target="user:operator1").exists()
    assert cli("token", "revoke", str(row.pk)) == 2
    assert capsys.readouterr().err.endswith("noops: token %d: no such token\n" % row.pk)


# --- requests: ids, paging, filters, bodies, methods, hosts ---------------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/tasks/99999999999999999999", "/api/v1/tasks/9223372036854775808",
                                  "/tasks/99999999999999999999"])
def test_ids_out_of_range_are_404(login, path):
    response = login("viewer").get(path)
    assert response.status_code == 404


@pytest.mark.django_db
def test_control_of_an_id_out_of_range_is_404(login):
    response = login("operator").post("/api/v1/tasks/99999999999999999999/pause",
                                      HTTP_AUTHORIZATION="Bearer " + accounts.add_token("operator1"))
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("query, error", [
    ("?page=9223372036854775807", "page: 9223372036854775807: a whole number from 1 to 1000000"),
    ("?page=1_0", "page: 1_0: a whole number from 1 to 1000000"),
    ("?per_page=%D9%A1", "per_page: \u0661: a whole number from 1 to 200"),
    ("?mine=2", "mine: 2: 0 or 1"),
    ("?mine=abc", "mine: abc: 0 or 1"),
    ("?service=,,,", "service: ,,,: an empty or invalid query"),
    ("?service=!", "service: !: an empty or invalid query"),
    ("?service=%26", "service: &: an empty or invalid query"),
    ("?service=cluster.prod,,", "service: cluster.prod,,: an empty or invalid query"),
])
def test_bad_query_values_are_400(login, query, error):
    client = login("viewer")
    response = client.get("/api/v1/tasks" + query)
    assert response.status_code == 400 and response.json()["errors"] == [error]
    assert client.get("/tasks" + query).status_code == 400


@pytest.mark.django_db
def test_page_past_the_last_is_empty(login, make_task):
    make_task()
    body = login("viewer").get("/api/v1/tasks?page=1000000").json()
    assert body["tasks"] == [] and body["pages"] == 1


@pytest.mark.django_db
def test_long_reason_is_refused(users, make_task, store):
    task = make_task({"h1": "deploying"}, status="running")
    api = Client(HTTP_AUTHORIZATION="Bearer " + accounts.add_token("operator1"))
    response = api.post("/api/v1/tasks/%d/pause" % task, json.dumps({"reason": "x" * 501}),
                        content_type="application/json")
    assert response.status_code == 400 and response.json()["errors"] == ["reason: 501 characters: at most 500"]
    response = api.post("/api/v1/tasks/%d/pause" % task, {"reason": "y" * 501})
    assert response.status_code == 400
    page = Client()
    page.force_login(users["operator"])
    response = page.post("/tasks/%d/pause" % task, {"reason": "z" * 501})
    assert response.status_code == 400 and b"reason: 501 characters: at most 500" in response.content
    assert store.get_task(task).get("control") in (None, "run")
    assert not AuditEntry.objects.filter(action="task.pause").exists()


@pytest.mark.django_db
def test_big_body_is_refused_as_json(users, make_task):
    task = make_task({"h1": "deploying"}, status="running")
    api = Client(HTTP_AUTHORIZATION="Bearer " + accounts.add_token("operator1"))
    response = api.post("/api/v1/tasks/%d/pause" % task, json.dumps({"reason": "x" * 2_000_000}),
                        content_type="application/json")
    assert response.status_code == 400 and response.json()["errors"][0].startswith("body: larger than")


@pytest.mark.django_db
@pytest.mark.parametrize("method, path", [("post", "/api/v1/tasks"), ("delete", "/api/v1/tasks/1"),
                                          ("get", "/api/v1/tasks/1/pause")])
def test_405_under_api_is_json(users, method, path):
    api = Client(HTTP_AUTHORIZATION="Bearer " + accounts.add_token("operator1"))
    response = getattr(api, method)(path)
    assert response.status_code == 405 and response["Content-Type"] == "application/json"
    assert response.json()["errors"][0].startswith("method %s: " % method.upper())


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/tasks/{id}", "/tasks", "/tasks/{id}",
                                  "/static/console/console.css", "/login"])
def test_head_works_where_get_does(login, make_task, path):
    task = make_task()
    client = login("viewer")
    head, get = client.head(path.format(id=task)), client.get(path.format(id=task))
    assert head.status_code == get.status_code and head.status_code in (200, 302)
    assert head.get("Location") == get.get("Location")


@pytest.mark.django_db
def test_bad_host_is_json_under_api_and_logged_in_one_line(caplog):
    with caplog.at_level(logging.WARNING):
        response = Client(HTTP_HOST="evil.example").get("/api/v1/tasks")
    assert response.status_code == 400 and response.json()["errors"] == [
        "Host 'evil.example': not a name this console answers to (see --allowed-host)"]
    page = Client(HTTP_HOST="evil.example").get("/tasks")
    assert page.status_code == 400 and b"--allowed-host" in page.content


def test_security_log_lines_are_one_line():
    # the console's log configuration, as uvicorn runs it: the request refused on Host is one line
    code = ("import os, django; os.environ['DJANGO_SETTINGS_MODULE']='noops_console.settings'; django.setup();"
            "from django.test import Client; Client(HTTP_HOST='evil.example').get('/tasks')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("noops console: refused a request for host 'evil.example' (not a name this console "
                           "answers to: see --allowed-host)\n")


# What the console's output gets for each client error, with its log configuration as uvicorn runs it: a refused
# request (Host, CSRF, body too large) in one line; other 4xx nothing.
_REQUESTS = [
    ("host", "Client(HTTP_HOST='evil.example').get('/tasks')", 400,
     "noops console: refused a request for host 'evil.example' (not a name this console answers to: see "
     "--allowed-host)"),
    ("csrf", "c.post('/login', {'username': 'a', 'password': 'b'})", 403,
     "noops console: refused a request: POST /login: CSRF check failed (CSRF token missing.)"),
    ("body", "c.post('/login', {'username': 'a' * 100000})", 400,
     "noops console: refused a request: POST /login: body larger than 65536 bytes"),
    ("api-401", "c.get('/api/v1/tasks')", 401, None),
    ("api-401-post", "c.post('/api/v1/tasks/1/pause', '{}', content_type='application/json')", 401, None),
    ("api-405", "c.delete('/api/v1/tasks')", 401, None),
    ("404", "c.get('/nothing-here')", 404, None),
    ("page-302", "c.get('/tasks')", 302, None),
]


@pytest.mark.parametrize("name, call, status, line", _REQUESTS, ids=[r[0] for r in _REQUESTS])
def test_what_the_console_logs_of_a_client_error(name, call, status, line, tmp_path):
    code = ("import os, django; os.environ['DJANGO_SETTINGS_MODULE']='noops_console.settings'; django.setup();"
            "from django.test import Client; c = Client(enforce_csrf_checks=True, HTTP_HOST='127.0.0.1');"
            "c.get('/login');"  # the login form: a CSRF cookie, as a browser has
            "r = %s; print(r.status_code)" % call)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, NOOPS_CONSOLE_DB=str(tmp_path / "console.db")), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(status)
    assert done.stderr == ("%s\n" % line if line else ""), done.stderr


@pytest.mark.django_db
def test_running_task_page_has_no_empty_time(login, make_task):
    task = make_task({"h1": "deploying"}, status="running")
    html = login("viewer").get("/tasks/%d" % task).content.decode()
    assert 'datetime="None"' not in html and 'datetime=""' not in html


def test_audit_list_wraps_long_words():
    css = open(os.path.join(ROOT, "noops_console", "static", "console", "console.css")).read()
    rule = [line for line in css.splitlines() if line.startswith(".audit ")][0]
    assert "overflow-wrap: anywhere" in rule


# --- the history store is never created by the console ----------------------------------------------------------

@pytest.mark.django_db
def test_missing_history_store_is_503_and_not_created(login, settings, tmp_path):
    missing = tmp_path / "gone" / "history.db"
    settings.NOOPS_HISTORY_DSN = str(missing)
    client = login("viewer")
    response = client.get("/api/v1/tasks")
    assert response.status_code == 503
    assert response.json()["errors"] == ["history store %s does not exist" % missing]
    page = client.get("/tasks")
    assert page.status_code == 503 and ("history store %s does not exist" % missing).encode() in page.content
    assert client.get("/tasks/1").status_code == 503
    assert not missing.exists() and not missing.parent.exists()
