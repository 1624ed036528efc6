"""``noops deploy | rollback | control``: ansible-runner events -> per-host rows, summaries, exit statuses, the
command lines -> playbook runs. The event sequences are the shapes ansible-runner 2.4 emits for
playbooks/deploy.yml and control.yml (host, task, role, task_action, res, ignore_errors)."""

import argparse
import io
import os

import pytest

import noops_cli.deploy as deploy
import noops_cli.main as cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def ev(kind, host=None, task=None, role=None, action=None, res=None, ignore_errors=None, stdout=None, pid=None):
    data = {k: v for k, v in (("host", host), ("task", task), ("role", role), ("task_action", action),
                              ("res", res), ("ignore_errors", ignore_errors)) if v is not None}
    event = {"event": kind, "event_data": data}
    if stdout is not None:
        event["stdout"] = stdout
    if pid is not None:
        event["pid"] = pid
    return event


def added(*hosts):
    """The deploy playbook's "Add the target hosts" loop result on localhost."""
    return ev("runner_on_ok", "localhost", "Add the target hosts", action="ansible.builtin.add_host",
              res={"results": [{"add_host": {"host_name": h, "groups": ["odin_targets"]}} for h in hosts]})


def thor(host, task="Read the releases on the host", kind="runner_on_start", res=None):
    return ev(kind, host, task, role="thor", action="noops.platform.release", res=res)


def record(host, result):
    return ev("runner_on_ok", host, "Record the host's deploy result", action="ansible.builtin.set_fact",
              res={"ansible_facts": {"odin_host_result": result}})


PLAN = ev("runner_on_ok", "localhost", "Record what is deployed", action="ansible.builtin.set_fact",
          res={"ansible_facts": {"odin_service": "job.hello_service.hello", "odin_cluster": "hello",
                                 "odin_version": "2.0.0"}})
PAUSED = ev("verbose", stdout="task 12 paused by pause_step at 2026-01-01 10:00:00: pause_step 2: 2 of 4 hosts done "
                              "— continue with: noops tasks resume 12   stop with: noops tasks cancel 12")
PLAY = ev("playbook_on_play_start")
STATS = ev("playbook_on_stats")

