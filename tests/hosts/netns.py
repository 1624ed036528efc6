"""Namespace hosts: many real SSH targets on one machine, up in a fraction of a second.

Each host is a network namespace on a private bridge, plus private mount, UTS and pid namespaces with its own
/home, /root, /tmp, /run and /data (bind mounts of folders under the fleet's workdir) and its own sshd. Everything
else — /etc, /usr, installed programs — is the real machine's: a host is a place to run services and deploys, not
an operating system of its own. There is no systemd inside.

    with Fleet(4, tmp_path) as fleet:
        inventory = fleet.write_inventory()
        fleet.run(fleet.hosts[0], "hostname")          # -> 'h1'
        fleet.stop_sshd(fleet.hosts[1])                # fault injection: h2 becomes unreachable

Fleets on the same machine (parallel test runs) get distinct bridges and subnets: a fleet claims the first free
bridge `noopsbrK` (creating a link is atomic) and uses 10.200.K.0/24; host N is 10.200.K.(10+N).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from .common import HostsError, is_root, missing_programs, program, run

PRIVATE_DIRS = ("/home", "/root", "/tmp", "/run", "/data")
REGISTRY = Path("/run/noops-hosts")
MAX_HOSTS = 244          # 10 + N must stay a host address in the /24
MAX_NETS = 256
BRIDGE_PREFIX = "noopsbr"
SSH_OPTIONS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
# Every host's sshd config and host key live in its private /run, so they are visible inside its mount namespace.
SSHD_DIR = "/run/noops-sshd"
REQUIRED_PROGRAMS = ("ip", "unshare", "nsenter", "sshd", "ssh", "ssh-keygen", "mount", "hostname")


def unusable_reason() -> str | None:
    """Why namespace hosts cannot run here (None when they can): checked before a fleet is attempted."""
    if not is_root():
        return "namespace hosts need root (network namespaces, bind mounts)"
    missing = missing_programs(*REQUIRED_PROGRAMS)
    if missing:
        return (f"not installed: {', '.join(missing)} (apt-get install iproute2 openssh-server openssh-client; "
                "./dev test does)")
    probe = f"noops-probe-{os.getpid()}"
    proc = run(["ip", "netns", "add", probe], check=False)
    if proc.returncode != 0:
        return f"cannot create a network namespace: {proc.stderr.strip()}"
    run(["ip", "netns", "del", probe], check=False)
    return None


@dataclass
class Host:
    index: int           # N, from 1
    name: str            # hN: hostname inside, inventory name outside
    ip: str
    netns: str
    root: Path           # outside folder holding this host's private dirs
    launcher_pid: int = 0

    def path(self, inside: str | os.PathLike) -> Path:
        """The outside path of a file under one of the host's private dirs (`/tmp/x` -> `<root>/tmp/x`)."""
        inside = os.path.normpath(os.fspath(inside))
        for d in PRIVATE_DIRS:
            if inside == d or inside.startswith(d + "/"):
                return self.root / inside.lstrip("/")
        raise HostsError(f"{self.name}: {inside} is not under a private dir ({', '.join(PRIVATE_DIRS)}); "
                         "it is the real machine's")


def mount_order(root: Path) -> list[str]:
    """Private dirs in a safe bind order: the one that holds `root` (a workdir under /tmp, say) goes last,
    because binding over it would hide the sources of the binds that follow."""
    root_s = os.fspath(root)
    holds_root = [d for d in PRIVATE_DIRS if root_s == d or root_s.startswith(d + "/")]
    return [d for d in PRIVATE_DIRS if d not in holds_root] + holds_root


def sshd_config(ip: str) -> str:
    return f"""# sshd of one namespace host: key login as root only, nothing from the real machine's sshd_config
ListenAddress {ip}
Port 22
HostKey {SSHD_DIR}/host_ed25519_key
PidFile /run/sshd.pid
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
# Ansible opens many sessions at once through its multiplexed connections.
MaxStartups 100
MaxSessions 100
Subsystem sftp internal-sftp
"""


