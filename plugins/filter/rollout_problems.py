# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_problems
short_description: Check rollout settings given as extra vars as a cluster.yml's fields are checked
version_added: 0.1.0
author: noops maintainers (!UNKNOWN)
description:
  - >-
    Takes a mapping of rollout settings given as extra vars (C(batch), C(sleep), C(pause_step), C(max_fail),
    C(canary), C(force)) and returns one line per value that Odin would refuse in a cluster.yml, in the words of
    C(noops.platform.odin_prepare), e.g. C(extra vars: batch: "0": must be an integer >= 1).
  - A value of null or C("") (an optional AWX survey question left blank) is not given and not checked.
options:
  _input:
    description: Setting name to the value given.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse rollout settings out of bounds
  ansible.builtin.fail:
    msg: "{{ problems | join('; ') }}"
  vars:
    problems: "{{ {'batch': batch | default(none), 'sleep': sleep | default(none)} | noops.platform.rollout_problems }}"
  when: problems | length > 0
"""

RETURN = r"""
_value:
  description: Problem lines, empty when every value passes.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import ROLLOUT_CHECKS, problem


def rollout_problems(given):
    if not isinstance(given, dict):
        raise AnsibleFilterError("rollout_problems: expects a mapping of setting names to values")
    problems = []
    for name, value in given.items():
        if value is None or value == "":
            continue
        if name not in ROLLOUT_CHECKS:
            raise AnsibleFilterError("rollout_problems: %r is not a rollout setting (one of %s)"
                                     % (name, ", ".join(ROLLOUT_CHECKS)))
        try:
            ROLLOUT_CHECKS[name](value)
        except ValueError as e:
            problems.append(problem("extra vars", name, str(e), value))
    return problems


class FilterModule:
    def filters(self):
        return {"rollout_problems": rollout_problems}
