"""The project speaks of itself alone: no tracked file refers to a document outside the repository.

Contracts are in docs/design.md, the test hosts in docs/testing.md, the supervisors in docs/supervisors.md; a file
that points elsewhere (another design document, a style guide, a notes file, numbered sections of either) points
at something a reader of this repository does not have. The patterns are written so that this file does not
match them itself.
"""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

OUTSIDE = [
    ("design-doc", re.compile(r"\bDESIGN\.md\b")),
    ("style-doc", re.compile(r"\bSTYLE\.md\b")),
    ("test-hosts-notes", re.compile(r"\btest" r"hosts\b", re.IGNORECASE)),
    ("section-sign", re.compile("\u00a7")),
    ("the-seed", re.compile(r"\bthe\s+seed\b", re.IGNORECASE)),
    ("seed-possessive", re.compile(r"\bseed['\u2019]s\b", re.IGNORECASE)),
]


def _tracked_text_files():
    if shutil.which("git") is None or not os.path.isdir(os.path.join(ROOT, ".git")) and not os.path.isfile(
            os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout (git or .git missing): the tracked files cannot be listed")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in out.decode("utf-8", "surrogateescape").split("\0"):
        path = os.path.join(ROOT, rel)
        if not rel or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"\0" in data:
            continue  # binary
        try:
            yield rel, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


@pytest.fixture(scope="module")
def tracked_text():
    return list(_tracked_text_files())


@pytest.mark.parametrize("pattern", [p for _, p in OUTSIDE], ids=[name for name, _ in OUTSIDE])
def test_no_reference_to_outside_documents(tracked_text, pattern):
    hits = [f"{rel}:{n}: {line.strip()[:120]}"
            for rel, text in tracked_text
            for n, line in enumerate(text.splitlines(), 1)
            if pattern.search(line)]
    if hits:
        pytest.fail(f"{len(hits)} line(s) refer to a document outside the project:\n" + "\n".join(hits), pytrace=False)


def test_scan_sees_the_docs(tracked_text):
    """The scan is not vacuous: it reads the project's own docs."""
    names = {rel for rel, _ in tracked_text}
    assert {"docs/design.md", "docs/testing.md", "docs/supervisors.md", "README.md"} <= names
