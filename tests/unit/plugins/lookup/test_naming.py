"""Naming: ordering (same idc, then same loc, then the rest), endpoints, and the lookup plugin around them."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.tree.naming import (
    ELSEWHERE, NOWHERE, SAME_IDC, SAME_LOC, NamedHost, Place, candidate_hosts, endpoint, order_by_proximity,
    proximity, resolve,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError

ZK = "cop.xiaomi_service.zk_cluster.production-%s_loc.%s_idc.%s"


def host(name, *tags, address=None):
    return NamedHost(name, address, tuple(Tag.parse(t) for t in tags))


# Inventory order is deliberately not nearest-first, so a test passes only if the ordering really happens.
FLEET = [
    host("hh-zk01", ZK % ("hh", "bj", "hh"), address="10.3.0.1"),
    host("sh-zk01", ZK % ("sh", "sh", "sh1"), address="10.9.0.1"),
    host("sd-zk01", ZK % ("sd", "bj", "sd"), address="10.2.0.1"),
    host("lg-zk01", ZK % ("lg", "bj", "lg"), address="10.1.0.1"),
    host("lg-zk02", ZK % ("lg", "bj", "lg"), address="10.1.0.2"),
    host("sh-zk02", ZK % ("sh", "sh", "sh2")),                          # no address: the name is the endpoint
    host("lg-web01", "cop.xiaomi_service.web_loc.bj_idc.lg", address="10.1.9.1"),
    # one box in two rooms' clusters: the closest of its tags decides
    host("mix", ZK % ("hh", "bj", "hh"), "cop.xiaomi_service.cache_loc.bj_idc.lg", address="10.4.0.1"),
]

PROXIMITY = [
    # (machine tags, place idcs, place locs, expected)
    (["idc.lg_loc.bj"], {"lg"}, {"bj"}, SAME_IDC),
    (["idc.sd_loc.bj"], {"lg"}, {"bj"}, SAME_LOC),
    (["idc.sh1_loc.sh"], {"lg"}, {"bj"}, ELSEWHERE),
    (["service.x"], {"lg"}, {"bj"}, ELSEWHERE),                    # untagged location is "elsewhere"
    (["idc.sd_loc.bj", "idc.lg_loc.bj"], {"lg"}, {"bj"}, SAME_IDC),  # best of several tags
    (["idc.sh1_loc.sh", "idc.sd_loc.bj"], {"lg"}, {"bj"}, SAME_LOC),
    (["idc.lg"], {"lg", "sd"}, set(), SAME_IDC),                   # caller in two rooms
    (["loc.bj"], set(), set(), ELSEWHERE),
]


@pytest.mark.parametrize("tags, idcs, locs, expected", PROXIMITY)
def test_proximity(tags, idcs, locs, expected):
    assert proximity([Tag.parse(t) for t in tags], Place(frozenset(idcs), frozenset(locs))) == expected


RESOLVE = [
    # (query, near tags, port, expected endpoints)
    ("service.zk", [ZK % ("lg", "bj", "lg")], 2181,
     ["10.1.0.1:2181", "10.1.0.2:2181", "10.4.0.1:2181", "10.3.0.1:2181", "10.2.0.1:2181",
      "10.9.0.1:2181", "sh-zk02:2181"]),
    ("service.zk", [ZK % ("sd", "bj", "sd")], 2181,
     ["10.2.0.1:2181", "10.3.0.1:2181", "10.1.0.1:2181", "10.1.0.2:2181", "10.4.0.1:2181",
      "10.9.0.1:2181", "sh-zk02:2181"]),
    # a caller in sh1: its own room, then the region sh, then Beijing in inventory order
    ("service.zk", [ZK % ("sh", "sh", "sh1")], None,
     ["10.9.0.1", "sh-zk02", "10.3.0.1", "10.2.0.1", "10.1.0.1", "10.1.0.2", "10.4.0.1"]),
    # no place: plain inventory order
    ("service.zk", [], None, ["10.3.0.1", "10.9.0.1", "10.2.0.1", "10.1.0.1", "10.1.0.2", "sh-zk02", "10.4.0.1"]),
    # "mix" is in lg through its cache tag, so it ranks with lg for a lg caller
    ("service.zk_cluster.production-hh", ["idc.lg_loc.bj"], 2181, ["10.4.0.1:2181", "10.3.0.1:2181"]),
    ("service.zk,!idc.lg,!idc.hh", ["idc.sd_loc.bj"], 1, ["10.2.0.1:1", "10.9.0.1:1", "sh-zk02:1"]),
    ("service.zk,&loc.sh", ["idc.sh2"], 9, ["sh-zk02:9", "10.9.0.1:9"]),
    ("cluster.production-?[dh]", ["idc.lg"], None, ["10.4.0.1", "10.3.0.1", "10.9.0.1", "10.2.0.1", "sh-zk02"]),
    ("service.web,service.zk_idc.lg", ["idc.sd_loc.bj"], 80, ["10.1.0.1:80", "10.1.0.2:80", "10.1.9.1:80"]),
    ("service.nothing", ["idc.lg"], 80, []),
]


@pytest.mark.parametrize("query, near, port, expected", RESOLVE)
def test_resolve(query, near, port, expected):
    assert resolve(FLEET, query, Place.of(Tag.parse(t) for t in near), port) == expected


@pytest.mark.parametrize("address, port, expected", [
    ("10.0.0.1", 2181, "10.0.0.1:2181"),
    ("10.0.0.1", None, "10.0.0.1"),
    (None, 22, "box.example:22"),
    ("zk1.example.org", 2181, "zk1.example.org:2181"),
    ("fd00::1", 2181, "[fd00::1]:2181"),
    ("[fd00::1]", 2181, "[fd00::1]:2181"),
    ("fd00::1", None, "fd00::1"),
])
def test_endpoint(address, port, expected):
    assert endpoint(NamedHost("box.example", address, ()), port) == expected


def test_order_keeps_ties_and_is_identity_without_place():
    ordered = order_by_proximity(FLEET, NOWHERE)
    assert ordered == FLEET and ordered is not FLEET


@pytest.mark.parametrize("query", ["", "service.zk__x", "service", "!", "service.zk,,idc.lg", "Service.zk"])
def test_resolve_bad_query(query):
    with pytest.raises(TagError):
        resolve(FLEET, query)


GROUPS = {
    "service_zk": ["z1", "z2", "z3"],
    "idc_lg": ["z1", "w1"],
    "cluster_production_lg": ["z1"],          # "production-lg" and "production.lg" share the mangled name
    "service_web": ["w1"],
}

CANDIDATES = [
    ("service.zk", {"z1", "z2", "z3"}),
    ("service.zk_idc.lg", {"z1"}),                                  # intersection of the pair groups
    ("service.zk_cluster.production-lg", {"z1"}),
    ("service.zk_idc.sd", {"z1", "z2", "z3"}),                        # a pair without a group does not narrow ...
    ("idc.sd", None),                                                 # ... unless no pair of the term has a group
    ("service.zk,service.web", {"z1", "z2", "z3", "w1"}),
    ("service.zk,!idc.lg", {"z1", "z2", "z3"}),                       # "!" and "&" only shrink the answer later
    ("service.zk,&idc.lg", {"z1", "z2", "z3"}),
    ("!idc.lg", None),                                                # no plain term: every host
    ("service.z*", None),                                             # globs: every host
    ("service.z*_idc.lg", {"z1", "w1"}),                              # the exact pair still narrows
    ("service.zk,service.w*", None),                                  # one unnarrowed term opens it all
]


@pytest.mark.parametrize("query, expected", CANDIDATES)
def test_candidate_hosts(query, expected):
    assert candidate_hosts(query, GROUPS) == expected


# --- the lookup plugin, through Ansible's plugin loader, with plain dicts standing in for hostvars ----------------

@pytest.fixture(scope="module")
def naming():
    """The plugin with its DOCUMENTATION registered as option schema, as Ansible's plugin loader does."""
    import yaml
    from ansible import constants as C
    from ansible_collections.noops.platform.plugins.lookup import naming as module

    name = "noops.platform.naming"
    C.config.initialize_plugin_configuration_definitions("lookup", name, yaml.safe_load(module.DOCUMENTATION)["options"])
    plugin = module.LookupModule()
    plugin._load_name = name
    return plugin