CASES = [
    # id, events, progress roles, expected {host: (state, version, message)}, extra checks
    # A host's release is the one its path points at, as thor reports it (thor_current_release): nothing for a
    # pending host, the release it ran while it deploys, the new one after the switch, its own when up to date.
    ("pending-until-thor", [PLAN, added("a", "b"), thor("a")], ("thor",),
     {"a": ("deploying", "", ""), "b": ("pending", "", "")}, {}),
    ("releases-the-hosts-run", [
        PLAN, added("a", "b", "c"), thor("a"),
        thor("a", "Decide whether this host already runs the version", "runner_on_ok",
             {"ansible_facts": {"thor_current_release": "1.0.0", "thor_release": "2.0.0"}}),
        ev("runner_on_ok", "a", "Remember the switch", role="thor", action="ansible.builtin.set_fact",
           res={"ansible_facts": {"thor_current_release": "2.0.0-20260101000000"}}),
        record("a", "success"), thor("b"),
        thor("b", "Decide whether this host already runs the version", "runner_on_ok",
             {"ansible_facts": {"thor_current_release": "2.0.0", "thor_release": "2.0.0-20260101000000"}}),
        record("b", "skipped")], ("thor",),
     {"a": ("success", "2.0.0-20260101000000", ""), "b": ("skipped", "2.0.0", "already at 2.0.0"),
      "c": ("pending", "", "")}, {}),
    ("failed-host-back-on-its-release", [
        PLAN, added("a"), thor("a"),
        thor("a", "Decide whether this host already runs the version", "runner_on_ok",
             {"ansible_facts": {"thor_current_release": "1.0.0"}}),
        ev("runner_on_ok", "a", "Remember the switch", role="thor", action="ansible.builtin.set_fact",
           res={"ansible_facts": {"thor_current_release": "2.0.0"}}),
        thor("a", "Restart the process", "runner_on_failed", {"msg": "exit status 3"}),
        ev("runner_on_ok", "a", "Note the release the host runs again", role="thor",
           action="ansible.builtin.set_fact", res={"ansible_facts": {"thor_current_release": "1.0.0"}}),
        record("a", "failed")], ("thor",), {"a": ("failed", "1.0.0", "exit status 3")}, {}),
    ("rescued-failure-keeps-the-role-report", [
        added("a"), thor("a"),
        thor("a", "Restart hello on the new release", "runner_on_failed", {"msg": "exit status 3"}),
        thor("a", "Report the failure", "runner_on_failed",
             {"msg": "thor: deploy of hello 3.0.0 failed at Restart: exit status 3;\nswitched back to 2.0.0"}),
        STATS], ("thor",),
     {"a": ("failed", "", "thor: deploy of hello 3.0.0 failed at Restart: exit status 3; switched back to 2.0.0")},
     {}),
    ("ignored-failure-is-not-a-failure", [
        added("a"), thor("a"), ev("runner_on_failed", "a", "Probe", role="thor", res={"msg": "no"},
                                  ignore_errors=True), record("a", "success")], ("thor",),
     {"a": ("success", "", "")}, {}),
    ("unreachable", [added("a", "b"), thor("a"),
                     ev("runner_on_unreachable", "b", "Read the releases on the host", role="thor",
                        res={"msg": "ssh: connect to host 10.0.0.2 port 22: Connection refused"}), STATS],
     ("thor",),
     {"a": ("success", "", ""), "b": ("unreachable", "", "ssh: connect to host 10.0.0.2 port 22: Connection refused")},
     {}),
    ("rescued-failure-recorded-by-the-playbook", [
        added("a"), thor("a"), thor("a", "Restart hello on the new release", "runner_on_failed", {"msg": "rc 7"}),
        record("a", "failed"), PLAY], ("thor",), {"a": ("failed", "", "rc 7")}, {}),
    ("failure-is-final", [added("a"), thor("a"), thor("a", kind="runner_on_failed", res={"msg": "boom"}),
                          record("a", "success"), PLAY], ("thor",),
     {"a": ("failed", "", "boom")}, {}),
    # A password no cluster.yml holds, in a program's log lines: masked in the live table, the rest kept.
    ("failure-masks-a-password-in-log-lines", [added("a"), thor("a"), thor("a", kind="runner_on_failed", res={
        "msg": "hello did not stay up; last log lines: cannot connect to db with password Sup3rS3cretPW: broken "
               "build 3.0.0", "exception": "(traceback unavailable)"})], ("thor",),
     {"a": ("failed", "", "hello did not stay up; last log lines: cannot connect to db with password ********: "
                          "broken build 3.0.0")}, {}),
    ("request-rejected-before-any-host", [
        ev("runner_on_failed", "localhost", "Report the problems of the request", action="ansible.builtin.fail",
           res={"msg": 'cluster.yml: hello.pkg_url: "gopher://x": scheme must be http, https, ftp or file\n'
                       "cluster.yml: cluster.env: \"prod\": config.template.yml has no section prod"}), STATS],
     ("thor",), {},
     {"request_errors": ['cluster.yml: hello.pkg_url: "gopher://x": scheme must be http, https, ftp or file',
                         'cluster.yml: cluster.env: "prod": config.template.yml has no section prod']}),
    ("pause-then-resume", [added("a", "b"), thor("a"), record("a", "success"), PAUSED], ("thor",),
     {"a": ("success", "", ""), "b": ("pending", "", "")},
     {"task_id": 12, "paused": "task 12 paused by pause_step at 2026-01-01 10:00:00: pause_step 2: 2 of 4 hosts "
                               "done"}),
    ("resumed-when-the-next-host-starts", [added("a", "b"), PAUSED, thor("b")], ("thor",),
     {"a": ("pending", "", ""), "b": ("deploying", "", "")}, {"task_id": 12, "paused": None}),
    ("cancel-leaves-the-batch-pending", [
        added("a", "b"), ev("runner_on_failed", "a", "Honour pause and cancel before the batch",
                            action="noops.platform.task_control",
                            res={"msg": "task 7 cancelled by ops at 2026-01-01 10:00:00", "noops_cancelled": True,
                                 "task_id": 7}), STATS],
     ("thor",), {"a": ("pending", "", ""), "b": ("pending", "", "")},
     {"cancelled": "task 7 cancelled by ops at 2026-01-01 10:00:00"}),
    ("end-of-play-is-success", [added("a"), thor("a"), PLAY], ("thor",), {"a": ("success", "", "")}, {}),
    ("stats-failures-win", [added("a"), thor("a"), ev("playbook_on_stats", res=None)
                            | {"event_data": {"failures": {"a": 1}}}], ("thor",),
     {"a": ("failed", "", "")}, {}),
    ("control-any-task-is-progress", [
        ev("runner_on_ok", "localhost", "Add the machines", action="ansible.builtin.add_host",
           res={"results": [{"add_host": {"host_name": "a", "groups": ["control_targets"]}}]}),
        ev("runner_on_start", "a", "Restart every process", action="noops.platform.process"),
        ev("runner_on_ok", "a", "Show the processes", action="ansible.builtin.debug",
           res={"msg": ["hello running 4242 2.0.0", "agent running 4243 1.1"]})], (),
     {"a": ("success", "", "hello running 4242 2.0.0; agent running 4243 1.1")}, {}),
    ("control-host-being-read-is-running-not-deploying", [
        ev("runner_on_ok", "localhost", "Add the machines", action="ansible.builtin.add_host",
           res={"results": [{"add_host": {"host_name": "a", "groups": ["control_targets"]}},
                            {"add_host": {"host_name": "b", "groups": ["control_targets"]}}]}),
        ev("runner_on_start", "a", "Apply the action to every process", action="noops.platform.process")], (),
     {"a": ("running", "", ""), "b": ("pending", "", "")}, {}),
    ("control-task-control-is-not-progress", [
        ev("runner_on_ok", "localhost", "Add the machines", action="ansible.builtin.add_host",
           res={"add_host": {"host_name": "a", "groups": ["control_targets"]}}),
        ev("runner_on_start", "a", "Honour pause and cancel before the batch", action="noops.platform.task_control")],
     (), {"a": ("pending", "", "")}, {}),
    ("controller-play-on-a-target-host-is-not-its-rollout", [
        added("a", "b"), ev("playbook_on_play_start") | {"event_data": {"play_pattern": "odin_targets"}},
        thor("a"), record("a", "success"), thor("b"), record("b", "skipped"),
        ev("playbook_on_play_start") | {"event_data": {"play_pattern": "all"}},
        ev("runner_on_start", "a", "Show the result per host", action="ansible.builtin.debug"),
        ev("runner_on_failed", "a", "Fail when a host did not deploy", action="ansible.builtin.fail",
           res={"msg": "1 of 2 hosts did not deploy 2.0.0: b"})], ("thor",),
     {"a": ("success", "", ""), "b": ("skipped", "", "already at this version")},
     {"request_errors": ["1 of 2 hosts did not deploy 2.0.0: b"], "target_groups": {"odin_targets"}}),
    ("the-failed-host-fails-on-itself-in-the-last-play", [
        added("a", "b"), ev("playbook_on_play_start") | {"event_data": {"play_pattern": "odin_targets"}},
        thor("a"), record("a", "success"), thor("b"),
        thor("b", "Report the failure", "runner_on_failed", {"msg": "thor: deploy of hello 2.0.0 failed at Start"}),
        record("b", "failed"),
        ev("playbook_on_play_start") | {"event_data": {"play_pattern": "all"}},
        ev("runner_on_ok", "a", "Show the result per host", action="ansible.builtin.debug", res={"msg": {}}),
        ev("playbook_on_play_start") | {"event_data": {"play_pattern": "odin_targets"}},
        ev("runner_on_failed", "b", "Fail a host that did not deploy", action="ansible.builtin.fail",
           res={"msg": "thor: deploy of hello 2.0.0 failed at Start"}), STATS], ("thor",),
     {"a": ("success", "", ""), "b": ("failed", "", "thor: deploy of hello 2.0.0 failed at Start")},
     {"request_errors": []}),
    ("pid-of-ansible-playbook", [ev("playbook_on_start", pid=4321)], ("thor",), {}, {"pid": 4321}),
]


