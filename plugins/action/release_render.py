# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for noops.platform.release_render (documentation in plugins/modules/release_render.py).

Renders on the controller: templates and secrets never need Jinja2 or the package on the host, and the
thor role copies the staged files with ordinary modules.
"""

from __future__ import annotations

import os
import tempfile

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.noops.platform.plugins.plugin_utils.package import (
    mask, open_package, render_package, secrets_to_mask,
)
from ansible_collections.noops.platform.plugins.module_utils.package_tar import PackageError
from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_path

ARGUMENT_SPEC = dict(
    package=dict(type="path", required=True),
    env=dict(type="str", required=True),
    values=dict(type="dict", required=True, no_log=True),
    release_path=dict(type="str", required=True),
    staging_dir=dict(type="path", required=True),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        values = args["values"]
        secrets = secrets_to_mask(values)
        if "path" not in values or not values["path"]:
            result.update(failed=True, msg="values: 'path' is required (the program's stable path on the host)")
            return result
        release_path = args["release_path"]
        if not release_path.startswith("/"):
            result.update(failed=True, msg="release_path %r must be an absolute path on the host" % release_path)
            return result
        staging_dir = os.path.abspath(args["staging_dir"])
        try:
            package = self._package_path(args["package"])
            with open_package(package) as pkg:
                rendered = render_package(pkg, args["env"], values, release_path)
            secrets = secrets_to_mask(values, rendered.config)
            files = [self._stage(staging_dir, f) for f in rendered.files]
        except PackageError as e:
            result.update(failed=True, msg=mask(str(e), secrets))
            return result
        except (OSError, AnsibleError) as e:
            result.update(failed=True, msg=mask("release_render: %s" % e, secrets))
            return result
        # Rendering touches no host; the copy that follows reports the changes.
        result.update(changed=False, files=files, config=rendered.config.public(),
                      secret_keys=sorted(rendered.config.secret_keys))
        return mask(result, secrets)

    def _package_path(self, package: str) -> str:
        return controller_path(self, package, "package %s: no such folder or tarball on the controller")

    @staticmethod
    def _stage(staging_dir: str, rendered) -> dict:
        """Write one file below staging_dir, owner-only (it may hold secrets), atomically."""
        src = os.path.join(staging_dir, rendered.dest.lstrip("/"))
        folder = os.path.dirname(src)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".render-", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(rendered.content)
            os.replace(tmp, src)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return dict(entry=rendered.entry, dest=rendered.dest, src=src, mode=rendered.mode, owner=rendered.owner,
                    type=rendered.type, secret=rendered.secret, in_release=rendered.in_release,
                    template=rendered.template)
