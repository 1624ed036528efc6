"""One rule for secret names and one way to mask URL passwords, shared by every output path."""

from __future__ import annotations

import pytest

from ansible_collections.noops.platform.plugins.inventory import service_tree
from ansible_collections.noops.platform.plugins.plugin_utils.odin import cluster
from ansible_collections.noops.platform.plugins.plugin_utils.history import mask as history_mask
from ansible_collections.noops.platform.plugins.plugin_utils import package
from ansible_collections.noops.platform.plugins.module_utils import redact
from ansible_collections.noops.platform.plugins.plugin_utils.tree import source
from ansible_collections.noops.platform.plugins.module_utils.redact import MASK, is_secret_name, mask_urls

SECRET = [
    "password", "passwd", "passphrase", "secret", "token", "api_key", "apikey", "APIKey", "private_key",
    "private-key", "access_key", "credentials", "auth", "basic_auth", "db_password", "PGPASSWORD", "dbpasswd",
    "dbPassword", "ssh_passphrase", "passphrase_file", "client_secret", "clientSecret", "GITHUB_TOKEN",
    "authToken", "apitoken", "backup_key", "key", "key2", "ssh_keys", "pass", "db_pass", "db_pwd",
    "Authorization", "mysql.root.password", "aws_secret_access_key", "secretkey", "tokens", "api_tokens",
    # A secret word in two segments, short secret words, qualifiers after the secret one.
    "dbPassWord", "PassWord", "PASS-WORD", "pass_phrase", "pass.words", "db_pw", "DB_PW", "passcode", "door_passcode",
    "passkey", "webPassKey", "private_key_pem", "x_api_key_v2", "api_key_1", "API_KEY_V2", "token_b64",
    "db_password_old", "password_file", "db_password_hash", "api_key_v2_1",
]
NOT_SECRET = [
    "keyboard_layout", "monkey", "keys_count", "author", "tokenizer_model", "max_tokens", "key_name", "api_key_id",
    "passage", "version", "path", "mon_value", "user", "pkg_url", "hotkey_binding", "num_keys", "",
    # Counts, lengths and policies about a secret; words that only hold the letters.
    "password_min_length", "max_password_age", "password_policy", "PasswordStrength", "login_attempts",
    "secret_count", "bypass", "compass_word", "pwd_path", "api_key_id_v2", "keys_count_1", "pem", "v2",
]


@pytest.mark.parametrize("rule", [
    redact.is_secret_name, package.is_secret_name, history_mask.is_secret_name,
], ids=["redact", "package(release_render,odin_prepare)", "history"])
@pytest.mark.parametrize("name, secret", [(n, True) for n in SECRET] + [(n, False) for n in NOT_SECRET])
def test_one_secret_rule_everywhere(rule, name, secret):
    assert rule(name) is secret


@pytest.mark.parametrize("name", [None, 3, b"password"])
def test_non_strings_are_not_secret_names(name):
    assert is_secret_name(name) is False


@pytest.mark.parametrize("name", ["ssh_passphrase", "db_password", "PGPASSWORD"])
def test_odin_cluster_result_and_release_render_hide_the_same_names(name):
    # The `odin` fact (odin_prepare's `cluster` result, shown with -v) and release_render's secrets list.
    doc = {"cluster": {"name": "dch"}, "dch": {name: "v3ry-s3cret", "keyboard_layout": "us-intl"}}
    assert cluster.masked(doc)["dch"] == {name: MASK, "keyboard_layout": "us-intl"}
    assert package.secrets_to_mask({name: "v3ry-s3cret", "keyboard_layout": "us-intl"}) == ["v3ry-s3cret"]


URLS = [
    ("mysql://app:PW-1234@db/x", "mysql://app:%s@db/x" % MASK),
    ("https://deploy:PW-1234@repo.example/x.tar.gz", "https://deploy:%s@repo.example/x.tar.gz" % MASK),
    ("https://deploy:p@ss@repo.example/x", "https://deploy:%s@repo.example/x" % MASK),   # raw "@" in the password
    ("git+ssh://u:pw@h:2222/r.git", "git+ssh://u:%s@h:2222/r.git" % MASK),
    ("cannot fetch https://u:pw@h/x.tgz: 404", "cannot fetch https://u:%s@h/x.tgz: 404" % MASK),
    ("a ftp://a:1@h/ and http://b:2@k?x=1", "a ftp://a:%s@h/ and http://b:%s@k?x=1" % (MASK, MASK)),
    ('dsn: "postgres://u:pw@db:5432/app"', 'dsn: "postgres://u:%s@db:5432/app"' % MASK),
    ("https://u@h/x", "https://u@h/x"),
    ("ssh://git@github.com/x", "ssh://git@github.com/x"),
    ("https://h/x?mail=a@b", "https://h/x?mail=a@b"),
    ("mail me@x", "mail me@x"),
    ("ftp://h/x", "ftp://h/x"),
    ("/etc/noops/tree.yml", "/etc/noops/tree.yml"),
    # Passwords holding characters RFC 3986 forbids in userinfo: the userinfo runs to the last "@".
    ("https://c:Code/PW6@git/x.git", "https://c:%s@git/x.git" % MASK),
    ("https://u:pw#frag@h", "https://u:%s@h" % MASK),
    ("https://u:p?w=1@h/x?y=2", "https://u:%s@h/x?y=2" % MASK),
    ("https://u:a/b#c?d@e@h:8443/x", "https://u:%s@h:8443/x" % MASK),
    ("fatal: unable to access 'https://c:Code/PW6@git/x.git/': 403",
     "fatal: unable to access 'https://c:%s@git/x.git/': 403" % MASK),
    ("https://u:Code PW@git/x.git", "https://u:%s@git/x.git" % MASK),
    ('code_url: "https://c:a b/c@git/x.git"', 'code_url: "https://c:%s@git/x.git"' % MASK),
    ("https://u:%s@h/x" % MASK, "https://u:%s@h/x" % MASK),
    # Keyword DSNs (libpq) and query strings: the value of a secret name.
    ("host=db password=PW port=5432", "host=db password=%s port=5432" % MASK),
    ("host=db password='P W' user=app", "host=db password=%s user=app" % MASK),
    ("dbname=x PGPASSWORD=s3cr3t", "dbname=x PGPASSWORD=%s" % MASK),
    ("https://h/x?token=abc", "https://h/x?token=%s" % MASK),
    ("host=db port=5432 user=app", "host=db port=5432 user=app"),
    ("max_tokens=10 key_name=a", "max_tokens=10 key_name=a"),
    # Not URLs with passwords: left alone.
    ("a://b", "a://b"),
    ("user@host:path", "user@host:path"),
    ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ("https://u@h:22/x", "https://u@h:22/x"),
    ("ssh://git@h:2222/r.git and mail me@x", "ssh://git@h:2222/r.git and mail me@x"),
    ("a == b", "a == b"),
]


def _history_scrub(text):
    return redact.Masker().scrub(text)


def _problem_message(text):
    return cluster.problem("c.yml", "dch.code_url", text)[len("c.yml: dch.code_url: "):]


def _release_render(text):
    return package.mask(text, [])


@pytest.mark.parametrize("mask", [
    mask_urls, cluster.redact_url, _problem_message, source.display_source, service_tree.redact_url,
    _history_scrub, _release_render,
], ids=["redact", "cluster", "problem-line", "tree-source", "inventory", "history", "release_render"])
@pytest.mark.parametrize("text, expected", URLS)
def test_one_url_mask_everywhere(mask, text, expected):
    assert mask(text) == expected