def launcher_script(host: Host) -> str:
    """Runs as pid 1 of the host's pid namespace: hostname, private dirs, sshd, then stays to reap children.
    sshd runs as its child (not exec'd) so that it can be stopped and started again for fault injection."""
    lines = ["set -e", f"hostname {host.name}"]
    for d in mount_order(host.root):
        src = host.root / d.lstrip("/")
        lines.append(f"mkdir -p {d} && mount --bind {shlex.quote(str(src))} {d}")
    lines += [
        f"{program('sshd')} -f {SSHD_DIR}/sshd_config -E /run/sshd.log",
        "trap 'exit 0' TERM INT",
        "while :; do sleep 3600 & wait $! || true; done",
    ]
    return "\n".join(lines) + "\n"


def render_inventory(fleet: "Fleet", fmt: str = "yaml", groups: dict[str, list[str]] | None = None,
                     host_vars: dict[str, dict] | None = None, group_vars: dict[str, dict] | None = None) -> str:
    """An Ansible inventory for the fleet: every host with ansible_host, root over SSH with the fleet's key."""
    all_vars = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(fleet.key),
        "ansible_ssh_common_args": SSH_OPTIONS,
        # A fleet-private ControlPath: a later fleet reusing these addresses must not reach a stale master.
        "ansible_control_path_dir": str(fleet.control_dir),
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    all_vars.update((group_vars or {}).get("all", {}))
    hosts = {h.name: {"ansible_host": h.ip, **(host_vars or {}).get(h.name, {})} for h in fleet.hosts}
    for group, members in (groups or {}).items():
        unknown = sorted(set(members) - set(hosts))
        if unknown:
            raise HostsError(f"inventory group {group}: no such host {', '.join(unknown)}")
    if fmt == "yaml":
        doc: dict = {"all": {"vars": all_vars, "hosts": hosts}}
        if groups:
            doc["all"]["children"] = {
                g: {"hosts": {m: None for m in members}, **({"vars": group_vars[g]} if g in (group_vars or {}) else {})}
                for g, members in groups.items()}
        return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    if fmt == "ini":
        def pairs(d: dict) -> str:
            return " ".join(f"{k}={_ini_value(v)}" for k, v in d.items())
        out = ["[all]"] + [f"{name} {pairs(v)}" for name, v in hosts.items()]
        out += ["", "[all:vars]"] + [f"{k}={_ini_value(v)}" for k, v in all_vars.items()]
        for g, members in (groups or {}).items():
            out += ["", f"[{g}]", *members]
            if g in (group_vars or {}):
                out += ["", f"[{g}:vars]"] + [f"{k}={_ini_value(v)}" for k, v in group_vars[g].items()]
        return "\n".join(out) + "\n"
    raise HostsError(f"inventory format {fmt!r}: use 'yaml' or 'ini'")


def _ini_value(value: object) -> str:
    # INI inventory values are parsed as Python literals when they look like one; quote anything with spaces.
    text = json.dumps(value) if not isinstance(value, str) else value
    return shlex.quote(text) if any(c.isspace() for c in text) else text


