# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Odin's package on the controller: fetch once into a cache and verify, or build from git.

    ${XDG_CACHE_HOME:-~/.cache}/noops/packages/<url hash>-<sha256>/<file>    downloaded packages
    ${XDG_CACHE_HOME:-~/.cache}/noops/packages/sha256-<sha256>/<file>        local files and folders, by content
    ${XDG_CACHE_HOME:-~/.cache}/noops/packages/unpacked/<sha256>/release/   a package unpacked once, by content
    ${XDG_CACHE_HOME:-~/.cache}/noops/build/<url hash>/repo                  a clone of code_url
    ${XDG_CACHE_HOME:-~/.cache}/noops/build/<url hash>/<commit12>/           <name>-<commit12>.tar.gz, build.log,
                                                                              build-error.log

Every file (and every unpacked package folder) appears in the cache by rename of a complete temp file (folder),
and each cache entry is filled under an
exclusive ``flock``, so two runs at once download or build once and never see half a file.
Errors are ``FetchError(field, message)``: the cluster.yml field to blame, without its value.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import typing as t
import urllib.error
import urllib.parse

from ansible.module_utils.urls import open_url

from ansible_collections.noops.platform.plugins.plugin_utils.package import TAR_SUFFIXES, build_package, unpack_package
from ansible_collections.noops.platform.plugins.module_utils.package_tar import RELEASE_DIR, PackageError, Problem

CHUNK = 1 << 20
DEFAULT_TIMEOUT = 60
USER_AGENT = "noops-odin"
REMOTE_SCHEMES = ("http", "https", "ftp")
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
# Beside release/ in an unpacked package: what unpack_package found (members left out), for the lint of a later run.
UNPACK_PROBLEMS = "unpack-problems.json"


class FetchError(Exception):
    """A package that cannot be had; ``field`` is the cluster.yml key to blame (pkg_url, pkg_sha256, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Fetched(t.NamedTuple):
    path: str               # the package in the cache (a .tar.gz on the controller)
    sha256: str
    origin: str             # "download", "cache", "file" or "folder"
    checksum_from: str | None   # "pkg_sha256", "<url>.sha256" or None (nothing to verify against)


class Unpacked(t.NamedTuple):
    root: str | None        # the folder holding release/ (None: the tarball could not be read)
    problems: list[Problem]  # unpack_package's problems, paths under the tarball's path (unsafe members left out)
    reused: bool            # True when an earlier run had unpacked it


class Built(t.NamedTuple):
    path: str
    sha256: str
    commit: str
    log: str
    error_log: str
    reused: bool


def cache_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "noops")


def url_scheme(text: str) -> str:
    """The lower-case scheme of ``text``, or "" for a plain path ("pkgs/x.tgz", "/srv/x.tgz")."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", text)
    return match.group(1).lower() if match and len(match.group(1)) > 1 else ""


