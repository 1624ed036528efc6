"""The store's page query and per-task host counts (the console's task list), on each backend."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    HistoryStore, host_counts, query_tasks,
)


def _tasks(store):
    ids = []
    for i in range(7):
        ids.append(store.create_task(playbook="deploy.yml", initiator="ann" if i % 2 else "bob",
                                     status="running" if i >= 5 else "success", started_at=100.0 + i,
                                     cluster_yml="secret: x"))
    return ids


@pytest.mark.parametrize("kwargs, picked, total", [
    ({}, [6, 5, 4, 3, 2, 1, 0], 7),
    ({"limit": 3}, [6, 5, 4], 7),
    ({"limit": 3, "offset": 3}, [3, 2, 1], 7),
    ({"offset": 5}, [1, 0], 7),
    ({"status": "running"}, [6, 5], 2),
    ({"initiator": "ann"}, [5, 3, 1], 3),
    ({"initiator": "ann", "status": "success", "limit": 1, "offset": 1}, [1], 2),
    ({"initiator": "nobody"}, [], 0),
])
def test_query_tasks(dsn, kwargs, picked, total):
    with HistoryStore(dsn) as store:
        ids = _tasks(store)
        rows, count = query_tasks(store, **kwargs)
    assert [r["id"] for r in rows] == [ids[i] for i in picked]
    assert count == total
    assert all("cluster_yml" not in r for r in rows)


def test_query_tasks_unknown_status(dsn):
    with HistoryStore(dsn) as store, pytest.raises(ValueError, match="unknown status 'done'"):
        query_tasks(store, status="done")


def test_host_counts(dsn):
    with HistoryStore(dsn) as store:
        a, b, c = _tasks(store)[:3]
        store.write_batch(a, None, [{"host": "h1", "status": "success"}, {"host": "h2", "status": "success"},
                                    {"host": "h3", "status": "pending"}], ())
        store.write_batch(b, None, [{"host": "h1", "status": "failed"}], ())
        assert host_counts(store, [a, b, c]) == {a: {"success": 2, "pending": 1}, b: {"failed": 1}}
        assert host_counts(store, []) == {}
