"""Where the ``noops.platform`` collection is, for the ``noops`` command.

The command needs the collection twice: its Python code imports the collection's shared code under its FQCN
(``ansible_collections.noops.platform.plugins...``), and its commands run the collection's playbooks by FQCN
(``noops.platform.deploy``). The collection is, in this order:

1. the checkout this package runs from (``pip install -e``): its root holds ``galaxy.yml`` and
   ``collections/ansible_collections/noops/platform`` links back to it;
2. else the first ``ansible_collections/noops/platform`` on Ansible's collection search path: ``COLLECTIONS_PATHS``
   (``$ANSIBLE_COLLECTIONS_PATH``, else ``collections_path`` of the ansible.cfg Ansible reads: ``$ANSIBLE_CONFIG``,
   ``./ansible.cfg``, ``~/.ansible.cfg``, ``/etc/ansible/ansible.cfg``; default ``~/.ansible/collections`` and
   ``/usr/share/ansible/collections``), then the folders on ``sys.path`` when ``COLLECTIONS_SCAN_SYS_PATH`` is on
   -- where ``ansible-galaxy collection install`` puts it.
"""

from __future__ import annotations

import dataclasses
import os
import sys

NAMESPACE = "noops"
NAME = "platform"
FQCN = "%s.%s" % (NAMESPACE, NAME)


class CollectionNotFound(Exception):
    """The collection is neither around this package nor on Ansible's collection search path."""


@dataclasses.dataclass(frozen=True)
class Location:
    root: str              # the collection's folder: playbooks/, plugins/, examples/, ansible.cfg
    collections_path: str  # the folder holding ansible_collections/noops/platform (for sys.path and Ansible)
    checkout: bool         # a source checkout rather than an installed collection


def checkout(package_dir: str | None = None) -> Location | None:
    """The checkout ``package_dir`` (default: this package's folder) lies in, or None when it is installed."""
    root = os.path.dirname(os.path.abspath(package_dir or os.path.dirname(__file__)))
    collections = os.path.join(root, "collections")
    if os.path.isfile(os.path.join(root, "galaxy.yml")) and os.path.isdir(
            os.path.join(collections, "ansible_collections", NAMESPACE, NAME)):
        return Location(root, collections, True)
    return None


def search_paths() -> tuple[list[str], bool]:
    """Ansible's configured collection paths, in order, and whether it also scans ``sys.path``."""
    from ansible import constants as C  # reads the ansible.cfg Ansible would (and only then: it takes a while)

    return [os.path.expanduser(p) for p in C.COLLECTIONS_PATHS or []], bool(C.COLLECTIONS_SCAN_SYS_PATH)


def installed(paths: list[str]) -> Location | None:
    """The first ``ansible_collections/noops/platform`` below ``paths`` (a path may also end in
    ``ansible_collections``, as Ansible allows)."""
    for path in paths:
        if os.path.basename(os.path.normpath(path)) == "ansible_collections":
            path = os.path.dirname(os.path.normpath(path))
        root = os.path.join(path, "ansible_collections", NAMESPACE, NAME)
        if os.path.isfile(os.path.join(root, "MANIFEST.json")) or os.path.isfile(os.path.join(root, "galaxy.yml")):
            return Location(os.path.abspath(root), os.path.abspath(path), False)
    return None


def locate() -> Location:
    """The collection the command uses. Raises CollectionNotFound with the command that installs it."""
    found = checkout()
    if found:
        return found
    paths, scan_sys_path = search_paths()
    found = installed(paths + ([p for p in sys.path if p] if scan_sys_path else []))
    if found:
        return found
    raise CollectionNotFound(
        "the %s collection is not installed where Ansible looks (%s%s): run `ansible-galaxy collection install "
        "noops-platform-<version>.tar.gz`, or with `-p DIR` and then ANSIBLE_COLLECTIONS_PATH=DIR"
        % (FQCN, os.pathsep.join(paths) or "no collections path", ", then sys.path" if scan_sys_path else ""))


def activate() -> tuple[Location | None, CollectionNotFound | None]:
    """Locate the collection and make ``ansible_collections.noops.platform`` importable; the error otherwise."""
    try:
        found = locate()
    except CollectionNotFound as e:
        return None, e
    if found.collections_path not in sys.path:
        sys.path.insert(0, found.collections_path)
    return found, None


def playbook(location: Location, name: str) -> str:
    """The FQCN of playbook ``name`` (``deploy.yml`` -> ``noops.platform.deploy``). Raises CollectionNotFound
    when the collection at ``location`` lacks it."""
    if not os.path.isfile(os.path.join(location.root, "playbooks", name)):
        raise CollectionNotFound("%s: no playbook %s in the %s collection at %s" % (FQCN, name, FQCN, location.root))
    return "%s.%s" % (FQCN, os.path.splitext(name)[0])


def ansible_collections_path(location: Location, env: dict[str, str] | None = None) -> str:
    """``ANSIBLE_COLLECTIONS_PATH`` for a run: this collection's folder first, then ``$ANSIBLE_COLLECTIONS_PATH``'s."""
    env = os.environ if env is None else env
    rest = [p for p in env.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p and p != location.collections_path]
    return os.pathsep.join([location.collections_path] + rest)
