"""noops.platform.deploy_lock in real ansible-playbook runs: held across plays by the playbook process,
a second run refused while the first holds it, a killed run's lock reported as dead and broken on request."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.noops.platform.plugins.plugin_utils.odin.lock import lock_file  # noqa: E402

KEY = "cop.example_service.hello_job.hello"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook not installed beside %s"
                                 % sys.executable)]

PLAYBOOK = """
- name: Take the lock
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Take the deploy lock
      noops.platform.deploy_lock:
        key: "{{ key }}"
        break: "{{ brk | default(false) | bool }}"
        lock_dir: "{{ lock_dir }}"
    - name: Hold it until the test says go
      ansible.builtin.wait_for:
        path: "{{ go_file }}"
        timeout: 120
      when: go_file is defined

- name: Release it in a later play
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Release the deploy lock
      noops.platform.deploy_lock:
        key: "{{ key }}"
        state: released
        lock_dir: "{{ lock_dir }}"
"""


@pytest.fixture
def run(tmp_path):
    book = tmp_path / "lock.yml"
    book.write_text(PLAYBOOK)
    env = dict(os.environ, NOOPS_HISTORY_DSN=str(tmp_path / "history.db"), NOOPS_USER="tester", ANSIBLE_NOCOLOR="1")

    def start(**extra):
        extra = dict(key=KEY, lock_dir=str(tmp_path / "locks"), **extra)
        argv = [PLAYBOOK_BIN, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                str(book), "-e", json.dumps(extra)]
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    return start, str(tmp_path / "locks"), tmp_path


def wait_for_lock(path, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "the first run took no lock"
        time.sleep(0.2)
    with open(path) as f:
        return json.load(f)


def test_second_run_refused_while_the_first_holds_the_lock(run):
    start, locks, tmp = run
    first = start(go_file=str(tmp / "go"))
    try:
        holder = wait_for_lock(lock_file(KEY, locks), first)
        assert (holder["pid"], holder["user"]) == (first.pid, "tester")     # the playbook process, not a worker
        second = start()
        out = second.communicate(timeout=300)[0]
        assert second.returncode == 2, out
        assert "deploy of %s is locked by tester since %s (pid %d on " % (KEY, holder["since"], first.pid) in out
        (tmp / "go").write_text("")
        out = first.communicate(timeout=300)[0]
        assert first.returncode == 0, out
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert not os.path.exists(lock_file(KEY, locks))         # released by the later play


def test_killed_run_leaves_a_dead_lock_broken_on_request(run):
    start, locks, tmp = run
    first = start(go_file=str(tmp / "never"))
    holder = wait_for_lock(lock_file(KEY, locks), first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    second = start()
    out = second.communicate(timeout=300)[0]
    assert second.returncode == 2, out
    assert "left by a dead run (pid %d ended); break it with odin_break_lock=true" % holder["pid"] in out
    third = start(brk=True)
    out = third.communicate(timeout=300)[0]
    assert third.returncode == 0, out
    assert "broke the lock of a dead run" in out
    assert not os.path.exists(lock_file(KEY, locks))
