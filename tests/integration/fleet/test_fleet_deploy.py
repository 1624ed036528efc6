"""Odin on a 4-host namespace fleet over real SSH: the rollout as an operator lives it (docs/testing.md,
"Fleet tests").

The tests are steps of one story on one fleet (h1 and h3 run supervisord, h2 and h4 god when it is installed);
each step starts from the state the previous one left, and a failed step skips the rest:

1. v1 to every host; 2. v2 in batches of 2 with a sleep; 3. faults mid-rollout: a start that fails on h2 only
(rescued to its previous release, the rollout stops), then h3 unreachable (the rollout stops again), then the rerun
finishes the rest; 4. rollback to the previous and to a named version; 5. a concurrent deploy refused by the lock
while the first waits at a pause; 6. build from git with a reused and a forced build; 7. bad cluster.yml files
change nothing on any host.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from fleetctl import HELLO
from localfleet import ROOT

sys.path.insert(0, os.path.join(ROOT, "collections"))
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore  # noqa: E402

pytestmark = pytest.mark.slow
FLEET_STEPS = True    # a failed step skips the rest (conftest.py)

ALL = ("h1", "h2", "h3", "h4")


def ok(proc):
    return proc.returncode == 0


def tail(proc) -> str:
    return "rc %d\n%s\n%s" % (proc.returncode, proc.stdout[-8000:], proc.stderr[-3000:])


def results(output: str) -> dict:
    """The summary play's per-host results ("Show the result per host")."""
    block = output.split("TASK [Show the result per host]", 1)[-1].split("TASK [", 1)[0]
    return dict(re.findall(r'"(h\d+)": "([^"]+)"', block))


def task_runs(output: str, name: str) -> list:
    """Per run of task `name` (once per batch), the hosts' outcome lines."""
    return [block.split("TASK [", 1)[0].strip().splitlines()[1:] for block in output.split(f"TASK [{name}]")[1:]]


def test_1_deploy_v1_to_every_host(controller):
    proc = controller.run(controller.cluster("v1.yml"), batch=4)
    assert ok(proc), tail(proc)
    assert results(proc.stdout) == dict.fromkeys(ALL, "success")
    assert controller.versions() == dict.fromkeys(ALL, "1.0.0")


def test_2_v2_in_batches_of_two_with_sleep(controller):
    started = time.monotonic()
    proc = controller.run(controller.cluster("v2.yml", cluster={"version": "2.0.0"}), batch=2, sleep=2)
    assert ok(proc), tail(proc)
    assert "batch 2, sleep 2s" in proc.stdout
    # Two batches of two hosts, and a sleep after the first one only (never after the last batch).
    deployed = task_runs(proc.stdout, "Record the host's deploy result")
    assert [sorted(re.findall(r"\[(h\d)\]", "".join(lines))) for lines in deployed] == [["h1", "h2"], ["h3", "h4"]]
    sleeps = task_runs(proc.stdout, "Sleep between batches")
    assert len(sleeps) == 2 and sleeps[0] and not sleeps[0][0].startswith("skipping")
    assert all(line.startswith("skipping") for line in sleeps[1])
    assert time.monotonic() - started >= 2
    assert controller.versions() == dict.fromkeys(ALL, "2.0.0")


def test_3a_start_broken_on_one_host_is_rescued_and_stops_the_rollout(controller):
    # Only h2 gets a port no service can listen on: hello exits at start there, and nowhere else.
    inventory = controller.inventory("broken-h2.yml", host_vars={"h2": {"odin_host_values": {"port": 70000}}})
    proc = controller.run(controller.cluster("v3.yml", cluster={"version": "3.0.0"}), inventory=inventory,
                          batch=1, max_fail=0)
    assert not ok(proc), tail(proc)
    assert "thor: deploy of hello 3.0.0 failed at" in proc.stdout
    assert "switched back to 2.0.0 and restarted it" in proc.stdout
    assert results(proc.stdout) == {"h1": "success", "h2": "failed", "h3": "not reached", "h4": "not reached"}
    # h2 fails on itself, with its own reason, in the last play; h1 (deployed) fails nowhere.
    last = proc.stdout.split("PLAY [Odin | the hosts that did not deploy]")[1]
    assert re.search(r"fatal: \[h2\]: FAILED! .*thor: deploy of hello 3\.0\.0 failed at", last), last
    assert "fatal: [h1]" not in proc.stdout
    assert re.search(r"^h1\s+:.* failed=0 ", proc.stdout, re.M) and re.search(r"^h2\s+:.* failed=1 ", proc.stdout, re.M)
    # h3 and h4 were never touched: the rollout ended before their batches.
    assert "[h3]" not in proc.stdout.split("PLAY [Odin | summary]")[0].split("PLAY [Odin | roll out]")[1]
    assert controller.versions() == {"h1": "3.0.0", "h2": "2.0.0", "h3": "2.0.0", "h4": "2.0.0"}
    h2 = controller.fleet.host("h2")
    assert os.readlink(h2.path("/home/work/hello")) == ".releases/hello/2.0.0"
    assert not os.path.exists(h2.path("/home/work/.releases/hello/3.0.0")), "the failed release is removed"


