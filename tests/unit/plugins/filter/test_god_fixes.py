"""The god_fixes filter gives main.god the same Ruby prelude as every watch file."""

import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.noops.platform.plugins.filter.god_fixes import FilterModule
from ansible_collections.noops.platform.plugins.module_utils.supervisor import (
    GOD_DRIVER_FIX, GOD_RUBY3_SHIM, ProcessSpec, render_god,
)

god_fixes = FilterModule().filters()["god_fixes"]


@pytest.mark.parametrize("shim", [True, False])
def test_the_prelude_is_the_one_watch_files_carry(shim):
    text = god_fixes(shim)
    assert (GOD_RUBY3_SHIM in text + "\n") is shim
    assert GOD_DRIVER_FIX in text + "\n"
    watch = render_god(ProcessSpec(name="web", command="/bin/true", backend="god", god_shim=shim))
    assert text + "\n" in watch


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_non_boolean_input_is_refused(value):
    with pytest.raises(AnsibleFilterError, match="god_fixes: .*true or false, got"):
        god_fixes(value)


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed: the syntax check needs it")
def test_the_prelude_is_valid_ruby(tmp_path):
    path = tmp_path / "main.god"
    path.write_text(god_fixes(True) + "\n")
    out = subprocess.run(["ruby", "-c", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
