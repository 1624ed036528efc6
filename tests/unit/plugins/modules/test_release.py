"""The release module's staging states (prepare, unpack, install) on a temporary folder, one call each."""

import json
import os
import tarfile

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package
from ansible_collections.noops.platform.plugins.module_utils.releases import MARKER, current_release, switch
from ansible_collections.noops.platform.plugins.modules import release

HELLO = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "examples", "packages", "hello")


def run(capsys, check=False, **args):
    if check:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        release.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def host(tmp_path):
    class Host:
        path = str(tmp_path / "home/work/hello")
        releases = str(tmp_path / "home/work/.releases/hello")
        data = str(tmp_path / "data/hello")
        package = str(tmp_path / "hello-1.0.tar.gz")

        def args(self, state, **more):
            return dict(path=self.path, releases_path=self.releases, state=state, **more)
    h = Host()
    build_package(HELLO, h.package, version="1.0")
    return h


def test_prepare_unpack_install_make_a_complete_release(capsys, host, tmp_path):
    folders = [host.data + "/log", host.data + "/dict"]
    out = run(capsys, **host.args("prepare", release="1.0", folders=folders))
    assert out["changed"] and not out.get("failed")
    assert all(os.path.isdir(f) for f in folders + [host.releases + "/1.0"])

    out = run(capsys, **host.args("unpack", release="1.0", package=host.package))
    assert out["changed"] and "bin/run.sh" in out["files"]
    assert open(host.releases + "/1.0/VERSION").read() == "1.0\n"
    assert not os.path.exists(host.releases + "/1.0/release")

    staged = tmp_path / "staged.conf"
    staged.write_text("secret = 1\n")
    dest = host.releases + "/1.0/conf/hello.conf"
    outside = str(tmp_path / "etc/hello/extra.conf")
    files = [dict(src=str(staged), dest=dest, mode="0640", secret=True),
             dict(src=str(staged), dest=outside, mode="0644")]
    out = run(capsys, **host.args("install", release="1.0", files=files, version="1.0", marker={"name": "hello"}))
    assert out["changed"] and out["files"] == [dest, outside]
    assert os.stat(dest).st_mode & 0o777 == 0o640 and open(dest).read() == "secret = 1\n"
    assert os.stat(outside).st_mode & 0o777 == 0o644
    marker = json.load(open(host.releases + "/1.0/" + MARKER))
    assert marker["version"] == "1.0" and marker["name"] == "hello"
    assert [r["complete"] for r in out["releases"]] == [True]

    # The same files again change nothing but the marker; without a version, nothing at all.
    assert not run(capsys, **host.args("install", release="1.0", files=files))["changed"]


def test_prepare_starts_a_stale_folder_afresh_and_refuses_the_current_release(capsys, host):
    run(capsys, **host.args("prepare", release="1.0"))
    run(capsys, **host.args("unpack", release="1.0", package=host.package))
    run(capsys, **host.args("install", release="1.0", version="1.0"))
    switch(host.path, host.releases, "1.0")
    out = run(capsys, **host.args("prepare", release="1.0"))
    assert out["failed"] and "is the current one" in out["msg"]

    stale = host.releases + "/2.0"
    os.makedirs(stale + "/junk")
    out = run(capsys, **host.args("prepare", release="2.0"))
    assert out["changed"] and os.listdir(stale) == []
    assert current_release(host.path, host.releases) == "1.0"


def test_unpack_refuses_an_unsafe_package_and_a_complete_release(capsys, host, tmp_path):
    evil = str(tmp_path / "evil.tar.gz")
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("release/target/conf")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(info)
    run(capsys, **host.args("prepare", release="1.0"))
    out = run(capsys, **host.args("unpack", release="1.0", package=evil))
    assert out["failed"] and out["msg"] == "%s/release/target/conf: symlink to absolute path /etc escapes release/target/" % evil
    assert os.listdir(host.releases + "/1.0") == []

    run(capsys, **host.args("unpack", release="1.0", package=host.package))
    run(capsys, **host.args("install", release="1.0", version="1.0"))
    out = run(capsys, **host.args("unpack", release="1.0", package=host.package))
    assert out["failed"] and "is complete already" in out["msg"]


def test_check_mode_changes_nothing(capsys, host):
    out = run(capsys, check=True, **host.args("prepare", release="1.0", folders=[host.data + "/log"]))
    assert out["changed"] and not os.path.exists(host.releases) and not os.path.exists(host.data)


