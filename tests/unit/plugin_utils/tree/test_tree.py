import pytest
import yaml

from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import TreeError, load_tree

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
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "examples", "tree.yml")
    with open(path) as f:
        tree = load_tree(yaml.safe_load(f), "examples/tree.yml")
    assert len(tree) >= 30
    assert set(tree.index.values("idc")) >= {"lg", "sd", "hh"}
    assert tree.index.count("status.offline") >= 2
    assert any(len(m.tags) > 1 for m in tree.machines)


# -- names Ansible would read differently ------------------------------------------------------------------------

def _doc(machines, nodes=None):
    doc = {"machines": {name: {"tags": tags} for name, tags in machines}}
    if nodes:
        doc["nodes"] = nodes
    return doc


@pytest.mark.parametrize("machines, nodes, message", [
    # two values that differ only in "." / "-": one pair group
    ([("m1", ["cluster.prod-eu"]), ("m2", ["cluster.prod.eu"])], None,
     't.yml: machine m2: tag "cluster.prod.eu": group cluster_prod_eu of "cluster.prod.eu" is also the group of '
     '"cluster.prod-eu" (tag "cluster.prod-eu" of machine m1): Ansible group names turn "." and "-" into "_"'),
    # the same inside longer tags, different machines
    ([("m1", ["cop.x_cluster.prod-eu_idc.lg"]), ("m2", ["cop.y_cluster.prod.eu_idc.sd"])], None,
     't.yml: machine m2: tag "cop.y_cluster.prod.eu_idc.sd": group cluster_prod_eu of "cluster.prod.eu" is also '
     'the group of "cluster.prod-eu" (tag "cop.x_cluster.prod-eu_idc.lg" of machine m1): Ansible group names turn '
     '"." and "-" into "_"'),
    # nested tree-path groups: cop.a_owt.b-c and cop.a_owt.b.c
    ([("m1", ["cop.a_owt.b-c"]), ("m2", ["cop.a_owt.b.c"])], None,
     't.yml: machine m2: tag "cop.a_owt.b.c": group owt_b_c of "owt.b.c" is also the group of "owt.b-c" '
     '(tag "cop.a_owt.b-c" of machine m1): Ansible group names turn "." and "-" into "_"'),
    # a pair group against a tree-path group: cop.a-owt-b is pair group cop_a_owt_b, the path group of cop.a_owt.b
    ([("m1", ["cop.a_owt.b"]), ("m2", ["cop.a-owt-b"])], None,
     't.yml: machine m2: tag "cop.a-owt-b": group cop_a_owt_b of "cop.a-owt-b" is also the group of '
     '"cop.a_owt.b" (tag "cop.a_owt.b" of machine m1): Ansible group names turn "." and "-" into "_"'),
    # one machine, two tags
    ([("m1", ["service.a-b", "service.a.b"])], None,
     't.yml: machine m1: tag "service.a.b": group service_a_b of "service.a.b" is also the group of "service.a-b" '
     '(tag "service.a-b" of machine m1): Ansible group names turn "." and "-" into "_"'),
    # a node whose group is another tag's group: its vars would reach those machines
    ([("m1", ["cluster.prod-eu"])], {"cluster.prod.eu": {"vars": {"x": 1}}},
     't.yml: node cluster.prod.eu: group cluster_prod_eu of "cluster.prod.eu" is also the group of '
     '"cluster.prod-eu" (tag "cluster.prod-eu" of machine m1): Ansible group names turn "." and "-" into "_"'),
    ([("m1", ["cop.a_owt.b-c"])], {"cop.a_owt.b.c": {"vars": {"x": 1}}},
     't.yml: node cop.a_owt.b.c: group cop_a_owt_b_c of "cop.a_owt.b.c" is also the group of "cop.a_owt.b-c" '
     '(tag "cop.a_owt.b-c" of machine m1): Ansible group names turn "." and "-" into "_"'),
])
def test_colliding_group_names_are_refused_naming_both_tags(machines, nodes, message):
    with pytest.raises(TreeError) as info:
        load_tree(_doc(machines, nodes), "t.yml")
    assert str(info.value) == message