def test_3b_unreachable_host_stops_the_rollout(controller):
    fleet = controller.fleet
    fleet.stop_sshd("h3")
    try:
        proc = controller.run(controller.cluster("v3.yml", cluster={"version": "3.0.0"}), batch=1, max_fail=0)
    except BaseException:
        fleet.start_sshd("h3")
        raise
    assert not ok(proc), tail(proc)
    assert "UNREACHABLE" in proc.stdout and "[h3]" in proc.stdout
    assert results(proc.stdout) == {"h1": "skipped", "h2": "success", "h3": "unreachable", "h4": "not reached"}
    # h3 is up (its service never stopped) but unreachable; h4 was not reached: both still serve v2.
    assert controller.versions() == {"h1": "3.0.0", "h2": "3.0.0", "h3": "2.0.0", "h4": "2.0.0"}


def test_3c_rerun_finishes_the_rest(controller):
    controller.fleet.start_sshd("h3")
    # The same cluster.yml again: hosts already at 3.0.0 are skipped; the rest in one batch.
    proc = controller.run(controller.cluster("v3.yml", cluster={"version": "3.0.0"}), batch=4)
    assert ok(proc), tail(proc)
    assert results(proc.stdout) == {"h1": "skipped", "h2": "skipped", "h3": "success", "h4": "success"}
    assert controller.versions() == dict.fromkeys(ALL, "3.0.0")


def test_4_rollback_to_previous_then_to_a_named_version(controller):
    v3 = controller.cluster("v3.yml", cluster={"version": "3.0.0"})
    proc = controller.run(v3, playbook="rollback.yml", batch=4)
    assert ok(proc), tail(proc)
    assert "rolling back" in proc.stdout
    # h2 went 2.0.0 -> 3.0.0 (failed, switched back) -> 3.0.0: its previous release is still 2.0.0.
    assert controller.versions() == dict.fromkeys(ALL, "2.0.0")

    proc = controller.run(v3, playbook="rollback.yml", batch=4, version="1.0.0")
    assert ok(proc), tail(proc)
    assert controller.versions() == dict.fromkeys(ALL, "1.0.0")
    for host in controller.fleet.hosts:
        assert os.readlink(host.path("/home/work/hello")) == ".releases/hello/1.0.0"


