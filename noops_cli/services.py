"""``noops services [QUERY]``: the service table — per service cluster its tree node, jobs tag as written, package
or code URL, deploy path, instances running/total, deploy count, last version and last task.

``service_table`` builds it from three sources and is the one function both this command and the console's
Services page (and ``GET /api/v1/services``) call:

- the service tree (``noops tree``'s source) gives the nodes cop > owt > pdl > service > cluster and the machines;
- the cluster.yml files of the **clusters folders** give what is deployed where: every ``*.yml``/``*.yaml`` file
  below ``--clusters DIR`` (repeatable), else ``$NOOPS_CLUSTERS`` (folders separated by ``:``), else the
  ``clusters/`` folder beside the tree file. A cluster.yml belongs to the tree node its first ``jobs`` tag names,
  and its instances are the machines Odin would select for it (``cluster.select_hosts``);
- the history store (as ``noops tasks`` finds it) gives the deploys, through ``history_store.service_history``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import typing as t

from noops_cli.main import CliError

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import (
    InventoryHost, load_cluster_text, masked, parse_cluster, redact_url, requested, select_hosts,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.query import TreeIndex, parse_query
from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import is_url
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError, join_pairs

if t.TYPE_CHECKING:
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import Tree

CLUSTERS_ENV = "NOOPS_CLUSTERS"
CLUSTERS_FOLDER = "clusters"   # beside the tree file
RUNNING = ("success", "skipped")  # a host whose last deploy or rollback ended so runs a complete release


def cluster_dirs(explicit: t.Sequence[str] | None, tree_source: str,
                 env: t.Mapping[str, str] | None = None) -> list[str]:
    """The clusters folders: ``explicit``, else ``$NOOPS_CLUSTERS`` (split on ``os.pathsep``), else
    ``clusters/`` beside the tree file when it exists (none for a tree read from a URL)."""
    env = os.environ if env is None else env
    if explicit:
        return [os.path.abspath(d) for d in explicit]
    if env.get(CLUSTERS_ENV):
        return [os.path.abspath(d) for d in env[CLUSTERS_ENV].split(os.pathsep) if d]
    if tree_source and not is_url(tree_source):
        beside = os.path.join(os.path.dirname(os.path.abspath(tree_source)), CLUSTERS_FOLDER)
        if os.path.isdir(beside):
            return [beside]
    return []


def find_cluster_files(dirs: t.Sequence[str]) -> list[str]:
    """Every ``*.yml`` and ``*.yaml`` file below the folders (hidden files and folders skipped), sorted per
    folder."""
    found: list[str] = []
    for top in dirs:
        mine = []
        for folder, subdirs, files in os.walk(top):
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
            mine += [os.path.join(folder, f) for f in files
                     if f.endswith((".yml", ".yaml")) and not f.startswith(".")]
        found += sorted(mine)
    return list(dict.fromkeys(found))


def _path_of(tag: Tag) -> tuple[str, ...]:
    return tuple("%s.%s" % kv for kv in tag.path())


def _read_cluster(path: str) -> tuple[t.Any, t.Any, list[str], list[Tag]]:
    """(parsed Cluster or None, the document, problems, the jobs tags that could be read) of one cluster.yml,
    checked by Odin's own parser. The jobs tags are the cluster's; for a file Odin cannot read as a cluster, the
    well-formed ones of its ``jobs``, and for a file that is no YAML the job tags written in it (``_written_jobs``),
    so that its row still sits at its tree node."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        return None, None, ["%s: cannot read the cluster file: %s" % (path, e.strerror or e)], []
    doc, problems = load_cluster_text(text, path)
    if doc is None:
        return None, None, problems, _written_jobs(text)
    cluster, more = parse_cluster(doc, path, os.path.dirname(path))
    if cluster is not None:
        return cluster, doc, problems + more, list(cluster.jobs)
    asked = requested(doc)
    return None, doc, problems + more, [Tag.parse(asked["service"])] if asked.get("service") else []


_WRITTEN_JOB = re.compile(r"(?<![\w.\-])job\.[A-Za-z0-9_.\-]+")


def _written_jobs(text: bytes) -> list[Tag]:
    """The well-formed job tags (``job.x_service.y_...``) written in a cluster.yml that is no YAML, in order."""
    found: list[Tag] = []
    for m in _WRITTEN_JOB.finditer(text.decode("utf-8", "replace")):
        try:
            tag = Tag.parse(m.group(0))
        except TagError:
            continue
        if tag not in found:
            found.append(tag)
    return found


