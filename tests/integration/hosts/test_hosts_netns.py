"""Namespace hosts for real: separate hosts, reachable by Ansible over SSH, SSH outages on demand, nothing left
behind. Needs root, iproute2 and openssh-server (skipped otherwise, with the reason)."""

import os
import re
import subprocess
import sys

import pytest

from hosts import netns
from hosts.common import REPO_ROOT

BIN = os.path.dirname(sys.executable)
pytestmark = pytest.mark.slow


def ansible(inventory, *args, pattern="all"):
    return subprocess.run([os.path.join(BIN, "ansible"), pattern, "-i", str(inventory), *args],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False)


def leftovers(fleet_state):
    """What of a fleet still exists on the machine: namespaces, links, live launchers, ssh masters."""
    names = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split())
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    found = [h["netns"] for h in fleet_state["hosts"] if h["netns"] in names]
    found += [f"link {fleet_state['bridge']}"] if f" {fleet_state['bridge']}:" in links else []
    # The hosts' veth ends: nv<net>h<i>, named after the bridge's index.
    net = fleet_state["bridge"][len(netns.BRIDGE_PREFIX):]
    found += [f"link {name}" for name in re.findall(rf" (nv{net}h\d+)@", links)]
    found += [f"launcher {h['pid']}" for h in fleet_state["hosts"] if netns._alive(h["pid"])]
    found += [line for line in ps.splitlines() if str(fleet_state["control_dir"]) in line]
    return found


# Each check runs inside every host and must give that host's own answer.
INSIDE_CHECKS = [
    ("hostname", "hostname", lambda h: h.name),
    ("address", "ip -4 -o addr show eth0 | awk '{print $4}'", lambda h: h.ip + "/24"),
    ("private /tmp", "cat /tmp/whoami", lambda h: h.name),
    ("private /data", "cat /data/whoami", lambda h: h.name),
    ("own pid 1", "cat /proc/1/comm", lambda h: "sh"),
    ("own sshd", "cat /proc/$(cat /run/sshd.pid)/comm", lambda h: "sshd"),
]


@pytest.mark.parametrize("name,cmd,expected", INSIDE_CHECKS, ids=[c[0] for c in INSIDE_CHECKS])
def test_every_host_is_its_own(fleet, name, cmd, expected):
    for host in fleet.hosts:
        for d in ("/tmp", "/data"):
            host.path(f"{d}/whoami").write_text(host.name)
    for host in fleet.hosts:
        assert fleet.run(host, cmd).stdout.strip() == expected(host), f"{name} on {host.name}"


def test_hosts_see_few_processes(fleet):
    # pid 1 (the launcher shell), its sleep, sshd, and the ps itself: a private pid namespace.
    count = len(fleet.run("h1", "ps -e --no-headers").stdout.splitlines())
    assert count < 10


@pytest.mark.parametrize("fmt", ["yaml", "ini"])
def test_ansible_reaches_every_host_over_ssh(fleet, fmt):
    inventory = fleet.write_inventory(fmt=fmt)
    proc = ansible(inventory, "-m", "ansible.builtin.command", "-a", "hostname")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in fleet.hosts:
        assert f"{host.name} | CHANGED | rc=0 >>\n{host.name}\n" in proc.stdout


def test_stopped_sshd_makes_only_that_host_unreachable(fleet):
    inventory = fleet.write_inventory()
    assert ansible(inventory, "-m", "ansible.builtin.ping").returncode == 0
    fleet.stop_sshd("h2")
    assert not fleet.sshd_running("h2")
    proc = ansible(inventory, "-m", "ansible.builtin.ping")
    assert proc.returncode == 4, proc.stdout + proc.stderr      # 4: some hosts unreachable
    assert "h2 | UNREACHABLE!" in proc.stdout
    assert "h1 | SUCCESS" in proc.stdout and "h3 | SUCCESS" in proc.stdout
    # The host itself is still up: commands run inside it without SSH.
    assert fleet.run("h2", "hostname").stdout.strip() == "h2"
    fleet.start_sshd("h2")
    proc = ansible(inventory, "-m", "ansible.builtin.ping")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_down_leaves_nothing_behind(fleet_factory):
    fleet = fleet_factory(2)
    assert ansible(fleet.write_inventory(), "-m", "ansible.builtin.ping").returncode == 0
    state = {"bridge": fleet.bridge, "control_dir": fleet.control_dir,
             "hosts": [{"netns": h.netns, "pid": h.launcher_pid} for h in fleet.hosts]}
    assert len(leftovers(state)) >= 3, "the probe must see a live fleet"
    fleet.down()
    assert leftovers(state) == []


def test_a_fleet_failing_half_way_leaves_nothing_behind(netns_usable, tmp_path, monkeypatch):
    made = []
    real = netns.Fleet._make_host

    def make_host(self, i):
        made.append(real(self, i))
        if i == 2:     # host 2 has its namespace and veth; the rest of its setup fails
            raise netns.HostsError("injected failure")
        return made[-1]

    monkeypatch.setattr(netns.Fleet, "_make_host", make_host)
    fleet = netns.Fleet(3, tmp_path / "fleet")
    with pytest.raises(netns.HostsError, match="injected failure"):
        fleet.up()
    state = {"bridge": fleet.bridge, "control_dir": fleet.control_dir,
             "hosts": [{"netns": h.netns, "pid": h.launcher_pid} for h in made]}
    assert len(made) == 2
    assert leftovers(state) == []


def test_fleets_side_by_side_get_their_own_subnets(fleet_factory):
    a, b = fleet_factory(1), fleet_factory(1)
    assert a.bridge != b.bridge
    assert a.hosts[0].ip != b.hosts[0].ip
    for f in (a, b):
        assert ansible(f.write_inventory(), "-m", "ansible.builtin.ping").returncode == 0


def test_cleanup_removes_a_fleet_whose_owner_died(netns_usable, tmp_path):
    # `fleet-up --detach` exits at once, leaving its fleet as an interrupted run would.
    cli = [sys.executable, str(REPO_ROOT / "tests" / "hosts")]
    subprocess.run([*cli, "fleet-up", "2", "--workdir", str(tmp_path), "--detach"], check=True,
                   capture_output=True, timeout=60)
    loaded = netns.Fleet.load(tmp_path)
    state = {"bridge": loaded.bridge, "control_dir": loaded.control_dir,
             "hosts": [{"netns": h.netns, "pid": h.launcher_pid} for h in loaded.hosts]}
    assert leftovers(state)
    assert loaded.bridge in netns.cleanup_stale()
    assert leftovers(state) == []
