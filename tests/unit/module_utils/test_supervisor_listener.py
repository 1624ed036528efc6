"""module_utils/supervisor_listener.py: the noops-* labels of a config, the crash-loop setting and its window."""

import pytest

from ansible_collections.noops.platform.plugins.module_utils.supervisor_listener import (
    CrashLoop,
    parse_crash_loop,
    parse_labels,
)


@pytest.mark.parametrize("text, expected", [
    ("# noops-name: dch\n# noops-version: 93043\n\nGod.watch do |w|\n", {"name": "dch", "version": "93043"}),
    ("; noops-crash-loop: 3/600\n[program:x]\n# noops-version: late\n", {"crash-loop": "3/600"}),
    ("[Unit]\n# noops-version: 1\n", {}),
])
def test_parse_labels(text, expected):
    assert parse_labels(text) == expected


@pytest.mark.parametrize("value, expected", [("3/600", (3, 600)), (" 5 / 60 ", (5, 60))])
def test_parse_crash_loop(value, expected):
    assert parse_crash_loop(value) == expected


@pytest.mark.parametrize("value", ["", "3", "three/600", "3/"])
def test_parse_crash_loop_rejects(value):
    with pytest.raises(ValueError):
        parse_crash_loop(value)


# (seconds of each exit, times, within) -> which exits trip the rule
@pytest.mark.parametrize("exits, times, within, trips", [
    ([0, 100, 200], 3, 600, [False, False, True]),          # the default: 3 within 10 minutes
    ([0, 400, 700], 3, 600, [False, False, False]),         # the first left the window
    ([0, 1, 2, 3, 4, 5], 3, 600, [False, False, True, False, False, True]),  # counting restarts after a trip
    ([0], 1, 10, [True]),
])
def test_crash_loop_window(exits, times, within, trips):
    loops = CrashLoop()
    assert [loops.record("p", t, times, within) for t in exits] == trips
    assert not CrashLoop().record("other", 0, 2, 10)


def test_the_role_ships_the_same_listener():
    """The supervisor role copies roles/supervisor/files/noops_listener.py to the host as supervisord's event
    listener; the modules import the same code as module_utils/supervisor_listener.py. The two stay one file."""
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    source = os.path.join(root, "plugins", "module_utils", "supervisor_listener.py")
    shipped = os.path.join(root, "roles", "supervisor", "files", "noops_listener.py")
    with open(source, "rb") as a, open(shipped, "rb") as b:
        assert a.read() == b.read(), "%s differs from %s: copy it over (cp %s %s)" % (
            os.path.relpath(shipped, root), os.path.relpath(source, root), os.path.relpath(source, root),
            os.path.relpath(shipped, root))
