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


def _live_lines(tracker, width=80, height=24):
    from rich.console import Console

    from noops_cli.views import LiveView

    console = Console(width=width, height=height, record=True, color_system=None, force_terminal=False)
    view = LiveView(tracker, "deploy hello", console=console)
    lines = console.render_lines(view.render(), console.options, pad=False)
    return ["".join(seg.text for seg in line).rstrip() for line in lines]


@pytest.mark.parametrize("hosts, message_lines", [(4, 20), (40, 1), (40, 20)],
                         ids=["long-failure", "many-hosts", "many-hosts-and-long-failure"])
def test_live_table_keeps_the_pause_hint_and_counts_on_an_80x24_terminal(hosts, message_lines):
    tracker = RolloutTracker()
    failure = "\n".join("hello did not stay up; last log line %d: cannot bind 0.0.0.0:8080" % i
                        for i in range(message_lines))
    tracker.apply({"id": 9, "status": "paused", "control": "pause", "control_by": "max_fail",
                   "control_reason": "1 failed host"},
                  [{"host": "h%02d" % i, "status": "failed" if i == 1 else "success" if i == 0 else "pending",
                    "message": failure if i == 1 else None} for i in range(hosts)])
    lines = _live_lines(tracker)
    text = "\n".join(lines)
    assert len(lines) <= 24, text  # rich's Live crops what is taller than the terminal
    assert "paused: run `noops tasks resume 9` (or press c + Enter here; a + Enter cancels)" in text
    assert "success 1  failed 1" in text and ("pending %d" % (hosts - 2)) in text
    assert "h01" in text and "failed" in text  # the failed host stays in view, its message on one line
    assert not any("last log line 1:" in line for line in lines)


@pytest.mark.parametrize("reads, last", [
    ([("deploying", "1.0.0"), ("failed", "3.0.0"), ("failed", "1.0.0")], ["a", "failed", "1.0.0"]),
    ([("deploying", "1.0.0"), ("failed", "1.0.0")], ["a", "failed", "1.0.0"]),
    ([("deploying", "1.0.0"), ("success", "3.0.0")], ["a", "success", "3.0.0"]),
    ([("deploying", "1.0.0"), ("unreachable", "3.0.0"), ("unreachable", "")], ["a", "unreachable", "-"]),
], ids=["failed-then-switched-back", "failed-switched-back-at-once", "success", "unreachable-release-gone"])
def test_plain_view_shows_the_release_after_the_switch_back(reads, last):
    # A failed host is switched back after its failure is recorded: the store's release changes with the state
    # staying failed, and the line printed last names the release the host's path points at now.
    tracker = RolloutTracker()
    out = io.StringIO()
    with PlainView(tracker, "deploy hello", out) as view:
        for status, release in reads:
            tracker.apply({"id": 1, "status": "running"}, [{"host": "a", "status": status, "release": release,
                                                            "message": "rc 3" if status == "failed" else None}])
            view.refresh()
    lines = out.getvalue().splitlines()[1:]
    assert lines[-1].split()[1:4] == last
    assert tracker.rows["a"].release == (last[2] if last[2] != "-" else "")


def test_a_refused_run_s_summary_names_its_recorded_task():
    tracker = RolloutTracker()
    tracker.apply({"id": 12, "status": "failed", "control": "run", "version": "4.0.0"}, [])
    tracker.controller_failures(['bad.yml: hello.pkg_url: "gopher://x/y": scheme must be http, https, ftp or file'])
    out = []
    assert summarize(RunOutcome(rc=2, status="failed", tracker=tracker), "deploy", out.append) == 2
    assert out == ['error: bad.yml: hello.pkg_url: "gopher://x/y": scheme must be http, https, ftp or file',
                   "deploy 4.0.0: 0 host(s); task 12 (noops tasks show 12)"]
