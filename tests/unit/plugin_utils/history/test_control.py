"""Status and control transitions of recorded tasks and hosts."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.history.control import (
    ControlError, controller_gone, decide, final_status, host_transition, shown_status,
)


@pytest.mark.parametrize("current, new, expected", [
    (None, "pending", "pending"),
    ("pending", "deploying", "deploying"),
    ("deploying", "success", "success"),
    ("deploying", "failed", "failed"),
    ("pending", "skipped", "skipped"),
    ("deploying", "skipped", "skipped"),
    ("pending", "unreachable", "unreachable"),
    ("success", "failed", "failed"),        # a check after the deploy failed on that host
    ("success", "deploying", "success"),    # a handler of the role later does not reopen the host
    ("failed", "success", "failed"),        # a failure is never turned into success
    ("unreachable", "deploying", "unreachable"),
    ("success", "pending", "success"),
    ("deploying", "pending", "deploying"),
    # A host of a run that is not a deploy (control.yml, any playbook) is running, not deploying.
    ("pending", "running", "running"),
    ("running", "success", "success"),
    ("running", "failed", "failed"),
    ("running", "pending", "running"),
    ("success", "running", "success"),
])
def test_host_transition(current, new, expected):
    assert host_transition(current, new) == expected


def test_host_transition_rejects_unknown_status():
    with pytest.raises(ValueError, match="unknown host status 'done'"):
        host_transition("pending", "done")


@pytest.mark.parametrize("status, control, action, expected", [
    ("running", "run", "pause", "pause"),
    ("running", "pause", "pause", "pause"),
    ("running", "pause", "resume", "run"),     # asked to pause, not yet at a batch boundary
    ("paused", "pause", "resume", "run"),
    ("paused", "pause", "cancel", "cancel"),
    ("running", "run", "cancel", "cancel"),
    ("running", "run", "resume", ControlError("task 7 is running and not paused: nothing to resume")),
    ("success", "run", "pause", ControlError("task 7 already ended (success): nothing to pause")),
    ("cancelled", "cancel", "resume", ControlError("task 7 already ended (cancelled): nothing to resume")),
    ("interrupted", "run", "cancel", ControlError("task 7 already ended (interrupted): nothing to cancel")),
    ("running", "cancel", "resume", ControlError("task 7 is being cancelled")),
    ("running", "run", "stop", ControlError("unknown action 'stop'")),
])
def test_control_request(status, control, action, expected):
    from ansible_collections.noops.platform.plugins.plugin_utils.history.control import control_request
    if isinstance(expected, ControlError):
        with pytest.raises(ControlError, match=str(expected).replace("(", r"\(").replace(")", r"\)")):
            control_request(7, status, control, action)
    else:
        assert control_request(7, status, control, action) == expected


@pytest.mark.parametrize("failed, cancelled, interrupted, expected", [
    (False, False, False, "success"),
    (True, False, False, "failed"),
    (True, True, False, "cancelled"),
    (False, True, False, "cancelled"),
    (True, True, True, "interrupted"),
    (False, False, True, "interrupted"),
])
def test_final_status(failed, cancelled, interrupted, expected):
    assert final_status(failed, cancelled, interrupted) == expected


@pytest.mark.parametrize("row, action, fragment", [
    ({"id": 3, "control": "run"}, "continue", "task 3 running"),
    ({"id": 3, "control": None}, "continue", "task 3 running"),
    ({"id": 3, "control": "pause", "control_by": "ann", "control_at": 0, "control_reason": "check lg"},
     "wait", "task 3 paused by ann at "),
    ({"id": 3, "control": "cancel", "control_by": "bob", "control_at": 0}, "cancel", "task 3 cancelled by bob at "),
    ({"id": 3, "control": "cancel", "control_by": "bob", "control_at": 0, "control_reason": "canary failed"},
     "cancel", "task 3 cancelled by bob at "),
])
def test_decide(row, action, fragment):
    d = decide(row)
    assert d.action == action
    assert fragment in d.message
    if row.get("control_reason"):
        # the operator's reason is in the rollout's line, for a pause and a cancel alike
        assert d.message.endswith(": " + row["control_reason"])
    else:
        assert not d.message.endswith(": ")


HERE, THERE = "ctl-a", "ctl-b"


def _alive(pid, start):
    """pid 100 runs (started at tick 555); every other pid has ended."""
    return pid == 100 and start in (None, "555")


@pytest.mark.parametrize("task, gone", [
    ({"controller": HERE, "pid": 100, "pid_start": "555", "heartbeat_at": 0.0}, None),      # same host: pid decides
    ({"controller": HERE, "pid": 100, "pid_start": "777"}, "its controller (pid 100 on ctl-a) has ended"),  # reused
    ({"controller": HERE, "pid": 101, "pid_start": "555", "heartbeat_at": 995.0},
     "its controller (pid 101 on ctl-a) has ended"),                                       # killed, fresh beat
    ({"controller": HERE, "pid": 100}, None),                                               # older record: pid only
    ({"controller": THERE, "pid": 100, "heartbeat_at": 990.0}, None),                     # other host: fresh beat
    ({"controller": THERE, "pid": 100, "heartbeat_at": 800.0},
     "no heartbeat from its controller (pid 100 on ctl-b) for 200 s"),
    ({"controller": THERE, "pid": 100}, None),                                              # no beat: cannot judge
    ({}, None),
], ids=["same-host-alive", "same-host-pid-reused", "same-host-killed", "same-host-old-record",
        "other-host-fresh", "other-host-stale", "other-host-old-record", "nothing-known"])
def test_controller_gone(task, gone):
    assert controller_gone(task, hostname=HERE, now=1000.0, alive=_alive) == gone


@pytest.mark.parametrize("status, shown", [
    ("running", "interrupted"), ("paused", "interrupted"), ("success", "success"), ("failed", "failed"),
])
def test_a_task_whose_controller_is_gone_shows_interrupted(status, shown):
    task = {"status": status, "controller": HERE, "pid": 101}
    assert shown_status(task, hostname=HERE, alive=_alive)[0] == shown
