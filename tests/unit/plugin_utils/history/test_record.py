"""Per-host progress from task results, result summaries, and the buffered writer."""

import os
import signal
import threading
import time
import warnings

import pytest

from ansible_collections.noops.platform.plugins.module_utils.redact import MASK, Masker
from ansible_collections.noops.platform.plugins.plugin_utils.history.record import (
    NO_LOG_MESSAGE, RECAP_FIELDS, HostProgress, Recorder, summarize_result,
)
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore, StoreError

# Events: ("result", host, outcome, progress) | ("task", progress) for a task start | ("skipflag", host).
DEPLOY_CASES = [
    pytest.param(
        [("result", "a", "changed", True), ("result", "a", "ok", True), ("task", False)],
        {"a": "success", "b": "pending"}, id="deploy-one-batch-then-next-batch-starts"),
    pytest.param(
        [("result", "a", "changed", True)],
        {"a": "deploying", "b": "pending"}, id="deploy-in-progress"),
    pytest.param(
        [("result", "a", "ok", False), ("result", "b", "ok", False)],
        {"a": "pending", "b": "pending"}, id="deploy-odin-tasks-do-not-move-hosts"),
    pytest.param(
        [("result", "a", "changed", True), ("result", "a", "failed", True), ("task", False)],
        {"a": "failed", "b": "pending"}, id="deploy-thor-failure"),
    pytest.param(
        [("result", "a", "skipped", True), ("result", "a", "skipped", True), ("task", False)],
        {"a": "skipped", "b": "pending"}, id="deploy-all-thor-tasks-skipped"),
    pytest.param(
        [("result", "a", "changed", True), ("skipflag", "a"), ("task", False)],
        {"a": "skipped", "b": "pending"}, id="deploy-thor-says-already-at-version"),
    pytest.param(
        [("result", "a", "unreachable", True)],
        {"a": "unreachable", "b": "pending"}, id="deploy-unreachable"),
    pytest.param(
        [("result", "a", "changed", True), ("task", False), ("result", "a", "failed", False)],
        {"a": "failed", "b": "pending"}, id="deploy-check-after-batch-fails"),
    pytest.param(
        [("result", "a", "changed", True), ("task", False), ("result", "b", "failed", False, False)],
        {"a": "success", "b": "pending"}, id="deploy-cancel-leaves-next-batch-pending"),
    pytest.param(
        [("result", "a", "ignored", True), ("task", False)],
        {"a": "success", "b": "pending"}, id="deploy-ignored-error-is-not-failure"),
]


@pytest.mark.parametrize("events, expected", DEPLOY_CASES)
def test_deploy_progress(events, expected):
    p = HostProgress(deploy=True)
    p.add_hosts(["a", "b"])
    _play(p, events)
    assert _statuses(p) == expected


@pytest.mark.parametrize("events, expected", [
    # Not a deploy (control.yml reading status, any playbook): a host being worked on is running.
    ([("result", "a", "ok", False)], {"a": "running", "b": "pending"}),
    ([("result", "a", "ok", False), ("result", "b", "failed", False)], {"a": "running", "b": "failed"}),
])
def test_generic_progress_while_running(events, expected):
    p = HostProgress()
    p.add_hosts(["a", "b"])
    _play(p, events)
    assert _statuses(p) == expected


@pytest.mark.parametrize("events, expected", [
    ([("result", "a", "ok", False), ("result", "b", "skipped", False)], {"a": "success", "b": "skipped"}),
    ([("result", "a", "changed", False), ("result", "b", "unreachable", False)],
     {"a": "success", "b": "unreachable"}),
    ([], {"a": "pending", "b": "pending"}),
])
def test_generic_progress_at_the_end(events, expected):
    p = HostProgress()
    p.add_hosts(["a", "b"])
    _play(p, events)
    rows = p.finish(100.0)
    assert _statuses(p) == expected
    # Rows at the end are the hosts the end decides; failures were written when they happened.
    assert {r["host"] for r in rows} == {h for h, s in expected.items() if s in ("success", "skipped")}


NO_RECAP = dict.fromkeys(RECAP_FIELDS)


def test_deploy_finish_closes_the_last_batch_and_sets_times():
    p = HostProgress(deploy=True)
    p.add_hosts(["a"])
    p.result("a", "changed", True, 10.0, release="93043")
    rows = p.finish(12.5)
    assert rows == [dict({"host": "a", "status": "success", "started_at": 10.0, "ended_at": 12.5,
                          "release": "93043", "message": None}, **NO_RECAP)]




