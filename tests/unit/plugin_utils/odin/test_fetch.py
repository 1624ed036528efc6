"""Package fetch (file, http, ftp-less), cache, checksum, and build from real git repositories made in tmp."""

import functools
import hashlib
import http.server
import multiprocessing
import os
import shutil
import subprocess
import threading

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.odin.fetch import (
    FetchError, build_from_git, fetch_package, git_url, local_path, sha256_file, unpack_once, url_scheme,
)
from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package, lint_package, lint_unpacked
from ansible_collections.noops.platform.plugins.module_utils.package_tar import ERROR, Problem

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
HELLO = os.path.join(ROOT, "examples", "packages", "hello")


@pytest.fixture
def package(tmp_path):
    """A real package tarball (the hello example) and its sha256."""
    out = tmp_path / "pub" / "hello-1.0.tar.gz"
    out.parent.mkdir()
    build_package(HELLO, str(out), version="1.0")
    return str(out), sha256_file(str(out))


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over tmp_path/pub, counting the requests per path."""
    root = tmp_path / "pub"
    root.mkdir(exist_ok=True)
    hits = {}

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            hits[self.path] = hits.get(self.path, 0) + 1
            return super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1], hits
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("url, expected", [
    ("file:///srv/x.tgz", "/srv/x.tgz"),
    ("file://localhost/srv/x.tgz", "/srv/x.tgz"),
    ("file://pkgs/x.tgz", "/base/pkgs/x.tgz"),
    ("file:pkgs/x.tgz", "/base/pkgs/x.tgz"),
    ("file:../x.tgz", "/x.tgz"),
    ("pkgs/x.tgz", "/base/pkgs/x.tgz"),
    ("/srv/x%20y.tgz", "/srv/x%20y.tgz"),
    ("file:///srv/x%20y.tgz", "/srv/x y.tgz"),
    ("https://h/x.tgz", None),
    ("ftp://h/x.tgz", None),
])
def test_local_path(url, expected):
    assert local_path(url, "/base") == expected


@pytest.mark.parametrize("text, expected", [("HTTPS://x", "https"), ("/a:b", ""), ("a/b", ""), ("c:x", "")])
def test_url_scheme(text, expected):
    assert url_scheme(text) == expected


@pytest.mark.parametrize("url, expected", [
    ("repo", "/base/repo"), ("/srv/repo.git", "/srv/repo.git"), ("git@host:team/x.git", "git@host:team/x.git"),
    ("https://host/x.git", "https://host/x.git"), ("file:///srv/r", "file:///srv/r"),
])
def test_git_url(url, expected):
    assert git_url(url, "/base") == expected


def test_file_is_copied_into_the_cache_by_content(package, tmp_path):
    path, sha = package
    fetched = fetch_package("file://" + path, "/", None, str(tmp_path / "cache"))
    assert (fetched.sha256, fetched.origin, fetched.checksum_from) == (sha, "file", None)
    assert fetched.path.startswith(str(tmp_path / "cache" / "packages" / ("sha256-" + sha)))
    os.unlink(path)                                   # the snapshot outlives the source
    assert sha256_file(fetched.path) == sha


def test_relative_file_resolves_against_the_cluster_folder(package, tmp_path):
    path, sha = package
    fetched = fetch_package("pub/hello-1.0.tar.gz", str(tmp_path), None, str(tmp_path / "cache"))
    assert fetched.sha256 == sha


def test_folder_is_packaged_like_noops_package_build(tmp_path):
    expected = tmp_path / "ref.tar.gz"
    build_package(HELLO, str(expected))
    fetched = fetch_package(HELLO, "/", None, str(tmp_path / "cache"))
    assert (fetched.sha256, fetched.origin) == (sha256_file(str(expected)), "folder")
    assert os.path.basename(fetched.path) == "hello.tar.gz"


@pytest.mark.parametrize("make, field, message", [
    (lambda d: None, "pkg_url", "no such file on the controller"),
    (lambda d: os.makedirs(d / "x.tgz"), "pkg_url", "holds no release/"),
])
def test_local_errors(tmp_path, make, field, message):
    make(tmp_path)
    with pytest.raises(FetchError) as err:
        fetch_package("x.tgz", str(tmp_path), None, str(tmp_path / "cache"))
    assert (err.value.field, message in err.value.message) == (field, True)


def test_checksum_mismatch_names_pkg_sha256(package, tmp_path):
    path, sha = package
    with pytest.raises(FetchError) as err:
        fetch_package(path, "/", "0" * 64, str(tmp_path / "cache"))
    assert err.value.field == "pkg_sha256"
    assert err.value.message == "does not match the package: its sha256 is %s" % sha
    assert not os.path.exists(tmp_path / "cache" / "packages" / ("sha256-" + sha))


def test_sha256_file_beside_a_local_package(package, tmp_path):
    path, sha = package
    with open(path + ".sha256", "w") as f:
        f.write("%s  hello-1.0.tar.gz\n" % sha.upper())
    assert fetch_package(path, "/", None, str(tmp_path / "c")).checksum_from == "hello-1.0.tar.gz.sha256"
    with open(path + ".sha256", "w") as f:
        f.write("%s  hello-1.0.tar.gz\n" % ("1" * 64))
    with pytest.raises(FetchError, match="checksum from hello-1.0.tar.gz.sha256"):
        fetch_package(path, "/", None, str(tmp_path / "c"))


def test_http_download_once_then_cache(package, server, tmp_path):
    path, sha = package
    base, hits = server
    url = base + "/hello-1.0.tar.gz"
    first = fetch_package(url, "/", sha, str(tmp_path / "cache"))
    second = fetch_package(url, "/", sha, str(tmp_path / "cache"))
    assert (first.origin, second.origin, first.path, first.sha256) == ("download", "cache", second.path, sha)
    assert hits == {"/hello-1.0.tar.gz": 1}
    assert [n for n in os.listdir(os.path.dirname(first.path)) if n.endswith(".part")] == []


def test_http_refresh_downloads_again_over_the_cache(package, server, tmp_path):
    """A forced rebuild (force_rebuild, noops deploy --rebuild) of a downloaded package fetches it again."""
    path, sha = package
    base, hits = server
    url = base + "/hello-1.0.tar.gz"
    first = fetch_package(url, "/", sha, str(tmp_path / "cache"))
    again = fetch_package(url, "/", sha, str(tmp_path / "cache"), refresh=True)
    assert (first.origin, again.origin, again.path, again.sha256) == ("download", "download", first.path, sha)
    assert hits == {"/hello-1.0.tar.gz": 2}


def test_http_checksum_from_sha256_file_beside(package, server, tmp_path):
    path, sha = package
    base, hits = server
    with open(path + ".sha256", "w") as f:
        f.write(sha + "\n")
    fetched = fetch_package(base + "/hello-1.0.tar.gz", "/", None, str(tmp_path / "cache"))
    assert (fetched.checksum_from, fetched.sha256) == ("<url>.sha256", sha)
    with open(path + ".sha256", "w") as f:
        f.write("2" * 64 + "\n")
    with pytest.raises(FetchError) as err:
        fetch_package(base + "/hello-1.0.tar.gz", "/", None, str(tmp_path / "cache"))
    assert (err.value.field, "(checksum from <url>.sha256: 2222" in err.value.message) == ("pkg_url", True)


def test_http_mismatch_leaves_nothing_in_the_cache(package, server, tmp_path):
    base = server[0]
    with pytest.raises(FetchError, match="does not match"):
        fetch_package(base + "/hello-1.0.tar.gz", "/", "3" * 64, str(tmp_path / "cache"))
    found = [f for walked in os.walk(tmp_path / "cache") for f in walked[2] if not f.endswith(".lock")]
    assert found == []


def test_http_404(server, tmp_path):
    base = server[0]
    with pytest.raises(FetchError, match="download failed: HTTP 404"):
        fetch_package(base + "/nope.tar.gz", "/", None, str(tmp_path / "cache"))


def test_connection_refused(tmp_path):
    with pytest.raises(FetchError, match="download failed"):
        fetch_package("http://127.0.0.1:9/x.tar.gz", "/", "4" * 64, str(tmp_path / "cache"), timeout=5)


def _fetch_in_child(args):
    url, sha, cache = args
    return fetch_package(url, "/", sha, cache).origin


def test_two_runs_at_once_download_once(package, server, tmp_path):
    path, sha = package
    base, hits = server
    args = (base + "/hello-1.0.tar.gz", sha, str(tmp_path / "cache"))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        origins = pool.map(_fetch_in_child, [args, args])
    assert sorted(origins) == ["cache", "download"]
    assert hits == {"/hello-1.0.tar.gz": 1}


# --------------------------------------------------------------------------- build from git

pytestmark_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@x")
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A repository whose service lives in svc/: the build writes release/target/BUILT from the source."""
    path = tmp_path / "src"
    shutil.copytree(HELLO, path / "svc")
    (path / "svc" / "build.sh").write_text("#!/bin/sh\necho building; echo warn >&2\n"
                                           "cat VERSION.in > release/target/BUILT\n")
    (path / "svc" / "VERSION.in").write_text("one\n")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "one")
    return path