class Fleet:
    """`n` namespace hosts h1..hN with sshd, under `workdir`. Use as a context manager, or up()/down()."""

    def __init__(self, n: int, workdir: str | os.PathLike):
        if not 1 <= n <= MAX_HOSTS:
            raise HostsError(f"fleet size {n}: must be 1..{MAX_HOSTS}")
        self.n = n
        self.workdir = Path(workdir).resolve()
        self.net: int | None = None
        self.hosts: list[Host] = []
        self.key = self.workdir / "controller" / "id_ed25519"
        self.control_dir: Path | None = None
        self._launchers: dict[str, subprocess.Popen] = {}

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> "Fleet":
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    @property
    def bridge(self) -> str:
        return f"{BRIDGE_PREFIX}{self.net}"

    @property
    def gateway(self) -> str:
        return f"10.200.{self.net}.1"

    def up(self, timeout: float = 20) -> "Fleet":
        reason = unusable_reason()
        if reason:
            raise HostsError(reason)
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Short on purpose, in /tmp even when $TMPDIR is deep: a control socket (dir + "/" + Ansible's 10-character
        # hash, bound first with ssh's 17-byte ".<random>" suffix) must fit in a unix socket's 107 bytes.
        self.control_dir = Path(tempfile.mkdtemp(prefix="noops-cp-", dir="/tmp"))
        self._make_key()
        try:
            self._claim_bridge()
            self.hosts = [self._make_host(i) for i in range(1, self.n + 1)]
            self._save()
            for host in self.hosts:
                self._launch(host)
            self._save()
            self.wait_ssh(timeout=timeout)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Stop every host (its pid namespace dies with the launcher), delete namespaces and the bridge."""
        errors = []
        self._close_ssh_masters()
        for host in self.hosts:
            if host.launcher_pid:
                _kill_and_wait(host.launcher_pid, self._launchers.get(host.name))
                host.launcher_pid = 0
        if self.net is not None:
            # By name, not by self.hosts: a host whose setup failed half-way is not in the list. The bridge index
            # is this fleet's, so every name under it is too.
            for i in range(1, self.n + 1):
                # The kernel frees a deleted namespace, and the veth pair in it, only some time later; a fleet
                # made right after this one would find the names taken. Deleting the veth is immediate.
                run(["ip", "link", "del", self._veth(i)], check=False)
                netns_name = self._netns(i)
                if run(["ip", "netns", "pids", netns_name], check=False).returncode == 0:
                    proc = run(["ip", "netns", "del", netns_name], check=False)
                    if proc.returncode != 0:
                        errors.append(f"ip netns del {netns_name}: {proc.stderr.strip()}")
            run(["ip", "link", "del", self.bridge], check=False)
            (REGISTRY / f"{self.bridge}.json").unlink(missing_ok=True)
        if self.control_dir:
            _rmtree_quiet(self.control_dir)
        self._save()
        if errors:
            raise HostsError("; ".join(errors))

    @classmethod
    def load(cls, workdir: str | os.PathLike) -> "Fleet":
        """The fleet recorded in workdir/fleet.json (for `fleet-down` from another process)."""
        state_file = Path(workdir).resolve() / "fleet.json"
        if not state_file.exists():
            raise HostsError(f"{state_file}: no fleet recorded there")
        state = json.loads(state_file.read_text())
        fleet = cls(state["n"], state["workdir"])
        fleet.net = state["net"]
        fleet.control_dir = Path(state["control_dir"]) if state.get("control_dir") else None
        fleet.hosts = [Host(h["index"], h["name"], h["ip"], h["netns"], Path(h["root"]), h["launcher_pid"])
                       for h in state["hosts"]]
        return fleet

    # ---- using the hosts -------------------------------------------------------------------------------------
    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise HostsError(f"no host {name!r} in this fleet ({', '.join(h.name for h in self.hosts)})")

    def write_inventory(self, path: str | os.PathLike | None = None, fmt: str = "yaml", **kwargs) -> Path:
        """Write the inventory (see render_inventory for groups/host_vars/group_vars); returns its path."""
        target = Path(path) if path else self.workdir / f"inventory.{'yml' if fmt == 'yaml' else 'ini'}"
        target.write_text(render_inventory(self, fmt, **kwargs))
        return target

    def run(self, host: Host | str, cmd: str, *, check: bool = True, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a shell command inside the host (its network, mounts, hostname and pids), as root, without SSH."""
        host = self.host(host) if isinstance(host, str) else host
        pid1 = self._pid1(host)
        proc = run(["nsenter", "-t", str(pid1), "--mount", "--uts", "--pid", "--net", "--wd=/", "--",
                    "sh", "-c", cmd], check=False, input=input, timeout=timeout)
        if check and proc.returncode != 0:
            raise HostsError(f"{host.name}: {cmd}: exit {proc.returncode}: "
                             f"{(proc.stderr.strip() or proc.stdout.strip())[-2000:]}")
        return proc

    def sshd_running(self, host: Host | str) -> bool:
        return self.run(host, "test -s /run/sshd.pid && kill -0 $(cat /run/sshd.pid)", check=False).returncode == 0

    def stop_sshd(self, host: Host | str) -> None:
        """Fault injection: the host stays up (its services keep running) but no longer accepts SSH."""
        host = self.host(host) if isinstance(host, str) else host
        self.run(host, "kill $(cat /run/sshd.pid)")
        _wait_for(lambda: not _port_open(host.ip), 5, f"{host.name}: sshd still listening after kill")
        self.run(host, "rm -f /run/sshd.pid")
        self._close_ssh_masters()

    def start_sshd(self, host: Host | str, timeout: float = 10) -> None:
        host = self.host(host) if isinstance(host, str) else host
        self.run(host, f"{program('sshd')} -f {SSHD_DIR}/sshd_config -E /run/sshd.log")
        self.wait_ssh([host], timeout=timeout)

    def wait_ssh(self, hosts: list[Host] | None = None, timeout: float = 20) -> None:
        for host in hosts or self.hosts:
            _wait_for(lambda: _port_open(host.ip), timeout,
                      f"{host.name}: sshd not listening on {host.ip}:22 after {timeout} s; "
                      f"{self._tail(host)}")

    # ---- internals ---------------------------------------------------------------------------------------------
    def _make_key(self) -> None:
        if not self.key.exists():
            self.key.parent.mkdir(parents=True, exist_ok=True)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "noops-fleet", "-f", str(self.key)])

    def _claim_bridge(self) -> None:
        for net in range(MAX_NETS):
            proc = run(["ip", "link", "add", f"{BRIDGE_PREFIX}{net}", "type", "bridge"], check=False)
            if proc.returncode == 0:
                self.net = net
                break
        else:
            raise HostsError(f"no free bridge {BRIDGE_PREFIX}0..{MAX_NETS - 1}: run `python tests/hosts cleanup`")
        run(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        REGISTRY.mkdir(parents=True, exist_ok=True)
        (REGISTRY / f"{self.bridge}.json").write_text(
            json.dumps({"workdir": str(self.workdir), "owner_pid": os.getpid()}))

    def _netns(self, i: int) -> str:
        return f"noops{self.net}-h{i}"

    def _veth(self, i: int) -> str:
        """The host side of host i's veth pair (its namespace side is eth0)."""
        return f"nv{self.net}h{i}"

    def _make_host(self, i: int) -> Host:
        host = Host(i, f"h{i}", f"10.200.{self.net}.{10 + i}", self._netns(i), self.workdir / f"h{i}")
        for d in PRIVATE_DIRS:
            (host.root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
        os.chmod(host.root / "tmp", 0o1777)
        os.chmod(host.root / "root", 0o700)
        sshd_dir = host.path(SSHD_DIR)
        sshd_dir.mkdir(mode=0o700, exist_ok=True)
        host.path("/run/sshd").mkdir(mode=0o755, exist_ok=True)   # sshd's privilege separation dir
        (sshd_dir / "sshd_config").write_text(sshd_config(host.ip))
        hostkey = sshd_dir / "host_ed25519_key"
        if not hostkey.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(hostkey)])
        ssh_dir = host.path("/root/.ssh")
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(Path(str(self.key) + ".pub").read_text())
        os.chmod(ssh_dir / "authorized_keys", 0o600)

        veth = self._veth(i)
        run(["ip", "netns", "add", host.netns])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns])
        run(["ip", "link", "set", veth, "master", self.bridge, "up"])
        run(["ip", "-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", "eth0"])
        run(["ip", "-n", host.netns, "link", "set", "eth0", "up"])
        run(["ip", "-n", host.netns, "link", "set", "lo", "up"])
        run(["ip", "-n", host.netns, "route", "add", "default", "via", self.gateway])
        return host

    def _launch(self, host: Host) -> None:
        log = open(host.root / "launcher.log", "ab")
        cmd = ["ip", "netns", "exec", host.netns, "unshare", "--kill-child", "--mount", "--propagation", "private",
               "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c", launcher_script(host)]
        # Own session: a Ctrl-C in the terminal running the tests reaches the tests, which then tear down.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self._launchers[host.name] = proc
        host.launcher_pid = proc.pid

    def _pid1(self, host: Host) -> int:
        """Outside pid of the host's pid-namespace init (the launcher's forked child)."""
        if not host.launcher_pid:
            raise HostsError(f"{host.name}: not running")
        children = Path(f"/proc/{host.launcher_pid}/task/{host.launcher_pid}/children")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                pids = children.read_text().split()
            except FileNotFoundError:
                raise HostsError(f"{host.name}: launcher {host.launcher_pid} is gone; {self._tail(host)}") from None
            if pids:
                return int(pids[0])
            time.sleep(0.02)
        raise HostsError(f"{host.name}: launcher {host.launcher_pid} has no child")

    def _tail(self, host: Host) -> str:
        parts = []
        for f in (host.root / "launcher.log", host.path("/run/sshd.log")):
            if f.exists() and f.read_text().strip():
                parts.append(f"{f}: {f.read_text().strip()[-500:]}")
        return "; ".join(parts) or "no log output"

    def _close_ssh_masters(self) -> None:
        """End the ssh ControlMaster processes Ansible left behind, so nothing outlives the fleet."""
        if not self.control_dir or not self.control_dir.exists():
            return
        for sock in self.control_dir.iterdir():
            run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "unused"], check=False, timeout=10)

    def _save(self) -> None:
        if not self.workdir.exists():
            return
        state = {"n": self.n, "workdir": str(self.workdir), "net": self.net,
                 "control_dir": str(self.control_dir) if self.control_dir else None,
                 "hosts": [{"index": h.index, "name": h.name, "ip": h.ip, "netns": h.netns, "root": str(h.root),
                            "launcher_pid": h.launcher_pid} for h in self.hosts]}
        (self.workdir / "fleet.json").write_text(json.dumps(state, indent=2))


