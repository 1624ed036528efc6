"""lint: every rule fails on a package broken for it, and the example passes clean."""

import os
import shutil

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.package import lint_package
from ansible_collections.noops.platform.plugins.module_utils.package_tar import ERROR, WARNING
from pkgfiles import DATA, HELLO, copy_hello

CONFIG = "release/deploy/config.template.yml"
INIT = "release/deploy/init.yml"
TEMPLATES = "release/deploy/templates"


def test_example_is_clean():
    assert lint_package(HELLO) == []


def _edit(rel, old, new):
    def apply(root):
        full = os.path.join(root, rel)
        with open(full) as f:
            text = f.read()
        assert old in text, "mutation does not apply: %r not in %s" % (old, rel)
        with open(full, "w") as f:
            f.write(text.replace(old, new))
    return apply


def _remove(rel):
    def apply(root):
        full = os.path.join(root, rel)
        shutil.rmtree(full) if os.path.isdir(full) else os.unlink(full)
    return apply


def _mkdir(rel):
    return lambda root: os.makedirs(os.path.join(root, rel))


def _chmod(rel, mode):
    return lambda root: os.chmod(os.path.join(root, rel), mode)


def _symlink(rel, target):
    return lambda root: os.symlink(target, os.path.join(root, rel))


def _write(rel, text, mode=0o644):
    def apply(root):
        full = os.path.join(root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, mode)
    return apply


