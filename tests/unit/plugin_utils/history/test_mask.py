"""Masking tables: which keys are secret, what reaches the store, what is scrubbed from text."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text
from ansible_collections.noops.platform.plugins.module_utils.redact import MASK, Masker, is_secret_name


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
def test_is_secret_name(key, secret):
    assert is_secret_name(key) is secret


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


# Every shape a secret takes in a cluster.yml: (document, the secret texts that must not survive, lines that must).
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\n    b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n    -----END OPENSSH PRIVATE KEY-----\n"


@pytest.mark.parametrize("text, secrets, kept", [
    pytest.param("dch:\n  private_key: |\n    " + PEM + "  user: work\n",
                 ["BEGIN OPENSSH", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "END OPENSSH"],
                 ["dch:\n", "  private_key: %s\n" % MASK, "  user: work\n"], id="literal-block-scalar"),
    pytest.param("dch:\n  ssh_key: >-\n    ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n    AAAAIGJ3bWx0 work@host\n\n  port: 22\n",
                 ["AAAAC3NzaC1lZDI1NTE5", "AAAAIGJ3bWx0"],
                 ["  ssh_key: %s\n\n" % MASK, "  port: 22\n"], id="folded-block-scalar"),
    pytest.param("dch:\n  db: {password: Fl0w-Pw-1, user: app}\n  web: {port: 80}\n",
                 ["Fl0w-Pw-1"], ["user: app}", "  web: {port: 80}\n"], id="flow-mapping"),
    pytest.param("dch:\n  passwords:\n  - L1st-Pw-a\n  - L1st-Pw-b\n  # the old ones\n  hosts:\n  - h1\n",
                 ["L1st-Pw-a", "L1st-Pw-b"], ["  passwords: %s\n" % MASK, "  # the old ones\n  hosts:\n  - h1\n"],
                 id="list-under-secret-key"),
    pytest.param("dch:\n  credentials:\n    user: app\n    password: Nest-Pw-2\n  port: 80\n",
                 ["Nest-Pw-2", "user: app"], ["  credentials: %s\n" % MASK, "  port: 80\n"],
                 id="mapping-under-secret-key"),
    pytest.param("dch:\n  tokens: [T0k-Flow-1, T0k-Flow-2]\n", ["T0k-Flow-1", "T0k-Flow-2"],
                 ["  tokens: %s\n" % MASK], id="flow-list-under-secret-key"),
    pytest.param("dch:\n  env:\n  - name: API_TOKEN\n    value: s3cret-env-v\n  - name: PATH\n    value: /usr/bin\n",
                 ["s3cret-env-v"], ["  - name: API_TOKEN\n    value: %s\n" % MASK,
                                    "  - name: PATH\n    value: /usr/bin\n"], id="env-name-value"),
    pytest.param("dch:\n  env: [{value: s3cret-env-w, name: DB_PASSWORD}, {name: LANG, value: C.UTF-8}]\n",
                 ["s3cret-env-w"], ["{name: LANG, value: C.UTF-8}"], id="env-flow-value-first"),
    pytest.param('dch:\n  jdbc: "mysql://app:My-Url-Pw@db/x"\n  pg: postgresql://u:Pg-Url-Pw@h/db\n',
                 ["My-Url-Pw", "Pg-Url-Pw"],
                 ['  jdbc: "mysql://app:%s@db/x"\n' % MASK, "  pg: postgresql://u:%s@h/db\n" % MASK], id="url-dsn"),
    pytest.param("dch:\n  cmd: >\n    mysql --url mysql://app:Blk-Url-Pw@db/x\n", ["Blk-Url-Pw"],
                 ["mysql://app:%s@db/x" % MASK], id="url-in-block-scalar"),
    pytest.param("dch:\n  common: &pw Anch-Pw-3\n  db_password: *pw\n", ["Anch-Pw-3"],
                 ["  db_password: *pw\n"], id="alias-to-secret"),
    pytest.param("dch:\n  db_passwd: 'One-Line-4'  # set by ops\n", ["One-Line-4"],
                 ["  db_passwd: %s  # set by ops\n" % MASK], id="one-line-with-comment"),
    pytest.param("\ufeffü: 🙂\r\nssh_keys:\r\n- |\r\n  Key-Body-9\r\nx: ẞ\r\n", ["Key-Body-9"],
                 ["\ufeffü: 🙂\r\nssh_keys: %s\r\nx: ẞ\r\n" % MASK], id="bom-unicode-crlf"),
    pytest.param("a: 1\n---\nb:\n  api_key: |-\n    Multi-Doc-5\n", ["Multi-Doc-5"],
                 ["a: 1\n---\nb:\n  api_key: %s\n" % MASK], id="second-document"),
    # Text that is no YAML (the run saved a broken cluster.yml): lines, then block scalars after a secret key.
    pytest.param("dch:\n  user: [work\n  private_key: |\n    " + PEM + "  db: {password: Brk-Pw-6}\n"
                 "  passwords:\n  - Brk-Pw-7\n  port: 80\n  env:\n  - name: API_TOKEN\n    value: Brk-Env-8\n"
                 "  - name: PATH\n    value: /usr/bin\n  keyboard_layout: us\n",
                 ["BEGIN OPENSSH", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "Brk-Pw-6", "Brk-Pw-7", "Brk-Env-8"],
                 ["dch:\n  user: [work\n  private_key: |\n", "  port: 80\n", "  - name: API_TOKEN\n",
                  "  - name: PATH\n    value: /usr/bin\n  keyboard_layout: us\n"], id="broken-yaml"),
])
def test_mask_document_text_masks_every_shape(text, secrets, kept):
    """Each shape of secret is masked and the rest of the document is kept as written.

    Timing: see test_mask_document_text_large_file.
    """
    masker = Masker()
    out = mask_document_text(text, masker)
    for secret in secrets:
        assert secret not in out, out
    for line in kept:
        assert line in out, out


def test_mask_document_text_learns_no_empty_or_boolean_value():
    masker = Masker()
    text = "a:\n  password:\n  api_key: null\n  token: ~\n  use_secret: true\n"
    assert mask_document_text(text, masker) == "a:\n  password:\n  api_key: null\n  token: ~\n  use_secret: %s\n" % MASK
    assert masker.scrub("null true None") == "null true None"


def test_mask_document_text_learns_the_values_it_masks():
    """Values masked in the document are scrubbed from the run's other text (messages, output) as well."""
    masker = Masker()
    mask_document_text("dch:\n  private_key: |\n    Pem-Line-1\n  passwords: [Lst-Pw-2]\n"
                       "  env:\n  - {name: API_TOKEN, value: Env-Pw-3}\n", masker)
    assert masker.scrub("a Pem-Line-1 b Lst-Pw-2 c Env-Pw-3") == "a %s b %s c %s" % (MASK, MASK, MASK)


