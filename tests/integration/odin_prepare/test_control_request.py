"""playbooks/control.yml run as AWX runs it (extra vars): batch and sleep out of Odin's bounds are refused in one
line naming field and value, before any machine is acted on; a blank answer keeps the default."""

import os

import pytest

from test_ssh_control import ROOT, needs_playbook, playbook


@pytest.mark.slow
@needs_playbook
@pytest.mark.parametrize("extra, line", [
    (["-e", "batch=0"], 'control: extra vars: batch: "0": must be an integer >= 1'),
    (["-e", "batch=abc", "-e", "sleep=-5"], 'control: extra vars: batch: "abc": must be an integer >= 1; '
                                            'extra vars: sleep: "-5": must be a number of seconds >= 0'),
])
def test_control_refuses_rollout_settings_out_of_bounds(tmp_path, extra, line):
    proc = playbook(tmp_path, os.path.join(ROOT, "playbooks", "control.yml"), "-e", "query=service.hello",
                    "-e", "action=status", *extra)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-4000:]
    assert line in out, out[-4000:]
    assert "Control | apply the action" not in out
