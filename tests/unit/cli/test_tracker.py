"""The progress of a run as the CLI shows it, read from the history store: the task of the run's ansible-playbook
process, its pause / cancel, and per host the recorded status moved by the one host transition table; events add
only the pid, the task a host is on and, in check mode, the steps that would change it."""

import os

import pytest

from noops_cli.tracker import RolloutTracker, StoreReader, one_line

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore


def task(status="running", control="run", **kw):
    row = {"id": 12, "status": status, "control": control, "control_by": "ops", "control_at": None,
           "control_reason": None, "service": "job.hello_service.hello", "version": "2.0.0"}
    row.update(kw)
    return row


def host(name, status, release=None, message=None, started=None, ended=None):
    return {"host": name, "status": status, "release": release, "message": message, "started_at": started,
            "ended_at": ended}


def ev(kind, host=None, task=None, role=None, res=None, path=None, pid=None):
    data = {k: v for k, v in (("host", host), ("task", task), ("role", role), ("res", res), ("task_path", path))
            if v is not None}
    event = {"event": kind, "event_data": data}
    if pid is not None:
        event["pid"] = pid
    return event


CASES = [
    # id, [(task, hosts) snapshots read from the store], expected {host: (state, release, message)}, run facts
    ("pending-then-deploying", [(task(), [host("a", "pending"), host("b", "pending")]),
                                (task(), [host("a", "deploying", "1.0.0")])],
     {"a": ("deploying", "1.0.0", ""), "b": ("pending", "", "")}, {"task_id": 12, "paused": None}),
    ("done-success-and-skipped", [(task(), [host("a", "success", "2.0.0-1"), host("b", "skipped", "2.0.0")])],
     {"a": ("success", "2.0.0-1", ""), "b": ("skipped", "2.0.0", "already at 2.0.0")}, {"version": "2.0.0"}),
    ("failed-with-its-message", [(task(), [host("a", "deploying")]),
                                 (task(), [host("a", "failed", "1.0.0", "thor: deploy failed at Restart:\n rc 3")])],
     {"a": ("failed", "1.0.0", "thor: deploy failed at Restart: rc 3")}, {}),
    ("paused-from-the-store", [(task("paused", "pause", control_by="pause_step", control_reason="pause_step 1"),
                                [host("a", "success")])],
     {"a": ("success", "", "")}, {"paused": "task 12 paused by pause_step at -: pause_step 1", "pause_events": 1}),
    ("resumed", [(task("paused", "pause"), []), (task("running", "run"), [])], {},
     {"paused": None, "pause_events": 1}),
    ("paused-twice", [(task("paused", "pause"), []), (task(), []), (task("paused", "pause"), [])], {},
     {"pause_events": 2}),
    ("cancel-asked", [(task("running", "cancel"), [host("a", "deploying")])], {"a": ("deploying", "", "")},
     {"cancelling": "task 12 cancelled by ops at -", "cancelled": None}),
    ("cancelled", [(task("cancelled", "cancel"), [host("a", "success"), host("b", "pending")])],
     {"a": ("success", "", ""), "b": ("pending", "", "")}, {"cancelled": "task 12 cancelled by ops at -"}),
    ("control-run-is-running", [(task(service=None, version=None), [host("a", "running")])],
     {"a": ("running", "", "")}, {}),
    ("no-task-yet", [(None, [])], {}, {"task_id": None}),
]


