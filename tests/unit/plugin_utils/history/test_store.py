"""The history store on each backend: schema and migrations, records, control, prune, concurrent writers."""

import multiprocessing
import sqlite3
import threading
import time

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.history.control import ControlError
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    LATEST_VERSION, RECAP_FIELDS, HistoryStore, StoreError, default_sqlite_path, parse_dsn, redact_dsn, resolve_dsn,
)


@pytest.mark.parametrize("dsn, expected", [
    ("/var/lib/noops/history.db", ("sqlite", "/var/lib/noops/history.db")),
    ("sqlite:///var/lib/noops/h.db", ("sqlite", "/var/lib/noops/h.db")),
    ("sqlite:////var/lib/noops/h.db", ("sqlite", "/var/lib/noops/h.db")),
    ("postgresql://noops:pw@db:5432/noops", ("postgresql", "postgresql://noops:pw@db:5432/noops")),
    ("postgres://db/noops", ("postgresql", "postgres://db/noops")),
    ("host=db dbname=noops", ("postgresql", "host=db dbname=noops")),
])
def test_parse_dsn(dsn, expected):
    assert parse_dsn(dsn) == expected


@pytest.mark.parametrize("dsn, message", [
    ("", "empty history store DSN"),
    ("sqlite:relative.db", "write sqlite:///path"),
    ("mysql://u:secretpw@db/x", "unknown scheme"),
])
def test_parse_dsn_errors(dsn, message):
    with pytest.raises(StoreError, match=message) as e:
        parse_dsn(dsn)
    assert "secretpw" not in str(e.value)


@pytest.mark.parametrize("dsn, expected", [
    ("postgresql://noops:s3cret@db/noops", "postgresql://noops:********@db/noops"),
    ("postgresql://noops:s3/c#r?t@db/noops", "postgresql://noops:********@db/noops"),
    ("host=db password=s3cret dbname=x", "host=db password=******** dbname=x"),
    ("host=db password='s3 cret' dbname=x", "host=db password='********' dbname=x"),
    ("/var/lib/h.db", "/var/lib/h.db"),
])
def test_redact_dsn(dsn, expected):
    assert redact_dsn(dsn) == expected


@pytest.mark.parametrize("explicit, env, config, expected", [
    ("/a.db", {"NOOPS_HISTORY_DSN": "/b.db"}, "/c.db", "/a.db"),
    (None, {"NOOPS_HISTORY_DSN": "/b.db"}, "/c.db", "/b.db"),
    (None, {}, "/c.db", "/c.db"),
    (None, {"XDG_DATA_HOME": "/xdg"}, None, "/xdg/noops/history.db"),
    ("  ", {"NOOPS_HISTORY_DSN": ""}, "", None),
])
def test_resolve_dsn(explicit, env, config, expected, monkeypatch):
    monkeypatch.setenv("HOME", "/home/ann")
    expected = expected or default_sqlite_path(env)
    assert resolve_dsn(explicit, config, env) == expected


def test_default_path_under_home(monkeypatch):
    monkeypatch.setenv("HOME", "/home/ann")
    assert default_sqlite_path({}) == "/home/ann/.local/share/noops/history.db"


# --- schema ----------------------------------------------------------------------------------------------


def test_fresh_store_is_migrated_to_latest(dsn):
    with HistoryStore(dsn) as store:
        assert store.schema_version() == LATEST_VERSION
        assert store.migrate() == LATEST_VERSION  # idempotent
        assert store.list_tasks() == []


def test_migration_from_v1_keeps_records(dsn):
    with HistoryStore(dsn, migrate=False) as store:
        assert store.schema_version() == 0
        assert store.migrate(target=1) == 1
        store._conn.execute(store._sql("INSERT INTO noops_tasks (playbook, initiator, status, started_at) "
                                       "VALUES (?, ?, ?, ?)"), ("old.yml", "ann", "success", 1.0))
    with HistoryStore(dsn) as store:
        assert store.schema_version() == LATEST_VERSION
        [task] = store.list_tasks()
        assert (task["playbook"], task["status"], task["control"], task["control_by"]) == ("old.yml", "success",
                                                                                           "run", None)


def test_migration_adds_the_host_recap_and_keeps_host_rows(dsn):
    with HistoryStore(dsn, migrate=False) as store:
        assert store.migrate(target=2) == 2
        store._conn.execute(store._sql("INSERT INTO noops_tasks (playbook, initiator, status, started_at) "
                                       "VALUES (?, ?, ?, ?)"), ("old.yml", "ann", "success", 1.0))
        store._conn.execute(store._sql("INSERT INTO noops_task_hosts (task_id, host, status, release) "
                                       "VALUES (?, ?, ?, ?)"), (1, "a", "success", "v1"))
    with HistoryStore(dsn) as store:
        [host] = store.task_hosts(1)
        assert (host["host"], host["release"]) == ("a", "v1")
        assert all(host[f] is None for f in RECAP_FIELDS)    # not known for runs recorded before
        store.write_batch(1, None, [dict(host, ok=5, changed=2, unreachable=0, failed=0, skipped=1, rescued=1,
                                         ignored=0)], [])
        [host] = store.task_hosts(1)
        assert [host[f] for f in RECAP_FIELDS] == [5, 2, 0, 0, 1, 1, 0]


