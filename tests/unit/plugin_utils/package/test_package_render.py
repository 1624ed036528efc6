"""init.yml entries and rendering: forms, placement into the release, modes, secrets, template errors."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.package import (
    Package, file_mode, parse_init, parse_mode, place, render_package, template_source,
)
from ansible_collections.noops.platform.plugins.module_utils.package_tar import (
    ERROR, WARNING, PackageError, Problem,
)
from pkgfiles import minimal, write_package

SRC = "p/release/deploy/init.yml"
VALUES = {"path": "/home/work/dch", "user": "work", "name": "dch", "version": "93043", "job": "job.dch",
          "data_path": "/data/dch", "db_passwd": "pw-1234-xyz", "port": 9000}
RELEASE = "/home/work/.releases/dch/93043"
CONFIG = """\
base:
  basedir: "$<path>"
  user: "$< user >"
  mod_name: "$< name >"
  db_password: "$< db_passwd >"
  tag: "$< job >"
  data: "$<data_path>"
  port: "$<port>"
  mod_start: "${basedir}/bin/run.sh"
production:
  zookeeper_host: zk-production
staging:
  zookeeper_host: zk-staging
"""


# ----------------------------------------------------------------------------- init.yml forms

@pytest.mark.parametrize("doc, expected", [
    # the old platform's form: a mapping of entries
    ({"Dch": {"type": "file", "name": "${basedir}/conf/dch.conf", "source": 'template("dch.conf.erb")'}},
     [("Dch", "${basedir}/conf/dch.conf", "file", "dch.conf.erb", "erb", None, None)]),
    ({"monitor": {"type": "mon", "name": "${basedir}/conf/mon.conf", "source": "template( 'mon.conf.erb' )"}},
     [("monitor", "${basedir}/conf/mon.conf", "mon", "mon.conf.erb", "erb", None, None)]),
    # a list, with or without ids; type defaults to file; mode and owner carried
    ([{"id": "app", "name": "/etc/x", "source": "x.j2", "mode": "0600", "owner": "work"},
      {"name": "/etc/y", "source": "sub/y.conf.jinja2", "mode": 0o640}],
     [("app", "/etc/x", "file", "x.j2", "jinja2", 0o600, "work"),
      ("#2", "/etc/y", "file", "sub/y.conf.jinja2", "jinja2", 0o640, None)]),
    (None, []),
    ({}, []),
], ids=["old-platform-mapping", "spaces-in-call", "list", "empty-file", "empty-mapping"])
def test_parse_init(doc, expected):
    problems = []
    assert [tuple(e) for e in parse_init(doc, SRC, problems)] == expected
    assert problems == []


@pytest.mark.parametrize("doc, problem", [
    ("text", (ERROR, "must be a mapping of entries or a list, not str")),
    ({"a": "x"}, (ERROR, "entry 'a' must be a mapping, not str")),
    ({"a": {"source": "x.j2"}}, (ERROR, "entry 'a': field 'name' is missing or not a string")),
    ({"a": {"name": "/x"}}, (ERROR, "entry 'a': field 'source' None: source must be template(\"x.erb\") "
                                    "or a .j2 file name")),
    ({"a": {"name": "/x", "source": "x.conf"}}, (ERROR, "entry 'a': field 'source' 'x.conf': template 'x.conf': "
                                                 "unknown kind (expected .erb or .j2)")),
    ({"a": {"name": "/x", "source": 'template("../x.erb")'}},
     (ERROR, "entry 'a': field 'source' 'template(\"../x.erb\")': template '../x.erb' must be a relative path "
             "inside templates/")),
    ({"a": {"name": "/x", "source": "/abs.j2"}},
     (ERROR, "entry 'a': field 'source' '/abs.j2': template '/abs.j2' must be a relative path inside templates/")),
    ({"a": {"name": "/x", "source": "x.j2", "mode": "rw-r--r--"}},
     (ERROR, "entry 'a': field 'mode' 'rw-r--r--': not an octal file mode")),
    ({"a": {"name": "/x", "source": "x.j2", "owner": 0}}, (ERROR, "entry 'a': field 'owner' 0 is not a string")),
    ({"a": {"name": "/x", "source": "x.j2", "color": "red"}}, (WARNING, "entry 'a': unknown field(s) color ignored")),
], ids=["not-a-collection", "entry-not-mapping", "no-name", "no-source", "unknown-kind", "dotdot-template",
        "absolute-template", "bad-mode", "bad-owner", "unknown-field"])
def test_parse_init_problems(doc, problem):
    problems = []
    parse_init(doc, SRC, problems)
    assert problems == [Problem(problem[0], SRC, problem[1])]


@pytest.mark.parametrize("value, mode", [
    ("0640", 0o640), ("640", 0o640), ("0o600", 0o600), (0o755, 0o755), ("0400", 0o400),
])
def test_parse_mode(value, mode):
    assert parse_mode(value) == mode


@pytest.mark.parametrize("value", ["0999", "rwx", True, 0o17777, "12345", None, "4755", "2755", "1777", "07777",
                                   0o4755, "0", 0, "0222"])
def test_parse_mode_rejects(value):
    with pytest.raises(ValueError):
        parse_mode(value)


@pytest.mark.parametrize("source, expected", [
    ('template("dch.conf.erb")', ("dch.conf.erb", "erb")),
    ("template('a/b.j2')", ("a/b.j2", "jinja2")),
    ("hello.conf.j2", ("hello.conf.j2", "jinja2")),
    ("mon.conf.erb", ("mon.conf.erb", "erb")),
])
def test_template_source(source, expected):
    assert template_source(source) == expected


# ----------------------------------------------------------------------------- placement and modes

@pytest.mark.parametrize("dest, expected", [
    ("/home/work/dch/conf/dch.conf", (RELEASE + "/conf/dch.conf", True)),
    ("/home/work/dch/x", (RELEASE + "/x", True)),
    ("/home/work/dch-other/conf", ("/home/work/dch-other/conf", False)),     # a prefix is not a parent
    ("/data/dch/conf/backup.conf", ("/data/dch/conf/backup.conf", False)),
    ("/etc/cron.d/dch", ("/etc/cron.d/dch", False)),
])
def test_place(dest, expected):
    assert place(dest, "/home/work/dch/", RELEASE) == expected


def test_place_refuses_the_path_itself():
    with pytest.raises(ValueError):
        place("/home/work/dch", "/home/work/dch", RELEASE)


@pytest.mark.parametrize("requested, secret, mode", [
    (None, False, "0644"), (None, True, "0640"),
    (0o600, True, "0600"), (0o644, True, "0640"), (0o666, True, "0640"), (0o755, True, "0750"),
    (0o400, True, "0400"), (0o755, False, "0755"), (0o666, False, "0666"),
])
def test_file_mode(requested, secret, mode):
    assert file_mode(requested, secret) == mode


# ----------------------------------------------------------------------------- whole renders

def render(tmp_path, init, templates, env="production", values=VALUES, config=CONFIG):
    root = write_package(tmp_path / "p", minimal(config=config, init=init, templates=templates))
    return render_package(Package(root, label="p"), env, values, RELEASE)


def test_render_places_and_flags(tmp_path):
    init = """\
