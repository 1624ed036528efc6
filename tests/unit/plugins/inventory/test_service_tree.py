"""Unit tests of the service_tree inventory plugin: the plugin runs for real on InventoryData, only HTTP is replaced."""

from __future__ import annotations

import io
import json
import os
import sys

import pytest
import yaml

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.inventory.manager import _InventoryDataWrapper
from ansible.plugins.loader import init_plugin_loader, inventory_loader
from ansible.template import is_trusted_as_template
from ansible._internal._datatag._tags import Origin

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
COLLECTIONS = os.path.join(ROOT, "collections")
EXAMPLE_TREE = os.path.join(ROOT, "examples", "tree.yml")
sys.path.insert(0, os.path.join(ROOT, "bench"))

from ansible.utils.collection_loader import AnsibleCollectionConfig  # noqa: E402

if not AnsibleCollectionConfig.collection_finder:  # another test module may have set it up already
    init_plugin_loader([COLLECTIONS])

from ansible_collections.noops.platform.plugins.inventory import service_tree  # noqa: E402
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import load_tree  # noqa: E402
from ansible_collections.noops.platform.plugins.plugin_utils import yaml_file  # noqa: E402

DCH = "cop_xiaomi_owt_miliao_pdl_account_service_dch"
DCH_LG = DCH + "_cluster_production_lg"


def new_plugin():
    plugin = inventory_loader.get("noops.platform.service_tree")
    assert plugin is not None, "inventory plugin noops.platform.service_tree not found"
    return plugin


def run_plugin(tmp_path, config: dict, tree=None, name="test.noops.yml", inventory=None) -> InventoryData:
    """Write the tree (a document, or text as is) and the config into tmp_path, parse, reconcile, return the data."""
    if tree is not None:
        text = tree if isinstance(tree, str) else yaml.safe_dump(tree)
        (tmp_path / "tree.yml").write_text(text)
    config = dict({"plugin": "noops.platform.service_tree", "source": "tree.yml"}, **config)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    inventory = inventory or InventoryData()
    new_plugin().parse(inventory, DataLoader(), str(path), cache=False)
    inventory.reconcile_inventory()
    return inventory


def hosts_of(inventory: InventoryData, group: str) -> list[str]:
    return sorted(h.name for h in inventory.groups[group].get_hosts())


# -- verify_file ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, create, expected", [
    ("tree.noops.yml", True, True),
    ("lg.noops.yaml", True, True),
    ("service_tree.yml", True, True),
    ("service_tree.yaml", True, True),
    ("tree.noops.yml", False, False),      # missing file
    ("tree.yml", True, False),             # a tree file is not a config file
    ("noops.yml", True, False),
    ("my_service_tree.yml", True, False),
    ("tree.noops.json", True, False),
    ("service_tree.yml.bak", True, False),
])
def test_verify_file(tmp_path, name, create, expected):
    path = tmp_path / name
    if create:
        path.write_text("plugin: noops.platform.service_tree\nsource: tree.yml\n")
    assert new_plugin().verify_file(str(path)) is expected


# -- pure helpers -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, config, expected", [
    ("tree.yml", "/etc/noops/a.noops.yml", "/etc/noops/tree.yml"),
    ("../trees/tree.yml", "/etc/noops/a.noops.yml", "/etc/trees/tree.yml"),
    ("/srv/tree.yml", "/etc/noops/a.noops.yml", "/srv/tree.yml"),
    ("https://tree.example.com/api/tree", "/etc/noops/a.noops.yml", "https://tree.example.com/api/tree"),
    ("HTTP://tree.local/x", "/etc/a.noops.yml", "HTTP://tree.local/x"),
    ("~/tree.yml", "/etc/a.noops.yml", os.path.expanduser("~/tree.yml")),
])
def test_resolve_source(source, config, expected):
    assert service_tree.resolve_source(source, config) == expected


@pytest.mark.parametrize("headers, token, expected", [
    (None, None, {"Accept": "application/json"}),
    ({"X-Team": "sre"}, None, {"Accept": "application/json", "X-Team": "sre"}),
    ({}, "s3cret", {"Accept": "application/json", "Authorization": "Bearer s3cret"}),
    ({"Accept": "text/plain", "X-N": 3}, "t", {"Accept": "text/plain", "X-N": "3", "Authorization": "Bearer t"}),
])
def test_request_headers(headers, token, expected):
    assert service_tree.request_headers(headers, token) == expected


