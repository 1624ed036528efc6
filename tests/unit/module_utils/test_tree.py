import pytest
import yaml

from ansible_collections.noops.platform.plugins.module_utils.tree import TreeError, load_tree

GOOD = """
machines:
  a1:
    address: 10.0.0.1
    tags:
      - service.dch_cop.xiaomi_owt.miliao_pdl.account_cluster.production-lg_idc.lg
      - cop.xiaomi_owt.miliao_pdl.account_service.zk_cluster.production-lg_idc.lg
    vars: {port: 80}
  b1:
    tags: [cop.xiaomi_owt.miliao_pdl.account_service.dch_cluster.production-sd_idc.sd_status.offline]
nodes:
  cop.xiaomi_owt.miliao_pdl.account_service.dch: {vars: {noops_path: /home/work/dch}}
  idc.lg: {vars: {dns: 10.0.0.53}}
  owt.miliao_cop.xiaomi: {vars: {team: miliao}}
"""


def test_layout_groups_links_and_vars():
    tree = load_tree(yaml.safe_load(GOOD), "t.yml")
    layout = tree.layout()
    dch_lg = "cop_xiaomi_owt_miliao_pdl_account_service_dch_cluster_production_lg"
    assert layout.groups[:5] == [
        "cop_xiaomi", "cop_xiaomi_owt_miliao", "cop_xiaomi_owt_miliao_pdl_account",
        "cop_xiaomi_owt_miliao_pdl_account_service_dch", dch_lg]
    assert ("cop_xiaomi_owt_miliao_pdl_account_service_dch", dch_lg) in layout.children
    assert ("cop_xiaomi_owt_miliao_pdl_account", "cop_xiaomi_owt_miliao_pdl_account_service_zk") in layout.children
    assert layout.group_hosts["cluster_production_lg"] == ["a1"]
    assert layout.group_hosts["service_dch"] == ["a1", "b1"]
    assert layout.group_hosts["status_offline"] == ["b1"]
    assert layout.group_hosts[dch_lg] == ["a1"]
    assert layout.host_vars["a1"] == {
        "noops_tags": ["service.dch_cop.xiaomi_owt.miliao_pdl.account_cluster.production-lg_idc.lg",
                       "cop.xiaomi_owt.miliao_pdl.account_service.zk_cluster.production-lg_idc.lg"],
        "noops_tag": {"cop": "xiaomi", "owt": "miliao", "pdl": "account", "service": "dch",
                      "cluster": "production-lg", "idc": "lg"},
        "ansible_host": "10.0.0.1", "port": 80}
    assert "ansible_host" not in layout.host_vars["b1"]
    assert layout.group_vars == {
        "cop_xiaomi_owt_miliao_pdl_account_service_dch": {"noops_path": "/home/work/dch"},
        "idc_lg": {"dns": "10.0.0.53"},
        "cop_xiaomi_owt_miliao": {"team": "miliao"},
    }
    # every tree-path group's parent exists and comes before it
    order = {g: i for i, g in enumerate(layout.groups)}
    assert all(order[p] < order[c] for p, c in layout.children)


def test_layout_with_query_keeps_matching_machines_only():
    tree = load_tree(yaml.safe_load(GOOD), "t.yml")
    layout = tree.layout("!status.offline")
    assert list(layout.host_vars) == ["a1"]
    assert "status_offline" not in layout.group_hosts


BAD = [
    (None, "t.yml: empty document (want a mapping with 'machines:')"),
    ([1], "t.yml: top level is list, want a mapping with 'machines:'"),
    ({"machines": {}}, "t.yml: field 'machines' must be a non-empty mapping of machine name -> entry, got {}"),
    ({"machines": {"a": {"tags": []}}}, "t.yml: machine a: field 'tags' must be a non-empty list of tags, got []"),
    ({"machines": {"a": None}}, "t.yml: machine a: field 'tags' must be a non-empty list of tags, got None"),
    ({"machines": {"a": {"tags": ["cop.x__y.z"]}}}, 't.yml: machine a: tag "cop.x__y.z": empty pair at char 6'),
    ({"machines": {"a": {"tags": ["cop.x", "cop.y_cop.z"]}}},
     't.yml: machine a: tag "cop.y_cop.z": key "cop" appears twice at char 6'),
    ({"machines": {"a": {"tags": [7]}}}, 't.yml: machine a: tag "7": not a string (int)'),
    ({"machines": {"a": {"tags": ["cop.x"], "adress": "1.2.3.4"}}},
     "t.yml: machine a: unknown field 'adress' (want address, tags, vars)"),
    ({"machines": {"a": {"tags": ["cop.x"], "vars": [1]}}}, "t.yml: machine a: field 'vars' must be a mapping, got [1]"),
    ({"machines": {"a": {"tags": ["cop.x"], "address": 5}}},
     "t.yml: machine a: field 'address' must be a host name or IP string, got 5"),
    ({"machines": {"a": {"tags": ["cop.x"]}}, "hosts": {}}, "t.yml: unknown top-level field 'hosts' (want machines, nodes)"),
    ({"machines": {"a": {"tags": ["cop.x"]}}, "nodes": {"service.x_cluster.y": {}}},
     "t.yml: node service.x_cluster.y: a node is a single pair or a prefix of cop > owt > pdl > service > cluster, "
     "got keys service, cluster"),
    ({"machines": {"a": {"tags": ["cop.x"]}}, "nodes": {"cop.x": {"vars": "no"}}},
     "t.yml: node cop.x: field 'vars' must be a mapping, got 'no'"),
    ({"machines": {"a": {"tags": ["cop.x"]}}, "nodes": {"cop.": {}}},
     't.yml: node cop.: "cop.": empty value for key "cop" at char 4'),
]


@pytest.mark.parametrize("doc,message", BAD)
def test_bad_documents(doc, message):
    with pytest.raises(TreeError) as info:
        load_tree(doc, "t.yml")
    assert str(info.value) == message


def test_example_tree_is_valid():
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "tree.yml")
    with open(path) as f:
        tree = load_tree(yaml.safe_load(f), "examples/tree.yml")
    assert len(tree) >= 30
    assert set(tree.index.values("idc")) >= {"lg", "sd", "hh"}
    assert tree.index.count("status.offline") >= 2
    assert any(len(m.tags) > 1 for m in tree.machines)
