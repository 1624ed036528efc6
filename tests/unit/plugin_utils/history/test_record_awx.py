"""A run launched by AWX (or Tower): who or what launched it and which AWX job it is, from the extra vars AWX
passes (its ``awx_*`` / ``tower_*`` job variables), kept on the task in the store."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.history.record import launch_fields
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import LATEST_VERSION, HistoryStore

# What AWX adds to a job's extra vars (both spellings), per launch type.
MANUAL = {"awx_job_id": 42, "tower_job_id": 42, "awx_job_launch_type": "manual", "awx_user_id": 3,
          "awx_user_name": "ann", "tower_user_name": "ann", "awx_user_email": "ann@example.com",
          "awx_job_template_id": 9, "awx_job_template_name": "noops deploy", "tower_job_template_name": "noops deploy",
          "awx_inventory_name": "fleet", "awx_project_revision": "abc123"}
SCHEDULED = {"awx_job_id": 43, "tower_job_id": 43, "awx_job_launch_type": "scheduled", "awx_schedule_id": 5,
             "awx_schedule_name": "nightly restart", "tower_schedule_name": "nightly restart",
             "awx_job_template_id": 10, "awx_job_template_name": "noops control"}
# A job run by a workflow that a schedule launched: the schedule is the workflow's (its "parent job").
WORKFLOW_SCHEDULED = {"awx_job_id": 44, "awx_job_launch_type": "workflow", "awx_workflow_job_id": 7,
                      "awx_workflow_job_name": "noops release", "awx_parent_job_schedule_id": 6,
                      "awx_parent_job_schedule_name": "weekly release", "awx_job_template_name": "noops deploy"}


@pytest.mark.parametrize("extra_vars, expected", [
    (MANUAL, {"initiator": "ann", "awx_job_id": 42, "awx_job_template": "noops deploy"}),
    (SCHEDULED, {"initiator": "schedule:nightly restart", "awx_job_id": 43, "awx_job_template": "noops control"}),
    (WORKFLOW_SCHEDULED, {"initiator": "schedule:weekly release", "awx_job_id": 44,
                          "awx_job_template": "noops deploy"}),
    # Tower only passes tower_* names.
    ({"tower_job_id": 7, "tower_user_name": "bob", "tower_job_template_name": "deploy"},
     {"initiator": "bob", "awx_job_id": 7, "awx_job_template": "deploy"}),
    ({"tower_job_id": 8, "tower_schedule_name": "hourly"}, {"initiator": "schedule:hourly", "awx_job_id": 8}),
    # A user wins over a schedule; an empty user name names nobody.
    (dict(SCHEDULED, awx_user_name="carol"), {"initiator": "carol", "awx_job_id": 43,
                                              "awx_job_template": "noops control"}),
    (dict(SCHEDULED, awx_user_name=""), {"initiator": "schedule:nightly restart", "awx_job_id": 43,
                                         "awx_job_template": "noops control"}),
    # -e on a command line gives strings.
    ({"awx_job_id": "45", "awx_user_name": "dave"}, {"initiator": "dave", "awx_job_id": 45}),
    ({"awx_job_id": "not-a-number", "awx_user_name": "dave"}, {"initiator": "dave"}),
    # Not under AWX: nothing to say (the callback falls back to $NOOPS_USER, then the login).
    ({}, {}),
    ({"cluster_file": "c.yml", "batch": 2}, {}),
])
def test_launch_fields(extra_vars, expected):
    assert launch_fields(extra_vars) == expected


def test_launch_fields_user_vars_are_configurable():
    assert launch_fields({"launched_by": "erin", "awx_user_name": "ann"}, ("launched_by",)) == {"initiator": "erin"}


def test_store_keeps_the_awx_job(dsn):
    with HistoryStore(dsn) as store:
        task_id = store.create_task(playbook="deploy.yml", initiator="schedule:nightly", awx_job_id=43,
                                    awx_job_template="noops deploy")
        task = store.get_task(task_id)
        assert (task["awx_job_id"], task["awx_job_template"]) == (43, "noops deploy")
        [listed] = store.list_tasks()
        assert (listed["awx_job_id"], listed["awx_job_template"]) == (43, "noops deploy")


def test_migration_adds_the_awx_job_and_keeps_tasks(dsn):
    with HistoryStore(dsn, migrate=False) as store:
        assert store.migrate(target=4) == 4
        store._conn.execute(store._sql("INSERT INTO noops_tasks (playbook, initiator, status, started_at) "
                                       "VALUES (?, ?, ?, ?)"), ("old.yml", "ann", "success", 1.0))
    with HistoryStore(dsn) as store:
        assert store.schema_version() == LATEST_VERSION
        [task] = store.list_tasks()
        assert (task["playbook"], task["awx_job_id"], task["awx_job_template"]) == ("old.yml", None, None)


def test_tasks_show_names_the_awx_job(tmp_path, monkeypatch, capsys):
    from noops_cli.main import main

    dsn = str(tmp_path / "h.db")
    monkeypatch.setenv("NOOPS_HISTORY_DSN", dsn)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "none.cfg"))
    monkeypatch.setenv("COLUMNS", "200")
    with HistoryStore(dsn) as store:
        awx = store.create_task(playbook="deploy.yml", initiator="schedule:nightly", status="success",
                                awx_job_id=43, awx_job_template="noops deploy")
        plain = store.create_task(playbook="deploy.yml", initiator="ann", status="success")
    assert main(["tasks", "show", str(awx)]) == 0
    out = capsys.readouterr().out
    assert "schedule:nightly" in out and "awx job     43 (job template noops deploy)" in out, out
    assert main(["tasks", "show", str(plain)]) == 0
    assert "awx job" not in capsys.readouterr().out
