"""Deploy locks: atomic acquisition across processes, holder messages, dead runs, break, release."""

import json
import multiprocessing
import os
import subprocess
import sys

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.odin import lock
from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import (
    LockHeld, acquire, lock_dir, lock_file, playbook_pid, read, release,
)

KEY = "cop.xiaomi_service.dch_job.dch"


def dead_pid():
    """The pid of a process that has ended (reaped), so nothing runs under it now."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def locks(tmp_path, monkeypatch):
    monkeypatch.setenv("NOOPS_USER", "alice")
    monkeypatch.delenv("NOOPS_TASK_ID", raising=False)
    return str(tmp_path / "locks")


@pytest.mark.parametrize("env, expected", [
    ({"NOOPS_LOCK_DIR": "/x/locks"}, "/x/locks"),
    ({"XDG_STATE_HOME": "/st"}, "/st/noops/locks"),
    ({"HOME": "/home/u"}, "/home/u/.local/state/noops/locks"),
])
def test_lock_dir(monkeypatch, env, expected):
    for name in ("NOOPS_LOCK_DIR", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert lock_dir() == expected


def test_acquire_writes_the_holder(locks, monkeypatch):
    holder, changed, broken = acquire(KEY, os.getpid(), "/srv/playbooks", directory=locks, task_id=42)
    assert (changed, broken) == (True, None)
    with open(lock_file(KEY, locks)) as f:
        on_disk = json.load(f)
    assert on_disk == holder
    assert {k: on_disk[k] for k in ("key", "user", "pid", "host", "task_id", "playbook")} == dict(
        key=KEY, user="alice", pid=os.getpid(), host=controller_name(), task_id=42, playbook="/srv/playbooks")
    assert on_disk["pid_start"] == lock.process_start(os.getpid())
    assert on_disk["since"][:2] == "20"


def test_same_run_again_changes_nothing(locks):
    acquire(KEY, os.getpid(), directory=locks)
    assert acquire(KEY, os.getpid(), directory=locks)[1] is False


def test_held_by_a_live_run_fails_naming_it(locks):
    parent = os.getppid()                 # alive, and not this process
    holder = acquire(KEY, parent, directory=locks)[0]
    for break_stale in (False, True):     # a live run's lock is never broken
        with pytest.raises(LockHeld) as err:
            acquire(KEY, os.getpid(), break_stale=break_stale, directory=locks)
        assert str(err.value) == "deploy of %s is locked by alice since %s (pid %d on %s)" % (
            KEY, holder["since"], parent, controller_name())
        assert err.value.stale is False
    assert read(KEY, locks)["pid"] == parent


def test_dead_run_is_reported_and_broken_only_when_asked(locks):
    pid = dead_pid()
    acquire(KEY, pid, directory=locks)
    with pytest.raises(LockHeld) as err:
        acquire(KEY, os.getpid(), directory=locks)
    assert err.value.stale is True
    assert str(err.value).endswith(", left by a dead run (pid %d ended); break it with odin_break_lock=true" % pid)
    holder, changed, broken = acquire(KEY, os.getpid(), break_stale=True, directory=locks)
    assert (holder["pid"], changed, broken["pid"]) == (os.getpid(), True, pid)
    assert read(KEY, locks)["pid"] == os.getpid()
    assert [n for n in os.listdir(locks) if not n.endswith(".json")] == []      # no temp or broken files left


def test_reused_pid_is_a_dead_run(locks):
    acquire(KEY, os.getppid(), directory=locks)
    path = lock_file(KEY, locks)
    with open(path) as f:
        holder = json.load(f)
    holder["pid_start"] = "1"             # the pid runs, but it is a newer process than the one that took the lock
    with open(path, "w") as f:
        json.dump(holder, f)
    with pytest.raises(LockHeld) as err:
        acquire(KEY, os.getpid(), directory=locks)
    assert err.value.stale is True


@pytest.mark.parametrize("content, breakable", [
    ({"key": KEY, "user": "bob", "pid": 1, "host": "other-controller", "since": "t"}, True),
    ("{not json", True),
])
def test_foreign_or_unreadable_lock(locks, content, breakable):
    os.makedirs(locks)
    with open(lock_file(KEY, locks), "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(LockHeld) as err:
        acquire(KEY, os.getpid(), directory=locks)
    assert err.value.stale is False          # another controller's pid cannot be checked from here
    assert acquire(KEY, os.getpid(), break_stale=breakable, directory=locks)[1] is True


def test_release_only_by_the_holder_and_idempotent(locks):
    acquire(KEY, os.getppid(), directory=locks)
    released, holder = release(KEY, os.getpid(), locks)
    assert (released, holder["pid"]) == (False, os.getppid())
    assert os.path.exists(lock_file(KEY, locks))
    assert release(KEY, os.getppid(), locks) == (True, None)
    assert release(KEY, os.getppid(), locks) == (False, None)
    assert not os.path.exists(lock_file(KEY, locks))


def _race(args):
    directory, barrier, pid = args
    barrier.wait()
    try:
        acquire(KEY, pid, directory=directory)
        return pid
    except LockHeld:
        return None


@pytest.mark.parametrize("runs", [2, 8])
def test_concurrent_runs_exactly_one_wins(locks, runs):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Manager().Barrier(runs)
    with ctx.Pool(runs) as pool:
        results = pool.map(_race, [(locks, barrier, 900000 + i) for i in range(runs)])
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert read(KEY, locks)["pid"] == winners[0]


def _break_race(args):
    directory, barrier = args
    pid = os.getpid()                       # each breaker is a live run of its own
    barrier.wait()
    try:
        acquire(KEY, pid, break_stale=True, directory=directory)
        return pid
    except LockHeld:
        return None


def test_concurrent_breakers_exactly_one_wins(locks):
    acquire(KEY, dead_pid(), directory=locks)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Manager().Barrier(4)
    with ctx.Pool(4) as pool:
        # One task per worker: the barrier holds every task until all four workers wait on it.
        results = pool.map(_break_race, [(locks, barrier)] * 4, chunksize=1)
        winners = [r for r in results if r is not None]
        assert len(winners) == 1                # the others find the winner's live lock
        assert read(KEY, locks)["pid"] == winners[0]


def _child_playbook_pid(queue):
    queue.put(playbook_pid())


def test_playbook_pid_walks_up_to_the_process_that_forked_the_worker():
    """Ansible forks workers from the playbook process: a worker has the same command line as its parent."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_playbook_pid, args=(queue,))
    proc.start()
    found = queue.get(timeout=30)
    proc.join()
    assert found == playbook_pid() == playbook_pid(os.getpid())
    assert found in (os.getpid(), playbook_pid(os.getppid()))


