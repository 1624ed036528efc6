"""The roles follow Ansible's conventions.

- thor gives the options every noops.platform module of a deploy shares (the program's paths, the host's supervisor
  and root) once, by ``module_defaults`` on the action groups of ``meta/runtime.yml``, in each entry point
  (``tasks/main.yml``, ``tasks/rollback.yml``); no task repeats them.
- thor reads a host with ``noops.platform.release_info``, never ``release state=read`` (deprecated).
- A role ships its own files from ``files/`` or ``templates/``: no ``src`` reaches out of the role (``../``).
"""

import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
THOR = os.path.join(ROOT, "roles", "thor", "tasks")
GROUPS = {"group/noops.platform.release": {"path", "releases_path"},
          "group/noops.platform.supervisor": {"backend", "root"}}
MEMBERS = {"noops.platform.release": "group/noops.platform.release",
           "noops.platform.release_info": "group/noops.platform.release",
           "noops.platform.process": "group/noops.platform.supervisor",
           "noops.platform.supervisor_config": "group/noops.platform.supervisor"}
NESTED = ("block", "rescue", "always")


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or []


def tasks(items):
    for item in items or []:
        if isinstance(item, dict):
            yield item
            for key in NESTED:
                yield from tasks(item.get(key))


def role_task_files(role="*"):
    return sorted(glob.glob(os.path.join(ROOT, "roles", role, "tasks", "*.yml")))


@pytest.mark.parametrize("path", role_task_files("thor"), ids=os.path.basename)
def test_no_thor_task_repeats_what_module_defaults_give(path):
    bad = []
    for task in tasks(load(path)):
        for action, group in MEMBERS.items():
            args = task.get(action)
            if isinstance(args, dict):
                repeated = set(args) & GROUPS[group]
                if repeated:
                    bad.append("%r gives %s" % (task.get("name"), ", ".join(sorted(repeated))))
    assert not bad, "%s: %s (module_defaults give them)" % (os.path.basename(path), "; ".join(bad))


@pytest.mark.parametrize("entry", ["main.yml", "rollback.yml"])
def test_each_thor_entry_point_sets_the_module_defaults(entry):
    top = load(os.path.join(THOR, entry))
    assert len(top) == 1 and "block" in top[0], "%s: one block holding every task" % entry
    defaults = top[0].get("module_defaults") or {}
    assert set(defaults) == set(GROUPS), defaults
    vars_main = load(os.path.join(ROOT, "roles", "thor", "vars", "main.yml"))
    for group, options in GROUPS.items():
        value = defaults[group]
        if isinstance(value, str):  # "{{ thor_..._args }}" from vars/main.yml
            value = vars_main[value.strip("{} ")]
        assert set(value) == options, (group, value)


@pytest.mark.parametrize("path", role_task_files("thor"), ids=os.path.basename)
def test_thor_reads_with_release_info(path):
    bad = [task.get("name") for task in tasks(load(path))
           if isinstance(task.get("noops.platform.release"), dict)
           and task["noops.platform.release"].get("state", "read") == "read"]
    assert not bad, "%s: release state=read in %s; use noops.platform.release_info" % (os.path.basename(path), bad)


@pytest.mark.parametrize("path", role_task_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_roles_ship_their_own_files(path):
    bad = []
    for task in tasks(load(path)):
        for action in ("ansible.builtin.copy", "ansible.builtin.template"):
            args = task.get(action)
            if isinstance(args, dict) and ".." in str(args.get("src", "")).split("/"):
                bad.append("%r: src %s" % (task.get("name"), args["src"]))
    assert not bad, "%s: %s" % (os.path.relpath(path, ROOT), "; ".join(bad))
