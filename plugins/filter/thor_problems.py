# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: thor_problems
short_description: What is wrong with a deploy request to the thor role, one line per variable
version_added: 0.2.0
author: noops maintainers (!UNKNOWN)
description:
  - >-
    Checks the values of the thor role's variables with the rules M(noops.platform.odin_prepare) applies to the
    same fields of a cluster.yml (one implementation of each rule), and returns one line per variable that breaks
    its rule, naming the variable and its value, for example C(thor: thor_version: "1.0 beta": must match
    [A-Za-z0-9][A-Za-z0-9_.+-]* (it names the release folder on every host)).
  - "C(thor_name): letters, digits and C(_ . -), starting with a letter or digit. C(thor_version): letters, digits
    and C(_ . + -), starting with a letter or digit, at most 128 characters. C(thor_path): an absolute path below
    C(/) without C(..), written in its normal form (no trailing C(/)). C(thor_data_path): an absolute path below
    C(/) without C(..). C(thor_package): not empty. C(thor_keep_releases): an integer >= 2."
  - Types, choices and required variables are the role's C(meta/argument_specs.yml), which Ansible checks first.
  - Secret-looking values are masked and URL passwords hidden, as in M(noops.platform.odin_prepare)'s lines.
options:
  _input:
    description: The role's variables by name; a variable that is not given is not checked.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the deploy request
  ansible.builtin.fail:
    msg: "{{ problems | join('\n') }}"
  vars:
    problems: "{{ {'thor_name': thor_name, 'thor_version': thor_version} | noops.platform.thor_problems }}"
  when: problems | length > 0
"""

RETURN = r"""
_value:
  description: Problem lines, empty when every value meets its rule.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import thor_problems as _thor_problems


def thor_problems(request):
    if not isinstance(request, dict):
        raise AnsibleFilterError("thor_problems: expects a mapping of thor variables, got %s" % type(request).__name__)
    return _thor_problems(request)


class FilterModule:
    def filters(self):
        return {"thor_problems": thor_problems}
