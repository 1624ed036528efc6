"""``noops tree``: look at the service tree, query it, validate it, and edit machines and tags in the tree file.

Reading goes through plugin_utils/tree/source.py (file or http(s) URL), editing through plugin_utils/tree/edit.py
(round trip that keeps comments, validated, atomic); this module only parses arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing as t

from noops_cli import COLLECTION_ROOT
from noops_cli.main import CliError

from ansible_collections.noops.platform.plugins.plugin_utils.tree.query import parse_query
from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import display_source, is_url, load_source
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import PATH_KEYS, TagError
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import Tree, TreeError
from ansible_collections.noops.platform.plugins.plugin_utils.tree.edit import TreeEdit

SOURCE_ENV = "NOOPS_TREE"
DEFAULT_SOURCE = os.path.join(COLLECTION_ROOT, "examples", "tree.yml")
NO_PATH = "(no %s)" % PATH_KEYS[0]


def default_source() -> str:
    return os.environ.get(SOURCE_ENV) or DEFAULT_SOURCE


def register(subparsers: t.Any) -> None:
    tree = subparsers.add_parser(
        "tree", help="show, query, validate and edit the service tree",
        description="The service tree: machines marked with tags (cop > owt > pdl > service > cluster ...).")
    actions = tree.add_subparsers(dest="tree_command", metavar="ACTION")
    actions.required = True

    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("--source", metavar="FILE|URL",
                        help="tree file, or http(s) URL of the JSON document (read-only); default: $%s, else %s"
                        % (SOURCE_ENV, os.path.relpath(DEFAULT_SOURCE)))
    edit = argparse.ArgumentParser(add_help=False, parents=[source])
    edit.add_argument("--diff", action="store_true", help="print the change to the file as a unified diff")
    edit.add_argument("--check", action="store_true", help="validate and report the change, write nothing")

    show = actions.add_parser("show", parents=[source], help="the tree cop > owt > pdl > service > cluster, counted",
                              description="Print the tree cop > owt > pdl > service > cluster with machine counts.")
    show.add_argument("query", nargs="?", metavar="QUERY", help="count only the machines matching this query")
    show.add_argument("--machines", action="store_true", help="list the machines under their cluster")
    show.set_defaults(handler=cmd_show)

    query = actions.add_parser("query", parents=[source], help="names of the machines matching a query",
                               description="Print the names of the machines matching QUERY, one per line, in tree "
                               "order. Exit status 1 when none matches.")
    query.add_argument("query", metavar="QUERY", help="e.g. 'service.zk_idc.lg', 'service.dch,!status.offline'")
    query.add_argument("--json", action="store_true", help="print a JSON list")
    query.set_defaults(handler=cmd_query)

    validate = actions.add_parser("validate", parents=[source], help="check a tree file or URL",
                                  description="Load a tree and print 'N machines, M tags, K groups', or the error.")
    validate.add_argument("file", nargs="?", metavar="FILE", help="tree file or URL (default: --source)")
    validate.set_defaults(handler=cmd_validate)

    tag = actions.add_parser("tag", parents=[edit], help="add a tag to a machine")
    tag.add_argument("host", metavar="HOST")
    tag.add_argument("tag", metavar="TAG")
    tag.set_defaults(handler=cmd_edit, edit=lambda e, a: e.add_tag(a.host, a.tag))

    untag = actions.add_parser("untag", parents=[edit], help="remove a tag from a machine (pair order ignored)")
    untag.add_argument("host", metavar="HOST")
    untag.add_argument("tag", metavar="TAG")
    untag.set_defaults(handler=cmd_edit, edit=lambda e, a: e.remove_tag(a.host, a.tag))

    add = actions.add_parser("add-machine", parents=[edit], help="add a machine with its tags",
                             description="Add a machine after the last one of its cluster (else at the end).")
    add.add_argument("host", metavar="HOST")
    add.add_argument("--tag", dest="tags", action="append", required=True, metavar="TAG", help="repeat for more")
    add.add_argument("--address", metavar="A", help="IP or DNS name to connect to (ansible_host)")
    add.set_defaults(handler=cmd_edit, edit=lambda e, a: e.add_machine(a.host, a.tags, a.address))

    remove = actions.add_parser("remove-machine", parents=[edit], help="remove a machine")
    remove.add_argument("host", metavar="HOST")
    remove.set_defaults(handler=cmd_edit, edit=lambda e, a: e.remove_machine(a.host))


def _load(source: str | None) -> Tree:
    try:
        return load_source(source or default_source())
    except TreeError as e:
        raise CliError(str(e)) from e


def _check_query(query: str) -> None:
    try:
        parse_query(query)
    except TagError as e:
        raise CliError("bad query %s" % e) from e


# --- show ---------------------------------------------------------------------------------------------------------

class _Node:
    __slots__ = ("children", "machines")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.machines: list[str] = []  # distinct machines at or below this node


def build_counts(tree: Tree, query: str | None) -> tuple[_Node, int]:
    """The path tree of the selected machines: each node lists every machine at or below it once."""
    root = _Node()
    selected = tree.select(query)
    for machine in selected:
        seen: set[int] = set()
        leaves: list[_Node] = []
        for tag in machine.tags:
            path = tag.path() or [(NO_PATH, "")]
            node = root
            for key, value in path:
                node = node.children.setdefault("%s.%s" % (key, value) if value else key, _Node())
                if id(node) not in seen:
                    seen.add(id(node))
                    node.machines.append(machine.name)
            leaves.append(node)
    return root, len(selected)


def cmd_show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text
    from rich.tree import Tree as RichTree

    if args.query:
        _check_query(args.query)
    tree = _load(args.source)
    root, selected = build_counts(tree, args.query)
    title = Text(display_source(tree.source), style="bold")
    if args.query:
        title.append("  %s: %d of %d machines" % (args.query, selected, len(tree)))
    else:
        title.append("  %d machines" % selected)
    shown = RichTree(title)

    def add(branch: RichTree, node: _Node) -> None:
        for label, child in node.children.items():
            key, _, value = label.partition(".")
            text = Text(key, style="cyan")
            if value:
                text.append(".").append(value, style="bold")
            text.append("  %d" % len(child.machines), style="green")
            sub = branch.add(text)
            add(sub, child)
            if args.machines and not child.children:
                for name in child.machines:
                    sub.add(Text(name, style="dim"))

    add(shown, root)
    # A terminal crops to its width; a pipe or file gets whole lines (Rich would otherwise assume 80 columns).
    width = None if sys.stdout.isatty() else 4096
    Console(file=sys.stdout, highlight=False, width=width).print(shown)
    return 0


# --- query / validate ---------------------------------------------------------------------------------------------

def cmd_query(args: argparse.Namespace) -> int:
    _check_query(args.query)
    tree = _load(args.source)
    names = tree.index.select(args.query)
    if args.json:
        print(json.dumps(names))
    else:
        for name in names:
            print(name)
    if not names:
        print("noops: no machine matches %s" % args.query, file=sys.stderr)
        return 1
    return 0


def summary(tree: Tree) -> str:
    tags = {str(tag) for machine in tree.machines for tag in machine.tags}
    return "%d machines, %d tags, %d groups" % (len(tree), len(tags), len(tree.layout().groups))


def cmd_validate(args: argparse.Namespace) -> int:
    tree = _load(args.file or args.source)
    print("%s: %s" % (display_source(tree.source), summary(tree)))
    return 0


# --- edits --------------------------------------------------------------------------------------------------------

def cmd_edit(args: argparse.Namespace) -> int:
    source = args.source or default_source()
    if is_url(source):
        raise CliError("%s: a URL source is read-only; edits need a tree file (--source FILE)" % display_source(source))
    try:
        edit = TreeEdit.open(source)
        args.edit(edit, args)
        text = edit.render()
        edit.validate(text)  # before printing a diff of something that could not be written
        if args.diff or args.check:
            sys.stdout.write(edit.diff(text))
        if not args.check:
            edit.save(text)
    except (TreeError, TagError) as e:
        raise CliError(str(e)) from e
    verb = "would change" if args.check else "changed"
    for change in edit.changes:
        print("%s %s: %s" % (verb, source, change))
    return 0
