"""A ``noops console user …``/``token …`` command beside a running console: the console keeps answering and the
change takes effect (the CLI must not take the database's -wal/-shm files away from the console)."""

import os
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from servers import noops_bin, running_console

PASSWORD = "Correct-Horse-Battery-7"


def _status(url, token):
    request = urllib.request.Request(url, headers={"Authorization": "Bearer %s" % token})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_a_cli_command_beside_a_running_console_is_safe(tmp_path):
    pytest.importorskip("uvicorn", reason="noops console needs the console extra")
    db = str(tmp_path / "console.db")
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    for name in ("NOOPS_CONSOLE_DB", "NOOPS_HISTORY_DSN", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)

    def cli(*args, stdin=None):
        done = subprocess.run([noops_bin(), "console"] + list(args) + ["--db", db], env=env, input=stdin,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    tokens = {}
    for name in ("ann", "bob"):
        cli("user", "add", name, "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n" + PASSWORD + "\n")
        tokens[name] = cli("token", "add", name).strip()
    with running_console(["--db", db, "--dsn", str(tmp_path / "history.db")], env, first_start=False) as run:
        url = run["url"] + "/api/v1/tasks"
        assert _status(url, tokens["ann"]) == 200 and _status(url, tokens["bob"]) == 200
        # The files the console holds open: the CLI must leave these very files (not delete and make new ones).
        held = {suffix: os.stat(db + suffix).st_ino for suffix in ("-wal", "-shm")}
        assert re.search(r"^ann\s+viewer\s+yes", cli("user", "list"), re.M)
        assert _status(url, tokens["ann"]) == 200 and _status(url, tokens["bob"]) == 200
        cli("user", "disable", "ann")
        assert _status(url, tokens["bob"]) == 200
        assert _status(url, tokens["ann"]) in (401, 403)
        cli("token", "list")
        assert _status(url, tokens["bob"]) == 200
        for _ in range(3):
            assert _status(url, tokens["bob"]) == 200
        assert {suffix: os.stat(db + suffix).st_ino for suffix in ("-wal", "-shm") if os.path.exists(db + suffix)} \
            == held
