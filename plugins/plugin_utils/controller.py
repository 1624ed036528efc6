# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers shared by the action plugins."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError


def controller_path(action, path: str, missing: str) -> str:
    """``path`` when it exists on the controller, else the play's ``files/`` lookup of it (as copy does).

    ``missing`` is the error message, with ``%s`` for the path, when neither finds it.
    """
    if os.path.exists(path):
        return path
    try:
        return action._find_needle("files", path)  # pylint: disable=protected-access
    except AnsibleError:
        raise AnsibleError(missing % path) from None
