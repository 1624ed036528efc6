"""The summary of a run (and its exit status) and the line-by-line view."""

import io

import pytest

from noops_cli.runner import RunOutcome
from noops_cli.tracker import HostRow, RolloutTracker
from noops_cli.views import PlainView, summarize


@pytest.mark.parametrize("states, rc, errors, interrupted, status, lines", [
    (["success", "skipped"], 0, [], False, 0, ["deploy 2.0.0: 2 host(s): 1 success, 1 skipped"]),
    (["success", "failed", "pending"], 2, [], False, 1,
     ["deploy 2.0.0: 3 host(s): 1 success, 1 failed, 1 not reached", "  h1 failed: why h1"]),
    (["success"], 2, [], False, 1, ["deploy 2.0.0: 1 host(s): 1 success"]),
    ([], 2, ["cluster.yml: cluster: missing"], False, 2,
     ["error: cluster.yml: cluster: missing", "deploy 2.0.0: 0 host(s)"]),
    (["pending", "pending"], 2, ["deploy lock of job.hello held by ops (pid 1) since 10:00"], False, 2,
     ["error: deploy lock of job.hello held by ops (pid 1) since 10:00", "deploy 2.0.0: 2 host(s): 2 not reached"]),
    (["success", "deploying"], 0, [], True, 130, ["deploy 2.0.0: 2 host(s): 1 success, 1 deploying"]),
    (["unreachable"], 4, [], False, 1, ["deploy 2.0.0: 1 host(s): 1 unreachable", "  h0 unreachable: why h0"]),
], ids=["all-good", "failed-and-not-reached", "rc-says-failed", "rejected", "locked", "interrupted", "unreachable"])
def test_summary_and_exit_status(states, rc, errors, interrupted, status, lines):
    tracker = RolloutTracker()
    tracker.version = "2.0.0"
    tracker.task_id = None
    for i, state in enumerate(states):
        tracker.rows["h%d" % i] = HostRow("h%d" % i, state=state, message="why h%d" % i)
    tracker.failed_events = list(errors)
    out = []
    got = summarize(RunOutcome(rc=rc, status="x", tracker=tracker, interrupted=interrupted), "deploy", out.append)
    assert (got, out) == (status, lines)


def test_summary_names_the_task_and_the_cancel():
    tracker = RolloutTracker(check=True)
    tracker.apply({"id": 7, "status": "cancelled", "control": "cancel", "control_by": "ops", "version": "2.0.0"},
                  [{"host": "a", "status": "success"}, {"host": "b", "status": "pending"}])
    out = []
    assert summarize(RunOutcome(rc=2, status="x", tracker=tracker), "deploy", out.append) == 1
    assert out == ["check deploy 2.0.0: 2 host(s): 1 success, 1 not reached; task 7 (noops tasks show 7)",
                   "cancelled: task 7 cancelled by ops at -"]


def test_plain_view_prints_one_line_per_change():
    tracker = RolloutTracker()
    out = io.StringIO()
    with PlainView(tracker, "deploy hello", out) as view:
        tracker.apply({"id": 1, "status": "running"}, [{"host": "a", "status": "pending"}])
        tracker.apply({"id": 1, "status": "running"}, [{"host": "a", "status": "deploying"}])
        tracker.apply({"id": 1, "status": "running"}, [{"host": "a", "status": "failed",
                                                        "message": "no space left"}])
        view.refresh()
    lines = out.getvalue().splitlines()
    assert lines[0] == "deploy hello"
    assert [line.split()[1:3] for line in lines[1:]] == [["a", "deploying"], ["a", "failed"]]
    assert lines[-1].endswith("no space left")
