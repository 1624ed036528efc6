"""Instances and processes in the console against a real 2-host local fleet (plugins/plugin_utils/fleet.py) that
``noops deploy`` deployed the hello service to first: the API reads a host's processes through control.yml (and
records no task for a read); in Debian's chromium the Services row leads to the instances and a host's process
page, a restart there changes the pid, the live log tail shows a line newly written on the host (masked), and a
viewer's action is refused (403).

Set NOOPS_CONSOLE_SCREENSHOTS=DIR to keep the screenshots (docs/images/ holds the ones docs/console.md shows).
"""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from localfleet import BIN, NEEDS_SUPERVISOR, build_hello, hello_cluster, make_fleet, remove_fleet, write_yaml
from servers import running_console

pytestmark = [pytest.mark.slow, NEEDS_SUPERVISOR]
VIEWER_PASSWORD = "Viewer-Horse-Battery-7"


def _shot(page, tmp_path, name):
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("NOOPS_CONSOLE_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(path, os.path.join(keep, name))


@pytest.fixture(scope="module")
def deployed_console():
    """hello 1.0.0 deployed by ``noops deploy`` to a 2-host local fleet, and a ``noops console`` over its tree
    (with the cluster.yml in clusters/ beside it) and history. Yields url, password (admin), tokens (admin,
    viewer), hosts, dsn, cluster_file."""
    pytest.importorskip("django", reason="noops console needs the console extra")
    ctx = make_fleet("ncp-")
    base = ctx["base"]
    build_hello(ctx, "1.0.0")
    os.mkdir(os.path.join(base, "clusters"))
    cluster_file = write_yaml(os.path.join(base, "clusters", "hello.yml"),
                              hello_cluster(ctx, "1.0.0", secret="processes-test-secret", batch=2))
    dsn = ctx["env"]["NOOPS_HISTORY_DSN"]
    env = dict(ctx["env"], XDG_DATA_HOME=os.path.join(base, "data"), NOOPS_TREE=ctx["tree"])
    for name in ("NOOPS_CONSOLE_DB", "NOOPS_USER", "NOOPS_CLUSTERS"):
        env.pop(name, None)
    try:
        deploy = subprocess.run([os.path.join(BIN, "noops"), "deploy", "-i", ctx["inventory"], "-f", cluster_file,
                                 "--plain"], env=env, cwd=base, capture_output=True, text=True, timeout=1800)
        assert deploy.returncode == 0, deploy.stdout[-4000:] + deploy.stderr[-2000:]
        with running_console(["--dsn", dsn], env, cwd=base) as run:
            noops = [os.path.join(BIN, "noops"), "console"]
            subprocess.run(noops + ["user", "add", "vera", "--role", "viewer", "--password-stdin"], env=env,
                           check=True, input=VIEWER_PASSWORD + "\n", capture_output=True, text=True)
            tokens = {who: subprocess.run(noops + ["token", "add", who], env=env, capture_output=True, text=True,
                                          check=True).stdout.strip().split()[-1] for who in ("admin", "vera")}
            yield {"url": run["url"], "password": run["password"], "tokens": tokens, "hosts": ctx["hosts"],
                   "dsn": dsn, "cluster_file": cluster_file}
    finally:
        remove_fleet(ctx)


def _api(ctx, method, path, who="admin"):
    request = urllib.request.Request(ctx["url"] + path, method=method,
                                     headers={"Authorization": "Bearer " + ctx["tokens"][who]})
    try:
        with urllib.request.urlopen(request, timeout=180) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def _task_count(dsn):
    conn = sqlite3.connect(dsn)
    try:
        return conn.execute("SELECT COUNT(*) FROM noops_tasks").fetchone()[0]
    finally:
        conn.close()


def _log_in(page, ctx, user="admin", password=None):
    page.goto(ctx["url"] + "/login")
    page.fill('input[name="username"]', user)
    page.fill('input[name="password"]', password or ctx["password"])
    page.click('form.login button[type="submit"]')
    page.wait_for_url(re.compile(r"/tasks$"))


def test_processes_api_reads_the_host(deployed_console):
    ctx = deployed_console
    host = ctx["hosts"][0].name
    before = _task_count(ctx["dsn"])
    status, data = _api(ctx, "GET", "/api/v1/hosts/%s/processes" % host)
    assert status == 200, data
    hello, = [p for p in data["processes"] if p["name"] == "hello"]
    assert hello["state"] == "running" and hello["pid"] > 0 and hello["release"] == "1.0.0" and hello["start_time"]
    assert data["read_at"].endswith("Z") and data["error"] is None
    assert _task_count(ctx["dsn"]) == before  # a read is not a task
    assert _api(ctx, "GET", "/api/v1/hosts/no-such-host/processes")[0] == 404
    status, answer = _api(ctx, "POST", "/api/v1/hosts/%s/processes/hello/restart" % host, who="vera")
    assert status == 403 and "process_actions" in answer["errors"][0]


def test_restart_on_the_process_page_and_the_live_log_tail(page, deployed_console, tmp_path):
    ctx = deployed_console
    host = ctx["hosts"][0].name
    _log_in(page, ctx)
    page.goto(ctx["url"] + "/services")
    page.click('a.instances-link[href="/instances?cluster_file=%s"]' % urllib.parse.quote(ctx["cluster_file"], safe=""))
    page.wait_for_url(re.compile(r"/instances\?"))
    rows = page.locator("table.instances tbody tr")
    assert rows.count() == 2
    for i, h in enumerate(ctx["hosts"]):
        text = rows.nth(i).inner_text()
        assert h.name in text and "success" in text and "1.0.0" in text
    page.click('a[href="/hosts/%s"]' % host)
    page.wait_for_url(re.compile(r"/hosts/%s$" % re.escape(host)))
    row = page.locator('table.processes tr[data-process="hello"]')
    row.wait_for(timeout=120_000)  # read from the host right after the page came
    old_pid = int(row.locator("td.pid").inner_text())
    assert "running" in row.inner_text() and "1.0.0" in row.inner_text()
    assert "Read from %s at" % host in page.inner_text("#read-at")
    row.locator('button:has-text("Restart")').click()
    page.locator("#process-result:not([hidden])").wait_for(timeout=180_000)
    result = page.inner_text("#process-result")
    m = re.search(r"restart hello: running, pid (\d+)", result)
    assert m and int(m.group(1)) != old_pid, result
    row.wait_for(timeout=120_000)  # the table reads the host again
    new_pid = int(page.locator('table.processes tr[data-process="hello"] td.pid').inner_text())
    assert new_pid == int(m.group(1)) != old_pid
    assert page.inner_text("#process-result") == result  # the result stays above the table read again
    assert "process.restart" in page.inner_text("ul.audit") and "admin" in page.inner_text("ul.audit")
    _shot(page, tmp_path, "console-processes.png")
    status, data = _api(ctx, "GET", "/api/v1/hosts/%s/processes" % host)
    log_file = [p for p in data["processes"] if p["name"] == "hello"][0]["log"]
    assert log_file and os.path.isfile(log_file)

    page.click('table.processes tr[data-process="hello"] a:has-text("tail")')
    page.wait_for_url(re.compile(r"/processes/hello/log$"))
    from playwright.sync_api import expect

    expect(page.locator("#log-read")).to_have_text(re.compile(r"^read "), timeout=120_000)  # the first read came
    assert page.get_attribute("#log-tail", "data-mode") == "sse"  # served as server-sent events
    marker = "tail-check-%d login with password=Sup3rS3cret9x" % time.time()
    with open(log_file, "a") as f:
        f.write(marker + "\n")
    shown = page.locator("#log-lines span.line", has_text=marker.split(" ")[0])
    shown.wait_for(timeout=120_000)
    assert "password=********" in shown.inner_text() and "Sup3rS3cret9x" not in page.content()
    _shot(page, tmp_path, "console-process-log.png")


def test_a_viewer_gets_403_on_an_action(page, deployed_console):
    ctx = deployed_console
    host = ctx["hosts"][1].name
    _log_in(page, ctx, "vera", VIEWER_PASSWORD)
    page.goto(ctx["url"] + "/hosts/%s" % host)
    page.locator('table.processes tr[data-process="hello"]').wait_for(timeout=120_000)
    assert page.locator('table.processes button:has-text("Restart")').count() == 0
    token = json.loads(page.get_attribute("body", "hx-headers"))["X-CSRFToken"]
    answer = page.request.post(ctx["url"] + "/hosts/%s/processes/hello/stop" % host, headers={"X-CSRFToken": token})
    assert answer.status == 403 and "Your role (viewer) does not allow this." in answer.text()
    status, data = _api(ctx, "GET", "/api/v1/hosts/%s/processes" % host)
    assert [p["state"] for p in data["processes"] if p["name"] == "hello"] == ["running"]
