"""The JSON API: shapes, filters, paging, credentials and roles, CSRF, control through the real history store."""

import json

import pytest
from django.test import Client

from noops_console import accounts
from noops_console.models import ApiToken, AuditEntry

pytestmark = pytest.mark.django_db

TASK_KEYS = {"id", "initiator", "service", "version", "status", "started", "ended", "progress"}
HOST_KEYS = {"host", "status", "version", "started", "ended", "message"}


def test_task_list_shape_and_progress(login, make_task):
    done = make_task({"a1": "success", "a2": "failed", "a3": "pending", "a4": "deploying"}, status="running")
    empty = make_task(status="success", ended_at=2000.0)
    body = login("viewer").get("/api/v1/tasks").json()
    assert [t["id"] for t in body["tasks"]] == [empty, done]
    assert {k: body[k] for k in ("page", "pages", "total")} == {"page": 1, "pages": 1, "total": 2}
    for task in body["tasks"]:
        assert TASK_KEYS <= set(task)
    first = body["tasks"][1]
    assert first["progress"] == {"done": 2, "total": 4}
    assert first["started"] == "1970-01-01T00:16:40Z" and first["ended"] is None
    assert body["tasks"][0]["progress"] == {"done": 0, "total": 0}
    assert body["tasks"][0]["ended"] == "1970-01-01T00:33:20Z"


def test_task_list_filters_and_paging(login, make_task):
    ids = [make_task(initiator="ann" if i % 2 else "bob", status="success" if i < 4 else "running",
                     service="job.web_service.shop_cluster.%s" % ("prod" if i < 3 else "staging"))
           for i in range(6)]
    client = login("viewer")

    def got(query):
        return [t["id"] for t in client.get("/api/v1/tasks" + query).json()["tasks"]]

    assert got("?status=running") == [ids[5], ids[4]]
    assert got("?initiator=ann") == [ids[5], ids[3], ids[1]]
    assert got("?service=cluster.prod") == [ids[2], ids[1], ids[0]]
    assert got("?service=cluster.prod&initiator=bob") == [ids[2], ids[0]]
    page = client.get("/api/v1/tasks?per_page=4&page=2").json()
    assert [t["id"] for t in page["tasks"]] == [ids[1], ids[0]]
    assert (page["page"], page["pages"], page["total"], page["per_page"]) == (2, 2, 6, 4)
    assert got("?per_page=2&page=2&service=cluster.prod") == [ids[0]]
    assert got("?mine=1") == []  # viewer1 started none


def test_task_list_by_service_reads_one_page_not_every_task(login, make_task, store, monkeypatch):
    """A service filter is matched against the distinct services, then one page of tasks is read (at 10,000
    tasks, reading them all took most of the request)."""
    ids = [make_task(service="job.web_service.shop_cluster.%s" % ("prod" if i % 3 else "staging"), initiator="ann")
           for i in range(30)]
    make_task(service="not a tag", initiator="ann")
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

    largest = []
    read = HistoryStore._read

    def spy(self, what, sql, params=()):
        rows = read(self, what, sql, params)
        if "FROM noops_tasks" in sql:
            largest.append(len(rows))
        return rows
    monkeypatch.setattr(HistoryStore, "_read", spy)
    body = login("viewer").get("/api/v1/tasks?service=cluster.prod&per_page=5&page=2").json()
    prod = [i for n, i in enumerate(ids) if n % 3][::-1]
    assert [t["id"] for t in body["tasks"]] == prod[5:10] and body["total"] == 20
    assert max(largest) <= 5, largest
    glob = login("viewer").get("/api/v1/tasks?service=not*").json()
    assert glob["total"] == 1


@pytest.mark.parametrize("query, error", [
    ("?status=done", "status: done: one of running, paused"),
    ("?page=0", "page: 0: a whole number from 1"),
    ("?page=x", "page: x: a whole number from 1"),
    ("?per_page=1000", "per_page: 1000: a whole number from 1 to 200"),
])
def test_task_list_bad_query_is_400(login, query, error):
    response = login("viewer").get("/api/v1/tasks" + query)
    assert response.status_code == 400
    assert any(e.startswith(error) for e in response.json()["errors"]), response.json()


