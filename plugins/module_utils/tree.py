# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service tree document: validation and the inventory layout it produces.

    machines:
      NAME: {address: 10.0.0.1, tags: [TAG, ...], vars: {...}}
    nodes:
      TAG: {vars: {...}}

``load_tree`` validates a parsed document (from a YAML file or JSON over HTTP) and returns a ``Tree``;
``Tree.layout()`` computes every group, parent/child link and variable once, in plain Python, so the
inventory plugin only has to hand the result to Ansible.
"""

from __future__ import annotations

import typing as t

from ansible_collections.noops.platform.plugins.module_utils.query import TreeIndex
from ansible_collections.noops.platform.plugins.module_utils.tags import (
    PATH_KEYS, Tag, TagError, group_name, join_pairs, split_pairs,
)

MACHINE_FIELDS = frozenset(("address", "tags", "vars"))
NODE_FIELDS = frozenset(("vars",))


class TreeError(ValueError):
    """A tree document that cannot be used; the message names the source, the machine and the field."""


class Machine(t.NamedTuple):
    name: str
    address: str | None
    tags: tuple[Tag, ...]
    raw_tags: tuple[str, ...]
    vars: dict[str, t.Any]


class Layout(t.NamedTuple):
    """What an inventory needs: groups (parents before children), links, hosts per group and variables."""
    groups: list[str]
    children: list[tuple[str, str]]          # (parent, child)
    group_hosts: dict[str, list[str]]        # group -> machine names
    host_vars: dict[str, dict[str, t.Any]]
    group_vars: dict[str, dict[str, t.Any]]


class Tree:
    def __init__(self, machines: list[Machine], nodes: dict[str, tuple[Tag, dict[str, t.Any]]], source: str) -> None:
        self.machines = machines
        self.nodes = nodes
        self.source = source
        self._index: TreeIndex | None = None
        self._by_name = {m.name: m for m in machines}

    @property
    def index(self) -> TreeIndex:
        """The query index, built on first use: an inventory without a query never needs it."""
        if self._index is None:
            index = TreeIndex()
            for machine in self.machines:
                index.add(machine.name, machine.tags)
            self._index = index
        return self._index

    def __len__(self) -> int:
        return len(self.machines)

    def get(self, name: str) -> Machine | None:
        return self._by_name.get(name)

    def select(self, query: str | None) -> list[Machine]:
        if not query:
            return list(self.machines)
        by_name = self._by_name
        return [by_name[n] for n in self.index.select(query)]

    def layout(self, query: str | None = None) -> Layout:
        """Groups, links, members and variables of the machines matching ``query`` (all when empty).

        A machine is a direct member of one group per pair it carries and of the deepest tree-path group of each
        of its tags; the shallower tree-path groups hold it through their children, as Ansible resolves nesting.
        """
        machines = self.select(query)
        group_hosts: dict[str, list[str]] = {}
        parents: dict[str, str | None] = {}  # tree-path group -> parent group (insertion = parents first)
        host_vars: dict[str, dict[str, t.Any]] = {}
        # Fleets repeat the same few thousand tags over many machines: work out each tag's groups once.
        tag_groups: dict[Tag, tuple[str, ...]] = {}
        tag_pairs: dict[Tag, dict[str, str]] = {}
        for machine in machines:
            mine: dict[str, None] = {}  # ordered set of this machine's groups
            for tag in machine.tags:
                groups = tag_groups.get(tag)
                if groups is None:
                    groups = tag_groups[tag] = self._tag_groups(tag, parents)
                for group in groups:
                    mine[group] = None
            for group in mine:
                members = group_hosts.get(group)
                if members is None:
                    group_hosts[group] = [machine.name]
                else:
                    members.append(machine.name)
            first = machine.tags[0]
            first_pairs = tag_pairs.get(first)
            if first_pairs is None:  # dict() of a Mapping goes key by key: build each distinct tag's once, copy after
                first_pairs = tag_pairs[first] = dict(first)
            hv: dict[str, t.Any] = {
                "noops_tags": list(machine.raw_tags),
                "noops_tag": dict(first_pairs),
            }
            if machine.address:
                hv["ansible_host"] = machine.address
            hv.update(machine.vars)
            host_vars[machine.name] = hv
        group_vars: dict[str, dict[str, t.Any]] = {}
        for node_text, (tag, node_vars) in self.nodes.items():
            if len(tag) == 1:
                (key, value), = tag.items()
                group = group_name("%s_%s" % (key, value))
            else:
                group = _path_groups(tag, parents)[-1]
                for node in _path_groups(tag, parents):
                    group_hosts.setdefault(node, [])
            group_hosts.setdefault(group, [])
            group_vars.setdefault(group, {}).update(node_vars)
        groups = list(parents) + [g for g in group_hosts if g not in parents]
        children = [(p, c) for c, p in parents.items() if p is not None]
        return Layout(groups, children, group_hosts, host_vars, group_vars)

    @staticmethod
    def _tag_groups(tag: Tag, parents: dict[str, str | None]) -> tuple[str, ...]:
        """A tag's direct groups: one per pair, then its deepest tree-path group (recording the path's links)."""
        groups = [group_name("%s_%s" % kv) for kv in tag.items()]
        path = _path_groups(tag, parents)
        if path:
            groups.append(path[-1])
        return tuple(dict.fromkeys(groups))


def _path_groups(tag: Tag, parents: dict[str, str | None]) -> list[str]:
    """The tree-path groups of a tag, root first; each one's parent is recorded in ``parents``."""
    out: list[str] = []
    parent = None
    path = tag.path()
    for depth in range(1, len(path) + 1):
        node = group_name(join_pairs(path[:depth]))
        if node not in parents:
            parents[node] = parent
        out.append(node)
        parent = node
    return out


