# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Naming: a tag query -> connection endpoints, nearest first (region-aware resolution, 区域化解析).

Machines in the caller's machine room (``idc``) come first, then those in its region (``loc``), then the
rest; ties keep the given (inventory) order. Pure Python so the lookup plugin and the CLI share it.
"""

from __future__ import annotations

import re
import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.tree.query import Term, TreeIndex, parse_query
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, group_name

_GLOB = re.compile(r"[*?\[]")

SAME_IDC, SAME_LOC, ELSEWHERE = 0, 1, 2


class NamedHost(t.NamedTuple):
    name: str
    address: str | None
    tags: tuple[Tag, ...]


class Place(t.NamedTuple):
    """Where the caller sits: every idc and loc named by its tags."""
    idcs: frozenset[str]
    locs: frozenset[str]

    @classmethod
    def of(cls, tags: t.Iterable[Tag]) -> "Place":
        tags = list(tags)
        return cls(frozenset(tag["idc"] for tag in tags if "idc" in tag),
                   frozenset(tag["loc"] for tag in tags if "loc" in tag))


NOWHERE = Place(frozenset(), frozenset())


def proximity(tags: t.Iterable[Tag], place: Place) -> int:
    """SAME_IDC, SAME_LOC or ELSEWHERE: the closest any of a machine's tags puts it to ``place``."""
    best = ELSEWHERE
    for tag in tags:
        if tag.get("idc") in place.idcs:
            return SAME_IDC
        if tag.get("loc") in place.locs:
            best = SAME_LOC
    return best


def order_by_proximity(hosts: t.Sequence[NamedHost], place: Place) -> list[NamedHost]:
    """Same idc first, then same loc, then the rest; ``sorted`` is stable, so ties keep their order."""
    if not place.idcs and not place.locs:
        return list(hosts)
    return sorted(hosts, key=lambda host: proximity(host.tags, place))


def endpoint(host: NamedHost, port: int | None = None) -> str:
    """``address:port``, or the address alone without a port; the machine name stands in for a missing address."""
    address = host.address or host.name
    if port is None:
        return address
    if ":" in address and not address.startswith("["):
        address = "[%s]" % address  # an IPv6 literal needs brackets before ":port"
    return "%s:%d" % (address, port)


def resolve(hosts: t.Sequence[NamedHost], query: str | t.Sequence[Term], place: Place = NOWHERE,
            port: int | None = None) -> list[str]:
    """Endpoints of the hosts matching ``query``, nearest to ``place`` first. Raises TagError on a bad query."""
    terms = parse_query(query) if isinstance(query, str) else query
    index = TreeIndex()
    for host in hosts:
        index.add(host.name, host.tags)
    chosen = set(index.select(terms))
    matching = [host for host in hosts if host.name in chosen]
    return [endpoint(host, port) for host in order_by_proximity(matching, place)]


def candidate_hosts(query: str | t.Sequence[Term], groups: t.Mapping[str, t.Iterable[str]]) -> set[str] | None:
    """The only hosts that can match ``query``, read from the inventory's pair groups; None = every host.

    The service_tree inventory puts every machine carrying ``key.value`` into group ``key_value``, so a plain term
    can only match members of all its exact pairs' groups; "&" and "!" terms only narrow further. Resolving then
    reads the variables of these hosts only, instead of every host of the inventory. A term whose pairs are all
    globs or have no group gives no narrowing.
    """
    terms = parse_query(query) if isinstance(query, str) else query
    plain = [term for term in terms if term.op == ""]
    if not plain:
        return None
    hosts: set[str] = set()
    for term in plain:
        members = [groups[name] for name in
                   (group_name("%s_%s" % pair) for pair in term.pairs if not _GLOB.search(pair[1])) if name in groups]
        if not members:
            return None
        narrowed = set(members[0])
        for more in members[1:]:
            narrowed.intersection_update(more)
        hosts |= narrowed
    return hosts
