"""The supervisor_config module end to end on a temporary root, per backend, and its backend-specific behaviour
living in the backend classes of module_utils/supervisor.py (the module itself names no backend)."""

import ast
import json
import os
import shutil

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.noops.platform.plugins.module_utils import supervisor
from ansible_collections.noops.platform.plugins.module_utils.supervisor_listener import parse_labels
from ansible_collections.noops.platform.plugins.modules import supervisor_config

MODULE = supervisor_config.__file__


def run(capsys, check=False, diff=False, **args):
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        supervisor_config.main()
    return json.loads(capsys.readouterr().out)


def test_the_module_names_no_backend():
    """Backend differences (default log, god shim, the file check) are methods of the backend classes."""
    with open(MODULE, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    named = sorted({(node.lineno, node.value) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
                    for node in ast.walk(fn) if isinstance(node, ast.Constant) and node.value in supervisor.BACKENDS})
    assert not named, "supervisor_config.py compares backends at lines %s" % named


@pytest.mark.parametrize("backend", supervisor.BACKENDS)
def test_each_backend_writes_a_checked_file(capsys, tmp_path, backend):
    root = "" if backend == "systemd" else str(tmp_path)
    dest = str(tmp_path / ("svc" + supervisor.EXTENSIONS[backend]))
    args = dict(name="svc", backend=backend, root=root, dest=dest, command="/bin/sleep 600", version="1.2",
                god_shim="always")
    out = run(capsys, check=True, diff=True, **args)
    assert out["changed"] and not os.path.exists(dest) and out["diff"]["after"] == out["content"]
    out = run(capsys, **args)
    assert out["changed"] and not out.get("failed"), out
    with open(dest, encoding="utf-8") as f:
        text = f.read()
    assert text == out["content"]
    labels = parse_labels(text)
    assert labels["version"] == "1.2"
    if backend == "systemd":
        assert "log" not in labels or not labels["log"]  # the journal
    else:
        assert labels["log"] == "%s/var/log/noops/%s/svc.log" % (root, backend)
        assert os.path.isdir(os.path.dirname(labels["log"]))
    assert ("god_shim" in out) == (backend == "god")
    if backend == "god":
        assert out["god_shim"] is True
    checker = {"god": "ruby -c", "supervisord": "supervisor.options", "systemd": "systemd-analyze verify"}[backend]
    tool = {"god": "ruby", "supervisord": None, "systemd": "systemd-analyze"}[backend]
    if tool and not shutil.which(tool):
        assert out["validated_by"].startswith("skipped: %s not installed" % tool)
    elif backend == "systemd":
        assert out["validated_by"] == checker or out.get("failed")
    else:
        assert out["validated_by"] == checker
    again = run(capsys, **args)
    assert not again["changed"]


def test_supervisord_refuses_what_its_parser_reads_differently(capsys, tmp_path, monkeypatch):
    """The file check compares supervisord's own reading with the request and fails naming the difference (here
    the rendering's own check is switched off and the request made to differ from what was rendered)."""
    monkeypatch.setattr(supervisor, "check_supervisord", lambda text, spec: None)
    monkeypatch.setattr(supervisor, "supervisord_intent", lambda spec: {"command": ["/bin/other"]})
    out = run(capsys, name="svc", backend="supervisord", root=str(tmp_path), command="/bin/sleep 600",
              dest=str(tmp_path / "svc.conf"))
    assert out["failed"] and out["msg"].startswith("supervisord cannot read the program file for svc: it would not "
                                                   "run what was asked: command"), out["msg"]
    assert not os.path.exists(tmp_path / "svc.conf")
