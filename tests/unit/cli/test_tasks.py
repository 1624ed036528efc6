"""``noops tasks`` on a seeded SQLite store."""

import json
import re

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.controller import controller_name
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore
from noops_cli.main import main

SERVICES = [
    ("job.carddav_service.carddav_cluster.production-lg_pdl.micloud_owt.miliao_cop.xiaomi", "success"),
    ("job.dch_service.dch_cluster.production-hh_pdl.account_owt.miliao_cop.xiaomi", "failed"),
    ("job.dch_service.dch_cluster.staging_pdl.account_owt.miliao_cop.xiaomi", "running"),
    ("site.yml", "success"),  # a service that is not a tag: matched as a glob
]


@pytest.fixture
def store_dsn(tmp_path, monkeypatch):
    dsn = str(tmp_path / "h.db")
    monkeypatch.setenv("NOOPS_HISTORY_DSN", dsn)
    monkeypatch.setenv("NOOPS_USER", "carol")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "none.cfg"))
    with HistoryStore(dsn) as store:
        for i, (service, status) in enumerate(SERVICES):
            tid = store.create_task(playbook="deploy.yml", initiator="ann", service=service, version="v%d" % i,
                                    status=status, started_at=1000.0 + i, cluster_yml="dch:\n  db_passwd: ********\n")
            store.write_batch(tid, None, [{"host": "lg-mc-fe%d.bj" % j, "status": "success", "started_at": 1.0,
                                           "ended_at": 2.0, "release": "v%d" % i, "ok": 11 + j, "changed": 5,
                                           "unreachable": 0, "failed": j, "skipped": 3, "rescued": j, "ignored": 0}
                                          for j in range(2)],
                              [{"host": "lg-mc-fe0.bj", "at": 1.5, "task_name": "stage", "status": "changed",
                                "changed": 1, "message": "", "output": "staged v%d" % i},
                               {"host": "lg-mc-fe1.bj", "at": 1.6, "task_name": "start", "status": "ok"}])
    return dsn


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("argv, ids", [
    (["tasks", "list", "--json"], [4, 3, 2, 1]),
    (["tasks", "list", "--json", "--status", "success"], [4, 1]),
    (["tasks", "list", "--json", "--service", "service.dch"], [3, 2]),
    (["tasks", "list", "--json", "--service", "service.dch,!cluster.staging"], [2]),
    (["tasks", "list", "--json", "--service", "cluster.production-*"], [2, 1]),
    (["tasks", "list", "--json", "--service", "site.*"], [4]),
    (["tasks", "list", "--json", "--service", "service.dch", "--status", "running"], [3]),
    (["tasks", "list", "--json", "--limit", "2"], [4, 3]),
])
def test_list(store_dsn, capsys, argv, ids):
    assert [t["id"] for t in _json(capsys, argv)] == ids


def test_show_has_the_recap_of_every_host(store_dsn, capsys):
    assert main(["tasks", "show", "2"]) == 0
    out = capsys.readouterr().out
    sep = r"[\s┃│]+"  # between two cells of the table
    assert re.search(sep.join(["host.*", "ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored"]),
                     out), out
    assert re.search(sep.join([r"lg-mc-fe0\.bj.*v1", "11", "5", "0", "0", "3", "0", "0", ""]), out), out
    assert re.search(sep.join([r"lg-mc-fe1\.bj.*v1", "12", "5", "0", "1", "3", "1", "0", ""]), out), out
    hosts = _json(capsys, ["tasks", "show", "2", "--json"])["hosts"]
    assert [(h["ok"], h["rescued"]) for h in hosts] == [(11, 0), (12, 1)]


