"""Check mode of a deploy (``ansible-playbook --check playbooks/deploy.yml`` and ``noops deploy --check``) on a
2-host local fleet that runs 1.0.0: checking 2.0.0, a version the hosts do not have, changes no host and says,
per host, what would change; checking 1.0.0 says nothing would."""

import os
import re
import subprocess
import sys

import json

from localfleet import build_hello, hello_cluster, make_fleet, remove_fleet, write_yaml
from test_deploy_cli_runs import (  # noqa: F401
    BIN, ROOT, cluster, last_task, local_fleet, noops_deploy, pytestmark, served,
)


def host_files(ctx) -> dict:
    """Every file, folder and link below the hosts' roots (logs, pid files and sockets left out)."""
    out = {}
    for host in ctx["hosts"]:
        for folder, dirs, files in os.walk(host.root):
            rel_folder = os.path.relpath(folder, host.root)
            if rel_folder.startswith(("var", "data/hello/log")) or "/run" in "/" + rel_folder:
                continue
            for name in dirs + files:
                full = os.path.join(folder, name)
                st = os.lstat(full)
                out[os.path.join(host.name, rel_folder, name)] = (
                    st.st_mode, os.readlink(full) if os.path.islink(full) else st.st_size,
                    None if os.path.isdir(full) else st.st_mtime_ns)
    return out


def recap(output: str) -> dict:
    return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M)}


def test_check_mode_changes_no_host_and_says_what_would_change(local_fleet):
    hosts = local_fleet["hosts"]
    first = noops_deploy(local_fleet, "-f", cluster(local_fleet, "1.0.0"), "--batch", "2")
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
    before = host_files(local_fleet)
    # Each host's log in the history names no host's folder: task names are the same for every host.
    task_id = last_task(local_fleet)[0]
    for host in hosts:
        log = subprocess.run([os.path.join(BIN, "noops"), "tasks", "log", str(task_id), "--host", host.name, "--json"],
                             env=local_fleet["env"], capture_output=True, text=True, timeout=120)
        assert log.returncode == 0, log.stderr
        names = [str(e.get("task_name") or "") for e in json.loads(log.stdout)]
        assert any("Unpack the package's release/target into the new release folder" in n for n in names), names
        assert not [n for n in names for h in hosts if h.root in n or h.name in n], names
    v2 = cluster(local_fleet, "2.0.0")

    env = dict(local_fleet["env"], ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               PATH=BIN + os.pathsep + os.environ["PATH"])
    play = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--check", "-i", local_fleet["inventory"],
                           os.path.join(ROOT, "playbooks", "deploy.yml"), "-e", "cluster_file=" + v2],
                          env=env, cwd=local_fleet["base"], capture_output=True, text=True, timeout=1200)
    assert play.returncode == 0, play.stdout[-8000:] + play.stderr[-2000:]
    per_host = recap(play.stdout)
    for host in hosts:
        assert per_host[host.name]["failed"] == 0 and per_host[host.name]["changed"] >= 5, per_host
        # Each step of thor says it would change the host: prepare, unpack, install, switch, supervisor config,
        # restart.
        for task in ("Create the folders of the new release", "Unpack the package's release/target",
                     "Install the rendered config", "Point the stable path at the new release",
                     "Write the supervisor config", "Restart the process and let it settle"):
            blocks = re.findall(r"^TASK \[[^\]]*%s[^\]]*\].*?\n\n" % re.escape(task), play.stdout, re.M | re.S)
            assert any(re.search(r"^changed: \[%s\]" % re.escape(host.name), b, re.M) for b in blocks), (
                task, play.stdout[-8000:])
    assert host_files(local_fleet) == before
    assert [served(h) for h in hosts] == ["1.0.0", "1.0.0"]

    checked = noops_deploy(local_fleet, "-f", v2, "--batch", "2", "--check", "--plain")
    assert checked.returncode == 0, checked.stdout[-6000:] + checked.stderr[-2000:]
    assert "check deploy 2.0.0: 2 host(s): 2 would change" in checked.stdout, checked.stdout[-4000:]
    for host in hosts:
        # config too: its task is no_log (the files may hold secrets), so the step after it says it changed.
        assert re.search(r"^\d\d:\d\d:\d\d %s\s+would change .*\bconfig\b.*switch" % re.escape(host.name), checked.stdout,
                         re.M), checked.stdout[-4000:]
    assert host_files(local_fleet) == before
    assert [served(h) for h in hosts] == ["1.0.0", "1.0.0"]

    same = noops_deploy(local_fleet, "-f", cluster(local_fleet, "1.0.0"), "--batch", "2", "--check", "--plain")
    assert same.returncode == 0, same.stdout[-6000:] + same.stderr[-2000:]
    assert "check deploy 1.0.0: 2 host(s): 2 skipped" in same.stdout, same.stdout[-4000:]
    assert host_files(local_fleet) == before


def test_check_mode_on_brand_new_hosts(tmp_path):
    """Hosts that never had the service (no supervisord yet, no release): a check says every host would change
    and leaves nothing behind."""
    ctx = make_fleet("ndn-")
    try:
        build_hello(ctx, "1.0.0")
        path = write_yaml(os.path.join(ctx["base"], "cluster.yml"), hello_cluster(ctx, "1.0.0"))
        checked = noops_deploy(ctx, "-f", path, "--batch", "2", "--check", "--plain")
        assert checked.returncode == 0, checked.stdout[-6000:] + checked.stderr[-2000:]
        assert "check deploy 1.0.0: 2 host(s): 2 would change" in checked.stdout, checked.stdout[-4000:]
        assert host_files(ctx) == {}, host_files(ctx)
    finally:
        remove_fleet(ctx)
