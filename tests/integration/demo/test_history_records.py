"""What the history and ``noops deploy|rollback|control`` record per host is what is true on the host, on a 2-host
local fleet through the real playbooks: the release is the one the host's ``path`` points at after the run (a host
already up to date, a forced redeploy, a failed host that went back, a rollback), a rollback's version is the one it
went back to, ``control … status`` shows no host as deploying, the service and ``$<job>`` keep the spelling of
cluster.yml, and every host has Ansible's recap (ok, changed, unreachable, failed, skipped, rescued, ignored)."""

import os
import re
import subprocess

import pytest

from localfleet import NEEDS_SUPERVISOR
from test_deploy_cli_runs import BIN, cluster, local_fleet, noops_deploy, served, served_tag  # noqa: F401
from ansible_collections.noops.platform.plugins.plugin_utils import fleet as fleetlib
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag

pytestmark = [pytest.mark.slow, NEEDS_SUPERVISOR]
RECAP = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")


def spelled_job(ctx):
    """The fleet's job tag written in an order of its own (job first, company last), as a user may."""
    tag = Tag.parse(fleetlib.jobs_of(ctx["hosts"], "hello")[0])
    text = "_".join("%s.%s" % (k, tag[k]) for k in reversed(list(tag)))
    assert text != str(tag)
    return text


def live_release(host):
    """The release the host's stable path points at."""
    return os.path.basename(os.readlink(os.path.join(host.root, "home/work/hello")))


def last_task(ctx):
    with HistoryStore(ctx["env"]["NOOPS_HISTORY_DSN"]) as store:
        task = store.list_tasks(limit=1)[0]
        return task, {h["host"]: h for h in store.task_hosts(task["id"])}


def noops(ctx, *args):
    return subprocess.run([os.path.join(BIN, "noops"), *args], env=ctx["env"], cwd=ctx["base"], capture_output=True,
                          text=True, timeout=1800)


def test_deploy_keeps_the_jobs_spelling_and_records_release_and_recap(local_fleet):
    ctx, hosts = local_fleet, local_fleet["hosts"]
    job = spelled_job(ctx)
    proc = noops_deploy(ctx, "-f", cluster(ctx, "1.0.0", jobs=[job]), "--batch", "2")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    task, rows = last_task(ctx)
    assert task["service"] == job
    for host in hosts:
        assert served(host, "1.0.0") == "1.0.0"
        assert served_tag(host) == job
        row = rows[host.name]
        assert (row["status"], row["release"]) == ("success", live_release(host)) == ("success", "1.0.0")
        # Ansible's recap of the host: the deploy ran and changed things, nothing failed or was rescued.
        assert row["ok"] > 0 and row["changed"] > 0, row
        assert (row["unreachable"], row["failed"], row["rescued"]) == (0, 0, 0), row
    show = noops(ctx, "tasks", "show", str(task["id"]))
    assert show.returncode == 0, show.stderr
    sep = r"[\s┃│]+"  # between two cells of the table
    assert re.search(sep.join(["ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored"]),
                     show.stdout), show.stdout
    for host in hosts:
        row = rows[host.name]
        assert re.search(sep.join([re.escape(host.name) + ".*1\\.0\\.0"] + [str(row[f]) for f in RECAP] + [""]),
                         show.stdout), show.stdout


def test_hosts_up_to_date_are_recorded_with_the_release_they_run(local_fleet):
    ctx, hosts = local_fleet, local_fleet["hosts"]
    proc = noops_deploy(ctx, "-f", cluster(ctx, "1.0.0", jobs=[spelled_job(ctx)]), "--batch", "2", "--plain")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    task, rows = last_task(ctx)
    for host in hosts:
        assert live_release(host) == "1.0.0"
        assert (rows[host.name]["status"], rows[host.name]["release"]) == ("skipped", "1.0.0")
        # The live table's release column says the same.
        assert re.search(r"^\d\d:\d\d:\d\d %s\s+skipped\s+1\.0\.0\s" % re.escape(host.name), proc.stdout, re.M), \
            proc.stdout


def test_a_forced_redeploy_is_recorded_with_the_release_it_switched_to(local_fleet):
    ctx, hosts = local_fleet, local_fleet["hosts"]
    proc = noops_deploy(ctx, "-f", cluster(ctx, "1.0.0", jobs=[spelled_job(ctx)]), "--batch", "2", "--force")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    task, rows = last_task(ctx)
    for host in hosts:
        release = live_release(host)
        assert re.fullmatch(r"1\.0\.0-\d{14}", release), release
        assert (rows[host.name]["status"], rows[host.name]["release"]) == ("success", release)


def test_a_failed_host_is_recorded_with_the_release_it_went_back_to(local_fleet):
    ctx, hosts = local_fleet, local_fleet["hosts"]
    before = [live_release(h) for h in hosts]
    proc = noops_deploy(ctx, "-f", cluster(ctx, "3.0.0", jobs=[spelled_job(ctx)]), "--batch", "1",
                        "--max-fail", "0")
    assert proc.returncode == 1, proc.stdout[-6000:] + proc.stderr[-2000:]
    task, rows = last_task(ctx)
    assert [live_release(h) for h in hosts] == before
    first, second = rows[hosts[0].name], rows[hosts[1].name]
    assert (first["status"], first["release"]) == ("failed", before[0])
    # Two rescues, as Ansible's recap counts them: thor's own (it switched back) and deploy.yml's (it counts the
    # host against max_fail).
    assert first["rescued"] == 2, first
    # Never reached: nothing is known of it, and it had no recap line.
    assert (second["status"], second["release"]) == ("pending", None)


def test_a_rollback_records_the_version_it_went_back_to(local_fleet):
    ctx, hosts = local_fleet, local_fleet["hosts"]
    proc = noops(ctx, "rollback", "-i", ctx["inventory"], "-f", cluster(ctx, "1.0.0", jobs=[spelled_job(ctx)]),
                 "--batch", "2", "--plain")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "rollback 1.0.0: 2 host(s): 2 success" in proc.stdout, proc.stdout
    task, rows = last_task(ctx)
    assert task["version"] == "1.0.0"
    for host in hosts:
        assert live_release(host) == "1.0.0"
        assert (rows[host.name]["status"], rows[host.name]["release"]) == ("success", "1.0.0")
        assert served(host, "1.0.0") == "1.0.0"


def test_control_status_shows_no_host_deploying(local_fleet):
    ctx, hosts = local_fleet, local_fleet["hosts"]
    proc = noops(ctx, "control", "-i", ctx["inventory"], "service.hello", "status", "--plain")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "deploying" not in proc.stdout, proc.stdout
    for host in hosts:
        assert re.search(r"^\d\d:\d\d:\d\d %s\s+running\s" % re.escape(host.name), proc.stdout, re.M), proc.stdout
        assert re.search(r"^\d\d:\d\d:\d\d %s\s+success\s" % re.escape(host.name), proc.stdout, re.M), proc.stdout
    task, rows = last_task(ctx)
    assert {h: r["status"] for h, r in rows.items() if h in {x.name for x in hosts}} == {
        h.name: "success" for h in hosts}
