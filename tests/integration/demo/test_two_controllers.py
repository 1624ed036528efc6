"""Two controllers that share nothing but a PostgreSQL history store deploy the same 2-host local fleet with
``noops deploy``: the deploy lock lives in the store.

Each controller is its own host name, PID namespace, HOME, temp, XDG, Ansible and lock folders (``unshare --uts
--pid --fork --mount-proc``); killing one kills every process it ran (ansible-playbook, its workers, the lock's
guard), as a lost machine would. The fleet's supervisord processes run outside both (started by a first deploy
from the test itself).

- a second deploy of the cluster from the other controller is refused (exit 2) with one line naming the holder;
  a pause given on the other controller holds the rollout at its next batch, a resume from there lets it finish;
- the first controller killed mid-rollout: the second takes the lock over once the heartbeat is older than the
  expiry (a short one here), records the takeover and finishes with every host on the new release;
- the first controller cut off from its lock while paused (its guard stopped): the second takes it over and
  deploys; the first, continued, stops before its next batch naming the taker;
- the PostgreSQL server stopped mid-rollout (pg_ctl stop): the running batch finishes, the next one waits until
  the lock is confirmed again after the server is back, and the run ends with every host deployed;
- the server down at the start: the deploy refuses to start, in one line, before any host changes.
"""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from test_deploy_cli_runs import BIN, ROOT, cluster, local_fleet, served  # noqa: F401 (local_fleet: a fixture)

from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore, StoreError

pytestmark = [pytest.mark.slow]

EXPIRY = 6  # seconds without a heartbeat before a holder is dead (NOOPS_LOCK_EXPIRY)
# Runs the command under a host name of its own (the controller's), in the namespaces unshare made.
_AS_HOST = "import os, socket, sys; socket.sethostname(sys.argv[1]); os.execvp(sys.argv[2], sys.argv[2:])"


