"""Every name a module_utils file imports from another module_utils file is used there.

An import kept only so that other code can import the name from the wrong module (a re-export) hides where the
name is defined; callers import it from the defining module.
"""

import ast
import os

import pytest

MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), "plugins", "module_utils")
SOURCES = sorted(f for f in os.listdir(MODULE_UTILS) if f.endswith(".py"))


@pytest.mark.parametrize("source", SOURCES)
def test_sibling_imports_are_used(source):
    with open(os.path.join(MODULE_UTILS, source), encoding="utf-8") as f:
        tree = ast.parse(f.read(), source)
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and ".plugins.module_utils" in node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = node.lineno
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    unused = ["%s:%d: %s" % (source, line, name) for name, line in sorted(imported.items()) if name not in used]
    assert not unused, "imported but not used (import it from where it is defined instead): " + ", ".join(unused)


def test_sources_found():
    assert "supervisor.py" in SOURCES and "fleet.py" in SOURCES
