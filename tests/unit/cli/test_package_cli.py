"""``noops package``: lint/build/render exit statuses and output lines."""

import json
import os
import stat

import pytest

import noops_cli.main as cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HELLO = os.path.join(ROOT, "examples", "packages", "hello")
DATA = os.path.join(ROOT, "tests", "unit", "plugin_utils", "package", "data")


@pytest.fixture
def noops(monkeypatch, capsys):
    # Only this command group: the test must not depend on the other groups' modules.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("package",))

    def run(*argv):
        status = cli.main(list(argv))
        out, err = capsys.readouterr()
        return status, out.splitlines(), err.splitlines()
    return run


@pytest.mark.parametrize("paths, status, last_lines", [
    ([HELLO], 0, ["%s: 0 error(s), 0 warning(s)" % HELLO]),
    (["no_base"], 1, ["ERROR no_base/release/deploy/config.template.yml: must be a mapping with a 'base' section",
                      "ERROR no_base/release/deploy/templates/dch.conf.erb: template missing (named by init.yml "
                      "entry 'Dch')",
                      "ERROR no_base/release/target/bin/stop.sh: missing entry point for mod_stop (not set: "
                      "default bin/stop.sh)",
                      "no_base: 4 error(s), 0 warning(s)"]),
    ([HELLO, "erb_control"], 1, ["ERROR erb_control/release/target/bin/run.sh: entry point for mod_start (not set: "
                                 "default bin/run.sh) is not executable",
                                 "erb_control: 3 error(s), 0 warning(s)"]),
    (["missing"], 1, ["ERROR missing: no such package folder or tarball", "missing: 1 error(s), 0 warning(s)"]),
], ids=["clean", "broken", "one-of-two-broken", "missing"])
def test_lint(noops, monkeypatch, paths, status, last_lines):
    monkeypatch.chdir(DATA)
    got, out, err = noops("package", "lint", *paths)
    assert got == status
    assert out[-len(last_lines):] == last_lines
    assert err == []


def test_lint_json(noops, monkeypatch):
    monkeypatch.chdir(DATA)
    status, out, _ = noops("package", "lint", "--json", "cycle_and_start", HELLO)
    doc = json.loads("\n".join(out))
    assert status == 1 and doc["ok"] is False
    assert [(p["path"], p["errors"], p["warnings"]) for p in doc["packages"]] == [("cycle_and_start", 4, 0),
                                                                                  (HELLO, 0, 0)]
    assert doc["packages"][0]["problems"][0] == {"level": "ERROR", "path": "cycle_and_start/release/target/conf",
                                                 "message": "symlink to absolute path /etc escapes release/target/"}


def test_lint_strict_fails_on_warnings(noops, tmp_path):
    import shutil
    pkg = str(tmp_path / "p")
    shutil.copytree(HELLO, pkg)
    with open(os.path.join(pkg, "release/deploy/templates/unused.j2"), "w") as f:
        f.write("x\n")
    assert noops("package", "lint", pkg)[0] == 0
    status, out, _ = noops("package", "lint", "--strict", pkg)
    assert status == 1
    assert out == ["WARNING %s/release/deploy/templates/unused.j2: template not named by init.yml (Jinja2 includes "
                   "are fine)" % pkg, "%s: 0 error(s), 1 warning(s)" % pkg]


def test_build_then_lint_the_tarball(noops, tmp_path):
    out_tar = str(tmp_path / "hello-1.0.tar.gz")
    status, out, err = noops("package", "build", HELLO, "-o", out_tar, "--version", "1.0")
    assert (status, out, err) == (0, ["%s: 13 members" % out_tar], [])
    assert noops("package", "lint", out_tar)[:2] == (0, ["%s: 0 error(s), 0 warning(s)" % out_tar])


def test_build_creates_the_output_folder(noops, tmp_path, monkeypatch):
    # `-o pkgs/x.tar.gz` in a fresh checkout: the folder is made, as `noops package render -o DIR` makes its own.
    monkeypatch.chdir(tmp_path)
    status, out, err = noops("package", "build", HELLO, "-o", "pkgs/v1/hello.tar.gz")
    assert (status, out, err) == (0, ["pkgs/v1/hello.tar.gz: 12 members"], [])
    assert os.path.isfile(tmp_path / "pkgs" / "v1" / "hello.tar.gz")


