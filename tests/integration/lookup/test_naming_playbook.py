"""noops.platform.naming inside a real ``ansible-playbook`` run on the example service tree.

Two inventories carry the same fleet: the collection's own inventory plugin over examples/tree.yml
(examples/tree.noops.yml, the default of ansible.cfg) and a static YAML inventory written from the tree's
layout, so the lookup is checked both with the real plugin and independently of it.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

import noops_cli
from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import load_source

ROOT = noops_cli.COLLECTION_ROOT
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "naming.yml")
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

pytestmark = pytest.mark.slow


def zk(*rooms):
    addresses = {"lg": "10.237.37.1%d", "sd": "10.108.22.1%d", "hh": "10.38.161.1%d"}
    return ["%s:2181" % (addresses[room] % n) for room in rooms for n in (1, 2, 3)]


def dch(room, numbers):
    addresses = {"lg": "10.237.37.4%d", "sd": "10.108.22.4%d", "hh": "10.38.161.4%d"}
    return [addresses[room] % n for n in numbers]


LG_ZK = zk("lg")[0:3]

# host -> answer name -> expected value
EXPECTED = {
    "lg-zk01.bj": {
        "zk_list": zk("lg", "sd", "hh"),
        "carddav_or_calendar": ["10.237.37.43", "10.237.37.44", "10.237.37.45", "10.108.22.80",
                                "10.38.161.81", "10.38.161.82"],
    },
    "sd-acc-dch01.bj": {
        "zk_list": zk("sd", "lg", "hh"),
        "carddav_or_calendar": ["10.108.22.80", "10.237.37.43", "10.237.37.44", "10.237.37.45",
                                "10.38.161.81", "10.38.161.82"],
    },
    "hh-mc-cal01.bj": {
        "zk_list": zk("hh", "lg", "sd"),
        "carddav_or_calendar": ["10.38.161.81", "10.38.161.82", "10.237.37.43", "10.237.37.44",
                                "10.237.37.45", "10.108.22.80"],
    },
}
# the same for every caller: explicit near, a comma-joined lookup() string, an allowed empty answer, errors
COMMON = {
    "zk_lg_string": ",".join(LG_ZK),
    "dch_online_near_hh": dch("hh", (1, 2)) + dch("lg", (1, 2, 3)) + dch("sd", (1, 2, 3)),
    "nothing_allowed": [],
}


def static_inventory(path):
    """A plain YAML inventory with the tree's hosts (in tree order), their host vars and no groups."""
    layout = load_source(os.path.join(ROOT, "examples", "tree.yml")).layout()
    hosts = {name: layout.host_vars[name] for name in layout.host_vars}
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=False))
    return str(path)


@pytest.fixture(scope="module", params=["service_tree plugin", "static inventory"])
def answers(request, tmp_path_factory):
    if not os.path.exists(ANSIBLE_PLAYBOOK):
        pytest.skip("ansible-playbook not installed next to %s" % sys.executable)
    work = tmp_path_factory.mktemp("naming")
    if request.param == "service_tree plugin":
        if not os.path.exists(os.path.join(ROOT, "plugins", "inventory", "service_tree.py")):
            pytest.skip("the noops.platform.service_tree inventory plugin is not in this checkout")
        inventory = os.path.join(ROOT, "examples", "tree.noops.yml")
    else:
        inventory = static_inventory(work / "static.yml")
    out = work / "out"
    out.mkdir()
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(work / "tmp"), ANSIBLE_HOME=str(work / "home"))
    run = subprocess.run([ANSIBLE_PLAYBOOK, "-i", inventory, PLAYBOOK, "-e", "naming_out=%s" % out],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_nearest_first(answers, host):
    got = answers[host]
    for name, value in EXPECTED[host].items():
        assert got[name] == value, name
    for name, value in COMMON.items():
        assert got[name] == value, name


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_errors_name_the_query(answers, host):
    assert "no host of the inventory matches 'service.memcache'" in answers[host]["empty_error"]
    assert "allow_empty=true" in answers[host]["empty_error"]
    assert 'bad query: "service.zk__cluster.x": empty pair at char 11' in answers[host]["query_error"]


def test_every_host_answered(answers):
    assert sorted(answers) == sorted(EXPECTED)