def build(repo, tmp_path, **kw):
    kw.setdefault("relative_path", "svc")
    kw.setdefault("build_command", "sh build.sh")
    return build_from_git(str(repo), "/", "hello", cache_dir=str(tmp_path / "cache"), **kw)


@pytestmark_git
def test_build_reuse_and_force_rebuild(repo, tmp_path):
    first = build(repo, tmp_path)
    commit = git(repo, "rev-parse", "HEAD")
    assert (first.commit, first.reused) == (commit, False)
    assert os.path.basename(first.path) == "hello-%s.tar.gz" % commit[:12]
    with open(first.log) as f:
        assert "building" in f.read()
    with open(first.error_log) as f:
        assert f.read() == "warn\n"
    assert os.path.dirname(first.log) == os.path.dirname(first.path)
    again = build(repo, tmp_path)
    assert (again.reused, again.path, again.sha256) == (True, first.path, first.sha256)
    forced = build(repo, tmp_path, force_rebuild=True)
    assert (forced.reused, forced.sha256) == (False, first.sha256)       # same commit, same bytes


@pytestmark_git
def test_new_commit_new_package_and_branches(repo, tmp_path):
    first = build(repo, tmp_path)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "svc" / "VERSION.in").write_text("two\n")
    git(repo, "commit", "-q", "-am", "two")
    assert build(repo, tmp_path).commit == first.commit                  # default branch: still main
    feature = build(repo, tmp_path, branch="feature")
    assert (feature.commit, feature.reused) == (git(repo, "rev-parse", "HEAD"), False)
    git(repo, "tag", "v2")
    assert build(repo, tmp_path, branch="v2").commit == feature.commit
    assert build(repo, tmp_path, branch=first.commit[:10]).commit == first.commit
    import tarfile
    with tarfile.open(feature.path) as tar:
        assert tar.extractfile("release/target/BUILT").read() == b"two\n"
        assert tar.extractfile("release/target/VERSION").read().decode().strip() == feature.commit


