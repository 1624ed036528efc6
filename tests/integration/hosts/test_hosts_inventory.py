"""The pure parts of the namespace harness: inventory rendering (read back by ansible-inventory), mount order,
in-host paths. No root needed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hosts.common import REPO_ROOT, HostsError
from hosts.netns import PRIVATE_DIRS, Fleet, Host, mount_order, render_inventory

BIN = os.path.dirname(sys.executable)


def paper_fleet(tmp_path, n=3, net=7):
    """A Fleet with hosts filled in but nothing started: enough to render inventories."""
    fleet = Fleet(n, tmp_path)
    fleet.net = net
    fleet.control_dir = Path("/tmp/noops-cp-test")
    fleet.hosts = [Host(i, f"h{i}", f"10.200.{net}.{10 + i}", f"noops{net}-h{i}", tmp_path / f"h{i}")
                   for i in range(1, n + 1)]
    return fleet


def ansible_inventory(path):
    out = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(path), "--list"],
                         capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    return json.loads(out.stdout)


CASES = [
    ("bare", {}, ),
    ("groups", {"groups": {"web": ["h1", "h2"], "db": ["h3"]}}),
    ("vars", {"groups": {"web": ["h1", "h2"]}, "host_vars": {"h2": {"noops_supervisor": "supervisord"}},
              "group_vars": {"all": {"noops_root": ""}, "web": {"web_port": 8080, "web_name": "a b"}}}),
]


@pytest.mark.parametrize("fmt", ["yaml", "ini"])
@pytest.mark.parametrize("case,kwargs", CASES, ids=[c[0] for c in CASES])
def test_inventory_as_ansible_reads_it(tmp_path, fmt, case, kwargs):
    fleet = paper_fleet(tmp_path)
    path = tmp_path / f"inv.{fmt}"
    path.write_text(render_inventory(fleet, fmt, **kwargs))
    inv = ansible_inventory(path)
    hostvars = inv["_meta"]["hostvars"]
    assert sorted(hostvars) == ["h1", "h2", "h3"]
    for host in fleet.hosts:
        v = hostvars[host.name]
        assert v["ansible_host"] == host.ip
        assert v["ansible_user"] == "root"
        assert v["ansible_ssh_private_key_file"] == str(fleet.key)
        assert "StrictHostKeyChecking=no" in v["ansible_ssh_common_args"]
        assert v["ansible_control_path_dir"] == "/tmp/noops-cp-test"
    for group, members in kwargs.get("groups", {}).items():
        assert sorted(inv[group]["hosts"]) == sorted(members)
    for host, extra in kwargs.get("host_vars", {}).items():
        for key, value in extra.items():
            assert hostvars[host][key] == value
    # Group vars reach exactly the group's hosts, with their types kept (8080 stays an int in both formats).
    for group, gvars in kwargs.get("group_vars", {}).items():
        members = [h.name for h in fleet.hosts] if group == "all" else kwargs["groups"][group]
        for name in hostvars:
            for key, value in gvars.items():
                assert hostvars[name].get(key) == (value if name in members else None), (name, key)


def test_inventory_rejects_unknown_members(tmp_path):
    with pytest.raises(HostsError, match="inventory group web: no such host h9"):
        render_inventory(paper_fleet(tmp_path), "yaml", groups={"web": ["h1", "h9"]})


def test_inventory_rejects_unknown_format(tmp_path):
    with pytest.raises(HostsError, match="'toml'"):
        render_inventory(paper_fleet(tmp_path), "toml")


@pytest.mark.parametrize("root,last", [
    ("/tmp/pytest-of-root/pytest-3/test_x0/fleet0/h1", "/tmp"),
    ("/root/.cache/fleet/h1", "/root"),
    ("/run/fleet/h1", "/run"),
    ("/srv/fleet/h1", "/data"),       # nothing to protect: the plain order
    ("/tmpfoo/h1", "/data"),          # a prefix of the name is not a parent folder
])
def test_mount_order_binds_the_workdirs_parent_last(root, last):
    order = mount_order(Path(root))
    assert sorted(order) == sorted(PRIVATE_DIRS)
    assert order[-1] == last


@pytest.mark.parametrize("inside,outside", [
    ("/tmp/god.17165.sock", "h1/tmp/god.17165.sock"),
    ("/data/hello/log/", "h1/data/hello/log"),
    ("/root/.ssh/authorized_keys", "h1/root/.ssh/authorized_keys"),
    ("/run", "h1/run"),
])
def test_host_path_maps_private_dirs(tmp_path, inside, outside):
    host = paper_fleet(tmp_path).hosts[0]
    assert host.path(inside) == tmp_path / outside


@pytest.mark.parametrize("inside", ["/etc/passwd", "/tmpx/a", "/usr/bin/god"])
def test_host_path_refuses_shared_dirs(tmp_path, inside):
    with pytest.raises(HostsError, match="real machine"):
        paper_fleet(tmp_path).hosts[0].path(inside)


@pytest.mark.parametrize("n", [0, 245])
def test_fleet_size_is_bounded(tmp_path, n):
    with pytest.raises(HostsError, match=f"fleet size {n}"):
        Fleet(n, tmp_path)