def test_task_detail_shape(login, make_task):
    task_id = make_task({"b1": "success", "b2": "deploying"}, status="running")
    body = login("viewer").get("/api/v1/tasks/%d" % task_id).json()
    assert TASK_KEYS <= set(body)
    assert body["progress"] == {"done": 1, "total": 2, "percent": 50}
    assert [set(h) for h in body["hosts"]] == [HOST_KEYS, HOST_KEYS]
    assert body["hosts"][0] == {"host": "b1", "status": "success", "version": "v1", "started": "1970-01-01T00:16:40Z",
                                "ended": "1970-01-01T00:16:45Z", "message": "success on b1"}
    assert login("viewer").get("/api/v1/tasks/999").status_code == 404


def test_secrets_are_masked(login, make_task, store):
    task_id = make_task({"c1": "failed"}, status="failed", cluster_yml="service: shop\ndb_passwd: hunter2-secret\n")
    store.write_batch(task_id, None, [{"host": "c1", "status": "failed", "message": "login hunter2-secret refused"}],
                      ())
    body = login("viewer").get("/api/v1/tasks/%d" % task_id).json()
    text = json.dumps(body)
    assert "hunter2-secret" not in text
    assert body["cluster_yml"] == "service: shop\ndb_passwd: ********\n"
    assert body["hosts"][0]["message"] == "login ******** refused"


def test_cluster_yml_secrets_of_every_shape_are_masked(login, make_task):
    """Block scalars, flow mappings, lists and env name/value pairs of a stored cluster.yml are all masked."""
    task_id = make_task(status="success", cluster_yml=(
        "service: shop\nssh_key: >-\n  ssh-ed25519 Key-Body-1\npasswords:\n- Lst-Pw-2\n"
        "db: {password: Flow-Pw-3}\nenv:\n- {name: DB_PASSWORD, value: Env-Pw-4}\n"))
    body = login("viewer").get("/api/v1/tasks/%d" % task_id).json()
    for secret in ("Key-Body-1", "Lst-Pw-2", "Flow-Pw-3", "Env-Pw-4"):
        assert secret not in body["cluster_yml"]
    assert body["cluster_yml"] == ("service: shop\nssh_key: ********\npasswords: ********\n"
                                   "db: {password: ********}\nenv:\n- {name: DB_PASSWORD, value: ********}\n")


@pytest.mark.parametrize("who, method, path, status", [
    (None, "get", "/api/v1/tasks", 401),
    (None, "get", "/api/v1/tasks/{id}", 401),
    (None, "post", "/api/v1/tasks/{id}/pause", 401),
    ("bad-token", "get", "/api/v1/tasks", 401),
    ("bad-token", "post", "/api/v1/tasks/{id}/cancel", 401),
    ("viewer", "get", "/api/v1/tasks", 200),
    ("viewer", "get", "/api/v1/tasks/{id}", 200),
    ("viewer", "post", "/api/v1/tasks/{id}/pause", 403),
    ("viewer", "post", "/api/v1/tasks/{id}/resume", 403),
    ("viewer", "post", "/api/v1/tasks/{id}/cancel", 403),
    ("operator", "post", "/api/v1/tasks/{id}/pause", 200),
    ("admin", "post", "/api/v1/tasks/{id}/cancel", 200),
])
def test_credentials_and_roles(users, make_task, store, who, method, path, status):
    task_id = make_task({"d1": "pending"}, status="running")
    headers = {}
    if who == "bad-token":
        headers["HTTP_AUTHORIZATION"] = "Bearer noops_not-a-token"
    elif who:
        headers["HTTP_AUTHORIZATION"] = "Bearer " + accounts.add_token(users[who].username)
    response = getattr(Client(enforce_csrf_checks=True), method)(path.format(id=task_id), **headers)
    assert response.status_code == status, response.content
    assert "errors" in response.json() if status != 200 else True
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    if method == "post" and status != 200:
        assert store.get_task(task_id)["control"] == "run"  # nothing changed


