"""``noops demo`` from an empty folder with a deep HOME, and with a deep ``--dir``: every simulated host's
supervisord socket (which supervisord first binds with ``.<pid>`` appended) must fit in a unix socket address.

A HOME of about 30 characters used to put the sockets at 103-107 bytes: supervisord could not bind
``<socket>.<pid>`` and the deploy only said "non-zero return code". The decision itself is swept over every HOME
length from 5 to 100 in tests/unit/module_utils/test_unix_socket.py; this runs the real demo for long ones."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.noops.platform.plugins.module_utils.supervisor import instance_layout  # noqa: E402
from ansible_collections.noops.platform.plugins.module_utils.unix_socket import (  # noqa: E402
    SUPERVISORD_BIND_SUFFIX,
    UNIX_PATH_MAX,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(os.path.join(sys.prefix, "bin", "supervisord"), os.X_OK),
                       reason="supervisor is not installed in this venv (pip install -e '.[test]'); the demo would "
                              "download it"),
]


def folder_of_length(parent, length):
    """A new empty folder whose absolute path is exactly ``length`` characters."""
    made = tempfile.mkdtemp(prefix="nl-", dir=parent)
    path = made + "/" + "x" * (length - len(made) - 1)
    assert len(path) == length
    os.makedirs(path)
    return made, path


@pytest.mark.parametrize("home_len, dir_len", [(30, None), (100, None), (None, 52), (None, 100)],
                         ids=["home30", "home100", "dir52", "dir100"])
def test_demo_from_a_deep_folder(home_len, dir_len):
    demo_dir = None
    if home_len:
        top, home = folder_of_length("/tmp", home_len)
    else:
        # The HOME of a fresh folder, the fleet in a deep folder given with --dir.
        top = home = tempfile.mkdtemp(prefix="nl-", dir="/tmp")
        demo_dir = folder_of_length(top, dir_len)[1]
    try:
        cwd = os.path.join(home, "empty")
        os.makedirs(cwd)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("XDG_", "NOOPS_", "ANSIBLE_")) or k == "XDG_RUNTIME_DIR"}
        env.update(HOME=home, NOOPS_USER="demo-tester")
        args = [os.path.join(BIN, "noops"), "demo", "--hosts", "2", "--plain", "--pause-seconds", "1"]
        if demo_dir:
            args += ["--dir", demo_dir]
        proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
        assert "Where to look next" in proc.stdout
        base = demo_dir or os.path.join(home, ".local", "share", "noops", "demo")
        with open(os.path.join(base, "fleet", "tree.yml")) as f:
            roots = [m["vars"]["noops_root"] for m in yaml.safe_load(f)["machines"].values()]
        for root in roots:
            sock = instance_layout(root, "supervisord")["socket"]
            assert len(sock) + SUPERVISORD_BIND_SUFFIX <= UNIX_PATH_MAX
            assert os.path.exists(sock), sock
    finally:
        clean = [os.path.join(BIN, "noops"), "demo", "--clean"] + (["--dir", demo_dir] if demo_dir else [])
        subprocess.run(clean, env=dict(os.environ, HOME=home), cwd="/", capture_output=True, timeout=300)
        shutil.rmtree(top, ignore_errors=True)
