"""The deploy form: fields -> cluster.yml, checked by Odin's own cluster.prepare, every problem next to its field;
a good form gives the selected hosts and the batch plan."""

import os
import textwrap

import pytest
import yaml

import noops_cli
from noops_console import deploy_form

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import InventoryHost

HELLO = os.path.join(noops_cli.COLLECTION_ROOT, "examples", "packages", "hello")
JOB = "job.hello_service.hello_pdl.demo_owt.ops_cop.example"
HOSTS = [InventoryHost("h%d" % i, None, ("%s_cluster.c1_idc.lg_status.service" % JOB,)) for i in range(1, 6)]
GOOD = {"service": JOB, "env": "production", "version": "1.0.0", "pkg_url": HELLO, "path": "/home/work/hello",
        "batch": "2", "pause_step": "2", "values": "port: 18080\ndb_passwd: not-a-secret"}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def inventory(monkeypatch):
    monkeypatch.setattr(deploy_form, "load_inventory", lambda sources: list(HOSTS))


def test_a_good_form_gives_the_hosts_and_the_plan(inventory):
    out = deploy_form.check(dict(GOOD))
    assert out["problems"] == [] and out["errors"] == {}
    assert out["hosts"] == ["h1", "h2", "h3", "h4", "h5"] and out["service"] == JOB and out["version"] == "1.0.0"
    assert [b["hosts"] for b in out["plan"]] == [["h1", "h2"], ["h3", "h4"], ["h5"]]
    assert [b["pause"] for b in out["plan"]] == ["pause_step 2: 2 of 5 hosts done", "pause_step 2: 4 of 5 hosts done",
                                                 None]
    doc = yaml.safe_load(out["cluster_yml"])
    assert doc["cluster"] == {"name": "hello", "env": "production", "jobs": [JOB]}
    assert doc["hello"]["db_passwd"] == "not-a-secret" and doc["hello"]["batch"] == 2


@pytest.mark.parametrize("field, value, says", [
    ("batch", "0", "hello.batch: 0: must be an integer >= 1"),
    ("batch", "two", 'hello.batch: "two": must be an integer >= 1'),
    ("max_fail", "lots", 'hello.max_fail: "lots": must be a count >= 0 or a percentage'),
    ("canary", "-1", 'hello.canary: "-1": must be true, false or a number of hosts >= 0'),
    ("sleep", "-3", 'hello.sleep: "-3": must be a number of seconds >= 0'),
    ("pause_step", "x", 'hello.pause_step: "x": must be an integer >= 0'),
    ("path", "home/work/hello", 'hello.path: "home/work/hello": must be an absolute path'),
    ("env", "base", 'cluster.env: "base": \'base\' is merged into every env'),
    # What the package needs is checked when the deploy runs: the dry run does not fetch the package.
    ("env", "preview", None),
    ("service", "job.hello_service", "cluster.jobs[0]: malformed tag"),
    ("service", "job.nothing_service.none", "cluster.jobs: no host selected"),
    ("pkg_url", "gopher://x/y.tgz", 'hello.pkg_url: "gopher://x/y.tgz": scheme must be http, https, ftp or file'),
    ("pkg_url", "../packages/hello", 'hello.pkg_url: "../packages/hello": a relative path: give an absolute path'),
    ("code_url", "repos/hello.git", 'hello.code_url: "repos/hello.git": a relative path'),
    ("version", "1.0 beta", 'hello.version: "1.0 beta": must match'),
    ("name", "bad name", 'cluster.name: "bad name": must match'),
    ("values", "port: 18080\ncountry: NO\ndb_passwd: x", "hello.country: NO: YAML 1.1 reads this as the boolean"),
    ("values", "port: [18080\ndb_passwd: x", "YAML error line"),
    ("values", "port: 18080", None),
    ("start_action", "", None),
])
def test_a_bad_value_is_shown_next_to_its_field(inventory, field, value, says):
    form = dict(GOOD, **{field: value})
    out = deploy_form.check(form)
    if says is None:
        assert out["problems"] == []
        return
    assert out["hosts"] == [] and out["plan"] == []
    # A malformed tag also leaves the name unknown (it defaults to the tag's job): both are said.
    also = ["name"] if "malformed" in says else []
    assert sorted(out["errors"]) == sorted([field] + also), out["problems"]
    assert any(says in line for line in out["errors"][field]), out["errors"][field]
    assert out["general"] == []


