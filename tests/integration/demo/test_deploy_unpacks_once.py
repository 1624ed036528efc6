"""A deploy unpacks its package once on the controller: odin_prepare unpacks it into the package cache, and the
lint, the needs check and every host's render read that folder (counted by wrapping ``tarfile.open`` in every
controller process of the run, through a ``sitecustomize`` on PYTHONPATH)."""

import os
import subprocess

from test_deploy_cli_runs import (  # noqa: F401
    BIN, ROOT, cluster, local_fleet, pytestmark, served,
)

COUNTER = '''
import os
import tarfile

_log = os.environ.get("NOOPS_TEST_TAR_LOG")
if _log:
    _open = tarfile.open

    def _counting_open(name=None, mode="r", *args, **kwargs):
        if name is not None and "w" not in mode:
            with open(_log, "a") as f:
                f.write("%d %s\\n" % (os.getpid(), os.fspath(name)))
        return _open(name, mode, *args, **kwargs)

    tarfile.open = _counting_open
'''


def test_a_deploy_of_two_hosts_unpacks_the_package_once(local_fleet, tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(COUNTER)
    log = tmp_path / "tar-opens.log"
    env = dict(local_fleet["env"], ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               PATH=BIN + os.pathsep + os.environ["PATH"], NOOPS_TEST_TAR_LOG=str(log),
               PYTHONPATH=os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")])))
    play = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", local_fleet["inventory"],
                           os.path.join(ROOT, "playbooks", "deploy.yml"), "-e", "cluster_file=" +
                           cluster(local_fleet, "1.0.0"), "-e", "batch=2"],
                          env=env, cwd=local_fleet["base"], capture_output=True, text=True, timeout=1200)
    assert play.returncode == 0, play.stdout[-8000:] + play.stderr[-2000:]
    assert [served(h, "1.0.0") for h in local_fleet["hosts"]] == ["1.0.0", "1.0.0"]
    # The hosts' release module unpacks its own copy (under the hosts' temp folders): only the controller's
    # package, in the cache, is counted.
    cache = local_fleet["env"]["XDG_CACHE_HOME"]
    opens = [line.split(" ", 1)[1] for line in log.read_text().splitlines() if line.split(" ", 1)[1].startswith(cache)]
    assert len(opens) == 1, opens
    unpacked = sorted(os.listdir(os.path.join(cache, "noops", "packages", "unpacked")))
    assert len([n for n in unpacked if not n.endswith(".lock")]) == 1, unpacked
