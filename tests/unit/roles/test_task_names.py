"""Task and play names use no per-host variable.

Ansible templates a task's name once, with the variables of the batch's first host, and every host's log (the
history's per-host log, the live table) shows that one name: a name holding a host's path, release, port or
backend would name the first host's in the log of every other host. A name may use only variables that are the
same for every host of a run.
"""

import glob
import os

import jinja2
import jinja2.meta
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# The same for every host of a run: the service and version being deployed (one per run), Odin's controller-side
# result (registered once, run_once), and the extra variables of playbooks/control.yml.
RUN_WIDE = {"thor_name", "thor_version", "odin", "query", "name"}

KEYS_WITH_TASKS = ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always")


def task_files():
    files = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml"))
                   + glob.glob(os.path.join(ROOT, "roles", "*", "handlers", "*.yml"))
                   + glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))
    assert len(files) > 20, "no task files found under %s" % ROOT
    return files


def names(items, where):
    """(where, name) of every play, task, block and handler in a list of them, recursively."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if "name" in item and isinstance(item["name"], str):
            yield where, item["name"]
        for key in KEYS_WITH_TASKS:
            yield from names(item.get(key), where)


def variables(text):
    env = jinja2.Environment()
    return jinja2.meta.find_undeclared_variables(env.parse(text))


def test_the_scan_finds_a_host_variable():
    assert variables("Unpack into {{ thor_release_dir }}") - RUN_WIDE == {"thor_release_dir"}
    assert variables("Deploy the release {{ thor_version }}") - RUN_WIDE == set()
    assert variables("on {{ inventory_hostname | upper }}") == {"inventory_hostname"}


@pytest.mark.parametrize("path", task_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_names_use_no_per_host_variable(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    bad = ["%r uses %s" % (name, ", ".join(sorted(variables(name) - RUN_WIDE)))
           for _, name in names(doc, path) if "{" in name and variables(name) - RUN_WIDE]
    assert not bad, "%s: a name is templated from the first host only: %s" % (os.path.relpath(path, ROOT),
                                                                               "; ".join(bad))
