"""The task page, live and complete: event streams with catch-up from the store's change numbers, the host at work
and a true percentage, logs (viewed, downloaded, masked, in the API), the retry of failed hosts, the AWX job."""

import os
import re
import time

import pytest

from noops_console import deploy_form, events, tasklogs

pytestmark = pytest.mark.django_db(transaction=True)  # streams read the console database from a worker thread
JOB = "job.hello_service.hello_pdl.demo_owt.ops_cop.example"


@pytest.fixture(autouse=True)
def _short_streams(monkeypatch):
    monkeypatch.setattr(events, "LIFETIME", 0.6)
    monkeypatch.setattr(events, "POLL_INTERVAL", 0.05)


def _events(response):
    import warnings

    with warnings.catch_warnings():  # the test client serves the async stream synchronously, and says so
        warnings.simplefilter("ignore")
        body = b"".join(response)
    return events.parse(body)


# --- 1. event streams ------------------------------------------------------------------------------------------


def test_the_page_stream_sends_the_task_body_with_the_stores_change_number_then_ends(login, make_task, store):
    task = make_task({"h1": "success", "h2": "failed"}, status="failed")
    seq = store.task_changes(task)["seq"]
    response = login("viewer").get("/tasks/%d/events" % task)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-store"
    got = _events(response)
    assert [(e["event"], e["id"]) for e in got] == [("task", str(seq)), ("end", str(seq))]
    assert 'id="task-body"' in got[0]["data"] and 'data-host="h2"' in got[0]["data"]
    # caught up already on an ended task: 204, so the browser does not reconnect
    assert login("viewer").get("/tasks/%d/events" % task, HTTP_LAST_EVENT_ID=str(seq)).status_code == 204


def test_a_reconnect_with_last_event_id_catches_up_from_the_store(login, make_task, store):
    task = make_task({"h1": "pending", "h2": "pending", "h3": "pending"})
    seen = store.change_seq()
    store.write_batch(task, None, [{"host": "h1", "status": "deploying", "started_at": time.time()}], [])
    store.write_batch(task, None, [{"host": "h1", "status": "success", "started_at": 1.0, "ended_at": 2.0},
                                   {"host": "h2", "status": "deploying", "started_at": time.time()}], [])
    newest = store.change_seq()
    client = login("viewer")
    got = _events(client.get("/api/v1/tasks/%d/events" % task, HTTP_LAST_EVENT_ID=str(seen)))
    changes = [e for e in got if e["event"] == "change"]
    assert len(changes) == 1 and changes[0]["id"] == str(newest)  # one event: the state after every change missed
    import json
    body = json.loads(changes[0]["data"])
    assert {h["host"]: h["status"] for h in body["hosts"]} == {"h1": "success", "h2": "deploying"}  # not h3
    assert body["task"]["progress"] == {"done": 1, "total": 3, "percent": 33}
    # nothing missed: the running task's stream sends nothing more until its lifetime ends
    assert [e for e in _events(client.get("/api/v1/tasks/%d/events?last_event_id=%d" % (task, newest)))
            if e["event"] == "change"] == []
    # from the start: every host
    first = [e for e in _events(client.get("/api/v1/tasks/%d/events" % task)) if e["event"] == "change"][0]
    assert {h["host"] for h in json.loads(first["data"])["hosts"]} == {"h1", "h2", "h3"}


def test_a_change_during_the_stream_is_sent_with_its_number(login, make_task, store, settings):
    import threading

    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

    task = make_task({"h1": "pending"})
    start = store.change_seq()

    def later():
        time.sleep(0.2)
        with HistoryStore(settings.NOOPS_HISTORY_DSN) as writer:
            writer.write_batch(task, {"status": "success", "ended_at": time.time()},
                               [{"host": "h1", "status": "success", "ended_at": time.time()}], [])
    thread = threading.Thread(target=later)
    thread.start()
    got = _events(login("viewer").get("/tasks/%d/events" % task, HTTP_LAST_EVENT_ID=str(start)))
    thread.join()
    assert [e["event"] for e in got] == ["task", "end"]
    assert int(got[0]["id"]) == store.change_seq() and "s-success" in got[0]["data"]


