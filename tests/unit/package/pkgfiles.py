"""Writes small packages for the tests: a dict of relative path -> text (or None for a folder)."""

import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HELLO = os.path.join(ROOT, "examples", "packages", "hello")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

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