# -- groups, vars, nodes, query ---------------------------------------------------------------------------------

def test_example_tree_groups_and_vars(tmp_path):
    inventory = run_plugin(tmp_path, {"source": EXAMPLE_TREE})
    tree = load_tree(yaml.safe_load(open(EXAMPLE_TREE)), EXAMPLE_TREE)
    assert sorted(inventory.hosts) == sorted(m.name for m in tree.machines)
    # nested tree-path groups, each a child of its parent, the root a child of all
    assert [g.name for g in inventory.groups[DCH_LG].parent_groups] == [DCH]
    assert [g.name for g in inventory.groups[DCH].parent_groups] == ["cop_xiaomi_owt_miliao_pdl_account"]
    assert [g.name for g in inventory.groups["cop_xiaomi"].parent_groups] == ["all"]
    assert hosts_of(inventory, DCH_LG) == ["lg-acc-dch01.bj", "lg-acc-dch02.bj", "lg-acc-dch03.bj"]
    assert set(hosts_of(inventory, DCH_LG)) < set(hosts_of(inventory, DCH)) < set(hosts_of(inventory, "cop_xiaomi"))
    # pair groups; "-" and "." in values become "_"
    assert "lg-acc-dch01.bj" in hosts_of(inventory, "cluster_production_lg")
    assert set(hosts_of(inventory, "idc_lg")) == {m.name for m in tree.select("idc.lg")}
    host = inventory.hosts["lg-acc-dch01.bj"]
    assert host.vars["ansible_host"] == "10.237.37.41"
    assert host.vars["noops_tags"] == [
        "cop.xiaomi_owt.miliao_pdl.account_service.dch_cluster.production-lg_job.dch_loc.bj_idc.lg_status.service"]
    assert host.vars["noops_tag"]["cluster"] == "production-lg"
    # node vars become group vars: a tree-path node and single-pair nodes
    assert inventory.groups[DCH].vars == {"noops_path": "/home/work/passport-dch"}
    assert inventory.groups["idc_lg"].vars == {"noops_dns": "10.237.0.53"}
    assert inventory.groups["cop_xiaomi"].vars == {"noops_user": "work"}


TREE = {
    "machines": {
        "a1": {"address": "10.0.0.1", "tags": ["cop.x_owt.o_pdl.p_service.web_cluster.prod-lg_idc.lg_status.service"],
               "vars": {"port": 80}},
        "a2": {"tags": ["cop.x_owt.o_pdl.p_service.web_cluster.prod-sd_idc.sd_status.offline",
                        "cop.x_owt.o_pdl.p_service.cache_cluster.prod-sd_idc.sd_status.service"]},
        "b1": {"tags": ["idc.hh_service.lonely"]},
    },
    "nodes": {
        "cop.x_owt.o_pdl.p_service.web": {"vars": {"noops_path": "/home/work/web"}},
        "cop.x_owt.o": {"vars": {"team": "o"}},
        "status.offline": {"vars": {"noops_skip": True}},
        "cop.x_owt.unused": {"vars": {"empty": 1}},
    },
}


@pytest.mark.parametrize("query, hosts", [
    (None, ["a1", "a2", "b1"]),
    ("idc.sd", ["a2"]),
    ("service.web,!status.offline", ["a1"]),   # a2's web tag is offline; its cache tag does not hold service.web
    ("service.web_status.service", ["a1"]),
    ("idc.*,&status.service", ["a1", "a2"]),
    ("service.lonely", ["b1"]),
])
def test_query_keeps_matching_machines(tmp_path, query, hosts):
    config = {"query": query} if query else {}
    inventory = run_plugin(tmp_path, config, TREE)
    assert sorted(inventory.hosts) == hosts
    assert hosts_of(inventory, "all") == hosts