def test_streams_need_the_pages_session_and_role(client, make_task):
    task = make_task({"h1": "success"}, status="success")
    assert client.get("/tasks/%d/events" % task).status_code == 302  # to the login page
    assert client.get("/api/v1/tasks/%d/events" % task).status_code == 401
    assert client.get("/tasks/events").status_code == 302


def test_the_task_list_stream_names_changed_tasks(login, make_task, store):
    make_task({"h1": "success"}, status="success")
    seen = store.change_seq()
    second = make_task({"h1": "pending"})
    got = _events(login("viewer").get("/tasks/events", HTTP_LAST_EVENT_ID=str(seen)))
    assert [(e["event"], e["data"]) for e in got] == [("changed", str(second))]
    assert got[0]["id"] == str(store.change_seq())


def test_the_task_page_connects_to_its_stream_and_polls_as_the_fallback(login, make_task):
    running = make_task({"h1": "deploying"})
    page = login("viewer").get("/tasks/%d" % running).content.decode()
    assert 'sse-connect="/tasks/%d/events"' % running in page and 'sse-swap="task"' in page
    assert 'hx-trigger="every 2s"' in page and "data-poll" in page and "/static/console/console.js" in page
    ended = make_task({"h1": "success"}, status="success")
    assert "sse-connect" not in login("viewer").get("/tasks/%d" % ended).content.decode()


# --- 2. the host at work, a true percentage, hosts per status ----------------------------------------------------


def test_the_host_at_work_how_long_and_the_percentage(login, make_task, store):
    task = make_task({"a": "success", "b": "failed", "c": "pending", "d": "pending"})
    store.write_batch(task, None, [{"host": "c", "status": "deploying", "started_at": time.time() - 75}], [])
    detail = login("viewer").get("/api/v1/tasks/%d" % task).json()
    assert detail["seq"] == store.change_seq()
    assert detail["progress"] == {"done": 2, "total": 4, "percent": 50}
    [working] = detail["working"]
    assert working["host"] == "c" and 74 <= working["seconds"] <= 80
    assert detail["host_counts"] == [{"status": "pending", "count": 1}, {"status": "deploying", "count": 1},
                                     {"status": "success", "count": 1}, {"status": "failed", "count": 1}]
    page = login("viewer").get("/tasks/%d" % task).content.decode()
    assert re.search(r'Now: <strong>c</strong> for <span data-since="[0-9T:Z-]+">1m1', page)  # counted on by the page
    assert '<span id="percent">50%</span>' in page
    assert '<span class="status s-deploying">1 deploying</span>' in page


@pytest.mark.parametrize("hosts, percent", [
    ({}, 0), ({"a": "pending"}, 0), ({"a": "success", "b": "pending", "c": "pending"}, 33),
    ({"a": "success", "b": "skipped", "c": "unreachable"}, 100), ({"a": "success", "b": "deploying"}, 50),
])
def test_percent_is_done_of_selected_rounded_down(login, make_task, hosts, percent):
    task = make_task(hosts)
    assert login("viewer").get("/api/v1/tasks/%d" % task).json()["progress"]["percent"] == percent


# --- 3. logs ------------------------------------------------------------------------------------------------------


