"""check_tar_members (the unpack guard of the host and of lint) and unpack_target (the release module's unpack)."""

import os
import tarfile

import pytest

from ansible_collections.noops.platform.plugins.module_utils.package_tar import (
    ERROR, WARNING, PackageError, Problem, check_tar_members, unpack_target,
)
from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package, lint_package, open_package
from pkgfiles import DIR, HELLO, LNK, SYM, member, write_tar


@pytest.mark.parametrize("members, problems", [
    ([member("release", DIR), member("release/target/bin/run.sh", mode=0o755)], []),
    ([member("./release/target/a")], []),
    ([member("release/target/lib.so", SYM, "lib.so.1")], []),
    ([member("release/target/bin/x", SYM, "../lib/x")], []),
    ([member("release/target/a"), member("release/target/b", LNK, "release/target/a")], []),
    ([member("/etc/passwd")], [(ERROR, "/etc/passwd", "absolute member name")]),
    ([member("release/../../x")], [(ERROR, "release/../../x", "member name contains '..'")]),
    ([member("release/target/../../x")], [(ERROR, "release/target/../../x", "member name contains '..'")]),
    ([member("other/file")], [(ERROR, "other/file", "member outside release/")]),
    ([member("release/target/s", SYM, "/etc/shadow")],
     [(ERROR, "release/target/s", "symlink to absolute path /etc/shadow escapes release/target/")]),
    ([member("release/target/s", SYM, "../../../etc")],
     [(ERROR, "release/target/s", "symlink to ../../../etc escapes release/target/")]),
    ([member("release/s", SYM, "../release-other/x")],
     [(ERROR, "release/s", "symlink to ../release-other/x escapes release/")]),
    ([member("release/target/h", LNK, "/etc/shadow")],
     [(ERROR, "release/target/h", "hard link to /etc/shadow escapes release/target/")]),
    ([member("release/target/h", LNK, "release/../etc/shadow")],
     [(ERROR, "release/target/h", "hard link to release/../etc/shadow escapes release/target/")]),
    ([member("release/target/h", LNK, "release/target/later"), member("release/target/later")],
     [(ERROR, "release/target/h", "hard link to release/target/later, which is not an earlier member")]),
    ([member("release/target/dev", tarfile.CHRTYPE)], [(ERROR, "release/target/dev", "device file not allowed "
                                                        "in a package")]),
    ([member("release/target/blk", tarfile.BLKTYPE)], [(ERROR, "release/target/blk", "device file not allowed "
                                                        "in a package")]),
    ([member("release/target/fifo", tarfile.FIFOTYPE)], [(ERROR, "release/target/fifo", "fifo not allowed in a "
                                                                                        "package")]),
    ([member("release/target/bin/su", mode=0o4755)],
     [(WARNING, "release/target/bin/su", "setuid/setgid bit set (mode 4755)")]),
], ids=["ok", "dot-slash", "sym-sibling", "sym-up-inside", "hardlink-earlier", "absolute", "dotdot",
        "dotdot-deep", "outside-root", "sym-absolute", "sym-escape", "sym-prefix-trick", "hard-absolute",
        "hard-dotdot", "hard-forward", "chr-device", "blk-device", "fifo", "setuid"])
def test_check_tar_members(members, problems):
    assert check_tar_members(members) == [Problem(*p) for p in problems]


def test_unpack_target_strips_the_prefix_and_keeps_modes_and_links(tmp_path):
    built = str(tmp_path / "hello.tar.gz")
    build_package(HELLO, built, version="7.0")
    with tarfile.open(built) as src:
        members = [(m, src.extractfile(m).read() if m.isreg() else None) for m in src.getmembers()]
    extra = [(member("./release/target/lib/a.so.1"), b"so"), (member("release/target/lib/a.so", SYM, "a.so.1"), None),
             (member("release/target/lib/hard", LNK, "release/target/lib/a.so.1"), None)]
    tar = write_tar(tmp_path / "pkg.tar.gz", members + extra)
    dest = tmp_path / "rel"
    dest.mkdir()
    written = unpack_target(tar, str(dest))
    assert "bin/run.sh" in written and "VERSION" in written
    assert (dest / "VERSION").read_text() == "7.0\n"
    assert os.stat(dest / "bin/run.sh").st_mode & 0o777 == 0o755
    assert os.readlink(dest / "lib/a.so") == "a.so.1"
    assert (dest / "lib/hard").read_bytes() == b"so"
    assert not (dest / "release").exists() and not (dest / "deploy").exists()
    assert not (dest / "config.template.yml").exists()


