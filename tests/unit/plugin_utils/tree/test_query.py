import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.tree.query import TreeIndex, parse_query
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError

FLEET = {
    "lg1": ["cop.xiaomi_owt.miliao_pdl.account_service.dch_cluster.production-lg_idc.lg_status.service"],
    "lg2": ["cop.xiaomi_owt.miliao_pdl.account_service.dch_cluster.production-lg_idc.lg_status.offline"],
    "sd1": ["cop.xiaomi_owt.miliao_pdl.account_service.dch_cluster.production-sd_idc.sd_status.service"],
    # two tags: service.zk in lg and service.dch in sd; "service.zk_idc.sd" must NOT match (no single tag holds both)
    "mix": ["cop.xiaomi_service.zk_cluster.production-lg_idc.lg_status.service",
            "cop.xiaomi_service.dch_cluster.production-sd_idc.sd_status.service"],
    "zk1": ["cop.xiaomi_service.zk_cluster.production-lg_idc.lg_status.service"],
    "oth": ["cop.other_service.web_idc.hh"],
}


@pytest.fixture(scope="module")
def index():
    idx = TreeIndex()
    for name, tags in FLEET.items():
        idx.add(name, [Tag.parse(t) for t in tags])
    return idx


QUERIES = [
    ("service.dch", ["lg1", "lg2", "sd1", "mix"]),
    ("service.zk", ["mix", "zk1"]),
    ("service.zk_idc.lg", ["mix", "zk1"]),
    ("service.zk_idc.sd", []),                               # pairs spread over two tags do not match
    ("idc.sd_service.dch", ["sd1", "mix"]),                  # pattern pair order does not matter
    ("service.dch_idc.sd", ["sd1", "mix"]),
    ("service.dch,service.web", ["lg1", "lg2", "sd1", "mix", "oth"]),
    ("service.dch,!status.offline", ["lg1", "sd1", "mix"]),
    ("!status.offline,service.dch", ["lg1", "sd1", "mix"]),  # as Ansible: exclusions apply after unions
    ("service.dch,&idc.lg", ["lg1", "lg2", "mix"]),
    ("!cop.xiaomi", ["oth"]),                                # only exclusions: start from every machine
    ("&idc.hh", ["oth"]),
    ("cluster.production-*", ["lg1", "lg2", "sd1", "mix", "zk1"]),
    ("cluster.production-?d", ["sd1", "mix"]),
    ("idc.[ls][gd]_service.dch", ["lg1", "lg2", "sd1", "mix"]),
    ("service.*_idc.hh", ["oth"]),
    ("service.zk_cluster.*-sd", []),                         # glob pattern still needs one tag holding both
    ("nokey.x", []),
    ("service.nothere", []),
    (" service.zk , !idc.lg ", []),
    ("cop.xiaomi_status.service,!service.dch", ["zk1"]),
]


@pytest.mark.parametrize("query,expected", QUERIES)
def test_select(index, query, expected):
    assert index.select(query) == expected
    assert index.count(query) == len(expected)


BAD_QUERIES = [
    ("", '"": empty query'),
    ("service.a,,x.y", '"service.a,,x.y": empty term at char 10'),
    ("service.a,", '"service.a,": empty term at char 10'),
    ("service.a,!Bad.x", '"service.a,!Bad.x": bad key "Bad" (want [a-z][a-z0-9]*) at char 11'),
    ("service", '"service": pair "service" has no "." at char 0'),
    ("service.a_service.b", '"service.a_service.b": key "service" appears twice at char 10'),
    ("service.zk&idc.lg", '"service.zk&idc.lg": bad value "zk&idc.lg" for key "service" (want [A-Za-z0-9.-] or globs) at char 8'),
]


@pytest.mark.parametrize("query,message", BAD_QUERIES)
def test_bad_queries(query, message):
    with pytest.raises(TagError) as info:
        parse_query(query)
    assert str(info.value) == message


def test_duplicate_machine_rejected(index):
    with pytest.raises(ValueError):
        index.add("lg1", [Tag.parse("cop.x")])


def test_large_index_bits():
    idx = TreeIndex()
    for i in range(3000):
        idx.add("m%d" % i, [Tag.parse("service.s%d_idc.i%d" % (i % 7, i % 3))])
    got = idx.select("service.s3_idc.i0")
    assert got == ["m%d" % i for i in range(3000) if i % 7 == 3 and i % 3 == 0]
