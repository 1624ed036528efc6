"""pytest-django set-up for the console: its settings on a throw-away console database, a real history store
(SQLite file per test) and users of each role."""

import os
import tempfile

import pytest

# Before Django reads its settings: the console database and its key file go to a temporary folder (the tests
# themselves run on pytest-django's in-memory test database).
_HOME = tempfile.mkdtemp(prefix="noops-console-tests-")
os.environ.setdefault("NOOPS_CONSOLE_DB", os.path.join(_HOME, "console.db"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "noops_console.settings")

import django  # noqa: E402

import noops_console  # noqa: E402,F401  (puts the collection on sys.path)

# pytest-django sets Django up when its settings are known before collection; these are known only now, and the
# test modules import the console's models.
django.setup()
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore  # noqa: E402

PASSWORD = "Correct-Horse-Battery-7"


@pytest.fixture(autouse=True)
def _console(settings, tmp_path):
    """Fast password hashing, no throttle counters from an earlier test, and a (new, empty) history store of this
    test."""
    from django.core.cache import cache

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.NOOPS_HISTORY_DSN = str(tmp_path / "history.db")
    HistoryStore(settings.NOOPS_HISTORY_DSN).close()  # the console opens a store, never creates one
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def store(settings):
    with HistoryStore(settings.NOOPS_HISTORY_DSN) as s:
        yield s


@pytest.fixture
def make_task(store):
    """make_task(hosts={"h1": "success", ...}, **task fields) -> id of a task recorded in the real store."""
    def make(hosts=None, **fields):
        fields.setdefault("playbook", "deploy.yml")
        fields.setdefault("initiator", "ann")
        fields.setdefault("service", "job.web_service.shop_cluster.prod")
        fields.setdefault("version", "v1")
        fields.setdefault("started_at", 1000.0)
        task_id = store.create_task(**fields)
        rows = [{"host": h, "status": s, "started_at": fields.get("started_at", 1000.0) + i,
                 "ended_at": None if s in ("pending", "deploying") else fields.get("started_at", 1000.0) + i + 5,
                 "release": fields["version"] if s == "success" else None, "message": "%s on %s" % (s, h)}
                for i, (h, s) in enumerate((hosts or {}).items())]
        if rows:
            store.write_batch(task_id, None, rows, ())
        return task_id
    return make


@pytest.fixture
def users(db):
    """{"viewer": user, "operator": user, "admin": user}, each with PASSWORD."""
    from noops_console import accounts

    return {role: accounts.add_user(role + "1", role, PASSWORD) for role in ("viewer", "operator", "admin")}


@pytest.fixture
def login(client, users):
    """login(role) -> the test client, logged in as that role's user."""
    def do(role):
        client.force_login(users[role])
        return client
    return do