def service_table(tree: "Tree", cluster_files: t.Sequence[str], store: "HistoryStore | None" = None,
                  query: str | None = None) -> dict[str, t.Any]:
    """The service table: ``{"services": [ROW, ...], "problems": [...], "tree": [NODE, ...]}``, JSON-ready, secrets
    masked.

    ROW: ``node`` (the tree path, ``["cop.x", "owt.y", ...]``), ``jobs`` (the tags as written), ``cluster_file``
    (None for a tree cluster no cluster.yml deploys), ``name``, ``env``, ``url`` and ``url_kind`` (``pkg_url`` or
    ``code_url``), ``path``, ``instances`` ``{"running", "total"}``, ``hosts``, ``deploys``, ``last_version``,
    ``last_task`` (``{"id", "playbook", "status", "version", "initiator", "started_at", "ended_at"}``) and the
    cluster.yml's own ``problems``. ``total`` counts the machines Odin would select; ``running`` those whose last
    deploy or rollback of the service ended success or skipped (up to date). Without a ``store`` the history
    fields are None. Rows are in tree order; ``query`` (a tag query) keeps the rows with a node, jobs tag or
    machine tag that matches it. NODE: ``{"node", "query", "machines", "children"}``.

    Raises TagError for a bad query, StoreError when the store cannot be read.
    """
    if query:
        parse_query(query)
    inventory = [InventoryHost(m.name, m.address, m.raw_tags) for m in tree.machines]
    order = {m.name: i for i, m in enumerate(tree.machines)}
    rows: list[dict[str, t.Any]] = []
    row_tags: list[list[Tag]] = []
    covered: set[tuple[str, ...]] = set()
    for path in cluster_files:
        cluster, doc, problems, jobs = _read_cluster(path)
        asked = requested(doc)
        hosts: list[str] = []
        if cluster is not None and (cluster.jobs or cluster.hosts is not None):
            hosts, dummy, host_problems = select_hosts(cluster, inventory)
            problems += host_problems
        tags: list[Tag] = list(jobs)
        for name in hosts:
            machine = tree.get(name)
            mine = [tag for tag in machine.tags if not jobs or any(tag.holds(j.items()) for j in jobs)]
            tags += mine
            covered.update(_path_of(tag) for tag in mine)
        node = list(_path_of(jobs[0])) if jobs else []
        if node:
            tags.append(Tag(tuple(p.split(".", 1)) for p in node))
        block = (masked(doc).get(cluster.name) if cluster is not None and isinstance(doc, dict) else None) or {}
        kind = "pkg_url" if block.get("pkg_url") is not None else "code_url" if block.get("code_url") is not None \
            else None
        rows.append({
            "node": node, "jobs": [j.text for j in jobs], "cluster_file": path,
            "name": cluster.name if cluster is not None else asked.get("name"),
            "env": cluster.env if cluster is not None else None,
            "url": redact_url(str(block[kind])) if kind else None, "url_kind": kind,
            "path": cluster.path if cluster is not None else None,
            "instances": {"running": None, "total": len(hosts)}, "hosts": hosts,
            "deploys": None, "last_version": None, "last_task": None, "problems": problems,
            "_order": min((order[h] for h in hosts), default=len(order)),
        })
        row_tags.append(tags)
    by_path: dict[tuple[str, ...], list[str]] = {}
    path_tags: dict[tuple[str, ...], list[Tag]] = {}
    for machine in tree.machines:
        for tag in machine.tags:
            path = _path_of(tag)
            if path and path not in covered:
                names = by_path.setdefault(path, [])
                if machine.name not in names:
                    names.append(machine.name)
                path_tags.setdefault(path, []).append(tag)
    for path, names in by_path.items():
        rows.append({"node": list(path), "jobs": [], "cluster_file": None, "name": None, "env": None, "url": None,
                     "url_kind": None, "path": None, "instances": {"running": None, "total": len(names)},
                     "hosts": names, "deploys": None, "last_version": None, "last_task": None, "problems": [],
                     "_order": order[names[0]]})
        row_tags.append(path_tags[path])
    keep = list(range(len(rows)))
    if query:
        index = TreeIndex()
        for i, tags in enumerate(row_tags):
            index.add(str(i), tags)
        keep = sorted(int(i) for i in index.select(query))
    shown = sorted((rows[i] for i in keep), key=lambda r: (r["_order"], r["cluster_file"] or ""))
    if store is not None:
        from ansible_collections.noops.platform.plugins.plugin_utils.history.store import service_history

        history = service_history(store, [r["jobs"][0] for r in shown if r["jobs"] and r["cluster_file"]])
        for row in shown:
            if not row["cluster_file"]:
                continue
            seen = history.get(row["jobs"][0]) if row["jobs"] else None
            seen = seen or {"deploys": 0, "last_task": None, "last_version": None, "hosts": {}}
            row.update(deploys=seen["deploys"], last_task=seen["last_task"], last_version=seen["last_version"])
            row["instances"]["running"] = sum(1 for h in row["hosts"]
                                              if seen["hosts"].get(h, ("", None))[0] in RUNNING)
    for row in shown:
        del row["_order"]
    return {"services": shown, "problems": [p for r in shown for p in r["problems"]],
            "tree": browse_tree(tree)}