@pytest.mark.parametrize("events, roles, rows, extra", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_tracker(events, roles, rows, extra):
    tracker = deploy.RolloutTracker(roles)
    for event in events:
        tracker.handle(event)
    assert {h: (r.state, r.release, r.message) for h, r in tracker.rows.items()} == rows
    for attr, value in extra.items():
        assert getattr(tracker, attr) == value


def test_times_follow_the_states():
    clock = iter([10.0, 12.5, 20.0]).__next__
    tracker = deploy.RolloutTracker(clock=clock)
    tracker.handle(added("a"))
    tracker.handle(thor("a"))          # 10.0
    tracker.handle(record("a", "success"))  # 12.5
    row = tracker.rows["a"]
    assert (row.started, row.ended, row.elapsed(99.0)) == (10.0, 12.5, 2.5)
    assert [c.state for c in tracker.take_changes()] == ["deploying", "success"]
    assert tracker.take_changes() == []


@pytest.mark.parametrize("states, rc, errors, interrupted, status, lines", [
    (["success", "skipped"], 0, [], False, 0, ["deploy 2.0.0: 2 host(s): 1 success, 1 skipped"]),
    (["success", "failed", "pending"], 2, [], False, 1,
     ["deploy 2.0.0: 3 host(s): 1 success, 1 failed, 1 not reached", "  h1 failed: why h1"]),
    (["success"], 2, [], False, 1, ["deploy 2.0.0: 1 host(s): 1 success"]),
    ([], 2, ["cluster.yml: cluster: missing"], False, 2,
     ["error: cluster.yml: cluster: missing", "deploy 2.0.0: 0 host(s)"]),
    (["pending", "pending"], 2, ["deploy lock of job.hello held by ops (pid 1) since 10:00"], False, 2,
     ["error: deploy lock of job.hello held by ops (pid 1) since 10:00", "deploy 2.0.0: 2 host(s): 2 not reached"]),
    (["success", "deploying"], 0, [], True, 130, ["deploy 2.0.0: 2 host(s): 1 success, 1 deploying"]),
    (["unreachable"], 4, [], False, 1, ["deploy 2.0.0: 1 host(s): 1 unreachable", "  h0 unreachable: why h0"]),
], ids=["all-good", "failed-and-not-reached", "rc-says-failed", "rejected", "locked", "interrupted", "unreachable"])
def test_summary_and_exit_status(states, rc, errors, interrupted, status, lines):
    tracker = deploy.RolloutTracker()
    tracker.version = "2.0.0"
    for i, state in enumerate(states):
        tracker.rows["h%d" % i] = deploy.HostRow("h%d" % i, state=state, message="why h%d" % i)
    tracker.request_errors = list(errors)
    out = []
    got = deploy.summarize(deploy.RunOutcome(rc=rc, status="x", tracker=tracker, interrupted=interrupted),
                           "deploy", out.append)
    assert (got, out) == (status, lines)


def test_plain_view_prints_one_line_per_change():
    tracker = deploy.RolloutTracker(clock=lambda: 100.0)
    out = io.StringIO()
    with deploy.PlainView(tracker, "deploy hello", out) as view:
        tracker.handle(added("a"))
        tracker.handle(thor("a"))
        tracker.handle(thor("a", kind="runner_on_failed", res={"msg": "no space left"}))
        view.refresh()
    lines = out.getvalue().splitlines()
    assert lines[0] == "deploy hello"
    assert [line.split()[1:3] for line in lines[1:]] == [["a", "deploying"], ["a", "failed"]]
    assert lines[-1].endswith("no space left")


@pytest.mark.parametrize("text, limit, want", [
    ("a\n  b\tc", 300, "a b c"),
    (["x", "y"], 300, "x; y"),
    (None, 300, ""),
    ("abcdef", 4, "abc…"),
    ("GET https://deploy:Pw-1234@repo/x.tar.gz: HTTP 404", 300, "GET https://deploy:********@repo/x.tar.gz: HTTP 404"),
    (["mysql://app:Pw-1234@db/x", "ok"], 300, "mysql://app:********@db/x; ok"),
])
def test_one_line(text, limit, want):
    assert deploy.one_line(text, limit) == want


@pytest.fixture
def cluster_file(tmp_path):
    path = tmp_path / "cluster.yml"
    path.write_text("cluster: {name: hello}\n")
    return str(path)


def parse(*argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    deploy.register(sub)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("argv, playbook, extravars, limit, check, roles", [
    (["deploy", "-f", "{cf}"], "deploy.yml", {"cluster_file": "{cf}"}, None, False, {"thor"}),
    (["deploy", "-f", "{cf}", "--batch", "2", "--sleep", "5", "--pause-step", "2", "--max-fail", "10%",
      "--canary", "1", "--force", "--break-lock", "-l", "idc_lg", "--check"], "deploy.yml",
     {"cluster_file": "{cf}", "batch": 2, "sleep": 5, "pause_step": 2, "max_fail": "10%", "canary": 1,
      "force": True, "odin_break_lock": True}, "idc_lg", True, {"thor"}),
    (["deploy", "-f", "{cf}", "-e", "odin_x=1", "-e", "batch=3"], "deploy.yml",
     {"cluster_file": "{cf}", "odin_x": "1", "batch": "3"}, None, False, {"thor"}),
    (["rollback", "-f", "{cf}", "--version", "1.0.0", "--batch", "4"], "rollback.yml",
     {"cluster_file": "{cf}", "version": "1.0.0", "batch": 4}, None, False, {"thor"}),
    (["control", "service.hello_idc.lg", "restart", "--name", "hello", "--batch", "2", "--sleep", "1"],
     "control.yml", {"query": "service.hello_idc.lg", "action": "restart", "name": "hello", "batch": 2,
                     "sleep": 1}, None, False, set()),
], ids=["deploy", "deploy-all-options", "extra-vars", "rollback", "control"])
def test_command_line_to_run(cluster_file, argv, playbook, extravars, limit, check, roles):
    args = parse(*[a.replace("{cf}", cluster_file) for a in argv])
    spec = deploy.spec_for(args)
    assert spec.playbook == os.path.join(ROOT, "playbooks", playbook)
    assert spec.extravars == {k: (v.replace("{cf}", cluster_file) if isinstance(v, str) else v)
                              for k, v in extravars.items()}
    assert (spec.limit, spec.check, set(spec.progress_roles)) == (limit, check, roles)


@pytest.mark.parametrize("argv, message", [
    (["deploy", "-f", "{cf}", "--batch", "0"], "want an integer >= 1, got 0"),
    (["deploy", "-f", "{cf}", "--max-fail", "many"], "want a count or a percentage"),
    (["deploy", "-f", "{cf}", "--sleep", "-1"], "want an integer >= 0, got -1"),
    (["deploy", "-f", "{cf}", "-e", "no-equals"], "want KEY=VALUE"),
    (["control", "service.x", "explode"], "invalid choice: 'explode'"),
])
def test_bad_options(cluster_file, capsys, argv, message):
    with pytest.raises(SystemExit):
        parse(*[a.replace("{cf}", cluster_file) for a in argv])
    assert message in capsys.readouterr().err


def test_missing_cluster_file_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("deploy",))
    status = cli.main(["deploy", "-f", str(tmp_path / "nope.yml")])
    assert status == 2
    assert capsys.readouterr().err.strip() == "noops: %s: no such cluster file" % (tmp_path / "nope.yml")


def test_runner_environment(monkeypatch):
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", "/elsewhere")
    monkeypatch.setenv("NOOPS_USER", "ops")
    env = deploy.runner_env(deploy.RunSpec("p.yml", "t", {}, env={"NOOPS_STAGING": "/s"}), "/tmp/h.db")
    assert env["ANSIBLE_CONFIG"] == os.path.join(ROOT, "ansible.cfg")
    assert env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep) == [os.path.join(ROOT, "collections"), "/elsewhere"]
    assert env["NOOPS_HISTORY_DSN"] == "/tmp/h.db" and env["NOOPS_USER"] == "ops" and env["NOOPS_STAGING"] == "/s"


