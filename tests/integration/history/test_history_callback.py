"""The history callback in real ansible-playbook runs: records, failures, secrets, signals, a broken store."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

MASK = "********"

GENERIC = """\
- name: Plain playbook
  hosts: all
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: "hello from {{ inventory_hostname }}"
    - name: Run a command
      ansible.builtin.command: echo out-{{ inventory_hostname }}
      changed_when: false
    - name: Fail on h2
      ansible.builtin.fail:
        msg: h2 is broken
      when: inventory_hostname == 'h2' and (fail_h2 | default(false) | bool)
"""


@pytest.mark.parametrize("fail_h2, status, hosts", [
    (False, "success", {"h1": "success", "h2": "success", "h3": "success"}),
    (True, "failed", {"h1": "success", "h2": "failed", "h3": "success"}),
])
def test_plain_run_is_recorded_per_host(runner, fail_h2, status, hosts):
    proc = runner.run(runner.playbook(GENERIC), hosts=3, args=["-e", "fail_h2=%s" % fail_h2])
    assert proc.returncode == (2 if fail_h2 else 0), proc.stdout + proc.stderr
    task, rows, log = runner.only_task()
    assert (task["status"], task["playbook"], task["initiator"], task["incomplete"]) == (status, "play.yml",
                                                                                         "tester", 0)
    assert task["ended_at"] >= task["started_at"]
    assert {h: r["status"] for h, r in rows.items()} == hosts
    assert all(r["started_at"] and r["ended_at"] for r in rows.values())
    assert sum(1 for r in log if r["task_name"] == "Say hello") == 3
    assert {r["output"] for r in log if r["task_name"] == "Run a command"} == {"out-h1", "out-h2", "out-h3"}
    if fail_h2:
        assert rows["h2"]["message"] == "h2 is broken"
        assert [r["status"] for r in log if r["host"] == "h2" and r["task_name"] == "Fail on h2"] == ["failed"]


DEPLOY = """\
- name: Roll out
  hosts: all
  gather_facts: false
  serial: 2
  tasks:
    - name: Deploy
      ansible.builtin.include_role:
        name: thor
    - name: Check after the batch
      ansible.builtin.command: "true"
      changed_when: false
"""


def test_deploy_run_records_service_cluster_version_and_releases(runner):
    cluster = runner.tmp / "cluster.yml"
    cluster.write_text("cluster:\n  name: dch\n  version: 1.0.0.1\ndch:\n  user: work\n  db_passwd: Cl-Pw-0x5eed\n")
    service = "job.dch_service.dch_cluster.production-hh_pdl.account_owt.miliao_cop.xiaomi"
    proc = runner.run(runner.playbook(DEPLOY), hosts=4, args=[
        "-e", "odin_service=%s" % service, "-e", "odin_cluster=production-hh", "-e", "odin_version=93043",
        "-e", "cluster_file=%s" % cluster,
        "-e", '{"thor_already": ["h3"], "thor_before": {"h1": "93042", "h3": "93043"}}'])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    task, rows, _ = runner.only_task()
    assert (task["service"], task["cluster"], task["version"], task["status"]) == (service, "production-hh",
                                                                                   "93043", "success")
    assert task["cluster_file"] == str(cluster)
    assert "db_passwd: %s" % MASK in task["cluster_yml"] and "Cl-Pw-0x5eed" not in task["cluster_yml"]
    # The release is what thor last reported the host runs, never the version being deployed.
    assert {h: (r["status"], r["release"]) for h, r in rows.items()} == {
        "h1": ("success", "93043-new"), "h2": ("success", "93043-new"), "h3": ("skipped", "93043"),
        "h4": ("success", "93043-new")}
    # Batches: the second pair started after the first pair ended.
    assert min(rows["h3"]["started_at"], rows["h4"]["started_at"]) >= max(rows["h1"]["ended_at"],
                                                                          rows["h2"]["ended_at"])


RECAP = """\
- name: Results of every kind
  hosts: all
  gather_facts: false
  tasks:
    - name: Change something
      ansible.builtin.command: "true"
      changed_when: inventory_hostname != 'h2'
    - name: Skip on h1
      ansible.builtin.debug:
        msg: not on h1
      when: inventory_hostname != 'h1'
    - name: Fail and be rescued on h2
      block:
        - name: Fail on h2
          ansible.builtin.fail:
            msg: h2 broke
          when: inventory_hostname == 'h2'
      rescue:
        - name: Rescue h2
          ansible.builtin.debug:
            msg: rescued
    - name: Fail but ignored on h1
      ansible.builtin.fail:
        msg: ignored
      ignore_errors: true
      when: inventory_hostname == 'h1'
    - name: Fail on h3
      ansible.builtin.fail:
        msg: h3 broke
      when: inventory_hostname == 'h3'
