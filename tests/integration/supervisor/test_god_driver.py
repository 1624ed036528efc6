"""The god driver fixes that every rendered god file carries, run in the installed god's own Ruby classes.

god 0.13 runs a watch's queued operations (the crash-loop rule's transition among them) after any check due at
the same time; a check that starts the process again clears the queue and the rule's transition with it. And the
driver of a removed watch logs a FATAL error on its way out.
"""

import shutil
import subprocess

import pytest

import noops_cli  # noqa: F401  (puts the collection on the import path)
from ansible_collections.noops.platform.plugins.module_utils.supervisor import GOD_DRIVER_FIX, ProcessSpec, render

RUBY = shutil.which("ruby")

# A check due now, then an operation queued after it (what a start's move leaves behind when the crash-loop rule
# fires): which does the driver run first?
ORDER = """\
$load_god = true
require 'god'
load ARGV[0] unless ARGV[0].empty?
queue = God::DriverEventQueue.new
task = Object.new
def task.handle_poll(condition) = puts('check')
def task.transition = puts('operation')
queue.push(God::DriverEvent.new(0, task, nil))
queue.push(God::DriverOperation.new(task, :transition, []))
2.times { queue.pop.handle_event }
"""

# A driver waiting on an empty queue when its watch is removed (god shuts the queue down).
SHUTDOWN = """\
$load_god = true
require 'god'
load ARGV[0] unless ARGV[0].empty?
queue = God::DriverEventQueue.new
waiter = Thread.new do
  queue.pop.nil? ? 'nil' : 'event'
rescue ThreadError
  'ended'
end
sleep 0.2
queue.shutdown
puts waiter.value
"""


def ruby_with(tmp_path, program, fix_text):
    fix = tmp_path / "fix.rb"
    fix.write_text(fix_text)
    script = tmp_path / "program.rb"
    script.write_text(program)
    proc = subprocess.run([RUBY, str(script), str(fix) if fix_text else ""], capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0 and "cannot load such file -- god" in proc.stderr:
        pytest.skip("god's Ruby library is not installed (Debian ruby-god)")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def first_run(tmp_path, fix_text):
    return ruby_with(tmp_path, ORDER, fix_text)


@pytest.fixture
def ruby():
    if not RUBY:
        pytest.skip("ruby is not installed")


def test_unpatched_god_runs_the_due_check_first(ruby, tmp_path):
    # The behaviour the fix is for: if god ever changes it, this test says so.
    assert first_run(tmp_path, "") == ["check", "operation"]
    # ... and the driver loop gets nil from a shut-down queue (its FATAL "handle_event for nil" log line).
    assert ruby_with(tmp_path, SHUTDOWN, "") == ["nil"]


def test_every_god_file_carries_the_fix_and_it_runs_operations_first(ruby, tmp_path):
    text = render(ProcessSpec(name="crasher", command="/bin/false", backend="god"))
    assert GOD_DRIVER_FIX in text
    assert first_run(tmp_path, GOD_DRIVER_FIX) == ["operation", "check"]
    # Loaded again (every god file carries it): still one patch, same order.
    assert first_run(tmp_path, GOD_DRIVER_FIX * 2) == ["operation", "check"]


def test_a_removed_watchs_driver_ends_quietly(ruby, tmp_path):
    # ThreadError is how god's driver loop learns that its queue was shut down: it ends without logging.
    assert ruby_with(tmp_path, SHUTDOWN, GOD_DRIVER_FIX) == ["ended"]
    assert ruby_with(tmp_path, SHUTDOWN, GOD_DRIVER_FIX * 2) == ["ended"]