def _where(source: str, name: str | None = None) -> str:
    return "%s: machine %s" % (source, name) if name is not None else source


def load_tree(doc: t.Any, source: str = "<tree>") -> Tree:
    """Validate a tree document; every problem raises TreeError naming the source, machine and field."""
    if doc is None:
        raise TreeError("%s: empty document (want a mapping with 'machines:')" % source)
    if not isinstance(doc, dict):
        raise TreeError("%s: top level is %s, want a mapping with 'machines:'" % (source, type(doc).__name__))
    unknown = sorted(set(doc) - {"machines", "nodes"})
    if unknown:
        raise TreeError("%s: unknown top-level field %r (want machines, nodes)" % (source, unknown[0]))
    raw_machines = doc.get("machines")
    if not isinstance(raw_machines, dict) or not raw_machines:
        raise TreeError("%s: field 'machines' must be a non-empty mapping of machine name -> entry, got %r"
                        % (source, _short(raw_machines)))
    # Most machines share their tag strings with others: parse each distinct string once.
    parsed: dict[str, Tag] = {}
    machines = [_load_machine(source, name, entry, parsed) for name, entry in raw_machines.items()]
    nodes: dict[str, tuple[Tag, dict[str, t.Any]]] = {}
    raw_nodes = doc.get("nodes") or {}
    if not isinstance(raw_nodes, dict):
        raise TreeError("%s: field 'nodes' must be a mapping of tag -> {vars: ...}, got %r" % (source, _short(raw_nodes)))
    for text, entry in raw_nodes.items():
        nodes[str(text)] = _load_node(source, text, entry)
    return Tree(machines, nodes, source)


def _load_machine(source: str, name: t.Any, entry: t.Any, parsed: dict[str, Tag]) -> Machine:
    if not isinstance(name, str) or not name.strip():
        raise TreeError("%s: machine name %r must be a non-empty string" % (source, name))
    where = _where(source, name)
    if entry is None:
        entry = {}
    if not isinstance(entry, dict):
        raise TreeError("%s: entry is %s, want a mapping with 'tags:'" % (where, type(entry).__name__))
    unknown = sorted(set(entry) - MACHINE_FIELDS)
    if unknown:
        raise TreeError("%s: unknown field %r (want address, tags, vars)" % (where, unknown[0]))
    raw_tags = entry.get("tags")
    if isinstance(raw_tags, str):
        raw_tags = [raw_tags]
    if not isinstance(raw_tags, list) or not raw_tags:
        raise TreeError("%s: field 'tags' must be a non-empty list of tags, got %r" % (where, _short(raw_tags)))
    tags = []
    for text in raw_tags:
        tag = parsed.get(text) if isinstance(text, str) else None
        if tag is None:
            try:
                tag = Tag(split_pairs(text))
            except TagError as e:
                raise TreeError("%s: tag %s" % (where, e)) from e
            parsed[text] = tag
        tags.append(tag)
    address = entry.get("address")
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise TreeError("%s: field 'address' must be a host name or IP string, got %r" % (where, address))
    host_vars = entry.get("vars") or {}
    if not isinstance(host_vars, dict):
        raise TreeError("%s: field 'vars' must be a mapping, got %r" % (where, _short(host_vars)))
    return Machine(name, address, tuple(tags), tuple(raw_tags), dict(host_vars))


def _load_node(source: str, text: t.Any, entry: t.Any) -> tuple[Tag, dict[str, t.Any]]:
    where = "%s: node %s" % (source, text)
    try:
        tag = Tag(split_pairs(text))
    except TagError as e:
        raise TreeError("%s: %s" % (where, e)) from e
    if len(tag) > 1 and len(tag.path()) != len(tag):
        raise TreeError("%s: a node is a single pair or a prefix of %s, got keys %s"
                        % (where, " > ".join(PATH_KEYS), ", ".join(tag)))
    entry = entry or {}
    if not isinstance(entry, dict):
        raise TreeError("%s: entry must be a mapping with 'vars:', got %r" % (where, _short(entry)))
    unknown = sorted(set(entry) - NODE_FIELDS)
    if unknown:
        raise TreeError("%s: unknown field %r (want vars)" % (where, unknown[0]))
    node_vars = entry.get("vars") or {}
    if not isinstance(node_vars, dict):
        raise TreeError("%s: field 'vars' must be a mapping, got %r" % (where, _short(node_vars)))
    return tag, dict(node_vars)


def _short(value: t.Any) -> t.Any:
    text = repr(value)
    return value if len(text) <= 60 else text[:57] + "..."
