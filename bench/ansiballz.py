#!/usr/bin/env python3
"""Size of the AnsiballZ payload Ansible ships to a host for a noops.platform module.

Builds the payload the way Ansible does before it copies a module to a host
(``ansible.executor.module_common.modify_module``, with the configured ``module_compression``, ZIP_DEFLATED by
default), in a fresh ``ANSIBLE_LOCAL_TEMP`` so that no cached build of another checkout is reused. Prints the
payload size in bytes, the size of the zip inside it, and every file of the collection the zip holds.

    .venv/bin/python bench/ansiballz.py              # the release module
    .venv/bin/python bench/ansiballz.py process supervisor_config
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "collections")


def build(module: str) -> tuple[int, int, list[tuple[str, int]]]:
    """(payload bytes, zip bytes, [(collection file, bytes uncompressed)]) for ``noops.platform.<module>``."""
    from ansible import constants as C
    from ansible.executor import module_common
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    path = os.path.join(ROOT, "plugins", "modules", module + ".py")
    built = module_common.modify_module(
        module_name="noops.platform." + module, module_path=path, module_args={}, templar=Templar(loader=DataLoader()),
        task_vars={"ansible_python_interpreter": "/usr/bin/python3"}, module_compression=C.config.get_config_value("DEFAULT_MODULE_COMPRESSION"))
    payload = built.b_module_data
    # The zip travels base64-encoded inside the wrapper script: the longest base64 run of the payload.
    blob = max(re.findall(rb"[A-Za-z0-9+/=]{1000,}", payload), key=len)
    data = base64.b64decode(blob)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = [(i.filename, i.file_size) for i in zf.infolist() if "/noops/platform/" in i.filename]
    return len(payload), len(data), sorted(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", default=["release"])
    args = parser.parse_args()
    os.environ["ANSIBLE_LOCAL_TEMP"] = tempfile.mkdtemp(prefix="noops-ansiballz-")
    sys.path.insert(0, COLLECTIONS)
    from ansible.plugins.loader import init_plugin_loader
    init_plugin_loader([COLLECTIONS])
    for module in args.modules:
        size, zipped, files = build(module)
        print("%s: payload %d bytes, zip %d bytes, %d collection files (%d bytes uncompressed)"
              % (module, size, zipped, len(files), sum(n for _, n in files)))
        for name, n in files:
            print("    %7d  %s" % (n, name.split("/noops/platform/", 1)[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
