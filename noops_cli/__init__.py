"""The ``noops`` command: a thin layer over the collection's plugins/module_utils."""

from noops_cli import collection

# The noops.platform collection (this checkout, else the installed one Ansible finds; noops_cli/collection.py),
# put on sys.path so the shared code imports under its FQCN. main() reports LOCATE_ERROR when it is nowhere.
LOCATION, LOCATE_ERROR = collection.activate()
COLLECTION_ROOT = LOCATION.root if LOCATION else ""
