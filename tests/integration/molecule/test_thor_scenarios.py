"""The thor role on podman containers, one Molecule scenario per supervisor (molecule/thor-*, docs/testing.md).

Each runs `molecule test`: create, prepare (deploy user, packages built on the controller, hello 1.0.0),
converge (upgrade to 2.0.0, a crash-looping second process), idempotence (the rerun changes nothing), the shared
testinfra verify (folders, owners, modes, supervision, kill -9, crash loop, rollback), destroy.
"""

import json
import re
import subprocess

import pytest

pytestmark = pytest.mark.slow

# Verify checks per container in molecule/shared/tests/test_thor_hosts.py (parametrized cases included).
CHECKS_PER_HOST = 15


@pytest.mark.parametrize("scenario,containers", [
    ("thor-god", 2),
    ("thor-supervisord", 1),
    ("thor-systemd", 1),
])
def test_thor_scenario(run_molecule, scenario, containers):
    proc = run_molecule(scenario)
    assert proc.returncode == 0, proc.stdout[-8000:]
    for step in ("create", "prepare", "converge", "idempotence", "verify", "destroy"):
        assert f"{scenario} > {step}: Executed: Successful" in proc.stdout, step
    # Every check ran and passed.
    summaries = re.findall(r"=+ (\d+ [^=]*) in [\d.]+s", proc.stdout)
    summary = summaries[-1] if summaries else ""
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|xfailed|xpassed|failed|skipped|error)", summary)}
    assert summary and counts.get("passed", 0) == CHECKS_PER_HOST * containers, proc.stdout[-4000:]
    assert set(counts) == {"passed"}, summary
    assert not re.search(r"\d+ failed", proc.stdout)
    left = subprocess.run(["podman", "ps", "-a", "--filter", "label=owner=molecule", "--format", "json"],
                          capture_output=True, text=True, check=True).stdout
    assert [c["Names"] for c in json.loads(left or "[]")
            if any(n.startswith("noops-" + scenario) for n in c["Names"])] == []
