"""What runs where: ``plugins/module_utils/`` holds exactly what modules need on a host, nothing else.

A module runs on the host (shipped by AnsiballZ) unless its action plugin does all the work on the controller;
AnsiballZ ships the module_utils the module imports, and those they import in turn. Controller code (action,
inventory, lookup, filter and callback plugins, the ``noops`` command, the console) lives in
``plugins/plugin_utils/``, where a host module cannot reach it.
"""

import ast
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(ROOT, "plugins")
PREFIX = "ansible_collections.noops.platform.plugins."


def _parse(path):
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def _own_imports(tree):
    """(kind, name) of every collection module a file imports anywhere: ("module_utils", "frigga")..."""
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            rest = node.module[len(PREFIX):]
            names = [rest + "." + a.name for a in node.names] + [rest]
        elif isinstance(node, ast.Import):
            names = [a.name[len(PREFIX):] for a in node.names if a.name.startswith(PREFIX)]
        for name in names:
            kind, _, dotted = name.partition(".")
            path = os.path.join(PLUGINS, kind, *dotted.split(".")) + ".py"
            if dotted and os.path.isfile(path):
                found.add((kind, dotted))
    return found


def host_modules():
    """Modules that run on a host: no action plugin, or one that executes the module (``_execute_module``)."""
    out = []
    for name in sorted(os.listdir(os.path.join(PLUGINS, "modules"))):
        if not name.endswith(".py"):
            continue
        action = os.path.join(PLUGINS, "action", name)
        if not os.path.exists(action):
            out.append(name[:-3])
        else:
            with open(action, encoding="utf-8") as f:
                if "_execute_module(" in f.read():
                    out.append(name[:-3])
    return out


def host_closure():
    """The module_utils a host module imports, directly or through other module_utils; and anything else."""
    seen, other = set(), set()
    todo = [os.path.join(PLUGINS, "modules", m + ".py") for m in host_modules()]
    while todo:
        for kind, dotted in _own_imports(_parse(todo.pop())):
            if kind != "module_utils":
                other.add("%s.%s" % (kind, dotted))
            elif dotted not in seen:
                seen.add(dotted)
                todo.append(os.path.join(PLUGINS, "module_utils", *dotted.split(".")) + ".py")
    return seen, other


def module_utils_files():
    folder = os.path.join(PLUGINS, "module_utils")
    return {n[:-3] for n in os.listdir(folder) if n.endswith(".py") and n != "__init__.py"}


def test_host_modules_found():
    assert {"release", "process", "supervisor_config"} <= set(host_modules())
    assert "odin_prepare" not in host_modules()


def test_module_utils_holds_only_what_host_modules_import():
    needed, _ = host_closure()
    assert sorted(module_utils_files() - needed) == [], "controller-only code belongs in plugins/plugin_utils/"


def test_host_modules_import_no_controller_code():
    _, other = host_closure()
    assert sorted(other) == []


@pytest.mark.parametrize("name", sorted(module_utils_files()))
def test_module_utils_import_only_the_standard_library_at_load(name):
    """Top-level imports of host code: standard library, ansible.module_utils and module_utils only.

    A function may import more where it is only ever called elsewhere (supervisord's own ``supervisor`` package in
    the event listener).
    """
    tree = _parse(os.path.join(PLUGINS, "module_utils", name + ".py"))
    bad = []
    for node in tree.body:
        nodes = [node] + (list(ast.walk(node)) if isinstance(node, ast.Try) else [])
        for sub in nodes:
            if isinstance(sub, ast.ImportFrom):
                modules = [sub.module or ""]
            elif isinstance(sub, ast.Import):
                modules = [a.name for a in sub.names]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if module.startswith(PREFIX + "module_utils") or module.startswith("ansible.module_utils"):
                    continue
                if top in sys.stdlib_module_names or top == "__future__":
                    continue
                bad.append(module)
    assert bad == []


def _mirrored_tests():
    unit = os.path.dirname(os.path.abspath(__file__))
    for top in ("module_utils", "plugin_utils", "plugins"):
        for folder, _, files in os.walk(os.path.join(unit, top)):
            for name in sorted(files):
                if name.startswith("test_") and name.endswith(".py"):
                    yield os.path.relpath(os.path.join(folder, name), unit)


@pytest.mark.parametrize("test", sorted(_mirrored_tests()))
def test_tests_mirror_the_source_tree(test):
    """tests/unit/<folder>/test_<module>[_more].py tests plugins/<folder>/<module>.py; a folder of tests named after
    a module (tests/unit/plugin_utils/package/) holds the tests of that module (plugins/plugin_utils/package.py)."""
    folder, name = os.path.split(test)
    source = os.path.join(PLUGINS, *folder.split(os.sep)[1 if folder.startswith("plugins") else 0:])
    if os.path.isfile(source + ".py"):
        return
    modules = [n[:-3] for n in os.listdir(source)] if os.path.isdir(source) else []
    stem = name[len("test_"):-len(".py")]
    assert any(stem == m or stem.startswith(m + "_") for m in modules), \
        "%s names no module of %s" % (test, os.path.relpath(source, ROOT))


def test_test_files_have_distinct_names():
    """pytest imports test files by their base name (folders without __init__.py): two of one name stop the run at
    collection ("import file mismatch")."""
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    seen: dict[str, list[str]] = {}
    for folder, _, files in os.walk(tests):
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                seen.setdefault(name, []).append(os.path.relpath(os.path.join(folder, name), tests))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