@pytest.mark.parametrize("machines, nodes", [
    ([("m1", ["cluster.prod-eu"]), ("m2", ["cluster.prod-eu_idc.lg"])], None),   # the same value again
    ([("m1", ["cop.a_owt.b"]), ("m2", ["owt.b_cop.a"])], {"cop.a": {}, "owt.b_cop.a": {}}),  # order is no matter
    ([("m1", ["cop.a"]), ("m2", ["cop.a_owt.b"])], {"cop.a": {"vars": {"x": 1}}}),  # pair group = root path group
    ([("m1", ["cluster.prod-eu"]), ("m2", ["idc.prod-eu"])], None),   # other key, other group
])
def test_same_group_from_the_same_text_is_fine(machines, nodes):
    load_tree(_doc(machines, nodes), "t.yml")


R = "Ansible would read"
BAD_NAMES = [
    ("host01:2222", "t.yml: machine host01:2222: name \"host01:2222\": %s it as host \"host01\", port 2222 "
                    "(give the port as vars: {ansible_port: 2222})" % R),
    ("fe80::1", "t.yml: machine fe80::1: name \"fe80::1\": %s \":\" as a port or pattern separator (an IPv6 "
                "address goes in 'address')" % R),
    ("web1,web2", 't.yml: machine web1,web2: name "web1,web2": %s "," as a list of host patterns' % R),
    ("web[1:3]", 't.yml: machine web[1:3]: name "web[1:3]": %s "[..]" as a range or subscript of hosts' % R),
    ("web 1", 't.yml: machine web 1: name "web 1": %s a space as a list of host patterns' % R),
    ("!web1", 't.yml: machine !web1: name "!web1": %s a leading "!" as a host pattern operator' % R),
    ("&web1", 't.yml: machine &web1: name "&web1": %s a leading "&" as a host pattern operator' % R),
    ("~web1", 't.yml: machine ~web1: name "~web1": %s a leading "~" as a host pattern operator' % R),
    ("@web1", 't.yml: machine @web1: name "@web1": %s a leading "@" as a host pattern operator' % R),
    ("web*", 't.yml: machine web*: name "web*": %s "*" as a wildcard of a host pattern' % R),
    ("all", 't.yml: machine all: name "all": Ansible would target its group "all" (every host), not this machine'),
    ("ungrouped", 't.yml: machine ungrouped: name "ungrouped": Ansible would target its group "ungrouped", not this '
                  'machine'),
    ("localhost", 't.yml: machine localhost: name "localhost": Ansible treats it as the controller (implicit '
                  'localhost); name the machine by its host name and give the address'),
    ("127.0.0.1", 't.yml: machine 127.0.0.1: name "127.0.0.1": Ansible treats it as the controller (implicit '
                  'localhost); name the machine by its host name and give the address'),
    ("idc_lg", 't.yml: machine idc_lg: name "idc_lg": Ansible would target the group idc_lg of this tree, not this '
               'machine'),
    ("wéb1", 't.yml: machine wéb1: name "wéb1": want letters, digits, ".", "-" and "_" (a host name or IP address)'),
    ("web/1", 't.yml: machine web/1: name "web/1": want letters, digits, ".", "-" and "_" (a host name or IP '
              'address)'),
]


@pytest.mark.parametrize("name, message", BAD_NAMES, ids=[n for n, _ in BAD_NAMES])
def test_machine_names_ansible_would_parse_again_are_refused(name, message):
    with pytest.raises(TreeError) as info:
        load_tree(_doc([("ok-1.bj", ["idc.lg"]), (name, ["idc.lg"])]), "t.yml")
    assert str(info.value) == message


@pytest.mark.parametrize("name", ["lg-web01.bj", "10.0.0.1", "host_01", "WEB-1", "a", "0day", "localhost2"])
def test_plain_machine_names_are_fine(name):
    assert load_tree(_doc([(name, ["idc.lg"])]), "t.yml").get(name)


def test_every_name_problem_at_once():
    doc = _doc([("a:22", ["cluster.x-y"]), ("b,c", ["cluster.x.y"]), ("ok", ["idc.lg"]), ("all", ["idc.lg"])])
    with pytest.raises(TreeError) as info:
        load_tree(doc, "t.yml")
    lines = str(info.value).splitlines()
    assert [line.split(":")[0] + ":" + line.split(": ")[1] for line in lines] == [
        "t.yml:machine a:22", "t.yml:machine b,c", "t.yml:machine all", "t.yml:machine b,c"]
