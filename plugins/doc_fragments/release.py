# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the modules that read or change the releases of a program on a host (their argument spec:
``module_utils/releases.py``, ``RELEASE_ARGS``)."""

from __future__ import annotations


class ModuleDocFragment:

    # The program's stable path and its releases folder.
    DOCUMENTATION = r"""
options:
  path:
    description: The stable path (symlink) of the program, with any host root prefix already applied.
    type: path
    required: true
  releases_path:
    description: Folder holding one sub-folder per release.
    type: path
    required: true
"""
