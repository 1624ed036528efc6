"""The console in a real browser (Debian's chromium through pytest-playwright) against a real ``noops console``:
log in, the task list and a task page, pause and continue from the page, the Services page, the deploy form's
inline errors and a dry run, and a phone-width task page without sideways scrolling.

Set NOOPS_CONSOLE_SCREENSHOTS=DIR to keep the screenshots (docs/images/ holds the ones docs/console.md shows).
"""

import json
import os
import re
import shutil
import sys

import pytest

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
JOB = "job.hello_service.hello_pdl.demo_owt.ops_cop.example"  # the fleet's service (conftest.live_console)


def _shot(page, tmp_path, name):
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("NOOPS_CONSOLE_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(path, os.path.join(keep, name))
    return path


def _log_in(page, console):
    page.goto(console["url"] + "/tasks")
    assert "/login" in page.url  # a page without a session goes to the login form
    page.fill('input[name="username"]', "admin")
    page.fill('input[name="password"]', console["password"])
    page.click('form.login button[type="submit"]')
    page.wait_for_url(re.compile(r"/tasks$"))


def _tasks(dsn):
    sys.path.insert(0, os.path.join(ROOT, "collections"))
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

    with HistoryStore(dsn) as store:
        return store.list_tasks()


def test_log_in_and_see_the_tasks(page, live_console):
    page.goto(live_console["url"] + "/login")
    page.fill('input[name="username"]', "admin")
    page.fill('input[name="password"]', "wrong password")
    page.click('form.login button[type="submit"]')
    assert "Wrong user name or password." in page.inner_text("form.login")
    _log_in(page, live_console)
    rows = page.locator("table.tasks tbody tr")
    assert rows.count() == 3
    running = live_console["tasks"]["running"]
    page.click('a[href="/tasks/%d"]' % running)
    page.wait_for_url(re.compile(r"/tasks/%d$" % running))
    assert "1 of 4 hosts done" in page.inner_text(".progress")
    now = page.locator("table.hosts tr.now")
    assert now.count() == 1 and live_console["hosts"][1] in now.inner_text()  # the host worked on now


def test_pause_and_continue_from_the_task_page(page, live_console):
    _log_in(page, live_console)
    running, paused = live_console["tasks"]["running"], live_console["tasks"]["paused"]
    page.goto(live_console["url"] + "/tasks/%d" % running)
    page.click('button:has-text("Pause")')
    page.locator('button:has-text("Continue")').wait_for()
    assert "pause by admin" in page.inner_text("dl.facts")
    assert page.locator('button:has-text("Pause")').count() == 0
    page.click('button:has-text("Continue")')
    page.locator('button:has-text("Pause")').wait_for()
    assert "run by admin" in page.inner_text("dl.facts")
    page.goto(live_console["url"] + "/tasks/%d" % paused)
    assert "pause by bob" in page.inner_text("dl.facts")
    page.click('button:has-text("Continue")')
    page.locator('button:has-text("Pause")').wait_for()
    assert "run by admin" in page.inner_text("dl.facts")
    assert "task.resume" in page.inner_text("ul.audit")  # the action is on the task, by its user


def test_services_page(page, live_console, tmp_path):
    _log_in(page, live_console)
    page.click('header nav a:has-text("Services")')
    page.wait_for_url(re.compile(r"/services$"))
    row = page.locator("table.services-table tbody tr").filter(has_text=JOB)
    assert row.count() == 1
    text = row.inner_text()
    assert "/home/work/hello" in text and "packages.example.org/hello" in text
    assert "4/4" in text and "#%d" % live_console["tasks"]["paused"] in text and "0.9.0" in text
    _shot(page, tmp_path, "console-services.png")
    page.click('nav.tree a:has-text("cluster.production-hh")')
    page.wait_for_url(re.compile(r"query=.*cluster\.production-hh"))
    assert page.locator("table.services-table tbody tr").filter(has_text=JOB).count() == 1


def test_deploy_form_inline_errors_then_a_dry_run(page, live_console, tmp_path):
    _log_in(page, live_console)
    before = len(_tasks(live_console["dsn"]))
    page.click('header nav a:has-text("Deploy")')
    page.wait_for_url(re.compile(r"/deploy$"))
    page.fill("#id-service", JOB)
    page.fill("#id-env", "production")
    page.fill("#id-version", "1.1.0")
    # A package URL of any fleet's (the dry run fetches nothing), so the screenshot shows no path of this machine.
    page.fill("#id-pkg_url", "https://packages.example.org/hello/hello-1.1.0.tar.gz")
    page.fill("#id-path", "home/work/hello")           # not absolute
    page.fill("#id-batch", "0")                        # at least 1
    page.fill("#id-max_fail", "lots")
    page.fill("#id-values", "port: 18080\ncountry: NO\ndb_passwd: not-a-secret")
    page.fill("#id-inventory", live_console["inventory"])
    page.click('button[value="check"]')
    page.locator("#field-batch .field-errors").wait_for()
    assert "must be an integer >= 1" in page.inner_text("#field-batch .field-errors")
    assert "must be an absolute path" in page.inner_text("#field-path .field-errors")
    assert "must be a count >= 0" in page.inner_text("#field-max_fail .field-errors")
    assert "country: NO" in page.inner_text("#field-values .field-errors")
    assert page.locator(".field.has-error").count() == 4 and page.locator("#dry-run").count() == 0
    assert page.input_value("#id-path") == "home/work/hello"  # the form keeps what was typed
    _shot(page, tmp_path, "console-deploy-errors.png")
    assert len(_tasks(live_console["dsn"])) == before  # nothing started
    page.fill("#id-path", "/home/work/hello")
    page.fill("#id-batch", "2")
    page.fill("#id-canary", "1")
    page.fill("#id-max_fail", "25%")
    page.fill("#id-values", "port: 18080\ncountry: \"NO\"\ndb_passwd: not-a-secret")
    page.click('button[value="check"]')
    page.locator("#dry-run").wait_for()
    assert page.locator(".field.has-error").count() == 0
    assert "to 4 hosts" in page.inner_text("#dry-run h2")
    plan = [r.inner_text() for r in page.locator("#dry-run table.plan tbody tr").all()]
    hosts = live_console["hosts"]
    assert len(plan) == 3 and hosts[0] in plan[0] and "canary batch done" in plan[0]
    assert "%s, %s" % (hosts[1], hosts[2]) in plan[1] and hosts[3] in plan[2]
    assert "db_passwd: ********" in page.input_value("#cluster-yml")
    _shot(page, tmp_path, "console-deploy-dry-run.png")
    with page.expect_download() as download:
        page.click('button[value="download"]')
    assert download.value.suggested_filename == "cluster.yml"
    assert "db_passwd: not-a-secret" in open(download.value.path(), encoding="utf-8").read()
    assert len(_tasks(live_console["dsn"])) == before


def test_phone_width_task_page_has_no_sideways_scroll(browser, live_console, tmp_path):
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    page = context.new_page()
    try:
        _log_in(page, live_console)
        for path in ("/tasks/%d" % live_console["tasks"]["running"], "/tasks", "/services", "/deploy"):
            page.goto(live_console["url"] + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], "%s is %d px wide on a %d px screen" % (path, width, PHONE["width"])
        page.goto(live_console["url"] + "/tasks/%d" % live_console["tasks"]["running"])
        _shot(page, tmp_path, "console-task-phone.png")
    finally:
        context.close()


def test_a_viewer_cannot_launch_and_a_post_needs_its_csrf_token(page, live_console, tmp_path):
    """A viewer's launch is refused (403) and starts nothing; a logged-in POST without the CSRF token is refused
    (403) and changes nothing."""
    import subprocess

    from servers import noops_bin

    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop("NOOPS_CONSOLE_DB", None)
    subprocess.run([noops_bin(), "console", "user", "add", "vera", "--role", "viewer", "--password-stdin"], env=env,
                   input="Viewer-Horse-Battery-7\n", capture_output=True, text=True, check=True, timeout=120)
    before = [t["id"] for t in _tasks(live_console["dsn"])]
    page.goto(live_console["url"] + "/login")
    page.fill('input[name="username"]', "vera")
    page.fill('input[name="password"]', "Viewer-Horse-Battery-7")
    page.click('form.login button[type="submit"]')
    page.wait_for_url(re.compile(r"/tasks$"))
    csrf = json.loads(page.get_attribute("body", "hx-headers"))["X-CSRFToken"]  # what the page's own requests send
    cluster_yml = "cluster: {name: hello, version: 1.0.0, env: production, jobs: [%s]}\n" % JOB
    launch = page.request.post(live_console["url"] + "/api/v1/deploys", headers={"X-CSRFToken": csrf},
                               data={"cluster_yml": cluster_yml})
    assert launch.status == 403, launch.text()
    form = page.request.post(live_console["url"] + "/deploy", headers={"X-CSRFToken": csrf},
                             form={"action": "deploy", "service": JOB, "env": "production", "version": "1.0.0"})
    assert form.status == 403, form.text()
    # The admin, logged in, without the token: refused, the paused task stays paused.
    page.context.clear_cookies()
    _log_in(page, live_console)
    paused = live_console["tasks"]["paused"]
    resume = page.request.post(live_console["url"] + "/tasks/%d/resume" % paused, form={"reason": "no token"})
    assert resume.status == 403, resume.text()
    resume = page.request.post(live_console["url"] + "/api/v1/tasks/%d/resume" % paused, data={})
    assert resume.status == 403, resume.text()
    assert [t["id"] for t in _tasks(live_console["dsn"])] == before
    assert {t["id"]: t["status"] for t in _tasks(live_console["dsn"])}[paused] == "paused"