def local_path(url: str, base_dir: str) -> str | None:
    """The controller path a file URL or plain path names; None for a remote URL.

    ``file:///srv/x.tgz`` and ``file://localhost/srv/x.tgz`` are absolute; ``file://pkgs/x.tgz``,
    ``file:pkgs/x.tgz`` and a plain ``pkgs/x.tgz`` are relative to ``base_dir`` (the cluster file's folder).
    """
    scheme = url_scheme(url)
    if scheme in REMOTE_SCHEMES:
        return None
    if scheme == "file":
        rest = url[len("file:"):]
        if rest.startswith("//"):
            rest = rest[2:]
            if rest.startswith("localhost/"):
                rest = rest[len("localhost"):]
        path = urllib.parse.unquote(rest)
    else:
        path = url
    path = os.path.expanduser(path)
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base_dir, path))


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def locked(path: str) -> t.Iterator[None]:
    """An exclusive flock on ``path`` (created if needed): concurrent runs fill a cache entry one at a time."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _publish(tmp: str, dest: str) -> None:
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)


@contextlib.contextmanager
def _written_beside(dest: str) -> t.Iterator[tuple[t.BinaryIO, str]]:
    """(open file, its path): a temporary file beside ``dest`` that becomes ``dest`` when the block succeeds and
    is removed when it fails, so that ``dest`` is always a whole file or absent."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), suffix=".part", dir=os.path.dirname(dest))
    try:
        with os.fdopen(fd, "wb") as out:
            yield out, tmp
        _publish(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _package_file_name(url_path: str) -> str:
    name = os.path.basename(url_path.rstrip("/")) or "package.tar.gz"
    return name if name.endswith(TAR_SUFFIXES) else name + ".tar.gz"


# --------------------------------------------------------------------------- pkg_url

def fetch_package(url: str, base_dir: str, expected_sha256: str | None = None, cache_dir: str | None = None,
                  timeout: float = DEFAULT_TIMEOUT, refresh: bool = False) -> Fetched:
    """The package ``url`` names, in the cache and verified against ``expected_sha256`` or ``<url>.sha256``.

    ``refresh``: download a remote package again even when the cache holds it (a forced rebuild); a local file or
    folder is read afresh every time anyway. ``timeout`` is in seconds. Raises FetchError.
    """
    cache = os.path.join(cache_dir or cache_root(), "packages")
    path = local_path(url, base_dir)
    if path is not None:
        return _fetch_local(path, cache, expected_sha256)
    return _fetch_remote(url, cache, expected_sha256, timeout, refresh)


def _fetch_local(path: str, cache: str, expected: str | None) -> Fetched:
    if os.path.isdir(path):
        if not os.path.isdir(os.path.join(path, RELEASE_DIR)):
            raise FetchError("pkg_url", "folder %s holds no release/ (a package folder or a .tar.gz is needed)" % path)
        return _pack_folder(path, cache, expected)
    if not os.path.isfile(path):
        raise FetchError("pkg_url", "no such file on the controller (%s)" % path)
    checksum_from = "pkg_sha256" if expected else None
    if not expected and os.path.isfile(path + ".sha256"):
        expected, checksum_from = _read_sha256_file(path + ".sha256", os.path.basename(path) + ".sha256"), \
            os.path.basename(path) + ".sha256"
    try:
        actual = sha256_file(path)
    except OSError as e:
        raise FetchError("pkg_url", "cannot read %s: %s" % (path, e.strerror)) from e
    _verify(actual, expected, checksum_from)
    # A snapshot by content: the file may be rebuilt in place while the rollout still copies it to hosts.
    dest = os.path.join(cache, "sha256-" + actual, _package_file_name(path))
    with locked(os.path.join(cache, "sha256-%s.lock" % actual)):
        if not os.path.isfile(dest):
            with _written_beside(dest) as (out, tmp):
                with open(path, "rb") as src:
                    shutil.copyfileobj(src, out, CHUNK)
                out.flush()
                if sha256_file(tmp) != actual:
                    raise FetchError("pkg_url", "%s changed while it was copied; try again" % path)
    return Fetched(dest, actual, "file", checksum_from)


def _pack_folder(path: str, cache: str, expected: str | None) -> Fetched:
    """A package folder is packaged as ``noops package build`` does (same bytes for the same tree)."""
    os.makedirs(cache, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".folder-", suffix=".tar.gz", dir=cache)
    os.close(fd)
    try:
        try:
            build_package(path, tmp)
        except (PackageError, OSError) as e:
            raise FetchError("pkg_url", "cannot package the folder: %s" % e) from e
        actual = sha256_file(tmp)
        _verify(actual, expected, "pkg_sha256" if expected else None)
        dest = os.path.join(cache, "sha256-" + actual, os.path.basename(path.rstrip("/")) + ".tar.gz")
        with locked(os.path.join(cache, "sha256-%s.lock" % actual)):
            if not os.path.isfile(dest):
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                _publish(tmp, dest)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return Fetched(dest, actual, "folder", "pkg_sha256" if expected else None)


def _fetch_remote(url: str, cache: str, expected: str | None, timeout: float, refresh: bool = False) -> Fetched:
    checksum_from = "pkg_sha256" if expected else None
    if not expected:
        expected = _remote_sha256(url, timeout)
        checksum_from = "<url>.sha256" if expected else None
    url_key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    entry = os.path.join(cache, "%s-%s" % (url_key, expected.lower() if expected else "unverified"))
    dest = os.path.join(entry, _package_file_name(urllib.parse.urlsplit(url).path))
    with locked(entry + ".lock"):
        if os.path.isfile(dest) and not refresh:
            actual = sha256_file(dest)
            if not expected or actual == expected.lower():
                return Fetched(dest, actual, "cache", checksum_from)
            os.unlink(dest)             # a damaged cache entry: fetch it again
        with _written_beside(dest) as (out, dummy):
            digest = hashlib.sha256()
            for chunk in _download(url, timeout):
                digest.update(chunk)
                out.write(chunk)
            actual = digest.hexdigest()
            _verify(actual, expected, checksum_from)
    return Fetched(dest, actual, "download", checksum_from)


def _verify(actual: str, expected: str | None, checksum_from: str | None) -> None:
    if expected and actual != expected.lower():
        field = "pkg_sha256" if checksum_from == "pkg_sha256" else "pkg_url"
        where = "" if field == "pkg_sha256" else " (checksum from %s: %s)" % (checksum_from, expected.lower())
        raise FetchError(field, "does not match the package: its sha256 is %s%s" % (actual, where))


def _download(url: str, timeout: float) -> t.Iterator[bytes]:
    try:
        # Ansible's opener: certificate checks, proxies from the environment, and ftp through urllib's handler.
        with open_url(url, timeout=timeout, http_agent=USER_AGENT) as response:
            yield from iter(lambda: response.read(CHUNK), b"")
    except urllib.error.HTTPError as e:
        raise FetchError("pkg_url", "download failed: HTTP %s %s" % (e.code, e.reason)) from e
    except urllib.error.URLError as e:
        raise FetchError("pkg_url", "download failed: %s" % (e.reason,)) from e
    except (OSError, ValueError) as e:
        raise FetchError("pkg_url", "download failed: %s" % e) from e


def _remote_sha256(url: str, timeout: float) -> str | None:
    """The checksum published beside the package as ``<url>.sha256``, or None when there is none."""
    split = urllib.parse.urlsplit(url)
    sum_url = urllib.parse.urlunsplit(split._replace(path=split.path + ".sha256"))
    try:
        with open_url(sum_url, timeout=timeout, http_agent=USER_AGENT) as response:
            text = response.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        if e.code in (403, 404, 410):
            return None
        raise FetchError("pkg_url", "cannot read %s.sha256: HTTP %s %s" % ("<url>", e.code, e.reason)) from e
    except urllib.error.URLError as e:
        # ftp reports a missing file as a URLError; a server that is down fails again on the package itself.
        if split.scheme == "ftp":
            return None
        raise FetchError("pkg_url", "download failed: %s" % (e.reason,)) from e
    except OSError as e:
        raise FetchError("pkg_url", "download failed: %s" % e) from e
    return _parse_sha256(text, "<url>.sha256")


def _read_sha256_file(path: str, label: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return _parse_sha256(f.read(4096), label)


def _parse_sha256(text: str, label: str) -> str:
    """``sha256sum`` output ("<hex>  name") or the bare hex."""
    words = text.split()
    if not words or not SHA256_RE.fullmatch(words[0]):
        raise FetchError("pkg_url", "%s holds no sha256 (want 64 hex digits, as sha256sum prints)" % label)
    return words[0].lower()


# --------------------------------------------------------------------------- the package unpacked once

def unpack_once(tar_path: str, sha256: str, cache_dir: str | None = None) -> Unpacked:
    """The tarball ``tar_path`` (whose sha256 is ``sha256``) unpacked into ``<cache>/packages/unpacked/<sha256>/``
    once: later calls, and later deploys of the same bytes, read that folder instead of unpacking it again.

    The folder appears by rename of a complete temp folder under an exclusive ``flock`` (two runs at once unpack
    once; a run killed halfway leaves a temp folder that the next one removes); it is never changed afterwards.
    A tarball that cannot be read is not kept: ``root`` is None and ``problems`` says why. Raises ``OSError``
    when the cache cannot be written.
    """
    cache = os.path.join(cache_dir or cache_root(), "packages", "unpacked")
    dest = os.path.join(cache, sha256.lower())
    marker = os.path.join(dest, UNPACK_PROBLEMS)
    with locked(dest + ".lock"):
        if os.path.isfile(marker):
            with open(marker, encoding="utf-8") as f:
                stored = json.load(f)
            return Unpacked(dest, [Problem(level, _under(tar_path, rel), message) for level, rel, message in stored],
                            True)
        prefix = ".%s." % os.path.basename(dest)
        for name in os.listdir(cache):
            if name.startswith(prefix):             # left by a run that was killed while unpacking
                shutil.rmtree(os.path.join(cache, name), ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)     # a folder without its marker is not one this code wrote
        tmp = tempfile.mkdtemp(prefix=prefix, dir=cache)
        try:
            problems = unpack_package(tar_path, tmp)
            if any(p.path == tar_path for p in problems):
                return Unpacked(None, problems, False)
            with open(os.path.join(tmp, UNPACK_PROBLEMS), "w", encoding="utf-8") as f:
                json.dump([[p.level, p.path[len(tar_path) + 1:], p.message] for p in problems], f)
            os.chmod(tmp, 0o755)
            os.rename(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return Unpacked(dest, problems, False)


def _under(tar_path: str, rel: str) -> str:
    return "%s/%s" % (tar_path, rel) if rel else tar_path


# --------------------------------------------------------------------------- code_url

def is_local_repo(code_url: str) -> bool:
    """A plain path, not an URL or scp-like ``host:path``."""
    if "://" in code_url:
        return False
    head = code_url.split("/", 1)[0]
    return ":" not in head


def git_url(code_url: str, base_dir: str) -> str:
    if is_local_repo(code_url):
        path = os.path.expanduser(code_url)
        return os.path.normpath(path if os.path.isabs(path) else os.path.join(base_dir, path))
    return code_url


def _git(args: list[str], cwd: str | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C", LANGUAGE="C", GIT_TERMINAL_PROMPT="0")
    return subprocess.run(["git"] + args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, check=False)


def build_from_git(code_url: str, base_dir: str, name: str, branch: str | None = None, relative_path: str = ".",
                   build_command: str | None = None, force_rebuild: bool = False, cache_dir: str | None = None,
                   timeout: float | None = None) -> Built:
    """Fetch ``code_url`` at ``branch``, run ``build_command`` in ``relative_path`` and package its ``release/``
    as ``<name>-<commit12>.tar.gz``; a package built earlier for the same commit is reused unless ``force_rebuild``.
    """
    if shutil.which("git") is None:
        raise FetchError("code_url", "git is not installed on the controller")
    url = git_url(code_url, base_dir)
    if is_local_repo(code_url) and not os.path.isdir(url):
        raise FetchError("code_url", "no such repository folder on the controller (%s)" % url)
    root = os.path.join(cache_dir or cache_root(), "build", hashlib.sha256(url.encode("utf-8")).hexdigest()[:16])
    with locked(root + ".lock"):
        repo = _update_clone(url, root, timeout)
        commit = _resolve(repo, branch)
        short = commit[:12]
        out_dir = os.path.join(root, short)
        package = os.path.join(out_dir, "%s-%s.tar.gz" % (name, short))
        log, error_log = os.path.join(out_dir, "build.log"), os.path.join(out_dir, "build-error.log")
        if os.path.isfile(package) and not force_rebuild:
            return Built(package, sha256_file(package), commit, log, error_log, True)
        os.makedirs(out_dir, exist_ok=True)
        for args in (["checkout", "--quiet", "--force", "--detach", commit], ["clean", "-ffdxq"]):
            done = _git(args, cwd=repo, timeout=timeout)
            if done.returncode:
                raise FetchError("branch", "git %s failed: %s" % (args[0], _last_line(done.stderr)))
        workdir = os.path.normpath(os.path.join(repo, relative_path))
        if not os.path.isdir(workdir):
            raise FetchError("relative_path", "no such folder in %s at commit %s" % (url, short))
        _run_build(build_command, workdir, commit, log, error_log, timeout)
        with _written_beside(package) as (dummy, tmp):
            try:
                build_package(workdir, tmp, version=commit)
            except PackageError as e:
                message = e.message if e.path.startswith(workdir) else str(e)
                raise FetchError("relative_path", "cannot package %s/release at commit %s: %s"
                                 % (relative_path, short, message)) from e
        return Built(package, sha256_file(package), commit, log, error_log, False)


def _update_clone(url: str, root: str, timeout: float | None) -> str:
    repo = os.path.join(root, "repo")
    if os.path.isdir(os.path.join(repo, ".git")):
        done = _git(["fetch", "--quiet", "--prune", "--tags", "--force", "origin",
                     "+refs/heads/*:refs/remotes/origin/*"], cwd=repo, timeout=timeout)
    else:
        os.makedirs(root, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".clone-", dir=root)
        done = _git(["clone", "--quiet", "--no-checkout", url, tmp], timeout=timeout)
        if done.returncode == 0:
            shutil.rmtree(repo, ignore_errors=True)
            os.rename(tmp, repo)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if done.returncode:
        raise FetchError("code_url", "git could not fetch the repository: %s" % _last_line(done.stderr))
    return repo


def _resolve(repo: str, branch: str | None) -> str:
    candidates = (["origin/%s" % branch, branch] if branch else ["origin/HEAD", "origin/master", "origin/main"])
    for candidate in candidates:
        done = _git(["rev-parse", "--verify", "--quiet", "%s^{commit}" % candidate], cwd=repo)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    if branch:
        raise FetchError("branch", "no such branch, tag or commit in the repository")
    raise FetchError("branch", "missing: the repository has no default branch (HEAD, master or main); name one")


def _run_build(command: str | None, workdir: str, commit: str, log: str, error_log: str,
               timeout: float | None) -> None:
    """Run the build with its output kept in build.log and build-error.log (replaced on every build)."""
    with open(log, "w", encoding="utf-8") as out, open(error_log, "w", encoding="utf-8") as err:
        out.write("# commit %s in %s\n" % (commit, workdir))
        if not command:
            out.write("# no build_command: release/ is packaged as it is\n")
            return
        out.write("$ %s\n" % command)
        out.flush()
        env = dict(os.environ, NOOPS_COMMIT=commit)
        try:
            status = subprocess.run(command, shell=True, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, env=env, timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            raise FetchError("build_command", "did not finish in %s s (logs: %s)" % (timeout, error_log)) from None
    if status:
        with open(error_log, encoding="utf-8", errors="replace") as f:
            tail = _last_line(f.read())
        raise FetchError("build_command", "exited with status %d%s (logs: %s, %s)"
                         % (status, ": " + tail if tail else "", log, error_log))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
