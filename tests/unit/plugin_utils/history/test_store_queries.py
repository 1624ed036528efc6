"""The store's page query and per-task host counts (the console's task list), on each backend."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    HistoryStore, host_counts, query_tasks, task_services,
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


def test_service_history(dsn):
    """Per service: deploys counted, the newest task, the version of the newest successful deploy or rollback, and
    each host's latest final result - from queries, on each backend."""
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import service_history

    web, db = "job.web_service.shop", "job.db_service.shop"
    with HistoryStore(dsn) as store:
        first = store.create_task(playbook="deploy.yml", initiator="ann", service=web, version="v1", status="success")
        store.write_batch(first, None, [{"host": "w1", "status": "success", "release": "v1"},
                                        {"host": "w2", "status": "success", "release": "v1"}], ())
        second = store.create_task(playbook="deploy.yml", initiator="bob", service=web, version="v2", status="failed")
        store.write_batch(second, None, [{"host": "w1", "status": "success", "release": "v2"},
                                         {"host": "w2", "status": "failed", "message": "boom"},
                                         {"host": "w3", "status": "pending"}], ())
        control = store.create_task(playbook="control.yml", initiator="ann", service=web, status="success")
        store.write_batch(control, None, [{"host": "w2", "status": "success"}], ())
        store.create_task(playbook="deploy.yml", initiator="ann", service=db, version="d1", status="running")
        history = service_history(store, [web, db, "job.none"])
    assert set(history) == {web, db}
    assert history[web]["deploys"] == 2
    assert history[web]["last_task"]["id"] == control and history[web]["last_task"]["playbook"] == "control.yml"
    assert history[web]["last_version"] == "v1"  # the newest deploy that ended success
    assert history[web]["hosts"] == {"w1": ("success", "v2"), "w2": ("failed", None)}  # w3 never ended
    assert history[db]["deploys"] == 1 and history[db]["last_version"] is None
    assert history[db]["last_task"]["status"] == "running" and history[db]["hosts"] == {}
    with HistoryStore(dsn) as store:
        assert service_history(store, []) == {}


def _service_tasks(store):
    ids = []
    for i in range(12):
        ids.append(store.create_task(playbook="deploy.yml", initiator="ann", status="success" if i % 3 else "failed",
                                     service="job.s%d_service.s%d_cluster.prod_owt.o%d_cop.x" % (i % 4, i % 4, i % 2),
                                     started_at=100.0 + i))
    return ids


@pytest.mark.parametrize("kwargs, picked, total", [
    ({"services": ["job.s1_service.s1_cluster.prod_owt.o1_cop.x"]}, [9, 5, 1], 3),
    ({"services": ["job.s1_service.s1_cluster.prod_owt.o1_cop.x", "job.s2_service.s2_cluster.prod_owt.o0_cop.x"],
      "limit": 2, "offset": 1}, [9, 6], 6),
    ({"services": ["job.s0_service.s0_cluster.prod_owt.o0_cop.x"], "status": "failed"}, [0], 1),
    ({"services": []}, [], 0),
])
def test_query_tasks_of_services(dsn, kwargs, picked, total):
    with HistoryStore(dsn) as store:
        ids = _service_tasks(store)
        rows, count = query_tasks(store, **kwargs)
    assert [r["id"] for r in rows] == [ids[i] for i in picked] and count == total


def test_task_services(dsn):
    with HistoryStore(dsn) as store:
        _service_tasks(store)
        store.create_task(playbook="deploy.yml", initiator="bob", status="running", service=None, started_at=1.0)
        assert task_services(store) == sorted("job.s%d_service.s%d_cluster.prod_owt.o%d_cop.x" % (i, i, i % 2)
                                              for i in range(4))
        assert task_services(store, initiator="bob") == []


def test_the_task_list_filters_use_indexes(tmp_path):
    """The console's task list at 10,000 tasks: the filters on service, status and initiator and the newest-first
    order are served by indexes of the store's own schema, not by a scan of every task."""
    with HistoryStore(str(tmp_path / "h.db")) as store:
        for column in ("service", "status", "initiator"):
            plan = " ".join(str(tuple(r)) for r in store._execute(
                "EXPLAIN QUERY PLAN SELECT id FROM noops_tasks WHERE %s = ? ORDER BY id DESC LIMIT 25" % column,
                ("x",)).fetchall())
            assert "USING INDEX noops_tasks_%s" % column in plan or "USING COVERING INDEX noops_tasks_%s" % column \
                in plan, plan