Dch:
  type: file
  name: ${basedir}/conf/dch.conf
  source: template("dch.conf.erb")
monitor:
  type: mon
  name: ${basedir}/conf/mon.conf
  source: mon.conf.j2
backup:
  type: backup
  name: ${data}/conf/backup.conf
  source: backup.conf.j2
  mode: "0600"
  owner: work
"""
    templates = {
        "dch.conf.erb": "user=<%= @user %>\npassword=<%= db_password %>\n",
        "mon.conf.j2": "name={{ mod_name }} zk={{ zookeeper_host }} port={{ port + 1 }}\n",
        "backup.conf.j2": "{{ tag }}\n",
    }
    rendered = render(tmp_path, init, templates)
    got = [(f.entry, f.dest, f.type, f.mode, f.owner, f.secret, f.in_release, f.content) for f in rendered.files]
    assert got == [
        ("Dch", RELEASE + "/conf/dch.conf", "file", "0640", None, True, True, "user=work\npassword=pw-1234-xyz\n"),
        ("monitor", RELEASE + "/conf/mon.conf", "mon", "0644", None, False, True, "name=dch zk=zk-production "
                                                                                  "port=9001\n"),
        ("backup", "/data/dch/conf/backup.conf", "backup", "0600", "work", False, False, "job.dch\n"),
    ]
    assert rendered.config.secret_keys == {"db_password"}


def test_render_env_selects_section(tmp_path):
    init = "z: {name: '${basedir}/z', source: z.j2}\n"
    rendered = render(tmp_path, init, {"z.j2": "{{ zookeeper_host }}"}, env="staging")
    assert rendered.files[0].content == "zk-staging"


@pytest.mark.parametrize("template, secret", [
    ("{{ db_password | length }}", True),           # uses a secret key, even if it prints no secret
    ("{{ 'pw-1234' ~ '-xyz' }}", True),             # prints the secret value without naming the key
    ("{{ user }}", False),
], ids=["names-secret", "prints-secret-value", "no-secret"])
def test_secret_detection(tmp_path, template, secret):
    rendered = render(tmp_path, "f: {name: '${basedir}/f', source: f.j2}\n", {"f.j2": template})
    assert rendered.files[0].secret is secret
    assert rendered.files[0].mode == ("0640" if secret else "0644")


@pytest.mark.parametrize("init, templates, path, message", [
    ("f: {name: '${basedir}/f', source: f.j2}\n", {"f.j2": "a\n\n{{ nope }}\n"},
     "p/release/deploy/templates/f.j2", "undefined variable line 3: 'nope' is undefined"),
    ("f: {name: '${basedir}/f', source: f.j2}\n", {"f.j2": "a\n{% if %}\n"},
     "p/release/deploy/templates/f.j2", "line 2: Expected an expression, got 'end of statement block'"),
    ("f: {name: '${basedir}/f', source: f.j2}\n", {"f.j2": "{{ ''.__class__.__mro__ }}"},
     "p/release/deploy/templates/f.j2", "access to attribute '__class__' of 'str' object is unsafe."),
    ("f: {name: '${basedir}/f', source: f.erb}\n", {"f.erb": "ok\n<% if x %>\n"},
     "p/release/deploy/templates/f.erb", "line 2: ERB code tag '<% if x %>' is not supported"),
    ("f: {name: '${basedir}/f', source: f.j2}\n", {},
     "p/release/deploy/templates/f.j2", "template missing (named by init.yml entry 'f')"),
    ("f: {name: 'conf/f', source: f.j2}\n", {"f.j2": ""},
     "p/release/deploy/init.yml", "entry 'f': name 'conf/f' resolves to 'conf/f', not an absolute path"),
    ("f: {name: '${basedir}/../etc/f', source: f.j2}\n", {"f.j2": ""},
     "p/release/deploy/init.yml", "entry 'f': name '/home/work/dch/../etc/f' contains '..'"),
    ("f: {name: '${basedir}', source: f.j2}\n", {"f.j2": ""},
     "p/release/deploy/init.yml", "entry 'f': name /home/work/dch is the program path /home/work/dch itself"),
    ("f: {name: '${nope}/f', source: f.j2}\n", {"f.j2": ""},
     "p/release/deploy/init.yml", "entry 'f' name: ${nope} names no config key"),
    ("f: {name: '${basedir}/f', source: f.j2}\ng: {name: '$<path>/f', source: f.j2}\n", {"f.j2": ""},
     "p/release/deploy/init.yml", "entries 'f' and 'g' both produce " + RELEASE + "/f"),
    ("f: {name: '/x', source: x.conf}\n", {},
     "p/release/deploy/init.yml", "entry 'f': field 'source' 'x.conf'"),
], ids=["jinja-undefined", "jinja-syntax", "jinja-sandbox", "erb-control", "missing-template", "relative-name",
        "dotdot-name", "name-is-path", "name-unknown-key", "duplicate-dest", "bad-entry"])
def test_render_errors(tmp_path, init, templates, path, message):
    with pytest.raises(PackageError) as e:
        render(tmp_path, init, templates)
    assert e.value.path == path
    assert e.value.message.startswith(message)


def test_unknown_env_names_file_and_env(tmp_path):
    with pytest.raises(PackageError) as e:
        render(tmp_path, "", {}, env="qa")
    assert str(e.value) == "p/release/deploy/config.template.yml: env 'qa' has no section (sections: production, " \
                           "staging)"


def test_yaml_error_names_line(tmp_path):
    with pytest.raises(PackageError) as e:
        render(tmp_path, "", {}, config="base:\n  a: 1\n b: [\n")
    assert e.value.path == "p/release/deploy/config.template.yml"
    assert e.value.message.startswith("YAML error line 3")
