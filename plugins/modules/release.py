#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release
short_description: Inspect, mark, switch and prune the releases of a program on a host
description:
  - The stable path of a program (for example C(/home/work/passport-dch)) is a symlink to one release folder
    C(<releases_path>/<release>); switching releases replaces the symlink in one rename, so the program is always
    either the old or the new release, never a mix.
  - A release folder is complete once its marker file (C(.noops-release.json)) is written, which the deploy does
    last; incomplete folders are never switched to and are removed by O(state=prune).
  - The releases folder keeps a history of switches, so the I(previous) release is the one that was live before
    the current one.
version_added: 0.1.0
author: noops maintainers (!UNKNOWN)
options:
  path:
    description: The stable path (symlink) of the program, with any host root prefix already applied.
    type: path
    required: true
  releases_path:
    description: Folder holding one sub-folder per release.
    type: path
    required: true
  state:
    description:
      - C(read) reports the releases; C(mark) writes the marker of O(release) (making it complete);
        C(switch) points O(path) at O(release) (or the newest complete release of O(version));
        C(prune) removes incomplete releases and the oldest complete ones beyond O(keep).
    type: str
    choices: [read, mark, switch, prune]
    default: read
  release:
    description: Release folder name for O(state=mark) and O(state=switch).
    type: str
  version:
    description: Version recorded by O(state=mark); for O(state=switch) without O(release), the version to switch to.
    type: str
  marker:
    description: Extra data stored in the marker by O(state=mark) (package checksum, deploy task id, ...).
    type: dict
    default: {}
  keep:
    description: Complete releases kept by O(state=prune); the current and the previous one are always kept.
    type: int
    default: 5
  protect:
    description: Release names O(state=prune) must not remove, besides the current and previous ones.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Read the releases of dch
  noops.platform.release:
    path: /home/work/passport-dch
    releases_path: /home/work/.releases/passport-dch
  register: dch_releases

- name: Switch dch to release 93043
  noops.platform.release:
    path: /home/work/passport-dch
    releases_path: /home/work/.releases/passport-dch
    state: switch
    release: "93043"

- name: Switch back to the previous release
  noops.platform.release:
    path: /home/work/passport-dch
    releases_path: /home/work/.releases/passport-dch
    state: switch
    release: "{{ dch_releases.previous }}"

- name: Keep the newest three releases
  noops.platform.release:
    path: /home/work/passport-dch
    releases_path: /home/work/.releases/passport-dch
    state: prune
    keep: 3
"""

RETURN = r"""
current:
  description: Release the stable path points to (after the change), or null.
  returned: always
  type: str
current_version:
  description: Version recorded in the current release's marker.
  returned: always
  type: str
previous:
  description: Release that was live before the current one (complete and still present), or null.
  returned: always
  type: str
previous_version:
  description: Version of the previous release.
  returned: always
  type: str
before:
  description: Release the stable path pointed to before a switch.
  returned: when state is switch
  type: str
releases:
  description: Every release folder, oldest deploy first, with name, version, complete, deployed_at and marker.
  returned: always
  type: list
  elements: dict
removed:
  description: Release folders removed by prune.
  returned: when state is prune
  type: list
  elements: str
"""

import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.noops.platform.plugins.module_utils.releases import (
    MARKER, ReleaseError, current_release, find_release, list_releases, previous_release, prune_plan,
    read_history, switch,
)


def _report(path, releases_path):
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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            releases_path=dict(type="path", required=True),
            state=dict(type="str", default="read", choices=["read", "mark", "switch", "prune"]),
            release=dict(type="str"),
            version=dict(type="str"),
            marker=dict(type="dict", default={}),
            keep=dict(type="int", default=5),
            protect=dict(type="list", elements="str", default=[]),
        ),
        required_if=[("state", "mark", ("release", "version"))],
        supports_check_mode=True,
    )
    p = module.params
    path, releases_path, state = p["path"], p["releases_path"], p["state"]
    result = {"changed": False}
    try:
        if state == "mark":
            target = os.path.join(releases_path, p["release"])
            if not os.path.isdir(target):
                module.fail_json(msg="release folder %s does not exist" % target)
            marker = dict(p["marker"], version=p["version"], release=p["release"], deployed_at=time.time())
            result["changed"] = True
            if not module.check_mode:
                tmp = os.path.join(target, MARKER + ".tmp")
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(marker, f, sort_keys=True)
                module.atomic_move(tmp, os.path.join(target, MARKER))
        elif state == "switch":
            release = p["release"]
            if not release:
                if not p["version"]:
                    module.fail_json(msg="state=switch needs release or version")
                release = find_release(p["version"], list_releases(releases_path))
                if release is None:
                    module.fail_json(msg="no complete release of version %s in %s" % (p["version"], releases_path))
            before = current_release(path, releases_path)
            result["before"] = before
            if before != release:
                result["changed"] = True
                if not module.check_mode:
                    switch(path, releases_path, release)
        elif state == "prune":
            report = _report(path, releases_path)
            doomed = prune_plan(list_releases(releases_path), p["keep"],
                                [report["current"], report["previous"]] + p["protect"])
            result["removed"] = doomed
            result["changed"] = bool(doomed)
            if not module.check_mode:
                for name in doomed:
                    shutil.rmtree(os.path.join(releases_path, name))
        result.update(_report(path, releases_path))
    except ReleaseError as e:
        module.fail_json(msg=str(e), **result)
    except OSError as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", None) or path, e.strerror or e), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
