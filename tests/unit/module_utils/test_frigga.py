"""module_utils/frigga.py: secrets of a process masked in what the process module says, and which ends of a start
count as a program putting itself in the background."""

import pytest

from ansible_collections.noops.platform.plugins.module_utils.frigga import mask_secrets


@pytest.mark.parametrize("config, text, hidden", [
    ('environment=DB_PASSWORD="hunter2-very",NOOPS_VERSION="1"\n', "login with hunter2-very failed", "hunter2-very"),
    ("  w.env = {\n    'API_TOKEN' => 'tok-123456',\n  }\n", "bad token tok-123456", "tok-123456"),
    ('Environment="APP_SECRET=abcdefgh"\n', "secret abcdefgh", "abcdefgh"),
    ("", "command: run.sh --db-password=pw-998877 --port 80", "pw-998877"),
    ("", "command: run.sh --token tk-55667788", "tk-55667788"),
])
def test_mask_secrets_of_a_process(tmp_path, config, text, hidden):
    path = tmp_path / "svc.conf"
    path.write_text(config)
    masked = mask_secrets(text, str(path))
    assert hidden not in masked and "********" in masked


def test_mask_secrets_leaves_plain_words():
    assert mask_secrets("the key is 42; port 8080", "") == "the key is 42; port 8080"


class _Module:
    check_mode = True  # nothing is stopped or killed

    def warn(self, _msg):
        pass


@pytest.mark.parametrize("kind, facts, current, daemon", [
    ("supervisord", {"exit": 0}, "backoff", True),                 # exited 0 at once, children live on
    ("supervisord", {"exit": 3}, "backoff", False),                # a crash
    ("supervisord", {}, "stopped", False),                         # no exit since the action: not yet started
    ("supervisord", {"exit": 0, "spawn_error": "x"}, "fatal", False),
    ("god", {}, "starting", True),                                 # god cannot see the status: strays decide
    ("god", {"exit": 0}, "stopping", False),
])
def test_which_ends_count_as_putting_itself_in_the_background(tmp_path, kind, facts, current, daemon):
    from ansible_collections.noops.platform.plugins.module_utils import frigga

    class Fake(frigga.Backend):
        exit_known = kind == "supervisord"

        def describe(self):
            return "%s for test" % kind

        def leftovers(self, name, pid):
            return [4242]

    Fake.kind = kind
    backend = Fake(_Module(), {"conf_dir": str(tmp_path)}, {"timeout": 1})
    (tmp_path / ("svc" + frigga.EXTENSIONS[kind])).write_text("# noops-command: ./run.sh --password=pw-1234\n")
    said = backend.daemonized("svc", current, None, facts)
    assert bool(said) == daemon
    if daemon:
        assert "puts itself in the background" in said and "pids 4242" in said and "foreground" in said
        assert "pw-1234" not in said


def test_report_masks_the_log_tail(tmp_path):
    # The process module returns the program's last log lines: a password it printed (one no config holds) and
    # the values of the process's secret environment entries are masked there too, and only they.
    from ansible_collections.noops.platform.plugins.module_utils import frigga

    class Fake(frigga.Backend):
        kind = "god"

        def status(self):
            return {"svc": ("EXITED", None)}

        def state(self, name, statuses):
            return "stopped", None

    backend = Fake(_Module(), {"conf_dir": str(tmp_path)}, {"timeout": 1, "log_lines": 5})
    log = tmp_path / "svc.log"
    log.write_text("starting\ncannot connect to db with password Sup3rS3cretPW: broken build 3.0.0\n"
                   "using hunter2-very\n")
    (tmp_path / ("svc" + frigga.EXTENSIONS["god"])).write_text(
        "# noops-log: %s\nw.env = { 'DB_PASSWORD' => 'hunter2-very' }\n" % log)
    [entry] = frigga.report(_Module(), backend, ["svc"])
    assert entry["log_lines"] == ["starting", "cannot connect to db with password ********: broken build 3.0.0",
                                  "using ********"]


def test_explain_says_each_log_line_once(tmp_path):
    # A program restarted in a loop writes the same lines at every start: the last distinct ones are shown.
    from ansible_collections.noops.platform.plugins.module_utils import frigga

    class Fake(frigga.Backend):
        kind = "god"

    backend = Fake(_Module(), {"conf_dir": str(tmp_path)}, {"timeout": 1})
    log = tmp_path / "svc.log"
    log.write_text("config loaded\n" + "starting\ncannot connect\nhello stopped\n" * 4)
    (tmp_path / ("svc" + frigga.EXTENSIONS["god"])).write_text("# noops-log: %s\n" % log)
    said = backend.explain("svc", {})
    assert said == "last log lines: config loaded | starting | cannot connect | hello stopped", said
