"""A bad deploy request to the thor role is refused before anything on the host changes: one line per problem,
naming the variable and its value, every problem at once.

Types, choices and required variables are the role's argument_specs (meta/argument_specs.yml, checked by Ansible
before the first task); the rules for names, versions, paths and the releases kept are the ones odin_prepare applies
to a cluster.yml (the same code), checked by the role's first task for a play that uses the role on its own.
"""

import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VENV_BIN = os.path.dirname(__import__("sys").executable)

pytestmark = pytest.mark.slow

GOOD = dict(thor_name="hello", thor_version="1.0.0", thor_path="/home/work/hello", thor_package="/nonexistent.tar.gz")

CASES = [
    ("name", dict(thor_name="d ch"),
     ['thor_name: "d ch": must match [A-Za-z0-9][A-Za-z0-9_.-]*']),
    ("version", dict(thor_version="1.0 beta"),
     ['thor_version: "1.0 beta": must match [A-Za-z0-9][A-Za-z0-9_.+-]*']),
    ("path", dict(thor_path="home/work/hello"), ['thor_path: "home/work/hello": must be an absolute path']),
    ("path-root", dict(thor_path="/"), ['thor_path: "/": must be an absolute path below /']),
    ("path-trailing-slash", dict(thor_path="/home/work/hello/"),
     ['thor_path: "/home/work/hello/": must be an absolute path below /']),
    ("data-path", dict(thor_data_path="data/hello"), ['thor_data_path: "data/hello": must be an absolute path']),
    ("package", dict(thor_package=""), ['thor_package: "": must be the release package']),
    ("keep", dict(thor_keep_releases=1), ["thor_keep_releases: 1: must be an integer >= 2"]),
    ("all-at-once", dict(thor_name="d ch", thor_version="1.0 beta", thor_data_path="data", thor_keep_releases=0),
     ['thor_name: "d ch"', 'thor_version: "1.0 beta"', 'thor_data_path: "data"', "thor_keep_releases: 0"]),
    # argument_specs: Ansible's own lines, every problem at once
    ("supervisor", dict(thor_supervisor="runit"),
     ["value of thor_supervisor must be one of: god, supervisord, systemd, got: runit"]),
    ("keep-type", dict(thor_keep_releases="x"), ["thor_keep_releases", "int"]),
    ("values-type", dict(thor_values=[1]), ["thor_values", "dict"]),
    ("missing", dict(thor_name=None), ["thor_name"]),
]


@pytest.mark.parametrize("bad, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_request_is_refused_before_the_host_changes(tmp_path, bad, expected):
    root = tmp_path / "h1"
    root.mkdir()
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"h1": {"noops_root": str(root)}}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}))
    request = {k: v for k, v in dict(GOOD, **bad).items() if v is not None}
    (tmp_path / "request.json").write_text(json.dumps(request))
    play = tmp_path / "deploy.yml"
    play.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n"
                    "        name: noops.platform.thor\n")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               NOOPS_STAGING=str(tmp_path / "staging"), PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(inventory), str(play),
                           "-e", "@" + str(tmp_path / "request.json")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    for text in expected:
        assert text in out, "%r not in:\n%s" % (text, out[-3000:])
    lines = [line for line in out.splitlines() if expected[0] in line]
    assert lines, out[-3000:]
    assert os.listdir(root) == [], "the host changed: %s" % os.listdir(root)
    assert not (tmp_path / "staging").exists()
