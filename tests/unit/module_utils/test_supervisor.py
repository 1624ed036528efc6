"""Rendering of supervisor configs (pure functions in module_utils/supervisor.py) against checked-in files.

Regenerate the expected files after an intended change with ``NOOPS_REGENERATE=1 pytest this_file`` and
review the diff.
"""

import os

import pytest

from ansible_collections.noops.platform.plugins.module_utils.supervisor import (
    ProcessSpec,
    SupervisorConfigError,
    config_path,
    god_needs_shim,
    god_port,
    instance_layout,
    parse_size,
    render,
    warnings_for,
)
from ansible_collections.noops.platform.plugins.module_utils.supervisor_listener import parse_labels

EXPECTED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected")

DCH = dict(name="database-change-handler_production-sd",
           command="sh /home/work/database-change-handler/bin/DbEventListener.sh -r",
           directory="/home/work/database-change-handler", user="root", group="root",
           stdout_log="/data/soft/database-change/logs/database-change.log", stop_timeout=300,
           version="139594", notify="proc_down")
FULL = dict(name="dch", command="/home/work/dch/bin/run.sh --port 8080", version="93043",
            stop_command="/home/work/dch/bin/stop.sh", reload_signal="USR2", directory="/home/work/dch",
            user="work", group="work", environment={"JAVA_OPTS": "-Xmx256m -Dx=50%", "GREETING": 'say "hi" twice'},
            stdout_log="/data/dch/log/dch.out", stderr_log="/data/dch/log/dch.err", stop_timeout=30,
            restart="on-failure", crash_times=5, crash_within=300, memory_max=512 * 1024 ** 2, cpu_max=150,
            interval=2)
MINIMAL = dict(name="ticker", command="python3 -m http.server 8000")

CASES = [
    ("god_dch.god", "god", dict(DCH, god_shim=True)),
    ("god_full.god", "god", dict(FULL, notify="ops")),
    ("god_minimal.god", "god", MINIMAL),
    ("supervisord_dch.conf", "supervisord", dict(DCH, notify="/usr/local/bin/page-oncall")),
    ("supervisord_full.conf", "supervisord", FULL),
    ("supervisord_minimal.conf", "supervisord", MINIMAL),
    ("systemd_dch.service", "systemd", dict(DCH, notify="noops-notify@%n.service")),
    ("systemd_full.service", "systemd", dict(FULL, command="sh -c 'exec $HOME/run.sh'")),
    ("systemd_minimal.service", "systemd", MINIMAL),
]


@pytest.mark.parametrize("filename, backend, options", CASES, ids=[c[0] for c in CASES])
def test_render_matches_expected(filename, backend, options):
    text = render(ProcessSpec(backend=backend, **options))
    path = os.path.join(EXPECTED, filename)
    if os.environ.get("NOOPS_REGENERATE"):
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(path, encoding="utf-8") as handle:
        assert text == handle.read()


@pytest.mark.parametrize("filename, backend, options", CASES, ids=[c[0] for c in CASES])
def test_labels_round_trip(filename, backend, options):
    labels = parse_labels(render(ProcessSpec(backend=backend, **options)))
    assert labels["name"] == options["name"] and labels["backend"] == backend
    assert labels.get("version", "") == options.get("version", "")
    assert labels["crash-loop"] == "%d/%d" % (options.get("crash_times", 3), options.get("crash_within", 600))


@pytest.mark.parametrize("options, startsecs", [
    (dict(MINIMAL), 5), (dict(MINIMAL, interval=30), 10), (dict(MINIMAL, start_seconds=2), 2),
    (dict(MINIMAL, interval=30, start_seconds=0), 0),
])
def test_supervisord_startsecs(options, startsecs):
    assert "\nstartsecs=%d\n" % startsecs in render(ProcessSpec(backend="supervisord", **options))