"""
RECAP_LINE = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+"
                        r"rescued=(\d+)\s+ignored=(\d+)", re.M)


def test_each_host_has_the_recap_ansible_prints(runner):
    inventory = runner.tmp / "recap.ini"
    inventory.write_text("".join("h%d ansible_connection=local ansible_python_interpreter=%s\n" % (i, sys.executable)
                                 for i in (1, 2, 3))
                         + "h4 ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_timeout=3\n")
    proc = runner.run(runner.playbook(RECAP), hosts=1, args=["-i", str(inventory)])
    assert proc.returncode == 4, proc.stdout + proc.stderr   # h3 failed, h4 unreachable
    printed = {m.group(1): tuple(int(x) for x in m.groups()[1:]) for m in RECAP_LINE.finditer(proc.stdout)}
    assert set(printed) == {"h1", "h2", "h3", "h4"}, proc.stdout
    # Every kind of count is there in the PLAY RECAP (so the comparison below can fail).
    assert printed["h2"][5] == 1 and printed["h1"][6] == 1 and printed["h3"][3] == 1 and printed["h4"][2] == 1
    task, rows, _ = runner.only_task()
    fields = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
    assert {h: tuple(r[f] for f in fields) for h, r in rows.items()} == printed
    assert (rows["h1"]["status"], rows["h3"]["status"], rows["h4"]["status"]) == ("success", "failed", "unreachable")


SECRETS = """\
- name: Secrets must not reach the history
  hosts: all
  gather_facts: false
  vars:
    db_passwd: Pl4y-Var-Secret-1
  tasks:
    - name: A careless debug of {{ db_passwd }}
      ansible.builtin.debug:
        msg: "connecting with {{ db_passwd }} and {{ api_token }}"
    - name: Show the variable itself
      ansible.builtin.debug:
        var: db_passwd
    - name: Hidden command
      ansible.builtin.command: echo {{ db_passwd }} {{ api_token }}
      no_log: true
    - name: Hidden loop
      ansible.builtin.command: echo {{ item }}
      loop: ["{{ db_passwd }}", "N0-Log-Item-Secret"]
      no_log: true
    - name: A fact with a secret-looking name
      ansible.builtin.set_fact:
        service_token: F4ct-T0ken-Secret
    - name: Echo the fact
      ansible.builtin.command: echo token={{ service_token }}
      changed_when: false
"""
SECRET_VALUES = ["Pl4y-Var-Secret-1", "Extr4-Var-Token", "N0-Log-Item-Secret", "F4ct-T0ken-Secret", "Cl-Pw-9a9a",
                 "Cl-Pem-Body-7", "Cl-Flow-Pw-8", "Cl-Env-Tok-9", "Cl-Url-Pw-10"]


def test_secrets_never_reach_the_store(runner):
    cluster = runner.tmp / "cluster.yml"
    cluster.write_text("dch:\n  db_passwd: Cl-Pw-9a9a\n  host: [10.0.0.1]\n  private_key: |\n    Cl-Pem-Body-7\n"
                       "  db: {password: Cl-Flow-Pw-8}\n  env:\n  - name: API_TOKEN\n    value: Cl-Env-Tok-9\n"
                       "  dsn: postgresql://app:Cl-Url-Pw-10@db/x\n")
    proc = runner.run(runner.playbook(SECRETS), hosts=1, args=["-e", "api_token=Extr4-Var-Token",
                                                               "-e", "cluster_file=%s" % cluster])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    task, _, log = runner.only_task()
    # The records are there (so this test can fail) and masked.
    messages = {r["task_name"]: (r["message"], r["output"]) for r in log}
    assert messages["A careless debug of %s" % MASK][0] == "connecting with %s and %s" % (MASK, MASK)
    assert MASK in messages["Show the variable itself"][1]
    assert messages["Hidden command"] == ("output hidden (no_log)", None)
    assert messages["Echo the fact"][1] == "token=%s" % MASK
    # Every text column of every table, then the raw bytes of the database and its WAL.
    conn = sqlite3.connect(runner.db)
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for row in conn.execute("SELECT * FROM %s" % table):
            for value in row:
                for secret in SECRET_VALUES:
                    assert secret not in str(value), (table, row)
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        path = runner.db + suffix
        if os.path.exists(path):
            data = open(path, "rb").read()
            for secret in SECRET_VALUES:
                assert secret.encode() not in data, (path, secret)


SLOW = """\
- name: Long run
  hosts: all
  gather_facts: false
  tasks:
    - name: First
      ansible.builtin.command: "true"
    - name: Sleep
      ansible.builtin.command: sleep 60