@pytest.mark.parametrize("releases, expected", [
    # The release is the last one a result reported (what the host's path points at): the one it ran before the
    # switch, the new one after it, the old one again after a recovery; "" is no release at all.
    ([("ok", "1.0.0")], "1.0.0"),
    ([("ok", "1.0.0"), ("changed", "2.0.0")], "2.0.0"),
    ([("ok", "1.0.0"), ("changed", "2.0.0"), ("failed", None), ("changed", "1.0.0")], "1.0.0"),
    ([("ok", "1.0.0-20260101000000"), ("ok", None), ("changed", None)], "1.0.0-20260101000000"),
    ([("ok", None), ("changed", "2.0.0"), ("changed", "")], None),
    ([("ok", None)], None),
])
def test_release_is_the_last_one_reported(releases, expected):
    p = HostProgress(deploy=True)
    p.add_hosts(["a"])
    for i, (outcome, release) in enumerate(releases):
        p.result("a", outcome, True, float(i), release=release)
    p.finish(10.0)
    assert p._hosts["a"].release == expected


# Ansible's stats as v2_playbook_on_stats gets them: ok, changed, failures, skipped, dark, rescued, ignored.
STATS = {"ok": {"a": 7, "b": 3}, "changed": {"a": 2}, "failures": {"b": 1}, "skipped": {"a": 4},
         "dark": {"c": 1}, "rescued": {"b": 1}, "ignored": {"a": 1}}


def test_recap_per_host_from_ansible_stats():
    p = HostProgress(deploy=True)
    p.add_hosts(["a", "b", "c", "d"])
    p.result("a", "changed", True, 1.0)
    rows = {r["host"]: r for r in p.recap(STATS, processed=["a", "b", "c", "elsewhere"])}
    assert {h: tuple(r[f] for f in RECAP_FIELDS) for h, r in rows.items()} == {
        # ok, changed, unreachable, failed, skipped, rescued, ignored - as the PLAY RECAP prints them
        "a": (7, 2, 0, 0, 4, 0, 1),
        "b": (3, 0, 0, 1, 0, 1, 0),
        "c": (0, 0, 1, 0, 0, 0, 0),
    }
    # A host Ansible never ran anything on has no recap; a host that is not the task's is not added.
    assert "d" not in rows and "elsewhere" not in p
    final = {r["host"]: r for r in p.finish(5.0)}
    assert final["a"]["status"] == "success" and final["a"]["ok"] == 7


def test_rows_only_when_something_changed():
    p = HostProgress(deploy=True)
    assert len(p.add_hosts(["a", "b"])) == 2
    assert p.add_hosts(["a", "b"]) == []
    assert p.result("a", "changed", True, 1.0)["status"] == "deploying"
    assert p.result("a", "ok", True, 2.0) is None


def _play(p, events):
    now = 0.0
    for ev in events:
        now += 1
        if ev[0] == "result":
            counts = ev[4] if len(ev) > 4 else True
            p.result(ev[1], ev[2], ev[3], now, message="m", counts=counts)
        elif ev[0] == "task":
            if not ev[1]:
                p.end_progress(now)
        elif ev[0] == "skipflag":
            p.result(ev[1], "ok", True, now, skip=True)


def _statuses(p):
    return {h.name: p.status_of(h) for h in p._hosts.values()}


@pytest.mark.parametrize("result, no_log, message, output", [
    ({"msg": "hello"}, False, "hello", None),
    ({"stdout": "line1\nline2", "stderr": "warn", "rc": 0}, False, "", "line1\nline2\n[stderr] warn"),
    ({"stdout": "x" * 50}, False, "", "…" + "x" * 30),
    ({"msg": "pw hunter22"}, False, "pw %s" % MASK, None),
    ({"stdout": "hunter22"}, True, NO_LOG_MESSAGE, None),
    ({"censored": "the output has been hidden"}, False, NO_LOG_MESSAGE, None),
    ({"db_passwd": "hunter22", "changed": False}, False, "", '{"db_passwd": "%s"}' % MASK),
    ({"results": [{"msg": "a", "failed": True}, {"censored": "x", "_ansible_no_log": True}]}, False,
     "2 item(s): a; %s" % NO_LOG_MESSAGE, None),
    ({"skip_reason": "Conditional result was False", "skipped": True}, False, "Conditional result was False", None),
])
def test_summarize_result(result, no_log, message, output):
    masker = Masker()
    masker.add_secret("hunter22")
    assert summarize_result(result, no_log, 30, masker) == (message, output)