def browse_tree(tree: "Tree") -> list[dict[str, t.Any]]:
    """The tree cop > owt > pdl > service > cluster as nested ``{"node", "query", "machines", "children"}`` (each
    machine counted once per node, as ``noops tree show`` counts)."""
    top: dict[str, t.Any] = {"children": {}}
    for machine in tree.machines:
        seen: set[int] = set()
        for tag in machine.tags:
            node = top
            pairs = tag.path()
            for depth in range(1, len(pairs) + 1):
                label = "%s.%s" % pairs[depth - 1]
                child = node["children"].get(label)
                if child is None:
                    child = node["children"][label] = {"node": label, "query": join_pairs(pairs[:depth]),
                                                       "machines": 0, "children": {}}
                if id(child) not in seen:
                    seen.add(id(child))
                    child["machines"] += 1
                node = child

    def plain(node: dict[str, t.Any]) -> list[dict[str, t.Any]]:
        return [dict(child, children=plain(child)) for child in node["children"].values()]
    return plain(top)


def when(epoch: float | None) -> str:
    """Epoch seconds as ``2026-11-30 05:11`` (UTC), "-" when unset."""
    import datetime

    if epoch is None:
        return "-"
    return datetime.datetime.fromtimestamp(float(epoch), tz=datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")


# --- the command ----------------------------------------------------------------------------------------------------

def register(subparsers: t.Any) -> None:
    from noops_cli.tree import DEFAULT_SOURCE, SOURCE_ENV

    parser = subparsers.add_parser(
        "services", help="the service table: per service cluster its package, path, instances and deploys",
        description="Per service cluster of the tree: jobs tag, package or code URL, deploy path, instances "
                    "running/total, deploy count, last version and last task. cluster.yml files are read from "
                    "--clusters, else $%s, else the clusters/ folder beside the tree file." % CLUSTERS_ENV)
    parser.add_argument("query", nargs="?", metavar="QUERY",
                        help="only rows whose tree node, jobs tag or machines match this tag query")
    parser.add_argument("--source", metavar="FILE|URL",
                        help="tree file or URL; default: $%s, else %s" % (SOURCE_ENV, os.path.relpath(DEFAULT_SOURCE)))
    parser.add_argument("--clusters", action="append", metavar="DIR",
                        help="folder of cluster.yml files (repeatable)")
    parser.add_argument("--dsn", help="history store: a path, sqlite:///path or postgresql://...")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.set_defaults(handler=run_services)


def open_existing_store(dsn: str | None) -> "HistoryStore | None":
    """The history store, or None when it is a SQLite file that does not exist (it is not created for a read)."""
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
        HistoryStore, StoreError, parse_dsn,
    )
    from noops_cli.runner import history_dsn

    dsn = history_dsn(dsn)
    try:
        engine, target = parse_dsn(dsn)
        if engine == "sqlite" and not os.path.exists(target):
            return None
        return HistoryStore(dsn)
    except StoreError as e:
        raise CliError(str(e)) from e


def run_services(args: argparse.Namespace) -> int:
    import json

    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import StoreError
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import TreeError

    if args.query:
        try:
            parse_query(args.query)
        except TagError as e:
            raise CliError("bad query %s" % e) from e
    store = open_existing_store(args.dsn)
    try:
        table = table_for(args.query, args.source, args.clusters, store)
    except (StoreError, TreeError) as e:
        raise CliError(str(e)) from e
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(table, indent=2, sort_keys=True))
        return 0
    print_table(table, sys.stdout)
    return 0


def print_table(table: dict[str, t.Any], out: t.TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = Table(show_lines=False, header_style="bold", pad_edge=False)
    for title in ("node", "jobs", "package / code", "path", "instances", "deploys", "last version", "last task"):
        shown.add_column(title, overflow="fold")
    for row in table["services"]:
        running = row["instances"]["running"]
        task = row["last_task"]
        shown.add_row(
            " > ".join(row["node"][1:] if len(row["node"]) > 1 else row["node"]) or "-",
            "\n".join(row["jobs"] + (["(problems below: %s)" % os.path.basename(row["cluster_file"])]
                                     if row["problems"] and row["cluster_file"] else []))
            or ("-" if row["cluster_file"] else "(no cluster.yml)"),
            row["url"] or "-", row["path"] or "-",
            "%s/%d" % ("-" if running is None else running, row["instances"]["total"]),
            "-" if row["deploys"] is None else str(row["deploys"]),
            row["last_version"] or "-",
            "#%d %s %s" % (task["id"], task["status"], when(task["started_at"])) if task else "-")
    width = None if out.isatty() else 4096  # a pipe or file gets whole lines
    console = Console(file=out, highlight=False, width=width)
    console.print(shown)
    for problem in table["problems"]:
        console.print("problem: %s" % problem, markup=False, highlight=False)


def table_for(query: str | None = None, source: str | None = None, clusters: t.Sequence[str] | None = None,
              store: "HistoryStore | None" = None) -> dict[str, t.Any]:
    """``service_table`` over the tree ``source`` (default: ``$NOOPS_TREE``, else the example tree) and the
    cluster.yml files of ``clusters`` (default: as ``cluster_dirs`` finds them). Adds ``"source"`` and
    ``"clusters"`` (the folders read). Raises TreeError, TagError (bad query), StoreError."""
    from noops_cli.tree import default_source
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import display_source, load_source

    source = source or default_source()
    tree = load_source(source)
    dirs = cluster_dirs(clusters, source)
    table = service_table(tree, find_cluster_files(dirs), store, query)
    table.update(source=display_source(tree.source), clusters=dirs)
    return table
