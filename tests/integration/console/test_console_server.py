"""``noops console`` as a real process: first-start admin, login over HTTP with the CSRF token, pages and API."""

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore  # noqa: E402
from servers import free_port, noops_bin, running_console  # noqa: E402


@pytest.fixture
def console(tmp_path):
    pytest.importorskip("django", reason="noops console needs the console extra")
    pytest.importorskip("uvicorn", reason="noops console needs the console extra")
    dsn = str(tmp_path / "history.db")
    with HistoryStore(dsn) as store:
        task_id = store.create_task(playbook="deploy.yml", initiator="ann", service="job.web_service.shop",
                                    version="v7", status="running")
        store.write_batch(task_id, None, [{"host": "web1", "status": "success", "release": "v7"},
                                          {"host": "web2", "status": "pending"}], ())
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop("NOOPS_CONSOLE_DB", None)
    with running_console(["--dsn", dsn], env) as run:
        yield {"url": run["url"], "password": run["password"], "task": task_id, "dsn": dsn,
               "db": tmp_path / "data" / "noops" / "console.db", "env": env}


def _opener():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def test_console_login_and_pages_over_http(console):
    url = console["url"]
    # Without credentials: the API answers 401, pages send to the login page.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url + "/api/v1/tasks", timeout=10)
    assert e.value.code == 401
    opener, jar = _opener()
    login = opener.open(url + "/login", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    form = urllib.parse.urlencode({"username": "admin", "password": console["password"],
                                   "csrfmiddlewaretoken": token, "next": "/tasks"}).encode()
    page = opener.open(urllib.request.Request(url + "/login", data=form, headers={"Referer": url + "/login"}),
                       timeout=10)
    assert page.geturl() == url + "/tasks"
    html = page.read().decode()
    assert 'href="/tasks/%d"' % console["task"] in html and "1/2" in html
    # the session is written: the database and SQLite's files beside it are the owner's only
    db = console["db"]
    for path in (db, db.parent / "console.db-wal", db.parent / "console.db-shm", db.parent / "console.db.key"):
        assert oct(path.stat().st_mode & 0o777) == "0o600", path
    session = [c for c in jar if c.name == "noops_session"][0]
    assert session.has_nonstandard_attr("HttpOnly") and session.get_nonstandard_attr("SameSite") == "Lax"
    body = json.loads(opener.open(url + "/api/v1/tasks/%d" % console["task"], timeout=10).read())
    assert body["progress"] == {"done": 1, "total": 2, "percent": 50} and [h["host"] for h in body["hosts"]] == ["web1", "web2"]
    assert opener.open(url + "/static/django_htmx/htmx-2.min.js", timeout=10).status == 200
    # A token made on the command line works against the running console; pause reaches the store.
    made = subprocess.run([noops_bin(), "console", "--dsn", console["dsn"], "token", "add", "admin"],
                          env=console["env"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    request = urllib.request.Request(url + "/api/v1/tasks/%d/pause" % console["task"], method="POST",
                                     headers={"Authorization": "Bearer " + made.stdout.strip()})
    assert json.loads(urllib.request.urlopen(request, timeout=10).read())["control"] == "pause"
    with HistoryStore(console["dsn"]) as store:
        assert store.get_task(console["task"])["control_by"] == "admin"


def test_console_refuses_a_public_bind_without_tls(tmp_path):
    pytest.importorskip("django", reason="noops console needs the console extra")
    done = subprocess.run([noops_bin(), "console", "--bind", "0.0.0.0:%d" % free_port()],
                          env=dict(os.environ, XDG_DATA_HOME=str(tmp_path)), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("noops: --bind 0.0.0.0 is not a loopback address") and done.stderr.count("\n") == 1
    assert not (tmp_path / "noops").exists()  # refused before anything was created


def _this_machines_address():
    """A non-loopback address of this machine (the one a route out would use), or 127.0.0.1 without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def test_every_address_bind_answers_by_ip_and_logs_a_bad_host_in_one_line(tmp_path):
    pytest.importorskip("django", reason="noops console needs the console extra")
    port = free_port()
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path))
    env.pop("NOOPS_CONSOLE_DB", None)
    proc = subprocess.Popen([noops_bin(), "console", "--bind", "0.0.0.0:%d" % port, "--insecure-bind",
                             "--dsn", str(tmp_path / "history.db")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        out = []
        while not any("serving" in line for line in out):
            line = proc.stdout.readline()
            assert line, "noops console ended: %s %s" % ("".join(out), proc.stderr.read())
            out.append(line)
            assert time.monotonic() < deadline
        assert any("history store %s did not exist: created it" % (tmp_path / "history.db") in line for line in out)
        address = _this_machines_address()
        for attempt in range(100):
            try:
                page = urllib.request.urlopen("http://%s:%d/login" % (address, port), timeout=10)
                break
            except urllib.error.URLError as e:
                if isinstance(e, urllib.error.HTTPError):
                    raise
                time.sleep(0.1)
        assert page.status == 200
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/api/v1/tasks" % port,
                                                          headers={"Host": "evil.example"}), timeout=10)
        assert e.value.code == 400 and json.loads(e.value.read())["errors"][0].startswith("Host 'evil.example'")
    finally:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=15)
    assert stderr.startswith("noops console: warning: --insecure-bind: ")
    refused = [line for line in stderr.splitlines() if "evil.example" in line]
    assert refused == ["noops console: refused a request for host 'evil.example' (not a name this console "
                       "answers to: see --allowed-host)"], stderr
    assert "Traceback" not in stderr


def test_first_starts_at_once_and_owner_only_files(tmp_path):
    pytest.importorskip("django", reason="noops console needs the console extra")
    db = tmp_path / "shared" / "console.db"
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path))
    env.pop("NOOPS_CONSOLE_DB", None)
    procs = [subprocess.Popen(["sh", "-c", "umask 022; exec \"$0\" \"$@\"", noops_bin(), "console", "user", "list",
                               "--db", str(db)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    for stdout, stderr, code in results:
        assert code == 0 and stderr == "", stderr
        assert stdout.startswith("NAME")
    for path in [db, db.parent / "console.db.key"] + [db.parent / ("console.db" + s) for s in ("-wal", "-shm")]:
        if path.exists():
            assert oct(path.stat().st_mode & 0o777) == "0o600", path
    assert oct(db.parent.stat().st_mode & 0o777) == "0o700"
