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
    ("host=db password='P W' user=app", "host=db password='%s' user=app" % MASK),
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


# Log lines as programs write them: the secret after a secret name is hidden, and only the secret.
LOG_LINES = [
    # "password X" in prose: the token only, not what follows it.
    ("cannot connect to db with password Sup3rS3cretPW: broken build 3.0.0",
     "cannot connect to db with password %s: broken build 3.0.0" % MASK),
    ("login failed (password hunter2)", "login failed (password %s)" % MASK),
    ("using token 3f9a1c77e0 for the registry", "using token %s for the registry" % MASK),
    ("secret 'a b c' rejected", "secret '%s' rejected" % MASK),
    # key=value and key: value.
    ("db_password=Sup3rS3cretPW host=db", "db_password=%s host=db" % MASK),
    ("connect host=db user=app PGPASSWORD=x9 port=5432", "connect host=db user=app PGPASSWORD=%s port=5432" % MASK),
    ("environment=DB_PASSWORD=hunter2,FOO=1", "environment=DB_PASSWORD=%s,FOO=1" % MASK),
    ("GET /cb?token=abc123&user=bob 200", "GET /cb?token=%s&user=bob 200" % MASK),
    ("password: hunter", "password: %s" % MASK),
    ("  api_key: AKIA1234", "  api_key: %s" % MASK),
    ("- DB_PASSWORD: 'x y z'", "- DB_PASSWORD: '%s'" % MASK),
    ("ERROR db_password: Sup3r-S3cret! refused", "ERROR db_password: %s refused" % MASK),
    ("password Sup3r-S3cret. Then retry", "password %s. Then retry" % MASK),
    ("run.sh --db-password pw-998877 --port 80", "run.sh --db-password %s --port 80" % MASK),
    ("run.sh --token=tk-55667788 -v", "run.sh --token=%s -v" % MASK),
    ("'API_TOKEN' => 'tok-123456',", "'API_TOKEN' => '%s'," % MASK),
    # JSON and Python reprs keep their quotes.
    ('{"user": "app", "password": "hunter2", "port": 5432}',
     '{"user": "app", "password": "%s", "port": 5432}' % MASK),
    ('{"db":{"password":"p w"}}', '{"db":{"password":"%s"}}' % MASK),
    ("{'password': 'x', 'user': 'app'}", "{'password': '%s', 'user': 'app'}" % MASK),
    # HTTP authorization.
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "Authorization: Bearer %s" % MASK),
    ("curl -H 'Authorization: Basic dXNlcjpwYXNz' https://h/x", "curl -H 'Authorization: Basic %s' https://h/x" % MASK),
    ("sent header bearer eyJhbGciOiJIUzI1NiJ9", "sent header bearer %s" % MASK),
    # URLs.
    ("cannot fetch https://u:pw@h/x.tgz: 404", "cannot fetch https://u:%s@h/x.tgz: 404" % MASK),
    # Lines that hold no secret stay as they are.
    ('FATAL:  password authentication failed for user "app"', 'FATAL:  password authentication failed for user "app"'),
    ("password reset for user bob", "password reset for user bob"),
    ("the key is 42; port 8080", "the key is 42; port 8080"),
    ("Using SSH key /home/u/.ssh/id_rsa", "Using SSH key /home/u/.ssh/id_rsa"),
    ('malformed tag: key "job" appears twice', 'malformed tag: key "job" appears twice'),
    ("token expired at 12:00, max_tokens=10", "token expired at 12:00, max_tokens=10"),
    ("c.yml: dch.db_password: must be a string", "c.yml: dch.db_password: must be a string"),
    ("keyboard_layout=us monkey: 3 author=x", "keyboard_layout=us monkey: 3 author=x"),
    ("password_min_length=12 passwords: Checked", "password_min_length=12 passwords: Checked"),
    ("broken build 3.0.0: exit status 3", "broken build 3.0.0: exit status 3"),
    ("Authorization failed for bob", "Authorization failed for bob"),
    ("password=%s token: %s" % (MASK, MASK), "password=%s token: %s" % (MASK, MASK)),
]


@pytest.mark.parametrize("mask", [
    redact.mask_text, mask_urls, _history_scrub, _release_render, cluster.redact_url,
], ids=["redact", "mask_urls", "history", "release_render", "cluster"])
@pytest.mark.parametrize("text, expected", LOG_LINES)
def test_one_text_rule_for_log_lines(mask, text, expected):
    assert mask(text) == expected


@pytest.mark.parametrize("text, values", [
    ('environment=DB_PASSWORD="hunter2-very",NOOPS_VERSION="1"', ["hunter2-very"]),
    ("password Sup3rS3cretPW: broken", ["Sup3rS3cretPW"]),
    ("host=db port=5432", []),
])
def test_secret_values_are_what_the_text_rule_hides(text, values):
    assert redact.secret_values(text) == values