def test_list_table_and_show_and_log(store_dsn, capsys):
    assert main(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "job.dch_service.dch_cluster.staging" in out and "running" in out
    assert main(["tasks", "show", "2", "--cluster-yml"]) == 0
    out = capsys.readouterr().out
    assert "lg-mc-fe0.bj" in out and "lg-mc-fe1.bj" in out and "v1" in out and "db_passwd: ********" in out
    shown = _json(capsys, ["tasks", "show", "2", "--json"])
    assert shown["task"]["service"].startswith("job.dch") and len(shown["hosts"]) == 2
    assert [r["task_name"] for r in _json(capsys, ["tasks", "log", "2", "--json"])] == ["stage", "start"]
    assert [r["host"] for r in _json(capsys, ["tasks", "log", "2", "--host", "lg-mc-fe1.bj", "--json"])] == [
        "lg-mc-fe1.bj"]
    assert main(["tasks", "log", "2"]) == 0
    assert "staged v1" in capsys.readouterr().out


@pytest.mark.parametrize("argv, status, err", [
    (["tasks", "show", "77"], 2, "noops: no task 77 in"),
    (["tasks", "pause", "77"], 2, "noops: no task 77 in"),
    (["tasks", "pause", "1"], 1, "noops: task 1 already ended (success): nothing to pause"),
    (["tasks", "resume", "3"], 1, "noops: task 3 is running and not paused: nothing to resume"),
    (["tasks", "log", "2", "--host", "nope"], 1, "noops: task 2 has no log for host nope"),
    (["tasks", "prune", "--older-than", "-1"], 2, "noops: --older-than must be >= 0 days"),
])
def test_errors(store_dsn, capsys, argv, status, err):
    assert main(argv) == status
    assert capsys.readouterr().err.startswith(err)


def test_pause_resume_cancel(store_dsn, capsys):
    assert main(["tasks", "pause", "3", "--reason", "look at lg first"]) == 0
    assert "task 3 will pause before its next batch" in capsys.readouterr().out
    with HistoryStore(store_dsn) as store:
        task = store.get_task(3)
    assert (task["control"], task["control_by"], task["control_reason"]) == ("pause", "carol", "look at lg first")
    assert main(["tasks", "resume", "3"]) == 0
    assert main(["tasks", "cancel", "3"]) == 0
    assert main(["tasks", "resume", "3"]) == 1
    assert "being cancelled" in capsys.readouterr().err


def test_prune(store_dsn, capsys):
    assert main(["tasks", "prune", "--older-than", "1"]) == 0
    assert "pruned 3 task(s)" in capsys.readouterr().out  # the running one stays
    assert [t["id"] for t in _json(capsys, ["tasks", "list", "--json"])] == [3]


def test_dsn_from_ansible_cfg(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[noops_history]\ndsn = %s\n" % (tmp_path / "from-cfg.db"))
    monkeypatch.delenv("NOOPS_HISTORY_DSN", raising=False)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(cfg))
    assert _json(capsys, ["tasks", "list", "--json"]) == []
    assert (tmp_path / "from-cfg.db").exists()


@pytest.mark.parametrize("action", ["pause", "cancel", "resume"])
def test_a_run_whose_controller_is_gone_is_interrupted_and_refuses_control(store_dsn, capsys, action):
    import os
    import socket

    from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import process_start
    with HistoryStore(store_dsn) as store:
        # This process's pid with another start time: the run that had it has ended (the pid was reused).
        tid = store.create_task(playbook="deploy.yml", initiator="ann", status="paused" if action == "resume"
                                else "running", started_at=2000.0, controller=controller_name(), pid=os.getpid(),
                                pid_start=str(int(process_start(os.getpid()) or 0) + 1))
    listed = {t["id"]: t["status"] for t in _json(capsys, ["tasks", "list", "--json"])}
    assert listed[tid] == "interrupted"
    assert [t["id"] for t in _json(capsys, ["tasks", "list", "--json", "--status", "interrupted"])] == [tid]
    assert tid not in [t["id"] for t in _json(capsys, ["tasks", "list", "--json", "--status", "running"])]
    assert main(["tasks", "show", str(tid)]) == 0
    assert "interrupted" in capsys.readouterr().out
    assert main(["tasks", action, str(tid)]) == 1
    err = capsys.readouterr().err
    assert "task %d is interrupted: its controller (pid %d on %s) has ended" % (tid, os.getpid(),
                                                                                 controller_name()) in err
    with HistoryStore(store_dsn) as store:
        assert store.get_task(tid)["control"] == "run"


def test_a_live_run_still_takes_control(store_dsn, capsys):
    import os
    import socket

    from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import process_start
    with HistoryStore(store_dsn) as store:
        tid = store.create_task(playbook="deploy.yml", initiator="ann", status="running", started_at=2000.0,
                                controller=controller_name(), pid=os.getpid(), pid_start=process_start(os.getpid()))
    assert {t["id"]: t["status"] for t in _json(capsys, ["tasks", "list", "--json"])}[tid] == "running"
    assert main(["tasks", "pause", str(tid)]) == 0


def test_progress_is_hosts_done_of_hosts_selected(store_dsn, capsys):
    with HistoryStore(store_dsn) as store:
        tid = store.create_task(playbook="deploy.yml", initiator="ann", status="failed", started_at=3000.0)
        store.write_batch(tid, {"message": "cluster.yml: hello.pkg_url: \"gopher://x\": scheme must be http"},
                          [{"host": "a", "status": "success"}, {"host": "b", "status": "failed"},
                           {"host": "c", "status": "pending"}], ())
    listed = {t["id"]: (t["hosts_done"], t["hosts_selected"]) for t in _json(capsys, ["tasks", "list", "--json"])}
    assert listed[tid] == (2, 3)
    assert listed[1] == (2, 2)
    assert main(["tasks", "show", str(tid)]) == 0
    out = capsys.readouterr().out
    assert "2 / 3 hosts done" in out
    assert 'error       cluster.yml: hello.pkg_url: "gopher://x": scheme must be http' in out


def test_url_passwords_of_older_records_are_masked_when_shown(store_dsn, capsys):
    """Records written before the history masked URL passwords are shown masked by every view."""
    with HistoryStore(store_dsn) as store:
        tid = store.create_task(playbook="deploy.yml", initiator="ann", service="site.yml", version="v9",
                                status="failed", started_at=2000.0,
                                cluster_yml="dch:\n  pkg_url: https://deploy:Pkg-Pw-77@repo/x.tar.gz\n")
        store.write_batch(tid, None, [{"host": "h1", "status": "failed", "started_at": 1.0, "ended_at": 2.0,
                                       "message": "GET https://deploy:Pkg-Pw-77@repo/x.tar.gz: 404"}],
                          [{"host": "h1", "at": 1.5, "task_name": "fetch", "status": "failed", "changed": 0,
                            "message": "GET https://deploy:Pkg-Pw-77@repo/x.tar.gz: 404", "output": None}])
    for argv in (["tasks", "show", str(tid), "--cluster-yml"], ["tasks", "log", str(tid)],
                 ["tasks", "show", str(tid), "--json"], ["tasks", "log", str(tid), "--json"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "Pkg-Pw-77" not in out and "deploy:********@repo" in out, argv


def test_passwords_in_log_lines_of_older_records_are_masked_when_shown(store_dsn, capsys):
    """A password a program printed, stored in clear by an older history, is masked by every view; the rest of
    the line stays."""
    line = "cannot connect to db with password Sup3rS3cretPW: broken build 3.0.0"
    with HistoryStore(store_dsn) as store:
        tid = store.create_task(playbook="deploy.yml", initiator="ann", service="site.yml", version="v9",
                                status="failed", started_at=2000.0)
        store.write_batch(tid, None, [{"host": "h1", "status": "failed", "started_at": 1.0, "ended_at": 2.0,
                                       "message": "hello did not stay up; last log lines: " + line}],
                          [{"host": "h1", "at": 1.5, "task_name": "restart", "status": "failed", "changed": 0,
                            "message": "hello did not stay up", "output": json.dumps({"log_lines": [line]})}])
    for argv in (["tasks", "show", str(tid)], ["tasks", "log", str(tid)], ["tasks", "show", str(tid), "--json"],
                 ["tasks", "log", str(tid), "--json"], ["tasks", "log", str(tid), "--host", "h1", "--json"]):
        assert main(argv) == 0
        out = " ".join(re.sub(r"[│\s]+", " ", capsys.readouterr().out).split())  # the table wraps long messages
        assert "Sup3rS3cretPW" not in out, (argv, out)
        assert "password ********: broken build 3.0.0" in out, (argv, out)


def test_show_cluster_yml_masks_every_secret_of_older_records(store_dsn, capsys):
    """A cluster.yml stored in clear (by an older history) is masked by its structure when shown."""
    with HistoryStore(store_dsn) as store:
        tid = store.create_task(playbook="deploy.yml", initiator="ann", service="site.yml", version="v9",
                                status="failed", started_at=2000.0, cluster_yml=(
                                    "dch:\n  private_key: |\n    Pem-Body-1\n    Pem-Body-2\n"
                                    "  db: {password: Flow-Pw-3, user: app}\n"
                                    "  env:\n  - name: API_TOKEN\n    value: Env-Pw-4\n"))
        store.write_batch(tid, None, [{"host": "h1", "status": "failed", "started_at": 1.0, "ended_at": 2.0,
                                       "message": "login Flow-Pw-3 refused"}], [])
    for argv in (["tasks", "show", str(tid), "--cluster-yml"], ["tasks", "show", str(tid), "--json"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        for secret in ("Pem-Body", "Flow-Pw-3", "Env-Pw-4"):
            assert secret not in out, (argv, out)
    assert "private_key: ********" in out and "name: API_TOKEN" in out


def test_piped_show_keeps_a_long_host_message_on_one_line(store_dsn, capsys):
    why = "command: /srv/h/bin/run.sh; exit status 3; " + " | ".join("log line %d of the program" % i for i in range(12))
    with HistoryStore(store_dsn) as store:
        store.write_batch(2, None, [{"host": "lg-mc-fe0.bj", "status": "failed", "message": why}], [])
    assert main(["tasks", "show", "2"]) == 0  # stdout is not a terminal here: a pipe gets whole lines
    out = capsys.readouterr().out
    assert why in out, out


@pytest.mark.parametrize("argv", [
    ["tasks", "--dsn", "{dsn}", "list", "--json"],
    ["tasks", "list", "--json", "--dsn", "{dsn}"],
    ["tasks", "show", "2", "--json", "--dsn", "{dsn}"],
    ["tasks", "--dsn", "{other}", "log", "2", "--json", "--dsn", "{dsn}"],   # the action's own wins
], ids=["before-action", "after-list", "after-show", "both"])
def test_dsn_before_or_after_the_action(store_dsn, tmp_path, monkeypatch, capsys, argv):
    monkeypatch.setenv("NOOPS_HISTORY_DSN", str(tmp_path / "not-this.db"))
    assert main([a.format(dsn=store_dsn, other=tmp_path / "nor-this.db") for a in argv]) == 0
    assert json.loads(capsys.readouterr().out)
    assert not (tmp_path / "not-this.db").exists() and not (tmp_path / "nor-this.db").exists()


def test_show_names_a_deploy_lock_takeover_on_both_tasks(tmp_path, monkeypatch, capsys, pg_dsn):
    """Several controllers on a PostgreSQL store: the task that took a dead run's lock over and the task it was taken
    from both show who took it from whom, when and why."""
    from ansible_collections.noops.platform.plugins.plugin_utils.odin import store_lock

    monkeypatch.setenv("NOOPS_HISTORY_DSN", pg_dsn)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "none.cfg"))
    with HistoryStore(pg_dsn) as store:
        first = store.create_task(playbook="deploy.yml", initiator="ann", status="running", controller="ctl-1", pid=41)
        second = store.create_task(playbook="deploy.yml", initiator="bob", status="running", controller="ctl-2", pid=42)
        base = dict(name="hello", pid_start=None, user_name="ann", playbook=None, expiry=5.0)
        store_lock.acquire(store, dict(base, controller="ctl-1", pid=41, task_id=first))
        store._execute("UPDATE noops_locks SET heartbeat_at = heartbeat_at - 60")
        store_lock.acquire(store, dict(base, controller="ctl-2", pid=42, task_id=second, user_name="bob"))
    assert main(["tasks", "show", str(second)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(r"lock took the deploy lock of hello over from controller ctl-1 pid 41 \(task %d, user ann\) at "
                     r"20\S+ \S+: no heartbeat for 6\d s \(expiry 5 s\)" % first, out), out
    assert main(["tasks", "show", str(first)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(r"lock its deploy lock of hello was taken over by controller ctl-2 pid 42 \(task %d, user bob\)"
                     % second, out), out
    took = _json(capsys, ["tasks", "show", str(first), "--json"])["lock_takeovers"]
    assert [(t["from_task_id"], t["task_id"]) for t in took] == [(first, second)]
