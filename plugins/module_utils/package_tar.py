# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release package's tarball on the host: its layout names, the member checks and the unpack of
``release/target/``.

Imported by the ``release`` module, which runs on the host through AnsiballZ: standard library only. The
controller side of the package (config, init.yml, render, lint, build) is ``plugin_utils/package.py``, which
uses the same checks.
"""

from __future__ import annotations

import copy
import posixpath
import stat
import tarfile
import typing as t

RELEASE_DIR = "release"
TARGET_DIR = "release/target"

ERROR = "ERROR"
WARNING = "WARNING"


class Problem(t.NamedTuple):
    level: str          # ERROR or WARNING
    path: str           # where, as the user should look for it
    message: str

    def __str__(self) -> str:
        return "%s %s: %s" % (self.level, self.path, self.message)


class PackageError(ValueError):
    """A package that cannot be rendered; ``path`` names the file, the message the key or line and value.

    ``problems`` holds every problem found when there are several (the first is the message).
    """

    def __init__(self, path: str, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__("%s: %s" % (path, message))
        self.path = path
        self.message = message
        self.problems = problems or [Problem(ERROR, path, message)]


def _target_members(tar: tarfile.TarFile, tar_path: str) -> list[tarfile.TarInfo]:
    """The checked members of ``release/target/``, renamed relative to it (``PackageError`` when one is unsafe)."""
    prefix = TARGET_DIR + "/"
    members = tar.getmembers()
    errors = [p for p in check_tar_members(members) if p.level == ERROR]
    if errors:
        raise PackageError("%s/%s" % (tar_path, errors[0].path), errors[0].message)
    chosen = []
    for member in members:
        name = member.name[2:] if member.name.startswith("./") else member.name
        name = posixpath.normpath(name)
        if not name.startswith(prefix):
            continue
        renamed = copy.copy(member)
        renamed.name = name[len(prefix):]
        if member.islnk():
            link = posixpath.normpath(member.linkname[2:] if member.linkname.startswith("./")
                                      else member.linkname)
            renamed.linkname = link[len(prefix):]
        chosen.append(renamed)
    if not chosen:
        raise PackageError(tar_path, "no %s/ in the package" % TARGET_DIR)
    return chosen


def target_members(tar_path: str) -> list[str]:
    """The names ``unpack_target`` would write (relative to its ``dest``), checked the same way; writes nothing.

    Raises ``PackageError`` for an unreadable tarball, an unsafe member or a package without ``release/target/``.
    """
    try:
        with tarfile.open(tar_path) as tar:
            return [m.name for m in _target_members(tar, tar_path)]
    except (tarfile.TarError, EOFError) as e:
        raise PackageError(tar_path, "not a readable tarball: %s" % e) from None


def unpack_target(tar_path: str, dest: str) -> list[str]:
    """Unpack ``release/target/`` of a package tarball into the existing folder ``dest`` (the prefix stripped).

    Runs on the host (the ``release`` module), so standard library only. Every member is checked with
    ``check_tar_members`` first, and put through the "data" extraction filter where Python has it, before
    anything is written: nothing is written when one is unsafe (``PackageError``). The filter guards the
    extraction itself again. Returns the names written, relative to ``dest``.
    """
    try:
        with tarfile.open(tar_path) as tar:
            chosen = _target_members(tar, tar_path)
            extract_members(tar, tar_path, dest, chosen)
    except (tarfile.TarError, EOFError) as e:
        raise PackageError(tar_path, "not a readable tarball: %s" % e) from None
    return [m.name for m in chosen]


def extract_members(tar: tarfile.TarFile, tar_path: str, dest: str, members: t.Sequence[tarfile.TarInfo]) -> None:
    """Write ``members`` (already passed by ``check_tar_members``) of the open ``tar`` into ``dest``.

    Where Python has tarfile's "data" extraction filter (3.12, and 3.11.4 / 3.10.12 on), every member goes through
    it before the first is written (a refusal writes nothing: ``PackageError`` naming ``tar_path``), and it guards
    the extraction again. On older Pythons (Debian 12's 3.11.2, a controller in an execution environment or a
    host) ``check_tar_members`` is the guard. Raises ``tarfile.TarError`` / ``OSError`` from the extraction.
    """
    if not hasattr(tarfile, "data_filter"):
        tar.extractall(dest, members=members)  # noqa: S202 - check_tar_members is the guard
        return
    try:
        for member in members:
            tarfile.data_filter(member, dest)
        tar.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as e:
        raise PackageError(tar_path, "unsafe member refused on unpacking: %s" % e) from None


# --------------------------------------------------------------------------- tar members

def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def _scope(clean: str, root: str) -> str:
    """The folder a member's links must stay in: release/target/ for the program (the host unpacks only that
    folder, as the release), ``root`` for everything else."""
    return TARGET_DIR if root == RELEASE_DIR and _inside(clean, TARGET_DIR) else root


class _LinkLoop(Exception):
    """Symlinks that lead to each other without end."""


def _resolve(path: str, links: t.Mapping[str, str], scope: str, depth: int = 0) -> str | None:
    """``path`` (relative to the tarball's top) with the symlink members on its way followed, as the file system
    will once they are unpacked; None when it leaves the top, or leaves ``scope`` at any step once inside it (a
    ".." that goes above ``scope`` and comes back is refused too: the host unpacks ``scope`` alone, so the way
    out does not exist there). Raises ``_LinkLoop`` when the links loop."""
    out: list[str] = []
    entered = False
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
        else:
            out.append(part)
            current = "/".join(out)
            if current in links:
                target = links[current]
                if target.startswith("/"):
                    return None
                if depth > 40:
                    raise _LinkLoop()
                resolved = _resolve(posixpath.join(posixpath.dirname(current), target), links, scope, depth + 1)
                if resolved is None:
                    return None
                out = resolved.split("/") if resolved else []
        inside = _inside("/".join(out), scope)
        if entered and not inside:
            return None
        entered = entered or inside
    return "/".join(out)


def is_root_entry(member: tarfile.TarInfo) -> bool:
    """The top folder itself ("." or "./", as ``tar -C dir .`` writes it): harmless, nothing to unpack."""
    return member.isdir() and member.name.rstrip("/") in (".", "")


def check_tar_members(members: t.Iterable[tarfile.TarInfo], root: str = RELEASE_DIR) -> list[Problem]:
    """Problems that make a tarball unsafe to unpack: absolute names, "..", links escaping their folder,
    hard links to members not seen before, members placed through a symlink, device files and fifos, members
    outside ``root``. A link under release/target/ must stay in release/target/ (the host unpacks that folder
    alone); other links must stay in ``root``. Link targets are followed step by step through the package's
    symlink members, as the file system does, and must not leave their folder at any step (``../target/bin``
    from release/target/ leaves it and comes back: refused, the host has no release/ around the release).
    The root entry ("./") is accepted.

    Pure: it reads only the member headers, so an unpacker can call it before writing anything.
    An empty list means every member may be extracted below a folder without leaving it, and release/target/
    below its own folder.
    """
    problems: list[Problem] = []
    seen: set[str] = set()
    links: dict[str, str] = {}          # the symlinks accepted so far: nothing may be placed through or over them
    members = list(members)
    # Every symlink of the package, whatever its place in the tarball: once all are unpacked, a link is followed
    # through the others (one listed later included).
    every_link = {posixpath.normpath(m.name[2:] if m.name.startswith("./") else m.name): m.linkname
                  for m in members if m.issym()}
    for member in members:
        name = member.name
        if is_root_entry(member):
            continue
        clean = name[2:] if name.startswith("./") else name
        clean = clean.rstrip("/")
        parts = clean.split("/")
        if name.startswith("/"):
            problems.append(Problem(ERROR, name, "absolute member name"))
            continue
        if ".." in parts:
            problems.append(Problem(ERROR, name, "member name contains '..'"))
            continue
        clean = posixpath.normpath(clean)
        if not _inside(clean, root):
            problems.append(Problem(ERROR, name, "member outside %s/" % root))
            continue
        through = next((p for p in _parents(clean) if p in links), None)
        if through is not None:
            problems.append(Problem(ERROR, name, "member placed through the symlink %s" % through))
            continue
        if clean in links:
            problems.append(Problem(ERROR, name, "member written over the symlink of the same name"))
            continue
        if member.isdev():
            kind = "fifo" if member.isfifo() else "device file"
            problems.append(Problem(ERROR, name, "%s not allowed in a package" % kind))
            continue
        scope = _scope(clean, root)
        if member.issym():
            target = member.linkname
            if target.startswith("/"):
                problems.append(Problem(ERROR, name, "symlink to absolute path %s escapes %s/" % (target, scope)))
                continue
            try:
                resolved = _resolve(posixpath.join(posixpath.dirname(clean), target), every_link, scope)
            except _LinkLoop:
                problems.append(Problem(ERROR, name, "symlink to %s loops through the package's symlinks" % target))
                continue
            if resolved is None or not _inside(resolved, scope):
                problems.append(Problem(ERROR, name, "symlink to %s escapes %s/" % (target, scope)))
                continue
            links[clean] = target
        elif member.islnk():
            target = member.linkname
            target_clean = posixpath.normpath(target[2:] if target.startswith("./") else target)
            if target.startswith("/") or ".." in target.split("/") or not _inside(target_clean, scope):
                problems.append(Problem(ERROR, name, "hard link to %s escapes %s/" % (target, scope)))
                continue
            if target_clean not in seen:
                problems.append(Problem(ERROR, name, "hard link to %s, which is not an earlier member" % target))
                continue
        if member.mode & (stat.S_ISUID | stat.S_ISGID):
            problems.append(Problem(WARNING, name, "setuid/setgid bit set (mode %04o)" % member.mode))
        seen.add(clean)
    return problems


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]
