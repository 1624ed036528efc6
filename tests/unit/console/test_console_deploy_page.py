"""The deploy form page: operators only, CSRF, every problem inline next to its field, a dry run with the hosts and
the batch plan, the cluster.yml to copy (masked) or download (as typed)."""

import re

import pytest
from django.test import Client

from noops_console import deploy_form

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import InventoryHost

pytestmark = pytest.mark.django_db
JOB = "job.hello_service.hello_pdl.demo_owt.ops_cop.example"


@pytest.fixture(autouse=True)
def _inventory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    hosts = [InventoryHost("h%d" % i, None, ("%s_status.service" % JOB,)) for i in (1, 2, 3)]
    monkeypatch.setattr(deploy_form, "load_inventory", lambda sources: hosts)


def _good():
    import noops_cli
    import os
    return {"service": JOB, "env": "production", "version": "1.0.0", "path": "/home/work/hello",
            "pkg_url": os.path.join(noops_cli.COLLECTION_ROOT, "examples", "packages", "hello"),
            "batch": "2", "canary": "1", "values": "port: 18080\ndb_passwd: s3cret-value"}


@pytest.mark.parametrize("role, status", [("viewer", 403), ("operator", 200), ("admin", 200)])
def test_the_form_is_for_operators(login, role, status):
    response = login(role).get("/deploy?service=%s&path=/home/work/x" % JOB)
    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert 'value="/home/work/x"' in page and JOB in page
        for name in deploy_form.FIELD_NAMES:
            assert 'name="%s"' % name in page


def test_bad_values_are_shown_next_to_their_fields(login):
    form = dict(_good(), batch="0", path="relative", max_fail="lots", action="check")
    response = login("operator").post("/deploy", form)
    page = response.content.decode()
    assert response.status_code == 400 and "3 problems" in page and 'id="dry-run"' not in page
    for field, says in (("batch", "must be an integer &gt;= 1"), ("path", "must be an absolute path"),
                        ("max_fail", "must be a count &gt;= 0")):
        block = re.search(r'<div class="field has-error" id="field-%s">(.*?)</div>' % field, page, re.S)
        assert block and says in block.group(1), field
    assert page.count("has-error") == 3


def test_a_dry_run_shows_the_hosts_and_the_plan(login, store):
    response = login("operator").post("/deploy", dict(_good(), action="check"))
    page = response.content.decode()
    assert response.status_code == 200 and 'id="dry-run"' in page and "to 3 hosts" in page
    assert "<td class=\"msg\">h1</td>" in page and "<td class=\"msg\">h2, h3</td>" in page and "pause (canary batch done)" in page
    assert "s3cret-value" not in page.split('id="cluster-yml"')[1]  # the file shown is masked
    assert "db_passwd: ********" in page
    assert store.list_tasks() == []  # nothing started


def test_download_and_csrf(users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["operator"])
    assert client.post("/deploy", dict(_good(), action="download")).status_code == 403
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/deploy").content.decode()).group(1)
    response = client.post("/deploy", dict(_good(), action="download", csrfmiddlewaretoken=token))
    assert response.status_code == 200 and response["Content-Disposition"] == 'attachment; filename="cluster.yml"'
    assert "db_passwd: s3cret-value" in response.content.decode()


def _yml(**block):
    import yaml
    doc = {"cluster": {"name": "hello", "version": "1.0.0", "env": "production", "jobs": [JOB]},
           "hello": dict({"path": "/home/work/hello", "pkg_url": _good()["pkg_url"], "port": 18080,
                          "db_passwd": "x"}, **block)}
    return yaml.safe_dump(doc)


def test_api_deploys_refuses_a_bad_cluster_yml_and_starts_nothing(login, store, monkeypatch):
    started = []
    monkeypatch.setattr(deploy_form, "launch", lambda *a, **k: started.append(a) or 1)
    client = login("operator")
    response = client.post("/api/v1/deploys", {"cluster_yml": _yml(batch=0, path="rel"), "inventory": "x.yml"},
                           content_type="application/json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert 'cluster.yml: hello.path: "rel": must be an absolute path' in errors
    assert "cluster.yml: hello.batch: 0: must be an integer >= 1" in errors
    assert started == [] and store.list_tasks() == []
    for body, says in (({}, "cluster_yml: missing"), ({"cluster_yml": "x", "inventory": 3}, "inventory: 3"),
                       ([1], "body: a JSON object")):
        bad = client.post("/api/v1/deploys", body, content_type="application/json")
        assert bad.status_code == 400 and says in bad.json()["errors"][0]


def test_api_deploys_launches_a_good_one_as_the_user(login, monkeypatch):
    from noops_console.models import AuditEntry

    calls = []

    def launch(text, sources, user, dsn, folder, **kwargs):
        calls.append((text, sources, user))
        return 42
    monkeypatch.setattr(deploy_form, "launch", launch)
    response = login("operator").post("/api/v1/deploys", {"cluster_yml": _yml(), "inventory": "fleet.yml"},
                                      content_type="application/json")
    assert response.status_code == 201 and response.json() == {"task": 42}
    assert calls == [(_yml(), ["fleet.yml"], "operator1")]
    entry = AuditEntry.objects.get(action="task.launch")
    assert entry.username == "operator1" and entry.target == "task:42" and "to 3 hosts" in entry.detail


def test_api_deploys_needs_an_operator(login, client):
    assert client.post("/api/v1/deploys", {}, content_type="application/json").status_code == 401
    assert login("viewer").post("/api/v1/deploys", {}, content_type="application/json").status_code == 403


def test_compile_and_deploy_from_the_page(login, monkeypatch):
    monkeypatch.setattr(deploy_form, "launch", lambda text, sources, user, dsn, folder, **k: 7)
    response = login("operator").post("/deploy", dict(_good(), action="deploy"))
    assert response.status_code == 302 and response["Location"] == "/tasks/7"
    bad = login("operator").post("/deploy", dict(_good(), batch="0", action="deploy"))
    assert bad.status_code == 400 and b"1 problem" in bad.content
