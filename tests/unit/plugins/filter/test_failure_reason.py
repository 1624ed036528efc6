"""What failed, in one line: a failed result's message plus the command, exit status and last stderr lines
(plugin_utils/history/failure.py, filter noops.platform.failure_reason), secrets masked."""

import pytest

from ansible_collections.noops.platform.plugins.filter.failure_reason import failure_reason
from ansible_collections.noops.platform.plugins.plugin_utils.history.failure import describe_failure, masker_for
from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
from ansible_collections.noops.platform.plugins.plugin_utils.history.record import summarize_result

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
    # A program that crash-looped wrote the same lines at every start: each line once, in the order last written.
    ("repeated-stderr", {"failed": True, "msg": "non-zero return code", "rc": 3, "cmd": "./run.sh",
                         "stderr": "boom\nhello stopped\nboom\nhello stopped\nboom\nhello stopped\n"},
     "non-zero return code; command: ./run.sh; exit status 3; stderr: boom | hello stopped"),
    ("repeated-in-message", {"failed": True, "msg": "hello did not stay up; last log lines: a | b | hello stopped | "
                                                    "a | b | hello stopped"},
     "hello did not stay up; last log lines: a | b | hello stopped"),
    # Lines the message already says are not said again.
    ("stderr-in-message", {"failed": True, "msg": "hello did not stay up; last log lines: a | b", "rc": 3,
                           "stderr": "b\na\n"},
     "hello did not stay up; last log lines: a | b; exit status 3"),
    # Ansible's placeholder for a missing traceback says nothing.
    ("no-traceback", {"failed": True, "msg": "hello did not start", "exception": "(traceback unavailable)"},
     "hello did not start"),
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
