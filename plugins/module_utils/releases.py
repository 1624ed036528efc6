# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Releases on a host: the stable path is a symlink to <releases>/<release>, switched in one rename.

Each release folder holds a marker file written last by the deploy (so a folder without one is incomplete)
and the releases folder keeps a switch history, so "the previous release" means the one that was live
before the current one, not merely an older folder.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import typing as t

MARKER = ".noops-release.json"
HISTORY = ".history"
HISTORY_KEEP = 200


# The options every module on a program's releases takes (documented once: doc fragment noops.platform.release).
RELEASE_ARGS = dict(
    path=dict(type="path", required=True),
    releases_path=dict(type="path", required=True),
)


class ReleaseError(ValueError):
    pass


def read_marker(release_dir: str) -> dict[str, t.Any] | None:
    try:
        with open(os.path.join(release_dir, MARKER), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_history(releases_path: str) -> list[str]:
    """Release names in the order they were switched to (oldest first)."""
    try:
        with open(os.path.join(releases_path, HISTORY), encoding="utf-8") as f:
            return [line.split(" ", 1)[1].strip() for line in f if " " in line.strip()]
    except OSError:
        return []


def current_release(path: str, releases_path: str) -> str | None:
    """Name of the release the stable path points to, or None when there is no link yet."""
    if not os.path.lexists(path):
        return None
    if not os.path.islink(path):
        raise ReleaseError("%s exists and is not a symlink: move it out of the way before the first deploy" % path)
    target = os.readlink(path)
    if not os.path.isabs(target):
        target = os.path.join(os.path.dirname(path), target)
    target = os.path.normpath(target)
    if os.path.dirname(target) != os.path.normpath(releases_path):
        raise ReleaseError("%s points to %s, outside the releases folder %s" % (path, target, releases_path))
    return os.path.basename(target)


def list_releases(releases_path: str) -> list[dict[str, t.Any]]:
    """Every release folder with its marker data, oldest deploy first."""
    out = []
    try:
        names = os.listdir(releases_path)
    except OSError:
        return []
    for name in names:
        full = os.path.join(releases_path, name)
        if name.startswith(".") or not os.path.isdir(full) or os.path.islink(full):
            continue
        marker = read_marker(full)
        out.append({
            "name": name,
            "version": (marker or {}).get("version"),
            "complete": marker is not None,
            "deployed_at": (marker or {}).get("deployed_at") or os.stat(full).st_mtime,
            "marker": marker or {},
        })
    out.sort(key=lambda r: (r["deployed_at"], r["name"]))
    return out


def previous_release(current: str | None, history: list[str], releases: list[dict[str, t.Any]]) -> str | None:
    """The release live before the current one that still exists complete; else the newest other complete one."""
    complete = {r["name"] for r in releases if r["complete"]}
    for name in reversed(history):
        if name != current and name in complete:
            return name
    others = [r["name"] for r in releases if r["complete"] and r["name"] != current]
    return others[-1] if others else None


def release_report(path: str, releases_path: str) -> dict[str, t.Any]:
    """The releases of the program at ``path``: ``current``, ``previous`` (names or None), their versions and
    ``releases`` (every release folder, oldest deploy first, with name, version, complete, deployed_at, marker)."""
    current = current_release(path, releases_path)
    releases = list_releases(releases_path)
    previous = previous_release(current, read_history(releases_path), releases)
    by_name = {r["name"]: r for r in releases}
    return {
        "current": current,
        "current_version": (by_name.get(current) or {}).get("version"),
        "previous": previous,
        "previous_version": (by_name.get(previous) or {}).get("version"),
        "releases": [{k: r[k] for k in ("name", "version", "complete", "deployed_at", "marker")} for r in releases],
    }


def find_release(version: str, releases: list[dict[str, t.Any]]) -> str | None:
    """The newest complete release of a version (by folder name or marker version)."""
    for release in reversed(releases):
        if release["complete"] and (release["name"] == version or str(release["version"]) == str(version)):
            return release["name"]
    return None


def new_release_name(version: str, path: str, releases_path: str, now: float | None = None) -> str:
    """A folder name for a new release of ``version`` whose staging removes no complete release.

    ``version`` itself when nothing of that name is in ``releases_path`` or only an incomplete folder (a stale
    copy) that is not the current release; else ``<version>-<YYYYmmddHHMMSS>`` (UTC, ``now`` in seconds since the
    epoch, default the present), with ``-2``, ``-3``, ... appended while that name is taken too.
    Raises ``ReleaseError`` when ``path`` is not a symlink into ``releases_path``.
    """
    current = current_release(path, releases_path)

    def free(name: str) -> bool:
        full = os.path.join(releases_path, name)
        if not os.path.lexists(full):
            return True
        return (name != current and os.path.isdir(full) and not os.path.islink(full)
                and read_marker(full) is None)

    if free(version):
        return version
    stamp = "%s-%s" % (version, time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() if now is None else now)))
    name, n = stamp, 1
    while not free(name):
        n += 1
        name = "%s-%d" % (stamp, n)
    return name


