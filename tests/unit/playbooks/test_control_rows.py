"""`noops control` shows one row per process - name, state, pid, version - from control.yml's "Show the processes"
task: a stopped process has no pid and is shown with "-", not Python's "None"."""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _show_task():
    with open(os.path.join(ROOT, "playbooks", "control.yml"), encoding="utf-8") as f:
        plays = yaml.safe_load(f)
    for play in plays:
        for task in play.get("tasks") or []:
            if task.get("name") == "Show the processes":
                return task
    raise AssertionError("no 'Show the processes' task in control.yml")


@pytest.mark.parametrize("process, row", [
    ({"name": "hello", "state": "running", "pid": 4242, "version": "2.0.0"}, "hello running 4242 2.0.0"),
    ({"name": "hello", "state": "stopped", "pid": None, "version": "2.0.0"}, "hello stopped - 2.0.0"),
    ({"name": "agent", "state": "absent", "pid": None, "version": ""}, "agent absent - -"),
])
def test_a_row_per_process_without_none(process, row):
    msg = _show_task()["ansible.builtin.debug"]["msg"]
    templar = Templar(loader=DataLoader(), variables={"control_result": {"processes": [process]}})
    assert templar.template(trust_as_template(msg)) == [row]
