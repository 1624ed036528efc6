# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: failure_reason
short_description: One line saying what failed in a failed task's result, secrets masked
version_added: 0.1.0
author: noops maintainers (!UNKNOWN)
description:
  - >-
    Returns the result's C(msg) followed by what a command module does not put in it - C(command: ...),
    C(exit status N), C(stderr: ...) (its last 5 lines; the last lines of stdout when stderr is empty) - a crashed
    module's output, and the failed items of a loop. A C(no_log) result gives C(output hidden (no_log)).
  - Values of secret-looking keys (C(db_passwd), C(api_token), ...) found in O(secrets) are replaced by
    C(********) wherever they appear in the line.
  - The C(noops.platform.thor) role reports a failed deploy step with it (C(thor_failure)).
options:
  _input:
    description: A task result, such as C(ansible_failed_result) in a C(rescue) section.
    type: dict
    required: true
  secrets:
    description: Mappings or lists whose secret-looking keys hold values to mask (the deploy's template values).
    type: raw
    default: null
"""

EXAMPLES = r"""
- name: Say why a step failed
  ansible.builtin.set_fact:
    step_failure: "{{ ansible_failed_result | noops.platform.failure_reason(secrets=thor_values) }}"
"""

RETURN = r"""
_value:
  description: "The line, e.g. C(non-zero return code; command: ./migrate.sh; exit status 3; stderr: no database)."
  type: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.noops.platform.plugins.plugin_utils.history.failure import describe_failure, masker_for


def failure_reason(result, secrets=None):
    if not isinstance(result, Mapping):
        raise AnsibleFilterError("failure_reason: the input must be a task result (a mapping), got %s"
                                 % type(result).__name__)
    return describe_failure(result, masker_for(secrets))


class FilterModule:
    def filters(self):
        return {"failure_reason": failure_reason}
