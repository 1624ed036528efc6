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
        C(prune) removes incomplete releases and the oldest complete ones beyond O(keep);
        C(absent) removes the release folder O(release), unless it is the current one.
      - No other state removes a complete release.
      - The staging states build a new release folder, one call each (the thor role's steps).
        C(prepare) creates the folders (the parent of O(path), O(releases_path), a fresh O(release) folder and
        O(folders)); a stale incomplete folder of that name is removed, a complete release of that name is not
        (the call fails; a new copy of a version on the host needs a new name, see RV(new_release));
        C(unpack) unpacks C(release/target/) of O(package) into the release folder;
        C(install) installs O(files) and, with O(version), marks the release complete.
      - In check mode each staging state reports what it would do without the previous state's effect (the
        release folder of O(state=prepare) need not exist).
      - O(package) and the O(files) sources are on the controller; the action plugin copies them to the host.
    type: str
    choices: [read, mark, switch, prune, prepare, unpack, install, absent]
    default: read
  release:
    description: Release folder name for O(state=mark), O(state=switch), O(state=absent) and the staging states.
    type: str
  version:
    description:
      - Version recorded by O(state=mark); for O(state=switch) without O(release), the version to switch to.
      - For O(state=read), the version of a release about to be staged; RV(new_release) is a folder name for it.
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
  folders:
    description: Extra folders O(state=prepare) creates (log and data folders outside the release).
    type: list
    elements: path
    default: []
  owner:
    description:
      - Owner of what O(state=prepare), O(state=unpack) and O(state=install) create; default the connecting user.
    type: str
  package:
    description:
      - For O(state=unpack), the release package on the controller (a C(.tar.gz) in the standard layout, or its
        folder). Its members are checked again before anything is written (no absolute names, C(..), escaping
        links or devices).
    type: path
  files:
    description:
      - For O(state=install), the files to install; each C(src) is a file on the controller, copied to the host.
        The result of M(noops.platform.release_render) (its C(files)) fits as it is.
    type: list
    elements: dict
    default: []
  process:
    description:
      - With O(state=read), also read this process under its supervisor (one call for a deploy's first look at a
        host). The result's RV(process) has its state, pid and version label, or C(error) when the supervisor does
        not answer.
    type: dict
    suboptions:
      name:
        description: Process name.
        type: str
        required: true
      backend:
        description: The host's supervisor.
        type: str
        required: true
        choices: [god, supervisord, systemd]
      root:
        description: The host's C(noops_root).
        type: path
        default: ""
  staging_dir:
    description:
      - For O(state=install), a controller folder that is removed once the files are copied (the staged config
        may hold secrets), whether the install succeeds or not.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
  action:
    support: full
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

- name: Stage release 93044 of dch, one call per step
  noops.platform.release:
    path: /home/work/passport-dch
    releases_path: /home/work/.releases/passport-dch
    release: "93044"
    state: "{{ item }}"
    package: /var/cache/noops/passport-dch-93044.tar.gz
    folders: [/data/dch/log]
    owner: work
  loop: [prepare, unpack]

- name: Install its rendered config and mark it complete
  noops.platform.release:
    path: /home/work/passport-dch
    releases_path: /home/work/.releases/passport-dch
    release: "93044"
    state: install
    files: "{{ dch_rendered.files }}"
    version: "93044"
    owner: work

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
process:
  description:
    - With O(process), the process as M(noops.platform.process) reports it (name, state, pid, start_time, version,
      log), or its name and C(error) when the supervisor does not answer or is not installed.
  returned: when state is read and process is given
  type: dict
  sample: {name: dch, state: running, pid: 4242, version: "93043"}
files:
  description: Paths written by O(state=unpack) (relative to the release folder) or O(state=install) (absolute).
  returned: when state is unpack or install
  type: list
  elements: str
