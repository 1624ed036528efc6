"""The Services page and GET /api/v1/services: the same table ``noops services`` prints (one function), browsed by
tree node."""

import json
import re
import textwrap

import pytest

pytestmark = pytest.mark.django_db

TAG = "cop.shop_owt.sales_pdl.store_service.web_cluster.prod-lg_job.web_idc.lg_status.service"
JOB = "job.web_service.web_cluster.prod-lg_pdl.store_owt.sales_cop.shop"


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    (tmp_path / "tree.yml").write_text(textwrap.dedent("""\
        machines:
          web1: {tags: [%s]}
          zk1: {tags: [cop.shop_owt.infra_pdl.base_service.zk_cluster.prod-hh_job.zk_idc.hh_status.service]}
        """ % TAG))
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "web.yml").write_text(textwrap.dedent("""\
        cluster: {name: web, version: "1.2", env: production, jobs: [%s]}
        web: {path: /home/work/web, pkg_url: "https://u:pw@pkgs.example.com/web.tgz", db_passwd: s3cret}
        """ % JOB))
    monkeypatch.setenv("NOOPS_TREE", str(tmp_path / "tree.yml"))
    monkeypatch.delenv("NOOPS_CLUSTERS", raising=False)
    return tmp_path


def test_services_page(login, make_task, fleet):
    task = make_task({"web1": "success"}, service=JOB, version="1.2", status="success")
    page = login("viewer").get("/services").content.decode()
    assert JOB in page and "https://u:********@pkgs.example.com/web.tgz" in page and "/home/work/web" in page
    assert "1/1" in page and 'href="/tasks/%d"' % task in page and "s3cret" not in page
    assert 'href="/services?query=cop.shop_owt.infra"' in page  # the tree to browse, node by node
    assert "service.zk" in page
    only = login("viewer").get("/services?query=cop.shop_owt.infra").content.decode()
    assert JOB not in only and "cluster.prod-hh" in only
    bad = login("viewer").get("/services?query=service.,")
    assert bad.status_code == 400 and b"query" in bad.content


def test_services_api_is_the_same_table(login, make_task, fleet):
    from noops_cli import services

    make_task({"web1": "success"}, service=JOB, version="1.2", status="success")
    client = login("viewer")
    data = json.loads(client.get("/api/v1/services?query=service.web").content)
    from django.conf import settings
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore
    with HistoryStore(settings.NOOPS_HISTORY_DSN) as store:
        assert data == json.loads(json.dumps(services.table_for("service.web", store=store)))
    row, = data["services"]
    assert row["jobs"] == [JOB] and row["instances"] == {"running": 1, "total": 1} and row["deploys"] == 1
    assert client.get("/api/v1/services?query=!").status_code == 400


def test_services_answer_503_when_the_history_store_is_gone(login, fleet, settings):
    import os

    os.remove(settings.NOOPS_HISTORY_DSN)  # deleted while the console runs: as the task pages, no table without it
    client = login("viewer")
    api = client.get("/api/v1/services")
    assert api.status_code == 503
    assert api.json() == {"errors": ["history store %s does not exist" % settings.NOOPS_HISTORY_DSN]}
    page = client.get("/services")
    assert page.status_code == 503 and b"does not exist" in page.content
    assert not os.path.exists(settings.NOOPS_HISTORY_DSN)  # and none was created


def test_services_need_a_login(client, fleet):
    assert client.get("/api/v1/services").status_code == 401
    assert client.get("/services").status_code == 302


def test_services_rows_link_to_the_deploy_form_for_operators(login, fleet):
    (fleet / "clusters" / "zk.yml").write_text(
        "cluster: {name: zk, env: production, jobs: [job.zk_service.zk_cluster.prod-hh_pdl.base_owt.infra_cop.shop]}\n"
        "zk: {path: /home/work/zk, code_url: 'https://git.example.com/zk.git'}\n")
    page = login("operator").get("/services").content.decode()
    links = re.findall(r'class="deploy-link" href="([^"]+)"', page)
    assert len(links) == 1 and "code_url=https%3A%2F%2Fgit.example.com%2Fzk.git" in links[0]  # web's URL hides a password
    assert "path=%2Fhome%2Fwork%2Fzk" in links[0] and "name=zk" in links[0]
    assert 'class="deploy-link"' not in login("viewer").get("/services").content.decode()


# --- batch launch and adding a service ------------------------------------------------------------------------