def test_bad_release_name_and_file_entry(capsys, host):
    out = run(capsys, **host.args("prepare", release="../x"))
    assert out["failed"] and "must be a plain folder name" in out["msg"]
    out = run(capsys, **host.args("install", release="1.0", files=[{"src": "/nope", "dest": "relative"}]))
    assert out["failed"] and "absolute dest" in out["msg"]


def test_read_reports_the_process_or_why_it_could_not(capsys, host, tmp_path):
    out = run(capsys, **host.args("read", process=dict(name="hello", backend="supervisord", root=str(tmp_path))))
    assert not out.get("failed") and out["current"] is None
    assert out["process"]["name"] == "hello"
    assert out["process"]["error"].startswith("supervisord for %s/etc/noops/supervisor/supervisord/supervisord.conf "
                                              "is not running: could not find config file" % tmp_path)
    out = run(capsys, **host.args("read", process=dict(name="hello", backend="systemd", root=str(tmp_path))))
    assert "systemd is one per machine" in out["process"]["error"]
    assert "process" not in run(capsys, **host.args("read"))


def stage(capsys, host, release, version):
    run(capsys, **host.args("prepare", release=release))
    run(capsys, **host.args("unpack", release=release, package=host.package))
    run(capsys, **host.args("install", release=release, version=version))


def test_a_redeploy_of_the_previous_version_keeps_its_complete_release(capsys, host):
    """v1 and v2 on the host, v2 live: staging v1 again neither empties nor removes the complete v1."""
    stage(capsys, host, "1.0", "1.0")
    switch(host.path, host.releases, "1.0")
    stage(capsys, host, "2.0", "2.0")
    switch(host.path, host.releases, "2.0")
    v1 = sorted(os.listdir(host.releases + "/1.0"))

    out = run(capsys, **host.args("read", version="1.0"))
    assert out["previous"] == "1.0" and out["new_release"].startswith("1.0-") and out["new_release"] != "1.0"
    for check in (True, False):
        out = run(capsys, check=check, **host.args("prepare", release="1.0"))
        assert out["failed"] and "is complete: a new copy needs a new folder" in out["msg"]
        assert sorted(os.listdir(host.releases + "/1.0")) == v1

    fresh = run(capsys, **host.args("read", version="1.0"))["new_release"]
    stage(capsys, host, fresh, "1.0")
    assert sorted(os.listdir(host.releases + "/1.0")) == v1
    assert run(capsys, **host.args("read"))["previous"] == "1.0"


def test_absent_removes_a_release_but_never_the_current_one(capsys, host):
    stage(capsys, host, "1.0", "1.0")
    stage(capsys, host, "2.0", "2.0")
    switch(host.path, host.releases, "2.0")
    out = run(capsys, **host.args("absent", release="2.0"))
    assert out["failed"] and "is the current one" in out["msg"] and os.path.isdir(host.releases + "/2.0")
    out = run(capsys, check=True, **host.args("absent", release="1.0"))
    assert out["changed"] and os.path.isdir(host.releases + "/1.0")
    out = run(capsys, **host.args("absent", release="1.0"))
    assert out["changed"] and [r["name"] for r in out["releases"]] == ["2.0"]
    assert not run(capsys, **host.args("absent", release="1.0"))["changed"]


def test_check_mode_of_each_staging_state_on_a_host_without_the_release(capsys, host, tmp_path):
    """Each step in check mode reports what it would do although the step before it changed nothing."""
    staged = tmp_path / "staged.conf"
    staged.write_text("x = 1\n")
    files = [dict(src=str(staged), dest=host.releases + "/1.0/conf/hello.conf", mode="0640")]
    steps = [("prepare", dict(folders=[host.data + "/log"])), ("unpack", dict(package=host.package)),
             ("install", dict(files=files, version="1.0", marker={"name": "hello"}))]
    for state, more in steps:
        out = run(capsys, check=True, **host.args(state, release="1.0", **more))
        assert out["changed"] and not out.get("failed"), (state, out)
    assert "bin/run.sh" in run(capsys, check=True, **host.args("unpack", release="1.0", package=host.package))["files"]
    assert not os.path.exists(host.releases) and not os.path.exists(host.data)

    evil = str(tmp_path / "evil.tar.gz")
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("release/target/conf")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(info)
    out = run(capsys, check=True, **host.args("unpack", release="1.0", package=evil))
    assert out["failed"] and "escapes release/" in out["msg"]