@pytest.mark.parametrize("bad, message", [
    (member("release/target/conf", SYM, "/etc"), "symlink to absolute path /etc escapes release/target/"),
    (member("release/target/../../x"), "member name contains '..'"),
    (member("release/target/h", LNK, "/etc/shadow"), "hard link to /etc/shadow escapes release/target/"),
    (member("release/target/dev", tarfile.CHRTYPE), "device file not allowed in a package"),
], ids=["sym-absolute", "dotdot", "hard-absolute", "device"])
def test_unpack_target_writes_nothing_when_a_member_is_unsafe(tmp_path, bad, message):
    tar = write_tar(tmp_path / "evil.tar.gz", [(member("release/target/a"), b"a"), (bad, None)])
    dest = tmp_path / "rel"
    dest.mkdir()
    with pytest.raises(PackageError) as e:
        unpack_target(tar, str(dest))
    assert e.value.message == message and e.value.path == "%s/%s" % (tar, bad.name)
    assert os.listdir(dest) == []


def test_unpack_target_without_target_or_tarball(tmp_path):
    tar = write_tar(tmp_path / "empty.tar.gz", [(member("release/deploy/init.yml"), b"[]")])
    with pytest.raises(PackageError, match="no release/target/ in the package"):
        unpack_target(tar, str(tmp_path))
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"junk")
    with pytest.raises(PackageError, match="not a readable tarball"):
        unpack_target(str(junk), str(tmp_path))


# -- the root entry of `tar -C dir .`, and links under release/target/ judged against release/target/ -----------

@pytest.mark.parametrize("members, problems", [
    ([member(".", DIR), member("./release", DIR), member("./release/target/a")], []),
    ([member("./", DIR), member("./release/target/a")], []),
    ([member(".", SYM, "/etc")], [(ERROR, ".", "member outside release/")]),
    ([member(".")], [(ERROR, ".", "member outside release/")]),
    ([member("release/target/up", SYM, "..")], [(ERROR, "release/target/up", "symlink to .. escapes release/target/")]),
    ([member("release/target/conf", SYM, "../deploy/config.template.yml")],
     [(ERROR, "release/target/conf", "symlink to ../deploy/config.template.yml escapes release/target/")]),
    ([member("release/target/bin/up", SYM, "..")], []),
    ([member("release/target/bin/top", SYM, "../..")],
     [(ERROR, "release/target/bin/top", "symlink to ../.. escapes release/target/")]),
    ([member("release/deploy/prog", SYM, "../target/bin")], []),
    ([member("release/deploy/a"), member("release/target/h", LNK, "release/deploy/a")],
     [(ERROR, "release/target/h", "hard link to release/deploy/a escapes release/target/")]),
    ([member("release/target/self", SYM, "."), member("release/target/out", SYM, "self/..")],
     [(ERROR, "release/target/out", "symlink to self/.. escapes release/target/")]),
    ([member("release/target/a", SYM, "z/.."), member("release/target/z", SYM, ".")],
     [(ERROR, "release/target/a", "symlink to z/.. escapes release/target/")]),
    ([member("release/target/p", SYM, "q"), member("release/target/q", SYM, "p")],
     [(ERROR, "release/target/p", "symlink to q loops through the package's symlinks"),
      (ERROR, "release/target/q", "symlink to p loops through the package's symlinks")]),
    ([member("release/target/sub", DIR), member("release/target/d", SYM, "sub"), member("release/target/d/x")],
     [(ERROR, "release/target/d/x", "member placed through the symlink release/target/d")]),
    ([member("release/target/l", SYM, "a"), member("release/target/l")],
     [(ERROR, "release/target/l", "member written over the symlink of the same name")]),
    ([member("release/target/bin", DIR), member("release/target/a", SYM, "../target/bin")],
     [(ERROR, "release/target/a", "symlink to ../target/bin escapes release/target/")]),
    ([member("release/target/bin", DIR), member("release/x", SYM, "target/bin"),
      member("release/target/s", SYM, "../x")],
     [(ERROR, "release/target/s", "symlink to ../x escapes release/target/")]),
    ([member("release/target/bin", DIR), member("release/target/bin/b", SYM, "../../target/bin")],
     [(ERROR, "release/target/bin/b", "symlink to ../../target/bin escapes release/target/")]),
    ([member("release/target/bin", DIR), member("release/target/u", SYM, "bin/../../target")],
     [(ERROR, "release/target/u", "symlink to bin/../../target escapes release/target/")]),
    ([member("release/target/bin", DIR), member("release/target/up", SYM, "bin/.."),
      member("release/target/w", SYM, "up/../target")],
     [(ERROR, "release/target/w", "symlink to up/../target escapes release/target/")]),
], ids=["dot-root", "dot-slash-root", "dot-symlink", "dot-file", "target-up", "target-to-deploy", "target-sub-up",
        "target-sub-top", "deploy-to-target", "hard-target-to-deploy", "chain-through-self", "chain-through-later", "loop",
        "through-symlink",
        "over-symlink", "target-out-and-back", "target-two-hops-back", "target-sub-out-and-back",
        "target-dir-out-and-back", "target-chain-out-and-back"])
