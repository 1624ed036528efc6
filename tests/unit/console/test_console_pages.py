"""The pages: task list (mine/all, filters, paging, htmx partial), task page (hosts, controls by role, CSRF),
static files without a CDN."""

import re

import pytest
from django.test import Client

from noops_console.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_task_list_page(login, make_task):
    mine = make_task({"a1": "success", "a2": "pending"}, status="running", initiator="viewer1")
    other = make_task(status="failed", initiator="bob", ended_at=1100.0)
    client = login("viewer")
    page = client.get("/tasks").content.decode()
    assert 'href="/tasks/%d"' % mine in page and 'href="/tasks/%d"' % other in page
    assert "1/2" in page and 'name="viewport"' in page
    assert re.search(r'<script src="/static/django_htmx/htmx-2\.min\.js', page), "htmx comes from django-htmx"
    assert 'hx-trigger="every 3s, sse:changed"' in page
    only_mine = client.get("/tasks?mine=1").content.decode()
    assert 'href="/tasks/%d"' % mine in only_mine and 'href="/tasks/%d"' % other not in only_mine
    failed = client.get("/tasks?status=failed").content.decode()
    assert 'href="/tasks/%d"' % other in failed and 'href="/tasks/%d"' % mine not in failed
    partial = client.get("/tasks?status=failed", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and partial.lstrip().startswith('<section id="task-table"')
    bad = client.get("/tasks?status=nope")
    assert bad.status_code == 400 and b"status: nope: one of" in bad.content


def test_task_list_paging(login, make_task):
    ids = [make_task() for dummy in range(30)]
    page = login("viewer").get("/tasks?page=2").content.decode()
    assert "page 2 of 2 (30 tasks)" in page
    assert 'href="/tasks/%d"' % ids[0] in page and 'href="/tasks/%d"' % ids[-1] not in page
    assert "?page=1" in page and "older &rarr;" not in page


@pytest.mark.parametrize("role, controls", [("viewer", False), ("operator", True), ("admin", True)])
def test_task_page_controls_by_role(login, make_task, role, controls):
    task_id = make_task({"h1": "success", "h2": "deploying", "h3": "pending"}, status="running")
    page = login(role).get("/tasks/%d" % task_id).content.decode()
    assert "1 of 3 hosts done" in page and "deploying on h2" in page
    assert page.count("<tr class=\"now\">") == 1 and "…</td>" in page  # the host worked on now, and for how long
    assert 'hx-trigger="every 2s"' in page  # a running task refreshes itself
    assert ('action="/tasks/%d/pause"' % task_id in page) is controls


def test_ended_task_page_stops_polling(login, make_task):
    task_id = make_task({"h1": "success"}, status="success", ended_at=1200.0)
    page = login("operator").get("/tasks/%d" % task_id).content.decode()
    assert "hx-trigger" not in page and "/pause" not in page
    assert login("operator").get("/tasks/999").status_code == 404


def test_page_controls_with_csrf(users, make_task, store):
    task_id = make_task({"h1": "pending"}, status="running")
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["operator"])
    refused = client.post("/tasks/%d/pause" % task_id)
    assert refused.status_code == 403 and b"CSRF check failed" in refused.content
    assert store.get_task(task_id)["control"] == "run"
    token = str(client.get("/tasks/%d" % task_id).context["csrf_token"])
    done = client.post("/tasks/%d/pause" % task_id, {"csrfmiddlewaretoken": token, "reason": "lunch"})
    assert done.status_code == 302 and done["Location"] == "/tasks/%d" % task_id
    assert store.get_task(task_id)["control"] == "pause"
    partial = client.post("/tasks/%d/cancel" % task_id, HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert store.get_task(task_id)["control"] == "cancel"
    assert "operator1: task.cancel" in partial.content.decode()
    conflict = client.post("/tasks/%d/resume" % task_id, {"csrfmiddlewaretoken": token})
    assert conflict.status_code == 409 and b"being cancelled" in conflict.content
    assert list(AuditEntry.objects.filter(target="task:%d" % task_id).values_list("action", flat=True)) == [
        "task.cancel", "task.pause"]


def test_viewer_cannot_control_from_a_page(login, make_task, store):
    task_id = make_task({"h1": "pending"}, status="running")
    assert login("viewer").post("/tasks/%d/pause" % task_id).status_code == 403
    assert store.get_task(task_id)["control"] == "run"


@pytest.mark.parametrize("path, status", [
    ("/static/django_htmx/htmx-2.min.js", 200),
    ("/static/console/console.css", 200),
    ("/static/console/../../settings.py", 404),
    ("/static/nothing.js", 404),
])
def test_static_files(path, status):
    response = Client().get(path)
    assert response.status_code == status
    if status == 200:
        assert b"".join(response.streaming_content)


def test_not_found(login):
    client = login("viewer")
    page = client.get("/tasks/999")
    assert page.status_code == 404 and b"no task 999" in page.content and b"<html" in page.content
    api = client.get("/api/v1/nothing")
    assert api.status_code == 404 and api.json()["errors"] == ["/api/v1/nothing: no such page"]


def test_htmx_refresh_after_the_session_ended_reloads_to_login(client):
    response = client.get("/tasks/1", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == "/login?next=/tasks/1"


def test_security_headers(login):
    response = login("viewer").get("/tasks")
    assert "script-src 'self';" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.content.decode()  # no inline script: the policy allows none
