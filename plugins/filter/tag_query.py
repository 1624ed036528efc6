# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: tag_query
short_description: Inventory hosts whose service-tree tags match a tag query
version_added: 0.1.0
author: noops maintainers (!UNKNOWN)
description:
  - Takes a list of inventory host names and returns, in the same order, those whose C(noops_tags) host variable
    (set by the C(noops.platform.service_tree) inventory) matches the query.
  - 'Query grammar: terms separated by C(,) are united, C(&term) intersects, C(!term) removes (as Ansible host
    patterns); a term is C(key.value) pairs joined by C(_), values may use shell globs; a host matches a term when
    one of its tags holds every pair.'
  - Hosts without C(noops_tags) (or with it null) never match. A C(noops_tags) that is not a tag or a list of tags,
    or a tag that breaks the grammar, is an error naming the host and the value (every bad host at once).
options:
  _input:
    description: Host names, usually C(groups['all']).
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) mapping.
    type: dict
    required: true
  query:
    description: The tag query.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Restart dch in the sd machine room, except offline machines
  ansible.builtin.debug:
    msg: "{{ groups['all'] | noops.platform.tag_query(hostvars, 'service.dch_idc.sd,!status.offline') }}"
"""

RETURN = r"""
_value:
  description: The matching host names, in input order.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.noops.platform.plugins.plugin_utils.tree.hostvars import (
    HostTagsError, inventory_tags, tag_index,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import TagError


def tag_query(hosts, hostvars, query):
    try:
        index = tag_index(inventory_tags(hosts, hostvars))
    except HostTagsError as e:
        raise AnsibleFilterError("\n".join("tag_query: %s" % line for line in e.problems)) from e
    try:
        return index.select(query)
    except TagError as e:
        raise AnsibleFilterError("tag_query: query %s" % e) from e


class FilterModule:
    def filters(self):
        return {"tag_query": tag_query}
