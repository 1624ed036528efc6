"""`python tests/hosts ...`: set up podman, run a Molecule scenario, bring a namespace fleet up or down."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from .common import HostsError


def _podman_setup(args: argparse.Namespace) -> int:
    from . import podman

    start = time.monotonic()
    report = podman.prepare()
    report["total_seconds"] = round(time.monotonic() - start, 1)
    print(json.dumps(report, indent=2))
    return 0


def _ee_base(args: argparse.Namespace) -> int:
    from . import podman

    reason = podman.unusable_reason()
    if reason:
        raise HostsError(reason)
    podman.setup_engine()
    print(json.dumps({"image": podman.EE_BASE_IMAGE, "rootfs": str(podman.ee_rootfs()),
                      "status": podman.ensure_ee_base_image()}, indent=2))
    return 0


def _molecule(args: argparse.Namespace) -> int:
    from . import molecule, podman

    podman.prepare()
    return molecule.run_scenario(args.scenario, args.command, extra_args=args.args, stream=True).returncode


def _fleet_up(args: argparse.Namespace) -> int:
    from .netns import Fleet

    fleet = Fleet(args.count, args.workdir)
    fleet.up()
    inventory = fleet.write_inventory(fmt=args.format)
    print(json.dumps({"workdir": str(fleet.workdir), "inventory": str(inventory),
                      "hosts": {h.name: h.ip for h in fleet.hosts}}, indent=2), flush=True)
    if args.detach:
        return 0
    # Hold the fleet until Ctrl-C or SIGTERM, then tear it down: the launchers stay this process's children and
    # are reaped here (with --detach they are orphans; `fleet-down` stops them later).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("fleet up; Ctrl-C to tear it down", file=sys.stderr, flush=True)
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        fleet.down()
    return 0


def _fleet_down(args: argparse.Namespace) -> int:
    from .netns import Fleet

    Fleet.load(args.workdir).down()
    return 0


def _fleet_time(args: argparse.Namespace) -> int:
    """Time one fleet's life: up, `ansible all -m ping` over SSH, down (the figures in docs/testing.md)."""
    import subprocess
    import tempfile

    from .common import REPO_ROOT
    from .netns import Fleet

    seconds = {}
    with tempfile.TemporaryDirectory(prefix="noops-fleet-") as workdir:
        start = time.monotonic()
        fleet = Fleet(args.count, workdir).up()
        seconds["up"] = time.monotonic() - start
        try:
            inventory = fleet.write_inventory()
            start = time.monotonic()
            ping = subprocess.run([str(Path(sys.executable).parent / "ansible"), "all", "-i", str(inventory),
                                   "-m", "ansible.builtin.ping"], cwd=REPO_ROOT, capture_output=True, text=True,
                                  check=False)
            seconds["ping"] = time.monotonic() - start
        finally:
            start = time.monotonic()
            fleet.down()
            seconds["down"] = time.monotonic() - start
    print(json.dumps({"hosts": args.count, "ping_rc": ping.returncode,
                      "seconds": {k: round(v, 2) for k, v in seconds.items()}}))
    return ping.returncode


def _cleanup(args: argparse.Namespace) -> int:
    from . import molecule, netns, podman

    removed: dict[str, list[str]] = {"fleets": netns.cleanup_stale(include_live=args.all)}
    if args.containers:
        removed["containers"] = podman.cleanup_containers(molecule.CONTAINER_LABEL)
    print(json.dumps(removed, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/hosts", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("podman-setup", help="make podman usable, build or reuse the images, unpack collections")
    p.set_defaults(handler=_podman_setup)

    p = sub.add_parser("ee-base", help="make the execution environment's base image (debootstrap, cached rootfs)")
    p.set_defaults(handler=_ee_base)

    p = sub.add_parser("molecule", help="run `molecule COMMAND -s SCENARIO` with the harness environment")
    p.add_argument("scenario")
    p.add_argument("command", nargs="?", default="test")
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to molecule after the scenario")
    p.set_defaults(handler=_molecule)

    p = sub.add_parser("fleet-up", help="start COUNT namespace hosts with sshd, print the inventory path, hold them until Ctrl-C")
    p.add_argument("count", type=int)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--format", choices=("ini", "yaml"), default="yaml")
    p.add_argument("--detach", action="store_true", help="return at once, leaving the fleet up for fleet-down")
    p.set_defaults(handler=_fleet_up)

    p = sub.add_parser("fleet-down", help="stop the fleet recorded in WORKDIR and remove its namespaces")
    p.add_argument("--workdir", type=Path, required=True)
    p.set_defaults(handler=_fleet_down)

    p = sub.add_parser("fleet-time", help="time a fleet of COUNT hosts: up, ansible ping over SSH, down")
    p.add_argument("count", type=int)
    p.set_defaults(handler=_fleet_time)

    p = sub.add_parser("cleanup", help="remove fleets whose owning process is gone, and Molecule leftovers")
    p.add_argument("--all", action="store_true", help="every fleet, also those of running processes")
    p.add_argument("--containers", action="store_true", help="also every container Molecule created (any scenario)")
    p.set_defaults(handler=_cleanup)

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except HostsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
