"""noops.platform.odin_prepare in a real ansible-playbook run refuses, before any host is touched, the hosts whose
SSH control socket could not be bound (107 bytes with the 17 bytes ssh appends first), naming the path, its
length and the limit; a host reached without SSH, or whose control folder is short, passes."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
TAG = "cop.example_owt.ops_pdl.demo_service.hello_job.hello_loc.bj_idc.%s_status.service"
PLAY = """
- hosts: all
  gather_facts: false
  run_once: true
  tasks:
    - noops.platform.odin_prepare:
        cluster_file: %s
        package: false
      delegate_to: localhost
""" % os.path.join(ROOT, "examples", "cluster", "hello.yml")


DEEP = "/tmp/" + "c" * 75          # 80 bytes: its sockets would be 91, 108 with ssh's suffix
INVENTORY = {"all": {"hosts": {
    "deep": {"noops_tags": [TAG % "lg"], "ansible_host": "192.0.2.1", "ansible_control_path_dir": DEEP},
    "short": {"noops_tags": [TAG % "sd"], "ansible_host": "192.0.2.2", "ansible_control_path_dir": "/tmp/cp"},
    "local": {"noops_tags": [TAG % "hh"], "ansible_connection": "local", "ansible_control_path_dir": DEEP},
}}}
LINE = ("host deep: control_path_dir={d}: SSH control sockets {d}/<10-character hash>: 91 bytes, 108 with the "
        "17-byte suffix ssh binds first, longer than the 107-byte limit for a unix socket".format(d=DEEP))
needs_playbook = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook not installed "
                                    "beside %s" % sys.executable)


def playbook(tmp_path, book, *args):
    (tmp_path / "inv.json").write_text(json.dumps(INVENTORY))
    env = dict(os.environ, NOOPS_HISTORY_DSN=str(tmp_path / "history.db"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    env.pop("ANSIBLE_SSH_CONTROL_PATH_DIR", None)
    return subprocess.run([PLAYBOOK_BIN, "-i", str(tmp_path / "inv.json"), str(book), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env, check=False)


@pytest.mark.slow
@needs_playbook
def test_a_control_socket_that_cannot_fit_is_refused(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY)
    proc = playbook(tmp_path, tmp_path / "play.yml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-4000:]
    assert LINE in out, out[-4000:]
    assert "host short:" not in out and "host local:" not in out


@pytest.mark.slow
@needs_playbook
def test_control_refuses_it_before_any_machine(tmp_path):
    proc = playbook(tmp_path, os.path.join(ROOT, "playbooks", "control.yml"), "-e", "query=service.hello",
                    "-e", "action=status")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-4000:]
    assert "control: " + LINE in out, out[-4000:]
    assert "host short:" not in out and "host local:" not in out
    assert "Control | apply the action" not in out
