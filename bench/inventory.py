#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the service_tree inventory plugin against a static YAML inventory of the same fleet.

    .venv/bin/python bench/inventory.py                 # 30,000 machines, plugin alone at 100,000
    .venv/bin/python bench/inventory.py --quick         # small sizes, a smoke run

Measures, each in a fresh process so that one run does not warm the next:
  parse    InventoryManager(...) over the source, timed inside the process (imports excluded)
  --list   the whole `ansible-inventory -i SOURCE --list --output FILE`, interpreter start included
both as CPU time (user + system of that process) and wall time. Targets are judged on CPU time, which does not
depend on what else runs on a shared machine; on an idle machine the two are close.
for the plugin and for ansible's own `yaml` inventory holding the same hosts, groups, vars and links; then the
plugin alone at --big machines, an uncached against a cached run, and tag queries over the index.
Prints a table with the ratios against the targets and exits 1 when a target is missed.
Generated files go to bench/out/ (not in git).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
import typing as t

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
CONFIG = os.path.join(ROOT, "ansible.cfg")
BIN = os.path.dirname(sys.executable)

import yaml  # noqa: E402

Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PARSE_TARGET = 0.10      # plugin parse time / static parse time
LIST_TARGET = 0.20       # plugin --list time / static --list time
QUERY_TARGET = 0.050     # seconds, best of several runs, at --big machines

QUERIES = (
    "service.s0042",
    "idc.lg_status.service",
    "cop.xiaomi_owt.o03,!status.offline",
    "service.s01*_idc.sd",
    "cluster.production-*,&loc.bj,!status.maintain",
)

# Machine rooms and the region they are in; a cluster named <env>-<idc> runs in that room.
IDCS = {"lg": "bj", "sd": "bj", "hh": "bj", "zw": "bj", "dg": "bj", "yz": "sh", "ks": "sh", "gz": "gz"}
ENVS = ("production", "production", "production", "staging", "preview")