OLD_PASSWORD_LINE = "cannot connect to db with password Sup3rS3cretPW: broken build 3.0.0"


@pytest.mark.parametrize("result", [
    # The process module's report: the program's log tail under any key, in lists of mappings.
    {"changed": False, "processes": [{"name": "hello", "state": "fatal", "log_lines": ["starting", OLD_PASSWORD_LINE]}]},
    {"failed": True, "msg": "hello did not stay up: " + OLD_PASSWORD_LINE,
     "processes": [{"name": "hello", "log_lines": [OLD_PASSWORD_LINE]}]},
    {"failed": True, "msg": {"why": [OLD_PASSWORD_LINE]}},
    {"failed": True, "cmd": ["./run.sh"], "rc": 3, "stderr": OLD_PASSWORD_LINE, "stdout": "x"},
    {"changed": True, "stdout": "ok\n" + OLD_PASSWORD_LINE, "stdout_lines": ["ok", OLD_PASSWORD_LINE]},
    {"results": [{"failed": True, "msg": OLD_PASSWORD_LINE}, {"stdout": OLD_PASSWORD_LINE}]},
    {"module_stderr": "Traceback\n" + OLD_PASSWORD_LINE, "failed": True, "msg": "MODULE FAILURE"},
    {"exception": OLD_PASSWORD_LINE, "failed": True, "msg": "x"},
])
def test_summarize_result_hides_secrets_no_one_declared(result):
    # The password is in no cluster.yml (a rotated one): the text rule hides it, and only it.
    message, output = summarize_result(result, False, 2000, Masker())
    stored = (message or "") + (output or "")
    assert "Sup3rS3cretPW" not in stored
    assert "password %s: broken build 3.0.0" % MASK in stored


def test_summarize_result_masks_before_it_cuts_the_tail():
    # The tail must not cut the secret's name off and leave the secret.
    line = "password Sup3rS3cretPW"
    for tail in range(len("Sup3rS3cretPW"), len(line) + 5):
        _message, output = summarize_result({"stdout": line}, False, tail, Masker())
        assert "S3cret" not in output, tail


class FlakyStore:
    """Opens a real SQLite store, but only after ``failures`` attempts have failed like a locked store."""

    def __init__(self, path, failures):
        self.path, self.failures, self.attempts = path, failures, 0

    def __call__(self):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise StoreError("history store %s: cannot open: database is locked" % self.path)
        return HistoryStore(str(self.path))


@pytest.mark.parametrize("failures, incomplete", [(0, 0), (2, 1)])
def test_recorder_writes_batches_and_survives_a_store_that_is_down(tmp_path, failures, incomplete):
    opener = FlakyStore(tmp_path / "h.db", failures)
    rec = Recorder(opener, flush_interval=60)
    task_id = rec.start({"playbook": "p.yml", "initiator": "ann"})
    assert (task_id is None) == (failures > 0)
    rec.host({"host": "a", "status": "deploying", "started_at": 1.0})
    for i in range(5):
        rec.log({"host": "a", "at": float(i), "task_name": "t%d" % i, "status": "ok", "changed": 0})
    if failures:
        assert rec.flush() is False  # second failure: kept in the buffer
    rec.host({"host": "a", "status": "success", "started_at": 1.0, "ended_at": 2.0})
    assert rec.close({"status": "success", "ended_at": 3.0}, timeout=10)
    assert (rec.error is not None) == (failures > 0)
    with HistoryStore(str(tmp_path / "h.db")) as store:
        [task] = store.list_tasks()
        assert (task["status"], task["incomplete"], task["initiator"]) == ("success", incomplete, "ann")
        assert [h["status"] for h in store.task_hosts(task["id"])] == ["success"]
        assert [r["task_name"] for r in store.task_log(task["id"])] == ["t0", "t1", "t2", "t3", "t4"]


def test_recorder_bounds_its_buffer_and_marks_incomplete(tmp_path):
    rec = Recorder(FlakyStore(tmp_path / "h.db", 0), flush_interval=60, max_buffer=3)
    rec.start({"playbook": "p.yml", "initiator": "ann"})
    for i in range(5):
        rec.log({"host": "a", "at": float(i), "status": "ok"})
    rec.close({"status": "success", "ended_at": 1.0}, timeout=10)
    assert rec.dropped == 2
    with HistoryStore(str(tmp_path / "h.db")) as store:
        task = store.list_tasks()[0]
        assert task["incomplete"] == 1
        assert len(store.task_log(task["id"])) == 3


