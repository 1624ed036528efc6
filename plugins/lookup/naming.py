# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: naming
author: noops maintainers (!UNKNOWN)
short_description: Connection endpoints of the machines matching a service-tree query, nearest first
description:
  - Resolves a service-tree tag query to the connection endpoints of the matching hosts of the loaded inventory,
    the way the platform's Naming service did for clients looking for, say, a ZooKeeper ensemble.
  - Reads the C(noops_tags) host variable of every inventory host (set by the P(noops.platform.service_tree#inventory)
    inventory plugin, or by hand); hosts without it (or with it null) are ignored. A C(noops_tags) that is not a tag
    or a list of tags, or a tag that breaks the grammar, is an error naming the host and the value (every bad host
    at once).
  - An endpoint is C(address:port), or C(address) when O(port) is not given. The address is the host's
    C(ansible_host) when set, else the inventory host name. IPv6 addresses are bracketed before a port.
  - "Ordering (regional resolution): hosts in the same machine room (C(idc)) as the O(near) host come first,
    then hosts in the same region (C(loc)), then the rest; within each band the inventory order is kept."
  - Several terms are joined with C(,) into one query, so C(!) and C(&) terms apply to all of them and each
    matching host appears once.
  - Naming does no configuration management and no live notification; the answer is computed from the inventory
    when the template is rendered. Clients that must follow membership changes need their own watch mechanism.
options:
  _terms:
    description:
      - "Tag queries: C(pattern), C(!pattern) (remove), C(&pattern) (intersect), united left to right;
        pattern values may use shell globs C(*), C(?), C([..])."
    type: list
    elements: str
    required: true
  port:
    description: Port appended to every endpoint as C(address:port). Without it the endpoints are bare addresses.
    type: int
  near:
    description:
      - Inventory host whose tags (C(idc), C(loc)) decide which endpoints come first.
      - Defaults to the current C(inventory_hostname). A default host without C(noops_tags) (for example an
        implicit C(localhost)) gives plain inventory order; an explicitly named host must exist in the inventory.
    type: str
  allow_empty:
    description: Return an empty list instead of failing when no host matches.
    type: bool
    default: false
  use_groups:
    description:
      - Read the variables of only the hosts in the pair groups (C(key_value), for example C(service_zk)) of the
        query's exact pairs, instead of every inventory host. The P(noops.platform.service_tree#inventory) inventory
        makes these groups, each holding every host that carries the pair.
      - Turn it off for an inventory where a group of such a name leaves out hosts that carry the pair.
      - A term none of whose exact pairs has a group (for example a term of globs only) makes the lookup read every
        host.
    type: bool
    default: true
notes:
  - The C(lookup) function joins the endpoints with commas, which is a ready ZooKeeper connection string;
    use the C(query) function or C(wantlist=true) for a list.
  - Each call reads the variables of the candidate hosts (see O(use_groups)), which costs Ansible about a
    millisecond per host. On large inventories, compute a broad answer once (for example with C(run_once) and
    C(set_fact)) rather than in a task evaluated for every host.
seealso:
  - plugin: noops.platform.service_tree
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: ZooKeeper connection string, same machine room first
  ansible.builtin.debug:
    msg: "{{ lookup('noops.platform.naming', 'service.zk_cluster.production-*', port=2181) }}"

- name: Endpoints as a list, ordered for another host, without offline machines
  ansible.builtin.set_fact:
    dch_endpoints: "{{ query('noops.platform.naming', 'service.dch', '!status.offline', port=8080, near='sd-zk01.bj') }}"

- name: Optional dependency, may be absent
  ansible.builtin.set_fact:
    cache_hosts: "{{ query('noops.platform.naming', 'service.memcache_idc.lg', allow_empty=true) }}"
"""

RETURN = r"""
_raw:
  description: Endpoints of the matching hosts, nearest first (C(address:port) or C(address)).
  type: list
  elements: str
"""

import typing as t

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.noops.platform.plugins.plugin_utils.tree.naming import (
    NOWHERE, NamedHost, Place, candidate_hosts, resolve,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.query import parse_query
from ansible_collections.noops.platform.plugins.plugin_utils.tree.hostvars import (
    TAGS_VAR, HostTagsError, inventory_tags,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import TagError


class LookupModule(LookupBase):

    def run(self, terms: list[t.Any], variables: dict[str, t.Any] | None = None, **kwargs: t.Any) -> list[str]:
        variables = variables or {}
        self.set_options(var_options=variables, direct=kwargs)
        port = self.get_option("port")
        near = self.get_option("near")
        allow_empty = self.get_option("allow_empty")

        if not terms:
            raise AnsibleError("give at least one tag query")
        queries = [str(term) for term in terms]
        query = ",".join(queries)
        if port is not None and not 0 < port < 65536:
            raise AnsibleError("port %d is outside 1..65535" % port)

        hostvars = variables.get("hostvars")
        if hostvars is None:
            raise AnsibleError("no inventory host variables available to resolve %r" % query)
        try:
            parsed = parse_query(query)
        except TagError as e:
            raise AnsibleError("bad query: %s" % e) from e
        wanted = candidate_hosts(parsed, variables.get("groups") or {}) if self.get_option("use_groups") else None
        me = near or variables.get("inventory_hostname")

        names = [name for name in hostvars if wanted is None or name in wanted or name == me]
        try:
            tags = inventory_tags(names, hostvars)
        except HostTagsError as e:
            raise AnsibleError(str(e)) from e
        hosts: list[NamedHost] = []
        for name in names:
            host_vars = hostvars[name]
            if host_vars.get(TAGS_VAR) is None:
                continue
            address = host_vars.get("ansible_host")
            hosts.append(NamedHost(name, str(address) if address else None, tags[name]))

        place = self._place(near, hostvars, hosts, variables)
        endpoints = resolve(hosts, parsed, place, port)
        if not endpoints and not allow_empty:
            raise AnsibleError("no host of the inventory matches %r; pass allow_empty=true to accept an empty answer"
                               % query)
        return endpoints

    @staticmethod
    def _place(near: str | None, hostvars: t.Any, hosts: list[NamedHost], variables: dict[str, t.Any]) -> Place:
        """Where the resolving host sits; an unknown explicit ``near`` is an error, an untagged default is nowhere."""
        for host in hosts:
            if host.name == (near or variables.get("inventory_hostname")):
                return Place.of(host.tags)
        if near:
            if near not in hostvars:
                raise AnsibleError("near=%r is not a host of the inventory" % near)
            raise AnsibleError("near=%r has no noops_tags, so no idc/loc to order by" % near)
        return NOWHERE
