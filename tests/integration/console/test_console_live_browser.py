"""The task page live, in a real browser (Debian's chromium through pytest-playwright) against a real ``noops
console`` launching real deploys to a 2-host local fleet (plugins/plugin_utils/fleet.py): a good deploy launched
from the form, its host rows changing without a reload over server-sent events, its pause at the pause step and
Continue; Cancel of another; a broken release failing a host and Retry of the failed host, the new task linked back;
the host table as cards at phone width.

Set NOOPS_CONSOLE_SCREENSHOTS=DIR to keep the screenshots (docs/images/ holds the ones docs/console.md shows).
"""

import hashlib
import os
import re

import pytest

from localfleet import HELLO, NEEDS_SUPERVISOR, broken_hello, build_hello, make_fleet, remove_fleet
from servers import running_console
from ansible_collections.noops.platform.plugins.plugin_utils import fleet as fleetlib

pytestmark = [pytest.mark.slow, NEEDS_SUPERVISOR]
PHONE = {"width": 390, "height": 844}
DEPLOY = 600_000  # ms a deploy of the fleet may take on a loaded machine


def _shot(page, name):
    keep = os.environ.get("NOOPS_CONSOLE_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        page.screenshot(path=os.path.join(keep, name), full_page=True)


@pytest.fixture
def fleet_console(chromium):
    """A 2-host local fleet, its packages (1.0.0, 2.0.0, and 3.0.0 whose program cannot start), and a running
    ``noops console`` whose launches deploy to it."""
    pytest.importorskip("django", reason="noops console needs the console extra")
    ctx = make_fleet("nlv-")
    broken = broken_hello(ctx)
    packages = {version: build_hello(ctx, version, src)
                for version, src in (("1.0.0", HELLO), ("2.0.0", HELLO), ("3.0.0", broken))}
    env = dict(ctx["env"], XDG_DATA_HOME=os.path.join(ctx["base"], "data"), NOOPS_TREE=ctx["tree"])
    for name in ("NOOPS_CONSOLE_DB", "NOOPS_HISTORY_DSN", "NOOPS_USER"):
        env.pop(name, None)
    dsn = os.path.join(ctx["base"], "history.db")
    try:
        with running_console(["--dsn", dsn], env, cwd=ctx["base"]) as run:
            yield {"url": run["url"], "password": run["password"], "hosts": ctx["hosts"], "base": ctx["base"],
                   "packages": packages, "inventory": ctx["inventory"], "dsn": dsn,
                   "jobs": fleetlib.jobs_of(ctx["hosts"], "hello")}
    finally:
        remove_fleet(ctx)


def _log_in(page, ctx):
    page.goto(ctx["url"] + "/login")
    page.fill('input[name="username"]', "admin")
    page.fill('input[name="password"]', ctx["password"])
    page.click('form.login button[type="submit"]')
    page.wait_for_url(re.compile(r"/tasks$"))


def _launch(page, ctx, version, **fields):
    """Fill the deploy form and press Compile and deploy; returns the new task's id (its page is open)."""
    with open(ctx["packages"][version], "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    values = {"service": "\n".join(ctx["jobs"]), "env": "production", "version": version,
              "pkg_url": "file://" + ctx["packages"][version], "path": "/home/work/hello",
              "values": "port: 8080\ndb_passwd: live-test-secret\npkg_sha256: %s" % digest,
              "inventory": ctx["inventory"]}
    values.update(fields)
    page.goto(ctx["url"] + "/deploy")
    for name, value in values.items():
        page.fill('[name="%s"]' % name, str(value))
    page.click('button[value="deploy"]')
    page.wait_for_url(re.compile(r"/tasks/\d+$"), timeout=120_000)
    return int(page.url.rsplit("/", 1)[1])


def _status(page, host):
    return page.locator('tr:has(td[data-host="%s"]) .status' % host)


def test_live_task_page_pause_continue_cancel_and_retry(page, browser, fleet_console):
    from playwright.sync_api import expect

    ctx = fleet_console
    first, second = [h.name for h in ctx["hosts"]]
    _log_in(page, ctx)
    polls = []
    page.on("request", lambda r: polls.append(r.url) if r.headers.get("hx-request") and re.search(
        r"/tasks/\d+$", r.url) and r.method == "GET" else None)

    # 1. a good deploy from the form: one host a batch, a pause after the first; rows change without a reload
    task = _launch(page, ctx, "1.0.0", batch="1", pause_step="1")
    page.evaluate("window.__sameDocument = 1")
    expect(page.locator("html")).to_have_attribute("data-live", "sse", timeout=30_000)  # the event stream is open
    expect(page.locator("#task-body h1 .status").first).to_have_text("paused", timeout=DEPLOY)
    expect(_status(page, first)).to_have_text("success")
    expect(_status(page, second)).to_have_text("pending")
    expect(page.locator("#percent")).to_have_text("50%")
    assert polls == [], "the page polled while its event stream was open: %s" % polls
    _shot(page, "console-task-live.png")
    page.click('button:has-text("Continue")')
    expect(page.locator("#task-body h1 .status").first).to_have_text("success", timeout=DEPLOY)
    expect(_status(page, second)).to_have_text("success")
    expect(page.locator("#percent")).to_have_text("100%")
    assert page.evaluate("window.__sameDocument") == 1  # never reloaded
    assert page.url.endswith("/tasks/%d" % task)
    page.click('a:has-text("deploy log") >> nth=0')
    expect(page.locator("#log")).to_contain_text(first)
    assert "live-test-secret" not in page.locator("#log").inner_text()

    # 2. cancel another while it waits at its pause step
    task = _launch(page, ctx, "2.0.0", batch="1", pause_step="1")
    expect(page.locator("#task-body h1 .status").first).to_have_text("paused", timeout=DEPLOY)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('button:has-text("Cancel")')
    expect(page.locator("#task-body h1 .status").first).to_have_text("cancelled", timeout=DEPLOY)
    expect(_status(page, second)).not_to_have_text("success")

    # 3. a broken release fails the first host and stops; retry only the failed host
    failed = _launch(page, ctx, "3.0.0", batch="1", max_fail="0")
    expect(page.locator("#task-body h1 .status").first).to_have_text("failed", timeout=DEPLOY)
    expect(_status(page, first)).to_have_text("failed")
    page.click('button#retry')
    page.wait_for_url(lambda url: re.search(r"/tasks/(\d+)$", url) and not url.endswith("/tasks/%d" % failed),
                      timeout=120_000)
    expect(page.locator("#retry-of a")).to_have_text("task %d" % failed)
    expect(page.locator("#task-body h1 .status").first).to_have_text("failed", timeout=DEPLOY)
    expect(page.locator("td[data-host]")).to_have_count(1)  # only the failed host was deployed again
    expect(page.locator('td[data-host="%s"]' % first)).to_have_count(1)
    page.click('a:has-text("log") >> nth=-1')  # the host's log
    expect(page.locator("#log")).to_contain_text("cannot start: broken build")

    # 4. phone width: the host table is a stack of cards, nothing scrolls sideways
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    phone = context.new_page()
    try:
        _log_in(phone, ctx)
        phone.goto(ctx["url"] + "/tasks/%d" % task)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert phone.evaluate("getComputedStyle(document.querySelector('table.hosts tr')).display") == "block"
        _shot(phone, "console-task-cards-phone.png")
    finally:
        context.close()