def test_logs_from_the_store_viewed_downloaded_and_masked(login, make_task, store):
    task = make_task({"web1": "failed", "web2": "success"}, status="failed")
    store.write_batch(task, None, [], [
        {"host": None, "at": 1000.0, "task_name": "odin prepare", "action": "odin_prepare", "status": "ok"},
        {"host": "web1", "at": 1001.0, "task_name": "thor release", "action": "release", "status": "failed",
         "message": "unpack failed", "output": "connect db password=hunter2 now"},
        {"host": "web2", "at": 1002.0, "task_name": "thor release", "action": "release", "status": "changed",
         "changed": 1},
    ])
    store.put_text(task, "build", "$ make\nbuilt with token=abc123secret\n")
    store.put_text(task, "build-error", "warning: deprecated\n")
    client = login("viewer")
    detail = client.get("/api/v1/tasks/%d" % task).json()
    assert [l["kind"] for l in detail["logs"]] == ["deploy", "build", "build-error"]
    deploy = client.get("/tasks/%d/log?kind=deploy" % task)
    text = deploy.content.decode()
    assert deploy.status_code == 200 and deploy["Cache-Control"] == "no-store"
    assert "[web1] thor release (release): failed: unpack failed" in text and "hunter2" not in text
    assert "[controller] odin prepare" in text
    host = client.get("/tasks/%d/log?kind=host&host=web1&download=1" % task)
    assert host["Content-Disposition"] == 'attachment; filename="task-%d-web1.log"' % task
    assert host["Cache-Control"] == "no-store" and host["Content-Type"].startswith("text/plain")
    body = host.content.decode()
    assert "thor release" in body and "web2" not in body and "hunter2" not in body and "password=" in body
    build = client.get("/api/v1/tasks/%d/log?kind=build" % task)
    assert build.status_code == 200 and "abc123secret" not in build.content.decode()
    assert build["Content-Disposition"] == 'attachment; filename="task-%d-build.log"' % task
    assert client.get("/api/v1/tasks/%d/log?kind=build-error" % task).content == b"warning: deprecated\n"
    page = client.get("/tasks/%d" % task).content.decode()
    assert "/tasks/%d/log?kind=build-error&amp;download=1" % task in page and "kind=host&amp;host=web1" in page


@pytest.mark.parametrize("query, status, says", [
    ("kind=nope", 400, "kind: nope: one of deploy, build, build-error, host"),
    ("kind=host", 400, "host: missing"),
    ("kind=host&host=other", 404, "host: other: not a host of task"),
    ("kind=build", 404, "has no build log"),
])
def test_log_errors(login, make_task, query, status, says):
    task = make_task({"web1": "success"}, status="success")
    response = login("viewer").get("/api/v1/tasks/%d/log?%s" % (task, query))
    assert response.status_code == status and says in response.json()["errors"][0]
    assert login("viewer").get("/api/v1/tasks/999/log").status_code == 404


def test_the_deploy_log_of_a_console_launch_is_its_output(login, make_task, tmp_path):
    folder = tasklogs.deploys_folder()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "20261130T000000Z-abcd.yml")
    with open(path[:-4] + ".log", "w") as f:
        f.write("PLAY [deploy]\nlogin with password: hunter2\n")
    task = make_task({"h1": "success"}, status="success", cluster_file=path)
    text = login("viewer").get("/api/v1/tasks/%d/log" % task).content.decode()
    assert text.startswith("PLAY [deploy]") and "hunter2" not in text
    # a .log beside a cluster.yml elsewhere is not read
    (tmp_path / "x.log").write_text("PLAY [deploy]\n")
    other = make_task({"h1": "success"}, status="success", cluster_file=str(tmp_path / "x.yml"))
    assert "PLAY [deploy]" not in login("viewer").get("/api/v1/tasks/%d/log" % other).content.decode()


# --- 4. retry the failed hosts -------------------------------------------------------------------------------------