def test_build_names_an_output_folder_it_cannot_use(noops, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pkgs").write_text("a file, not a folder\n")
    status, out, err = noops("package", "build", HELLO, "-o", "pkgs/hello.tar.gz")
    assert (status, out) == (1, [])
    assert err == ["noops: pkgs/hello.tar.gz: cannot write the package: pkgs is not a folder"], err
    if os.geteuid() != 0:  # root writes into read-only folders
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        status, out, err = noops("package", "build", HELLO, "-o", "ro/hello.tar.gz")
        assert (status, out) == (1, [])
        assert err == ["noops: ro/hello.tar.gz: cannot write the package in ro: Permission denied"], err


def test_build_refuses_a_broken_package(noops, tmp_path):
    out_tar = str(tmp_path / "x.tar.gz")
    status, out, err = noops("package", "build", os.path.join(DATA, "erb_control"), "-o", out_tar)
    assert status == 1
    assert len(out) == 3 and all(line.startswith("ERROR ") for line in out)
    src = os.path.join(DATA, "erb_control")
    assert err == ["noops: %s: 3 lint error(s); not building (--no-lint to override)" % src]
    assert not os.path.exists(out_tar)
    status, out, err = noops("package", "build", os.path.join(DATA, "erb_control"), "-o", out_tar, "--no-lint")
    assert status == 0 and os.path.exists(out_tar)


def test_build_refuses_escaping_symlink_even_without_lint(noops, tmp_path):
    src = os.path.join(DATA, "cycle_and_start")
    status, _, err = noops("package", "build", src, "-o", str(tmp_path / "x.tar.gz"), "--no-lint")
    assert status == 1
    assert err == ["noops: %s/release/target/conf: symlink to absolute path /etc escapes release/target/" % src]


def test_render(noops, tmp_path):
    values = tmp_path / "values.yml"
    values.write_text("name: hello\nuser: work\npath: /home/work/hello\nversion: '2.0'\njob: job.hello\n"
                      "data_path: /data/hello\ndb_passwd: TopSecret99\n")
    out_dir = tmp_path / "out"
    status, out, err = noops("package", "render", HELLO, "--env", "staging", "--values", str(values),
                             "--set", "port=8123", "--release-path", "/home/work/.releases/hello/2.0",
                             "-o", str(out_dir))
    assert (status, err) == (0, [])
    assert out == ["hello /home/work/.releases/hello/2.0/conf/hello.conf mode=0640 type=file secret",
                   "monitor /home/work/.releases/hello/2.0/conf/mon.conf mode=0644 type=mon"]
    conf = out_dir / "home/work/.releases/hello/2.0/conf/hello.conf"
    assert "port = 8123" in conf.read_text() and "password = TopSecret99" in conf.read_text()
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert "TopSecret99" not in "\n".join(out)


@pytest.mark.parametrize("argv, message", [
    (["--env", "qa"], "noops: %s/release/deploy/config.template.yml: env 'qa' has no section (sections: "
                      "production, staging)" % HELLO),
    (["--env", "production", "--set", "path=/p"], "noops: %s/release/deploy/config.template.yml: key 'user': "
                                                  "$<user> has no value in the cluster (known: path)" % HELLO),
    (["--env", "production", "--set", "novalue"], "noops: --set 'novalue': expected KEY=VALUE"),
])
def test_render_errors(noops, tmp_path, argv, message):
    status, out, err = noops("package", "render", HELLO, "-o", str(tmp_path), *argv)
    assert status in (1, 2)
    assert err == [message]


def test_registered_in_the_real_command_list():
    """The installed ``noops`` (all command groups) parses the package commands."""
    args = cli.build_parser().parse_args(["package", "lint", "--json", "a", "b"])
    assert (args.handler.__name__, args.paths, args.json) == ("run_lint", ["a", "b"], True)


@pytest.mark.parametrize("line, rendered, error", [
    ("version: 1.10", "hello from hello 1.10", None),
    ("version: 2", "hello from hello 2", None),
    ("version: '1.10'", "hello from hello 1.10", None),
    ("version: '1'\ndb_passwd: off", None, "noops: {values}:7:12: db_passwd: ********: YAML does not read this plain "
                                           "value as it is written (YAML 1.1 and 1.2 read it differently, or as a "
                                           "number written another way); quote it"),
], ids=["one-ten", "digit", "quoted", "ambiguous-secret"])
def test_render_values_file_as_written(noops, tmp_path, line, rendered, error):
    values = tmp_path / "values.yml"
    values.write_text("name: hello\nuser: work\npath: /home/work/hello\njob: job.hello\ndata_path: /data/hello\n"
                      "%s\n" % line + ("db_passwd: TopSecret99\n" if "db_passwd" not in line else ""))
    status, out, err = noops("package", "render", HELLO, "--env", "production", "--values", str(values),
                             "--set", "port=8123", "--release-path", "/r", "-o", str(tmp_path / "out"))
    if error is None:
        assert (status, err) == (0, [])
        assert "greeting = %s" % rendered in (tmp_path / "out/r/conf/hello.conf").read_text()
    else:
        assert status == 2 and err == [error.format(values=values)]


@pytest.mark.parametrize("rel, data, message", [
    ("release/deploy/config.template.yml", b"base:\n  name: hel\xfflo\n",
     "release/deploy/config.template.yml: not UTF-8 text: byte 0xff at line 2 column 12"),
    ("release/deploy/config.template.yml", b"base:\n  name: \xc3\xa9t\xe9\n",
     "release/deploy/config.template.yml: not UTF-8 text: byte 0xe9 at line 2 column 11"),
    ("release/deploy/init.yml", b"- id: a\n  name: \x80\n",
     "release/deploy/init.yml: not UTF-8 text: byte 0x80 at line 2 column 9"),
], ids=["config-latin1", "config-after-utf8", "init"])
def test_lint_names_bytes_that_are_not_utf8(noops, tmp_path, rel, data, message):
    import shutil
    src = str(tmp_path / "pkg")
    shutil.copytree(HELLO, src, symlinks=True)
    with open(os.path.join(src, *rel.split("/")), "wb") as f:
        f.write(data)
    status, out, err = noops("package", "lint", src)
    assert status == 1
    assert "ERROR %s/%s" % (src, message) in out
    assert err == []