def wait_for(condition, what, proc, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before {what}"
        time.sleep(1)
    raise AssertionError(f"no {what} after {timeout} s")


def test_5_concurrent_deploy_refused_by_the_lock(controller):
    # The hosts already run 1.0.0, so each batch is quick; on h1 and h2 the run pauses once, after h1.
    v1 = controller.cluster("v1.yml")
    first = controller.start(v1, limit="h1,h2", batch=1, pause_step=1)
    try:
        paused = wait_for(lambda: [t for t in controller.tasks() if t["status"] == "paused"],
                          "paused task on record", first)
        task_id = str(paused[0]["id"])
        second = controller.run(v1, batch=4, timeout=300)
        assert not ok(second), tail(second)
        assert re.search(r"is locked by fleet-tester since \S+ \(pid %d on " % first.pid, second.stdout), tail(second)
        assert "PLAY [Odin | roll out]" not in second.stdout, "the refused run reached the hosts"
        # Resume (at every pause, should there be more) until the first run ends.
        while first.poll() is None:
            tasks = {str(t["id"]): t for t in controller.tasks()}
            if tasks[task_id]["status"] == "paused":
                resumed = controller.noops("tasks", "resume", task_id)
                assert resumed.returncode == 0, resumed.stderr
            time.sleep(1)
        assert first.wait(timeout=60) == 0, (controller.tmp / "background.log").read_text()[-6000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, 9)
            first.wait()
    output = (controller.tmp / "background.log").read_text()
    assert output.count("TASK [Pause for the operator]") == 2
    assert results(output) == {"h1": "skipped", "h2": "skipped"}
    assert not os.listdir(controller.tmp / "locks"), "the finished run left its lock"


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
                                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_6_build_from_git_reuses_the_build_and_rebuilds_on_request(controller):
    before = controller.versions()
    repo = controller.tmp / "src"
    shutil.copytree(HELLO, repo / "services" / "hello")
    # The build stamps the release, so a rebuild gives a different package than the cached one.
    (repo / "services" / "hello" / "build.sh").write_text(
        "#!/bin/sh\nset -e\necho building $NOOPS_COMMIT\ndate +%s%N > release/target/BUILD_ID\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "hello")
    commit = git(repo, "rev-parse", "HEAD")
    module = {"pkg_url": None, "code_url": str(repo), "branch": "main", "relative_path": "services/hello",
              "build_command": "sh build.sh"}
    cluster = controller.cluster("git.yml", cluster={"version": None}, module=module)

    # The build is the controller's business: one host shows that the built package deploys.
    proc = controller.run(cluster, limit="h1")
    assert ok(proc), tail(proc)
    assert controller.served(controller.fleet.host("h1")) == commit[:12]
    built = glob.glob(str(controller.tmp / "cache" / "noops" / "build" / "*" / commit[:12]))
    assert len(built) == 1, built
    log = os.path.join(built[0], "build.log")
    package = os.path.join(built[0], "hello-%s.tar.gz" % commit[:12])
    assert "building " + commit in open(log).read().splitlines()
    # The history keeps the build's logs with the task (the console's build log and build error log).
    with HistoryStore(str(controller.tmp / "history.db")) as store:
        texts = store.task_texts(store.list_tasks(limit=1)[0]["id"])
    assert "building " + commit in texts.get("build", "").splitlines(), texts
    first = (os.stat(log).st_mtime_ns, open(package, "rb").read())

    proc = controller.run(cluster, limit="h1")
    assert ok(proc), tail(proc)
    assert results(proc.stdout) == {"h1": "skipped"}
    assert (os.stat(log).st_mtime_ns, open(package, "rb").read()) == first, "the cached build was not reused"

    proc = controller.run(controller.cluster("git-force.yml", cluster={"version": None},
                                             module={**module, "force_rebuild": True}), limit="h1")
    assert ok(proc), tail(proc)
    assert os.stat(log).st_mtime_ns != first[0], "force_rebuild did not run the build again"
    assert open(package, "rb").read() != first[1]
    assert controller.versions() == {**before, "h1": commit[:12]}


# A few bad requests (the full corpus is tests/integration/odin_prepare): each is refused on the controller
# with its own message, and no host changes.
BAD = [
    ("env-without-section", {"cluster": {"env": "preview"}},
     r"cluster\.env: \"preview\": .*has no section for it"),
    ("gopher-url", {"module": {"pkg_url": "gopher://pkgs.example.com/hello.tgz"}},
     r"hello\.pkg_url: \"gopher://pkgs\.example\.com/hello\.tgz\": scheme must be http, https, ftp or file"),
    ("host-not-in-inventory", {"module": {"host": ["h1", "10.9.9.9"]}},
     r"hello\.host\[1\]: \"10\.9\.9\.9\": not in the inventory"),
    ("missing-template-value", {"module": {"db_passwd": None}},
     r"hello\.db_passwd: missing: the package needs \$<db_passwd>"),
    ("no-cluster-block", {"raw": "hello:\n  pkg_url: /nowhere\n  path: /home/work/hello\n"},
     r"cluster: missing"),
]


def test_7_bad_cluster_files_change_no_host(controller):
    before_trees, before_served = controller.trees(), controller.versions()
    for name, change, message in BAD:
        path = controller.cluster(f"bad-{name}.yml", cluster={"version": "9.9.9", **change.get("cluster", {})},
                                  module=change.get("module"), raw=change.get("raw"))
        proc = controller.run(path, batch=4)
        assert not ok(proc), f"{name}: " + tail(proc)
        assert re.search(message, proc.stdout), f"{name}: " + tail(proc)
        assert "PLAY [Odin | roll out]" not in proc.stdout, f"{name}: reached the hosts"
    assert controller.versions() == before_served
    after = controller.trees()
    for host, tree in before_trees.items():
        changed = sorted(k for k in set(tree) | set(after[host]) if tree.get(k) != after[host].get(k))
        assert not changed, f"{host} changed: {changed}"
    assert not os.listdir(controller.tmp / "locks")