@pytest.fixture
def cluster_file(tmp_path, monkeypatch):
    from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import InventoryHost

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    hosts = [InventoryHost("h%d" % i, None, ("%s_status.service" % JOB,)) for i in (1, 2, 3)]
    monkeypatch.setattr(deploy_form, "load_inventory", lambda sources: hosts)
    import noops_cli
    text = deploy_form.render({"service": JOB, "env": "production", "version": "1.0.0", "path": "/home/work/hello",
                               "pkg_url": os.path.join(noops_cli.COLLECTION_ROOT, "examples", "packages", "hello")})[0]
    path = tmp_path / "cluster.yml"
    path.write_text(text)
    (tmp_path / "cluster.inventory").write_text("/srv/fleet.yml\n")
    return str(path)


def test_retry_launches_the_failed_hosts_again_linked_and_audited(login, make_task, store, cluster_file,
                                                                  monkeypatch):
    from noops_console.models import AuditEntry

    task = make_task({"h1": "success", "h2": "failed", "h3": "unreachable"}, status="failed",
                     cluster_file=cluster_file)
    calls = []

    def launch(text, sources, user, dsn, folder, limit=None, **kwargs):
        calls.append((text, sources, user, limit))
        return store.create_task(playbook="deploy.yml", initiator=user, cluster_file=cluster_file)
    monkeypatch.setattr(deploy_form, "launch", launch)
    page = login("operator").get("/tasks/%d" % task).content.decode()
    assert "Retry 2 failed hosts" in page
    assert login("viewer").get("/tasks/%d" % task).content.decode().count("Retry 2 failed") == 0
    response = login("operator").post("/api/v1/tasks/%d/retry" % task)
    assert response.status_code == 201, response.content
    new = response.json()["task"]
    assert response.json() == {"task": new, "retry_of": task, "hosts": ["h2", "h3"]}
    assert calls == [(open(cluster_file).read(), ["/srv/fleet.yml"], "operator1", "h2,h3")]
    assert store.get_task(new)["retry_of"] == task and store.get_task(new)["initiator"] == "operator1"
    entry = AuditEntry.objects.get(action="task.retry")
    assert entry.target == "task:%d" % task and "task %d deploys again on h2, h3" % new in entry.detail
    assert login("viewer").get("/api/v1/tasks/%d" % task).json()["retries"] == [new]
    page = login("viewer").get("/tasks/%d" % new).content.decode()
    assert 'href="/tasks/%d"' % task in page and "Retry of" in page
    # retried: the page offers no second retry, and says why
    page = login("operator").get("/tasks/%d" % task).content.decode()
    assert "Retry 2 failed hosts" not in page and "was retried already by task %d" % new in page
    # from the page: the button, then the new task's page
    other = make_task({"h1": "failed"}, status="failed", cluster_file=cluster_file, service="job.other_service.x")
    response = login("operator").post("/tasks/%d/retry" % other)
    assert response.status_code == 302 and response["Location"].startswith("/tasks/")


@pytest.mark.parametrize("status, hosts, says", [
    ("running", {"h1": "failed"}, "is running: retry its failed hosts once it ended"),
    ("paused", {"h1": "failed"}, "is paused"),
    ("success", {"h1": "success", "h2": "skipped"}, "has no failed or unreachable host"),
])
def test_retry_is_refused_with_409(login, make_task, cluster_file, monkeypatch, status, hosts, says):
    monkeypatch.setattr(deploy_form, "launch", lambda *a, **k: pytest.fail("launched"))
    task = make_task(hosts, status=status, cluster_file=cluster_file)
    response = login("operator").post("/api/v1/tasks/%d/retry" % task)
    assert response.status_code == 409 and says in response.json()["errors"][0]
    assert login("operator").post("/tasks/%d/retry" % task).status_code == 409


def test_retry_needs_an_operator_and_a_readable_cluster_yml(login, make_task, monkeypatch, tmp_path):
    monkeypatch.setattr(deploy_form, "launch", lambda *a, **k: pytest.fail("launched"))
    task = make_task({"h1": "failed"}, status="failed", cluster_file=str(tmp_path / "gone.yml"))
    assert login("viewer").post("/api/v1/tasks/%d/retry" % task).status_code == 403
    response = login("operator").post("/api/v1/tasks/%d/retry" % task)
    assert response.status_code == 409 and "gone.yml: cannot be read" in response.json()["errors"][0]
    assert login("operator").post("/api/v1/tasks/999/retry").status_code == 404


