"""Pause, resume and cancel a running rollout from another process, through noops.platform.task_control."""

import contextlib
import os
import signal
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

pytestmark = pytest.mark.slow

ROLLOUT = """\
- name: Roll out in batches
  hosts: all
  gather_facts: false
  serial: 1
  vars:
    odin_service: job.hello_service.hello_cluster.production-lg_cop.xiaomi
    odin_version: "42"
  tasks:
    - name: Honour pause and cancel before the batch
      noops.platform.task_control:
        poll: 0.3
    - name: Deploy the batch
      ansible.builtin.include_role:
        name: thor
      vars:
        thor_stage_cmd: sleep 0.5
%s
"""
PAUSE_STEP = """\
    - name: Pause after every batch
      noops.platform.task_control:
        pause: true
        reason: "pause_step 1"
        poll: 0.3
"""


def _task_id(store):
    tasks = store.list_tasks()
    return tasks[0]["id"] if tasks else None


def _successes(store, task_id):
    return sorted(h["host"] for h in store.task_hosts(task_id) if h["status"] == "success")


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_pause_resume_then_cancel_from_another_terminal(runner):
    # Eight one-host batches of at least a second each: enough left to cancel, whatever the machine's load.
    proc = runner.start(runner.playbook((ROLLOUT % "").replace("sleep 0.5", "sleep 1")), hosts=8)
    try:
        task_id = runner.wait_for(lambda s: _task_id(s), "the task on record", proc=proc)
        out = runner.noops("pause", str(task_id), "--reason", "check the canary")
        assert out.returncode == 0, out.stderr
        runner.wait_for(lambda s: s.get_task(task_id)["status"] == "paused", "the run to hold", proc=proc)
        time.sleep(1.5)  # the callback writes every flush_interval (1 s): let the last batch's rows land
        with runner.store() as store:
            held = _successes(store, task_id)
        assert len(held) <= 2  # the pause is honoured at the next batch boundary
        time.sleep(2.0)
        with runner.store() as store:
            # Held: no batch went on while paused, and the remaining hosts are still pending.
            assert _successes(store, task_id) == held
            assert store.get_task(task_id)["control_reason"] == "check the canary"
            pending = [h["host"] for h in store.task_hosts(task_id) if h["status"] == "pending"]
        assert pending and proc.poll() is None

        assert runner.noops("resume", str(task_id)).returncode == 0
        runner.wait_for(lambda s: len(_successes(s, task_id)) > len(held), "the run to go on", proc=proc)
        assert runner.noops("cancel", str(task_id)).returncode == 0
        output, _ = proc.communicate(timeout=120)
    finally:
        _stop(proc)
    assert proc.returncode != 0
    assert "task %d cancelled by tester at " % task_id in output
    task, rows, log = runner.only_task()
    assert (task["status"], task["control"], task["control_by"]) == ("cancelled", "cancel", "tester")
    statuses = [rows["h%d" % i]["status"] for i in range(1, 9)]
    # Hosts done before the cancel stay done, the rest were never touched; none is called failed.
    done = statuses.count("success")
    assert len(held) < done < 8
    assert statuses == ["success"] * done + ["pending"] * (8 - done)
    assert any(r["task_name"] == "Honour pause and cancel before the batch" and r["status"] == "failed" for r in log)


def test_pause_step_is_continued_with_resume(runner):
    proc = runner.start(runner.playbook(ROLLOUT % PAUSE_STEP), hosts=2)
    try:
        task_id = runner.wait_for(lambda s: _task_id(s), "the task on record", proc=proc)
        for batch in (1, 2):
            task = runner.wait_for(lambda s: (lambda t: t if t["status"] == "paused" else None)(s.get_task(task_id)),
                                   "pause_step pause %d" % batch, proc=proc)
            assert (task["control"], task["control_by"], task["control_reason"]) == ("pause", "pause_step",
                                                                                     "pause_step 1")
            runner.wait_for(lambda s: len(_successes(s, task_id)) == batch, "batch %d on record" % batch, proc=proc)
            assert runner.noops("resume", str(task_id)).returncode == 0
            runner.wait_for(lambda s: s.get_task(task_id)["status"] != "paused", "resume %d" % batch, proc=proc)
        output, _ = proc.communicate(timeout=120)
    finally:
        _stop(proc)
    assert proc.returncode == 0, output
    task, rows, _ = runner.only_task()
    assert task["status"] == "success"
    assert {h: r["status"] for h, r in rows.items()} == {"h1": "success", "h2": "success"}
    assert "noops tasks resume %d" % task_id in output


def test_pause_timeout_fails_the_run(runner):
    play = ROLLOUT % PAUSE_STEP.replace("poll: 0.3", "poll: 0.3\n        timeout: 1")
    proc = runner.run(runner.playbook(play), hosts=1)
    assert proc.returncode != 0
    assert "still paused after 1 s (timeout)" in proc.stdout
    task, _, _ = runner.only_task()
    assert task["status"] == "failed"


def test_without_the_callback_control_warns_and_the_run_goes_on(runner):
    cfg = runner.tmp / "plain.cfg"
    cfg.write_text("[defaults]\ncollections_path = %s\n" % os.path.join(ROOT, "collections"))
    runner.env.pop("ANSIBLE_CALLBACKS_ENABLED")
    proc = runner.run(runner.playbook(ROLLOUT % ""), hosts=1, env={"ANSIBLE_CONFIG": str(cfg)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "no task on record" in out


@pytest.mark.parametrize("state", ["running", "paused"])
def test_a_killed_run_shows_interrupted_and_refuses_control(runner, state):
    # Killed while a batch deploys (a long step) or while held by a pause_step pause.
    play = ROLLOUT % PAUSE_STEP if state == "paused" else (ROLLOUT % "").replace("sleep 0.5", "sleep 30")
    proc = runner.start(runner.playbook(play), hosts=2)
    workers = []
    try:
        task_id = runner.wait_for(lambda s: _task_id(s), "the task on record", proc=proc)
        runner.wait_for(lambda s: s.get_task(task_id)["status"] == state, "the run %s" % state, proc=proc)
        workers = _descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)  # the controller dies without a word: no handler, no atexit
        proc.wait()
        _assert_interrupted(runner, task_id, proc.pid, state)
    finally:
        _stop(proc)
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _descendants(pid):
    """The processes under ``pid``: Ansible's workers start sessions of their own, out of reach of killpg."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read()
            children.setdefault(int(stat[stat.rfind(b")") + 2:].split()[1]), []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(children.get(child, []))
    return out


def _assert_interrupted(runner, task_id, pid, state):
    import json
    listed = runner.noops("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(t["id"], t["status"]) for t in json.loads(listed.stdout)] == [(task_id, "interrupted")]
    shown = runner.noops("show", str(task_id))
    assert "interrupted (its controller (pid %d on " % pid in shown.stdout, shown.stdout
    for action in ("pause", "cancel", "resume"):
        refused = runner.noops(action, str(task_id))
        assert refused.returncode == 1, (action, refused.stdout)
        assert "task %d is interrupted: its controller (pid %d on " % (task_id, pid) in refused.stderr
    with runner.store() as store:
        assert store.get_task(task_id)["control"] == ("pause" if state == "paused" else "run")