def _unshare_reason():
    if os.geteuid() != 0:
        return "two controllers on one machine need root for their own host name and PID namespace (unshare)"
    try:
        probe = subprocess.run(["unshare", "--uts", "--pid", "--fork", "--mount-proc", sys.executable, "-c",
                                _AS_HOST, "probe", "true"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unshare cannot run: %s" % e
    if probe.returncode != 0:
        return "unshare --uts --pid --mount-proc fails here: %s" % probe.stderr.strip()[-300:]
    return None


class Controller:
    """One controller: a host name, PID namespace and folders of its own; only the history store is shared."""

    def __init__(self, ctx, name, dsn):
        self.name, self.ctx = name, ctx
        root = os.path.join(ctx["base"], name)
        dirs = {d: os.path.join(root, d) for d in ("home", "tmp", "data", "state", "cache", "locks", "staging",
                                                    "ansible")}
        for path in dirs.values():
            os.makedirs(path, exist_ok=True)
        self.env = dict(ctx["env"], HOME=dirs["home"], TMPDIR=dirs["tmp"], XDG_DATA_HOME=dirs["data"],
                        XDG_STATE_HOME=dirs["state"], XDG_CACHE_HOME=dirs["cache"], NOOPS_LOCK_DIR=dirs["locks"],
                        NOOPS_STAGING=dirs["staging"], ANSIBLE_HOME=dirs["ansible"],
                        ANSIBLE_LOCAL_TEMP=os.path.join(dirs["ansible"], "tmp"), NOOPS_HISTORY_DSN=dsn,
                        NOOPS_LOCK_EXPIRY=str(EXPIRY), NOOPS_USER=name)

    def argv(self, *command):
        return ["unshare", "--uts", "--pid", "--fork", "--mount-proc", sys.executable, "-c", _AS_HOST, self.name,
                *command]

    def noops(self, *args, background=False, timeout=1800):
        argv = self.argv(os.path.join(BIN, "noops"), *args)
        if background:
            return subprocess.Popen(argv, env=self.env, cwd=self.ctx["base"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
        return subprocess.run(argv, env=self.env, cwd=self.ctx["base"], capture_output=True, text=True,
                              timeout=timeout)

    def deploy(self, version, *args, background=False):
        return self.noops("deploy", "-i", self.ctx["inventory"], "-f", cluster(self.ctx, version), "--plain", *args,
                          background=background)

    def kill(self, proc):
        """SIGKILL to the controller's process group and to its PID namespace's first process, which takes every
        process of the namespace with it."""
        if proc.poll() is not None:
            return
        inits = []
        for task in os.listdir("/proc/%d/task" % proc.pid):
            with open("/proc/%d/task/%s/children" % (proc.pid, task)) as f:
                inits += [int(p) for p in f.read().split()]
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in inits:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.communicate(timeout=120)


def _deploy_here(ctx, version):
    """Deploy ``version`` from this test's own process (its own SQLite history, outside the controllers)."""
    proc = subprocess.run([os.path.join(BIN, "noops"), "deploy", "-i", ctx["inventory"], "-f", cluster(ctx, version),
                           "--batch", "2", "--plain"], env=ctx["env"], cwd=ctx["base"], capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def fleet_on_1(local_fleet):
    """The fleet serving 1.0.0, its supervisord processes started by this test's own process (outside the
    controllers' PID namespaces, which take their processes with them when they end)."""
    reason = _unshare_reason()
    if reason:
        pytest.skip(reason)
    _deploy_here(local_fleet, "1.0.0")
    return local_fleet


@pytest.fixture
def controllers(fleet_on_1, pg_dsn):
    """(controller a, controller b, the fleet, the shared store's DSN); every host serves the same version."""
    served_now = [served(h) for h in fleet_on_1["hosts"]]
    if len(set(served_now)) != 1:
        _deploy_here(fleet_on_1, served_now[0])
    return Controller(fleet_on_1, "ctl-a", pg_dsn), Controller(fleet_on_1, "ctl-b", pg_dsn), fleet_on_1, pg_dsn


def read(dsn, what):
    try:
        with HistoryStore(dsn, lock_timeout=2.0) as store:
            return what(store)
    except StoreError:
        return None


def lock_row(dsn):
    rows = read(dsn, lambda s: s._read("lock", "SELECT * FROM noops_locks"))
    return rows[0] if rows else None


def task_hosts(dsn, task_id):
    return read(dsn, lambda s: {h["host"]: h["status"] for h in s.task_hosts(task_id)}) or {}


def wait_for(check, what, proc=None, timeout=900.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            pytest.fail("the deploy ended before %s:\n%s" % (what, proc.stdout.read()[-6000:]))
        assert time.monotonic() < deadline, "no %s within %d s" % (what, timeout)
        time.sleep(0.5)


def other_version(hosts):
    """The version the fleet does not serve now (1.0.0 or 2.0.0): a deploy of it changes every host."""
    now = {served(h) for h in hosts}
    assert len(now) == 1, now
    return "2.0.0" if now == {"1.0.0"} else "1.0.0"


def first_host_done(dsn, proc, hosts):
    """The task of the first controller's run, once its first batch (hosts[0]) is done and the second not begun."""
    row = wait_for(lambda: lock_row(dsn), "deploy lock in the store", proc)
    task_id = row["task_id"] or wait_for(lambda: (lock_row(dsn) or {}).get("task_id"), "task on the lock", proc)
    states = wait_for(lambda: (lambda s: s if s.get(hosts[0].name) == "success" else None)(task_hosts(dsn, task_id)),
                      "first batch done", proc)
    assert states[hosts[1].name] == "pending", states
    return task_id, row


def test_second_deploy_refused_and_a_pause_from_the_other_controller(controllers):
    a, b, ctx, dsn = controllers
    hosts = ctx["hosts"]
    old, new = served(hosts[0]), other_version(hosts)
    proc = a.deploy(new, "--batch", "1", "--sleep", "8", background=True)
    try:
        task_id, row = first_host_done(dsn, proc, hosts)
        assert (row["controller"].split("/")[0], row["user_name"]) == ("ctl-a", "ctl-a")  # + "/pidns:N": its own pids
        refused = b.deploy(new, "--batch", "1")
        out = refused.stdout + refused.stderr
        assert refused.returncode == 2, out[-4000:]
        errors = [line for line in out.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, out[-4000:]
        assert re.match(r"error: deploy of \S+ is locked by controller ctl-a(?:/pidns:\d+)? \(pid \d+, task %d, user ctl-a\) since "
                        r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d" % task_id, errors[0]), errors
        # A pause given on the other controller holds the rollout at its next batch.
        paused = b.noops("tasks", "pause", str(task_id))
        assert paused.returncode == 0, paused.stdout + paused.stderr
        wait_for(lambda: (read(dsn, lambda s: s.get_task(task_id)) or {}).get("status") == "paused", "pause", proc)
        time.sleep(3)
        assert task_hosts(dsn, task_id)[hosts[1].name] == "pending"
        assert served(hosts[1]) == old
        resumed = b.noops("tasks", "resume", str(task_id))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        out = proc.communicate(timeout=1800)[0]
        assert proc.returncode == 0, out[-6000:]
    finally:
        if proc.poll() is None:
            a.kill(proc)
    assert [served(h, new) for h in hosts] == [new, new]
    assert lock_row(dsn) is None                       # released at the end


def test_first_controller_killed_the_second_takes_over_after_the_heartbeat_expires(controllers):
    a, b, ctx, dsn = controllers
    hosts = ctx["hosts"]
    new = other_version(hosts)
    proc = a.deploy(new, "--batch", "1", "--sleep", "30", background=True)
    try:
        task_a, row = first_host_done(dsn, proc, hosts)
    finally:
        a.kill(proc)
    killed_at = time.monotonic()
    assert lock_row(dsn)["controller"].split("/")[0] == "ctl-a"      # its lock stays until its heartbeat expires
    # The second controller is refused while the dead holder's heartbeat is younger than the expiry, then takes over.
    refusals = 0
    while True:
        done = b.deploy(new, "--batch", "1")
        out = done.stdout + done.stderr
        if done.returncode != 2:
            break
        assert re.search(r"error: deploy of \S+ is locked by controller ctl-a(?:/pidns:\d+)? \(pid %d, task %d, user ctl-a\)"
                         % (row["pid"], task_a), out), out[-4000:]
        refusals += 1
        assert time.monotonic() - killed_at < 300, "never taken over"
        time.sleep(1)
    assert done.returncode == 0, out[-6000:]
    assert time.monotonic() - killed_at > EXPIRY
    assert [served(h, new) for h in hosts] == [new, new]
    task_b = int(re.search(r"task (\d+) \(noops tasks show", out).group(1))
    shown = b.noops("tasks", "show", str(task_b))
    text = " ".join(shown.stdout.split())
    assert re.search(r"took the deploy lock of \S+ over from controller ctl-a(?:/pidns:\d+)? pid %d \(task %d, user ctl-a\) at \S+ "
                     r"\S+: no heartbeat for \d+ s \(expiry %d s\)" % (row["pid"], task_a, EXPIRY), text), text
    shown = b.noops("tasks", "show", str(task_a))
    assert "its deploy lock of" in shown.stdout and re.search(r"taken over by controller ctl-b(/pidns:\d+)? ", " ".join(shown.stdout.split()))
    assert lock_row(dsn) is None


def test_postgresql_down_mid_rollout_the_next_batch_waits_for_the_lock(controllers, pg_control):
    a, b, ctx, dsn = controllers
    hosts = ctx["hosts"]
    old, new = served(hosts[0]), other_version(hosts)
    proc = a.deploy(new, "--batch", "1", "--sleep", "3", background=True)
    try:
        task_id, dummy = first_host_done(dsn, proc, hosts)
        pg_control.stop()
        # Longer than the sleep between the batches and than the lock's expiry: the second batch waits.
        time.sleep(3 + 2 * EXPIRY + 5)
        assert proc.poll() is None, proc.stdout.read()[-6000:]
        assert served(hosts[1]) == old
        pg_control.start()
        out = proc.communicate(timeout=1800)[0]
        assert proc.returncode == 0, out[-6000:]
    finally:
        if not pg_control.running():
            pg_control.start()
        if proc.poll() is None:
            a.kill(proc)
    assert [served(h, new) for h in hosts] == [new, new]
    # The history caught up (or says its record is incomplete): the run and both hosts are on record.
    task = read(dsn, lambda s: s.get_task(task_id))
    assert task["status"] == "success" or task["incomplete"] == 1, task
    assert task_hosts(dsn, task_id) == {h.name: "success" for h in hosts}
    assert lock_row(dsn) is None


def test_postgresql_down_at_the_start_the_deploy_refuses_to_start(controllers, pg_control):
    a, b, ctx, dsn = controllers
    hosts = ctx["hosts"]
    before = [served(h) for h in hosts]
    pg_control.stop()
    try:
        refused = a.deploy(other_version(hosts), "--batch", "1")
    finally:
        pg_control.start()
    out = refused.stdout + refused.stderr
    assert refused.returncode == 2, out[-6000:]
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot take the deploy lock of" in errors[0], out[-6000:]
    assert "no deploy without its lock" in errors[0]
    assert [served(h) for h in hosts] == before


def _guard_of(proc, playbook_pid):
    """The host pid of the lock's guard in the controller's PID namespace: an orphan with ansible-playbook's command
    line (the guard is forked from a worker) that is not the playbook process itself (``playbook_pid``, as the
    namespace numbers it)."""
    with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
        init = int(f.read().split()[0])
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/status" % entry) as f:
                status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                command = f.read()
        except OSError:
            continue
        if (int(status["PPid"]) == init and b"ansible-playbook" in command
                and int(status["NSpid"].split()[-1]) != playbook_pid):
            return int(entry)
    return None


def test_a_rollout_whose_lock_was_taken_over_stops_before_its_next_batch(controllers):
    """The first controller is cut off from its lock (its guard stopped, as a controller that cannot reach the store
    beats no more) while it waits at a pause; the second takes the lock over once it expires and deploys; the
    first, continued, stops before its next batch, naming the taker; every host ends on the second's release."""
    a, b, ctx, dsn = controllers
    hosts = ctx["hosts"]
    new = other_version(hosts)
    proc = a.deploy(new, "--batch", "1", "--pause-step", "1", background=True)
    guard = None
    try:
        task_a, row = first_host_done(dsn, proc, hosts)
        wait_for(lambda: (read(dsn, lambda s: s.get_task(task_a)) or {}).get("status") == "paused", "pause", proc)
        guard = _guard_of(proc, row["pid"])
        assert guard, "no guard process found for the lock"
        os.kill(guard, signal.SIGSTOP)
        time.sleep(EXPIRY + 2)
        took = b.deploy(new, "--batch", "2")
        assert took.returncode == 0, (took.stdout + took.stderr)[-6000:]
        assert [served(h, new) for h in hosts] == [new, new]
        assert lock_row(dsn) is None
        resumed = b.noops("tasks", "resume", str(task_a))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        out = proc.communicate(timeout=900)[0]
    finally:
        if guard:
            try:
                os.kill(guard, signal.SIGCONT)
            except ProcessLookupError:
                pass                                    # gone with its controller
        a.kill(proc)
    assert proc.returncode == 1, out[-6000:]
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out[-6000:]
    assert re.match(r"error: the deploy lock of \S+ was taken over by controller ctl-b(?:/pidns:\d+)? \(pid \d+, task \d+, user "
                    r"ctl-b\) at .*: no heartbeat for \d+ s \(expiry %d s\); the rollout stops before its next batch"
                    % EXPIRY, errors[0]), errors
    states = task_hosts(dsn, task_a)
    assert states == {hosts[0].name: "success", hosts[1].name: "pending"}, states
    assert [served(h) for h in hosts] == [new, new]