@pytest.mark.parametrize("group, hosts, group_vars, parents", [
    ("cop_x_owt_o_pdl_p_service_web", ["a1", "a2"], {"noops_path": "/home/work/web"}, ["cop_x_owt_o_pdl_p"]),
    ("cop_x_owt_o", ["a1", "a2"], {"team": "o"}, ["cop_x"]),
    ("status_offline", ["a2"], {"noops_skip": True}, ["all"]),
    ("cop_x_owt_unused", [], {"empty": 1}, ["cop_x"]),       # a node with no machine still exists, linked
    ("service_lonely", ["b1"], {}, ["all"]),                 # a tag without a cop: pair groups only
    ("cluster_prod_sd", ["a2"], {}, ["all"]),
])
def test_node_vars_and_links(tmp_path, group, hosts, group_vars, parents):
    inventory = run_plugin(tmp_path, {}, TREE)
    assert hosts_of(inventory, group) == hosts
    assert inventory.groups[group].vars == group_vars
    assert sorted(g.name for g in inventory.groups[group].parent_groups) == parents


def test_host_vars(tmp_path):
    inventory = run_plugin(tmp_path, {}, TREE)
    a2 = inventory.hosts["a2"]
    assert a2.vars["noops_tags"] == TREE["machines"]["a2"]["tags"]
    assert a2.vars["noops_tag"] == {"cop": "x", "owt": "o", "pdl": "p", "service": "web", "cluster": "prod-sd",
                                    "idc": "sd", "status": "offline"}
    assert "ansible_host" not in a2.vars
    assert inventory.hosts["a1"].vars["port"] == 80


# -- constructed options ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("config, group, hosts", [
    ({"keyed_groups": [{"key": "noops_tag.idc", "prefix": "room"}]}, "room_sd", ["a2"]),
    ({"groups": {"web_online": "'service.web' in noops_tags[0] and noops_tag.status == 'service'"}},
     "web_online", ["a1"]),
    ({"keyed_groups": [{"key": "noops_tag.service", "parent_group": "services"}]}, "services", ["a1", "a2", "b1"]),
])
def test_constructed_groups(tmp_path, config, group, hosts):
    inventory = run_plugin(tmp_path, config, TREE)
    assert hosts_of(inventory, group) == hosts


def test_compose_sets_vars_from_tree_and_group_vars(tmp_path):
    inventory = run_plugin(tmp_path, {"compose": {"app_dir": "noops_path | default('none')",
                                                  "port_plus": "port | default(0) + 1"}}, TREE)
    # compose sees the machine's own vars, not group vars (as every constructed inventory)
    assert inventory.hosts["a1"].vars["port_plus"] == 81
    assert inventory.hosts["b1"].vars["app_dir"] == "none"


def test_strict_compose_error_names_host(tmp_path):
    with pytest.raises(Exception, match="Could not set p for host a2: .port. is undefined"):
        run_plugin(tmp_path, {"strict": True, "compose": {"p": "port + 1"}}, TREE)
    # without strict the failing expression is skipped
    inventory = run_plugin(tmp_path, {"compose": {"p": "port + 1"}}, TREE)
    assert inventory.hosts["a1"].vars["p"] == 81 and "p" not in inventory.hosts["a2"].vars


# -- errors -----------------------------------------------------------------------------------------------------

BAD_TREES = [
    ("machines:\n  a1:\n    tags: [cop.x__owt.y]\n", ['tree.yml: machine a1: tag "cop.x__owt.y": empty pair']),
    ("machines:\n  a1:\n    tags: [cop.x_service.Web_x]\n", ["machine a1", 'pair "x" has no "."']),
    ("machines:\n  a1:\n    tags: []\n", ["tree.yml: machine a1: field 'tags' must be a non-empty list"]),
    ("machines:\n  a1: {address: 10.0.0.1}\n", ["machine a1: field 'tags'"]),
    ("machines:\n  a1: {tags: [cop.x], adress: 10.0.0.1}\n", ["machine a1: unknown field 'adress'"]),
    ("machines:\n  a1: {tags: [cop.x], vars: [1, 2]}\n", ["machine a1: field 'vars' must be a mapping"]),
    ("machines: {}\n", ["tree.yml: field 'machines' must be a non-empty mapping"]),
    ("- a\n- b\n", ["tree.yml: top level is list"]),
    ("", ["tree.yml: empty document"]),
    ("machines:\n  a1: {tags: [cop.x]}\nnodes:\n  idc.lg_cop.x: {vars: {}}\n",
     ["tree.yml: node idc.lg_cop.x: a node is a single pair or a prefix"]),
    ("machines:\n  a1: {tags: [cop.x\n", ["tree.yml:3:1: invalid YAML: did not find expected"]),
]


