# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: god_fixes
short_description: The Ruby fixes for god 0.13 that every god file of noops starts with
version_added: 0.1.0
author: noops maintainers (!UNKNOWN)
description:
  - Returns the Ruby text that C(noops.platform.supervisor_config) puts at the top of every god watch file, for a
    hand-written or role-written god file (the C(noops.platform.supervisor) role's C(main.god)).
  - The Ruby 3 shim (god 0.13 calls C(Kernel#timeout), removed in Ruby 3) when the input is true, then the driver
    fix (the crash-loop rule's transition is never lost behind a process check; a removed watch's driver ends
    without a FATAL log line). Loading the text again in the same god changes nothing.
options:
  _input:
    description: Whether to include the Ruby 3 shim.
    type: bool
    required: true
"""

EXAMPLES = r"""
- name: A god config with the fixes
  ansible.builtin.copy:
    dest: /etc/god/main.god
    mode: "0644"
    content: |
      {{ true | noops.platform.god_fixes }}
      God.load('/etc/god/conf.d/*.god')
"""

RETURN = r"""
_value:
  description: Ruby source lines joined by newlines, starting with a blank line.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.noops.platform.plugins.module_utils.supervisor import god_fixes as _god_fixes


def god_fixes(shim):
    if not isinstance(shim, bool):
        raise AnsibleFilterError("god_fixes: the input says whether to add the Ruby 3 shim: true or false, got %r"
                                 % (shim,))
    return "\n".join(_god_fixes(shim))


class FilterModule:
    def filters(self):
        return {"god_fixes": god_fixes}
