"""The deploy, rollback and control playbooks run the way AWX runs a job: through ansible-runner, from a project
folder whose playbooks import the collection's, with AWX's job variables as extra vars (written by ansible-runner
to env/extravars and passed with -e @, as AWX does) and ansible-runner's own stdout callback. The history
callback records who launched each run (a user, or the schedule) and the AWX job, and ansible-runner's event
stream stays whole beside it."""

import os
import sqlite3
import tempfile

import pytest

from localfleet import BIN, NEEDS_SUPERVISOR, ROOT, build_hello, hello_cluster, make_fleet, remove_fleet, write_yaml
from ansible_collections.noops.platform.plugins.plugin_utils import fleet as fleetlib

pytestmark = [pytest.mark.slow, NEEDS_SUPERVISOR]
# A project as AWX checks it out: the job templates' playbooks import the installed collection's.
PROJECT_PLAYBOOKS = {name: "---\n- name: noops %s\n  ansible.builtin.import_playbook: noops.platform.%s\n" % (name, name)
                     for name in ("deploy", "rollback", "control")}


def awx_vars(job_id, template, user=None, schedule=None, workflow_schedule=None):
    """The job variables AWX adds to a job's extra vars (awx_meta_vars), both spellings."""
    out = {"job_id": job_id, "job_launch_type": "manual" if user else "scheduled" if schedule else "workflow",
           "job_template_id": 9, "job_template_name": template, "inventory_id": 1, "inventory_name": "fleet",
           "project_revision": "0123abcd"}
    if user:
        out.update(user_id=3, user_name=user, user_email="%s@example.com" % user, user_first_name="",
                   user_last_name="")
    if schedule:
        out.update(schedule_id=5, schedule_name=schedule)
    if workflow_schedule:
        out.update(workflow_job_id=70, workflow_job_name="noops release", parent_job_schedule_id=6,
                   parent_job_schedule_name=workflow_schedule)
    return {"%s_%s" % (prefix, k): v for prefix in ("awx", "tower") for k, v in out.items()}


@pytest.fixture(scope="module")
def awx_fleet():
    # A project as AWX checks it out: playbooks, the tree and its inventory source, cluster.yml files.
    ctx = make_fleet("nawx-", subfolder="project")
    project = os.path.join(ctx["base"], "project")
    os.makedirs(os.path.join(project, "clusters"))
    for name, text in PROJECT_PLAYBOOKS.items():
        with open(os.path.join(project, name + ".yml"), "w") as f:
            f.write(text)
    for version in ("1.0.0", "2.0.0"):
        build_hello(ctx, version)
        write_yaml(os.path.join(project, "clusters", "hello-%s.yml" % version),
                   hello_cluster(ctx, version, secret="awx-test-secret"))
    ctx["env"] = {
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "collections"),
        "ANSIBLE_CALLBACKS_ENABLED": "noops.platform.history",
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        "NOOPS_HISTORY_DSN": ctx["env"]["NOOPS_HISTORY_DSN"],
        "NOOPS_USER": "not-the-awx-user",
        "XDG_CACHE_HOME": ctx["env"]["XDG_CACHE_HOME"], "NOOPS_STAGING": ctx["env"]["NOOPS_STAGING"],
        "NOOPS_LOCK_DIR": ctx["env"]["NOOPS_LOCK_DIR"],
    }
    ctx["project"] = project
    yield ctx
    remove_fleet(ctx)


def run_as_awx(ctx, playbook, extravars):
    import ansible_runner

    private = tempfile.mkdtemp(prefix="runner-", dir=ctx["base"])
    events = []
    runner = ansible_runner.run(
        private_data_dir=private, project_dir=ctx["project"], playbook=playbook + ".yml",
        inventory=os.path.join(ctx["project"], fleetlib.INVENTORY_FILE), extravars=extravars,
        envvars=ctx["env"], quiet=True, event_handler=lambda e: (events.append(e), True)[1])
    stdout = runner.stdout.read()
    return runner, events, stdout


def last_task(ctx):
    conn = sqlite3.connect(ctx["env"]["NOOPS_HISTORY_DSN"])
    conn.row_factory = sqlite3.Row
    try:
        task = dict(conn.execute("SELECT * FROM noops_tasks ORDER BY id DESC LIMIT 1").fetchone())
        hosts = {r["host"]: r["status"] for r in conn.execute("SELECT host, status FROM noops_task_hosts WHERE "
                                                                 "task_id = ?", (task["id"],))}
        return task, hosts
    finally:
        conn.close()


@pytest.mark.parametrize("playbook, extravars, initiator, job_id, template", [
    ("deploy", dict(awx_vars(101, "noops deploy", user="ann"), cluster_file="clusters/hello-1.0.0.yml", batch=2),
     "ann", 101, "noops deploy"),
    ("deploy", dict(awx_vars(102, "noops deploy", schedule="nightly"), cluster_file="clusters/hello-2.0.0.yml"),
     "schedule:nightly", 102, "noops deploy"),
    ("rollback", dict(awx_vars(103, "noops rollback", workflow_schedule="weekly release"),
                      cluster_file="clusters/hello-2.0.0.yml", batch=2),
     "schedule:weekly release", 103, "noops rollback"),
    ("control", dict({k: v for k, v in awx_vars(104, "noops control", user="bob").items() if k.startswith("tower_")},
                     query="service.hello", action="status", batch=2),
     "bob", 104, "noops control"),
])
def test_playbooks_under_ansible_runner_as_awx_runs_them(awx_fleet, playbook, extravars, initiator, job_id, template):
    runner, events, stdout = run_as_awx(awx_fleet, playbook, extravars)
    assert (runner.status, runner.rc) == ("successful", 0), stdout[-6000:]
    # ansible-runner's own stdout callback and event stream are untouched by the history callback.
    assert "PLAY RECAP" in stdout
    kinds = [e.get("event") for e in events]
    assert "playbook_on_start" in kinds and "playbook_on_stats" in kinds, kinds
    assert kinds.index("playbook_on_start") < kinds.index("playbook_on_stats")
    names = [h.name for h in awx_fleet["hosts"]]
    assert {e["event_data"].get("host") for e in events if e.get("event") == "runner_on_ok"} >= set(names)
    task, hosts = last_task(awx_fleet)
    assert (task["playbook"], task["status"], task["initiator"], task["awx_job_id"], task["awx_job_template"]) == (
        playbook + ".yml", "success", initiator, job_id, template)
    assert hosts == {name: "success" for name in names}
