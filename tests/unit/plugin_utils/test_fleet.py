"""plugins/plugin_utils/fleet.py: the local fleet the demo, the deploy tests and bench/deploy.py run on."""

import os
import socket

import pytest
import yaml

from ansible_collections.noops.platform.plugins.plugin_utils import fleet
from ansible_collections.noops.platform.plugins.module_utils.supervisor import instance_layout
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import load_tree
from ansible_collections.noops.platform.plugins.module_utils.unix_socket import UNIX_PATH_MAX

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

with open(os.path.join(ROOT, "examples", "tree.yml")) as _f:
    EXAMPLE = yaml.safe_load(_f)

T = "cop.xiaomi_owt.miliao_pdl.account_service.dch_cluster.production-%s_job.dch_loc.bj_idc.%s_status.%s"
SMALL = {"machines": {
    "lg1": {"tags": [T % ("lg", "lg", "service")]},
    "lg2": {"tags": [T % ("lg", "lg", "service")]},
    "lg3": {"tags": [T % ("lg", "lg", "offline")]},
    "sd1": {"tags": ["cop.xiaomi_owt.miliao_pdl.x_service.y_status.service", T % ("sd", "sd", "service")]},
    "hh1": {"tags": [T % ("hh", "hh", "service")]},
    "noroom": {"tags": ["cop.xiaomi_service.z_status.service"]},
}}


@pytest.mark.parametrize("count, names", [
    (1, ["lg1"]),
    (3, ["lg1", "sd1", "hh1"]),
    (4, ["lg1", "sd1", "hh1", "lg2"]),
    (9, ["lg1", "sd1", "hh1", "lg2"]),
], ids=["one", "one-per-room", "round-robin", "all-there-is"])
def test_pick_machines_round_robin_over_rooms(count, names):
    assert [n for n, _ in fleet.pick_machines(SMALL, count)] == names


def test_pick_machines_takes_the_matching_tag():
    (name, tag), = [p for p in fleet.pick_machines(SMALL, 3) if p[0] == "sd1"]
    assert tag["idc"] == "sd" and tag["service"] == "dch"


@pytest.mark.parametrize("tag, want", [
    (T % ("lg", "lg", "service"),
     "cop.xiaomi_owt.miliao_pdl.account_service.hello_cluster.production-lg_job.hello_loc.bj_idc.lg_status.service"),
    ("cop.xiaomi_pdl.p_service.s_jobgroup.g_job.j_idc.sd_status.offline",
     "cop.xiaomi_pdl.p_service.hello_job.hello_idc.sd_status.service"),
], ids=["same-cluster-and-room", "jobgroup-dropped-status-service"])
def test_service_tag(tag, want):
    assert fleet.service_tag(Tag.parse(tag), "hello") == Tag.parse(want)


def test_example_fleet_spans_rooms_and_keeps_tags():
    hosts = fleet.plan_fleet("/tmp/demo", 6, "hello", tree_doc=EXAMPLE, ports=list(range(20000, 20006)))
    assert len({h.idc for h in hosts}) == 3
    assert [h.port for h in hosts] == list(range(20000, 20006))
    for h in hosts:
        assert h.name in EXAMPLE["machines"]
        assert h.tags[0] in EXAMPLE["machines"][h.name]["tags"]
        assert Tag.parse(h.tags[1])["service"] == "hello"
        assert h.root == "/tmp/demo/" + h.name
    assert fleet.jobs_of(hosts, "hello") == ["cop.xiaomi_owt.miliao_pdl.account_service.hello_job.hello"]


def test_synthetic_fleet():
    hosts = fleet.plan_fleet("/f", 5, "hello", ports=[1, 2, 3, 4, 5])
    assert [h.name for h in hosts] == ["lg-hello01", "sd-hello01", "hh-hello01", "lg-hello02", "sd-hello02"]
    assert [h.idc for h in hosts] == ["lg", "sd", "hh", "lg", "sd"]
    assert fleet.jobs_of(hosts, "hello") == ["cop.noops_owt.local_pdl.fleet_service.hello_job.hello"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(count=0), "at least 1 host"),
    (dict(count=3, ports=[1]), "1 ports given for 3 hosts"),
    (dict(count=50, tree_doc=SMALL), "the tree has 4 machines with status.service and a room, 50 asked"),
])
def test_plan_fleet_errors(kwargs, message):
    with pytest.raises(fleet.FleetError, match=message):
        fleet.plan_fleet("/f", **kwargs)


def test_long_names_get_short_roots():
    base = "/tmp/" + "d" * 40
    name = "a-very-long-machine-name-of-a-real-fleet.example.com"
    root = fleet.host_root(base, name, 7)
    assert root == base + "/h7"
    assert len(instance_layout(root, "supervisord")["socket"]) + 8 <= UNIX_PATH_MAX
    assert fleet.host_root("/tmp/x", "lg-acc-dch01.bj", 7) == "/tmp/x/lg-acc-dch01.bj"


def test_too_deep_a_folder_keeps_a_short_socket():
    root = fleet.host_root("/" + "x" * 90, "h", 0)
    socket_path = instance_layout(root, "supervisord")["socket"]
    assert socket_path.startswith("/tmp/noops-supervisord-")
    assert len(socket_path) <= UNIX_PATH_MAX


def test_tree_document_loads_as_a_service_tree():
    hosts = fleet.plan_fleet("/f", 4, "hello", tree_doc=EXAMPLE, ports=[31, 32, 33, 34])
    doc = fleet.fleet_tree(hosts, supervisor_venv="/v", host_vars={"extra": 1})
    tree = load_tree(doc, "fleet")
    assert [m.name for m in tree.select("service.hello_idc.lg")] == [h.name for h in hosts if h.idc == "lg"]
    first = doc["machines"][hosts[0].name]["vars"]
    assert first == {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                     "noops_root": "/f/" + hosts[0].name, "noops_supervisor": "supervisord", "noops_port": 31,
                     "odin_host_values": {"port": 31}, "supervisor_venv": "/v", "extra": 1}
    assert fleet.read_fleet(doc) == hosts
    # An address of 127.0.0.1 would make Ansible run `hosts: localhost` plays on that fleet host.
    assert not any("address" in m for m in doc["machines"].values())


def test_free_ports_are_free_and_distinct():
    ports = fleet.free_ports(5)
    assert len(set(ports)) == 5
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        assert not fleet.port_is_free(taken)
        got = fleet.free_ports(2, start=taken)
        assert taken not in got and got[0] > taken


def test_inventory_source_points_at_the_tree():
    doc = yaml.safe_load(fleet.inventory_source())
    assert doc == {"plugin": "noops.platform.service_tree", "source": "tree.yml"}
