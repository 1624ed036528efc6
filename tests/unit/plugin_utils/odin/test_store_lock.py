"""The deploy lock in a PostgreSQL history store (several controllers): one holder per service cluster, a live
holder named when refused, a dead holder (heartbeat older than its expiry, or its process ended on this controller)
taken over with a record of who took it from whom, a taken-over run told so before its next batch, racing takers
with one winner, the guard that renews the heartbeat and releases the lock, the expiry setting. On a real private
PostgreSQL server (tests/conftest.py)."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore, StoreError
from ansible_collections.noops.platform.plugins.plugin_utils.odin import store_lock
from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import LockHeld

NAME = "cop.xiaomi_service.dch_job.dch"


def holder(controller="ctl-1", pid=4242, task_id=7, expiry=30.0, pid_start="100"):
    return dict(name=NAME, controller=controller, pid=pid, pid_start=pid_start, task_id=task_id, user_name="alice",
                playbook="/srv/playbooks", expiry=expiry)


def age(store, seconds):
    """Make the lock's heartbeat ``seconds`` old, as a controller that stopped beating leaves it."""
    store._execute("UPDATE noops_locks SET heartbeat_at = heartbeat_at - ? WHERE name = ?", (seconds, NAME))


@pytest.fixture
def store(pg_dsn):
    with HistoryStore(pg_dsn) as s:
        yield s


def test_a_free_lock_is_taken_and_taking_it_again_changes_nothing(store):
    row, changed, took = store_lock.acquire(store, holder())
    assert (changed, took) == (True, None)
    assert {k: row[k] for k in ("name", "controller", "pid", "task_id")} == dict(name=NAME, controller="ctl-1",
                                                                                pid=4242, task_id=7)
    now = time.time()
    assert abs(row["since"] - now) < 5 and row["heartbeat_at"] == row["since"]   # the server's clock
    again, changed, took = store_lock.acquire(store, holder())
    assert (changed, took, again["since"]) == (False, None, row["since"])


def test_a_live_holder_on_another_controller_refuses_the_second_deploy_naming_itself(store):
    store_lock.acquire(store, holder())
    with pytest.raises(LockHeld) as e:
        store_lock.acquire(store, holder(controller="ctl-2", pid=99, task_id=8))
    text = str(e.value)
    assert "\n" not in text
    assert text.startswith("deploy of %s is locked by controller ctl-1 (pid 4242, task 7, user alice) since 20" % NAME)
    assert "last heartbeat" in text
    assert e.value.holder["controller"] == "ctl-1" and e.value.stale is False
    assert store_lock.read(store, NAME)["controller"] == "ctl-1"


def test_a_holder_without_heartbeat_past_its_expiry_is_taken_over_and_the_takeover_recorded(store):
    store_lock.acquire(store, holder(expiry=30.0))
    age(store, 29)
    with pytest.raises(LockHeld):                   # not yet: 29 s < 30 s
        store_lock.acquire(store, holder(controller="ctl-2", pid=99, task_id=8))
    age(store, 5)
    row, changed, took = store_lock.acquire(store, holder(controller="ctl-2", pid=99, task_id=8, expiry=10.0))
    assert changed and (row["controller"], row["pid"], row["task_id"], row["expiry"]) == ("ctl-2", 99, 8, 10.0)
    assert (took["from_controller"], took["from_pid"], took["from_task_id"], took["controller"], took["task_id"]) == (
        "ctl-1", 4242, 7, "ctl-2", 8)
    assert took["reason"].startswith("no heartbeat for 3") and "expiry 30 s" in took["reason"]
    # Both tasks show it: the one that took the lock and the one it was taken from.
    for task_id in (7, 8):
        [seen] = store_lock.takeovers_of_task(store, task_id)
        assert (seen["from_task_id"], seen["task_id"], seen["at"]) == (7, 8, took["at"])
    # The run that lost it learns so before its next batch, with the taker named.
    first = holder()
    assert store_lock.renew(store, first) is False
    message = store_lock.confirm(store, first)
    assert message.startswith("the deploy lock of %s was taken over by controller ctl-2 (pid 99, task 8, user alice)"
                              % NAME)
    assert "no heartbeat for" in message
    assert store_lock.release(store, first) is False          # it cannot release the new holder's lock
    assert store_lock.read(store, NAME)["controller"] == "ctl-2"


def test_a_renewed_heartbeat_keeps_the_lock(store):
    first = holder(expiry=30.0)
    store_lock.acquire(store, first)
    age(store, 100)
    assert store_lock.confirm(store, first, task_id=9) is None      # still its own: renewed, not taken
    with pytest.raises(LockHeld):
        store_lock.acquire(store, holder(controller="ctl-2", pid=99))
    assert store_lock.read(store, NAME)["task_id"] == 7              # a task it had is kept