@pytest.mark.parametrize("text", [
    "keyboard_layout: us\nmonkey: 1\nkeys_count: 3\nmax_tokens: 100\n",
    "env:\n- name: PATH\n  value: /usr/bin\n- {name: LANG, value: C}\n",
    "motd: |\n  welcome\n    indented\n\n# trailing comment\nlist: [a, b]   # note\nflow: {a: 1, 'b': \"2\"}\n",
    "url: https://repo.example/x.tgz\nuser_url: ssh://git@host/x\n",
    "crlf: 1\r\nnested:\r\n  a: b\r\n",
    "x: ü  # ünïcode\n",
    "",
])
def test_mask_document_text_keeps_a_document_without_secrets_byte_for_byte(text):
    assert mask_document_text(text, Masker()) == text


def test_mask_document_text_is_idempotent_on_masked_text():
    """A stored (already masked) cluster.yml is masked again when shown: the result is the same text."""
    once = mask_document_text("dch:\n  db_passwd: Pw-Again-8\n  keys: [a1, b2]\n  user: work\n", Masker())
    assert mask_document_text(once, Masker()) == once == "dch:\n  db_passwd: %s\n  keys: %s\n  user: work\n" % (
        MASK, MASK)


def test_mask_document_text_large_file():
    """A 256 KiB cluster.yml (the most the history keeps) is masked whole.

    Measured (not asserted): 1,221 services with block scalars, flow mappings, env lists and URLs, 6,000 secrets,
    0.7 s on a busy 2-core machine (parsing 0.25 s, scrubbing the learnt values the rest).
    """
    block = ("svc{i}:\n  user: work\n  db_passwd: Pw-{i}-xyz\n  private_key: |\n    KEY-{i}-line1\n    KEY-{i}-line2\n"
             "  db: {{password: Fl-{i}, host: db{i}}}\n  env:\n  - name: API_TOKEN\n    value: Env-{i}\n"
             "  dsn: mysql://app:Url-{i}@db/x\n")
    text = ""
    i = 0
    while len(text) < 256 * 1024:
        text += block.format(i=i)
        i += 1
    out = mask_document_text(text, Masker())
    for leaked in ("Pw-1-xyz", "KEY-7-line2", "Fl-9,", "Env-11\n", "Url-13@"):
        assert leaked not in out
    assert out.count("  user: work\n") == i


@pytest.mark.parametrize("text, secret, kept", [
    ("dch:\n  port: 80\n  # db_passwd: hunter2\n", "hunter2", "  # db_passwd: %s\n" % MASK),
    ("dch:\n  port: 80  # old password=hunter2, do not use\n", "hunter2", "  port: 80  # old password=%s, do not use\n"
     % MASK),
    ("# api_token: 'Tok-In-Comment'\ndch: {port: 80}\n", "Tok-In-Comment", "# api_token: '%s'\n" % MASK),
    ("dch:\n  port: 80\n#db_password:hunter2\n", "hunter2", "#db_password:%s\n" % MASK),
    # broken YAML: line by line, comments too
    ("dch:\n  port: [80\n  # secret: hunter2\n", "hunter2", "  # secret: %s\n" % MASK),
    # "#" inside a quoted value is no comment
    ('dch:\n  motto: "we #1"  # token: Tok-After-Quote\n', "Tok-After-Quote", '  motto: "we #1"  # token: %s\n' % MASK),
])
def test_mask_document_text_masks_secrets_in_comments(text, secret, kept):
    masker = Masker()
    out = mask_document_text(text, masker)
    assert secret not in out, out
    assert kept in out, out
    if "[80" not in text:  # learnt, to be scrubbed from the run's other text (broken YAML: masked line by line)
        assert masker.scrub("x %s y" % secret) == "x %s y" % MASK