def test_history_dsn_from_the_config(tmp_path, monkeypatch):
    monkeypatch.delenv("NOOPS_HISTORY_DSN", raising=False)
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[noops_history]\ndsn = /srv/h.db\n")
    assert deploy.history_dsn(str(cfg)) == "/srv/h.db"
    monkeypatch.setenv("NOOPS_HISTORY_DSN", "/env/h.db")
    assert deploy.history_dsn(str(cfg)) == "/env/h.db"


def test_runner_environment_moves_ssh_control_sockets_out_of_a_deep_home(monkeypatch, tmp_path):
    """~/.ansible/cp from a 100-character HOME: ssh's control sockets would not fit; the run gets a short
    private folder instead (the user's runtime folder here), and a shallow HOME leaves Ansible's own."""
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    for var in ("ANSIBLE_SSH_CONTROL_PATH_DIR", "ANSIBLE_SSH_CONTROL_PATH"):
        monkeypatch.delenv(var, raising=False)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("HOME", "/" + "h" * 99)
    env = deploy.runner_env(deploy.RunSpec("p.yml", "t", {}), "/tmp/h.db")
    assert env["ANSIBLE_SSH_CONTROL_PATH_DIR"] == str(runtime / "noops-cp")
    assert (runtime / "noops-cp").stat().st_mode & 0o777 == 0o700
    # The demo's hosts are local: no SSH, nothing to move.
    assert "ANSIBLE_SSH_CONTROL_PATH_DIR" not in deploy.runner_env(deploy.RunSpec("p.yml", "t", {}, ssh=False), "h")
    monkeypatch.setenv("HOME", "/home/u")
    assert "ANSIBLE_SSH_CONTROL_PATH_DIR" not in deploy.runner_env(deploy.RunSpec("p.yml", "t", {}), "/tmp/h.db")


