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
import time
import typing as t

MARKER = ".noops-release.json"
HISTORY = ".history"
HISTORY_KEEP = 200


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


def find_release(version: str, releases: list[dict[str, t.Any]]) -> str | None:
    """The newest complete release of a version (by folder name or marker version)."""
    for release in reversed(releases):
        if release["complete"] and (release["name"] == version or str(release["version"]) == str(version)):
            return release["name"]
    return None


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