@pytestmark_git
@pytest.mark.parametrize("kw, field, message", [
    (dict(build_command="sh -c 'echo compile error >&2; exit 3'"), "build_command",
     "exited with status 3: compile error (logs: "),
    (dict(branch="nosuch"), "branch", "no such branch, tag or commit in the repository"),
    (dict(relative_path="nowhere"), "relative_path", "no such folder in "),
    (dict(relative_path=".", build_command=None), "relative_path", "no release/ folder to build from"),
])
def test_build_errors(repo, tmp_path, kw, field, message):
    with pytest.raises(FetchError) as err:
        build(repo, tmp_path, **kw)
    assert err.value.field == field
    assert message in err.value.message


@pytestmark_git
def test_build_error_log_kept(repo, tmp_path):
    with pytest.raises(FetchError) as err:
        build(repo, tmp_path, build_command="echo out; echo broken >&2; false")
    log = err.value.message.split("logs: ")[1].split(", ")[1].rstrip(")")
    with open(log) as f:
        assert f.read() == "broken\n"


@pytestmark_git
def test_not_a_repository(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(FetchError) as err:
        build_from_git(str(tmp_path / "plain"), "/", "x", cache_dir=str(tmp_path / "cache"))
    assert err.value.field == "code_url" and "git could not fetch" in err.value.message
    with pytest.raises(FetchError, match="no such repository folder"):
        build_from_git("missing", str(tmp_path), "x", cache_dir=str(tmp_path / "cache"))


def test_sha256_file(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert sha256_file(str(tmp_path / "f")) == hashlib.sha256(b"abc").hexdigest()


@pytest.fixture
def ftp_server(tmp_path):
    """An anonymous read-only FTP server on loopback over tmp_path/pub (pyftpdlib, a test dependency)."""
    authorizers = pytest.importorskip("pyftpdlib.authorizers", reason="pyftpdlib is not installed (pip install "
                                      "'.[test]')")
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    (tmp_path / "pub").mkdir(exist_ok=True)
    authorizer = authorizers.DummyAuthorizer()
    authorizer.add_anonymous(str(tmp_path / "pub"))
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
    thread.start()
    yield "ftp://127.0.0.1:%d" % server.address[1]
    server.close_all()


def test_ftp_download_with_checksum_beside(package, ftp_server, tmp_path):
    path, sha = package
    with open(path + ".sha256", "w") as f:
        f.write(sha + "\n")
    fetched = fetch_package(ftp_server + "/hello-1.0.tar.gz", "/", None, str(tmp_path / "cache"))
    assert (fetched.origin, fetched.sha256, fetched.checksum_from) == ("download", sha, "<url>.sha256")
    os.unlink(path + ".sha256")                       # no checksum file: ftp reports it missing, not as an error
    fetched = fetch_package(ftp_server + "/hello-1.0.tar.gz", "/", None, str(tmp_path / "cache2"))
    assert (fetched.sha256, fetched.checksum_from) == (sha, None)
    with pytest.raises(FetchError, match="download failed"):
        fetch_package(ftp_server + "/nosuch.tar.gz", "/", None, str(tmp_path / "cache3"))


# --------------------------------------------------------------------------- the package unpacked once

def _unpack_in_child(args):
    path, sha, cache = args
    unpacked = unpack_once(path, sha, cache)
    return unpacked.root, unpacked.reused


def test_two_runs_at_once_unpack_once(package, tmp_path):
    path, sha = package
    cache = tmp_path / "cache"
    # A temp folder left by a run killed while unpacking is removed by the next one.
    (cache / "packages" / "unpacked" / (".%s.killed" % sha) / "release").mkdir(parents=True)
    args = (path, sha, str(cache))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_unpack_in_child, [args, args])
    root = str(cache / "packages" / "unpacked" / sha)
    assert sorted(results) == [(root, False), (root, True)]
    assert sorted(os.listdir(cache / "packages" / "unpacked")) == [sha, sha + ".lock"]
    assert os.path.isfile(os.path.join(root, "release", "target", "bin", "run.sh"))


def test_unpacked_package_keeps_what_unpacking_left_out(tmp_path):
    """A member refused on unpacking is still reported when a later run reads the unpacked folder."""
    import io
    import tarfile

    built = tmp_path / "hello.tar.gz"
    build_package(HELLO, str(built))
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(built) as src, tarfile.open(evil, "w:gz") as out:
        for m in src.getmembers():
            out.addfile(m, src.extractfile(m) if m.isreg() else None)
        link = tarfile.TarInfo("release/target/conf")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        out.addfile(link)
        bad = tarfile.TarInfo("../escape.txt")
        bad.size = 1
        out.addfile(bad, io.BytesIO(b"x"))
    sha = sha256_file(str(evil))
    first = unpack_once(str(evil), sha, str(tmp_path / "c"))
    again = unpack_once(str(evil), sha, str(tmp_path / "c"))
    assert first.problems == again.problems == [
        Problem(ERROR, "%s/release/target/conf" % evil, "symlink to absolute path /etc escapes release/target/"),
        Problem(ERROR, "%s/../escape.txt" % evil, "member name contains '..'"),
    ]
    assert (first.reused, again.reused, first.root) == (False, True, again.root)
    assert not os.path.lexists(os.path.join(again.root, "release", "target", "conf"))
    assert lint_unpacked(str(evil), again.root, again.problems) == lint_package(str(evil))


def test_unreadable_tarball_is_not_kept(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tarball")
    unpacked = unpack_once(str(bad), "ab" * 32, str(tmp_path / "c"))
    assert unpacked.root is None and [p.path for p in unpacked.problems] == [str(bad)]
    assert os.listdir(tmp_path / "c" / "packages" / "unpacked") == ["ab" * 32 + ".lock"]
