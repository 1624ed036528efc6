"""Frigga in check mode: a restart of a process whose config the step before (supervisor_config, itself in check
mode) did not write reports the load it would do instead of failing; outside check mode it still fails."""

import types

import pytest

from ansible_collections.noops.platform.plugins.module_utils.frigga import (
    Backend, Frigga, FriggaError, open_backend, report,
)


class EmptySupervisor(Backend):
    """A running supervisor instance that knows no process (a host before its first deploy)."""

    kind = "supervisord"

    def status(self):
        return {}

    def pending(self):
        return []

    def describe(self):
        return "supervisord for the test"

    def load(self, name):
        raise AssertionError("check mode must not load %s" % name)


@pytest.mark.parametrize("state", ["started", "restarted", "reloaded"])
def test_check_mode_of_a_first_start_reports_the_load(tmp_path, state):
    module = types.SimpleNamespace(check_mode=True)
    frigga = Frigga(module, EmptySupervisor(module, {"conf_dir": str(tmp_path)}, {"timeout": 1}))
    frigga.apply("hello", state)
    assert frigga.actions == ["hello:load"]


def test_without_check_mode_a_missing_config_still_fails(tmp_path):
    module = types.SimpleNamespace(check_mode=False)
    frigga = Frigga(module, EmptySupervisor(module, {"conf_dir": str(tmp_path)}, {"timeout": 1}))
    with pytest.raises(FriggaError, match="hello has no config"):
        frigga.apply("hello", "restarted")


class Warned(types.SimpleNamespace):
    def warn(self, text):
        self.warnings.append(text)


@pytest.mark.parametrize("state", ["started", "restarted", "present"])
def test_check_mode_on_a_host_whose_supervisord_is_not_started_yet(tmp_path, state):
    """A first deploy in check mode: the supervisor role (checked too) started no supervisord; the check reports
    the load (and start) it would do, with a warning, instead of failing."""
    module = Warned(check_mode=True, warnings=[])
    backend = open_backend(module, "supervisord", str(tmp_path / "host"))
    frigga = Frigga(module, backend)
    frigga.apply("hello", state)
    assert frigga.actions == ["hello:load"]
    assert report(module, backend, ["hello"])[0]["state"] == "absent"
    assert len(module.warnings) == 1 and "not running" in module.warnings[0] and "check mode" in module.warnings[0]


def test_outside_check_mode_a_supervisord_not_running_fails(tmp_path):
    module = Warned(check_mode=False, warnings=[])
    with pytest.raises(FriggaError, match="supervisord for .* is not running"):
        open_backend(module, "supervisord", str(tmp_path / "host"))
