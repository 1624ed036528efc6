"""cluster.yml as written: versions and text fields keep their text, ambiguous template values are refused."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import load_cluster_text, parse_cluster

JOB = "job.dch_service.dch_cluster.production-hh_pdl.account_owt.miliao_cop.xiaomi"
TEXT = """\
cluster:
  name: dch
  env: production
  jobs: [%s]
dch:
  path: /home/work/dch
  pkg_url: https://pkgs.example.com/dch.tar.gz
  %%s
""" % JOB


def load(line):
    doc, problems = load_cluster_text(TEXT % line, "cluster.yml")
    cluster, more = parse_cluster(doc, "cluster.yml")
    return cluster, problems + more


@pytest.mark.parametrize("line, version", [
    ("version: 1.10", "1.10"),
    ("version: 1.0", "1.0"),
    ("version: 93043", "93043"),
    ("version: 0640", "0640"),
    ("version: 1e3", "1e3"),
    ("version: 2024-01-01", "2024-01-01"),
    ("version: '1.10'", "1.10"),
    ("version: 1.0.0.1", "1.0.0.1"),
], ids=["one-ten", "one-oh", "digits", "leading-zero", "exponent", "date", "quoted", "dotted"])
def test_version_is_the_text_as_written(line, version):
    cluster, problems = load(line)
    assert problems == []
    assert cluster.version == version


@pytest.mark.parametrize("line, key, value, problems", [
    ("country: NO", "country", "NO",
     ['cluster.yml:9:12: dch.country: NO: YAML 1.1 reads this as the boolean false, YAML 1.2 as the text NO; '
      'quote it ("NO") for the text, or write false']),
    ("debug: off", "debug", "off",
     ['cluster.yml:9:10: dch.debug: off: YAML 1.1 reads this as the boolean false, YAML 1.2 as the text off; '
      'quote it ("off") for the text, or write false']),
    ("ratio: 1.10", "ratio", 1.1,
     ['cluster.yml:9:10: dch.ratio: 1.10: YAML reads this as the number 1.1; quote it ("1.10") to keep the text, '
      'or write 1.1']),
    ("umask: 0022", "umask", 22,
     ['cluster.yml:9:10: dch.umask: 0022: YAML 1.1 reads this as the octal number 18, YAML 1.2 as 22; quote it '
      '("0022") to keep the text, or write 22 or 0o22']),
    ("db_passwd: yes", "db_passwd", "yes",
     ["cluster.yml:9:14: dch.db_passwd: ********: YAML does not read this plain value as it is written (YAML 1.1 "
      "and 1.2 read it differently, or as a number written another way); quote it"]),
    ("country: 'NO'", "country", "NO", []),
    ("debug: false", "debug", False, []),
    ("ratio: 1.5", "ratio", 1.5, []),
    ("port: 8080", "port", 8080, []),
], ids=["no", "off", "one-ten", "octal-looking", "secret", "quoted", "boolean", "float", "int"])
def test_template_values_mean_what_they_say(line, key, value, problems):
    cluster, found = load("version: '1'\n  " + line)
    assert found == problems
    assert cluster.values[key] == value


@pytest.mark.parametrize("line, setting, value", [
    ("force: yes", "force", "yes"),
    ("include_offline: on", "include_offline", True),
    ("batch: 2", "batch", 2),
], ids=["force-yes", "include-offline-on", "batch"])
def test_settings_with_their_own_checks_accept_words(line, setting, value):
    cluster, problems = load("version: '1'\n  " + line)
    assert problems == []
    if setting == "include_offline":
        assert cluster.include_offline is value
    else:
        assert cluster.settings[setting][0] == value


def test_every_ambiguous_value_is_reported_at_once_with_the_other_problems():
    cluster, problems = load("version: '1'\n  country: NO\n  debug: off\n  data_path: relative")
    assert [p.split(": ")[1] for p in problems] == ["dch.country", "dch.debug", "dch.data_path"]


@pytest.mark.parametrize("data, message", [
    (b"cluster:\n  name: hel\xfflo\n", "cluster.yml: not UTF-8 text: byte 0xff at line 2 column 12"),
    (b"\xfe\n", "cluster.yml: not UTF-8 text: byte 0xfe at line 1 column 1"),
    (b"cluster:\n  name: d\xc3\xa9\n  env: \xc3(\n", "cluster.yml: not UTF-8 text: byte 0xc3 at line 3 column 8"),
], ids=["latin1", "first-byte", "cut-sequence-after-utf8"])
def test_not_utf8_is_one_line_naming_file_and_position(data, message):
    doc, problems = load_cluster_text(data, "cluster.yml")
    assert (doc, problems) == (None, [message])


@pytest.mark.parametrize("version, ok", [
    ("9" * 300, False),
    ("1." + "0" * 127, False),
    ("v" * 129, False),
    ("v" * 128, True),
    ("1.0.0.1", True),
], ids=["300-digits", "130-dotted", "129", "128", "short"])
def test_version_at_most_128_characters(version, ok):
    cluster, problems = load("version: %s" % version)
    if ok:
        assert (problems, cluster.version) == ([], version)
    else:
        assert len(problems) == 1 and "dch.version" in problems[0], problems
        assert "is %d characters long, at most 128" % len(version) in problems[0]
