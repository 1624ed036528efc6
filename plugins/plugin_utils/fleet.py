# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local fleet: many simulated hosts on this machine, for the demo, the tests and the benchmarks.

Each host is a machine of a service tree (its own tags, so every query, group and cluster.yml ``jobs`` works as on
a real fleet) reached with ``ansible_connection: local``. What keeps the hosts apart is ``noops_root`` (docs/design.md, host variables):
every absolute path a role writes on the host is prefixed by it, and each root runs its own supervisor instance.
A service on a local host also needs its own TCP port, given per host in ``odin_host_values`` (template values
that override cluster.yml's for that host).

The fleet is written as a service tree file plus a ``*.noops.yml`` inventory source for
``noops.platform.service_tree``, so ``noops tree show -i`` and ``ansible-inventory`` read it like any tree.
"""

from __future__ import annotations

import os
import socket
import typing as t

from ansible_collections.noops.platform.plugins.module_utils.supervisor import instance_layout
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError, split_pairs

TREE_FILE = "tree.yml"
INVENTORY_FILE = "tree.noops.yml"
# Where a host's service listens and what the fleet host vars call it.
HOST_VALUES_VAR = "odin_host_values"
SYNTHETIC_IDCS = ("lg", "sd", "hh")


class FleetError(ValueError):
    """A fleet that cannot be made as asked (the message says which value is wrong)."""


class FleetHost(t.NamedTuple):
    name: str
    idc: str
    root: str
    port: int
    tags: tuple[str, ...]


def service_tag(tag: Tag, service: str, pairs: t.Mapping[str, str] | None = None) -> Tag:
    """The tag of ``service`` on a machine that carries ``tag``: same company, product, cluster and room, unless
    ``pairs`` (e.g. the cop/owt/pdl of a cluster.yml's job tag) say otherwise.

    The machine keeps its own tags; this one is added beside them (a machine may carry several services).
    """
    out = {k: v for k, v in tag.items() if k != "jobgroup"}
    out.update(pairs or {})
    out["service"] = service
    out["job"] = service
    out["status"] = "service"
    return Tag(out)


def synthetic_tag(idc: str, service: str, cluster_prefix: str = "bench") -> Tag:
    return Tag([("cop", "noops"), ("owt", "local"), ("pdl", "fleet"), ("service", service),
                ("cluster", "%s-%s" % (cluster_prefix, idc)), ("job", service), ("loc", "local"), ("idc", idc),
                ("status", "service")])


def pick_machines(tree_doc: t.Mapping[str, t.Any], count: int, query_pairs: t.Sequence[tuple[str, str]] = (
        ("status", "service"),)) -> list[tuple[str, Tag]]:
    """Up to ``count`` machines of a tree document whose first matching tag holds ``query_pairs``.

    Machines are taken round-robin over machine rooms (idc), so even a small fleet spans several rooms; within
    a room, in the file's order. Returns (name, matching tag) pairs.
    """
    if count < 1:
        raise FleetError("a fleet needs at least 1 host, got %d" % count)
    by_idc: dict[str, list[tuple[str, Tag]]] = {}
    for name, entry in (tree_doc.get("machines") or {}).items():
        raw = (entry or {}).get("tags") or []
        for text in [raw] if isinstance(raw, str) else raw:
            try:
                tag = Tag(split_pairs(text))
            except TagError as e:
                raise FleetError("machine %s: tag %s" % (name, e)) from e
            if tag.holds(query_pairs) and "idc" in tag:
                by_idc.setdefault(tag["idc"], []).append((name, tag))
                break
    picked: list[tuple[str, Tag]] = []
    queues = [list(v) for v in by_idc.values()]
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return picked


def host_root(base_dir: str, name: str, index: int, backend: str = "supervisord") -> str:
    """The host's noops_root: ``base_dir/<name>``, or ``base_dir/h<index>`` when the name would push the
    supervisord socket out of the host's own run folder (supervisor.supervisord_socket moves a socket whose path,
    with the ``.<pid>`` supervisord binds first, is longer than a unix socket's 107 bytes to /tmp)."""
    root = os.path.join(os.path.abspath(base_dir), name)
    if backend == "supervisord" and not instance_layout(root, backend)["socket"].startswith(root + "/"):
        return os.path.join(os.path.abspath(base_dir), "h%d" % index)
    return root


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, start: int | None = None, taken: t.Collection[int] = ()) -> list[int]:
    """``count`` TCP ports free on 127.0.0.1: consecutive-ish from ``start``, else chosen by the kernel."""
    ports: list[int] = []
    if start is None:
        sockets = []
        try:
            while len(ports) < count:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.1", 0))
                sockets.append(s)
                port = s.getsockname()[1]
                if port not in taken:
                    ports.append(port)
        finally:
            for s in sockets:
                s.close()
        return ports
    port = start
    while len(ports) < count:
        if port > 65535:
            raise FleetError("no %d free ports from %d up" % (count, start))
        if port not in taken and port_is_free(port):
            ports.append(port)
        port += 1
    return ports


def plan_fleet(base_dir: str, count: int, service: str = "hello", tree_doc: t.Mapping[str, t.Any] | None = None,
               ports: t.Sequence[int] | None = None, backend: str = "supervisord",
               service_pairs: t.Mapping[str, str] | None = None) -> list[FleetHost]:
    """The hosts of a fleet of ``count`` machines under ``base_dir``.

    With ``tree_doc`` the machines are real names of that tree (round-robin over its rooms), each keeping its own
    tags plus a tag for ``service`` (with ``service_pairs`` in it); without it, synthetic machines
    ``<idc>-<service><n>`` spread over three rooms.
    ``ports`` gives each host's service port (default: free ports chosen now).
    """
    if tree_doc is not None:
        machines = [(name, tag, (str(tag), str(service_tag(tag, service, service_pairs)))) for name, tag in
                    pick_machines(tree_doc, count)]
        if len(machines) < count:
            raise FleetError("the tree has %d machines with status.service and a room, %d asked"
                             % (len(machines), count))
    else:
        if count < 1:
            raise FleetError("a fleet needs at least 1 host, got %d" % count)
        machines = []
        for i in range(count):
            idc = SYNTHETIC_IDCS[i % len(SYNTHETIC_IDCS)]
            tag = synthetic_tag(idc, service)
            machines.append(("%s-%s%02d" % (idc, service, i // len(SYNTHETIC_IDCS) + 1), tag, (str(tag),)))
    if ports is None:
        ports = free_ports(count)
    if len(ports) < count:
        raise FleetError("%d ports given for %d hosts" % (len(ports), count))
    return [FleetHost(name, tag["idc"], host_root(base_dir, name, i, backend), int(ports[i]), tags)
            for i, (name, tag, tags) in enumerate(machines)]


def fleet_tree(hosts: t.Sequence[FleetHost], backend: str = "supervisord", supervisor_venv: str | None = None,
               port_key: str = "port", host_vars: t.Mapping[str, t.Any] | None = None) -> dict[str, t.Any]:
    """A service tree document for the fleet: every machine local, with its root, supervisor and port.

    ``port_key`` names the template value that carries the host's port (the hello package reads ``port``).
    """
    machines: dict[str, t.Any] = {}
    for host in hosts:
        hvars: dict[str, t.Any] = {
            "ansible_connection": "local",
            # The controller's own Python: the venv that runs the playbook has every module's dependency.
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "noops_root": host.root,
            "noops_supervisor": backend,
            "noops_port": host.port,
            HOST_VALUES_VAR: {port_key: host.port},
        }
        if supervisor_venv:
            hvars["supervisor_venv"] = supervisor_venv
        hvars.update(host_vars or {})
        # No address: Ansible takes the first host whose address is 127.0.0.1 for `hosts: localhost`, and the
        # controller plays of the deploy would run as that fleet host.
        machines[host.name] = {"tags": list(host.tags), "vars": hvars}
    return {"machines": machines}


def jobs_of(hosts: t.Sequence[FleetHost], service: str) -> list[str]:
    """cluster.yml ``jobs`` selecting the fleet's ``service`` machines: one tag per company/department/product."""
    jobs: list[str] = []
    for host in hosts:
        for text in host.tags:
            tag = Tag(split_pairs(text))
            if tag.get("service") == service:
                job = str(Tag([(k, tag[k]) for k in ("cop", "owt", "pdl", "service", "job") if k in tag]))
                if job not in jobs:
                    jobs.append(job)
    return jobs


def read_fleet(tree_doc: t.Mapping[str, t.Any]) -> list[FleetHost]:
    """The hosts of a fleet tree written by ``fleet_tree`` (to reuse its roots and ports)."""
    hosts = []
    for name, entry in (tree_doc.get("machines") or {}).items():
        hvars = (entry or {}).get("vars") or {}
        if "noops_root" not in hvars:
            continue
        tags = tuple((entry or {}).get("tags") or ())
        idc = next((Tag(split_pairs(x)).get("idc", "") for x in tags), "")
        hosts.append(FleetHost(name, idc, hvars["noops_root"], int(hvars.get("noops_port", 0)), tags))
    return hosts


def inventory_source(tree_file: str = TREE_FILE) -> str:
    """The ``*.noops.yml`` inventory source that reads the fleet's tree file (path relative to it)."""
    return ("---\n# A local fleet: every machine is this computer, kept apart by noops_root.\n"
            "plugin: noops.platform.service_tree\nsource: %s\n" % tree_file)