@pytest.mark.parametrize("deploy", [False, True])
def test_an_interrupted_run_leaves_hosts_half_way(deploy):
    p = HostProgress(deploy=deploy)
    p.add_hosts(["a", "b", "c"])
    p.result("a", "changed", True, 1.0)
    if deploy:
        p.end_progress(2.0)  # a's batch is done
    p.result("b", "changed", True, 3.0)
    rows = {r["host"]: r for r in p.finish(4.0, completed=False, note="run interrupted")}
    working = "deploying" if deploy else "running"
    assert rows["b"]["status"] == working and rows["b"]["message"] == "run interrupted"
    assert _statuses(p) == {"a": "success" if deploy else working, "b": working, "c": "pending"}


class SlowWriteStore(HistoryStore):
    """A real SQLite store whose batch write holds the write lock for a while, as a write on a busy disk does."""

    in_write = None

    def write_batch(self, task_id, task_fields, hosts, logs):
        with self._write("cannot record task %d" % task_id):
            self._execute("UPDATE noops_tasks SET status = status WHERE id = ?", (task_id,))
            self.in_write.set()
            time.sleep(0.5)


def _child_sets_status(db, task_id):
    """What a forked Ansible worker (task_control) does: its own connection, one short write."""
    try:
        with HistoryStore(db, lock_timeout=1.0) as store:
            store.set_status(task_id, "paused")
        return 0
    except BaseException:
        return 1


def test_a_fork_never_catches_the_writer_half_way(tmp_path):
    # Ansible forks a worker per host and task while the writer thread may be in SQLite. A child forked then
    # inherits SQLite's in-process record of the parent's write lock and can never write itself ("database is
    # locked"). The recorder holds forks until its write is done.
    db = str(tmp_path / "h.db")
    SlowWriteStore.in_write = threading.Event()
    rec = Recorder(lambda: SlowWriteStore(db), flush_interval=60)
    task_id = rec.start({"playbook": "p.yml", "initiator": "ann"})
    rec.update_task(version="2")
    rec.kick()
    assert SlowWriteStore.in_write.wait(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork of a threaded process
        pid = os.fork()
    if pid == 0:
        os._exit(_child_sets_status(db, task_id))
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not done:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    rec.close({"status": "success", "ended_at": 1.0}, timeout=10)
    assert done and os.waitstatus_to_exitcode(status) == 0
    with HistoryStore(db) as store:
        assert store.get_task(task_id)["status"] == "paused"  # the child's write (this store's writes skip fields)


def test_recorder_beats_while_the_run_is_quiet(tmp_path):
    db = str(tmp_path / "h.db")
    rec = Recorder(lambda: HistoryStore(db), flush_interval=0.05, heartbeat=0.1)
    task_id = rec.start({"playbook": "p.yml", "initiator": "ann", "heartbeat_at": 1.0})
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with HistoryStore(db) as store:
                beat = store.get_task(task_id)["heartbeat_at"]
            if beat > time.time() - 5:
                break
            time.sleep(0.05)
        assert beat > time.time() - 5  # nothing to write, yet the heartbeat moves
    finally:
        assert rec.close({"status": "success", "ended_at": 3.0}, timeout=10)


def test_generic_hosts_are_done_when_their_batch_ends():
    """The one per-host "done" of a run that is not a deploy (control.yml in batches): the next batch starts."""
    p = HostProgress()
    p.add_hosts(["a", "b"])
    p.result("a", "ok", False, 1.0)
    p.changed_rows()
    rows = p.end_batch(2.0)
    assert [(r["host"], r["status"], r["ended_at"]) for r in rows] == [("a", "success", 2.0)]
    p.result("b", "failed", False, 3.0, message="boom")
    assert _statuses(p) == {"a": "success", "b": "failed"}
    assert p.end_batch(4.0) == []


def test_deploy_hosts_are_done_when_the_progress_role_ends_not_per_batch():
    p = HostProgress(deploy=True)
    p.add_hosts(["a", "b"])
    p.result("a", "changed", True, 1.0)
    p.result("b", "ok", False, 1.5)  # a task outside thor (task_control) before its batch
    assert [(r["host"], r["status"]) for r in p.end_batch(2.0)] == [("a", "success")]
    assert _statuses(p) == {"a": "success", "b": "pending"}
