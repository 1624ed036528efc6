"""What failed, in one line: a failed result's message plus the command, exit status and last stderr lines
(module_utils/failure.py, filter noops.platform.failure_reason), secrets masked; and the supervisor facts the
process module's failure messages are built from (supervisord's exit lines, secret options and environment)."""

import time

import pytest

from ansible_collections.noops.platform.plugins.filter.failure_reason import failure_reason
from ansible_collections.noops.platform.plugins.module_utils.failure import describe_failure, masker_for
from ansible_collections.noops.platform.plugins.module_utils.frigga import mask_secrets
from ansible_collections.noops.platform.plugins.module_utils.history_mask import Masker
from ansible_collections.noops.platform.plugins.module_utils.history_record import summarize_result
from ansible_collections.noops.platform.plugins.module_utils.supervisord_rpc import last_exit, main_log

HOOK = {"failed": True, "msg": "non-zero return code", "rc": 4, "cmd": ["sh", "-c", "./migrate.sh --to 7"],
        "stdout": "step 1\nstep 2\n", "stderr": "connecting\nmigration failed: no table users\n"}

CASES = [
    ("command-hook", HOOK,
     "non-zero return code; command: sh -c './migrate.sh --to 7'; exit status 4; "
     "stderr: connecting | migration failed: no table users"),
    ("shell-string-no-stderr", {"failed": True, "msg": "non-zero return code", "rc": 1, "cmd": "false && x",
                                "stdout": "a\nb\n", "stderr": ""},
     "non-zero return code; command: false && x; exit status 1; last output: a | b"),
    ("module-message-kept", {"failed": True, "msg": "hello did not start: ...; exit status 3"},
     "hello did not start: ...; exit status 3"),
    ("module-crash", {"failed": True, "msg": "MODULE FAILURE", "module_stderr": "Traceback\nKeyError: 'x'\n"},
     "MODULE FAILURE; module stderr: Traceback | KeyError: 'x'"),
    ("loop", {"failed": True, "msg": "One or more items failed", "results": [
        {"failed": False, "item": "a"}, {"failed": True, "item": "b", "msg": "non-zero return code", "rc": 2}]},
     "One or more items failed; item b: non-zero return code; exit status 2"),
    ("no-log", {"failed": True, "censored": "the output has been hidden"}, "output hidden (no_log)"),
    ("bare", {"failed": True}, "failed"),
]


@pytest.mark.parametrize("result, line", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_describe_failure(result, line):
    assert describe_failure(result) == line


def test_filter_masks_the_deploy_secrets():
    result = dict(HOOK, cmd="./migrate.sh --password s3cret-Thor-7781", stderr="login s3cret-Thor-7781 refused\n")
    line = failure_reason(result, secrets=[{"port": 8080, "db_passwd": "s3cret-Thor-7781"}, {}])
    assert "s3cret-Thor-7781" not in line and "login ******** refused" in line and "exit status 4" in line


def test_history_message_of_a_failed_command_says_what_failed():
    masker = masker_for({"db_passwd": "hunter2-secret"})
    message, _output = summarize_result(dict(HOOK, stderr="db hunter2-secret gone\n"), False, 2000, masker)
    assert message == ("non-zero return code; command: sh -c './migrate.sh --to 7'; exit status 4; "
                       "stderr: db ******** gone")
    ok, _ = summarize_result({"msg": "all good", "rc": 0, "cmd": "true"}, False, 2000, Masker())
    assert ok == "all good"


def supervisord_line(when, text):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) + ",123 WARN " + text


def test_last_exit_from_supervisords_log():
    now = time.time()
    lines = [supervisord_line(now - 100, "exited: hello (exit status 1; not expected)"),
             supervisord_line(now, "spawned: 'hello' with pid 42"),
             supervisord_line(now, "exited: other (exit status 9; not expected)"),
             supervisord_line(now, "exited: hello (exit status 3; not expected)"),
             supervisord_line(now, "gave up: hello entered FATAL state, too many start retries too quickly")]
    assert last_exit(lines, "hello", now - 5) == (3, "exit status 3")
    assert last_exit(lines[:1], "hello", now - 5) is None  # before the action: not this start's exit
    killed = [supervisord_line(now, "exited: hello (terminated by SIGKILL; not expected)")]
    assert last_exit(killed, "hello") == (-1, "terminated by SIGKILL")
    assert last_exit(lines, "nobody") is None


def test_main_log(tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text("[supervisord]\nlogfile = /var/log/s.log ; the log\n")
    assert main_log(str(conf), "/default.log") == "/var/log/s.log"
    conf.write_text("[supervisord]\n")
    assert main_log(str(conf), "/default.log") == "/default.log"
    assert main_log(str(tmp_path / "missing"), "/d") == "/d"


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
