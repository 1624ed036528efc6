"""config.template.yml: merging base with an env section, "$<x>" and "${x}" resolution, secret keys."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.package import merge_config, resolve_config
from ansible_collections.noops.platform.plugins.module_utils.package_tar import PackageError

SRC = "pkg/release/deploy/config.template.yml"
VALUES = {"path": "/home/work/dch", "user": "work", "name": "dch", "version": "93043", "port": 8080,
          "job": "job.dch_service.dch", "data_path": "/data/dch", "db_passwd": "pw-1234",
          "tricky": "a${b}c$<d>"}


@pytest.mark.parametrize("doc, env, expected", [
    ({"base": {"a": 1, "b": 2}, "production": {"b": 3}}, "production", {"a": 1, "b": 3}),
    ({"base": {"a": 1}, "staging": None}, "staging", {"a": 1}),
    ({"base": {"m": {"x": 1, "y": 2}}, "production": {"m": {"y": 9, "z": 3}}}, "production",
     {"m": {"x": 1, "y": 9, "z": 3}}),
    ({"base": {"l": [1, 2]}, "production": {"l": [3]}}, "production", {"l": [3]}),
    ({"base": {"a": 1}, "production": {}}, "base", {"a": 1}),
], ids=["override", "empty-section", "deep-merge", "list-replaced", "base-only"])
def test_merge(doc, env, expected):
    assert merge_config(doc, env, SRC) == expected


@pytest.mark.parametrize("doc, env, message", [
    ({"base": {"a": 1}, "production": {}}, "qa", "env 'qa' has no section (sections: production)"),
    ({"production": {}}, "production", "section 'base' is missing or not a mapping"),
    ({"base": ["a"]}, "base", "section 'base' is missing or not a mapping"),
    ({"base": {}, "production": ["x"]}, "production", "section 'production' must be a mapping, not list"),
    (["base"], "production", "must be a mapping with a 'base' section, not list"),
    ({"base": {True: 1}, "production": {}}, "production", "key True is not a string (quote it)"),
], ids=["unknown-env", "no-base", "base-not-mapping", "section-not-mapping", "doc-not-mapping", "bool-key"])
def test_merge_errors(doc, env, message):
    with pytest.raises(PackageError) as e:
        merge_config(doc, env, SRC)
    assert str(e.value) == "%s: %s" % (SRC, message)


@pytest.mark.parametrize("merged, expected", [
    ({"basedir": "$<path>"}, {"basedir": "/home/work/dch"}),
    ({"user": "$< user >"}, {"user": "work"}),
    ({"port": "$<port>"}, {"port": 8080}),                                   # alone: keeps the int
    ({"url": "http://h:$<port>/"}, {"url": "http://h:8080/"}),
    ({"basedir": "$<path>", "start": "${basedir}/bin/run.sh"},
     {"basedir": "/home/work/dch", "start": "/home/work/dch/bin/run.sh"}),
    ({"c": "${b}/c", "b": "${a}/b", "a": "$<path>"},                          # nested, in any order
     {"a": "/home/work/dch", "b": "/home/work/dch/b", "c": "/home/work/dch/b/c"}),
    ({"a": "x", "b": "y", "ab": "${a}-${ b }-$<name>-$<version>"}, {"a": "x", "b": "y", "ab": "x-y-dch-93043"}),
    ({"p": "$<port>", "q": "${p}"}, {"p": 8080, "q": 8080}),
    ({"m": {"dir": "$<data_path>/log", "l": ["${x}", 1]}, "x": "X"},
     {"m": {"dir": "/data/dch/log", "l": ["X", 1]}, "x": "X"}),
    ({"lit": "$${x} and $$<y> and $HOME and $$"}, {"lit": "${x} and $<y> and $HOME and $$"}),
    ({"t": "[$<tricky>]"}, {"t": "[a${b}c$<d>]"}),                           # inserted values are not rescanned
    ({"n": None, "s": "<${n}>"}, {"n": None, "s": "<>"}),
    ({"unterminated": "${abc"}, {"unterminated": "${abc"}),
], ids=["value", "spaces", "int-kept", "embedded", "key-ref", "nested", "several", "ref-keeps-type",
        "inside-structures", "escapes", "no-rescan", "none-embedded", "unterminated-literal"])
def test_resolve(merged, expected):
    assert resolve_config(merged, VALUES, SRC).values == expected


@pytest.mark.parametrize("merged, message", [
    ({"a": "${b}", "b": "${a}"}, "key 'a': reference cycle a -> b -> a"),
    ({"a": "${a}"}, "key 'a': reference cycle a -> a"),
    ({"a": "x${b}", "b": "${c}", "c": "${b}"}, "key 'b': reference cycle b -> c -> b"),
    ({"a": "${nope}"}, "key 'a': ${nope} names no config key"),
    ({"a": "x", "b": "${a}/$<nope>"}, "key 'b': $<nope> has no value in the cluster (known: data_path, db_passwd, "
                                      "job, name, path, port, tricky, user, version)"),
    ({"a": "$<>"}, "key 'a': empty reference '$<>'"),
    ({"a": [1], "b": "x${a}"}, "key 'b': ${a} is a list and cannot be embedded in a string"),
], ids=["cycle", "self", "indirect-cycle", "unknown-key", "unknown-value", "empty", "list-embedded"])
def test_resolve_errors(merged, message):
    with pytest.raises(PackageError) as e:
        resolve_config(merged, VALUES, SRC)
    assert str(e.value) == "%s: %s" % (SRC, message)


def test_resolve_collects_every_bad_key():
    problems = []
    config = resolve_config({"a": "${x}", "b": "$<y>", "c": "ok"}, VALUES, SRC, problems)
    assert config.values == {"c": "ok"}
    assert [p.message for p in problems] == ["key 'a': ${x} names no config key",
                                             "key 'b': $<y> has no value in the cluster (known: data_path, "
                                             "db_passwd, job, name, path, port, tricky, user, version)"]


@pytest.mark.parametrize("merged, secret", [
    ({"db_password": "x"}, {"db_password"}),
    ({"pw": "$<db_passwd>"}, {"pw"}),                              # the value's name is secret
    ({"db_password": "x", "dsn": "u:${db_password}@h"}, {"db_password", "dsn"}),
    ({"db_password": "x", "a": "${db_password}", "b": "${a}"}, {"db_password", "a", "b"}),
    ({"backup_key": "k", "api_token": "t", "client_secret": "s", "PASSWD": "p"},
     {"backup_key", "api_token", "client_secret", "PASSWD"}),
    ({"user": "$<user>", "port": "$<port>"}, set()),
], ids=["key-name", "value-name", "derived", "transitive", "words", "none"])
def test_secret_keys(merged, secret):
    assert resolve_config(merged, VALUES, SRC).secret_keys == secret


def test_public_hides_secret_values():
    config = resolve_config({"pw": "$<db_passwd>", "user": "$<user>"}, VALUES, SRC)
    assert config.public() == {"pw": "<secret>", "user": "work"}
    assert config.secret_values() == ["pw-1234"]


def test_mask_hides_secret_values_everywhere():
    from ansible_collections.noops.platform.plugins.plugin_utils.package import mask, secrets_to_mask
    config = resolve_config({"pw": "$<db_passwd>", "dsn": "u:${pw}@h", "user": "$<user>"}, VALUES, SRC)
    secrets = secrets_to_mask({"db_passwd": "pw-1234", "api_token": "tok-5678", "user": "work", "key": "abc"},
                              config)
    assert secrets == ["u:pw-1234@h", "tok-5678", "pw-1234"]    # longest first; "abc" is too short to search
    assert mask({"msg": "dsn u:pw-1234@h, pw pw-1234", "l": ["tok-5678", 1]}, secrets) == \
        {"msg": "dsn ********, pw ********", "l": ["********", 1]}