HOSTVARS = {
    "hh-zk01.bj": {"noops_tags": [ZK % ("hh", "bj", "hh")], "ansible_host": "10.3.0.1"},
    "lg-zk01.bj": {"noops_tags": [ZK % ("lg", "bj", "lg")], "ansible_host": "10.1.0.1"},
    "sd-zk01.bj": {"noops_tags": ZK % ("sd", "bj", "sd")},       # a single string is accepted, no address
    "lg-web01.bj": {"noops_tags": ["cop.xiaomi_service.web_loc.bj_idc.lg"], "ansible_host": "10.1.9.1"},
    "plain": {"ansible_host": "10.0.0.9"},                     # no noops_tags: ignored, may still be ``near``
}

LOOKUPS = [
    # (terms, options, inventory_hostname, expected)
    (["service.zk"], {"port": 2181}, "lg-web01.bj", ["10.1.0.1:2181", "10.3.0.1:2181", "sd-zk01.bj:2181"]),
    (["service.zk"], {"port": 2181}, "sd-zk01.bj", ["sd-zk01.bj:2181", "10.3.0.1:2181", "10.1.0.1:2181"]),
    (["service.zk"], {"port": 2181, "near": "lg-web01.bj"}, "hh-zk01.bj",
     ["10.1.0.1:2181", "10.3.0.1:2181", "sd-zk01.bj:2181"]),
    (["service.zk"], {}, "localhost", ["10.3.0.1", "10.1.0.1", "sd-zk01.bj"]),   # untagged caller: inventory order
    (["service.zk"], {}, "plain", ["10.3.0.1", "10.1.0.1", "sd-zk01.bj"]),
    (["service.zk_idc.lg", "service.web"], {"port": 80}, "hh-zk01.bj", ["10.1.0.1:80", "10.1.9.1:80"]),
    (["service.*", "!idc.lg"], {}, "sd-zk01.bj", ["sd-zk01.bj", "10.3.0.1"]),
    (["service.nothing"], {"allow_empty": True}, "lg-zk01.bj", []),
    (["service.nothing"], {"allow_empty": "yes"}, "lg-zk01.bj", []),          # bool option is typed
    (["service.zk"], {"port": "2181"}, "lg-zk01.bj", ["10.1.0.1:2181", "10.3.0.1:2181", "sd-zk01.bj:2181"]),
]


