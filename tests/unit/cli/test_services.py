"""``noops services``: the service table (tree node, jobs, package or code, path, instances, deploys, last version,
last task) from the tree, the clusters folder and the history store — one function for the terminal and the
console."""

import json
import os
import textwrap

import pytest

from noops_cli.main import main
from noops_cli import services

from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore
from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import load_source

WEB = "cop.shop_owt.sales_pdl.store_service.web_cluster.prod-lg_job.web_idc.lg_status.service"
TREE = textwrap.dedent("""\
    machines:
      web1: {address: 10.0.0.1, tags: [%(web)s]}
      web2: {tags: [%(web)s]}
      web3: {tags: ["cop.shop_owt.sales_pdl.store_service.web_cluster.prod-lg_job.web_idc.lg_status.offline"]}
      db1: {tags: [cop.shop_owt.sales_pdl.store_service.db_cluster.prod-lg_job.db_idc.lg_status.service]}
      zk1: {tags: [cop.shop_owt.infra_pdl.base_service.zk_cluster.prod-hh_job.zk_idc.hh_status.service]}
    """) % {"web": WEB}
# The jobs tag as written (pairs in another order than the tree's): shown and recorded as written.
WEB_JOB = "job.web_service.web_cluster.prod-lg_pdl.store_owt.sales_cop.shop"
WEB_YML = textwrap.dedent("""\
    cluster: {name: web, version: "1.2", env: production, jobs: [%s]}
    web:
      path: /home/work/web
      pkg_url: https://deploy:hunter2@pkgs.example.com/web-1.2.tar.gz
      batch: 2
      db_passwd: s3cret
    """) % WEB_JOB
ZK_YML = textwrap.dedent("""\
    cluster: {name: zk, env: production, jobs: [job.zk_service.zk_cluster.prod-hh_pdl.base_owt.infra_cop.shop]}
    zk:
      path: relative/zk
      code_url: https://git.example.com/zk.git
      branch: main
    """)


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    (tmp_path / "tree.yml").write_text(TREE)
    clusters = tmp_path / "clusters"
    (clusters / "shop").mkdir(parents=True)
    (clusters / "shop" / "web.yml").write_text(WEB_YML)
    (clusters / "zk.yaml").write_text(ZK_YML)
    (clusters / "notes.txt").write_text("not a cluster file")
    dsn = str(tmp_path / "history.db")
    with HistoryStore(dsn) as store:
        old = store.create_task(playbook="deploy.yml", initiator="ann", service=WEB_JOB, version="1.1",
                                status="success")
        store.write_batch(old, None, [{"host": "web1", "status": "success", "release": "1.1"},
                                      {"host": "web2", "status": "success", "release": "1.1"}], ())
        new = store.create_task(playbook="deploy.yml", initiator="bob", service=WEB_JOB, version="1.2",
                                status="failed")
        store.write_batch(new, None, [{"host": "web1", "status": "success", "release": "1.2"},
                                      {"host": "web2", "status": "failed"}], ())
    monkeypatch.setenv("NOOPS_TREE", str(tmp_path / "tree.yml"))
    monkeypatch.delenv("NOOPS_CLUSTERS", raising=False)
    monkeypatch.setenv("NOOPS_HISTORY_DSN", dsn)
    return {"dir": tmp_path, "dsn": dsn, "clusters": str(clusters), "new": new}


def _table(fleet, query=None, store=True):
    tree = load_source(str(fleet["dir"] / "tree.yml"))
    files = services.find_cluster_files(services.cluster_dirs(None, tree.source))
    if not store:
        return services.service_table(tree, files, None, query)
    with HistoryStore(fleet["dsn"]) as s:
        return services.service_table(tree, files, s, query)


def test_cluster_files_are_found_in_the_clusters_folder_beside_the_tree(fleet, monkeypatch):
    tree_file = str(fleet["dir"] / "tree.yml")
    assert services.cluster_dirs(None, tree_file) == [fleet["clusters"]]
    assert [os.path.basename(p) for p in services.find_cluster_files([fleet["clusters"]])] == ["web.yml", "zk.yaml"]
    monkeypatch.setenv("NOOPS_CLUSTERS", "/a%s/b" % os.pathsep)
    assert services.cluster_dirs(None, tree_file) == ["/a", "/b"]
    assert services.cluster_dirs(["/c"], tree_file) == ["/c"]
    assert services.cluster_dirs(None, "https://tree.example.com/tree") == ["/a", "/b"]
    monkeypatch.delenv("NOOPS_CLUSTERS")
    assert services.cluster_dirs(None, "https://tree.example.com/tree") == []


