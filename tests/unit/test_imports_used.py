"""Every name a module_utils or plugin_utils file imports from the collection's own code is used there.

An import kept only so that other code can import the name from the wrong module (a re-export) hides where the
name is defined; callers import it from the defining module.
"""

import ast
import os

import pytest

PLUGINS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "plugins")
SOURCES = sorted(os.path.relpath(os.path.join(folder, name), PLUGINS)
                 for tree in ("module_utils", "plugin_utils")
                 for folder, _, files in os.walk(os.path.join(PLUGINS, tree))
                 for name in files if name.endswith(".py"))
OWN = (".plugins.module_utils", ".plugins.plugin_utils")


@pytest.mark.parametrize("source", SOURCES)
def test_own_imports_are_used(source):
    with open(os.path.join(PLUGINS, source), encoding="utf-8") as f:
        tree = ast.parse(f.read(), source)
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and any(own in node.module for own in OWN):
            for alias in node.names:
                imported[alias.asname or alias.name] = node.lineno
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    unused = ["%s:%d: %s" % (source, line, name) for name, line in sorted(imported.items()) if name not in used]
    assert not unused, "imported but not used (import it from where it is defined instead): " + ", ".join(unused)


def test_sources_found():
    assert "module_utils/supervisor.py" in SOURCES and "plugin_utils/odin/cluster.py" in SOURCES
