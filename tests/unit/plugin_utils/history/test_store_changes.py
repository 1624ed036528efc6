"""The store's change sequence (what live readers follow), retry links and texts kept with a task."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    MAX_TEXT, HistoryStore,
)


def _task(store, **fields):
    fields = dict({"playbook": "deploy.yml", "initiator": "ann", "status": "running"}, **fields)
    return store.create_task(**fields)


def test_every_change_gets_a_higher_number_and_readers_get_what_changed_after_theirs(dsn):
    with HistoryStore(dsn) as store:
        assert store.change_seq() == 0
        task = _task(store)
        created = store.change_seq()
        assert created > 0
        store.write_batch(task, None, [{"host": "a", "status": "pending"}, {"host": "b", "status": "pending"}], [])
        pending = store.change_seq()
        assert pending > created
        store.write_batch(task, None, [{"host": "a", "status": "deploying", "started_at": 5.0}], [])
        deploying = store.change_seq()
        assert deploying > pending
        changes = store.task_changes(task, since=pending)
        assert changes["seq"] == deploying
        assert [(h["host"], h["status"]) for h in changes["hosts"]] == [("a", "deploying")]
        assert changes["task"]["id"] == task
        assert [h["host"] for h in store.task_changes(task, since=0)["hosts"]] == ["b", "a"]
        assert store.task_changes(task, since=deploying) == {"seq": deploying, "status": "running", "task": None,
                                                             "hosts": []}
        # control, status, log rows and kept texts are changes of the task too
        for change in (lambda: store.request_control(task, "pause", by="ann"),
                       lambda: store.set_status(task, "paused"),
                       lambda: store.write_batch(task, None, [], [{"host": "a", "status": "ok", "at": 6.0}]),
                       lambda: store.put_text(task, "build", "make\n")):
            before = store.change_seq()
            change()
            assert store.change_seq() == before + 1
            assert store.task_changes(task, since=before)["task"]["seq"] == before + 1
        assert store.task_changes(task + 1000) is None
        other = _task(store)
        assert [r["id"] for r in store.tasks_changed(deploying)] == [task, other]
        assert [r["id"] for r in store.tasks_changed(store.change_seq())] == []


def test_a_store_of_version_6_gets_the_sequence(dsn):
    with HistoryStore(dsn, migrate=False) as store:
        assert store.migrate(target=6) == 6
        store._conn.execute(store._sql("INSERT INTO noops_tasks (playbook, initiator, status, started_at) "
                                       "VALUES (?, ?, ?, ?)"), ("deploy.yml", "ann", "running", 1.0))
    with HistoryStore(dsn) as store:
        changes = store.task_changes(1, since=0)
        assert changes["seq"] == 0 and changes["task"] is None    # recorded before: no change number
        store.update_task(1, status="success")
        assert store.task_changes(1, since=0)["task"]["status"] == "success"


def test_retry_of_and_texts(dsn):
    with HistoryStore(dsn) as store:
        first = _task(store, status="failed")
        retry = _task(store, retry_of=first)
        assert store.get_task(retry)["retry_of"] == first
        store.put_text(first, "build", "one")
        store.put_text(first, "build", "two")
        store.put_text(first, "build-error", "x" * (MAX_TEXT + 10))
        texts = store.task_texts(first)
        assert texts["build"] == "two"
        assert len(texts["build-error"]) == MAX_TEXT + 1 and texts["build-error"].startswith("…")
        with pytest.raises(ValueError, match="unknown text"):
            store.put_text(first, "secrets", "")
        store.update_task(first, ended_at=1.0, started_at=1.0)
        store.update_task(retry, status="success", started_at=1.0)
        assert store.prune(older_than=10) == 2
        assert store.task_texts(first) == {}


def test_retries_and_text_names(dsn):
    with HistoryStore(dsn) as store:
        first = _task(store, status="failed")
        assert store.retries_of(first) == [] and store.task_text_names(first) == []
        second = _task(store, retry_of=first)
        store.put_text(first, "build-error", "e")
        store.put_text(first, "build", "o")
        assert [r["id"] for r in store.retries_of(first)] == [second]
        assert store.task_text_names(first) == ["build", "build-error"]