def cleanup_stale(include_live: bool = False) -> list[str]:
    """Tear down fleets whose owning process is gone (an interrupted test run); with include_live, every fleet.
    Returns the bridges removed."""
    removed = []
    for entry in sorted(REGISTRY.glob(f"{BRIDGE_PREFIX}*.json")) if REGISTRY.exists() else []:
        info = json.loads(entry.read_text())
        if not include_live and _alive(info.get("owner_pid", 0)):
            continue
        try:
            Fleet.load(info["workdir"]).down()
        except HostsError:
            pass
        bridge = entry.stem
        run(["ip", "link", "del", bridge], check=False)
        entry.unlink(missing_ok=True)
        removed.append(bridge)
    return removed


def _kill_and_wait(pid: int, proc: subprocess.Popen | None) -> None:
    # SIGKILL: unshare ignores SIGTERM while it waits for its child. The child (the host's pid 1) is killed with
    # it (--kill-child), and every process of the host with that.
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        proc.wait(timeout=10)
    else:
        # Not our child (a fleet loaded from fleet.json): it ends as a zombie of whoever adopted it.
        _wait_for(lambda: not _alive(pid), 10, f"launcher {pid} survived SIGKILL")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; only its parent has not collected it yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _port_open(ip: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_for(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise HostsError(message)
        time.sleep(0.02)


def _rmtree_quiet(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
