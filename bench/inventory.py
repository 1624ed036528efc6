#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the service_tree inventory plugin against a static YAML inventory of the same fleet.

    .venv/bin/python bench/inventory.py                 # 30,000 machines, plugin alone at 100,000
    .venv/bin/python bench/inventory.py --quick         # small sizes, a smoke run

Measures, each in a fresh process so that one run does not warm the next:
  parse    InventoryManager(...) over the source, timed inside the process
  --list   the whole `ansible-inventory -i SOURCE --list`, wall clock
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
import subprocess
import sys
import time
import typing as t

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
CONFIG = os.path.join(ROOT, "ansible.cfg")
sys.path.insert(0, os.path.join(ROOT, "collections"))

import yaml  # noqa: E402

from ansible_collections.noops.platform.plugins.module_utils.tree import load_tree  # noqa: E402

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


def static_inventory(doc: dict[str, t.Any]) -> dict[str, t.Any]:
    """The same inventory as the plugin builds, as a document for ansible's `yaml` inventory plugin."""
    layout = load_tree(doc, "bench").layout()
    groups: dict[str, dict[str, t.Any]] = {g: {} for g in layout.groups}
    for parent, child in layout.children:
        groups[parent].setdefault("children", {})[child] = None
    placed: set[str] = set()
    for group, members in layout.group_hosts.items():
        hosts = groups.setdefault(group, {}).setdefault("hosts", {})
        for name in members:
            hosts[name] = None if name in placed else layout.host_vars[name]
            placed.add(name)
    for group, group_vars in layout.group_vars.items():
        groups[group]["vars"] = group_vars
    return {"all": {"children": groups}}


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
        yaml.dump(static_inventory(doc), f, Dumper=Dumper, default_flow_style=False, sort_keys=False)
    return paths


def _env() -> dict[str, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=CONFIG)
    env.pop("ANSIBLE_INVENTORY_CACHE", None)
    return env


def time_parse(source: str) -> dict[str, t.Any]:
    """Parse `source` with InventoryManager in a fresh process; the time is taken inside it, imports excluded."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "_parse", source], cwd=ROOT, env=_env(),
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit("parse of %s failed:\n%s" % (source, proc.stderr[-3000:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _parse_child(source: str) -> None:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    loader = DataLoader()
    start = time.perf_counter()
    inventory = InventoryManager(loader=loader, sources=[source])
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "hosts": len(inventory.hosts), "groups": len(inventory.groups)}))


def time_list(source: str, tag: str) -> float:
    """Wall-clock seconds of `ansible-inventory -i source --list` (output written to a file)."""
    output = os.path.join(OUT, "list-%s.json" % tag)
    start = time.perf_counter()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", source,
                           "--list", "--output", output], cwd=ROOT, env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit("ansible-inventory on %s failed:\n%s" % (source, proc.stderr[-3000:]))
    return seconds


def time_queries(path: str, runs: int = 7) -> dict[str, tuple[float, int]]:
    """Best-of-`runs` seconds and match count of each query over the index of the tree at `path`."""
    with open(path) as f:
        tree = load_tree(yaml.load(f, Loader=Loader), path)
    out = {}
    for query in QUERIES:
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            names = tree.index.select(query)
            best = min(best, time.perf_counter() - start)
        out[query] = (best, len(names))
    return out


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.missed: list[str] = []

    def row(self, what: str, value: str, target: str = "", ok: bool | None = None) -> None:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        if ok is False:
            self.missed.append(what)
        self.rows.append((what, value, target, verdict))
        print("  %-46s %-30s %-16s %s" % self.rows[-1], flush=True)


def main(argv: t.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, default=30000, help="fleet size compared with static YAML")
    parser.add_argument("--big", type=int, default=100000, help="fleet size for the plugin alone and the queries")
    parser.add_argument("--quick", action="store_true", help="small sizes (2,000 / 5,000): a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.machines, args.big = 2000, 5000

    report = Report()
    print("noops inventory benchmark: %d machines vs static YAML, plugin alone at %d" % (args.machines, args.big))
    small = write_sources(args.machines, str(args.machines))
    static_parse = time_parse(small["static"])
    plugin_parse = time_parse(small["plugin"])
    if (static_parse["hosts"], static_parse["groups"]) != (plugin_parse["hosts"], plugin_parse["groups"]):
        raise SystemExit("static and plugin inventories differ: %r vs %r" % (static_parse, plugin_parse))
    report.row("fleet", "%d hosts, %d groups" % (plugin_parse["hosts"], plugin_parse["groups"]))
    report.row("parse, static YAML", "%.2f s" % static_parse["seconds"])
    report.row("parse, plugin", "%.2f s (%.3fx)" % (plugin_parse["seconds"],
                                                     plugin_parse["seconds"] / static_parse["seconds"]),
               "<= %.2fx" % PARSE_TARGET, plugin_parse["seconds"] <= PARSE_TARGET * static_parse["seconds"])
    static_list = time_list(small["static"], "static")
    plugin_list = time_list(small["plugin"], "plugin")
    report.row("ansible-inventory --list, static YAML", "%.2f s" % static_list)
    report.row("ansible-inventory --list, plugin", "%.2f s (%.3fx)" % (plugin_list, plugin_list / static_list),
               "<= %.2fx" % LIST_TARGET, plugin_list <= LIST_TARGET * static_list)

    big = write_sources(args.big, str(args.big))
    big_parse = time_parse(big["plugin"])
    report.row("parse, plugin at %d" % args.big, "%.2f s (%d groups)" % (big_parse["seconds"], big_parse["groups"]))
    report.row("ansible-inventory --list, plugin at %d" % args.big, "%.2f s" % time_list(big["plugin"], "big"))

    cache_dir = os.path.join(OUT, "cache-%d" % args.machines)
    for name in os.listdir(cache_dir) if os.path.isdir(cache_dir) else ():
        os.unlink(os.path.join(cache_dir, name))
    uncached = plugin_parse["seconds"]
    filling = time_parse(small["cached"])["seconds"]
    cached = time_parse(small["cached"])["seconds"]
    report.row("parse, cache miss (reads source, fills cache)", "%.2f s" % filling)
    report.row("parse, cached vs uncached", "%.2f s vs %.2f s" % (cached, uncached), "cached < uncached",
               cached < uncached)

    for query, (seconds, count) in time_queries(big["tree"]).items():
        report.row("query %s" % query, "%.1f ms (%d machines)" % (seconds * 1000, count),
                   "< %d ms" % (QUERY_TARGET * 1000), seconds < QUERY_TARGET)

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
