import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError, canonical, group_name

VALID = [
    # (input, canonical)
    ("cop.xiaomi", "cop.xiaomi"),
    ("job.x_service.y_cop.xiaomi", "cop.xiaomi_service.y_job.x"),
    ("cop.xiaomi_owt.miliao_pdl.account_service.dch_cluster.production-sd_idc.sd",
     "cop.xiaomi_owt.miliao_pdl.account_service.dch_cluster.production-sd_idc.sd"),
    ("cop.xiaomi_owt.miliao_pdl.im_service.xiaomimq_jobgroup.micloud_job.xmq-micloud-cell01micloud011_status.service"
     "_loc.bj_idc.sd_cluster.production-sd",
     "cop.xiaomi_owt.miliao_pdl.im_service.xiaomimq_cluster.production-sd_jobgroup.micloud"
     "_job.xmq-micloud-cell01micloud011_loc.bj_idc.sd_status.service"),
    ("zone.a_status.service_idc.lg_rack.r12", "idc.lg_status.service_rack.r12_zone.a"),   # unknown keys last, by name
    ("service.v1.2-rc3", "service.v1.2-rc3"),   # dots and dashes inside a value
    ("k9.X", "k9.X"),
]

INVALID = [
    # (input, message)
    ("cop.xiaomi__owt.x", '"cop.xiaomi__owt.x": empty pair at char 11'),
    ("", '"": empty tag'),
    ("_cop.x", '"_cop.x": empty pair at char 0'),
    ("cop.x_", '"cop.x_": empty pair at char 6'),
    ("cop", '"cop": pair "cop" has no "." at char 0'),
    (".x", '".x": empty key at char 0'),
    ("cop.", '"cop.": empty value for key "cop" at char 4'),
    ("Cop.x", '"Cop.x": bad key "Cop" (want [a-z][a-z0-9]*) at char 0'),
    ("9op.x", '"9op.x": bad key "9op" (want [a-z][a-z0-9]*) at char 0'),
    ("cop.-x", '"cop.-x": bad value "-x" for key "cop" (want [A-Za-z0-9] then [A-Za-z0-9.-]*) at char 4'),
    ("cop.a b", '"cop.a b": bad value "a b" for key "cop" (want [A-Za-z0-9] then [A-Za-z0-9.-]*) at char 4'),
    ("cop.x*", '"cop.x*": bad value "x*" for key "cop" (want [A-Za-z0-9] then [A-Za-z0-9.-]*) at char 4'),
    ("cop.x_cop.y", '"cop.x_cop.y": key "cop" appears twice at char 6'),
    ("cop.x_owt.y_cop.x", '"cop.x_owt.y_cop.x": key "cop" appears twice at char 12'),
]


@pytest.mark.parametrize("text,expected", VALID)
def test_canonical(text, expected):
    assert canonical(text) == expected
    assert str(Tag.parse(expected)) == expected


@pytest.mark.parametrize("text,message", INVALID)
def test_invalid_tags(text, message):
    with pytest.raises(TagError) as info:
        Tag.parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize("a,b,equal", [
    ("job.x_service.y_cop.xiaomi", "cop.xiaomi_service.y_job.x", True),
    ("cop.xiaomi_service.y", "cop.xiaomi_service.z", False),
    ("cop.xiaomi_service.y", "cop.xiaomi", False),
])
def test_order_insensitive_equality(a, b, equal):
    assert (Tag.parse(a) == Tag.parse(b)) is equal
    assert (hash(Tag.parse(a)) == hash(Tag.parse(b))) is equal
    assert (Tag.parse(a) == b) is equal


def test_tag_is_a_mapping_and_path_stops_at_gap():
    tag = Tag.parse("cluster.c_service.s_cop.xiaomi_pdl.p_idc.lg")
    assert dict(tag) == {"cop": "xiaomi", "pdl": "p", "service": "s", "cluster": "c", "idc": "lg"}
    assert tag.path() == [("cop", "xiaomi")]   # owt missing: the tree path stops
    assert Tag.parse("cop.a_owt.b_pdl.c").path() == [("cop", "a"), ("owt", "b"), ("pdl", "c")]


@pytest.mark.parametrize("text,group", [
    ("cluster_production-lg", "cluster_production_lg"),
    ("service_v1.2", "service_v1_2"),
    ("cop.xiaomi_owt.miliao", "cop_xiaomi_owt_miliao"),
])
def test_group_name(text, group):
    assert group_name(text) == group


@pytest.mark.parametrize("text", [
    "job.dch_service.dch_cop.xiaomi",
    "cop.xiaomi_service.dch_job.dch",
    "idc.lg_zz.custom_job.dch",
])
def test_a_parsed_tag_keeps_its_spelling(text):
    tag = Tag.parse(text)
    assert tag.text == text
    assert str(tag) == canonical(text)          # canonical for grouping and comparing
    assert tag == Tag.parse(str(tag)) and hash(tag) == hash(Tag.parse(str(tag)))
    assert Tag(tag.items()).text == str(tag)    # built from pairs: no spelling but the canonical one
