# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for noops.platform.odin_prepare (documentation in plugins/modules/odin_prepare.py).

Runs on the controller and touches no host: the checks, the host selection and the package all live in
plugin_utils/odin/cluster.py and plugin_utils/odin/fetch.py; this file only reads the inventory from the task's variables.
"""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import InventoryHost, prepare
from ansible_collections.noops.platform.plugins.plugin_utils.tree.hostvars import TAGS_VAR
from ansible_collections.noops.platform.plugins.plugin_utils.odin.ssh_control import (
    ansible_ssh_options,
    control_path_problems,
)

ARGUMENT_SPEC = dict(
    cluster_file=dict(type="path", required=True),
    overrides=dict(type="dict", default={}),
    limit=dict(type="str"),
    cache_dir=dict(type="path"),
    package=dict(type="bool", default=True),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        cluster_file = args["cluster_file"]
        if not os.path.isabs(cluster_file) and not os.path.exists(cluster_file):
            # As other file options do: a relative path may name a file beside the playbook.
            beside = os.path.join(task_vars.get("playbook_dir") or ".", cluster_file)
            cluster_file = beside if os.path.exists(beside) else cluster_file
        groups = {name: list(hosts) for name, hosts in (task_vars.get("groups") or {}).items()}
        inventory = self._inventory(groups.get("all", []), task_vars.get("hostvars") or {})
        limit = args["limit"] if args["limit"] is not None else task_vars.get("ansible_limit")
        prepared = prepare(cluster_file, inventory, groups, args["overrides"], limit, source=args["cluster_file"],
                           cache_dir=args["cache_dir"], package=args["package"])
        result.update(prepared.result)
        result["changed"] = False
        hostvars = task_vars.get("hostvars") or {}
        # Every SSH control socket of the selected hosts must fit in a unix socket address (107 bytes).
        prepared.problems.extend(control_path_problems(
            prepared.result.get("hosts") or (), lambda host: ansible_ssh_options(hostvars.get(host) or {}),
            home=os.path.expanduser("~")))
        if prepared.problems:
            # Problem lines never hold secret values; the template values are not returned with them.
            result.pop("thor", None)
            result.update(failed=True, problems=prepared.problems, msg="\n".join(prepared.problems))
            return result
        result["problems"] = []
        # The result carries the cluster's template values (passwords...): no callback may print it.
        result["_ansible_no_log"] = True
        return result

    @staticmethod
    def _inventory(names, hostvars) -> list[InventoryHost]:
        hosts = []
        for name in names:
            host_vars = hostvars.get(name) or {}
            address = host_vars.get("ansible_host")
            hosts.append(InventoryHost(name, str(address) if address else None, host_vars.get(TAGS_VAR)))
        return hosts
