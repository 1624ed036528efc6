"""cluster.yml checks as tables: each bad file -> the problem lines it must produce (and nothing else)."""

import json
import textwrap

import pytest
import yaml

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import (
    InventoryHost, check_package_needs, load_cluster_text, masked, parse_cluster, prepare, problem, redact_url,
    host_jobs, resolve_rollout, rollout_plan, select_hosts, show, thor_vars,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag

JOB = "job.dch_service.dch_cluster.production-hh_pdl.account_owt.miliao_cop.xiaomi"
GOOD = {
    "cluster": {"name": "dch", "version": "1.0.0.1", "env": "production", "jobs": [JOB]},
    "dch": {"user": "work", "version": 93043, "path": "/home/work/passport-dch",
            "pkg_url": "https://pkgs.example.com/dch-93043.tar.gz", "db_passwd": "s3cret-pw", "port": 8080},
}


def variant(changes):
    """GOOD with ``changes``: {"block.key": value}; a value of DELETE removes the key."""
    doc = {k: dict(v) for k, v in GOOD.items()}
    for path, value in changes.items():
        block, key = path.split(".", 1) if "." in path else (path, "")
        if not key:
            if value is DELETE:
                doc.pop(block, None)
            else:
                doc[block] = value
        elif value is DELETE:
            doc[block].pop(key, None)
        else:
            doc[block][key] = value
    return doc


DELETE = object()


def problems_of(doc, overrides=None):
    return parse_cluster(doc, "cluster.yml", "/srv", overrides)[1]


def test_good_file_has_no_problem():
    cluster, problems = parse_cluster(GOOD, "cluster.yml", "/srv")
    assert problems == []
    assert cluster.version == "93043"                    # the module block's, an int in YAML
    assert cluster.values == {"db_passwd": "s3cret-pw", "port": 8080}
    assert cluster.data_path == "/data/dch"
    assert cluster.service == JOB                        # as written in cluster.yml
    assert cluster.hosts is None and cluster.include_offline is False


BAD = [
    # (id, changes, the exact problem lines)
    ("no-cluster-block", {"cluster": DELETE},
     ["cluster.yml: cluster: missing: the file needs a 'cluster:' block (name, version, env, jobs)"]),
    ("cluster-not-mapping", {"cluster": ["dch"]},
     ["cluster.yml: cluster: must be a mapping (name, version, env, jobs), not list"]),
    ("no-name", {"cluster.name": DELETE}, ["cluster.yml: cluster.name: missing: it names the module block"]),
    ("bad-name", {"cluster.name": "d ch"},
     ['cluster.yml: cluster.name: "d ch": must match [A-Za-z0-9][A-Za-z0-9_.-]* (it names the module block, the '
      'process and the data folder)']),
    ("no-module-block", {"dch": DELETE},
     ["cluster.yml: dch: missing: cluster.name is 'dch' but the file has no 'dch:' block"]),
    ("module-block-misnamed", {"dch": DELETE, "dhc": {"path": "/x"}},
     ["cluster.yml: dch: missing: cluster.name is 'dch' but the file has no 'dch:' block (blocks found: dhc)"]),
    ("module-block-list", {"dch": ["a"]}, ["cluster.yml: dch: must be a mapping, not list"]),
    ("no-env", {"cluster.env": DELETE},
     ["cluster.yml: cluster.env: missing: it selects the section of config.template.yml (production, staging, ...)"]),
    ("env-base", {"cluster.env": "base"},
     ['cluster.yml: cluster.env: "base": \'base\' is merged into every env; name the env itself (production, '
      'staging, ...)']),
    ("env-int", {"cluster.env": 3},
     ["cluster.yml: cluster.env: 3: must be the name of a section of config.template.yml (production, staging, ...)"]),
    ("no-jobs", {"cluster.jobs": DELETE},
     ["cluster.yml: cluster.jobs: missing: the job tag(s) of the service cluster, e.g. "
      "[job.dch_service.dch_cluster.production-hh_pdl.account_owt.miliao_cop.xiaomi]"]),
    ("jobs-empty", {"cluster.jobs": []}, ["cluster.yml: cluster.jobs: []: must be a non-empty list of tags"]),
    ("jobs-bad-tag", {"cluster.jobs": [JOB, "job.dch__service.dch"]},
     ["cluster.yml: cluster.jobs[1]: malformed tag: empty pair at char 8"]),
    ("jobs-dup-key", {"cluster.jobs": "job.a_job.b"},
     ['cluster.yml: cluster.jobs: malformed tag: key "job" appears twice at char 6']),
    ("bad-version", {"dch.version": "1.0 beta"},
     ['cluster.yml: dch.version: "1.0 beta": must match [A-Za-z0-9][A-Za-z0-9_.+-]* (it names the release folder '
      'on every host)']),
    ("version-list", {"dch.version": [1]},
     ['cluster.yml: dch.version: [1]: must be a version string such as "93043" or "1.0.0.1"']),
    ("no-path", {"dch.path": DELETE},
     ["cluster.yml: dch.path: missing: the program's path on the hosts (e.g. /home/work/dch)"]),
    ("relative-path", {"dch.path": "home/work/dch"}, ['cluster.yml: dch.path: "home/work/dch": must be an absolute path']),
    ("root-path", {"dch.path": "/"}, ['cluster.yml: dch.path: "/": must be an absolute path below / without \'..\'']),
    ("dotdot-data-path", {"dch.data_path": "/data/../etc"},
     ['cluster.yml: dch.data_path: "/data/../etc": must be an absolute path below / without \'..\'']),
    ("gopher", {"dch.pkg_url": "gopher://x/y.tgz"},
     ['cluster.yml: dch.pkg_url: "gopher://x/y.tgz": scheme must be http, https, ftp or file']),
    ("http-no-host", {"dch.pkg_url": "https:///dch.tgz"}, ['cluster.yml: dch.pkg_url: "https:///dch.tgz": has no host']),
    ("url-password-hidden", {"dch.pkg_url": "sftp://bob:hunter22@x/y.tgz"},
     ['cluster.yml: dch.pkg_url: "sftp://bob:********@x/y.tgz": scheme must be http, https, ftp or file']),
    ("both-sources", {"dch.code_url": "https://git.example.com/dch.git"},
     ['cluster.yml: dch.code_url: "https://git.example.com/dch.git": give either pkg_url (a built package) or '
      'code_url (build from git), not both']),
    ("no-source", {"dch.pkg_url": DELETE},
     ["cluster.yml: dch.pkg_url: missing: give pkg_url (http, https, ftp or file) or code_url (a git repository "
      "to build from)"]),
    ("build-key-with-pkg", {"dch.build_command": "make"},
     ['cluster.yml: dch.build_command: "make": only used with code_url (building from git), not with pkg_url']),
    ("bad-sha", {"dch.pkg_sha256": "abc"}, ['cluster.yml: dch.pkg_sha256: "abc": must be 64 hex digits (the '
                                            'package\'s sha256)']),
    ("host-not-list", {"dch.host": {"a": 1}},
     ['cluster.yml: dch.host: {"a": 1}: must be a list of addresses or inventory names']),
    ("host-int", {"dch.host": ["10.0.0.1", 7]},
     ['cluster.yml: dch.host: ["10.0.0.1", 7]: every entry must be an address or inventory name (a string)']),
    ("batch-zero", {"dch.batch": 0}, ["cluster.yml: dch.batch: 0: must be an integer >= 1"]),
    ("batch-text", {"cluster.batch": "two"}, ['cluster.yml: cluster.batch: "two": must be an integer >= 1']),
    ("sleep-negative", {"dch.sleep": -5}, ["cluster.yml: dch.sleep: -5: must be a number of seconds >= 0"]),
    ("pause-step-bool", {"dch.pause_step": True},
     ["cluster.yml: dch.pause_step: true: must be an integer >= 0, not a boolean"]),
    ("max-fail-percent", {"dch.max_fail": "120%"},
     ['cluster.yml: dch.max_fail: "120%": must be a count >= 0 or a percentage 0-100%']),
    ("max-fail-word", {"dch.max_fail": "some"},
     ['cluster.yml: dch.max_fail: "some": must be a count >= 0 or a percentage such as "25%"']),
    ("canary-word", {"dch.canary": "maybe"},
     ['cluster.yml: dch.canary: "maybe": must be true, false or a number of hosts >= 0']),
    ("force-word", {"dch.force": "sure"}, ['cluster.yml: dch.force: "sure": must be true or false']),
    ("unknown-block", {"dhc": {"x": 1}},
     ["cluster.yml: dhc: unknown block: cluster.name is 'dch', so only 'cluster:' and 'dch:' are read"]),
    ("relative-path-escapes", {"dch.pkg_url": DELETE, "dch.code_url": "git@x:dch.git", "dch.relative_path": "../x"},
     ['cluster.yml: dch.relative_path: "../x": must be a path inside the repository (relative, without \'..\')']),
    ("secret-value-hidden", {"dch.backup_key": None, "dch.batch": "x", "dch.db_passwd": "s3cret-pw"},
     ['cluster.yml: dch.batch: "x": must be an integer >= 1']),
]


@pytest.mark.parametrize("changes, expected", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_file(changes, expected):
    assert problems_of(variant(changes)) == expected


def test_every_problem_at_once():
    doc = variant({"cluster.env": DELETE, "dch.pkg_url": "gopher://x", "dch.batch": 0, "dch.path": "rel"})
    assert len(problems_of(doc)) == 4


@pytest.mark.parametrize("changes", [c[1] for c in BAD], ids=[c[0] for c in BAD])
def test_no_secret_in_any_problem(changes):
    doc = variant(changes)
    if isinstance(doc.get("dch"), dict):
        doc["dch"]["db_passwd"] = "Never-Sh0wn"
    assert "Never-Sh0wn" not in "\n".join(problems_of(doc))


def test_problem_hides_secret_field_values():
    assert problem("cluster.yml", "dch.backup_key", "bad", "68e7012d") == 'cluster.yml: dch.backup_key: "********": bad'


@pytest.mark.parametrize("text, expected", [
    ("cluster: [", "cluster.yml: YAML error line 1: expected the node content, but found '<stream end>'"),
    ("", "cluster.yml: must be a mapping with a 'cluster:' block and a module block, not empty"),
    ("- a", "cluster.yml: must be a mapping with a 'cluster:' block and a module block, not a list"),
])
def test_unreadable_documents(text, expected):
    doc, problems = load_cluster_text(text, "cluster.yml")
    if not problems:
        problems = parse_cluster(doc, "cluster.yml")[1]
    assert problems == [expected]


# --------------------------------------------------------------------------- rollout

def settings(**values):
    return {k: (v, "cluster.yml: dch.%s" % k) for k, v in values.items()}


@pytest.mark.parametrize("given, hosts, expected", [
    ({}, 4, dict(batch=1, sleep=0, pause_step=0, max_fail=0, canary=0, force=False)),
    (dict(batch="2", sleep="1.5", pause_step=2, force="yes"), 4,
     dict(batch=2, sleep=1.5, pause_step=2, max_fail=0, canary=0, force=True)),
    (dict(max_fail="25%"), 10, dict(max_fail=2, max_fail_percent=25.0)),       # rounded down
    (dict(max_fail="50%"), 4, dict(max_fail=2)),
    (dict(max_fail="10%"), 4, dict(max_fail=0)),
    (dict(max_fail=3), 4, dict(max_fail=3)),
    (dict(canary=True), 4, dict(canary=1)),
    (dict(canary="false"), 4, dict(canary=0)),
    (dict(canary=3), 4, dict(canary=3)),
    (dict(canary="2"), 4, dict(canary=2)),
])
def test_rollout(given, hosts, expected):
    rollout, problems = resolve_rollout(settings(**given), hosts)
    assert problems == []
    assert {k: rollout[k] for k in expected} == expected


def test_extra_vars_win_and_are_named():
    doc = variant({"cluster.batch": 3, "dch.batch": 2})
    cluster = parse_cluster(doc, "cluster.yml", "/srv", {"batch": "5", "sleep": None})[0]
    assert resolve_rollout(cluster.settings, 4)[0]["batch"] == 5
    cluster = parse_cluster(doc, "cluster.yml", "/srv", {})[0]
    assert resolve_rollout(cluster.settings, 4)[0]["batch"] == 2           # module block over cluster block
    assert problems_of(doc, {"batch": "x"}) == ['extra vars: batch: "x": must be an integer >= 1']


# --------------------------------------------------------------------------- hosts

def h(name, address, *tags):
    return InventoryHost(name, address, tags)


INVENTORY = [
    h("lg1", "10.0.0.1", "cop.xiaomi_service.dch_job.dch_idc.lg_status.service"),
    h("lg2", "10.0.0.2", "cop.xiaomi_service.dch_job.dch_idc.lg_status.offline"),
    h("sd1", "10.0.0.3", "cop.xiaomi_service.dch_job.dch_idc.sd_status.service"),
    h("zk1", "10.0.0.4", "cop.xiaomi_service.zk_job.zk_idc.sd_status.service",
      "cop.xiaomi_service.dch_job.dch-tool_idc.sd"),
    h("dup1", "10.9.9.9"), h("dup2", "10.9.9.9"),
]


def cluster_with(**block):
    doc = variant({"cluster.jobs": block.pop("jobs", ["service.dch_job.dch"])})
    doc["dch"].update(block)
    return parse_cluster(doc, "cluster.yml", "/srv")[0]


@pytest.mark.parametrize("block, hosts, problems", [
    ({}, ["lg1", "sd1"], []),
    ({"include_offline": True}, ["lg1", "lg2", "sd1"], []),
    ({"jobs": ["service.dch_job.dch-tool"], "include_offline": True}, ["zk1"], []),
    # "&status.service" intersects machines, as every query does: zk1 is in service through its other tag.
    ({"jobs": ["service.dch_job.dch-tool"]}, ["zk1"], []),
    ({"jobs": ["service.dch_job.dch_idc.lg"]}, ["lg1"], []),
    ({"jobs": ["job.zk", "job.dch_idc.sd"]}, ["sd1", "zk1"], []),
    ({"host": ["sd1", "10.0.0.1"]}, ["lg1", "sd1"], []),      # names and addresses, in inventory order
    ({"host": ["10.0.0.7", "lg9"]}, [],
     ['cluster.yml: dch.host[0]: "10.0.0.7": not in the inventory (neither a host name nor an ansible_host)',
      'cluster.yml: dch.host[1]: "lg9": not in the inventory (neither a host name nor an ansible_host)']),
    ({"host": ["10.9.9.9"]}, [],
     ['cluster.yml: dch.host[0]: "10.9.9.9": is the address of several inventory hosts (dup1, dup2): name one '
      'of them instead']),
])
def test_select_hosts(block, hosts, problems):
    selected, dummy, found = select_hosts(cluster_with(**block), INVENTORY)
    assert (selected, found) == (hosts, problems)



@pytest.mark.parametrize("block, jobs", [
    # One jobs tag: every host's $<job> is it (thor's default), nothing per host.
    ({}, {}),
    # Several: each host gets the first jobs tag that one of its own tags holds, when it is not the first one.
    ({"jobs": ["job.zk", "job.dch_idc.sd"]}, {"sd1": "job.dch_idc.sd"}),
    ({"jobs": ["job.dch_idc.sd", "job.zk"]}, {"zk1": "job.zk"}),
    # zk1 holds both through its two tags: the first listed wins.
    ({"jobs": ["job.dch_idc.lg", "job.dch-tool", "job.zk"], "include_offline": True},
     {"zk1": "job.dch-tool"}),
    # A host: list with tags that hold none of the jobs keeps the first.
    ({"jobs": ["job.zk", "job.dch"], "host": ["lg1", "dup1"]}, {"lg1": "job.dch"}),
])
def test_host_jobs(block, jobs):
    cluster = cluster_with(**block)
    selected = select_hosts(cluster, INVENTORY)[0]
    assert host_jobs(cluster, INVENTORY, selected) == jobs


SPELLED = "job.dch_service.dch_cop.xiaomi"
SPELLED_SD = "idc.sd_job.dch_cop.xiaomi"


@pytest.mark.parametrize("jobs, service, per_host, query, lock_key", [
    # What a template ($<job>), a process, a report, the history and the CLI get is the tag as the user wrote
    # it; the lock (which service cluster) and host selection compare tags whatever their order.
    ([SPELLED], SPELLED, {}, SPELLED + ",&status.service", "cop.xiaomi_service.dch_job.dch"),
    (["cop.xiaomi_service.dch_job.dch"], "cop.xiaomi_service.dch_job.dch", {},
     "cop.xiaomi_service.dch_job.dch,&status.service", "cop.xiaomi_service.dch_job.dch"),
    (["job.zk_cop.xiaomi", SPELLED_SD], "job.zk_cop.xiaomi", {"sd1": SPELLED_SD},
     "job.zk_cop.xiaomi,%s,&status.service" % SPELLED_SD, "cop.xiaomi_job.dch_idc.sd,cop.xiaomi_job.zk"),
    # The same tag twice in two spellings is one job; the first spelling is kept.
    ([SPELLED, "cop.xiaomi_job.dch_service.dch"], SPELLED, {}, SPELLED + ",&status.service",
     "cop.xiaomi_service.dch_job.dch"),
])
def test_jobs_keep_the_spelling_of_cluster_yml(jobs, service, per_host, query, lock_key):
    cluster = cluster_with(jobs=jobs)
    selected, used_query, problems = select_hosts(cluster, INVENTORY)
    assert problems == [] and selected
    assert (cluster.service, thor_vars(cluster, "1", "p.tar.gz", False)["thor_job"], used_query, cluster.lock_key) \
        == (service, service, query, lock_key)
    assert host_jobs(cluster, INVENTORY, selected) == per_host


SERVICE = JOB  # the jobs tag as cluster.yml spells it, as the history records it


@pytest.mark.parametrize("changes, asked", [
    ({"dch.pkg_url": "gopher://x/y.tgz"}, (SERVICE, "dch", "93043")),
    ({"dch.pkg_url": "file:///nonexistent/dch.tar.gz"}, (SERVICE, "dch", "93043")),
    ({"dch.path": "relative", "dch.pkg_sha256": 42, "cluster.env": DELETE}, (SERVICE, "dch", "93043")),
    ({"dch.version": DELETE}, (SERVICE, "dch", "1.0.0.1")),
    ({"cluster.name": "no such block"}, (SERVICE, None, "1.0.0.1")),
    ({"dch": DELETE}, (SERVICE, "dch", "1.0.0.1")),
    ({"cluster.jobs": ["bad tag ,,", JOB]}, (SERVICE, "dch", "93043")),
    ({"dch.version": "bad version!", "cluster.jobs": DELETE}, (None, "dch", "1.0.0.1")),
], ids=["bad-url", "download-refused", "several-bad-fields", "cluster-version", "bad-name", "no-module-block",
        "first-job-malformed", "bad-version-no-jobs"])
def test_a_refused_request_still_names_what_was_asked(tmp_path, changes, asked):
    path = tmp_path / "cluster.yml"
    # (No download: a package URL that is there would be fetched.)
    path.write_text(yaml.safe_dump(variant({"dch.pkg_url": "file:///nonexistent/dch.tar.gz", **changes})))
    prepared = prepare(str(path), [], cache_dir=str(tmp_path / "cache"))
    assert prepared.problems
    assert (prepared.result.get("service"), prepared.result.get("name"), prepared.result.get("version")) == asked


# --------------------------------------------------------------------------- the rollout plan

def hosts_of(n):
    return ["h%d" % i for i in range(1, n + 1)]


def rollout_with(**given):
    return resolve_rollout(settings(**given), None)[0]


# hosts, settings -> [(batch hosts, sleep seconds after it, pause reason after it or None), ...]
PLANS = [
    ("defaults: one host per batch", 3, {},
     [(["h1"], 0, None), (["h2"], 0, None), (["h3"], 0, None)]),
    ("batch sizes, the last batch short", 5, dict(batch=2),
     [(["h1", "h2"], 0, None), (["h3", "h4"], 0, None), (["h5"], 0, None)]),
    ("fewer hosts than a batch", 2, dict(batch=5, sleep=3, pause_step=1, canary=0),
     [(["h1", "h2"], 0, None)]),
    ("no sleep after the last batch", 3, dict(batch=2, sleep=5),
     [(["h1", "h2"], 5, None), (["h3"], 0, None)]),
    # ansible.builtin.pause waits whole seconds: what the playbook waits is what the plan says.
    ("a fraction of a second is dropped", 2, dict(sleep="1.5"), [(["h1"], 1, None), (["h2"], 0, None)]),
    ("under a second: no sleep", 2, dict(sleep=0.5), [(["h1"], 0, None), (["h2"], 0, None)]),
    ("pause_step on batch boundaries", 4, dict(pause_step=2),
     [(["h1"], 0, None), (["h2"], 0, "pause_step 2: 2 of 4 hosts done"), (["h3"], 0, None), (["h4"], 0, None)]),
    # A pause falls after the batch that crosses a multiple of pause_step.
    ("pause_step inside a batch", 7, dict(batch=2, pause_step=3),
     [(["h1", "h2"], 0, None), (["h3", "h4"], 0, "pause_step 3: 4 of 7 hosts done"),
      (["h5", "h6"], 0, "pause_step 3: 6 of 7 hosts done"), (["h7"], 0, None)]),
    ("pause_step smaller than a batch: one pause per batch", 5, dict(batch=2, pause_step=1, sleep=2),
     [(["h1", "h2"], 2, "pause_step 1: 2 of 5 hosts done"), (["h3", "h4"], 2, "pause_step 1: 4 of 5 hosts done"),
      (["h5"], 0, None)]),
    ("canary first, then batches", 5, dict(batch=2, canary=1),
     [(["h1"], 0, "canary batch done"), (["h2", "h3"], 0, None), (["h4", "h5"], 0, None)]),
    ("canary of several hosts", 4, dict(canary=2), [(["h1", "h2"], 0, "canary batch done"), (["h3"], 0, None),
                                                    (["h4"], 0, None)]),
    ("canary says why, also where pause_step falls", 4, dict(batch=2, canary=2, pause_step=2),
     [(["h1", "h2"], 0, "canary batch done"), (["h3", "h4"], 0, None)]),
    ("canary with pause_step after it", 5, dict(batch=2, canary=1, pause_step=2),
     [(["h1"], 0, "canary batch done"), (["h2", "h3"], 0, "pause_step 2: 3 of 5 hosts done"),
      (["h4", "h5"], 0, None)]),
    ("canary of every host: no pause", 2, dict(canary=3), [(["h1", "h2"], 0, None)]),
    ("canary: true is one host", 2, dict(canary=True, sleep=1), [(["h1"], 1, "canary batch done"),
                                                                 (["h2"], 0, None)]),
    ("one host", 1, dict(pause_step=1, canary=1, sleep=9), [(["h1"], 0, None)]),
    ("no host", 0, dict(batch=2), []),
]


@pytest.mark.parametrize("count, given, expected", [p[1:] for p in PLANS], ids=[p[0] for p in PLANS])
def test_rollout_plan(count, given, expected):
    hosts = hosts_of(count)
    plan = rollout_plan(hosts, rollout_with(**given))
    assert [(b["hosts"], b["sleep"], b["pause"]) for b in plan["batches"]] == expected
    # Every host once, in the order given; the batch sizes are Ansible's serial list; done counts the hosts.
    assert [h for b in plan["batches"] for h in b["hosts"]] == hosts
    assert plan["serial"] == [len(b["hosts"]) for b in plan["batches"]]
    assert [b["done"] for b in plan["batches"]] == [sum(plan["serial"][:i + 1]) for i in range(len(plan["serial"]))]
    assert plan["hosts"] == count


def test_rollout_plan_is_plain_data():
    """The plan is what the playbook looks up and what a dry run shows: JSON as it is, the input untouched."""
    hosts, rollout = hosts_of(3), rollout_with(batch=2, canary=1, sleep=2)
    before = (list(hosts), dict(rollout))
    plan = rollout_plan(hosts, rollout)
    assert json.loads(json.dumps(plan)) == plan
    assert (hosts, rollout) == before
    assert plan["batches"][0] == {"hosts": ["h1"], "done": 1, "sleep": 2, "pause": "canary batch done"}


def test_prepare_returns_the_plan_of_the_hosts(tmp_path):
    doc = variant({"dch.host": ["lg1", "sd1", "zk1"], "dch.batch": 2, "dch.canary": 1})
    path = tmp_path / "cluster.yml"
    path.write_text(yaml.safe_dump(doc))
    inventory = [InventoryHost(n, None, ()) for n in ("lg1", "sd1", "zk1", "other")]
    result = prepare(str(path), inventory, package=False).result
    assert result["plan"] == rollout_plan(["lg1", "sd1", "zk1"], result["rollout"])
    assert result["plan"]["serial"] == [1, 2]
    # Narrowed by the hosts the run's --limit leaves (Ansible's own pattern rules), in the cluster's order.
    result = prepare(str(path), inventory, package=False, limit="zk1,lg1",
                     limit_hosts=["zk1", "other", "lg1"]).result
    assert (result["hosts"], result["hosts_all"], result["limit"]) == (["lg1", "zk1"], ["lg1", "sd1", "zk1"], "zk1,lg1")
    assert result["plan"]["batches"][0]["hosts"] == ["lg1"]
# --------------------------------------------------------------------------- the package, unpacked once

def test_a_deploy_unpacks_the_package_once(tmp_path, monkeypatch):
    """Lint, the needs check and the render of every host read one folder unpacked into the cache; a second
    deploy of the same package unpacks nothing."""
    import os
    import tarfile

    from ansible_collections.noops.platform.plugins.plugin_utils.package import (
        build_package, open_package, render_package,
    )

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))))
    package = tmp_path / "hello-1.0.0.tar.gz"
    build_package(os.path.join(root, "examples", "packages", "hello"), str(package), version="1.0.0")
    cluster_file = tmp_path / "cluster.yml"
    cluster_file.write_text(yaml.safe_dump({
        "cluster": {"name": "hello", "version": "1.0.0", "env": "production", "jobs": ["service.hello"]},
        "hello": {"path": "/home/work/hello", "pkg_url": str(package), "port": 8080, "db_passwd": "pw-pw-pw"}}))
    hosts = [h("h%d" % i, None, "service.hello_idc.lg_status.service") for i in range(3)]
    opened = []
    real_open = tarfile.open

    def counting_open(name=None, mode="r", *args, **kwargs):
        if "w" not in mode:
            opened.append(name)
        return real_open(name, mode, *args, **kwargs)

    monkeypatch.setattr(tarfile, "open", counting_open)

    def deploy():
        prepared = prepare(str(cluster_file), hosts, cache_dir=str(tmp_path / "c"))
        assert prepared.problems == []
        thor = prepared.result["thor"]
        for host in prepared.result["hosts"]:      # what roles/thor/tasks/render.yml hands release_render
            with open_package(thor.get("thor_package_tree") or thor["thor_package"]) as pkg:
                values = dict(thor["thor_values"], name="hello", version="1.0.0", path="/r/" + host, user="work",
                              data_path="/d/" + host, job="service.hello")
                rendered = render_package(pkg, "production", values, "/r/" + host + "/.releases/1.0.0")
            assert rendered.files
        return thor

    thor = deploy()
    assert len(opened) == 1, opened
    assert thor["thor_package_tree"].startswith(str(tmp_path / "c")) and thor["thor_package"] == opened[0]
    tree = os.stat(thor["thor_package_tree"])
    assert deploy()["thor_package_tree"] == thor["thor_package_tree"]
    assert len(opened) == 1, opened
    assert os.stat(thor["thor_package_tree"]).st_ino == tree.st_ino


