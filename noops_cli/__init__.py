"""The ``noops`` command: a thin layer over the collection's plugins/module_utils."""

import os
import sys

# The collection root is this file's parent's parent; ``collections/`` beside it holds the
# ansible_collections/noops/platform symlink, so the shared code imports under its FQCN.
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_COLLECTIONS = os.path.join(COLLECTION_ROOT, "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)
