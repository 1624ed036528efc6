"""Module documentation follows Ansible's conventions: every module has an ``attributes`` block (check_mode, diff_mode,
platform) built on ``ansible.builtin.action_common_attributes``; options several modules share are documented once in
``plugins/doc_fragments/`` (and not again in a module); the action groups of ``meta/runtime.yml`` name modules that
say they belong to them. ``ansible-test sanity`` (validate-modules) checks that the merged documentation matches each
module's argument spec."""

import glob
import os

import pytest
import yaml

from ansible_collections.noops.platform.plugins.doc_fragments import release as release_fragment
from ansible_collections.noops.platform.plugins.doc_fragments import supervisor as supervisor_fragment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
NAMES = [os.path.basename(p)[:-3] for p in MODULES if not os.path.basename(p).startswith("_")]


def doc(name):
    namespace = {}
    with open(os.path.join(ROOT, "plugins", "modules", name + ".py"), encoding="utf-8") as f:
        source = f.read()
    start = source.index('DOCUMENTATION = r"""')
    exec(source[start:source.index('"""', start + 20) + 3], namespace)  # only the string
    return yaml.safe_load(namespace["DOCUMENTATION"])


def fragment_options(text):
    return set(yaml.safe_load(text)["options"])


SHARED = {
    "noops.platform.supervisor": fragment_options(supervisor_fragment.ModuleDocFragment.DOCUMENTATION),
    "noops.platform.supervisor.instance": fragment_options(supervisor_fragment.ModuleDocFragment.INSTANCE),
    "noops.platform.release": fragment_options(release_fragment.ModuleDocFragment.DOCUMENTATION),
}


def test_modules_found():
    assert {"release", "release_info", "process", "supervisor_config"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_module_has_the_common_attributes(name):
    d = doc(name)
    assert "ansible.builtin.action_common_attributes" in d.get("extends_documentation_fragment", []), name
    attributes = d.get("attributes") or {}
    missing = {"check_mode", "diff_mode", "platform"} - set(attributes)
    assert not missing, "%s: attributes lacks %s" % (name, ", ".join(sorted(missing)))
    for key in ("check_mode", "diff_mode"):
        assert attributes[key].get("support") in ("full", "partial", "none"), (name, key, attributes[key])
    assert attributes["platform"].get("platforms"), (name, attributes["platform"])
    assert "notes" not in d or not any("check mode" in str(n).lower() for n in d["notes"]), \
        "%s: check mode support belongs in attributes, not notes" % name


@pytest.mark.parametrize("name", NAMES)
def test_shared_options_are_documented_once(name):
    d = doc(name)
    own = set(d.get("options") or {})
    extends = d.get("extends_documentation_fragment") or []
    for fragment, options in SHARED.items():
        repeated = own & options
        assert not repeated, "%s documents %s again: extend %s" % (name, ", ".join(sorted(repeated)), fragment)


def test_the_supervisor_and_release_modules_use_the_fragments():
    uses = {name: set(doc(name).get("extends_documentation_fragment") or []) for name in NAMES}
    for name in ("process", "supervisor_config"):
        assert "noops.platform.supervisor" in uses[name], name
    assert "noops.platform.supervisor.instance" in uses["process"]
    for name in ("release", "release_info"):
        assert "noops.platform.release" in uses[name], name


def test_action_groups_name_modules_that_say_so():
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as f:
        groups = yaml.safe_load(f).get("action_groups") or {}
    assert {"release", "supervisor"} <= set(groups), groups
    for group, members in groups.items():
        for member in members:
            assert member in NAMES, "%s: no module %s" % (group, member)
            attribute = doc(member)["attributes"].get("action_group") or {}
            assert "noops.platform." + group in attribute.get("membership", []), (group, member, attribute)
