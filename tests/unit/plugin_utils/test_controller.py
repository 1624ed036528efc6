"""The controller's name in the history and the deploy locks."""

import pytest


@pytest.mark.parametrize("inode, name", [(4026531836, "ctl1"), (4026532999, "ctl1/pidns:4026532999")])
def test_controller_name_tells_a_container_pid_namespace_apart(monkeypatch, inode, name):
    import os
    import socket
    import types

    from ansible_collections.noops.platform.plugins.plugin_utils import controller

    monkeypatch.setattr(socket, "gethostname", lambda: "ctl1")
    real = os.stat
    monkeypatch.setattr(controller.os, "stat", lambda p, *a, **k: types.SimpleNamespace(st_ino=inode)
                        if p == "/proc/self/ns/pid" else real(p, *a, **k))
    assert controller.controller_name() == name


def test_a_run_in_another_pid_namespace_is_judged_by_its_heartbeat():
    """An execution environment on this host (host network and name, pids of its own): its pid says nothing here."""
    import time

    from ansible_collections.noops.platform.plugins.plugin_utils.history.control import controller_gone

    task = {"controller": "ctl1/pidns:4026532999", "pid": 10, "pid_start": "5", "heartbeat_at": time.time() - 5}
    assert controller_gone(task, hostname="ctl1", alive=lambda pid, start: False) is None
    stale = dict(task, heartbeat_at=time.time() - 600)
    assert "no heartbeat" in controller_gone(stale, hostname="ctl1", alive=lambda pid, start: False)