"""


@pytest.mark.parametrize("signum, to_group", [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_signal_marks_the_task_interrupted(runner, signum, to_group):
    proc = runner.start(runner.playbook(SLOW), hosts=2)
    try:
        runner.wait_for(lambda s: len([r for t in s.list_tasks() for r in s.task_log(t["id"])
                                       if r["task_name"] == "First"]) == 2, "the first task on record", proc=proc)
        time.sleep(1.0)  # inside "Sleep"
        if to_group:
            os.killpg(proc.pid, signum)  # what Ctrl-C does: the whole foreground group
        else:
            os.kill(proc.pid, signum)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    task, rows, _ = runner.only_task()
    assert task["status"] == "interrupted", proc.stdout.read()
    assert task["ended_at"] is not None
    # Both hosts were inside "Sleep": neither finished, neither is called a success.
    assert {(r["status"], r["message"]) for r in rows.values()} == {("running", "run interrupted")}


def test_store_that_cannot_open_gives_one_warning_and_the_run_succeeds(runner):
    blocker = runner.tmp / "a-file"
    blocker.write_text("")
    proc = runner.run(runner.playbook(GENERIC), hosts=2, env={"NOOPS_HISTORY_DSN": str(blocker / "h.db"),
                                                              "NOOPS_HISTORY_LOCK_TIMEOUT": "0.5"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert out.count("noops history:") == 1, out
    assert "cannot open" in out


LOCKER = """
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
# Hold the lock until the run is past its start (its first task writes the marker), whatever the machine's load.
end = time.time() + 120
while not os.path.exists(sys.argv[2]) and time.time() < end:
    time.sleep(0.1)
time.sleep(1.0)
c.execute("COMMIT")
"""
LOCKED_RUN = SLOW.replace('ansible.builtin.command: "true"', "ansible.builtin.command: touch {{ marker }}").replace(
    "sleep 60", "sleep 5")


def test_locked_store_marks_the_record_incomplete(runner):
    runner.store().close()  # the schema exists; now another process holds the write lock
    marker = runner.tmp / "first-task-ran"
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, runner.db, str(marker)], stdout=subprocess.PIPE,
                              text=True)
    assert locker.stdout.readline().strip() == "locked"
    try:
        proc = runner.run(runner.playbook(LOCKED_RUN), hosts=2, args=["-e", "marker=%s" % marker],
                          env={"NOOPS_HISTORY_LOCK_TIMEOUT": "0.5", "NOOPS_HISTORY_FLUSH_INTERVAL": "0.5"})
    finally:
        locker.wait(150)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count("noops history:") == 1, out
    assert "locked" in out
    task, rows, log = runner.only_task()
    assert (task["status"], task["incomplete"]) == ("success", 1)
    assert {r["status"] for r in rows.values()} == {"success"}
    assert len(log) == 4  # buffered while locked, written once the lock was gone


BUILD = """\
- name: A build's result, as odin_prepare returns it after building from code
  hosts: all
  gather_facts: false
  vars:
    build: {log: "%(dir)s/build.log", error_log: "%(dir)s/build-error.log"}
  tasks:
    - name: Prepare
      ansible.builtin.debug:
        var: build
      run_once: true
      delegate_to: localhost
"""


def test_a_builds_logs_are_kept_with_the_task_masked(runner):
    (runner.tmp / "build.log").write_text("$ make release\nfetching with password=Bld-Pw-3\nbuilt\n")
    (runner.tmp / "build-error.log").write_text("warning: deprecated flag\n")
    proc = runner.run(runner.playbook(BUILD % {"dir": runner.tmp}), hosts=1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    task, _, _ = runner.only_task()
    with runner.store() as store:
        texts = store.task_texts(task["id"])
    assert texts["build"].startswith("$ make release\n") and "built" in texts["build"]
    assert "Bld-Pw-3" not in texts["build"] and MASK in texts["build"]
    assert texts["build-error"] == "warning: deprecated flag\n"