@pytest.mark.parametrize("text, parts", BAD_TREES)
def test_bad_tree_raises_parser_error_naming_file_machine_field(tmp_path, text, parts):
    with pytest.raises(AnsibleParserError) as info:
        run_plugin(tmp_path, {}, text)
    message = str(info.value)
    for part in parts:
        assert part in message
    assert str(tmp_path / "tree.yml") in message


@pytest.mark.parametrize("config, part", [
    ({"source": "missing.yml"}, "cannot read tree file %s: No such file" % os.path.join("{tmp}", "missing.yml")),
    ({"query": "idc.lg,,status.x"}, '"idc.lg,,status.x": empty term at char 7'),
    ({"query": "idc"}, 'pair "idc" has no "."'),
    ({"timeout": "soon"}, "timeout"),
])
def test_bad_config_raises(tmp_path, config, part):
    with pytest.raises(Exception) as info:
        run_plugin(tmp_path, config, TREE)
    assert part.format(tmp=tmp_path) in str(info.value)


# -- URL sources (open_url replaced by a recorder; the real HTTP path is in tests/integration/inventory) ---------

class Recorder:
    def __init__(self, body: bytes):
        self.body = body
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, url, **kwargs):
        self.calls.append((url, kwargs))
        return io.BytesIO(self.body)


@pytest.mark.parametrize("config, env, headers, timeout, validate_certs", [
    ({}, {}, {"Accept": "application/json"}, 10, True),
    ({"token": "t0k", "timeout": 3, "validate_certs": False}, {}, {"Accept": "application/json",
                                                                   "Authorization": "Bearer t0k"}, 3, False),
    ({"headers": {"X-Env": "prod"}}, {"NOOPS_TREE_TOKEN": "from-env"},
     {"Accept": "application/json", "X-Env": "prod", "Authorization": "Bearer from-env"}, 10, True),
])
def test_url_source_options(tmp_path, monkeypatch, config, env, headers, timeout, validate_certs):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    recorder = Recorder(json.dumps(TREE).encode())
    monkeypatch.setattr(service_tree, "open_url", recorder)
    url = "https://tree.example.com/api/tree"
    inventory = run_plugin(tmp_path, dict(config, source=url))
    assert sorted(inventory.hosts) == ["a1", "a2", "b1"]
    (called, kwargs), = recorder.calls
    assert called == url
    assert kwargs["headers"] == headers
    assert kwargs["timeout"] == timeout and kwargs["validate_certs"] is validate_certs


@pytest.mark.parametrize("body, part", [
    (b"<html>oops</html>", "tree source https://t.example/x did not return JSON"),
    (b"[1, 2]", "https://t.example/x: top level is list"),
    (json.dumps({"machines": {"m1": {"tags": ["idc"]}}}).encode(),
     'https://t.example/x: machine m1: tag "idc": pair "idc" has no "."'),
])
def test_url_source_bad_documents(tmp_path, monkeypatch, body, part):
    monkeypatch.setattr(service_tree, "open_url", Recorder(body))
    with pytest.raises(AnsibleParserError, match=None) as info:
        run_plugin(tmp_path, {"source": "https://t.example/x"})
    assert part in str(info.value)


# -- the direct population equals the public-API one -----------------------------------------------------------

def trusted_strings(value) -> list:
    """The strings inside a value that are trusted for templating, in a stable order."""
    if isinstance(value, str):
        return [str(value)] if is_trusted_as_template(value) else []
    if isinstance(value, dict):
        return [s for key in sorted(value) for s in trusted_strings(value[key])]
    if isinstance(value, list):
        return [s for item in value for s in trusted_strings(item)]
    return []


def snapshot(inventory: InventoryData) -> dict:
    """Everything an inventory consumer sees, in a comparable form (order of a host's groups aside)."""
    return {
        "groups": {name: {"hosts": [h.name for h in g.hosts], "children": [c.name for c in g.child_groups],
                          "parents": [p.name for p in g.parent_groups], "vars": g.vars, "depth": g.depth,
                          # get_hosts() orders nested groups by set iteration (object ids): compare as sets
                          "priority": g.priority, "all_hosts": sorted(h.name for h in g.get_hosts())}
                   for name, g in inventory.groups.items()},
        "hosts": {name: {"vars": h.vars, "groups": sorted(g.name for g in h.groups), "port": h.vars.get("ansible_port"),
                         "trusted": trusted_strings(h.vars)}
                  for name, h in inventory.hosts.items()},
        "groups_dict": {name: sorted(hosts) for name, hosts in inventory.get_groups_dict().items()},
    }


