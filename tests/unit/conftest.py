"""Make the collection importable under its FQCN from a plain checkout."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

# Install Ansible's collection finder before any test imports ansible_collections.*: a test module that installs
# it later (the plugin loaders need it) would otherwise leave modules first imported by path unimportable.
from ansible.plugins.loader import init_plugin_loader  # noqa: E402

init_plugin_loader([COLLECTIONS])