@pytest.mark.parametrize("terms, options, me, expected", LOOKUPS)
def test_lookup(naming, terms, options, me, expected):
    variables = {"hostvars": HOSTVARS, "inventory_hostname": me}
    assert naming.run(terms, variables=variables, **options) == expected


LOOKUP_ERRORS = [
    (["service.nothing"], {}, HOSTVARS, "no host of the inventory matches 'service.nothing'"),
    (["service.zk__x"], {}, HOSTVARS, 'bad query: "service.zk__x": empty pair at char 11'),
    (["service.zk", "idc"], {}, HOSTVARS, 'bad query: "service.zk,idc": pair "idc" has no "."'),
    ([], {}, HOSTVARS, "give at least one tag query"),
    (["service.zk"], {"near": "nowhere.bj"}, HOSTVARS, "near='nowhere.bj' is not a host of the inventory"),
    (["service.zk"], {"near": "plain"}, HOSTVARS, "near='plain' has no noops_tags"),
    (["service.zk"], {"port": 70000}, HOSTVARS, "port 70000 is outside 1..65535"),
    (["service.zk"], {"port": "http"}, HOSTVARS, "port"),
    (["service.zk"], {}, {"bad": {"noops_tags": ["service.zk", "cop..x"]}}, "host bad: noops_tags:"),
    (["service.zk"], {}, {"bad": {"noops_tags": {"service": "zk"}}}, "host bad: noops_tags: {'service': 'zk'}: not a list of tags"),
]


@pytest.mark.parametrize("terms, options, hostvars, message", LOOKUP_ERRORS)
def test_lookup_errors(naming, terms, options, hostvars, message):
    from ansible.errors import AnsibleError
    with pytest.raises(AnsibleError) as err:
        naming.run(terms, variables={"hostvars": hostvars, "inventory_hostname": "lg-zk01.bj"}, **options)
    assert message in str(err.value)


def test_lookup_reads_only_the_pair_groups(naming):
    # The inventory's service_zk group leaves lg-zk01.bj out on purpose: with use_groups the lookup trusts the
    # group (and so misses it), without it every host is read. The caller is always read for its place.
    variables = {"hostvars": HOSTVARS, "inventory_hostname": "lg-web01.bj",
                 "groups": {"service_zk": ["hh-zk01.bj", "sd-zk01.bj"], "all": list(HOSTVARS)}}
    assert naming.run(["service.zk"], variables=variables) == ["10.3.0.1", "sd-zk01.bj"]
    assert naming.run(["service.zk"], variables=variables, use_groups=False) == ["10.1.0.1", "10.3.0.1", "sd-zk01.bj"]


class CountingHostvars(dict):
    """hostvars that count which hosts had their variables read."""

    def __init__(self, data):
        super().__init__(data)
        self.read = []

    def __getitem__(self, name):
        self.read.append(name)
        return super().__getitem__(name)


def test_lookup_reads_candidates_and_caller_only(naming):
    hostvars = CountingHostvars(HOSTVARS)
    groups = {"service_zk": ["hh-zk01.bj", "lg-zk01.bj", "sd-zk01.bj"], "service_web": ["lg-web01.bj"]}
    variables = {"hostvars": hostvars, "inventory_hostname": "plain", "groups": groups}
    assert naming.run(["service.web"], variables=variables) == ["10.1.9.1"]
    assert sorted(set(hostvars.read)) == ["lg-web01.bj", "plain"]
