"""Tasks that copy odin_prepare's whole result (its `thor.thor_values` are the cluster's secrets) print nothing.

odin_prepare's own result is censored; a set_fact or debug that copies it into a fact would show every template
value (db_passwd, passphrases...) with `-v`, whatever the secret-name rule says.
"""

from __future__ import annotations

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PRINTING = ("ansible.builtin.set_fact", "set_fact", "ansible.builtin.debug", "debug")
WHOLE_RESULT = ("{{ odin }}", "thor_values")
# Values handed to the failure_reason filter only to be masked in its output are not copied.
MASK_ONLY = re.compile(r"noops\.platform\.failure_reason\(secrets=\[[^\]]*\]\)")


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        if any(key in node for key in PRINTING):
            yield node
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            yield from _tasks(node.get(key))


def _printing_tasks():
    files = sorted(glob.glob(os.path.join(ROOT, "playbooks", "*.yml"))
                   + glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml")))
    for path in files:
        with open(path) as f:
            for task in _tasks(yaml.safe_load(f)):
                args = next(task[key] for key in PRINTING if key in task)
                if any(text in MASK_ONLY.sub("", yaml.safe_dump(args, width=1000)) for text in WHOLE_RESULT):
                    yield pytest.param(task, id="%s: %s" % (os.path.relpath(path, ROOT), task.get("name")))


@pytest.mark.parametrize("task", list(_printing_tasks()))
def test_tasks_copying_the_odin_result_are_no_log(task):
    assert task.get("no_log") is True