@pytest.mark.parametrize("snapshots, rows, facts", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_tracker_from_the_store(snapshots, rows, facts):
    tracker = RolloutTracker()
    for task_row, hosts in snapshots:
        tracker.apply(task_row, hosts)
    assert {h: (r.state, r.release, r.message) for h, r in tracker.rows.items()} == rows
    for name, value in facts.items():
        assert getattr(tracker, name) == value
    assert tracker.refused == []


@pytest.mark.parametrize("moves, shown, refused", [
    (["pending", "deploying", "success"], "success", []),
    (["pending", "deploying", "failed", "success"], "failed", ["a: failed -> success"]),
    (["pending", "unreachable", "deploying"], "unreachable", ["a: unreachable -> deploying"]),
    (["pending", "success", "pending"], "success", ["a: success -> pending"]),
    (["pending", "success", "failed"], "failed", []),
    (["pending", "done"], "pending", ["a: unknown status 'done'"]),
], ids=["forward", "failure-is-final", "unreachable-is-final", "no-way-back", "success-may-fail", "unknown"])
def test_host_moves_follow_the_one_transition_table(moves, shown, refused):
    tracker = RolloutTracker()
    for status in moves:
        tracker.apply(task(), [host("a", status)])
    assert tracker.rows["a"].state == shown
    assert tracker.refused == refused


def test_changes_and_times_come_from_the_store():
    tracker = RolloutTracker()
    tracker.apply(task(), [host("a", "pending")])
    tracker.apply(task(), [host("a", "deploying", started=10.0)])
    tracker.apply(task(), [host("a", "success", started=10.0, ended=12.5)])
    row = tracker.rows["a"]
    assert (row.started, row.ended, row.elapsed(99.0)) == (10.0, 12.5, 2.5)
    assert [c.state for c in tracker.take_changes()] == ["deploying", "success"]
    assert tracker.take_changes() == []


@pytest.mark.parametrize("roles, working", [((), "running"), (("thor",), "deploying")], ids=["control", "deploy"])
def test_a_host_done_between_two_reads_is_shown_at_work_first(roles, working):
    # The store is read every half second: a fast control action goes from pending to success between two reads.
    tracker = RolloutTracker(roles)
    tracker.apply(task(), [host("a", "pending"), host("b", "pending")])
    tracker.take_changes()
    tracker.apply(task(), [host("a", "success", started=10.0, ended=10.2), host("b", "pending")])
    assert [(c.name, c.state) for c in tracker.take_changes()] == [("a", working), ("a", "success")]
    tracker.apply(task(), [host("a", "success", started=10.0, ended=10.2), host("b", "failed")])
    assert [(c.name, c.state) for c in tracker.take_changes()] == [("b", "failed")]  # never started: no work line


@pytest.mark.parametrize("check, steps, status, shown", [
    (True, [("prepare", True), ("unpack", True), ("switch", True), ("switch", True), ("prune", False)], "success",
     ("would change", "prepare, unpack, switch")),
    (True, [("prepare", False)], "success", ("success", "")),
    (False, [("prepare", True)], "success", ("success", "")),
    (True, [(None, True)], "success", ("would change", "Unpack it")),
    (True, [("unpack", True)], "skipped", ("skipped", "already at 2.0.0")),
], ids=["check-names-the-steps", "check-nothing-to-change", "not-check", "check-task-name-without-path",
        "check-skipped"])
def test_check_mode_says_what_would_change(check, steps, status, shown):
    tracker = RolloutTracker(check=check)
    tracker.apply(task(), [host("a", "deploying")])
    for path, changed in steps:
        tracker.handle(ev("runner_on_ok", "a", "Unpack it", "thor", {"changed": changed},
                          "/c/roles/thor/tasks/%s.yml:4" % path if path else None))
    tracker.apply(task(), [host("a", status)])
    assert (tracker.rows["a"].state, tracker.rows["a"].message) == shown


def test_events_give_the_pid_and_the_task_a_host_is_on():
    tracker = RolloutTracker()
    tracker.handle(ev("playbook_on_start", pid=4321))
    tracker.apply(task(), [host("a", "deploying")])
    tracker.handle(ev("runner_on_start", "a", "Unpack the package", "thor"))
    tracker.handle(ev("runner_on_start", "elsewhere", "Check the request"))
    assert (tracker.pid, tracker.rows["a"].task, list(tracker.rows)) == (4321, "Unpack the package", ["a"])


def test_what_events_say_before_the_store_lists_the_host_is_kept():
    tracker = RolloutTracker(progress_roles=())
    event = ev("runner_on_ok", "a", "Show the processes", res={"msg": ["hello running 4242 1.0.0"]})
    event["event_data"]["task_action"] = "ansible.builtin.debug"
    tracker.handle(ev("runner_on_start", "a", "Show the processes"))
    tracker.handle(event)
    assert tracker.rows == {} and tracker.take_changes() == []
    tracker.apply(task(), [host("a", "success")])
    assert (tracker.rows["a"].state, tracker.rows["a"].message) == ("success", "hello running 4242 1.0.0")


def test_a_control_run_shows_each_host_s_process_list():
    tracker = RolloutTracker(progress_roles=())
    tracker.apply(task(), [host("a", "running")])
    event = ev("runner_on_ok", "a", "Show the processes", res={"msg": ["hello running 4242 2.0.0", "agent stopped"]})
    event["event_data"]["task_action"] = "ansible.builtin.debug"
    tracker.handle(event)
    assert (tracker.rows["a"].state, tracker.rows["a"].message) == ("running", "")
    tracker.apply(task(), [host("a", "success")])
    assert (tracker.rows["a"].state, tracker.rows["a"].message) == ("success",
                                                                  "hello running 4242 2.0.0; agent stopped")
    assert [c.state for c in tracker.take_changes()] == ["running", "success"]


def test_errors_are_the_recorded_controller_failures_without_the_cancel():
    tracker = RolloutTracker()
    tracker.handle(ev("runner_on_failed", "a", "Restart", "thor", {"msg": "rc 3"}))
    assert tracker.errors() == ["rc 3"]  # no task recorded: every failure ansible-runner reported
    tracker.apply(task("cancelled", "cancel"), [])
    tracker.controller_failures(['cluster.yml: hello.pkg_url: "gopher://x": bad scheme\ncluster.yml: cluster.env: '
                                 '"prod": no section', "task 12 cancelled by ops at -",
                                 "GET https://u:Pw-1234@repo/x: 404"])
    assert tracker.errors() == ['cluster.yml: hello.pkg_url: "gopher://x": bad scheme',
                                'cluster.yml: cluster.env: "prod": no section', "GET https://u:********@repo/x: 404"]


def test_store_reader_finds_the_run_by_its_ansible_playbook_process(tmp_path):
    dsn = str(tmp_path / "h.db")
    tracker = RolloutTracker()
    reader = StoreReader(dsn)
    tracker.handle(ev("playbook_on_start", pid=os.getpid()))  # a live process: the run goes on
    reader.read(tracker)
    assert not os.path.exists(dsn) and tracker.task_id is None  # no store yet: not created by a reader
    with HistoryStore(dsn) as store:
        other = store.create_task(playbook="deploy.yml", initiator="x", status="running", started_at=1.0,
                                  controller="elsewhere", pid=os.getpid())
        mine = store.create_task(playbook="deploy.yml", initiator="x", status="running", started_at=2.0,
                                 controller=controller_name(), pid=os.getpid(), version="2.0.0")
        store.write_batch(mine, {}, [host("a", "deploying", "1.0.0", started=2.0)], [
            {"host": None, "at": 3.0, "task_name": "Take the lock", "action": "noops.platform.deploy_lock",
             "status": "failed", "message": "deploy of x is locked by ann"}])
    reader.read(tracker)
    assert (tracker.task_id, tracker.rows["a"].state, tracker.version) == (mine, "deploying", "2.0.0")
    with HistoryStore(dsn) as store:
        store.request_control(mine, "pause", by="ops")
        store.set_status(mine, "paused")
    reader.read(tracker, final=True)
    reader.close()
    assert tracker.paused.startswith("task %d paused by ops at " % mine) and other != mine
    assert tracker.request_errors == ["deploy of x is locked by ann"]


def test_one_line():
    assert one_line(["a\n b", "mysql://app:Pw-1234@db/x"]) == "a b; mysql://app:********@db/x"


def test_a_failure_message_masks_a_password_in_log_lines_and_keeps_the_rest():
    # A password no cluster.yml holds, in a program's log lines: masked in the live table, the rest kept.
    from noops_cli.tracker import _result_message

    res = {"failed": True, "msg": "hello did not stay up; last log lines: cannot connect to db with password "
                                  "Sup3rS3cretPW: broken build 3.0.0", "exception": "(traceback unavailable)"}
    message = _result_message(res)
    assert "Sup3rS3cretPW" not in message
    assert "cannot connect to db with password ********: broken build 3.0.0" in message


def test_store_reader_does_not_take_an_older_run_of_a_reused_pid(tmp_path):
    # An earlier ansible-playbook with the same pid (pids are reused, in containers soon) ran on four hosts;
    # this run's task (--limit: two hosts) is recorded later. Its hosts are the run's rows, never the older run's.
    from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import process_start

    dsn = str(tmp_path / "h.db")
    pid, start = os.getpid(), process_start(os.getpid())
    assert start is not None, "this test needs /proc"
    with HistoryStore(dsn) as store:
        old = store.create_task(playbook="control.yml", initiator="x", status="cancelled", started_at=1.0,
                                controller=controller_name(), pid=pid, pid_start=str(int(start) - 100))
        store.write_batch(old, {}, [host(h, "success" if h.startswith("lg") else "pending")
                                    for h in ("lg-1", "lg-2", "sd-1", "sd-2")], [])
    tracker = RolloutTracker(progress_roles=())
    tracker.handle(ev("playbook_on_start", pid=pid))
    reader = StoreReader(dsn)
    reader.read(tracker)  # the run's task is not recorded yet
    assert (tracker.task_id, tracker.rows) == (None, {})
    with HistoryStore(dsn) as store:
        mine = store.create_task(playbook="control.yml", initiator="x", status="running", started_at=2.0,
                                 controller=controller_name(), pid=pid, pid_start=start)
        store.write_batch(mine, {}, [host("lg-1", "success"), host("lg-2", "success")], [])
    reader.read(tracker, final=True)
    reader.close()
    assert (tracker.task_id, sorted(tracker.rows)) == (mine, ["lg-1", "lg-2"])
    assert tracker.counts()["pending"] == 0
