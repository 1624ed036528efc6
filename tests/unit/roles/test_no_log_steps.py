"""A step of a progress role whose result may be hidden (no_log) still says whether it changed the host.

ansible-runner replaces a no_log result by ``{"censored": ...}`` in the events ``noops deploy`` reads, ``changed``
included, so ``--check`` could not name that step among those that would change the host ("would change prepare,
unpack, switch, ..." without config). Each such task registers its result, and a task after it in the same task
file (the step is named after the file) that is not no_log changes exactly when it did.
"""

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Tasks that change nothing on a host: their being hidden hides no step.
NO_HOST_CHANGE = {"ansible.builtin.set_fact", "set_fact", "ansible.builtin.debug", "debug",
                  "ansible.builtin.include_tasks", "ansible.builtin.import_tasks", "ansible.builtin.assert"}
TASK_KEYS = ("block", "rescue", "always")


def flat(tasks):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        if any(k in task for k in TASK_KEYS):
            for k in TASK_KEYS:
                yield from flat(task.get(k))
        else:
            yield task


def module_of(task):
    skip = {"name", "register", "when", "no_log", "vars", "changed_when", "failed_when", "delegate_to", "tags",
            "loop", "loop_control", "become", "become_user", "check_mode", "run_once", "notify", "ignore_errors",
            "until", "retries", "delay", "environment", "args", "listen", "throttle", "timeout", "any_errors_fatal"}
    return next((k for k in task if k not in skip), None)


FILES = sorted(glob.glob(os.path.join(ROOT, "roles", "thor", "tasks", "*.yml")))


@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(p) for p in FILES])
def test_a_hidden_step_still_says_it_changed(path):
    with open(path, encoding="utf-8") as f:
        tasks = list(flat(yaml.safe_load(f)))
    for i, task in enumerate(tasks):
        if not task.get("no_log") or module_of(task) in NO_HOST_CHANGE:
            continue
        registered = task.get("register")
        assert registered, "%s: %r is no_log and registers nothing" % (path, task.get("name"))
        said = [later for later in tasks[i + 1:] if not later.get("no_log")
                and re.search(r"\b%s is changed\b" % re.escape(registered), str(later.get("changed_when", "")))]
        assert said, "%s: nothing after the no_log task %r says whether it changed the host" % (path, task.get("name"))
