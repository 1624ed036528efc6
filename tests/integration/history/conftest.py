"""Real ansible-playbook runs (local connection, cwd = the repository) with the history callback."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
BIN = os.path.dirname(sys.executable)

# A stand-in for the deploy role: the callback follows a role by its short name (progress_roles: [thor]), and
# reads the release the host runs from thor_current_release as the real role sets it (before and after the switch).
THOR_TASKS = """\
- name: Read the host
  ansible.builtin.set_fact:
    thor_current_release: "{{ (thor_before | default({}))[inventory_hostname] | default('') }}"
- name: Report a host already at the version
  ansible.builtin.set_fact:
    thor_skipped: true
  when: inventory_hostname in (thor_already | default([]))
- name: Stage the package
  ansible.builtin.command: "{{ thor_stage_cmd | default('true') }}"
  changed_when: true
  when: inventory_hostname not in (thor_already | default([]))
- name: Switch
  ansible.builtin.set_fact:
    thor_current_release: "{{ odin_version }}-new"
  when: inventory_hostname not in (thor_already | default([]))
"""


class Runner:
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.db = str(tmp_path / "history.db")
        roles = tmp_path / "roles" / "thor" / "tasks"
        roles.mkdir(parents=True)
        (roles / "main.yml").write_text(THOR_TASKS)
        self.env = dict(os.environ)
        self.env.update({
            "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
            "ANSIBLE_CALLBACKS_ENABLED": "noops.platform.history",
            "ANSIBLE_ROLES_PATH": str(tmp_path / "roles"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "NOOPS_HISTORY_DSN": self.db,
            "NOOPS_USER": "tester",
            "XDG_DATA_HOME": str(tmp_path / "xdg"),  # never the user's own history
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        })
        self.env.pop("NOOPS_TASK_ID", None)

    def inventory(self, count):
        path = self.tmp / ("hosts%d.ini" % count)
        path.write_text("".join("h%d ansible_connection=local ansible_python_interpreter=%s\n" % (i, sys.executable)
                                for i in range(1, count + 1)))
        return str(path)

    def playbook(self, text, name="play.yml"):
        path = self.tmp / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    def argv(self, playbook, hosts=2, args=()):
        return [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory(hosts), playbook] + list(args)

    def run(self, playbook, hosts=2, args=(), env=None, timeout=300):
        return subprocess.run(self.argv(playbook, hosts, args), cwd=ROOT, env=dict(self.env, **(env or {})),
                              capture_output=True, text=True, timeout=timeout)

    def start(self, playbook, hosts=2, args=(), env=None):
        return subprocess.Popen(self.argv(playbook, hosts, args), cwd=ROOT, env=dict(self.env, **(env or {})),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def noops(self, *argv):
        return subprocess.run([os.path.join(BIN, "noops"), "tasks"] + list(argv), cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=60)

    def store(self):
        from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore
        return HistoryStore(self.db)

    def only_task(self):
        with self.store() as store:
            tasks = store.list_tasks()
            assert len(tasks) == 1, tasks
            return store.get_task(tasks[0]["id"]), {h["host"]: h for h in store.task_hosts(tasks[0]["id"])}, \
                store.task_log(tasks[0]["id"])

    def wait_for(self, predicate, what, timeout=60, proc=None):
        """Poll the store until predicate(store) is true; fail with ``what`` (and the run's output) otherwise."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists(self.db):
                try:
                    with self.store() as store:
                        value = predicate(store)
                        if value:
                            return value
                except Exception:
                    pass
            if proc is not None and proc.poll() is not None:
                pytest.fail("the run ended before %s:\n%s" % (what, proc.stdout.read()))
            time.sleep(0.2)
        pytest.fail("timed out waiting for %s" % what)


@pytest.fixture
def runner(tmp_path):
    return Runner(tmp_path)
