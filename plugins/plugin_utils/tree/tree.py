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

import re
import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.tree.query import TreeIndex
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import (
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
    """Validate a tree document into a ``Tree``.

    Besides each machine's and node's fields, it refuses what Ansible would read differently: a machine name
    Ansible parses again (``host:port``, ``,``, ``[..]``, spaces, a leading ``!``, ``&``, ``~`` or ``@``, globs,
    ``all``, ``ungrouped``, ``localhost`` or a group name of the tree), and two different pairs or tree paths whose
    group names are the same (``cluster.prod-eu`` and ``cluster.prod.eu`` are both ``cluster_prod_eu``).

    :raises TreeError: every problem found, one line each naming the source, the machine or node, the field and
        the value (the structure of the document itself stops at the first).
    """
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
    # Most machines share their tag strings with others: parse each distinct string once, and remember the first
    # machine that carries it (for messages).
    parsed: dict[str, Tag] = {}
    first_of: dict[str, str] = {}
    problems: list[str] = []
    machines = []
    for name, entry in raw_machines.items():
        try:
            machines.append(_load_machine(source, name, entry, parsed, first_of))
        except TreeError as e:
            problems.append(str(e))
    nodes: dict[str, tuple[Tag, dict[str, t.Any]]] = {}
    raw_nodes = doc.get("nodes") or {}
    if not isinstance(raw_nodes, dict):
        problems.append("%s: field 'nodes' must be a mapping of tag -> {vars: ...}, got %r"
                        % (source, _short(raw_nodes)))
        raw_nodes = {}
    for text, entry in raw_nodes.items():
        try:
            nodes[str(text)] = _load_node(source, text, entry)
        except TreeError as e:
            problems.append(str(e))
    groups, collisions = _group_names(source, parsed, first_of, nodes)
    for machine in machines:
        problem = machine_name_problem(machine.name, groups)
        if problem:
            problems.append('%s: name "%s": %s' % (_where(source, machine.name), machine.name, problem))
    problems += collisions
    if problems:
        raise TreeError("\n".join(problems))
    return Tree(machines, nodes, source)


# A machine name Ansible uses as it is: a host name or an IPv4 address.
MACHINE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
_HOST_PORT_RE = re.compile(r"([^:\[\]]+):(\d+)\Z")
# Names Ansible resolves to something else than an inventory host of that name.
RESERVED_GROUPS = ("all", "ungrouped")
LOCALHOST_NAMES = ("localhost", "127.0.0.1", "::1")


def machine_name_problem(name: str, groups: t.Container[str] = ()) -> str | None:
    """Why Ansible would read machine name ``name`` as something else (None when it is a plain host name).

    A name goes through Ansible's host parsing (``add_host`` reads ``host:port``) and host patterns (``,``, ``:``,
    ``[..]``, spaces, a leading ``!``, ``&``, ``~`` or ``@``, globs), and a pattern equal to a group name targets
    the group.
    """
    if MACHINE_NAME_RE.match(name):
        if name in RESERVED_GROUPS:
            extra = " (every host)" if name == "all" else ""
            return 'Ansible would target its group "%s"%s, not this machine' % (name, extra)
        if name in LOCALHOST_NAMES:
            return ("Ansible treats it as the controller (implicit localhost); name the machine by its host name and "
                    "give the address")
        if name in groups:
            return "Ansible would target the group %s of this tree, not this machine" % name
        return None
    read = "Ansible would read"
    port = _HOST_PORT_RE.match(name)
    if port and MACHINE_NAME_RE.match(port.group(1)):
        return ('%s it as host "%s", port %s (give the port as vars: {ansible_port: %s})'
                % (read, port.group(1), port.group(2), port.group(2)))
    if name in LOCALHOST_NAMES:
        return ("Ansible treats it as the controller (implicit localhost); name the machine by its host name and "
                "give the address")
    if name[0] in "!&~@":
        return '%s a leading "%s" as a host pattern operator' % (read, name[0])
    if "[" in name or "]" in name:
        return '%s "[..]" as a range or subscript of hosts' % read
    if ":" in name:
        return "%s \":\" as a port or pattern separator (an IPv6 address goes in 'address')" % read
    if "," in name:
        return '%s "," as a list of host patterns' % read
    if any(c.isspace() for c in name):
        return "%s a space as a list of host patterns" % read
    for glob in "*?":
        if glob in name:
            return '%s "%s" as a wildcard of a host pattern' % (read, glob)
    return 'want letters, digits, ".", "-" and "_" (a host name or IP address)'


def _group_names(source: str, parsed: t.Mapping[str, Tag], first_of: t.Mapping[str, str],
                 nodes: t.Mapping[str, tuple[Tag, dict[str, t.Any]]]) -> tuple[dict[str, t.Any], list[str]]:
    """Every inventory group the tree makes, and a problem line per group two different texts map to.

    A group is named after a pair (``cluster.prod-eu``) or a tree path (``cop.a_owt.b``) with every character
    outside [A-Za-z0-9_] turned into "_": ``cluster.prod-eu`` and ``cluster.prod.eu`` would be one group, and the
    vars of one's nodes would reach the other's machines.
    """
    made: dict[str, tuple[str, str, str | None]] = {}   # group -> (pair or path text, tag text, machine or None)
    collisions: list[str] = []
    reported: set[tuple[str, str]] = set()  # (tag, other tag): a deeper path group repeats the same clash

    def add(group: str, text: str, tag_text: str, machine: str | None) -> None:
        known = made.get(group)
        if known is None:
            made[group] = (text, tag_text, machine)
            return
        if known[0] == text or (tag_text, known[1]) in reported:
            return
        reported.add((tag_text, known[1]))
        where = _where(source, machine) + ': tag "%s"' % tag_text if machine is not None else \
            "%s: node %s" % (source, tag_text)
        other = 'tag "%s" of machine %s' % (known[1], known[2]) if known[2] is not None else "node %s" % known[1]
        collisions.append('%s: group %s of "%s" is also the group of "%s" (%s): Ansible group names turn "." and '
                          '"-" into "_"' % (where, group, text, known[0], other))

    def texts(tag: Tag, pairs: bool) -> list[str]:
        """The texts of a tag's groups: its pairs (with ``pairs``) and its tree-path prefixes."""
        out = str(tag).split("_") if pairs else []   # the canonical text is the pairs joined by "_"
        prefix = ""
        for key, value in tag.path():
            prefix = "%s%s.%s" % (prefix + "_" if prefix else "", key, value)
            out.append(prefix)   # (a one-pair prefix is the pair's own group: the same text, skipped below)
        return out

    # Fleets repeat the same pairs and paths in thousands of tags: each distinct text is named and checked once.
    done: set[str] = set()
    for tag_text, tag in parsed.items():
        for text in texts(tag, True):
            if text not in done:
                done.add(text)
                add(group_name(text), text, tag_text, first_of[tag_text])
    for node_text, (tag, _vars) in nodes.items():
        for text in texts(tag, len(tag) == 1):
            if text not in done:
                done.add(text)
                add(group_name(text), text, node_text, None)
    return made, collisions


def _load_machine(source: str, name: t.Any, entry: t.Any, parsed: dict[str, Tag], first_of: dict[str, str]) -> Machine:
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
            first_of[text] = name
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
