"""Package files as written: config.template.yml values and init.yml modes mean what they say, in render and lint."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.package import Package, lint_package, render_package
from ansible_collections.noops.platform.plugins.module_utils.package_tar import ERROR, PackageError
from pkgfiles import minimal, write_package

VALUES = {"path": "/home/work/dch", "user": "work", "name": "dch", "version": "1", "job": "job.dch",
          "data_path": "/data/dch"}
RELEASE = "/home/work/.releases/dch/1"
INIT = "app:\n  name: /etc/app.conf\n  source: app.conf.j2\n"
CONFIG = "base:\n  basedir: \"$<path>\"\n  mod_start: \"${basedir}/bin/run.sh\"\n  %s\nproduction: {}\n"


@pytest.mark.parametrize("line, rendered, error", [
    ("value: NO", None, 'line 4 column 10: base.value: NO: YAML 1.1 reads this as the boolean false, YAML 1.2 as '
                        'the text NO; quote it ("NO") for the text, or write false'),
    ("value: off", None, 'line 4 column 10: base.value: off: YAML 1.1 reads this as the boolean false, YAML 1.2 as '
                         'the text off; quote it ("off") for the text, or write false'),
    ("value: 1.10", None, 'line 4 column 10: base.value: 1.10: YAML reads this as the number 1.1; quote it ("1.10") '
                          'to keep the text, or write 1.1'),
    ("value: \"NO\"", "NO", None),
    ("value: 'off'", "off", None),
    ("value: '1.10'", "1.10", None),
    ("value: false", "False", None),
    ("value: 1.5", "1.5", None),
    ("value: 2024-01-01", "2024-01-01", None),
], ids=["no", "off", "one-ten", "quoted-no", "quoted-off", "quoted-one-ten", "boolean", "float", "date"])
def test_config_values_render_as_written_or_are_refused(tmp_path, line, rendered, error):
    root = write_package(tmp_path / "p", minimal(config=CONFIG % line, init=INIT,
                                                 templates={"app.conf.j2": "{{ value }}"}))
    where = "%s/release/deploy/config.template.yml" % root
    if error is None:
        [file] = render_package(Package(root), "production", VALUES, RELEASE).files
        assert file.content == rendered
        assert [p for p in lint_package(root) if p.level == ERROR] == []
    else:
        with pytest.raises(PackageError) as e:
            render_package(Package(root), "production", VALUES, RELEASE)
        assert (e.value.path, e.value.message) == (where, error)
        assert [tuple(p) for p in lint_package(root) if p.level == ERROR] == [(ERROR, where, error)]


def test_lint_reports_every_ambiguous_value_at_once(tmp_path):
    root = write_package(tmp_path / "p", minimal(config=CONFIG % "a: NO\n  b: off\n  c: [yes, 007]", init=INIT,
                                                 templates={"app.conf.j2": "{{ a }}{{ b }}{{ c }}"}))
    errors = [p.message.split(": ")[1] for p in lint_package(root) if p.level == ERROR]
    assert errors == ["base.a", "base.b", "base.c[0]", "base.c[1]"]


@pytest.mark.parametrize("line, mode, error", [
    ("mode: 640", "0640", None),
    ("mode: 0640", "0640", None),
    ("mode: '640'", "0640", None),
    ("mode: 0o640", "0640", None),
    ("mode: 755", "0755", None),
    ("mode: 600", "0600", None),
    ("mode: 0600", "0600", None),
    ("mode: 888", None, "entry 'app': field 'mode' '888': not an octal file mode"),
    ("mode: 6.4", None, "entry 'app': field 'mode' '6.4': not an octal file mode"),
    ("mode: yes", None, "entry 'app': field 'mode' 'yes': not an octal file mode"),
    ("mode: 4755", None, "entry 'app': field 'mode' '4755': setuid, setgid and sticky bits are not allowed on a rendered file; write the permission bits alone, e.g. 0755"),
    ("mode: 2750", None, "entry 'app': field 'mode' '2750': setuid, setgid and sticky bits are not allowed on a rendered file; write the permission bits alone, e.g. 0750"),
    ("mode: 1777", None, "entry 'app': field 'mode' '1777': setuid, setgid and sticky bits are not allowed on a rendered file; write the permission bits alone, e.g. 0777"),
    ("mode: 07777", None, "entry 'app': field 'mode' '07777': setuid, setgid and sticky bits are not allowed on a rendered file; write the permission bits alone, e.g. 0777"),
    ("mode: 0o4640", None, "entry 'app': field 'mode' '0o4640': setuid, setgid and sticky bits are not allowed on a rendered file; write the permission bits alone, e.g. 0640"),
    ("mode: 0", None, "entry 'app': field 'mode' '0': the owner could not read the file; give the owner read permission, e.g. 0640"),
    ("mode: 0200", None, "entry 'app': field 'mode' '0200': the owner could not read the file; give the owner read permission, e.g. 0640"),
    ("mode: 0400", "0400", None),
], ids=["640", "0640", "quoted", "0o640", "755", "600", "0600", "eight", "float", "word", "setuid", "setgid",
        "sticky", "all-special", "setuid-0o", "zero", "write-only", "read-only"])
def test_init_modes_given_as_digits_are_octal(tmp_path, line, mode, error):
    root = write_package(tmp_path / "p", minimal(config=CONFIG % "x: 1", init=INIT + "  %s\n" % line,
                                                 templates={"app.conf.j2": "x"}))
    where = "%s/release/deploy/init.yml" % root
    lint_errors = [tuple(p) for p in lint_package(root) if p.level == ERROR]
    if error is None:
        [file] = render_package(Package(root), "production", VALUES, RELEASE).files
        assert file.mode == mode
        assert lint_errors == []
    else:
        with pytest.raises(PackageError) as e:
            render_package(Package(root), "production", VALUES, RELEASE)
        assert (e.value.path, e.value.message) == (where, error)
        assert lint_errors == [(ERROR, where, error)]


def test_init_owner_digits_are_text(tmp_path):
    root = write_package(tmp_path / "p", minimal(config=CONFIG % "x: 1", init=INIT + "  owner: 1000\n",
                                                 templates={"app.conf.j2": "x"}))
    [file] = render_package(Package(root), "production", VALUES, RELEASE).files
    assert file.owner == "1000"