@pytest.mark.parametrize("ends", ["exits", "sigint", "sigterm", "releases itself"])
def test_guard_releases_the_lock_when_the_run_ends(locks, ends):
    import signal
    import time

    run = subprocess.Popen([sys.executable, "-c", "import time, sys; sys.stdin.read(); time.sleep(0.1)"],
                           stdin=subprocess.PIPE)
    try:
        acquire(KEY, run.pid, directory=locks)
        guard_pid = lock.guard(KEY, run.pid, locks)
        assert guard_pid and lock.pid_alive(guard_pid)
        assert read(KEY, locks)["pid"] == run.pid          # held while the run lives
        if ends == "releases itself":
            assert release(KEY, run.pid, locks) == (True, None)
            acquire(KEY, os.getpid(), directory=locks)     # another run's lock under the same name
        elif ends == "exits":
            run.stdin.close()
        else:
            run.send_signal(signal.SIGINT if ends == "sigint" else signal.SIGTERM)
        if not run.stdin.closed:
            run.stdin.close()
        run.wait(timeout=30)
        deadline = time.monotonic() + 10
        while lock.pid_alive(guard_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not lock.pid_alive(guard_pid)               # the guard ends with the run
        if ends == "releases itself":
            assert read(KEY, locks)["pid"] == os.getpid()  # never someone else's lock
        else:
            assert read(KEY, locks) is None
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