# (mutation, level, path relative to the package, message); each row breaks one rule of the standard.
CASES = [
    (_remove("release"), ERROR, "release", "missing: a package holds release/target and release/deploy"),
    (_remove("release/target"), ERROR, "release/target", "missing folder"),
    (_remove("release/deploy"), ERROR, "release/deploy", "missing folder"),
    (_remove(CONFIG), ERROR, CONFIG, "missing"),
    (_edit(CONFIG, "  env: production", "  env: [production"), ERROR, CONFIG,
     "YAML error line 25: expected ',' or ']', but got ':'"),
    (_edit(CONFIG, "base:", "common:"), ERROR, CONFIG, "must be a mapping with a 'base' section"),
    (_edit(CONFIG, "production:\n  env: production\n  db_host: db-production.example.com\n  workers: 8\n",
           "production:\n  - x\n"), ERROR, CONFIG,
     "section 'production' must be a mapping, not list (env production)"),
    (_write(CONFIG, "base:\n  basedir: $<path>\n"), WARNING, CONFIG,
     "no environment section besides 'base' (e.g. production, staging)"),
    (_edit(CONFIG, '"${basedir}/bin/stop.sh"', '"${basdir}/bin/stop.sh"'), ERROR, CONFIG,
     "key 'mod_stop': ${basdir} names no config key"),
    (_edit(CONFIG, "  db_host: db-staging.example.com", "  db_host: ${db_dsn}"), ERROR, CONFIG,
     "key 'db_host': reference cycle db_host -> db_dsn -> db_host (env staging)"),
    (_remove(INIT), ERROR, INIT, "missing"),
    (_edit(INIT, "source: hello.conf.j2", "source: hello.conf"), ERROR, INIT,
     "entry 'hello': field 'source' 'hello.conf': template 'hello.conf': unknown kind (expected .erb or .j2)"),
    (_edit(INIT, 'template("mon.conf.erb")', 'template("monitor.conf.erb")'), ERROR,
     TEMPLATES + "/monitor.conf.erb", "template missing (named by init.yml entry 'monitor')"),
    (_edit(INIT, "name: ${basedir}/conf/mon.conf", "name: ${base_dir}/conf/mon.conf"), ERROR, INIT,
     "entry 'monitor' name: ${base_dir} names no config key"),
    (_edit(TEMPLATES + "/mon.conf.erb", "notify = <%= to_email %>", "<% if to_email %>\nnotify\n<% end %>"),
     ERROR, TEMPLATES + "/mon.conf.erb", "line 5: ERB code tag '<% if to_email %>' is not supported: only "
     "<%= name %>, <%# comment %> and the trim forms are (use a .j2 template)"),
    (_edit(TEMPLATES + "/hello.conf.j2", "workers = {{ workers }}", "workers = {{ worker_count }}"), ERROR,
     TEMPLATES + "/hello.conf.j2", "undefined variable line 9: 'worker_count' is undefined"),
    (_edit(CONFIG, "  workers: 2\n", ""), ERROR, TEMPLATES + "/hello.conf.j2",
     "undefined variable line 9: 'workers' is undefined (env staging)"),
    (_write(TEMPLATES + "/old.conf.erb", "x\n"), WARNING, TEMPLATES + "/old.conf.erb",
     "template not named by init.yml (Jinja2 includes are fine)"),
    (_write("release/target/conf/hello.conf", "x\n"), WARNING, "release/target/conf/hello.conf",
     "init.yml entry 'hello' renders over this packaged file"),
    (_remove("release/target/bin/run.sh"), ERROR, "release/target/bin/run.sh",
     "missing entry point for mod_start (/noops-lint/path/bin/run.sh)"),
    (_chmod("release/target/bin/stop.sh", 0o644), ERROR, "release/target/bin/stop.sh",
     "entry point for mod_stop (/noops-lint/path/bin/stop.sh) is not executable"),
    (_edit(CONFIG, '"${basedir}/bin/run.sh"', '"sh ${basedir}/bin/start.sh -r"'), ERROR,
     "release/target/bin/start.sh", "missing entry point for mod_start (sh /noops-lint/path/bin/start.sh -r)"),
    (_edit(CONFIG, '  mod_start: "${basedir}/bin/run.sh"\n', ""), None, None, None),
    (_edit(CONFIG, '"${basedir}/bin/run.sh"', '"/usr/bin/hello"'), WARNING, CONFIG,
     "mod_start '/usr/bin/hello' does not run a program under ${basedir}; cannot check it"),
    (_chmod("release/target/bin/hello.py", 0o644), WARNING, "release/target/bin/hello.py",
     "script with #! is not executable"),
    (_mkdir("release/target/log"), ERROR, "release/target/log",
     "logs and data belong under data_path, not in the program tree"),
    (_mkdir("release/target/logs"), ERROR, "release/target/logs",
     "logs and data belong under data_path, not in the program tree"),
    (_mkdir("release/target/data"), ERROR, "release/target/data",
     "logs and data belong under data_path, not in the program tree"),
    (_symlink("release/target/dict", "/data/hello/dict"), ERROR, "release/target/dict",
     "logs and data belong under data_path, not in the program tree"),
    (_symlink("release/target/etc", "../../../etc"), ERROR, "release/target/etc",
     "symlink to ../../../etc escapes release/target/"),
    (_symlink("release/target/lib", "bin"), None, None, None),
]
IDS = ["no-release", "no-target", "no-deploy", "no-config", "config-yaml", "no-base", "section-not-mapping",
       "no-env-sections", "unknown-key", "cycle-in-one-env", "no-init", "bad-source", "missing-template",
       "bad-name-ref", "erb-control", "jinja-undefined", "undefined-in-one-env", "unused-template",
       "overwrites-packaged", "no-run", "stop-not-executable", "mod-start-missing", "default-start-ok",
       "mod-start-elsewhere", "script-not-executable", "log-dir", "logs-dir", "data-dir", "dict-link",
       "escaping-symlink", "inner-symlink-ok"]


@pytest.mark.parametrize("mutate, level, rel, message", CASES, ids=IDS)
def test_rule(tmp_path, mutate, level, rel, message):
    root = copy_hello(tmp_path / "hello")
    mutate(root)
    problems = lint_package(root)
    if level is None:
        assert problems == []
        return
    expected = (level, "%s/%s" % (root, rel), message)
    assert expected in [tuple(p) for p in problems], "\n".join(str(p) for p in problems)


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(DATA) if os.path.isdir(os.path.join(DATA, n))))
def test_broken_packages(name, monkeypatch):
    """Checked-in broken packages and their exact lint output (data/<name>.lint.txt)."""
    monkeypatch.chdir(DATA)
    with open(os.path.join(DATA, name + ".lint.txt")) as f:
        expected = f.read().splitlines()
    assert [str(p) for p in lint_package(name)] == expected


def test_not_a_package(tmp_path):
    plain = tmp_path / "x.zip"
    plain.write_text("")
    assert [tuple(p) for p in lint_package(str(plain))] == [(ERROR, str(plain), "not a folder or a tarball "
                                                             "(.tar.gz, .tgz, .tar)")]
    assert [tuple(p) for p in lint_package(str(tmp_path / "nope"))] == [
        (ERROR, str(tmp_path / "nope"), "no such package folder or tarball")]
