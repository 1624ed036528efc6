# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tag queries over an index of machines.

    query   = term *( "," term )
    term    = [ "!" | "&" ] pattern
    pattern = pair *( "_" pair )          ; values may use shell globs * ? [..]

As with Ansible host patterns, the plain terms are united, then each "&" term intersects and each "!"
term removes; a query made only of "&"/"!" terms starts from every machine. A machine matches a pattern
when one of its tags holds every pair of the pattern.

The index keeps, for every (key, value), the set of machines carrying it as a Python int used as a
bit set, so a query is a handful of big-integer AND/OR operations; only machines with several tags
need a per-tag check for multi-pair patterns.
"""

from __future__ import annotations

import fnmatch
import re
import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError, split_pairs

_GLOB_CHARS = re.compile(r"[*?\[]")


class Term(t.NamedTuple):
    op: str  # "" (union), "&" (intersect), "!" (exclude)
    pairs: tuple[tuple[str, str], ...]
    text: str


def parse_query(query: str) -> list[Term]:
    """Parse a query into terms, raising TagError with the position of a bad term."""
    if not isinstance(query, str) or not query.strip():
        raise TagError(str(query), "empty query")
    terms: list[Term] = []
    pos = 0
    for raw in query.split(","):
        stripped = raw.strip()
        lead = pos + (len(raw) - len(raw.lstrip()))
        if not stripped:
            raise TagError(query, "empty term", lead)
        op = ""
        if stripped[0] in "!&":
            op, stripped = stripped[0], stripped[1:].lstrip()
            lead += 1
        try:
            pairs = split_pairs(stripped, glob=True)
        except TagError as e:
            raise TagError(query, e.reason, lead + (e.pos or 0)) from e
        terms.append(Term(op, tuple(pairs), stripped))
        pos += len(raw) + 1
    return terms


def _iter_bits(bits: int) -> t.Iterator[int]:
    """Indexes of the set bits, ascending."""
    data = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
    table = _BYTE_BITS
    base = 0
    for byte in data:
        if byte:
            for b in table[byte]:
                yield base + b
        base += 8


_BYTE_BITS: tuple[tuple[int, ...], ...] = tuple(tuple(b for b in range(8) if n >> b & 1) for n in range(256))


def _bits(indexes: t.Iterable[int], size: int) -> int:
    """A bit set (int) with the given bit indexes set."""
    buf = bytearray((size + 7) // 8)
    for i in indexes:
        buf[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(buf, "little")


class TreeIndex:
    """Machines and their tags, indexed for queries.

    ``add(name, tags)`` in the order machines should be reported; ``select(query)`` returns names in that order.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self.tags: list[tuple[Tag, ...]] = []
        self._by_name: dict[str, int] = {}
        # key -> value -> machine indexes, collected by add(); turned into bit sets on the first query, since
        # or-ing one bit at a time into a growing int costs time proportional to the fleet for every machine.
        self._members: dict[str, dict[str, list[int]]] = {}
        self._multi_members: list[int] = []
        self._built: tuple[dict[str, dict[str, int]], int, int] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def add(self, name: str, tags: t.Sequence[Tag]) -> None:
        if name in self._by_name:
            raise ValueError("machine %s is already indexed" % name)
        idx = len(self.names)
        self._by_name[name] = idx
        self.names.append(name)
        self.tags.append(tuple(tags))
        if len(tags) > 1:
            self._multi_members.append(idx)
        members = self._members
        seen = set()
        for tag in tags:
            for pair in tag.items():
                if pair in seen:
                    continue
                seen.add(pair)
                key, value = pair
                values = members.get(key)
                if values is None:
                    values = members[key] = {}
                indexes = values.get(value)
                if indexes is None:
                    values[value] = [idx]
                else:
                    indexes.append(idx)
        self._built = None

    def _index(self) -> tuple[dict[str, dict[str, int]], int, int]:
        """(key -> value -> bit set, bit set of machines with several tags, bit set of every machine)."""
        if self._built is None:
            size = len(self.names)
            pairs = {key: {value: _bits(indexes, size) for value, indexes in values.items()}
                     for key, values in self._members.items()}
            self._built = (pairs, _bits(self._multi_members, size), (1 << size) - 1)
        return self._built

    def values(self, key: str) -> list[str]:
        return sorted(self._members.get(key, {}))

    def _pair_bits(self, key: str, value: str) -> int:
        values = self._index()[0].get(key)
        if not values:
            return 0
        if not _GLOB_CHARS.search(value):
            return values.get(value, 0)
        match = re.compile(fnmatch.translate(value)).match
        bits = 0
        for candidate, b in values.items():
            if match(candidate):
                bits |= b
        return bits

    def match_pattern(self, pairs: t.Sequence[tuple[str, str]]) -> int:
        """Bit set of machines with one tag holding every pair of the pattern."""
        _pairs, multi, everyone = self._index()
        bits = everyone
        for key, value in pairs:
            bits &= self._pair_bits(key, value)
            if not bits:
                return 0
        if len(pairs) < 2:
            return bits
        # A machine with one tag holds every pair in that tag; machines with several tags are checked tag by tag.
        ambiguous = bits & multi
        if ambiguous:
            matchers = [(k, re.compile(fnmatch.translate(v)).match if _GLOB_CHARS.search(v) else None, v)
                        for k, v in pairs]
            for idx in _iter_bits(ambiguous):
                if not any(_tag_matches(tag, matchers) for tag in self.tags[idx]):
                    bits &= ~(1 << idx)
        return bits

    def select_bits(self, query: str | t.Sequence[Term]) -> int:
        terms = parse_query(query) if isinstance(query, str) else query
        plain = [term for term in terms if term.op == ""]
        bits = 0
        for term in plain:
            bits |= self.match_pattern(term.pairs)
        if not plain:
            bits = self._index()[2]
        for term in terms:
            if term.op == "&":
                bits &= self.match_pattern(term.pairs)
        for term in terms:
            if term.op == "!":
                bits &= ~self.match_pattern(term.pairs)
        return bits

    def select(self, query: str | t.Sequence[Term]) -> list[str]:
        """Names of the machines matching the query, in index order."""
        names = self.names
        return [names[i] for i in _iter_bits(self.select_bits(query))]

    def count(self, query: str | t.Sequence[Term]) -> int:
        return bin(self.select_bits(query)).count("1")


def _tag_matches(tag: Tag, matchers: t.Sequence[tuple[str, t.Any, str]]) -> bool:
    for key, match, value in matchers:
        have = tag.get(key)
        if have is None:
            return False
        if match is None:
            if have != value:
                return False
        elif not match(have):
            return False
    return True