def clear_for_staging(path: str, releases_path: str, release: str, check: bool = False) -> bool:
    """Make way for a new release folder ``releases_path/release``; return whether something was (with
    ``check``: would be) removed.

    Only a stale incomplete folder (or a stray file or link) of that name is removed. Raises ``ReleaseError``,
    removing nothing, when the name is the current release or a complete one: a new copy of a version that is on
    the host needs a new name (``new_release_name``).
    """
    target = os.path.join(releases_path, release)
    if release == current_release(path, releases_path):
        raise ReleaseError("release %s is the current one: a new release needs a new folder" % target)
    if not os.path.lexists(target):
        return False
    if os.path.isdir(target) and not os.path.islink(target) and read_marker(target) is not None:
        raise ReleaseError("release %s is complete: a new copy needs a new folder (nothing was removed)" % target)
    if not check:
        _remove(target)
    return True


def remove_release(path: str, releases_path: str, release: str, check: bool = False) -> bool:
    """Remove the release folder ``releases_path/release`` on request; return whether it existed (with
    ``check``, remove nothing).

    Raises ``ReleaseError`` for the current release (the stable path points to it).
    """
    target = os.path.join(releases_path, release)
    if release == current_release(path, releases_path):
        raise ReleaseError("release %s is the current one: switch to another release before removing it" % target)
    if not os.path.lexists(target):
        return False
    if not check:
        _remove(target)
    return True


def _remove(target: str) -> None:
    if os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target)
    else:
        os.unlink(target)


def prune_plan(releases: list[dict[str, t.Any]], keep: int, protect: t.Iterable[str | None]) -> list[str]:
    """Release folders to delete: incomplete ones and the oldest complete ones beyond ``keep``."""
    protected = {p for p in protect if p}
    doomed = [r["name"] for r in releases if not r["complete"] and r["name"] not in protected]
    complete = [r["name"] for r in releases if r["complete"]]
    excess = len(complete) - max(keep, 1)
    for name in complete:
        if excess <= 0:
            break
        if name in protected:
            continue
        doomed.append(name)
        excess -= 1
    return doomed


def switch(path: str, releases_path: str, release: str) -> str | None:
    """Point ``path`` at ``releases_path/release`` in one rename; return the release it pointed to before."""
    before = current_release(path, releases_path)
    target = os.path.join(releases_path, release)
    if read_marker(target) is None:
        raise ReleaseError("release %s is incomplete (no %s): refusing to switch to it" % (target, MARKER))
    parent = os.path.dirname(path)
    tmp = os.path.join(parent, ".%s.noops-%d" % (os.path.basename(path), os.getpid()))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    # A relative link keeps working when the whole root is moved (noops_root hosts, chroots).
    os.symlink(os.path.relpath(target, parent), tmp)
    os.replace(tmp, path)
    record_switch(releases_path, release)
    return before


def record_switch(releases_path: str, release: str) -> None:
    hist = os.path.join(releases_path, HISTORY)
    lines = []
    try:
        with open(hist, encoding="utf-8") as f:
            lines = f.readlines()[-(HISTORY_KEEP - 1):]
    except OSError:
        pass
    lines.append("%d %s\n" % (int(time.time()), release))
    tmp = hist + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(tmp, hist)