@pytest.fixture
def launches(monkeypatch, fleet):
    """Two good cluster.yml files (web, web2), the inventory read as the deploy reads it (here: web1), and the
    launch recorded instead of run: [(cluster.yml text, user), ...]."""
    from noops_console import deploy_form
    from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import InventoryHost

    (fleet / "clusters" / "web.yml").write_text(textwrap.dedent("""\
        cluster: {name: web, version: "1.2", env: production, jobs: [%s]}
        web: {path: /home/work/web, pkg_url: "https://pkgs.example.com/web.tgz"}
        """ % JOB))
    (fleet / "clusters" / "web2.yml").write_text(textwrap.dedent("""\
        cluster: {name: web2, version: "2.0", env: production, jobs: [%s]}
        web2: {path: /home/work/web2, pkg_url: "https://pkgs.example.com/web2.tgz"}
        """ % JOB))
    monkeypatch.setattr(deploy_form, "load_inventory", lambda sources: [InventoryHost("web1", None, (TAG,))])
    calls = []

    def launch(text, sources, user, dsn, folder, **kw):
        calls.append((text, user))
        return 100 + len(calls)
    monkeypatch.setattr(deploy_form, "launch", launch)
    return calls


def test_the_services_page_offers_a_batch_launch_to_operators(login, launches, fleet):
    page = login("operator").get("/services").content.decode()
    assert 'form="batch-launch"' in page and 'value="%s"' % (fleet / "clusters" / "web2.yml") in page
    assert 'id="batch-launch"' in page
    viewer = login("viewer").get("/services").content.decode()
    assert 'form="batch-launch"' not in viewer


def test_batch_launch_starts_one_deploy_task_each_and_links_them(login, launches, fleet):
    from noops_console.models import AuditEntry

    files = [str(fleet / "clusters" / "web.yml"), str(fleet / "clusters" / "web2.yml")]
    response = login("operator").post("/services/launch", {"cluster_file": files})
    page = response.content.decode()
    assert response.status_code == 200, page
    assert [user for text, user in launches] == ["operator1", "operator1"]
    assert [text for text, user in launches] == [open(f).read() for f in files]
    assert 'href="/tasks/101"' in page and 'href="/tasks/102"' in page
    assert AuditEntry.objects.filter(action="task.launch").count() == 2


def test_batch_launch_checks_every_file_first_and_starts_none_on_a_problem(login, launches, fleet):
    (fleet / "clusters" / "bad.yml").write_text("cluster: {name: bad, env: production, jobs: [%s]}\n"
                                                "bad: {path: rel, batch: 0, pkg_url: https://x/y.tgz}\n" % JOB)
    files = [str(fleet / "clusters" / "web.yml"), str(fleet / "clusters" / "bad.yml"), "/etc/passwd"]
    response = login("operator").post("/services/launch", {"cluster_file": files})
    page = response.content.decode()
    assert response.status_code == 400 and launches == []
    assert "bad.path: &quot;rel&quot;: must be an absolute path" in page and "bad.batch: 0" in page
    assert "/etc/passwd: not a cluster.yml of the clusters folders" in page
    assert login("operator").post("/services/launch", {}).status_code == 400
    assert login("viewer").post("/services/launch", {"cluster_file": files[:1]}).status_code == 403


GOOD = {"service": JOB, "env": "production", "version": "1.0", "pkg_url": "https://pkgs.example.com/shop.tgz",
        "path": "/home/work/shop", "name": "shop"}


def test_add_service_is_for_admins(login, fleet):
    assert login("operator").get("/services/add").status_code == 403
    page = login("admin").get("/services/add").content.decode()
    assert 'name="file"' in page and 'name="service"' in page
    assert 'href="/services/add"' in login("admin").get("/services").content.decode()


def test_add_service_writes_a_checked_cluster_yml(login, launches, fleet):
    import yaml
    from noops_console.models import AuditEntry

    response = login("admin").post("/services/add", dict(GOOD, file="shop.yml"))
    assert response.status_code == 302, response.content.decode()
    written = fleet / "clusters" / "shop.yml"
    doc = yaml.safe_load(written.read_text())
    assert doc["cluster"]["name"] == "shop" and doc["shop"]["pkg_url"] == "https://pkgs.example.com/shop.tgz"
    entry = AuditEntry.objects.get(action="service.add")
    assert entry.username == "admin1" and str(written) in entry.detail
    assert "shop.yml" in login("admin").get(response["Location"]).content.decode()


def test_add_service_names_every_problem_and_never_overwrites(login, launches, fleet):
    before = (fleet / "clusters" / "web.yml").read_text()
    response = login("admin").post("/services/add", dict(GOOD, file="web.yml", batch="0", path="rel"))
    page = response.content.decode()
    assert response.status_code == 400
    assert "already exists" in page and "must be an integer &gt;= 1" in page and "must be an absolute path" in page
    assert (fleet / "clusters" / "web.yml").read_text() == before
    bad_name = login("admin").post("/services/add", dict(GOOD, file="../evil.yml"))
    assert bad_name.status_code == 400 and "file: ../evil.yml:" in bad_name.content.decode()
    assert not (fleet / "evil.yml").exists()
