"""The ansible-runner side of ``noops deploy``: the run's environment and the one history DSN resolver."""

import os

import pytest

import noops_cli.main as cli
import noops_cli.runner as runner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_runner_environment(monkeypatch):
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", "/elsewhere")
    monkeypatch.setenv("NOOPS_USER", "ops")
    env = runner.runner_env(runner.RunSpec("p.yml", "t", {}, env={"NOOPS_STAGING": "/s"}), "/tmp/h.db")
    assert env["ANSIBLE_CONFIG"] == os.path.join(ROOT, "ansible.cfg")
    assert env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep) == [os.path.join(ROOT, "collections"), "/elsewhere"]
    assert env["NOOPS_HISTORY_DSN"] == "/tmp/h.db" and env["NOOPS_USER"] == "ops" and env["NOOPS_STAGING"] == "/s"


def test_history_dsn_from_the_config(tmp_path, monkeypatch):
    monkeypatch.delenv("NOOPS_HISTORY_DSN", raising=False)
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[noops_history]\ndsn = /srv/h.db\n")
    assert runner.history_dsn(config_path=str(cfg)) == "/srv/h.db"
    monkeypatch.setenv("NOOPS_HISTORY_DSN", "/env/h.db")
    assert runner.history_dsn(config_path=str(cfg)) == "/env/h.db"


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
    env = runner.runner_env(runner.RunSpec("p.yml", "t", {}), "/tmp/h.db")
    assert env["ANSIBLE_SSH_CONTROL_PATH_DIR"] == str(runtime / "noops-cp")
    assert (runtime / "noops-cp").stat().st_mode & 0o777 == 0o700
    # The demo's hosts are local: no SSH, nothing to move.
    assert "ANSIBLE_SSH_CONTROL_PATH_DIR" not in runner.runner_env(runner.RunSpec("p.yml", "t", {}, ssh=False), "h")
    monkeypatch.setenv("HOME", "/home/u")
    assert "ANSIBLE_SSH_CONTROL_PATH_DIR" not in runner.runner_env(runner.RunSpec("p.yml", "t", {}), "/tmp/h.db")


def test_a_control_path_dir_that_cannot_fit_is_refused_before_the_run(monkeypatch, capsys):
    long_dir = "/" + "c" * 80
    monkeypatch.setenv("ANSIBLE_SSH_CONTROL_PATH_DIR", long_dir)
    monkeypatch.setattr(runner, "history_dsn", lambda *a: "/nonexistent/h.db")

    def no_run(**kwargs):
        raise AssertionError("ansible-runner started")
    import ansible_runner
    monkeypatch.setattr(ansible_runner, "run_async", no_run)
    status = cli.main(["deploy", "-f", os.path.join(ROOT, "examples", "cluster", "hello.yml"), "--plain"])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "noops: ANSIBLE_SSH_CONTROL_PATH_DIR=%s: SSH control sockets %s/<10-character hash>: 92 bytes, 109 with the "
        "17-byte suffix ssh binds first, longer than the 107-byte limit for a unix socket" % (long_dir, long_dir))


@pytest.mark.parametrize("env, cfg, want", [
    (None, "[defaults]\ncallbacks_enabled = noops.platform.history\n", "noops.platform.history"),
    (None, "[defaults]\ncallbacks_enabled = ansible.posix.profile_tasks\n",
     "ansible.posix.profile_tasks,noops.platform.history"),
    (None, "[defaults]\n", "noops.platform.history"),
    ("", "[defaults]\ncallbacks_enabled = noops.platform.history\n", "noops.platform.history"),
    ("timer, noops.platform.history", "", "timer,noops.platform.history"),
], ids=["configured", "added-to-others", "none-configured", "turned-off-by-env", "env-kept"])
def test_the_history_callback_is_always_on_for_noops_runs(tmp_path, monkeypatch, env, cfg, want):
    """The progress shown is read from the history store: noops' own runs always record it."""
    path = tmp_path / "ansible.cfg"
    path.write_text(cfg)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(path))
    if env is None:
        monkeypatch.delenv("ANSIBLE_CALLBACKS_ENABLED", raising=False)
    else:
        monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", env)
    assert runner.runner_env(runner.RunSpec("p.yml", "t", {}, ssh=False), "/h.db")["ANSIBLE_CALLBACKS_ENABLED"] == want


@pytest.mark.parametrize("env, cfg, want", [
    (None, "[defaults]\ncallbacks_enabled = noops.platform.history\n", "ansible.builtin.default"),
    (None, "[defaults]\ncallbacks_enabled = ansible.posix.profile_tasks, history\n", "ansible.posix.profile_tasks"),
    ("timer,noops.platform.history", "", "timer"),
], ids=["configured", "short-name", "env"])
def test_a_read_that_changes_nothing_is_not_recorded(tmp_path, monkeypatch, env, cfg, want):
    """``record=False`` (the console reading a host's processes): no history task for each read."""
    path = tmp_path / "ansible.cfg"
    path.write_text(cfg)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(path))
    if env is None:
        monkeypatch.delenv("ANSIBLE_CALLBACKS_ENABLED", raising=False)
    else:
        monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", env)
    spec = runner.RunSpec("p.yml", "t", {}, ssh=False, record=False)
    assert runner.runner_env(spec, "/h.db")["ANSIBLE_CALLBACKS_ENABLED"] == want


def test_collected_results_and_failures():
    run = runner.CollectedRun(rc=2, status="failed", seconds=1.0, results=[
        runner.HostResult("h1", "Apply", "noops.platform.process", "failed", {"msg": "login password=hunter2x9 no"}),
        runner.HostResult("h1", "Check", "ansible.builtin.fail", "skipped", {}),
        runner.HostResult("h2", "Apply", "process", "unreachable", {"msg": "ssh: timed out"})])
    assert [r.host for r in run.of("process")] == ["h1", "h2"]
    assert run.failures() == ["h1: Apply: login password=******** no", "h2: Apply: ssh: timed out"]


def test_one_history_dsn_for_runs_tasks_and_the_console(tmp_path, monkeypatch):
    """``noops tasks`` reads the store ``noops deploy`` writes: the ansible.cfg the runs use, not another one found
    in the current folder."""
    from noops_cli import tasks

    cfg = tmp_path / "run.cfg"
    cfg.write_text("[noops_history]\ndsn = %s\n" % (tmp_path / "runs.db"))
    (tmp_path / "ansible.cfg").write_text("[noops_history]\ndsn = %s\n" % (tmp_path / "elsewhere.db"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOOPS_HISTORY_DSN", raising=False)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(cfg))
    want = str(tmp_path / "runs.db")
    assert runner.history_dsn() == want
    store = tasks.open_history(type("Args", (), {"dsn": None})())
    assert store.name.endswith("runs.db")
    store.close()
    assert runner.history_dsn("/explicit.db") == "/explicit.db"
    cfg.write_text("[noops_history\n")
    with pytest.raises(cli.CliError, match="run.cfg"):
        runner.history_dsn()