def test_check_tar_members_root_entry_and_target_links(members, problems):
    assert check_tar_members(members) == [Problem(*p) for p in problems]


TARGET_CASES = {
    "dot-root": [(member(".", DIR), None), (member("./release", DIR), None)],
    "target-up": [(member("release/target/up", SYM, ".."), None)],
    "target-to-deploy": [(member("release/target/conf", SYM, "../deploy/config.template.yml"), None)],
    "chain-through-self": [(member("release/target/self", SYM, "."), None),
                           (member("release/target/out", SYM, "self/.."), None)],
    "inner-link": [(member("release/target/bin/hi", SYM, "run.sh"), None)],
    "out-and-back": [(member("release/target/a", SYM, "../target/bin"), None)],
    "two-hops-back": [(member("release/x", SYM, "target/bin"), None), (member("release/target/s", SYM, "../x"), None)],
    "sub-out-and-back": [(member("release/target/bin/b", SYM, "../../target/bin"), None)],
    "chain-out-and-back": [(member("release/target/up", SYM, "bin/.."), None),
                           (member("release/target/w", SYM, "up/../target/bin"), None)],
}


@pytest.mark.parametrize("case", sorted(TARGET_CASES))
def test_lint_open_and_host_unpack_agree(tmp_path, case):
    """What lint accepts the host unpacks; what a host would refuse, lint and the controller refuse first."""
    built = str(tmp_path / "hello.tar.gz")
    build_package(HELLO, built, version="1.0")
    with tarfile.open(built) as src:
        members = [(m, src.extractfile(m).read() if m.isreg() else None) for m in src.getmembers()]
    tar = write_tar(tmp_path / "pkg.tar.gz", TARGET_CASES[case] + members)
    lint_errors = [p for p in lint_package(tar) if p.level == ERROR]
    try:
        with open_package(tar):
            opened = True
    except PackageError:
        opened = False
    dest = tmp_path / "rel"
    dest.mkdir()
    try:
        unpack_target(tar, str(dest))
        unpacked = True
    except PackageError:
        unpacked = False
    assert (not lint_errors, opened) == (unpacked, unpacked), lint_errors
    assert unpacked == (case in ("dot-root", "inner-link"))
    if not unpacked:
        assert list(dest.iterdir()) == [], "a refused package must leave nothing written"


# -- Pythons before 3.11.4 (Debian 12's 3.11.2, an execution environment's controller): tarfile has no extraction
# filters; check_tar_members is then the guard, on the controller as on the host -----------------------------

@pytest.fixture
def python_without_extraction_filters(monkeypatch):
    for name in ("data_filter", "tar_filter", "FilterError"):
        monkeypatch.delattr(tarfile, name, raising=False)
    plain = tarfile.TarFile.extractall

    def extractall(self, path=".", members=None, *, numeric_owner=False, **kwargs):
        assert not kwargs, "extractall() got an unexpected keyword argument %r" % sorted(kwargs)[0]
        return plain(self, path, members, numeric_owner=numeric_owner)

    monkeypatch.setattr(tarfile.TarFile, "extractall", extractall)


def unpack_controller(tar, dest):
    """The controller's unpack of a whole package (open_package, as odin_prepare and lint use it)."""
    with open_package(tar) as package:
        return sorted(os.path.relpath(os.path.join(d, f), package.root) for d, _, fs in os.walk(package.root)
                      for f in fs)


@pytest.mark.parametrize("unpack", [unpack_target, unpack_controller], ids=["host", "controller"])
def test_unpack_on_a_python_without_extraction_filters(tmp_path, python_without_extraction_filters, unpack):
    built = str(tmp_path / "hello.tar.gz")
    build_package(HELLO, built, version="7.0")
    dest = tmp_path / "rel"
    dest.mkdir()
    written = unpack(built, str(dest))
    assert "VERSION" in written or "release/target/VERSION" in written, written
    evil = write_tar(tmp_path / "evil.tar.gz", [(member("release/target/a"), b"a"),
                                                  (member("release/target/s", SYM, "/etc"), None)])
    with pytest.raises(PackageError, match="symlink to absolute path /etc escapes release/target/"):
        unpack(evil, str(dest))
