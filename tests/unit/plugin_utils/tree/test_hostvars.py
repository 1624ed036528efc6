"""The tag index of inventory hostvars: one policy for odin_prepare, the naming lookup and the tag_query filter."""

import pytest
import yaml

from ansible.errors import AnsibleError
from ansible_collections.noops.platform.plugins.filter.tag_query import tag_query
from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import (
    InventoryHost, parse_cluster, select_hosts,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.hostvars import (
    HostTagsError, host_tags, inventory_tags, parse_tags, tag_index,
)

GOOD = "cop.xiaomi_service.dch_job.dch_status.service"

HOST_TAGS = [
    # (noops_tags value, tags, problems)
    (None, [], []),
    ([], [], []),
    ((), [], []),
    ([GOOD], [GOOD], []),
    (GOOD, [GOOD], []),                                           # one tag as a string
    ([GOOD, "service.x"], [GOOD, "service.x"], []),
    (["cop.x__owt.y"], [], ['host web1: noops_tags: "cop.x__owt.y": empty pair at char 6']),
    (["Cop.x"], [], ['host web1: noops_tags: "Cop.x": bad key "Cop" (want [a-z][a-z0-9]*) at char 0']),
    ("service", [], ['host web1: noops_tags: "service": pair "service" has no "." at char 0']),
    ([GOOD, "", 7], [GOOD], ['host web1: noops_tags: "": empty tag', "host web1: noops_tags: 7: not a tag (a string)"]),
    ({"service": "x"}, [], ["host web1: noops_tags: {'service': 'x'}: not a list of tags"]),
    (42, [], ["host web1: noops_tags: 42: not a list of tags"]),
    (True, [], ["host web1: noops_tags: True: not a list of tags"]),
]


@pytest.mark.parametrize("value, tags, problems", HOST_TAGS)
def test_host_tags(value, tags, problems):
    found, found_problems = host_tags("web1", value)
    assert ([tag.text for tag in found], found_problems) == (tags, problems)


def test_every_bad_host_at_once_in_order():
    tags, problems = parse_tags([("a", ["service.x"]), ("b", "bad"), ("c", None), ("d", ["x..y"])])
    assert list(tags) == ["a", "b", "c", "d"]
    assert problems == ['host b: noops_tags: "bad": pair "bad" has no "." at char 0',
                        'host d: noops_tags: "x..y": bad value ".y" for key "x" '
                        '(want [A-Za-z0-9] then [A-Za-z0-9.-]*) at char 2']


def test_inventory_tags_reads_hostvars_and_raises_every_problem():
    hostvars = {"a": {"noops_tags": ["service.x"]}, "b": {"noops_tags": 3}, "c": {}, "d": {"noops_tags": ["y"]}}
    assert list(inventory_tags(["a", "c"], hostvars)) == ["a", "c"]
    with pytest.raises(HostTagsError) as err:
        inventory_tags(["a", "b", "c", "d"], hostvars)
    assert err.value.problems == ["host b: noops_tags: 3: not a list of tags",
                                  'host d: noops_tags: "y": pair "y" has no "." at char 0']
    assert str(err.value) == "\n".join(err.value.problems)


def test_tag_index_keeps_the_order():
    index = tag_index(inventory_tags(["b", "a", "c"], {"a": {"noops_tags": ["service.x"]},
                                                       "b": {"noops_tags": ["service.x_idc.lg"]}, "c": {}}))
    assert index.select("service.x") == ["b", "a"]


# --------------------------------------------------------------------------- the three callers, one policy

BAD_HOSTVARS = [
    # (hostvars of host "bad", the problem line every caller reports)
    ({"noops_tags": ["service.dch", "cop.x__y"]}, 'host bad: noops_tags: "cop.x__y": empty pair at char 6'),
    ({"noops_tags": {"service": "dch"}}, "host bad: noops_tags: {'service': 'dch'}: not a list of tags"),
    ({"noops_tags": [["service.dch"]]}, "host bad: noops_tags: ['service.dch']: not a tag (a string)"),
]
HOSTVARS = {"ok": {"noops_tags": ["service.dch_status.service"], "ansible_host": "10.0.0.1"}}


@pytest.mark.parametrize("bad, line", BAD_HOSTVARS)
def test_tag_query_filter_refuses_a_bad_tag(bad, line):
    with pytest.raises(AnsibleError) as err:
        tag_query(["ok", "bad"], dict(HOSTVARS, bad=bad), "service.dch")
    assert str(err.value) == "tag_query: " + line


@pytest.fixture(scope="module")
def naming():
    from ansible import constants as C
    from ansible_collections.noops.platform.plugins.lookup import naming as module

    name = "noops.platform.naming"
    C.config.initialize_plugin_configuration_definitions("lookup", name, yaml.safe_load(module.DOCUMENTATION)["options"])
    plugin = module.LookupModule()
    plugin._load_name = name
    return plugin


@pytest.mark.parametrize("bad, line", BAD_HOSTVARS)
def test_naming_lookup_refuses_a_bad_tag(naming, bad, line):
    with pytest.raises(AnsibleError) as err:
        naming.run(["service.dch"], variables={"hostvars": dict(HOSTVARS, bad=bad), "inventory_hostname": "ok"})
    assert str(err.value) == line


@pytest.mark.parametrize("bad, line", BAD_HOSTVARS)
def test_odin_prepare_reports_a_bad_tag(bad, line):
    doc = {"cluster": {"name": "dch", "version": "1", "env": "production", "jobs": ["service.dch"]},
           "dch": {"user": "work", "path": "/home/work/dch", "pkg_url": "https://pkgs.example.com/dch-1.tar.gz"}}
    cluster = parse_cluster(doc, "cluster.yml", "/srv", {})[0]
    inventory = [InventoryHost("ok", "10.0.0.1", HOSTVARS["ok"]["noops_tags"]),
                 InventoryHost("bad", None, bad["noops_tags"])]
    assert select_hosts(cluster, inventory) == ([], "service.dch,&status.service", [line])
