"""Masking tables: which keys are secret, what reaches the store, what is scrubbed from text."""

import pytest

from ansible_collections.noops.platform.plugins.module_utils.history_mask import (
    MASK, Masker, is_secret_key, mask_document_text,
)


@pytest.mark.parametrize("key, secret", [
    ("db_passwd", True),
    ("passwd", True),
    ("password", True),
    ("mysql_root_password", True),
    ("dbPassword", True),
    ("api_token", True),
    ("GITHUB_TOKEN", True),
    ("client_secret", True),
    ("clientSecret", True),
    ("backup_key", True),
    ("key", True),
    ("ssh_keys", True),
    ("private-key", True),
    ("pass", True),
    ("monkey", False),
    ("keyboard_layout", False),
    ("passage", False),
    ("version", False),
    ("path", False),
    ("mon_value", False),
    ("", False),
    (None, False),
    (3, False),
])
def test_is_secret_key(key, secret):
    assert is_secret_key(key) is secret


@pytest.mark.parametrize("data, expected", [
    ({"db_passwd": "hunter22", "user": "work"}, {"db_passwd": MASK, "user": "work"}),
    ({"nested": {"api_token": "abcd1234", "n": 1}}, {"nested": {"api_token": MASK, "n": 1}}),
    ({"list": [{"password": "p@ssw0rd"}, "plain"]}, {"list": [{"password": MASK}, "plain"]}),
    ({"backup_key": ""}, {"backup_key": ""}),
    ({"backup_key": None}, {"backup_key": None}),
    ({"token": {"value": "deep-secret"}}, {"token": MASK}),
    # A secret seen under one key is scrubbed where it appears elsewhere, in the same document.
    ({"password": "hunter22", "url": "mysql://work:hunter22@db/x"},
     {"password": MASK, "url": "mysql://work:%s@db/x" % MASK}),
])
def test_mask_structures(data, expected):
    assert Masker().mask(data) == expected


@pytest.mark.parametrize("secrets, text, expected", [
    (["hunter22"], "login with hunter22 now", "login with %s now" % MASK),
    (["hunter22", "hunter2222"], "x hunter2222 y", "x %s y" % MASK),  # longest first: no leftover "22"
    (["a.b*c"], "regex a.b*c chars", "regex %s chars" % MASK),
    (["abc"], "abc too short to scrub", "abc too short to scrub"),
    ([12345678], "pin 12345678", "pin %s" % MASK),
    ([], "nothing known", "nothing known"),
])
def test_scrub(secrets, text, expected):
    m = Masker()
    for s in secrets:
        m.add_secret(s)
    assert m.scrub(text) == expected


def test_learn_walks_mappings_and_lists():
    m = Masker()
    m.learn({"vars": [{"db_passwd": "first-secret"}], "ok": "visible-value", "tokens": ["t0k3n-one", "t0k3n-two"]})
    assert m.scrub("first-secret visible-value t0k3n-one t0k3n-two") == "%s visible-value %s %s" % (MASK, MASK, MASK)


CLUSTER_YML = """\
cluster:
  name: dch
  version: 1.0.0.1
dch:
  user: work   # the deploy user
  db_passwd: "S3cr3t-db"
  backup_key: k3y-for-backups
  mon_value: 10
  jdbc: "jdbc:mysql://work:S3cr3t-db@10.0.0.1/db"
"""


def test_mask_document_text_keeps_layout_and_scrubs_reuse():
    m = Masker()
    out = mask_document_text(CLUSTER_YML, m)
    assert "S3cr3t-db" not in out and "k3y-for-backups" not in out
    assert "  db_passwd: %s\n" % MASK in out
    assert "  backup_key: %s\n" % MASK in out
    assert "  user: work   # the deploy user\n" in out
    assert "  mon_value: 10\n" in out
    assert "jdbc:mysql://work:%s@10.0.0.1/db" % MASK in out
    assert m.scrub("echo S3cr3t-db") == "echo %s" % MASK


URL_CLUSTER_YML = """\
cluster:
  name: dch
dch:
  pkg_url: https://deploy:Pkg-Pw-77@repo.example/dch-1.tar.gz
  db_dsn: "mysql://app:Db-Pw-88@db/x"
  mirrors: [ftp://m:Ftp-Pw-99@mirror/dch-1.tar.gz]
"""


def test_cluster_yml_in_the_history_masks_url_passwords():
    out = mask_document_text(URL_CLUSTER_YML, Masker())
    for password in ("Pkg-Pw-77", "Db-Pw-88", "Ftp-Pw-99"):
        assert password not in out
    assert "  pkg_url: https://deploy:%s@repo.example/dch-1.tar.gz\n" % MASK in out
    assert '  db_dsn: "mysql://app:%s@db/x"\n' % MASK in out
    assert "  mirrors: [ftp://m:%s@mirror/dch-1.tar.gz]\n" % MASK in out


@pytest.mark.parametrize("data, expected", [
    ({"msg": "GET https://u:Pw-1234@h/x.tgz failed"}, {"msg": "GET https://u:%s@h/x.tgz failed" % MASK}),
    ({"cmd": ["curl", "https://u:Pw-1234@h/x"]}, {"cmd": ["curl", "https://u:%s@h/x" % MASK]}),
])
def test_task_results_mask_url_passwords(data, expected):
    assert Masker().mask(data) == expected