def test_a_control_path_dir_that_cannot_fit_is_refused_before_the_run(monkeypatch, capsys):
    long_dir = "/" + "c" * 80
    monkeypatch.setenv("ANSIBLE_SSH_CONTROL_PATH_DIR", long_dir)
    monkeypatch.setattr(deploy, "history_dsn", lambda path: "/nonexistent/h.db")

    def no_run(**kwargs):
        raise AssertionError("ansible-runner started")
    import ansible_runner
    monkeypatch.setattr(ansible_runner, "run_async", no_run)
    status = cli.main(["deploy", "-f", os.path.join(ROOT, "examples", "cluster", "hello.yml"), "--plain"])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "noops: ANSIBLE_SSH_CONTROL_PATH_DIR=%s: SSH control sockets %s/<10-character hash>: 92 bytes, 109 with the "
        "17-byte suffix ssh binds first, longer than the 107-byte limit for a unix socket" % (long_dir, long_dir))
def step(host, task_file, changed, task="a thor step"):
    """A thor task's result; task_file names its task file (ansible-runner's task_path), or None."""
    event = ev("runner_on_ok", host, task, role="thor", action="noops.platform.release", res={"changed": changed})
    if task_file:
        event["event_data"]["task_path"] = "/c/roles/thor/tasks/%s.yml:4" % task_file
    return event