def test_token_is_stored_as_hash_only(users):
    token = accounts.add_token("operator1")
    row = ApiToken.objects.get(user=users["operator"])
    assert token.startswith("noops_") and len(token) > 40
    assert token not in (row.digest, row.hint) and len(row.digest) == 64
    assert accounts.user_for_token(token) == users["operator"]
    users["operator"].is_active = False
    users["operator"].save()
    assert accounts.user_for_token(token) is None


def test_pause_resume_cancel_through_the_real_store(users, make_task, store):
    task_id = make_task({"e1": "success", "e2": "pending"}, status="running")
    auth = {"HTTP_AUTHORIZATION": "Bearer " + accounts.add_token("operator1")}
    client = Client(enforce_csrf_checks=True)  # a token request has no cookie to forge: no CSRF token needed
    body = client.post("/api/v1/tasks/%d/pause" % task_id, data=json.dumps({"reason": "check the canary"}),
                       content_type="application/json", **auth).json()
    row = store.get_task(task_id)
    assert (row["control"], row["control_by"], row["control_reason"]) == ("pause", "operator1", "check the canary")
    assert body["control"] == "pause" and body["control_by"] == "operator1"
    store.set_status(task_id, "paused")  # what the rollout does at its next batch boundary
    assert client.post("/api/v1/tasks/%d/resume" % task_id, **auth).status_code == 200
    assert store.get_task(task_id)["control"] == "run"
    assert client.post("/api/v1/tasks/%d/cancel" % task_id, **auth).status_code == 200
    assert store.get_task(task_id)["control"] == "cancel"
    again = client.post("/api/v1/tasks/%d/pause" % task_id, **auth)
    assert again.status_code == 409 and "being cancelled" in again.json()["errors"][0]
    assert client.post("/api/v1/tasks/999/pause", **auth).status_code == 404
    assert client.post("/api/v1/tasks/%d/restart" % task_id, **auth).status_code == 404
    audit = list(AuditEntry.objects.filter(target="task:%d" % task_id).order_by("id")
                 .values_list("username", "action", "detail"))
    assert audit == [("operator1", "task.pause", "check the canary"), ("operator1", "task.resume", ""),
                     ("operator1", "task.cancel", "")]


def test_session_post_without_csrf_token_is_refused(users, make_task, store):
    task_id = make_task({"f1": "pending"}, status="running")
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["operator"])
    response = client.post("/api/v1/tasks/%d/pause" % task_id)
    assert response.status_code == 403 and "CSRF" in response.json()["errors"][0]
    assert store.get_task(task_id)["control"] == "run"
    # With the token the pages send (hx-headers), the same request goes through.
    page = client.get("/tasks/%d" % task_id)
    token = page.context["csrf_token"]
    response = client.post("/api/v1/tasks/%d/pause" % task_id, HTTP_X_CSRFTOKEN=str(token))
    assert response.status_code == 200, response.content
    assert store.get_task(task_id)["control"] == "pause"


def test_a_task_that_failed_before_any_host_shows_why(login, make_task, store):
    """A run refused on the controller (its deploy lock held by another run) records no host: the task's own
    error is in the API answer and on the page, as ``noops tasks show`` prints it."""
    why = "deploy lock hello is held by task 3 (pid 4242, since 10:00:00): wait for it or cancel it"
    failed = make_task(status="failed", message=why, ended_at=1001.0)
    logged = make_task(status="failed", ended_at=1001.0)
    store.write_batch(logged, None, [], [{"host": None, "at": 1000.5, "task_name": "odin_prepare",
                                          "status": "failed", "message": "cluster.yml: hello.batch: 0: bad"}])
    fine = make_task(hosts={"h1": "success"}, status="success")
    client = login("viewer")
    assert client.get("/api/v1/tasks/%d" % failed).json()["error"] == why
    assert client.get("/api/v1/tasks/%d" % logged).json()["error"] == "cluster.yml: hello.batch: 0: bad"
    assert client.get("/api/v1/tasks/%d" % fine).json()["error"] is None
    page = client.get("/tasks/%d" % failed).content.decode()
    assert why in page and "No host recorded yet." not in page
    assert "cluster.yml: hello.batch: 0: bad" in client.get("/tasks/%d" % logged).content.decode()