class _TrustingPlugin:
    """Stands for the plugin in Ansible's inventory wrapper: what the plugin says about a local tree file."""
    trusted_by_default = True


def populate(layout, way: str, inventory: InventoryData | None = None, trusted: bool = False) -> InventoryData:
    inventory = inventory or InventoryData()
    if way == "direct":
        assert service_tree._fast_path_fits(inventory)
        service_tree.InventoryModule._populate_direct(inventory, layout, service_tree._Trust() if trusted else None)
    else:
        # the public methods, through the same wrapper InventoryManager hands to every inventory plugin
        target = inventory
        if trusted:
            target = _InventoryDataWrapper(inventory, target_plugin=_TrustingPlugin(), origin=Origin(description="t"))
        service_tree.InventoryModule._populate_public(target, layout)
    inventory.reconcile_inventory()
    return inventory


def with_other_source() -> InventoryData:
    """An inventory another source filled first: one of our groups under its own parent, a shared host."""
    inventory = InventoryData()
    for group in ("prod", "cop_xiaomi", "idc_lg"):
        inventory.add_group(group)
    inventory.add_child("prod", "cop_xiaomi")
    inventory.add_host("lg-acc-dch01.bj", "idc_lg")
    inventory.set_variable("lg-acc-dch01.bj", "noops_tag", {"extra": "kept"})
    inventory.add_host("outsider", "prod")
    return inventory


@pytest.mark.parametrize("trusted", [False, True], ids=["data", "trusted"])
@pytest.mark.parametrize("case", ["example", "example-query", "fleet", "fleet-query", "other-source"])
def test_direct_population_equals_public_api(case, trusted):
    import inventory as bench  # bench/inventory.py: the benchmark's fleet generator
    if case.startswith("fleet"):
        doc = bench.generate_fleet(1500, seed=7)
    else:
        doc = yaml.safe_load(open(EXAMPLE_TREE))
    query = "idc.lg,idc.sd,!status.offline" if case.endswith("query") else None
    layout = load_tree(doc, "t").layout(query)
    start = with_other_source if case == "other-source" else InventoryData
    fast = snapshot(populate(layout, "direct", start(), trusted))
    slow = snapshot(populate(layout, "public", start(), trusted))
    assert fast["hosts"] == slow["hosts"]
    assert fast["groups"] == slow["groups"]
    assert fast["groups_dict"] == slow["groups_dict"]
    assert len(fast["hosts"]) > 10
    assert any(h["trusted"] for h in fast["hosts"].values()) is trusted


# -- cache ------------------------------------------------------------------------------------------------------

def test_cache_holds_the_source_and_is_not_rewritten_when_read(tmp_path):
    cache_dir = tmp_path / "cache"
    config = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(cache_dir)}

    def parse(use_cache: bool) -> InventoryData:
        plugin = new_plugin()
        inventory = InventoryData()
        plugin.parse(inventory, DataLoader(), str(tmp_path / "c.noops.yml"), cache=use_cache)
        plugin.update_cache_if_changed()  # what InventoryManager does after parse
        return inventory

    (tmp_path / "tree.yml").write_text(yaml.safe_dump(TREE))
    (tmp_path / "c.noops.yml").write_text(yaml.safe_dump(dict(config, plugin="noops.platform.service_tree",
                                                              source="tree.yml")))
    assert sorted(parse(True).hosts) == ["a1", "a2", "b1"]
    cached, = list(cache_dir.iterdir())

    def cached_document() -> dict:
        entry = json.loads(cached.read_text())
        entry = json.loads(entry["__payload__"]) if "__payload__" in entry else entry
        assert entry["source"] == str(tmp_path / "tree.yml")
        return json.loads(entry["document"])

    assert cached_document()["machines"]["a1"]["address"] == "10.0.0.1"
    stamp = cached.stat().st_mtime_ns
    # the source changes; a run that may use the cache still sees the cached document and leaves the file alone
    (tmp_path / "tree.yml").write_text(yaml.safe_dump({"machines": {"z9": {"tags": ["idc.lg"]}}}))
    os.utime(cached, ns=(stamp - 10**9, stamp - 10**9))
    assert sorted(parse(True).hosts) == ["a1", "a2", "b1"]
    assert cached.stat().st_mtime_ns == stamp - 10**9
    # a refresh (cache=False, as with --flush-cache) reads the source and rewrites the cache
    assert sorted(parse(False).hosts) == ["z9"]
    assert list(cached_document()["machines"]) == ["z9"]


