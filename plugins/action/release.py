# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for noops.platform.release (documentation in plugins/modules/release.py).

For state=unpack and state=install it copies the controller's package and files to a temporary folder on the
host, so that the module does the whole step in one call; the other states go straight to the module.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.noops.platform.plugins.module_utils.package_tar import TARGET_DIR
from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_path

MODULE = "noops.platform.release"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # only unpack and install do; they make the temporary folder themselves

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        state = args.get("state", "read")
        staging_dir = args.pop("staging_dir", None)
        local_tmp = None
        try:
            if state == "unpack" and args.get("package"):
                package, local_tmp = self._tarball(self._controller_path(args["package"]))
                self._make_tmp_path()
                args["package"] = self._send(package, "package.tar.gz")
            elif state == "install" and args.get("files"):
                files = list(args["files"])
                if not all(isinstance(f, dict) and f.get("src") for f in files):
                    result.update(failed=True, msg="files: every entry needs src (a file on the controller)")
                    return result
                self._make_tmp_path()
                args["files"] = [dict(f, src=self._send(self._controller_path(f["src"]), "file-%d" % i))
                                 for i, f in enumerate(files)]
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        except AnsibleError as e:
            result.update(failed=True, msg=str(e))
            return result
        finally:
            if self._connection._shell.tmpdir:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            if local_tmp:
                shutil.rmtree(local_tmp, ignore_errors=True)
            if staging_dir and state == "install":
                shutil.rmtree(staging_dir, ignore_errors=True)

    def _controller_path(self, path):
        return controller_path(self, path, "%s: no such file or folder on the controller")

    def _send(self, local, name):
        remote = self._connection._shell.join_path(self._connection._shell.tmpdir, name)
        self._transfer_file(local, remote)
        self._fixup_perms2((self._connection._shell.tmpdir, remote))
        return remote

    @staticmethod
    def _tarball(package):
        """A package folder becomes a tarball of its release/target (the module unpacks tarballs only)."""
        if not os.path.isdir(package):
            return package, None
        if not os.path.isdir(os.path.join(package, TARGET_DIR)):
            raise AnsibleError("%s: no %s/ in the package folder" % (package, TARGET_DIR))
        folder = tempfile.mkdtemp(prefix="noops-release-")
        path = os.path.join(folder, "package.tar.gz")
        with tarfile.open(path, "w:gz") as tar:
            tar.add(os.path.join(package, TARGET_DIR), arcname=TARGET_DIR)
        return path, folder
