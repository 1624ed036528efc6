"""Login, logout, throttling, cookies, the first admin, users and roles, and the command line's refusals."""

import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from noops_cli.main import main
from noops_console import accounts, roles, server, throttle
from noops_console.models import AuditEntry

PASSWORD = "Correct-Horse-Battery-7"  # the password conftest gives the users of its users fixture

pytestmark = pytest.mark.django_db


def _login(client, name, password):
    return client.post("/login", {"username": name, "password": password, "next": "/tasks"})


def test_login_and_logout(users):
    client = Client()
    assert client.get("/tasks").status_code == 302
    assert client.get("/tasks")["Location"] == "/login?next=/tasks"
    wrong = _login(client, "operator1", "nope")
    assert wrong.status_code == 401 and b"Wrong user name or password" in wrong.content
    ok = _login(client, "operator1", PASSWORD)
    assert ok.status_code == 302 and ok["Location"] == "/tasks"
    cookie = ok.cookies["noops_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    assert client.get("/tasks").status_code == 200
    assert client.get("/logout").status_code == 405  # a state change: POST only
    assert client.post("/logout").status_code == 302
    assert client.get("/tasks").status_code == 302
    actions = list(AuditEntry.objects.order_by("id").values_list("username", "action"))
    assert actions[-3:] == [("operator1", "login.failed"), ("operator1", "login"), ("operator1", "logout")]


def test_login_refuses_an_offsite_next(users):
    response = Client().post("/login", {"username": "viewer1", "password": PASSWORD, "next": "https://evil.example/"})
    assert response["Location"] == "/tasks"


def test_login_form_needs_the_csrf_token(users):
    client = Client(enforce_csrf_checks=True)
    assert _login(client, "viewer1", PASSWORD).status_code == 403
    token = client.get("/login").context["csrf_token"]
    response = client.post("/login", {"username": "viewer1", "password": PASSWORD, "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302


def test_login_throttle(users, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(throttle.time, "time", lambda: now[0])
    client = Client()
    for dummy in range(throttle.USER_LIMIT):
        assert _login(client, "operator1", "wrong").status_code == 401
    refused = _login(client, "operator1", PASSWORD)  # the right password, but too many failures
    assert refused.status_code == 429 and int(refused["Retry-After"]) == throttle.WINDOW
    assert b"Too many failed logins" in refused.content
    assert _login(Client(), "viewer1", PASSWORD).status_code == 302  # another name is not held
    now[0] += throttle.WINDOW
    assert _login(client, "operator1", PASSWORD).status_code == 302
    assert AuditEntry.objects.filter(action="login.refused", username="operator1").count() == 1


def test_login_throttle_per_address(users, monkeypatch):
    monkeypatch.setattr(throttle.time, "time", lambda: 5_000_000.0)
    for i in range(throttle.ADDRESS_LIMIT):
        assert _login(Client(), "nobody%d" % i, "wrong").status_code == 401
    assert _login(Client(), "viewer1", PASSWORD).status_code == 429
    assert _login(Client(REMOTE_ADDR="10.0.0.9"), "viewer1", PASSWORD).status_code == 302


def test_first_start_creates_admin_once(db):
    password = accounts.ensure_first_admin()
    assert password and len(password) >= 20
    admin = get_user_model().objects.get(username="admin")
    assert roles.role_of(admin) == "admin" and admin.check_password(password)
    assert roles.can(admin, "manage_users") and roles.can(admin, "control_tasks")
    assert accounts.ensure_first_admin() is None
    assert _login(Client(), "admin", password).status_code == 302


@pytest.mark.parametrize("role, allowed", [
    ("viewer", {"view_tasks"}),
    ("operator", {"view_tasks", "control_tasks", "launch_tasks", "process_actions"}),
    ("admin", {"view_tasks", "control_tasks", "launch_tasks", "process_actions", "manage_users",
               "manage_services"}),
])
def test_roles(users, role, allowed):
    user = get_user_model().objects.get(pk=users[role].pk)  # fresh: no cached permissions
    assert roles.role_of(user) == role
    assert {p for p in roles.ROLE_PERMISSIONS["admin"] if roles.can(user, p)} == allowed


def test_add_user_names_every_problem(users):
    with pytest.raises(accounts.AccountError) as e:
        accounts.add_user("viewer1", "boss", "123")
    text = str(e.value)
    assert "user name 'viewer1': already exists" in text and "role 'boss': one of viewer, operator, admin" in text
    assert "password: " in text and "too short" in text


def test_cli_user_add_and_token_add(db, tmp_path, monkeypatch, capsys):
    # The console database of the command line is the test database already set up; --db only names it here.
    monkeypatch.setenv("NOOPS_CONSOLE_DB", os.environ["NOOPS_CONSOLE_DB"])
    monkeypatch.setenv("NOOPS_CONSOLE_HISTORY_DSN", "")
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO(PASSWORD + "\n"))
    dsn = str(tmp_path / "h.db")
    assert main(["console", "--dsn", dsn, "user", "add", "carol", "--role", "operator", "--password-stdin"]) == 0
    assert capsys.readouterr().out == "user carol added with role operator\n"
    carol = get_user_model().objects.get(username="carol")
    assert roles.role_of(carol) == "operator" and carol.check_password(PASSWORD)
    assert main(["console", "--dsn", dsn, "token", "add", "carol"]) == 0
    token = capsys.readouterr().out.strip()
    assert accounts.user_for_token(token) == carol
    assert main(["console", "--dsn", dsn, "token", "add", "nobody"]) == 2
    assert capsys.readouterr().err == "noops: user name 'nobody': no such user\n"
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("short\n"))
    assert main(["console", "--dsn", dsn, "user", "add", "dave", "--role", "viewer", "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("noops: password: ") and err.count("\n") == 1


@pytest.mark.parametrize("stdin, also", [
    ("short\n", "password: This password is too short"),
    ("", "--password-stdin: standard input has no password line"),
])
def test_cli_user_add_names_the_role_and_the_password_problems_at_once(db, tmp_path, monkeypatch, capsys, stdin,
                                                                          also):
    monkeypatch.setenv("NOOPS_CONSOLE_DB", os.environ["NOOPS_CONSOLE_DB"])
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO(stdin))
    dsn = str(tmp_path / "h.db")
    assert main(["console", "--dsn", dsn, "user", "add", "erin", "--role", "bad", "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("noops: ") and err.count("\n") == 1, err
    assert "role 'bad': one of viewer, operator, admin" in err and also in err, err
    assert not get_user_model().objects.filter(username="erin").exists()


@pytest.mark.parametrize("argv, message", [
    (["--bind", "0.0.0.0:8642"], "--bind 0.0.0.0 is not a loopback address: serve it over TLS"),
    (["--bind", "192.0.2.7:80"], "--bind 192.0.2.7 is not a loopback address"),
    (["--bind", "8642"], "--bind '8642': write HOST:PORT"),
    (["--bind", "127.0.0.1:70000"], "--bind '127.0.0.1:70000': write HOST:PORT"),
    (["--certfile", "/nonexistent/c.pem"], "--certfile and --keyfile go together (got only --certfile); "
                                           "--certfile /nonexistent/c.pem: not a readable file"),
])
def test_bind_refusals(argv, message, capsys):
    assert main(["console"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("noops: " + message) and err.count("\n") == 1


def self_signed(folder):
    """A self-signed certificate and its key as PEM files in ``folder``: (cert path, key path)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "c.pem", folder / "k.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("host, certfile, insecure, ok", [
    ("127.0.0.1", None, False, True),
    ("::1", None, False, True),
    ("localhost", None, False, True),
    ("0.0.0.0", None, True, True),
    ("0.0.0.0", "cert", False, True),
    ("10.1.2.3", None, False, False),
])
def test_check_bind(host, certfile, insecure, ok, tmp_path):
    cert = key = None
    if certfile:
        cert, key = self_signed(tmp_path)
    if ok:
        server.check_bind(host, cert and str(cert), key and str(key), insecure)
    else:
        with pytest.raises(server.ConsoleError):
            server.check_bind(host, None, None, insecure)


def test_cookies_are_secure_under_tls(tmp_path):
    env = dict(os.environ, NOOPS_CONSOLE_TLS="1", NOOPS_CONSOLE_DB=str(tmp_path / "c.db"))
    out = subprocess.run([sys.executable, "-c", "import noops_console.settings as s; print(s.SESSION_COOKIE_SECURE, "
                          "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY)"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True", "True"]
    assert oct((tmp_path / "c.db.key").stat().st_mode & 0o777) == "0o600"


def test_cli_audit_lists_the_audit_log(db, tmp_path, monkeypatch, capsys):
    """``noops console audit``: the newest entries first, filtered by user, action (prefix) and target, as a table
    or JSON; the detail as stored (masked)."""
    import json

    monkeypatch.setenv("NOOPS_CONSOLE_DB", os.environ["NOOPS_CONSOLE_DB"])
    accounts.audit("ann", "login", "", "", "10.0.0.1")
    accounts.audit("ann", "task.pause", "task:7", "before batch 2")
    accounts.audit("bob", "task.launch", "task:8", "built with: make PASSWORD=Pw-Pw-99")
    dsn = str(tmp_path / "h.db")
    assert main(["console", "--dsn", dsn, "audit", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["user"], r["action"], r["target"]) for r in rows] == [
        ("bob", "task.launch", "task:8"), ("ann", "task.pause", "task:7"), ("ann", "login", "")]
    assert rows[0]["detail"] == "built with: make PASSWORD=********" and rows[2]["address"] == "10.0.0.1"
    assert main(["console", "--dsn", dsn, "audit", "--action", "task.", "--user", "ann"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["AT", "(UTC)", "USER", "ACTION", "TARGET", "ADDRESS", "DETAIL"]
    assert len(out) == 2 and "task.pause" in out[1] and "before batch 2" in out[1]
    assert main(["console", "--dsn", dsn, "audit", "--target", "task:8", "--limit", "1", "--json"]) == 0
    assert [r["target"] for r in json.loads(capsys.readouterr().out)] == ["task:8"]
