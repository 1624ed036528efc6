"""Writes small packages for the tests: a dict of relative path -> text (or None for a folder)."""

import io
import os
import shutil
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELLO = os.path.join(ROOT, "examples", "packages", "hello")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugin_utils", "package", "data")

EXECUTABLE = ("release/target/bin/run.sh", "release/target/bin/stop.sh")


def write_package(base, files, executable=EXECUTABLE):
    for rel, text in files.items():
        full = os.path.join(str(base), *rel.split("/"))
        if text is None:
            os.makedirs(full, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, 0o755 if rel in executable else 0o644)
    return str(base)


def minimal(config="base:\n  basedir: \"$<path>\"\nproduction: {}\n", init="", templates=None):
    files = {
        "release/target/bin/run.sh": "#!/bin/sh\n",
        "release/target/bin/stop.sh": "#!/bin/sh\n",
        "release/deploy/config.template.yml": config,
        "release/deploy/init.yml": init,
    }
    for name, text in (templates or {}).items():
        files["release/deploy/templates/" + name] = text
    return files


def copy_hello(dest):
    shutil.copytree(HELLO, str(dest), symlinks=True)
    return str(dest)


def member(name, kind=tarfile.REGTYPE, linkname="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    return info


DIR = tarfile.DIRTYPE
SYM = tarfile.SYMTYPE
LNK = tarfile.LNKTYPE


def write_tar(path, members):
    """members: (TarInfo, bytes | None)."""
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return str(path)

