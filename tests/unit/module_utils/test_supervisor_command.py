"""supervisord runs exactly the command that was asked, or the program file is refused.

supervisord's config parser ends a value at a ';' or '#' that follows whitespace (its inline comment rule),
expands '%', and strips every quote around an environment value. Each command below is rendered, read back by
supervisor's own ServerOptions (the parser supervisord runs at start-up) and shlex-split as supervisord does before
it executes it; the argv must be the intended one. What cannot be written is refused with the field and the value.
"""

import pytest

from ansible_collections.noops.platform.plugins.module_utils.supervisor import (
    ProcessSpec,
    SupervisorConfigError,
    intent_mismatches,
    render,
    split_or_text,
    supervisord_intent,
    supervisord_reading,
)

options = pytest.importorskip("supervisor.options", reason="supervisor is not installed in this venv")


def read_by_supervisord(tmp_path, text, name):
    """What supervisor's ServerOptions reads from the program file (the include of a minimal main config)."""
    program = tmp_path / (name + ".conf")
    program.write_text(text)
    main = tmp_path / "supervisord.conf"
    main.write_text("[supervisord]\n[include]\nfiles = %s\n" % program)
    server = options.ServerOptions()
    server.read_config(str(main))
    (pconfig,) = [p for g in server.configroot.supervisord.process_group_configs for p in g.process_configs if p.name == name]
    return {"command": split_or_text(pconfig.command), "environment": dict(pconfig.environment or {}),
            "directory": pconfig.directory, "stdout_logfile": pconfig.stdout_logfile}


COMMANDS = [
    ("space-semicolon-in-quotes", """echo "a ;b" > out""", ["/bin/sh", "-c", """echo "a ;b" > out"""]),
    ("space-hash-in-quotes", "echo 'x #y'", ["/bin/sh", "-c", "echo 'x #y'"]),
    ("tab-semicolon", "echo a\t;echo b", ["/bin/sh", "-c", "echo a\t;echo b"]),
    ("two-commands", "cd /srv ; exec ./run.sh --port 80", ["/bin/sh", "-c", "cd /srv ; exec ./run.sh --port 80"]),
    ("trailing-comment-like", "run.sh # not a comment", ["/bin/sh", "-c", "run.sh # not a comment"]),
    ("percent", "date +%s ; echo 100%", ["/bin/sh", "-c", "date +%s ; echo 100%"]),
    ("no-shell", "/usr/bin/python3 -m http.server 8000", ["/usr/bin/python3", "-m", "http.server", "8000"]),
    ("semicolon-no-space", "a;b", ["/bin/sh", "-c", "a;b"]),
]


@pytest.mark.parametrize("command, argv", [c[1:] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
@pytest.mark.parametrize("memory_max", [0, 1 << 30], ids=["plain", "prlimit"])
def test_supervisord_runs_the_intended_argv(tmp_path, command, argv, memory_max):
    spec = ProcessSpec(name="svc", command=command, backend="supervisord", memory_max=memory_max,
                       directory="/srv/svc;1", stdout_log="/tmp/svc.log", version="1.0",
                       environment={"MOTTO": "keep calm;carry on", "RATIO": "50%"})
    text = render(spec)
    read = read_by_supervisord(tmp_path, text, "svc")
    want = (["prlimit", "--as=%d" % memory_max, "--"] if memory_max else []) + argv
    assert read["command"] == want, text
    # the pure reading (used where supervisor is not installed) agrees with supervisord's own
    assert supervisord_reading(text, "svc")["command"] == want
    assert not intent_mismatches(supervisord_intent(spec), read)


REFUSED = [
    ("env-space-semicolon", dict(environment={"MOTTO": "keep calm ;carry on"}), "environment.MOTTO"),
    ("env-space-hash", dict(environment={"TAG": "build #12"}), "environment.TAG"),
    ("env-quoted-end", dict(environment={"GREETING": 'say "hi"'}), "environment.GREETING"),
    ("directory-space-hash", dict(directory="/srv/svc #1"), "directory"),
    ("log-space-semicolon", dict(stdout_log="/var/log/a ;b.log"), "stdout_logfile"),
]


@pytest.mark.parametrize("changes, field", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_what_supervisord_would_misread_is_refused(tmp_path, changes, field):
    spec = ProcessSpec(name="svc", command="/srv/svc/run.sh", backend="supervisord", **changes)
    with pytest.raises(SupervisorConfigError, match="supervisord would read the program file differently") as exc:
        render(spec)
    assert field in str(exc.value)


def test_the_old_rendering_is_caught_by_the_comparison(tmp_path):
    """A program line written without the quote break: supervisord's own reading differs, and the comparison
    the module makes with supervisor's parser says so."""
    spec = ProcessSpec(name="svc", command="""echo "a ;b" > out""", backend="supervisord")
    text = "[program:svc]\ncommand=/bin/sh -c 'echo \"a ;b\" > out'\n"
    read = read_by_supervisord(tmp_path, text, "svc")
    assert read["command"] != ["/bin/sh", "-c", spec.command]
    problems = intent_mismatches(supervisord_intent(spec), read)
    assert problems and problems[0].startswith("command: ")
