"""Releases on a host: a new copy of a version never takes the folder of a complete release."""

import json
import os

import pytest

from ansible_collections.noops.platform.plugins.module_utils.releases import (
    MARKER, ReleaseError, clear_for_staging, list_releases, new_release_name, remove_release, switch,
)

NOW = 1767225600.0  # 2026-01-01 00:00:00 UTC


@pytest.fixture
def host(tmp_path):
    path = str(tmp_path / "home/work/hello")
    releases = str(tmp_path / "home/work/.releases/hello")
    os.makedirs(releases)

    def complete(name, version=None):
        os.makedirs(os.path.join(releases, name, "bin"))
        with open(os.path.join(releases, name, MARKER), "w") as f:
            json.dump({"version": version or name, "release": name}, f)

    def stale(name):
        os.makedirs(os.path.join(releases, name, "bin"))

    return path, releases, complete, stale


@pytest.mark.parametrize("layout, version, expected", [
    ({}, "1.0", "1.0"),
    ({"2.0": "complete"}, "1.0", "1.0"),
    ({"1.0": "stale"}, "1.0", "1.0"),
    ({"1.0": "complete", "2.0": "current"}, "1.0", "1.0-20260101000000"),
    ({"1.0": "current"}, "1.0", "1.0-20260101000000"),
    ({"1.0": "current", "1.0-20260101000000": "complete"}, "1.0", "1.0-20260101000000-2"),
    ({"1.0": "complete", "1.0-20260101000000": "stale", "2.0": "current"}, "1.0", "1.0-20260101000000"),
    ({"1.0": "file"}, "1.0", "1.0-20260101000000"),
], ids=["empty", "other-version", "stale-copy", "previous-complete", "current", "stamp-taken", "stale-stamp",
        "stray-file"])
def test_new_release_name_never_names_a_complete_release(host, layout, version, expected):
    path, releases, complete, stale = host
    for name, kind in layout.items():
        if kind in ("complete", "current"):
            complete(name)
        elif kind == "stale":
            stale(name)
        else:
            open(os.path.join(releases, name), "w").close()
    for name, kind in layout.items():
        if kind == "current":
            switch(path, releases, name)
    assert new_release_name(version, path, releases, now=NOW) == expected


def test_clear_for_staging_removes_only_a_stale_copy(host):
    path, releases, complete, stale = host
    complete("1.0")
    complete("2.0")
    switch(path, releases, "1.0")
    switch(path, releases, "2.0")
    stale("3.0")
    for name, why in (("1.0", "is complete: a new copy needs a new folder"), ("2.0", "is the current one")):
        with pytest.raises(ReleaseError, match=why):
            clear_for_staging(path, releases, name)
        with pytest.raises(ReleaseError, match=why):
            clear_for_staging(path, releases, name, check=True)
    assert clear_for_staging(path, releases, "3.0", check=True) and os.path.isdir(releases + "/3.0")
    assert clear_for_staging(path, releases, "3.0") and not os.path.exists(releases + "/3.0")
    assert not clear_for_staging(path, releases, "4.0")
    assert [(r["name"], r["complete"]) for r in list_releases(releases)] in (
        [("1.0", True), ("2.0", True)], [("2.0", True), ("1.0", True)])


def test_remove_release_refuses_the_current_one(host):
    path, releases, complete, _ = host
    complete("1.0")
    complete("2.0")
    switch(path, releases, "2.0")
    with pytest.raises(ReleaseError, match="is the current one"):
        remove_release(path, releases, "2.0")
    assert remove_release(path, releases, "1.0", check=True) and os.path.isdir(releases + "/1.0")
    assert remove_release(path, releases, "1.0") and not os.path.exists(releases + "/1.0")
    assert not remove_release(path, releases, "1.0")