@pytest.mark.parametrize("field, value, message", [
    ("name", "has space", "name: 'has space'"),
    ("name", "-dash", "name: '-dash'"),
    ("backend", "runit", "backend: 'runit'"),
    ("command", "  ", "command: '  ' is empty"),
    ("command", "a\nb", "single line"),
    ("directory", "relative/dir", "absolute path"),
    ("stdout_log", "log.txt", "absolute path"),
    ("stop_signal", "SIGTERM", "stop_signal: 'SIGTERM'"),
    ("restart", "never", "restart: 'never'"),
    ("crash_times", 0, "crash_times: 0 must be at least 1"),
    ("interval", 0, "interval: 0"),
    ("start_seconds", -1, "start_seconds: -1 must be at least 0"),
    ("user", "bad user", "user: 'bad user'"),
    ("environment", {"1BAD": "x"}, "environment: '1BAD'"),
    ("environment", {"OK": "a\nb"}, "environment.OK"),
])
def test_validation_names_field_and_value(field, value, message):
    options = dict(MINIMAL, backend="god")
    options[field] = value
    with pytest.raises(SupervisorConfigError, match=None) as error:
        render(ProcessSpec(**options))
    assert message in str(error.value)


@pytest.mark.parametrize("backend, options, message", [
    ("supervisord", {"environment": {"Q": "it's \"both\""}}, "both quote kinds"),
    ("systemd", {"notify": "proc_down"}, "must name a systemd unit"),
])
def test_backend_specific_validation(backend, options, message):
    with pytest.raises(SupervisorConfigError) as error:
        render(ProcessSpec(backend=backend, **dict(MINIMAL, **options)))
    assert message in str(error.value)


@pytest.mark.parametrize("backend, options, fragment", [
    ("supervisord", {"stop_command": "/bin/stop"}, "no stop command"),
    ("supervisord", {"cpu_max": 50}, "cannot cap CPU"),
    ("god", {"restart": "on-failure"}, "cannot see exit codes"),
])
def test_warnings(backend, options, fragment):
    notes = warnings_for(ProcessSpec(backend=backend, **dict(MINIMAL, **options)))
    assert any(fragment in note for note in notes)
    assert warnings_for(ProcessSpec(backend=backend, **MINIMAL)) == []


@pytest.mark.parametrize("value, expected", [
    ("512M", 536870912), ("2G", 2147483648), ("100k", 102400), ("1MiB", 1048576), ("4096", 4096),
    (4096, 4096), ("", 0), (None, 0),
])
def test_parse_size(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["12X", "M", "-1M", "1.5G"])
def test_parse_size_rejects(value):
    with pytest.raises(SupervisorConfigError, match="memory_max"):
        parse_size(value)


POLLER_013 = "      def self.readable?(path)\n        begin\n          timeout(1) { File.read(path) }\n"
POLLER_FIXED = "      def self.readable?(path)\n        begin\n          Timeout.timeout(1) { File.read(path) }\n"


@pytest.mark.parametrize("ruby, source, needed", [
    ("3.1.2", POLLER_013, True),
    ("3.3.0", POLLER_013, True),
    ("2.7.4", POLLER_013, False),
    ("3.1.2", POLLER_FIXED, False),
    ("", POLLER_013, False),
])
def test_god_needs_shim(ruby, source, needed):
    assert god_needs_shim(ruby, source) is needed


def test_god_port_is_stable_and_spread():
    assert god_port("") == 17165
    ports = {god_port("/srv/sim/h%d" % n) for n in range(200)}
    assert all(20000 <= p < 40000 for p in ports) and len(ports) > 190
    assert god_port("/srv/sim/h1") == god_port("/srv/sim/h1")


@pytest.mark.parametrize("root, backend, key, value", [
    ("", "god", "conf_dir", "/etc/noops/supervisor/god/conf.d"),
    ("/srv/h1/", "god", "pid_dir", "/srv/h1/var/run/noops/god/pids"),
    ("/srv/h1", "supervisord", "socket", "/srv/h1/var/run/noops/supervisord/supervisord.sock"),
    ("/srv/h1", "supervisord", "main_conf", "/srv/h1/etc/noops/supervisor/supervisord/supervisord.conf"),
    ("", "systemd", "conf_dir", "/etc/systemd/system"),
])
def test_instance_layout(root, backend, key, value):
    assert instance_layout(root, backend)[key] == value


def test_systemd_refuses_a_root():
    with pytest.raises(SupervisorConfigError, match="one per machine"):
        config_path("/srv/h1", "systemd", "dch")
    assert config_path("", "systemd", "dch") == "/etc/systemd/system/dch.service"
