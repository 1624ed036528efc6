#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_info
short_description: Read the releases of a program on a host, and optionally its process
description:
  - Reports the release the stable path O(path) points to, the one that was live before it, and every release
    folder under O(releases_path) with its marker (M(noops.platform.release) describes the layout).
  - With O(version), also a folder name for a new release of that version that no complete release has
    (RV(new_release)); with O(process), the process under its supervisor, in the same call (a deploy's first look
    at a host).
  - Never changes anything on the host; it runs the same in check mode.
version_added: 0.2.0
author: noops maintainers (!UNKNOWN)
options:
  version:
    description:
      - The version of a release about to be staged; RV(new_release) is a folder name for it.
    type: str
  process:
    description:
      - Also read this process under its supervisor. RV(process) has its state, pid and version label, or
        C(error) when the supervisor does not answer.
    type: dict
    suboptions:
      name:
        description: Process name.
        type: str
        required: true
      backend:
        description: The host's supervisor (its C(noops_supervisor)).
        type: str
        required: true
        choices: [god, supervisord, systemd]
      root:
        description: The host's C(noops_root), which selects the supervisor instance.
        type: path
        default: ""
extends_documentation_fragment:
  - noops.platform.release
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Reads only, in check mode or not.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership: [noops.platform.release]
seealso:
  - module: noops.platform.release
  - module: noops.platform.process
"""

EXAMPLES = r"""
- name: Read the releases of dch
  noops.platform.release_info:
    path: /home/work/passport-dch
    releases_path: /home/work/.releases/passport-dch
  register: dch_releases

- name: Switch back to the previous release
  noops.platform.release:
    path: /home/work/passport-dch
    releases_path: /home/work/.releases/passport-dch
    state: switch
    release: "{{ dch_releases.previous }}"
  when: dch_releases.previous is not none

- name: Before a deploy of 93044, read the releases and the process in one call
  noops.platform.release_info:
    path: /home/work/passport-dch
    releases_path: /home/work/.releases/passport-dch
    version: "93044"
    process:
      name: dch
      backend: supervisord
  register: dch_before
"""

RETURN = r"""
current:
  description: Release the stable path points to, or null.
  returned: always
  type: str
  sample: "93043"
current_version:
  description: Version recorded in the current release's marker.
  returned: always
  type: str
  sample: "93043"
previous:
  description: Release that was live before the current one (complete and still present), or null.
  returned: always
  type: str
previous_version:
  description: Version of the previous release.
  returned: always
  type: str
releases:
  description: Every release folder, oldest deploy first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Folder name.
      type: str
    version:
      description: Version from the marker (null for an incomplete folder).
      type: str
    complete:
      description: Whether the folder has its marker (only complete releases are switched to).
      type: bool
    deployed_at:
      description: When the marker was written (seconds since the epoch).
      type: float
    marker:
      description: The marker's data (package checksum, deploy task id, start and stop commands, ...).
      type: dict
process:
  description:
    - With O(process), the process as M(noops.platform.process) reports it (name, state, pid, start_time, version,
      log), or its name and C(error) when the supervisor does not answer or is not installed.
  returned: when process is given
  type: dict
  sample: {name: dch, state: running, pid: 4242, version: "93043"}
new_release:
  description:
    - With O(version), a folder name for a new release of that version whose staging removes no complete
      release; the version itself when no release folder has that name (or only a stale incomplete one), else
      C(<version>-<YYYYmmddHHMMSS>) (UTC).
  returned: when version is given
  type: str
  sample: 2.0.0-20260101120000
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.noops.platform.plugins.module_utils.frigga import process_or_error
from ansible_collections.noops.platform.plugins.module_utils.releases import (
    RELEASE_ARGS, ReleaseError, new_release_name, release_report,
)
from ansible_collections.noops.platform.plugins.module_utils.supervisor import INSTANCE_ARGS


def read(module, path, releases_path, version=None, process=None):
    """What the module returns (``changed`` aside); ReleaseError or OSError when the folders cannot be read."""
    result = release_report(path, releases_path)
    if process:
        result["process"] = process_or_error(module, process["name"], process["backend"], process["root"])
    if version:
        result["new_release"] = new_release_name(version, path, releases_path)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            RELEASE_ARGS,
            version=dict(type="str"),
            process=dict(type="dict", options=dict(name=dict(type="str", required=True), **INSTANCE_ARGS)),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = read(module, p["path"], p["releases_path"], p["version"], p["process"])
    except ReleaseError as e:
        module.fail_json(msg=str(e))
    except OSError as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", None) or p["path"], e.strerror or e))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