def test_service_rows(fleet):
    table = _table(fleet)
    rows = {(r["cluster_file"] and os.path.basename(r["cluster_file"])) or "/".join(r["node"]): r
            for r in table["services"]}
    web = rows["web.yml"]
    assert web["node"] == ["cop.shop", "owt.sales", "pdl.store", "service.web", "cluster.prod-lg"]
    assert web["jobs"] == [WEB_JOB]                                 # as written
    assert web["url"] == "https://deploy:********@pkgs.example.com/web-1.2.tar.gz"
    assert web["url_kind"] == "pkg_url" and web["path"] == "/home/work/web"
    assert web["instances"] == {"running": 1, "total": 2}           # web3 is offline; web2's last deploy failed
    assert web["hosts"] == ["web1", "web2"]
    assert web["deploys"] == 2 and web["last_version"] == "1.1"
    assert web["last_task"]["id"] == fleet["new"] and web["last_task"]["status"] == "failed"
    assert web["problems"] == []
    assert "s3cret" not in json.dumps(table) and "hunter2" not in json.dumps(table)
    zk = rows["zk.yaml"]
    assert zk["url_kind"] == "code_url" and zk["url"] == "https://git.example.com/zk.git"
    assert zk["instances"] == {"running": 0, "total": 1} and zk["deploys"] == 0 and zk["last_task"] is None
    assert zk["problems"] == [zk["cluster_file"] + ": zk.path: \"relative/zk\": must be an absolute path"]
    # A tree cluster no cluster.yml deploys is a row too (browse the whole tree).
    db = rows["cop.shop/owt.sales/pdl.store/service.db/cluster.prod-lg"]
    assert db["cluster_file"] is None and db["jobs"] == [] and db["instances"] == {"running": None, "total": 1}
    assert list(rows) == ["web.yml", "cop.shop/owt.sales/pdl.store/service.db/cluster.prod-lg", "zk.yaml"]
    # The tree to browse: cop > owt > pdl > service > cluster with machine counts and the query of each node.
    top = table["tree"]
    assert [(n["node"], n["machines"]) for n in top] == [("cop.shop", 5)]
    sales = top[0]["children"][0]
    assert sales["node"] == "owt.sales" and sales["query"] == "cop.shop_owt.sales" and sales["machines"] == 4


@pytest.mark.parametrize("query, shown", [
    ("service.web", ["web.yml"]),
    ("cop.shop_owt.sales", ["web.yml", "db"]),
    ("cop.shop_owt.sales_pdl.store_service.web_cluster.prod-lg", ["web.yml"]),
    ("idc.hh", ["zk.yaml"]),
    ("cop.shop,!service.zk", ["web.yml", "db"]),
    ("service.nothing", []),
])
def test_service_query(fleet, query, shown):
    rows = _table(fleet, query)["services"]
    assert [os.path.basename(r["cluster_file"]) if r["cluster_file"] else r["node"][3][8:] for r in rows] == shown


def test_without_a_history_store(fleet):
    web = _table(fleet, "service.web", store=False)["services"][0]
    assert web["instances"] == {"running": None, "total": 2} and web["deploys"] is None and web["last_task"] is None


def test_noops_services_prints_the_table(fleet, capsys):
    assert main(["services", "service.web"]) == 0
    out = capsys.readouterr().out
    assert WEB_JOB in out and "https://deploy:********@pkgs.example.com/web-1.2.tar.gz" in out
    assert "1/2" in out and "#%d failed" % fleet["new"] in out and "1.1" in out
    assert main(["services", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["services"]) == 3 and data["problems"] == [
        r["problems"][0] for r in data["services"] if r["problems"]]


def test_noops_services_missing_store_and_bad_query(fleet, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NOOPS_HISTORY_DSN", str(tmp_path / "none" / "history.db"))
    assert main(["services", "service.web"]) == 0
    assert not (tmp_path / "none").exists()  # a missing store is not created
    assert main(["services", "service.,"]) == 2
    assert "bad query" in capsys.readouterr().err


@pytest.mark.parametrize("text, why", [
    # the YAML is broken: the jobs tag is still read from its line
    ("cluster: {name: web2, env: production, jobs: [%s]}\nweb2:\n  path: [/home/work/web2\n" % WEB_JOB, "YAML error"),
    ("cluster:\n  name: web2\n  jobs:\n    - %s\nweb2:\n  path: /x\n  port: [1\n" % WEB_JOB, "YAML error"),
    # a bad name: Odin stops at it, the jobs tag parses
    ("cluster: {name: 'bad name', env: production, jobs: [%s]}\n" % WEB_JOB, "cluster.name"),
])
def test_a_broken_cluster_yml_row_shows_its_node_and_problems(fleet, capsys, text, why):
    (fleet["dir"] / "clusters" / "broken.yml").write_text(text)
    rows = [r for r in _table(fleet)["services"] if r["cluster_file"] and r["cluster_file"].endswith("broken.yml")]
    assert len(rows) == 1
    row = rows[0]
    assert row["node"] == ["cop.shop", "owt.sales", "pdl.store", "service.web", "cluster.prod-lg"]
    assert row["jobs"] == [WEB_JOB] and any(why in p for p in row["problems"]), row["problems"]
    assert main(["services", "service.web"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if WEB_JOB in ln]
    assert len(rows) == 2 and all("service.web > cluster.prod-lg" in ln for ln in rows), out  # node, not "-"
    assert "problems below: broken.yml" in out  # the row says it has problems
    assert "problem: %s" % row["problems"][0] in out
