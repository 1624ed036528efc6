"""Browser tests of the console: Debian's chromium driven by pytest-playwright (never playwright's own browser
download), against a real ``noops console`` (uvicorn) on a free loopback port over a real SQLite history store.

Without /usr/bin/chromium or the playwright package the browser tests are skipped, saying which is missing.
"""

import os
import sys
import tempfile
import textwrap
import time

import pytest

from servers import running_console

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
JOB = "job.hello_service.hello_pdl.demo_owt.ops_cop.example"
HOST_TAG = "cop.example_owt.ops_pdl.demo_service.hello_cluster.production-%s_job.hello_idc.%s_status.service"


@pytest.fixture(scope="session")
def chromium():
    """The path of Debian's chromium; skips (saying why) without it or without the playwright package."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the browser tests need the playwright Python package (pip install pytest-playwright; the test "
                    "extra has it)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("the browser tests need Debian's chromium at %s (apt-get install chromium; ./dev test installs "
                    "it)" % CHROMIUM)
    return CHROMIUM


try:
    import pytest_playwright  # noqa: F401  (the plugin gives the browser and page fixtures)
except ImportError:
    _MISSING = "the browser tests need pytest-playwright (the test extra has it: pip install -e '.[test]')"

    @pytest.fixture
    def browser():
        pytest.skip(_MISSING)

    @pytest.fixture
    def page():
        pytest.skip(_MISSING)
else:
    @pytest.fixture(scope="session")
    def browser_type_launch_args(chromium, browser_type_launch_args):
        """pytest-playwright launches this chromium, headless, never a downloaded one."""
        return dict(browser_type_launch_args, executable_path=chromium, args=CHROMIUM_ARGS, headless=True)


def _fleet(base):
    """A tree of 4 hello machines in two rooms, its inventory source and a clusters folder with hello's
    cluster.yml beside it."""
    rooms = [("lg", "lg-hello0%d" % i) for i in (1, 2)] + [("hh", "hh-hello0%d" % i) for i in (1, 2)]
    machines = "".join("  %s: {tags: [%s]}\n" % (name, HOST_TAG % (room, room)) for room, name in rooms)
    (base / "tree.yml").write_text("machines:\n" + machines)
    (base / "fleet.noops.yml").write_text("plugin: noops.platform.service_tree\nsource: tree.yml\n")
    (base / "clusters").mkdir()
    (base / "clusters" / "hello.yml").write_text(textwrap.dedent("""\
        cluster: {name: hello, version: 1.0.0, env: production, jobs: [%s]}
        hello:
          pkg_url: https://packages.example.org/hello/hello-1.0.0.tar.gz
          path: /home/work/hello
          batch: 2
          port: 18080
          db_passwd: hello-demo-not-a-secret
        """ % JOB))
    return [name for room, name in rooms]


def _neutral(folder):
    """``folder`` under a path that reads as any fleet's (``<tmp>/fleet``, a symlink to it) when that name is free:
    the pages show the tree and clusters paths, and docs/images keeps their screenshots. Returns (the path to
    use, the symlink made or None)."""
    link = os.path.join(tempfile.gettempdir(), "fleet")
    if os.path.islink(link):
        os.unlink(link)  # left by an earlier run (the browser tests run one at a time, under the heavy lock)
    if os.path.lexists(link):
        return str(folder), None
    os.symlink(str(folder), link)
    return link, link


@pytest.fixture
def live_console(tmp_path):
    """A running ``noops console`` over a history store holding a running task and a paused one (store fixtures:
    no playbook runs), with a service tree and a clusters folder. Yields a dict: url, password (of admin), dsn,
    tasks ({"running": id, "paused": id, "done": id}), inventory (the fleet's inventory source), hosts."""
    pytest.importorskip("django", reason="noops console needs the console extra")
    pytest.importorskip("uvicorn", reason="noops console needs the console extra")
    sys.path.insert(0, os.path.join(ROOT, "collections"))
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

    hosts = _fleet(tmp_path)
    base, link = _neutral(tmp_path)
    dsn = str(tmp_path / "history.db")
    now = time.time()
    with HistoryStore(dsn) as store:
        done = store.create_task(playbook="deploy.yml", initiator="ann", service=JOB, cluster="hello",
                                 version="0.9.0", status="success", started_at=now - 3600, ended_at=now - 3500)
        store.write_batch(done, None, [{"host": h, "status": "success", "release": "0.9.0", "started_at": now - 3600,
                                        "ended_at": now - 3550} for h in hosts], ())
        running = store.create_task(playbook="deploy.yml", initiator="ann", service=JOB, cluster="hello",
                                    version="1.0.0", status="running", started_at=now - 60)
        store.write_batch(running, None, [
            {"host": hosts[0], "status": "success", "release": "1.0.0", "started_at": now - 60, "ended_at": now - 40,
             "message": "switched to 1.0.0"},
            {"host": hosts[1], "status": "deploying", "started_at": now - 30},
            {"host": hosts[2], "status": "pending"}, {"host": hosts[3], "status": "pending"}], ())
        paused = store.create_task(playbook="deploy.yml", initiator="bob", service=JOB, cluster="hello",
                                   version="1.0.0", status="paused", started_at=now - 600, control="pause",
                                   control_by="bob", control_at=now - 500, control_reason="pause_step 2")
        store.write_batch(paused, None, [{"host": hosts[0], "status": "success", "release": "1.0.0"},
                                         {"host": hosts[1], "status": "pending"}], ())
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               NOOPS_TREE=os.path.join(base, "tree.yml"))
    for name in ("NOOPS_CONSOLE_DB", "NOOPS_CLUSTERS", "NOOPS_HISTORY_DSN"):
        env.pop(name, None)
    try:
        with running_console(["--dsn", dsn], env, cwd=str(tmp_path)) as run:
            yield {"url": run["url"], "password": run["password"], "dsn": dsn, "hosts": hosts,
                   "tasks": {"running": running, "paused": paused, "done": done},
                   "inventory": os.path.join(base, "fleet.noops.yml")}
    finally:
        if link and os.path.islink(link):
            os.unlink(link)