new_release:
  description:
    - With O(state=read) and O(version), a folder name for a new release of that version whose staging removes
      no complete release; the version itself when no release folder has that name (or only a stale incomplete
      one), else C(<version>-<YYYYmmddHHMMSS>) (UTC).
  returned: when state is read and version is given
  type: str
  sample: 2.0.0-20260101120000
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
from ansible_collections.noops.platform.plugins.module_utils.frigga import FriggaError, open_backend, report
from ansible_collections.noops.platform.plugins.module_utils.package_tar import (
    PackageError, target_members, unpack_target,
)
from ansible_collections.noops.platform.plugins.module_utils.supervisor import SupervisorConfigError
from ansible_collections.noops.platform.plugins.module_utils.releases import (
    MARKER, ReleaseError, clear_for_staging, current_release, find_release, list_releases, new_release_name,
    previous_release, prune_plan, read_history, read_marker, remove_release, switch,
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


def _release_dir(module, releases_path, release):
    if not release or "/" in release or release in (".", ".."):
        module.fail_json(msg="release %r must be a plain folder name" % release)
    return os.path.join(releases_path, release)


def _own(module, path, owner, changed):
    """Give ``path`` (not following a link) to ``owner``; return whether anything changed."""
    if not owner:
        return changed
    return module.set_owner_if_different(path, owner, changed, expand=False)


def _folder(module, path, owner, changed):
    """Create ``path`` and its missing parents, each 0755 and owned by ``owner`` (as the file module does)."""
    missing = []
    head = path
    while head and head != "/" and not os.path.isdir(head):
        missing.append(head)
        head = os.path.dirname(head)
    if missing:
        changed = True
        if not module.check_mode:
            for folder in reversed(missing):
                os.mkdir(folder, 0o755)
                os.chmod(folder, 0o755)  # whatever the umask
                _own(module, folder, owner, True)
    if os.path.isdir(path):
        changed = _own(module, path, owner, changed)
    return changed


def prepare(module, path, releases_path, p):
    """Folders for a new release: the release folder itself always starts empty.

    A stale incomplete folder of that name is removed; a complete release or the current one never is (the
    call fails and removes nothing).
    """
    target = _release_dir(module, releases_path, p["release"])
    changed = False
    for folder in (os.path.dirname(path), releases_path):
        changed = _folder(module, folder, p["owner"], changed)
    changed = clear_for_staging(path, releases_path, p["release"], check=module.check_mode) or changed
    changed = _folder(module, target, p["owner"], changed)
    for folder in p["folders"]:
        changed = _folder(module, folder, p["owner"], changed)
    return changed


def unpack(module, releases_path, p):
    target = _release_dir(module, releases_path, p["release"])
    if not p["package"]:
        module.fail_json(msg="state=unpack needs package")
    if read_marker(target) is not None:
        module.fail_json(msg="release %s is complete already: unpack into a new release" % target)
    if module.check_mode:
        # The folder may not exist yet (state=prepare in check mode made none): check the package, write nothing.
        try:
            return True, target_members(p["package"])
        except PackageError as e:
            module.fail_json(msg=str(e))
    if not os.path.isdir(target):
        module.fail_json(msg="release folder %s does not exist (state=prepare creates it)" % target)
    try:
        written = unpack_target(p["package"], target)
    except PackageError as e:
        module.fail_json(msg=str(e))
    if p["owner"]:
        for name in [""] + written:
            _own(module, os.path.join(target, name), p["owner"], True)
    return True, written


def install(module, p):
    """Write each file beside its destination and rename it into place, with its mode and owner."""
    changed, written = False, []
    for entry in p["files"]:
        src, dest = entry.get("src"), entry.get("dest")
        if not src or not dest or not os.path.isabs(dest):
            module.fail_json(msg="files: every entry needs src and an absolute dest, got %r"
                                 % {k: entry.get(k) for k in ("src", "dest")})
        mode = entry.get("mode") or "0644"
        owner = entry.get("owner") or p["owner"]
        folder = os.path.dirname(dest)
        if not os.path.isdir(folder):
            changed = _folder(module, folder, p["owner"], changed)
        same = (os.path.isfile(dest) and not os.path.islink(dest)
                and module.sha256(dest) == module.sha256(src))
        if not same:
            changed = True
            if not module.check_mode:
                tmp = os.path.join(folder, ".%s.noops-tmp" % os.path.basename(dest))
                shutil.copyfile(src, tmp)
                os.chmod(tmp, int(str(mode), 8))
                module.atomic_move(tmp, dest, unsafe_writes=False)
        if os.path.exists(dest):
            changed = module.set_mode_if_different(dest, str(mode), changed)
            if owner:
                changed = module.set_owner_if_different(dest, owner, changed)
        written.append(dest)
    return changed, written


def mark(module, releases_path, release, version, marker):
    target = _release_dir(module, releases_path, release)
    if not os.path.isdir(target) and not module.check_mode:
        # (In check mode the folder of a new release does not exist: state=prepare made none.)
        module.fail_json(msg="release folder %s does not exist" % target)
    data = dict(marker, version=version, release=release, deployed_at=time.time())
    if not module.check_mode:
        tmp = os.path.join(target, MARKER + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True)
        module.atomic_move(tmp, os.path.join(target, MARKER))
    return True


def read_process(module, spec):
    """The process's report, or its name and the reason the supervisor could not be asked."""
    module.run_command_environ_update = dict(LANGUAGE="C", LC_ALL="C")
    try:
        return report(module, open_backend(module, spec["backend"], spec["root"] or ""), [spec["name"]])[0]
    except (FriggaError, SupervisorConfigError) as e:
        return {"name": spec["name"], "error": str(e)}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            releases_path=dict(type="path", required=True),
            state=dict(type="str", default="read",
                       choices=["read", "mark", "switch", "prune", "prepare", "unpack", "install", "absent"]),
            release=dict(type="str"),
            version=dict(type="str"),
            marker=dict(type="dict", default={}),
            keep=dict(type="int", default=5),
            protect=dict(type="list", elements="str", default=[]),
            folders=dict(type="list", elements="path", default=[]),
            owner=dict(type="str"),
            package=dict(type="path"),
            files=dict(type="list", elements="dict", default=[]),
            staging_dir=dict(type="path"),
            process=dict(type="dict", options=dict(
                name=dict(type="str", required=True),
                backend=dict(type="str", required=True, choices=["god", "supervisord", "systemd"]),
                root=dict(type="path", default=""),
            )),
        ),
        required_if=[("state", "mark", ("release", "version")), ("state", "prepare", ("release",)),
                     ("state", "unpack", ("release", "package")), ("state", "install", ("release",)),
                     ("state", "absent", ("release",))],
        supports_check_mode=True,
    )
    p = module.params
    path, releases_path, state = p["path"], p["releases_path"], p["state"]
    result = {"changed": False}
    try:
        if state == "mark":
            result["changed"] = mark(module, releases_path, p["release"], p["version"], p["marker"])
        elif state == "prepare":
            result["changed"] = prepare(module, path, releases_path, p)
        elif state == "absent":
            _release_dir(module, releases_path, p["release"])  # a plain folder name
            result["changed"] = remove_release(path, releases_path, p["release"], check=module.check_mode)
        elif state == "unpack":
            result["changed"], result["files"] = unpack(module, releases_path, p)
        elif state == "install":
            result["changed"], result["files"] = install(module, p)
            if p["version"]:
                result["changed"] = mark(module, releases_path, p["release"], p["version"], p["marker"])
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
        if state == "read" and p["process"]:
            result["process"] = read_process(module, p["process"])
        if state == "read" and p["version"]:
            result["new_release"] = new_release_name(p["version"], path, releases_path)
    except ReleaseError as e:
        module.fail_json(msg=str(e), **result)
    except OSError as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", None) or path, e.strerror or e), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
