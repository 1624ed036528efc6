"""Fixtures of the inventory integration tests (helpers live in inventory_helpers.py)."""

from __future__ import annotations

import shutil
import typing as t

import pytest
import yaml

from inventory_helpers import BIN


@pytest.fixture
def write_config(tmp_path):
    """Write a plugin config (and optionally a tree) into tmp_path; returns the config path."""
    def write(name: str = "test.noops.yml", tree: str | None = None, **options: t.Any) -> str:
        if tree is not None:
            (tmp_path / "tree.yml").write_text(tree)
            options.setdefault("source", "tree.yml")
        config = dict({"plugin": "noops.platform.service_tree"}, **options)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return str(path)

    return write


@pytest.fixture(autouse=True)
def _inventory_tools():
    if shutil.which("ansible-inventory", path=BIN) is None:
        pytest.skip("ansible-inventory is not installed in %s" % BIN)