def test_a_holder_whose_process_ended_on_this_controller_is_dead_at_once(store):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    here = controller_name()
    store_lock.acquire(store, holder(controller=here, pid=proc.pid, pid_start=None, expiry=3600))
    row, changed, took = store_lock.acquire(store, holder(controller=here, pid=os.getpid(), pid_start=None))
    assert changed and took["reason"] == "its run has ended (pid %d on %s)" % (proc.pid, here)


def test_release_frees_the_lock_for_the_next_deploy(store):
    first = holder()
    store_lock.acquire(store, first)
    assert store_lock.release(store, first) is True
    assert store_lock.read(store, NAME) is None
    assert store_lock.confirm(store, first) == ("the deploy lock of %s is no longer this run's (released or removed)"
                                                % NAME)
    assert store_lock.acquire(store, holder(controller="ctl-2"))[1] is True


def _race(dsn, i, start, results):
    with HistoryStore(dsn, migrate=False) as s:
        start.wait()
        try:
            store_lock.acquire(s, holder(controller="ctl-%d" % i, pid=1000 + i, task_id=i))
            results.put(("won", i))
        except LockHeld:
            results.put(("refused", i))
        except StoreError as e:
            results.put(("error", str(e)))


@pytest.mark.parametrize("dead_holder", [False, True], ids=["free", "dead-holder"])
def test_racing_controllers_one_wins(store, pg_dsn, dead_holder):
    if dead_holder:
        store_lock.acquire(store, holder(controller="ctl-dead", pid=1, expiry=5.0))
        age(store, 60)
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(pg_dsn, i, start, results)) for i in range(6)]
    for p in procs:
        p.start()
    start.set()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    assert [o[0] for o in outcomes] == ["refused"] * 5 + ["won"], outcomes
    winner = [o[1] for o in outcomes if o[0] == "won"][0]
    assert store_lock.read(store, NAME)["controller"] == "ctl-%d" % winner
    takeovers = store._read("t", "SELECT * FROM noops_lock_takeovers")
    assert len(takeovers) == (1 if dead_holder else 0)


def test_the_guard_beats_while_the_run_lives_and_releases_the_lock_when_it_ends(store, pg_dsn):
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = store_lock.new_holder(NAME, run.pid, task_id=3, expiry=2.0)
        row, changed, dummy = store_lock.acquire(store, me)
        assert store_lock.guard(pg_dsn, row, interval=0.2)
        first = row["heartbeat_at"]
        deadline = time.monotonic() + 30
        while store_lock.read(store, NAME)["heartbeat_at"] <= first:
            assert time.monotonic() < deadline, "the guard did not renew the heartbeat"
            time.sleep(0.1)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    deadline = time.monotonic() + 30
    while store_lock.read(store, NAME) is not None:
        assert time.monotonic() < deadline, "the guard did not release the lock of the ended run"
        time.sleep(0.1)


def test_a_store_that_is_down_cannot_give_the_lock():
    with pytest.raises(StoreError, match="cannot open"):
        HistoryStore("postgresql://noops@127.0.0.1:1/noops", lock_timeout=1.0)


@pytest.mark.parametrize("explicit, env, config, expected", [
    (None, {}, None, 60.0),
    (None, {}, "lock_expiry = 45\n", 45.0),
    (None, {"NOOPS_LOCK_EXPIRY": "15"}, "lock_expiry = 45\n", 15.0),
    (5, {"NOOPS_LOCK_EXPIRY": "15"}, None, 5.0),
    ("abc", {}, None, "expiry: must be a number of seconds >= 2, got 'abc'"),
    (None, {"NOOPS_LOCK_EXPIRY": "1"}, None, "NOOPS_LOCK_EXPIRY: must be a number of seconds >= 2, got '1'"),
    (None, {"NOOPS_LOCK_EXPIRY": "nan"}, None, "NOOPS_LOCK_EXPIRY: must be a number of seconds >= 2, got 'nan'"),
    (None, {}, "lock_expiry = -3\n", "[noops_history] lock_expiry: must be a number of seconds >= 2, got '-3'"),
])
def test_lock_expiry(tmp_path, explicit, env, config, expected):
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[noops_history]\n" + (config or ""))
    if isinstance(expected, float):
        assert store_lock.lock_expiry(explicit, str(cfg), env) == expected
    else:
        with pytest.raises(ValueError) as e:
            store_lock.lock_expiry(explicit, str(cfg), env)
        assert str(e.value) == expected


@pytest.mark.parametrize("dsn, shared", [
    ("postgresql://noops@db/noops", True), ("host=db dbname=noops", True), ("/var/lib/noops/history.db", False),
    ("sqlite:///var/lib/noops/history.db", False),
])
def test_the_lock_lives_in_the_store_only_when_it_is_postgresql(dsn, shared):
    assert store_lock.in_store(dsn) is shared