def test_a_run_finds_its_task_by_its_process_after_migrating_from_v4(dsn):
    with HistoryStore(dsn, migrate=False) as store:
        assert store.migrate(target=4) == 4
        store._conn.execute(store._sql("INSERT INTO noops_tasks (playbook, initiator, status, started_at, "
                                       "controller, pid, pid_start) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                            ("deploy.yml", "ann", "running", 1.0, "ctl-1", 4242, "100"))
    with HistoryStore(dsn) as store:
        assert store.schema_version() == LATEST_VERSION >= 6
        newer = store.create_task(playbook="deploy.yml", initiator="bob", status="running", started_at=2.0,
                                  controller="ctl-1", pid=4242, pid_start="200")
        assert store.find_run("ctl-1", 4242)["id"] == newer          # the newest run of that pid
        assert store.find_run("ctl-1", 4242, "100")["id"] == 1       # the same pid started earlier: another run
        assert store.find_run("ctl-2", 4242) is None
        assert store.find_run("ctl-1", 4243) is None
        assert "cluster_yml" not in store.find_run("ctl-1", 4242)


def test_newer_schema_is_refused(dsn):
    with HistoryStore(dsn) as store:
        store._conn.execute(store._sql("INSERT INTO noops_schema (version, applied_at) VALUES (?, ?)"),
                            (LATEST_VERSION + 1, 0.0))
    with pytest.raises(StoreError, match="schema version %d, newer than this noops knows" % (LATEST_VERSION + 1)):
        HistoryStore(dsn)


def test_unopenable_store_names_itself(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="history store %s: cannot open" % (blocker / "h.db")):
        HistoryStore(str(blocker / "h.db"))


# --- records ---------------------------------------------------------------------------------------------


def _task(store, **kw):
    fields = dict(playbook="deploy.yml", initiator="ann", service="job.dch_service.dch", version="93043")
    fields.update(kw)
    return store.create_task(**fields)


def test_task_hosts_and_log_round_trip(dsn):
    with HistoryStore(dsn) as store:
        first, second = _task(store, started_at=10.0), _task(store, started_at=20.0)
        assert second > first
        store.write_batch(first, {"cluster": "production-lg"},
                          [{"host": "a", "status": "pending"}, {"host": "b", "status": "pending"}],
                          [{"host": "a", "at": 11.0, "task_name": "stage", "action": "command", "status": "changed",
                            "changed": 1, "message": "", "output": "ok"}])
        # A host row is replaced, not duplicated.
        store.write_batch(first, {"status": "success", "ended_at": 12.0},
                          [{"host": "a", "status": "success", "started_at": 11.0, "ended_at": 12.0, "release": "93043"}],
                          [{"host": "a", "at": 11.5, "task_name": "start", "status": "ok"}])
        task = store.get_task(first)
        assert (task["status"], task["cluster"], task["ended_at"], task["control"]) == ("success", "production-lg",
                                                                                        12.0, "run")
        hosts = {h["host"]: h for h in store.task_hosts(first)}
        assert (hosts["a"]["status"], hosts["a"]["release"], hosts["b"]["status"]) == ("success", "93043", "pending")
        assert [r["task_name"] for r in store.task_log(first)] == ["stage", "start"]
        assert [r["changed"] for r in store.task_log(first, host="a")] == [1, 0]
        assert store.task_log(first, host="b") == []
        assert [t["id"] for t in store.list_tasks()] == [second, first]
        assert [t["id"] for t in store.list_tasks(status="success")] == [first]
        assert [t["id"] for t in store.list_tasks(limit=1)] == [second]
        assert "cluster_yml" not in store.list_tasks()[0]
        assert store.get_task(99999) is None


def test_unknown_fields_are_refused(dsn):
    with HistoryStore(dsn) as store:
        with pytest.raises(ValueError, match="unknown task field"):
            store.create_task(playbook="p", initiator="a", colour="red")
        with pytest.raises(ValueError, match="unknown status"):
            store.list_tasks(status="done")


@pytest.mark.parametrize("steps, status, control", [
    ([("pause", None)], "running", "pause"),
    ([("pause", None), ("status", "paused"), ("resume", None)], "paused", "run"),
    ([("pause", None), ("status", "paused"), ("resume", None), ("status", "running")], "running", "run"),
    ([("pause", None), ("cancel", None)], "running", "cancel"),
    ([("status", "paused"), ("pause", None), ("resume", None)], "paused", "run"),
    ([("resume", ControlError)], "running", "run"),
    ([("cancel", None), ("pause", ControlError)], "running", "cancel"),
    ([("end", None), ("pause", ControlError)], "success", "run"),
    ([("end", None), ("status", False)], "success", "run"),
])
def test_control_requests(dsn, steps, status, control):
    with HistoryStore(dsn) as store:
        tid = _task(store)
        for step, expect in steps:
            if step == "status":
                assert store.set_status(tid, expect or "paused") is (expect is not False)
            elif step == "end":
                store.update_task(tid, status="success", ended_at=time.time())
            elif expect is ControlError:
                with pytest.raises(ControlError):
                    store.request_control(tid, step, by="bob")
            else:
                row = store.request_control(tid, step, by="bob", reason="why")
                assert (row["control_by"], row["control_reason"]) == ("bob", "why")
        task = store.get_task(tid)
        assert (task["status"], task["control"]) == (status, control)


def test_control_of_unknown_task(dsn):
    with HistoryStore(dsn) as store:
        with pytest.raises(KeyError):
            store.request_control(424242, "pause", by="bob")


def test_prune_keeps_recent_and_running_tasks(dsn):
    now = 1_000_000.0
    with HistoryStore(dsn) as store:
        old = _task(store, started_at=now - 40 * 86400, status="success")
        old_running = _task(store, started_at=now - 40 * 86400, status="running")
        recent = _task(store, started_at=now - 86400, status="failed")
        store.write_batch(old, None, [{"host": "a", "status": "success"}], [{"host": "a", "at": 1.0, "status": "ok"}])
        assert store.prune(30 * 86400, now=now) == 1
        assert sorted(t["id"] for t in store.list_tasks()) == sorted([old_running, recent])
        assert store.task_hosts(old) == [] and store.task_log(old) == []
        # Ids are never reused after a prune: a new task still sorts after every older one.
        assert _task(store) > recent


# --- two writers at once -------------------------------------------------------------------------------


def test_opening_a_new_store_waits_for_a_writer_holding_it(tmp_path):
    # Switching a new file to WAL needs an exclusive lock; SQLite refuses it at once (no busy wait) while another
    # connection holds the write lock, which is what two processes opening a new store at once run into.
    path = tmp_path / "history.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE x (y)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO x VALUES (1)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        with HistoryStore(str(path), lock_timeout=10) as store:
            assert store.schema_version() == LATEST_VERSION
    finally:
        release.join()
        other.close()


def _writer(dsn, name, count, queue):
    try:
        ids = []
        with HistoryStore(dsn, lock_timeout=30) as store:
            for i in range(count):
                tid = store.create_task(playbook=name, initiator=name)
                store.write_batch(tid, {"version": str(i)}, [{"host": "h%d" % i, "status": "deploying"}],
                                  [{"host": "h%d" % i, "at": float(j), "status": "ok", "task_name": "t%d" % j}
                                   for j in range(10)])
                store.request_control(tid, "pause", by=name)
                ids.append(tid)
        queue.put((name, ids, None))
    except Exception as e:  # reported to the parent, which fails the test with it
        queue.put((name, [], repr(e)))


def test_two_writers_at_once(dsn):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    # Both start on an empty store, so they also race to create the schema.
    procs = [ctx.Process(target=_writer, args=(dsn, name, 25, queue)) for name in ("w1", "w2")]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    errors = [r[2] for r in results if r[2]]
    assert not errors
    all_ids = [i for r in results for i in r[1]]
    assert len(all_ids) == len(set(all_ids)) == 50
    with HistoryStore(dsn) as store:
        tasks = store.list_tasks()
        assert len(tasks) == 50
        assert {t["control"] for t in tasks} == {"pause"}
        for name, ids, _ in results:
            assert ids == sorted(ids)
            for tid in ids:
                assert len(store.task_log(tid)) == 10
                assert store.get_task(tid)["playbook"] == name


def test_host_progress_and_the_run_fields(dsn):
    with HistoryStore(dsn) as store:
        tid = store.create_task(playbook="deploy.yml", initiator="ann", pid_start="4242", heartbeat_at=5.0)
        store.write_batch(tid, {"message": "lock held", "heartbeat_at": 6.0},
                          [{"host": h, "status": s} for h, s in (("a", "success"), ("b", "pending"), ("c", "failed"))],
                          ())
        empty = store.create_task(playbook="deploy.yml", initiator="ann")
        assert store.host_progress([tid, empty]) == {tid: (2, 3)}
        task = store.get_task(tid)
        assert (task["message"], task["pid_start"], task["heartbeat_at"]) == ("lock held", "4242", 6.0)
