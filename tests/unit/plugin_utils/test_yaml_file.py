"""yaml_file: the one loader of written YAML (YAML 1.2, ambiguous plain scalars refused, text fields)."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils import yaml_file

TEXT_V = yaml_file.depth_fields({1: {"v": yaml_file.TEXT, "b": yaml_file.OWN}})


@pytest.mark.parametrize("fast", [False, True], ids=["pure", "libyaml"])
@pytest.mark.parametrize("text, value, problem", [
    # YAML 1.2 reading
    ("x: true", True, None),
    ("x: False", False, None),
    ("x: ~", None, None),
    ("x:", None, None),
    ("x: 12", 12, None),
    ("x: -3", -3, None),
    ("x: 1.5", 1.5, None),
    ("x: .inf", float("inf"), None),
    ("x: 2024-01-01", "2024-01-01", None),
    ("x: 1:30", "1:30", None),
    ("x: 1_000", "1_000", None),
    ("x: y", "y", None),
    ("x: 'NO'", "NO", None),
    ("x: \"1.10\"", "1.10", None),
    ("x: !!str 0640", "0640", None),
    ("x: !!bool yes", True, None),
    # ambiguous plain scalars
    ("x: NO", "NO", 'x: NO: YAML 1.1 reads this as the boolean false, YAML 1.2 as the text NO; quote it ("NO") for '
                    'the text, or write false'),
    ("x: On", "On", 'x: On: YAML 1.1 reads this as the boolean true, YAML 1.2 as the text On; quote it ("On") for '
                    'the text, or write true'),
    ("x: 1.10", 1.1, 'x: 1.10: YAML reads this as the number 1.1; quote it ("1.10") to keep the text, or write 1.1'),
    ("x: 0640", 640, 'x: 0640: YAML 1.1 reads this as the octal number 416, YAML 1.2 as 640; quote it ("0640") to '
                     'keep the text, or write 640 or 0o640'),
    ("x: 1e3", 1000.0, 'x: 1e3: YAML reads this as the number 1000.0; quote it ("1e3") to keep the text, or write '
                       '1000.0'),
    ("x: [1, off]", [1, "off"], 'x[1]: off: YAML 1.1 reads this as the boolean false, YAML 1.2 as the text off; '
                                'quote it ("off") for the text, or write false'),
    ("1.10: a", {1.1: "a"}, '1.10: 1.10: YAML reads this as the number 1.1; quote it ("1.10") to keep the text, or '
                            'write 1.1'),
    # ambiguous plain keys (a machine, a vars key, a cluster name): quote it
    ("yes: a", {"yes": "a"}, 'yes: yes: YAML 1.1 reads this key as the boolean true, YAML 1.2 as the text yes; '
                             'quote it ("yes")'),
    ("NO: a", {"NO": "a"}, 'NO: NO: YAML 1.1 reads this key as the boolean false, YAML 1.2 as the text NO; '
                           'quote it ("NO")'),
    ("m: {on: 1}", {"m": {"on": 1}}, 'm.on: on: YAML 1.1 reads this key as the boolean true, YAML 1.2 as the text '
                                     'on; quote it ("on")'),
    ("True: a", {True: "a"}, 'True: True: YAML reads this key as the boolean true, not as text; quote it ("True")'),
    ("~: a", {None: "a"}, '~: ~: YAML reads this key as null, not as text; quote it ("~")'),
    ("null: a", {None: "a"}, 'null: null: YAML reads this key as null, not as text; quote it ("null")'),
    ("'yes': a", {"yes": "a"}, None),
    ("\"~\": a", {"~": "a"}, None),
    ("yesno: a", {"yesno": "a"}, None),
    ("api_token: off", "off", "api_token: ********: YAML does not read this plain value as it is written (YAML 1.1 "
                              "and 1.2 read it differently, or as a number written another way); quote it"),
    # typed fields
    ("v: 1.10", "1.10", None),
    ("v: 0640", "0640", None),
    ("v: off", "off", None),
    ("v: ~", None, None),
    ("b: yes", "yes", None),
    ("b: 1.10", 1.1, None),
], ids=lambda v: v if isinstance(v, str) and len(v) < 16 else None)
def test_load_yaml(fast, text, value, problem):
    doc, problems = yaml_file.load_yaml(text + "\n", "f.yml", TEXT_V, fast=fast)
    if isinstance(value, dict):
        assert doc == value
    else:
        assert doc == {text.split(":")[0]: value}
    assert ["%s: %s: %s" % (p.field, p.text, p.message) for p in problems] == ([problem] if problem else [])
    if problem:
        assert str(problems[0]).startswith("f.yml:1:")


@pytest.mark.parametrize("text, error", [
    ("a: 1\na: 2\n", "f.yml:2:1: invalid YAML: found duplicate key 'a' (first at line 1)"),
    ("a: [1\n", "f.yml:2:1: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ("? [a]\n: 1\n", "f.yml:1:3: invalid YAML: a key must be a plain value, not a sequence"),
    ("a: !vault x\n", "f.yml:1:4: invalid YAML: could not determine a constructor for the tag '!vault'"),
    ("a: &x [*x]\n", "f.yml: invalid YAML: nested too deep (a recursive alias?)"),
], ids=["duplicate", "syntax", "complex-key", "unknown-tag", "recursive"])
def test_invalid_yaml_is_one_line(text, error):
    with pytest.raises(yaml_file.YamlFileError) as e:
        yaml_file.load_yaml(text, "f.yml")
    assert str(e.value) == error


@pytest.mark.parametrize("fast", [False, True], ids=["pure", "libyaml"])
@pytest.mark.parametrize("text, error", [
    ("machines:\n  m1: {tags: [a.b]}\n  <<: {m1: {tags: [idc.sd]}, m9: {tags: [a.b]}}\n",
     "t.yml:3:8: invalid YAML: found duplicate key 'm1' (first at line 2)"),
    ("machines:\n  <<: {m1: {tags: [idc.sd]}}\n  m1: {tags: [a.b]}\n",
     "t.yml:3:3: invalid YAML: found duplicate key 'm1' (first at line 2)"),
    ("base: &b {m1: {tags: [x.y]}}\nmachines:\n  <<: [*b, {m1: {tags: [a.b]}}]\n",
     "t.yml:3:13: invalid YAML: found duplicate key 'm1' (first at line 1)"),
    ("nodes:\n  idc.lg: {vars: {a: 1}}\n  <<: {idc.lg: {vars: {a: 2}}}\n",
     "t.yml:3:8: invalid YAML: found duplicate key 'idc.lg' (first at line 2)"),
], ids=["after", "before", "two-merged", "nodes"])
def test_identity_map_refuses_keys_repeated_through_merge(fast, text, error):
    with pytest.raises(yaml_file.YamlFileError) as e:
        yaml_file.load_yaml(text, "t.yml", fast=fast, identity_maps={("machines",), ("nodes",)})
    assert str(e.value) == error


def test_identity_map_keeps_merges_without_repeats_and_overrides_elsewhere():
    text = ("base: &b {user: w, port: 1}\nmachines:\n  m1: {vars: {<<: *b, port: 2}}\n  <<: {m9: {vars: *b}}\n")
    doc, problems = yaml_file.load_yaml(text, "t.yml", identity_maps={("machines",)})
    assert problems == []
    assert doc["machines"] == {"m1": {"vars": {"user": "w", "port": 2}}, "m9": {"vars": {"user": "w", "port": 1}}}


def test_merge_keys_and_anchors():
    doc, problems = yaml_file.load_yaml("base: &b {a: 1, b: 2}\nweb: {<<: *b, b: 3}\nboth: {<<: [*b, {c: 4}]}\n",
                                        "f.yml")
    assert problems == []
    assert doc == {"base": {"a": 1, "b": 2}, "web": {"a": 1, "b": 3}, "both": {"a": 1, "b": 2, "c": 4}}


def test_strict_raises_every_problem_one_line_each():
    with pytest.raises(yaml_file.AmbiguousYamlError) as e:
        yaml_file.load_yaml_strict("a: NO\nb: 1.10\n", "f.yml")
    assert [line.split(": ")[0:2] for line in str(e.value).splitlines()] == [["f.yml:1:4", "a"], ["f.yml:2:4", "b"]]


@pytest.mark.parametrize("fast", [False, True], ids=["python", "libyaml"])
@pytest.mark.parametrize("data, line, column, byte", [
    (b"a: hel\xfflo\n", 1, 7, 0xff),
    (b"a: 1\nb: caf\xc3\xa9 \xe9\n", 2, 9, 0xe9),
    (b"a:\n  - x\n  - \xc3", 3, 5, 0xc3),
], ids=["latin1", "after-utf8", "cut-at-end"])
@pytest.mark.parametrize("as_file", [False, True], ids=["bytes", "file"])
def test_not_utf8_names_byte_line_and_column(fast, data, line, column, byte, as_file):
    import io
    with pytest.raises(yaml_file.NotUtf8Error) as raised:
        yaml_file.load_yaml(io.BytesIO(data) if as_file else data, "f.yml", fast=fast)
    assert str(raised.value) == "f.yml: not UTF-8 text: byte 0x%02x at line %d column %d" % (byte, line, column)
    assert (raised.value.line, raised.value.column) == (line, column)


def test_utf8_bom_and_utf16_still_read():
    assert yaml_file.load_yaml(b"\xef\xbb\xbfa: \xc3\xa9\n", "f.yml") == ({"a": "\u00e9"}, [])
    assert yaml_file.load_yaml("a: é\n".encode("utf-16"), "f.yml") == ({"a": "\u00e9"}, [])