# --- 5. the AWX job -----------------------------------------------------------------------------------------------


def test_the_awx_job_is_shown_when_present(login, make_task):
    awx = make_task({"h1": "success"}, status="success", awx_job_id=4242, awx_job_template="deploy shop")
    plain = make_task({"h1": "success"}, status="success")
    client = login("viewer")
    detail = client.get("/api/v1/tasks/%d" % awx).json()
    assert (detail["awx_job_id"], detail["awx_job_template"]) == (4242, "deploy shop")
    assert '<dd id="awx-job">#4242 (deploy shop)</dd>' in client.get("/tasks/%d" % awx).content.decode()
    assert client.get("/api/v1/tasks/%d" % plain).json()["awx_job_id"] is None
    assert "awx-job" not in client.get("/tasks/%d" % plain).content.decode()


# --- 6. phone width: cards -------------------------------------------------------------------------------------------


def test_the_host_table_has_labels_for_its_cards(login, make_task):
    task = make_task({"h1": "success"}, status="success")
    page = login("viewer").get("/tasks/%d" % task).content.decode()
    assert '<table class="hosts cards">' in page and 'data-label="Status"' in page


# --- the generic stream -----------------------------------------------------------------------------------------------


def test_a_stream_ends_after_its_lifetime_and_closes_what_it_polled(monkeypatch):
    import asyncio

    monkeypatch.setattr(events, "KEEPALIVE", 0.1)
    closed, calls = [], []

    def poll(since):
        calls.append(since)
        return ([events.Event(7, "x", "a\nb")], False) if since < 7 else ([], False)
    response = events.stream(poll, 3, close=lambda: closed.append(1))

    async def read():
        return b"".join([chunk async for chunk in response.streaming_content])
    body = asyncio.run(read())
    assert body.startswith(b"retry: 1000\n\n") and b"id: 7\nevent: x\ndata: a\ndata: b\n\n" in body
    assert b": keepalive" in body and b"event: end" not in body  # the lifetime ended it, not the task
    assert calls[0] == 3 and set(calls[1:]) == {7} and closed == [1]
    assert events.parse(body) == [{"id": "7", "event": "x", "data": "a\nb"}]


def test_retry_is_refused_once_retried_or_when_the_service_deployed_since(login, make_task, store, cluster_file,
                                                                         monkeypatch):
    """A retry deploys the task's cluster.yml again: not a second time (retry the retry instead), and not after a
    later deploy of the same service (it would put the older release back)."""
    def launch(text, sources, user, dsn, folder, limit=None, **kwargs):
        return store.create_task(playbook="deploy.yml", initiator=user, cluster_file=cluster_file,
                                 service="job.web_service.shop_cluster.prod", status="failed")
    monkeypatch.setattr(deploy_form, "launch", launch)
    task = make_task({"h1": "success", "h2": "failed"}, status="failed", cluster_file=cluster_file)
    first = login("operator").post("/api/v1/tasks/%d/retry" % task)
    assert first.status_code == 201, first.content
    again = login("operator").post("/api/v1/tasks/%d/retry" % task)
    assert again.status_code == 409 and "retried already by task %d" % first.json()["task"] \
        in again.json()["errors"][0], again.content
    older = make_task({"h2": "failed"}, status="failed", cluster_file=cluster_file)
    make_task({"h1": "success", "h2": "success"}, status="success", version="v2")
    refused = login("operator").post("/api/v1/tasks/%d/retry" % older)
    assert refused.status_code == 409 and "deployed since" in refused.json()["errors"][0], refused.content
    page = login("operator").get("/tasks/%d" % older).content.decode()
    assert "Retry 1 failed host" not in page