def test_every_problem_at_once(inventory):
    out = deploy_form.check(dict(GOOD, batch="0", path="rel", env="", pkg_url="", code_url=""))
    assert set(out["errors"]) == {"batch", "path", "env", "pkg_url"}, out["problems"]


@pytest.mark.parametrize("n, rollout, batches, pauses, sleeps", [
    (5, {"batch": 2}, [2, 2, 1], [None, None, None], [0, 0, 0]),
    (5, {"batch": 2, "canary": 1}, [1, 2, 2], ["canary batch done", None, None], [0, 0, 0]),
    (4, {"batch": 1, "pause_step": 2, "sleep": 3}, [1, 1, 1, 1],
     [None, "pause_step 2: 2 of 4 hosts done", None, None], [3, 3, 3, 0]),
    (6, {"batch": 4, "pause_step": 3}, [4, 2], ["pause_step 3: 4 of 6 hosts done", None], [0, 0]),
    (0, {"batch": 3}, [], [], []),
])
def test_batch_plan(n, rollout, batches, pauses, sleeps):
    plan = deploy_form.batch_plan(["h%d" % i for i in range(n)], rollout)
    assert [len(b["hosts"]) for b in plan] == batches
    assert [b["pause"] for b in plan] == pauses and [b["sleep"] for b in plan] == sleeps


def test_the_inventory_is_read_as_the_deploy_reads_it(tmp_path):
    (tmp_path / "tree.yml").write_text(textwrap.dedent("""\
        machines:
          web2: {address: 10.0.0.2, tags: ["%s_cluster.c1_idc.lg_status.service"]}
          web1: {tags: ["%s_cluster.c1_idc.lg_status.offline"]}
          web0: {tags: ["%s_cluster.c1_idc.lg_status.service"]}
        """ % (JOB, JOB, JOB)))
    (tmp_path / "fleet.noops.yml").write_text("plugin: noops.platform.service_tree\nsource: tree.yml\n")
    hosts = deploy_form.load_inventory([str(tmp_path / "fleet.noops.yml")])
    # The inventory's order, as Odin selects hosts (ansible-inventory --list alone would sort them).
    assert [(h.name, h.address) for h in hosts] == [("web2", "10.0.0.2"), ("web1", None), ("web0", None)]
    assert hosts[0].tags == ["%s_cluster.c1_idc.lg_status.service" % JOB]
    out = deploy_form.check(dict(GOOD, inventory=str(tmp_path / "fleet.noops.yml")))
    assert out["hosts"] == ["web2", "web0"] and out["problems"] == []
    bad = deploy_form.check(dict(GOOD, inventory=str(tmp_path / "missing.noops.yml")))
    assert list(bad["errors"]) == ["inventory"]


# Every problem at once, each next to its field: a broken template-values YAML, a bad or missing name and an
# over-long field hide none of the others.
@pytest.mark.parametrize("field, value, says", [
    ("values", "port: [18080\ndb_passwd: x", "YAML error"),
    ("values", "port: 18080\n  bad indent: [", "YAML error"),
    ("name", "bad name", 'cluster.name: "bad name": must match'),
    ("name", "", "cluster.name"),
    ("env", "x" * (deploy_form.MAX_FIELD + 1), "env: %d characters, at most" % (deploy_form.MAX_FIELD + 1)),
    ("values", "port: 1\n" + "y" * deploy_form.MAX_FIELD, "values: "),
    ("service", "job." + "a" * deploy_form.MAX_FIELD, "service: "),
])
def test_one_broken_field_hides_no_other_problem(inventory, field, value, says):
    form = dict(GOOD, **{field: value}, batch="0", path="home/work/hello")
    if field == "name" and not value:
        form["service"] = "job.hello_service"  # no name from the tag either: malformed
    out = deploy_form.check(form)
    assert out["general"] == [], out["problems"]
    assert any(says in line for line in out["errors"].get(field, [])), out["errors"]
    assert any("must be an integer >= 1" in line for line in out["errors"].get("batch", [])), out["errors"]
    assert any("must be an absolute path" in line for line in out["errors"].get("path", [])), out["errors"]
    assert out["hosts"] == [] and out["plan"] == []
