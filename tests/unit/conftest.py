"""Make the collection importable under its FQCN from a plain checkout; the history store backends (the
PostgreSQL server is tests/conftest.py's)."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
# pkgfiles.py (the package-writing helpers) sits beside this file; tests of several folders import it.
UNIT = os.path.dirname(os.path.abspath(__file__))
if UNIT not in sys.path:
    sys.path.insert(0, UNIT)

# Install Ansible's collection finder before any test imports ansible_collections.*: a test module that installs
# it later (the plugin loaders need it) would otherwise leave modules first imported by path unimportable.
from ansible.plugins.loader import init_plugin_loader  # noqa: E402

init_plugin_loader([COLLECTIONS])


# -- store backends for the history tests: a SQLite file per test, and the private PostgreSQL server of
# tests/conftest.py (pg_dsn).


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def dsn(request, tmp_path):
    """The DSN of an empty store, once per backend."""
    if request.param == "sqlite":
        return str(tmp_path / "history.db")
    return request.getfixturevalue("pg_dsn")