def generate_fleet(machines: int, seed: int = 2014) -> dict[str, t.Any]:
    """A tree document of `machines` machines spread over cop/owt/pdl/service/cluster/job/loc/idc/status.

    About one service per 40 machines, two to four clusters per service, one or two jobs per service; 15 % of
    the machines also carry the tags of one or two services co-located in the same room; a few carry vars.
    """
    rnd = random.Random(seed)
    services = max(4, machines // 40)
    clusters: list[tuple[dict[str, str], float]] = []
    nodes: dict[str, dict[str, t.Any]] = {}
    idc_names = list(IDCS)
    for s in range(services):
        cop = "xiaomi" if s % 10 else "duokan"
        owt = "o%02d" % (s // 32 % 24)
        pdl = "%s-p%d" % (owt, s // 6 % 5)
        service = "s%04d" % s
        base = {"cop": cop, "owt": owt, "pdl": pdl, "service": service}
        nodes["cop.%s_owt.%s_pdl.%s_service.%s" % (cop, owt, pdl, service)] = {
            "vars": {"noops_path": "/home/work/%s" % service}}
        jobs = [service] if rnd.random() < 0.5 else [service, service + "-worker"]
        for idc in rnd.sample(idc_names, rnd.randint(2, 4)):
            env = rnd.choice(ENVS)
            tag = dict(base, cluster="%s-%s" % (env, idc), job=rnd.choice(jobs), loc=IDCS[idc], idc=idc)
            clusters.append((tag, rnd.random() + 0.2))
    for idc, loc in IDCS.items():
        nodes["idc.%s" % idc] = {"vars": {"noops_dns": "10.%d.0.53" % (idc_names.index(idc) + 1)}}
    total = sum(w for _, w in clusters)
    by_idc: dict[str, list[dict[str, str]]] = {}
    for tag, _ in clusters:
        by_idc.setdefault(tag["idc"], []).append(tag)
    out: dict[str, t.Any] = {}
    n = 0
    for ci, (tag, weight) in enumerate(clusters):
        count = max(1, round(machines * weight / total)) if ci < len(clusters) - 1 else machines - n
        for i in range(max(0, min(count, machines - n))):
            status = rnd.choices(("service", "offline", "maintain"), (85, 10, 5))[0]
            tags = [_tag_text(dict(tag, status=status))]
            if rnd.random() < 0.15:
                for other in rnd.sample(by_idc[tag["idc"]], min(len(by_idc[tag["idc"]]), rnd.randint(1, 2))):
                    if other is not tag:
                        tags.append(_tag_text(dict(other, status=status)))
            entry: dict[str, t.Any] = {"address": "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255),
                                       "tags": tags}
            if rnd.random() < 0.1:
                entry["vars"] = {"noops_port": 8000 + i % 1000}
            out["%s-%s-%s%03d.%s" % (tag["idc"], tag["service"], tag["job"][-6:], i, tag["loc"]) + "x%d" % n] = entry
            n += 1
    return {"machines": out, "nodes": nodes}


def _tag_text(pairs: dict[str, str]) -> str:
    return "_".join("%s.%s" % kv for kv in pairs.items())


def load_tree(doc: t.Any, source: str) -> t.Any:
    """The collection's tree loader, imported on first use: the `_parse` child must leave `ansible_collections`
    to Ansible's collection loader, which refuses a package already imported from sys.path."""
    collections = os.path.join(ROOT, "collections")
    if collections not in sys.path:
        sys.path.insert(0, collections)
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import load_tree as load
    return load(doc, source)


def static_inventory(doc: dict[str, t.Any]) -> dict[str, t.Any]:
    """The same inventory as the plugin builds, as a document for ansible's `yaml` inventory plugin.

    Tree-path groups nest inside their parents (a group listed under `all:` would become a child of `all`);
    groups without a parent sit under `all:`. A host's vars are written where the host first appears.
    """
    layout = load_tree(doc, "bench").layout()
    kids: dict[str, list[str]] = {}
    for parent, child in layout.children:
        kids.setdefault(parent, []).append(child)
    has_parent = {child for _, child in layout.children}
    placed: set[str] = set()

    def entry(group: str) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {}
        members = layout.group_hosts.get(group)
        if members:
            out["hosts"] = {}
            for name in members:
                out["hosts"][name] = None if name in placed else layout.host_vars[name]
                placed.add(name)
        if group in layout.group_vars:
            out["vars"] = layout.group_vars[group]
        if group in kids:
            out["children"] = {child: entry(child) for child in kids[group]}
        return out

    return {"all": {"children": {group: entry(group) for group in layout.groups if group not in has_parent}}}


class _NoAliasDumper(Dumper):  # type: ignore[misc, valid-type]
    """Write shared objects out in full: anchors and aliases would make the static file unlike a hand-written one."""

    def ignore_aliases(self, data: t.Any) -> bool:
        return True


def write_sources(machines: int, tag: str) -> dict[str, str]:
    """Write the tree, its plugin configs (plain and cached) and the static inventory; return their paths."""
    os.makedirs(OUT, exist_ok=True)
    doc = generate_fleet(machines)
    paths = {
        "tree": os.path.join(OUT, "tree-%s.yml" % tag),
        "plugin": os.path.join(OUT, "fleet-%s.noops.yml" % tag),
        "cached": os.path.join(OUT, "cached-%s.noops.yml" % tag),
        "static": os.path.join(OUT, "static-%s.yml" % tag),
    }
    with open(paths["tree"], "w") as f:
        yaml.dump(doc, f, Dumper=Dumper, default_flow_style=False, sort_keys=False)
    with open(paths["plugin"], "w") as f:
        yaml.dump({"plugin": "noops.platform.service_tree", "source": os.path.basename(paths["tree"])}, f, Dumper=Dumper)
    with open(paths["cached"], "w") as f:
        yaml.dump({"plugin": "noops.platform.service_tree", "source": os.path.basename(paths["tree"]),
                   "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
                   "cache_connection": os.path.join(OUT, "cache-%s" % tag)}, f, Dumper=Dumper)
    with open(paths["static"], "w") as f:
        yaml.dump(static_inventory(doc), f, Dumper=_NoAliasDumper, default_flow_style=False, sort_keys=False)
    return paths


def _env() -> dict[str, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=CONFIG)
    env.pop("ANSIBLE_INVENTORY_CACHE", None)
    return env


class Timing(t.NamedTuple):
    cpu: float   # user + system seconds of the measured process: what the work costs, whatever else runs
    wall: float  # elapsed seconds: what a user waits on this (possibly shared) machine


def time_parse(source: str) -> dict[str, t.Any]:
    """Parse `source` with InventoryManager in a fresh process; timed inside it, interpreter start and imports
    excluded. Returns {"cpu", "wall", "hosts", "groups"}."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "_parse", source], cwd=ROOT, env=_env(),
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit("parse of %s failed:\n%s" % (source, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _parse_child(source: str) -> None:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    init_plugin_loader()  # what the ansible CLIs do first: collections_path from ansible.cfg
    loader = DataLoader()
    cpu, wall = time.process_time(), time.perf_counter()
    inventory = InventoryManager(loader=loader, sources=[source])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"cpu": cpu, "wall": wall, "hosts": len(inventory.hosts), "groups": len(inventory.groups)}))


def time_list(source: str, tag: str) -> Timing:
    """The whole `ansible-inventory -i source --list --output FILE`, interpreter start included."""
    output = os.path.join(OUT, "list-%s.json" % tag)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", source, "--list", "--output", output],
                          cwd=ROOT, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit("ansible-inventory on %s failed:\n%s" % (source, proc.stderr[-3000:]))
    return Timing(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall)


def _plain(value: t.Any) -> t.Any:
    """--list output with `{"__ansible_unsafe": x}` (how untrusted strings are printed) replaced by x."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def listing_difference(tag_a: str, tag_b: str) -> str:
    """Empty when the two --list outputs hold the same groups, members, links and variables; else a summary."""
    with open(os.path.join(OUT, "list-%s.json" % tag_a)) as f:
        a = _plain(json.load(f))
    with open(os.path.join(OUT, "list-%s.json" % tag_b)) as f:
        b = _plain(json.load(f))
    if a == b:
        return ""
    groups = sorted(g for g in set(a) | set(b) if a.get(g) != b.get(g))
    return "%d entries differ, e.g. %s" % (len(groups), ", ".join(groups[:5]))


def time_queries(path: str, runs: int = 7) -> tuple[float, dict[str, tuple[float, int]]]:
    """Seconds to build the index of the tree at `path`, and best-of-`runs` seconds and match count per query."""
    with open(path) as f:
        tree = load_tree(yaml.load(f, Loader=Loader), path)
    start = time.perf_counter()
    index = tree.index  # built on first use
    build = time.perf_counter() - start
    out = {}
    for query in QUERIES:
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            names = index.select(query)
            best = min(best, time.perf_counter() - start)
        out[query] = (best, len(names))
    return build, out


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.missed: list[str] = []

    def row(self, what: str, value: str, target: str = "", ok: bool | None = None) -> None:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        if ok is False:
            self.missed.append(what)
        self.rows.append((what, value, target, verdict))
        print("  %-50s %-40s %-18s %s" % self.rows[-1], flush=True)


def _pair(cpu: float, wall: float) -> str:
    return "%.2f s cpu, %.2f s wall" % (cpu, wall)


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, default=30000, help="fleet size compared with static YAML")
    parser.add_argument("--big", type=int, default=100000, help="fleet size for the plugin alone and the queries")
    parser.add_argument("--quick", action="store_true", help="small sizes (2,000 / 5,000): a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.machines, args.big = 2000, 5000

    report = Report()
    print("noops inventory benchmark: %d machines vs static YAML, plugin alone at %d; targets judged on CPU time"
          % (args.machines, args.big))
    small = write_sources(args.machines, str(args.machines))
    static_parse = time_parse(small["static"])
    plugin_parse = time_parse(small["plugin"])
    if (static_parse["hosts"], static_parse["groups"]) != (plugin_parse["hosts"], plugin_parse["groups"]):
        raise SystemExit("static and plugin inventories differ: %r vs %r" % (static_parse, plugin_parse))
    report.row("fleet", "%d hosts, %d groups" % (plugin_parse["hosts"], plugin_parse["groups"]))
    report.row("parse, static YAML", _pair(static_parse["cpu"], static_parse["wall"]))
    ratio = plugin_parse["cpu"] / static_parse["cpu"]
    report.row("parse, plugin", "%s (%.3fx; wall %.3fx)" % (_pair(plugin_parse["cpu"], plugin_parse["wall"]), ratio,
                                                            plugin_parse["wall"] / static_parse["wall"]),
               "<= %.2fx" % PARSE_TARGET, ratio <= PARSE_TARGET)
    static_list = time_list(small["static"], "static")
    plugin_list = time_list(small["plugin"], "plugin")
    difference = listing_difference("static", "plugin")
    if difference:
        raise SystemExit("static and plugin --list outputs differ: %s" % difference)
    report.row("ansible-inventory --list, static YAML", _pair(*static_list))
    ratio = plugin_list.cpu / static_list.cpu
    report.row("ansible-inventory --list, plugin", "%s (%.3fx; wall %.3fx)" % (
        _pair(*plugin_list), ratio, plugin_list.wall / static_list.wall), "<= %.2fx" % LIST_TARGET,
        ratio <= LIST_TARGET)
    report.row("--list outputs", "identical (strings compared as text)")

    cache_dir = os.path.join(OUT, "cache-%d" % args.machines)
    for name in os.listdir(cache_dir) if os.path.isdir(cache_dir) else ():
        os.unlink(os.path.join(cache_dir, name))
    filling = time_parse(small["cached"])
    cached = time_parse(small["cached"])
    report.row("parse, cache miss (reads source, fills cache)", _pair(filling["cpu"], filling["wall"]))
    report.row("parse, cached vs uncached", "%.2f s vs %.2f s cpu" % (cached["cpu"], plugin_parse["cpu"]),
               "cached < uncached", cached["cpu"] < plugin_parse["cpu"])

    big = write_sources(args.big, str(args.big))
    big_parse = time_parse(big["plugin"])
    report.row("parse, plugin at %d" % args.big, "%s (%d groups)" % (_pair(big_parse["cpu"], big_parse["wall"]),
                                                                     big_parse["groups"]))
    report.row("ansible-inventory --list, plugin at %d" % args.big, _pair(*time_list(big["plugin"], "big")))
    build, queries = time_queries(big["tree"])
    report.row("query index build at %d" % args.big, "%.0f ms" % (build * 1000))
    for query, (seconds, count) in queries.items():
        report.row("query %s" % query, "%.2f ms (%d machines)" % (seconds * 1000, count),
                   "< %d ms" % (QUERY_TARGET * 1000), seconds < QUERY_TARGET and count > 0)

    if report.missed:
        print("targets missed: %s" % "; ".join(report.missed))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_parse":
        _parse_child(sys.argv[2])
        sys.exit(0)
    sys.exit(main())