@pytest.mark.parametrize("check, events, rows, summary", [
    (True, [PLAN, added("a", "b"), thor("a"), thor("b")]
     + [step("a", f, True) for f in ("prepare", "unpack", "config", "switch", "switch")] + [step("a", "prune", False)]
     + [record("a", "success"), record("b", "skipped")],
     {"a": ("would change", "", "prepare, unpack, config, switch"), "b": ("skipped", "", "already at 2.0.0")},
     "check deploy 2.0.0: 2 host(s): 1 would change, 1 skipped"),
    (True, [PLAN, added("a"), thor("a"), step("a", None, False), record("a", "success")],
     {"a": ("success", "", "")}, "check deploy 2.0.0: 1 host(s): 1 success"),
    (False, [PLAN, added("a"), thor("a"), step("a", None, True), record("a", "success")],
     {"a": ("success", "", "")}, "deploy 2.0.0: 1 host(s): 1 success"),
    (True, [PLAN, added("a"), thor("a"), step("a", None, True, "Unpack it"), PLAY],
     {"a": ("would change", "", "Unpack it")}, "check deploy 2.0.0: 1 host(s): 1 would change"),
], ids=["check-names-the-steps", "check-nothing-to-change", "not-check", "check-task-name-without-path"])
def test_check_mode_says_what_would_change(check, events, rows, summary):
    tracker = deploy.RolloutTracker(check=check)
    for event in events:
        tracker.handle(event)
    assert {h: (r.state, r.release, r.message) for h, r in tracker.rows.items()} == rows
    out = []
    status = deploy.summarize(deploy.RunOutcome(rc=0, status="x", tracker=tracker), "deploy", out.append)
    assert (status, out) == (0, [summary])
