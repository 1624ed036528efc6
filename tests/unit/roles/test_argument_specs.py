"""Every option in a role's meta/argument_specs.yml says what the variable does, not only its own name.

A description counts as a repeat of the name when, after the name's own words and filler words are taken out,
fewer than two words are left ("thor_stop_command: thor_stop_command", "god daemon log level" for
supervisor_god_log_level).
"""

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SPECS = sorted(glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")))
FILLER = {"a", "an", "the", "of", "to", "in", "for", "is", "and", "or", "its", "it"}


def options(spec_file):
    with open(spec_file, encoding="utf-8") as f:
        doc = yaml.safe_load(f)

    def walk(opts, where):
        for name, option in (opts or {}).items():
            yield where + name, name, option
            yield from walk(option.get("options"), where + name + ".")

    for entry_point, spec in doc["argument_specs"].items():
        yield from walk(spec.get("options"), entry_point + ": ")


def says_more_than_its_name(name, description):
    text = " ".join(description) if isinstance(description, list) else str(description or "")
    words = [w for w in re.findall(r"[a-z0-9]+", text.lower())]
    left = [w for w in words if w not in set(name.lower().split("_")) | FILLER]
    return len(left) >= 2


@pytest.mark.parametrize("name, description, expected", [
    ("thor_stop_command", "thor_stop_command", False),
    ("supervisor_god_log_level", "god daemon log level.", False),
    ("thor_process_name", "Supervisor process name.", False),
    ("thor_stop_timeout", "Seconds given to the process to stop before it is killed.", True),
])
def test_the_rule(name, description, expected):
    assert says_more_than_its_name(name, description) is expected


@pytest.mark.parametrize("spec_file", SPECS, ids=[os.path.relpath(p, ROOT) for p in SPECS])
def test_descriptions_say_what_the_variable_does(spec_file):
    bad = ["%s (%r)" % (where, option.get("description")) for where, name, option in options(spec_file)
           if not says_more_than_its_name(name, option.get("description"))]
    assert not bad, "%s: descriptions that only repeat the name: %s" % (os.path.relpath(spec_file, ROOT),
                                                                        "; ".join(bad))


def test_specs_found():
    assert len(SPECS) >= 2