def test_a_refused_cluster_yml_is_not_built(tmp_path, monkeypatch):
    """A build runs the cluster.yml's build command: a file with problems already is refused without running it,
    and says so next to the code_url."""
    from ansible_collections.noops.platform.plugins.plugin_utils.odin import cluster as cluster_mod

    def no_build(*args, **kwargs):
        raise AssertionError("built a refused cluster.yml")

    monkeypatch.setattr(cluster_mod, "build_from_git", no_build)
    doc = variant({"dch.pkg_url": DELETE, "dch.code_url": "https://git.example.com/dch.git", "dch.batch": 0,
                   "dch.host": ["lg1"]})
    path = tmp_path / "cluster.yml"
    path.write_text(yaml.safe_dump(doc))
    problems = prepare(str(path), [InventoryHost("lg1", None, ())], cache_dir=str(tmp_path / "c")).problems
    assert any("dch.batch: 0" in p for p in problems), problems
    assert any(p.startswith('%s: dch.code_url: "https://git.example.com/dch.git": not built' % path) for p in problems), \
        problems


@pytest.mark.parametrize("key", ["batch", "sleep", "pause_step", "max_fail", "canary", "force"])
def test_a_blank_extra_var_keeps_the_files_rollout_setting(key):
    """An optional survey question left blank reaches the playbook as "": it keeps what cluster.yml says."""
    value = {"batch": 3, "sleep": 2, "pause_step": 2, "max_fail": 1, "canary": 1, "force": True}[key]
    doc = variant({"dch.%s" % key: value})
    cluster, problems = parse_cluster(doc, "cluster.yml", "/srv", {key: ""})[:2]
    assert problems == []
    assert resolve_rollout(cluster.settings, 4)[0][key] == value
