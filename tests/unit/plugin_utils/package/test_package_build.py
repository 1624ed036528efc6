"""The deterministic build, and lint of a tarball with unsafe or unreadable members."""

import hashlib
import os
import tarfile

import pytest

from ansible_collections.noops.platform.plugins.module_utils.package_tar import (
    ERROR, PackageError, Problem, check_tar_members,
)
from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package, lint_package, open_package
from pkgfiles import HELLO, SYM, copy_hello, member, write_tar


def test_lint_tarball_reports_bad_members_and_skips_them(tmp_path):
    built = str(tmp_path / "hello.tar.gz")
    build_package(HELLO, built)
    with tarfile.open(built) as src:
        members = [(m, src.extractfile(m).read() if m.isreg() else None) for m in src.getmembers()]
    evil = tmp_path / "evil.tar.gz"
    write_tar(evil, members + [(member("release/target/conf", SYM, "/etc"), None),
                               (member("../escape.txt"), b"x")])
    problems = lint_package(str(evil))
    assert problems == [
        Problem(ERROR, "%s/release/target/conf" % evil, "symlink to absolute path /etc escapes release/target/"),
        Problem(ERROR, "%s/../escape.txt" % evil, "member name contains '..'"),
    ]
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(PackageError) as e:
        with open_package(str(evil)):
            pass
    assert str(e.value) == "%s/release/target/conf: symlink to absolute path /etc escapes release/target/" % evil


def test_lint_unreadable_tarball(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    [problem] = lint_package(str(bad))
    assert problem.level == ERROR and problem.path == str(bad)
    assert problem.message.startswith("not a readable tarball")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_build_is_deterministic(tmp_path):
    src = copy_hello(tmp_path / "src")
    first = str(tmp_path / "a.tar.gz")
    members = build_package(src, first, version="1.2.3")
    # New mtimes, a byte-code cache and another umask must not change a byte.
    for folder, _, files in os.walk(src):
        for name in files:
            os.utime(os.path.join(folder, name), (1e9, 1e9))
    os.makedirs(os.path.join(src, "release/target/bin/__pycache__"))
    with open(os.path.join(src, "release/target/bin/__pycache__/hello.cpython-311.pyc"), "wb") as f:
        f.write(b"cache")
    os.chmod(os.path.join(src, "release/deploy/init.yml"), 0o600)
    second = str(tmp_path / "b.tar.gz")
    assert build_package(src, second, version="1.2.3") == members
    assert sha(first) == sha(second)
    assert members == sorted(members)
    with tarfile.open(first) as tar:
        infos = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("release/target/VERSION").read() == b"1.2.3\n"
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in infos.values()} == {(0, 0, "", "", 0)}
    assert infos["release/target/bin/run.sh"].mode == 0o755
    assert infos["release/deploy/init.yml"].mode == 0o644
    assert infos["release/target/bin"].isdir() and infos["release/target/bin"].mode == 0o755
    assert not any("__pycache__" in name for name in infos)
    assert check_tar_members(infos.values()) == []
    assert lint_package(first) == []


def test_build_changes_with_content(tmp_path):
    src = copy_hello(tmp_path / "src")
    build_package(src, str(tmp_path / "a.tar.gz"), version="1")
    build_package(src, str(tmp_path / "b.tar.gz"), version="2")
    assert sha(str(tmp_path / "a.tar.gz")) != sha(str(tmp_path / "b.tar.gz"))


def test_build_keeps_inner_symlinks_and_refuses_escaping_ones(tmp_path):
    src = copy_hello(tmp_path / "src")
    os.symlink("hello.py", os.path.join(src, "release/target/bin/hello"))
    build_package(src, str(tmp_path / "ok.tar.gz"))
    with tarfile.open(str(tmp_path / "ok.tar.gz")) as tar:
        link = tar.getmember("release/target/bin/hello")
        assert link.issym() and link.linkname == "hello.py"
    os.symlink("/etc", os.path.join(src, "release/target/etc"))
    with pytest.raises(PackageError) as e:
        build_package(src, str(tmp_path / "bad.tar.gz"))
    assert str(e.value) == "%s/release/target/etc: symlink to absolute path /etc escapes release/target/" % src
    assert not (tmp_path / "bad.tar.gz").exists()
    assert [n for n in os.listdir(str(tmp_path)) if n.startswith(".noops-build")] == []


def test_build_needs_release(tmp_path):
    with pytest.raises(PackageError) as e:
        build_package(str(tmp_path), str(tmp_path / "x.tar.gz"))
    assert str(e.value) == "%s: no release/ folder to build from" % tmp_path
