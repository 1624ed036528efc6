"""release_info reads what ``release state=read`` read, changes nothing (check mode or not), and state=read is deprecated."""

import json
import os

import pytest
from ansible.module_utils import _internal
from ansible.module_utils.common import warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package
from ansible_collections.noops.platform.plugins.module_utils.releases import switch
from ansible_collections.noops.platform.plugins.modules import release, release_info

HELLO = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "examples", "packages", "hello")


def run(capsys, module, check=False, **args):
    if check:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def tree(top):
    """Every path below ``top`` with its type, size and mtime: what a read must leave as it was."""
    out = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(folder, name)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns, os.readlink(p) if os.path.islink(p) else None)
    return out


@pytest.fixture
def host(tmp_path):
    class Host:
        root = str(tmp_path)
        path = str(tmp_path / "home/work/hello")
        releases = str(tmp_path / "home/work/.releases/hello")
        package = str(tmp_path / "hello-1.0.tar.gz")

        def stage(self, capsys, name, version):
            for state, more in (("prepare", {}), ("unpack", {"package": self.package}),
                                ("install", {"version": version})):
                out = run(capsys, release, path=self.path, releases_path=self.releases, state=state, release=name,
                          **more)
                assert not out.get("failed"), out
    h = Host()
    build_package(HELLO, h.package, version="1.0")
    return h


def no_host(h, capsys):
    """Nothing deployed yet."""


def one_release(h, capsys):
    h.stage(capsys, "1.0", "1.0")
    switch(h.path, h.releases, "1.0")


def two_releases_and_a_stale_one(h, capsys):
    one_release(h, capsys)
    h.stage(capsys, "2.0", "2.0")
    switch(h.path, h.releases, "2.0")
    os.makedirs(h.releases + "/3.0/junk")  # incomplete: no marker


@pytest.mark.parametrize("situation", [no_host, one_release, two_releases_and_a_stale_one])
@pytest.mark.parametrize("extra", [
    pytest.param({}, id="plain"),
    pytest.param({"version": "1.0"}, id="version"),
    pytest.param({"version": "9.9"}, id="new-version"),
    pytest.param({"process": {"name": "hello", "backend": "supervisord"}}, id="process"),
    pytest.param({"process": {"name": "hello", "backend": "systemd"}}, id="process-systemd"),
])
@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_release_info_returns_what_state_read_did_and_changes_nothing(capsys, host, situation, extra, check):
    situation(host, capsys)
    if "process" in extra:  # a supervisor instance under the host's root, which does not run
        extra = dict(extra, process=dict(extra["process"], root=host.root))
    args = dict(path=host.path, releases_path=host.releases, **extra)
    before = tree(host.root)
    old = run(capsys, release, check=check, state="read", **args)
    info = run(capsys, release_info, check=check, **args)
    assert tree(host.root) == before
    assert not info.get("failed") and info["changed"] is False
    assert "deprecations" not in info
    drop = ("changed", "deprecations", "warnings", "invocation")
    assert {k: v for k, v in info.items() if k not in drop} == {k: v for k, v in old.items() if k not in drop}
    assert ("new_release" in info) == ("version" in extra) and ("process" in info) == ("process" in extra)


def test_state_read_is_deprecated_in_favour_of_release_info(capsys, host, monkeypatch):
    # On a host the deprecation goes into the module's result (under pytest, Ansible would print it instead).
    monkeypatch.setattr(_internal, "is_controller", False)
    for args in ({"state": "read"}, {}):  # read is the default state
        out = run(capsys, release, path=host.path, releases_path=host.releases, **args)
        assert not out.get("failed")
        [dep] = out["deprecations"]
        assert "use noops.platform.release_info" in dep["event"]["msg"] and dep["version"] == "0.3.0", dep
        assert dep["deprecator"]["resolved_name"] == "noops.platform.release", dep
    # Each module run is a process of its own on a host: start from no deprecations.
    monkeypatch.setattr(warnings, "_global_deprecations", {})
    out = run(capsys, release, path=host.path, releases_path=host.releases, state="prune")
    assert "deprecations" not in out


def test_release_info_refuses_the_options_that_change_a_host(capsys, host):
    out = run(capsys, release_info, path=host.path, releases_path=host.releases, state="switch")
    assert out["failed"] and "state" in out["msg"]
