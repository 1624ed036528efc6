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
    # By FQCN: the playbook of the collection the command found (this checkout's here), wherever it is installed.
    assert spec.playbook == "noops.platform." + playbook[:-len(".yml")]
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