# -- template trust ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, trusted", [("tree.yml", True), ("https://tree.example.com/api/tree", False)])
def test_file_values_are_trusted_http_values_are_data(tmp_path, monkeypatch, source, trusted):
    monkeypatch.setattr(service_tree, "open_url", Recorder(json.dumps(TREE).encode()))
    inventory = run_plugin(tmp_path, {"source": source}, TREE)
    a1 = inventory.hosts["a1"].vars
    values = [a1["ansible_host"], a1["noops_tags"][0], a1["noops_tag"]["service"],
              inventory.groups["cop_x_owt_o"].vars["team"]]
    assert [is_trusted_as_template(v) for v in values] == [trusted] * len(values)
    assert a1["ansible_host"] == "10.0.0.1"


# -- the quick YAML loader gives what yaml.safe_load gives ------------------------------------------------------

@pytest.mark.parametrize("text", [
    "machines:\n  a1: {address: 10.0.0.1, tags: [cop.x_idc.lg]}\n",
    "a: 'yes'\nb: true\nc: False\nd: ~\ne: null\nf: ''\ng: 1\nh: -2.5\ni: .inf\n",
    "words: [lg, sd-1, 10.1.2.3, '010', \"yes\", true, False, x.y_z]\n",
    "base: &b {user: work, ports: [80, 443]}\nweb: *b\nmerged: {<<: *b, user: root}\n",
    "tagged: !!str 123\nset: !!set {a, b}\nbinary: !!binary aGk=\n",
    "- 1\n- [2, {3: three, 4.5: x, 'null': y, \"true\": z}]\n",   # plain null/true keys are refused
    "",
    "just a string\n",
])
def test_load_yaml_equals_safe_load(text):
    assert service_tree.load_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text, expected", [
    ("k: 2014-11-26\nl: 1_000\nm: 1:30\n", {"k": "2014-11-26", "l": "1_000", "m": "1:30"}),
    ("vars: {enabled: yes}\n", "<tree>:1:17: vars.enabled: yes: YAML 1.1 reads this as the boolean true, YAML 1.2 "
                                "as the text yes; quote it (\"yes\") for the text, or write true"),
    ("machines:\n  1.10: {tags: [a.b]}\n", "<tree>:2:3: machines.1.10: 1.10: YAML reads this as the number 1.1; "
                                           "quote it (\"1.10\") to keep the text, or write 1.1"),
    ("vars: {port: 022}\n", "<tree>:1:14: vars.port: 022: YAML 1.1 reads this as the octal number 18, YAML 1.2 as "
                             "22; quote it (\"022\") to keep the text, or write 22 or 0o22"),
], ids=["yaml-1.2-text", "yes", "number-name", "octal-looking"])
def test_load_yaml_reads_yaml_1_2_and_refuses_ambiguous_values(text, expected):
    if isinstance(expected, dict):
        assert service_tree.load_yaml(text) == expected
    else:
        with pytest.raises(yaml_file.AmbiguousYamlError) as e:
            service_tree.load_yaml(text)
        assert str(e.value) == expected


def test_load_yaml_rejects_a_machine_listed_twice():
    with pytest.raises(yaml_file.YamlFileError, match="found duplicate key 'a1'"):
        service_tree.load_yaml("machines:\n  a1: {tags: [idc.lg]}\n  a1: {tags: [idc.sd]}\n")


# -- a machine listed twice is refused by every source, in the same words ----------------------------------------

DUPLICATE_YAML = "machines:\n  a1: {tags: [idc.lg]}\n  a1: {tags: [idc.sd]}\n"
DUPLICATE_MERGE_YAML = "machines:\n  a1: {tags: [idc.lg], vars: {<<: {x: 1}}}\n  a1: {tags: [idc.sd]}\n"
# A machine repeated through a merge key (<<) is a duplicate too, not an override that drops one of them.
DUPLICATE_THROUGH_MERGE_YAML = ("machines:\n  a1: {tags: [idc.lg]}\n"
                                "  <<: {a1: {tags: [idc.sd]}, a9: {tags: [idc.sd]}}\n")
