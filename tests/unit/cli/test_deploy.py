"""``noops deploy | rollback | control``: command lines -> playbook runs."""

import argparse
import os

import pytest

import noops_cli.deploy as deploy
import noops_cli.main as cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


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
      "--canary", "1", "--force", "--rebuild", "--break-lock", "-l", "idc_lg", "--check"], "deploy.yml",
     {"cluster_file": "{cf}", "batch": 2, "sleep": 5, "pause_step": 2, "max_fail": "10%", "canary": 1,
      "force": True, "force_rebuild": True, "odin_break_lock": True}, "idc_lg", True, {"thor"}),
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
    # By FQCN: the playbook of the collection the command found (this checkout's here), wherever it is installed.
    assert spec.playbook == "noops.platform." + playbook[:-len(".yml")]
    assert spec.extravars == {k: (v.replace("{cf}", cluster_file) if isinstance(v, str) else v)
                              for k, v in extravars.items()}
    assert (spec.limit, spec.check, set(spec.progress_roles)) == (limit, check, roles)


@pytest.mark.parametrize("argv, message", [
    (["deploy", "-f", "{cf}", "--forks", "0"], "want an integer >= 1, got 0"),
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


BAD_FILE = """cluster:
  name: hello
  version: 4.0.0
  env: production
  jobs: [job.hello_service.hello]
hello:
  pkg_url: gopher://repo/hello.tar.gz
  path: /home/work/hello
  sleep: -3
"""

@pytest.mark.parametrize("argv, options", [
    (["deploy", "--max-fail", "lots"], ['--max-fail: "lots": must be a count >= 0 or a percentage such as "25%"']),
    (["deploy", "--batch", "0", "--sleep", "-1", "--pause-step", "x", "--canary", "maybe", "--max-fail", "120%"],
     ['--batch: "0": must be an integer >= 1', '--sleep: "-1": must be a number of seconds >= 0',
      '--pause-step: "x": must be an integer >= 0', '--max-fail: "120%": must be a count >= 0 or a percentage 0-100%',
      '--canary: "maybe": must be true, false or a number of hosts >= 0']),
    (["rollback", "--batch", "two", "-e", "sleep=-3"], ['--batch: "two": must be an integer >= 1']),
], ids=["max-fail", "every-option", "rollback"])
def test_bad_rollout_options_are_reported_with_the_file_s_problems(monkeypatch, capsys, tmp_path, argv, options):
    path = tmp_path / "bad.yml"
    path.write_text(BAD_FILE)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("deploy",))
    ran = []
    monkeypatch.setattr(deploy, "run_playbook", lambda *a, **kw: ran.append(a))
    status = cli.main([argv[0], "-f", str(path)] + argv[1:])
    err = capsys.readouterr().err.splitlines()
    assert (status, ran) == (2, [])  # refused before anything runs
    assert err[:len(options)] == ["noops: %s" % line for line in options]
    rest = err[len(options):]
    # The file's own problems, one line each, as the run reports them (its sleep: -3 as the file or -e gives it).
    assert any(line.startswith("noops: %s: hello.pkg_url: " % path) for line in rest), rest
    assert any("sleep" in line and "-3" in line and "must be a number of seconds >= 0" in line for line in rest), rest
    assert len(rest) == 2, rest


def test_control_rollout_options_are_checked_too(monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("deploy",))
    monkeypatch.setattr(deploy, "run_playbook", lambda *a, **kw: pytest.fail("ran"))
    assert cli.main(["control", "service.hello", "restart", "--batch", "0", "--sleep", "soon"]) == 2
    assert capsys.readouterr().err.splitlines() == ['noops: --batch: "0": must be an integer >= 1',
                                                    'noops: --sleep: "soon": must be a number of seconds >= 0']