DUPLICATE_JSON = '{"machines": {\n  "a1": {"tags": ["idc.lg"]},\n  "a1": {"tags": ["idc.sd"]}\n}}\n'
DUPLICATE_NESTED_JSON = '{"machines": {\n  "a1": {"tags": ["idc.lg"],\n    "vars": {"x": 1, "x": 2}}\n}}\n'


@pytest.mark.parametrize("kind, text, expected", [
    ("tree.yml", DUPLICATE_YAML, "{src}:3:3: invalid YAML: found duplicate key 'a1' (first at line 2)"),
    ("tree.yml", DUPLICATE_MERGE_YAML, "{src}:3:3: invalid YAML: found duplicate key 'a1' (first at line 2)"),
    ("tree.yml", DUPLICATE_THROUGH_MERGE_YAML,
     "{src}:3:8: invalid YAML: found duplicate key 'a1' (first at line 2)"),
    ("tree.json", DUPLICATE_JSON, "{src}:3:3: invalid JSON: found duplicate key 'a1' (first at line 2)"),
    ("tree.json", DUPLICATE_NESTED_JSON, "{src}:3:22: invalid JSON: found duplicate key 'x' (first at line 3)"),
    ("http", DUPLICATE_JSON, "{src}:3:3: invalid JSON: found duplicate key 'a1' (first at line 2)"),
    ("http", DUPLICATE_NESTED_JSON, "{src}:3:22: invalid JSON: found duplicate key 'x' (first at line 3)"),
], ids=["yaml", "yaml-merge-key", "yaml-through-merge-key", "json-file", "json-file-vars", "http", "http-vars"])
def test_every_source_refuses_a_key_listed_twice(tmp_path, monkeypatch, kind, text, expected):
    if kind == "http":
        src = "https://tree.example.com/api/tree"
        monkeypatch.setattr(service_tree, "open_url", Recorder(text.encode()))
    else:
        (tmp_path / kind).write_text(text)
        src = str(tmp_path / kind)
    with pytest.raises(AnsibleParserError) as info:
        run_plugin(tmp_path, {"source": src})
    assert str(info.value) == expected.format(src=src)


# -- names Ansible would read differently are refused before any host is touched ---------------------------------

@pytest.mark.parametrize("text, expected", [
    ("machines:\n  m1: {tags: [cluster.prod-eu]}\n  m2: {tags: [cluster.prod.eu]}\n",
     ['machine m2: tag "cluster.prod.eu": group cluster_prod_eu of "cluster.prod.eu" is also the group of '
      '"cluster.prod-eu" (tag "cluster.prod-eu" of machine m1)']),
    ("machines:\n  m1: {tags: [cop.a_owt.b-c]}\n  m2: {tags: [cop.a_owt.b.c]}\n",
     ['machine m2: tag "cop.a_owt.b.c": group owt_b_c of "owt.b.c" is also the group of "owt.b-c"']),
    ("machines:\n  m1: {tags: [cluster.prod-eu]}\nnodes:\n  cluster.prod.eu: {vars: {db: eu2}}\n",
     ['node cluster.prod.eu: group cluster_prod_eu of "cluster.prod.eu" is also the group of "cluster.prod-eu"']),
    ("machines:\n  'host01:2222': {tags: [idc.lg], vars: {role: db}}\n",
     ['machine host01:2222: name "host01:2222": Ansible would read it as host "host01", port 2222']),
    ("machines:\n  localhost: {tags: [idc.lg]}\n  'web[1:2]': {tags: [idc.lg]}\n",
     ['machine localhost: name "localhost": Ansible treats it as the controller',
      'machine web[1:2]: name "web[1:2]": Ansible would read "[..]" as a range']),
], ids=["pair-groups", "tree-path-groups", "node-vars", "host-port", "two-names"])
def test_names_ansible_reads_differently_are_refused(tmp_path, text, expected):
    with pytest.raises(AnsibleParserError) as info:
        run_plugin(tmp_path, {}, text)
    lines = str(info.value).splitlines()
    assert len(lines) == len(expected)
    for line, part in zip(lines, expected):
        assert line.startswith(str(tmp_path / "tree.yml") + ": ") and part in line
