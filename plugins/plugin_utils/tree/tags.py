# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service tree's tag grammar: parse, validate and print tags.

    tag   = pair *( "_" pair )
    pair  = key "." value
    key   = [a-z][a-z0-9]*
    value = [A-Za-z0-9] *[A-Za-z0-9.-]        ; no "_" inside a value

A tag is a set of pairs: order does not matter and a key appears at most once.
Pure Python, no Ansible imports, so the CLI, the plugins and the modules share it.
"""

from __future__ import annotations

import re
import typing as t

# Tree order of the known keys; unknown keys follow, sorted by name.
TREE_KEYS: tuple[str, ...] = ("cop", "owt", "pdl", "service", "cluster", "jobgroup", "job", "loc", "idc", "status")
# The organisational path that becomes nested inventory groups.
PATH_KEYS: tuple[str, ...] = ("cop", "owt", "pdl", "service", "cluster")
_KEY_RANK = {k: i for i, k in enumerate(TREE_KEYS)}

KEY_RE = re.compile(r"[a-z][a-z0-9]*\Z")
VALUE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*\Z")
# A pattern value may use shell globs: * ? [..] (and "!" or "^" inside brackets).
GLOB_VALUE_RE = re.compile(r"[A-Za-z0-9.\-*?\[\]!^]+\Z")
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class TagError(ValueError):
    """A tag, pattern or query that does not follow the grammar.

    ``str(err)`` is the one-line message: ``"cop.xiaomi__owt.x": empty pair at char 11``.
    """

    def __init__(self, text: str, reason: str, pos: int | None = None) -> None:
        self.text = text
        self.reason = reason
        self.pos = pos
        where = "" if pos is None else " at char %d" % pos
        super().__init__('"%s": %s%s' % (text, reason, where))


def key_order(key: str) -> tuple[int, str]:
    """Sort key putting known keys in tree order, then the others by name."""
    return (_KEY_RANK.get(key, len(TREE_KEYS)), key)


def split_pairs(text: str, glob: bool = False) -> list[tuple[str, str]]:
    """Split a tag (or, with ``glob``, a pattern) into (key, value) pairs, validating each.

    Positions in errors are 0-based character offsets into ``text``.
    """
    if not isinstance(text, str):
        raise TagError(str(text), "not a string (%s)" % type(text).__name__)
    if not text:
        raise TagError(text, "empty tag")
    value_re = GLOB_VALUE_RE if glob else VALUE_RE
    pairs: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    pos = 0
    for chunk in text.split("_"):
        if not chunk:
            raise TagError(text, "empty pair", pos)
        dot = chunk.find(".")
        if dot < 0:
            raise TagError(text, 'pair "%s" has no "."' % chunk, pos)
        key, value = chunk[:dot], chunk[dot + 1:]
        if not key:
            raise TagError(text, "empty key", pos)
        if not KEY_RE.match(key):
            raise TagError(text, 'bad key "%s" (want [a-z][a-z0-9]*)' % key, pos)
        if not value:
            raise TagError(text, 'empty value for key "%s"' % key, pos + dot + 1)
        if not value_re.match(value):
            want = "[A-Za-z0-9.-] or globs" if glob else "[A-Za-z0-9] then [A-Za-z0-9.-]*"
            raise TagError(text, 'bad value "%s" for key "%s" (want %s)' % (value, key, want), pos + dot + 1)
        if key in seen:
            raise TagError(text, 'key "%s" appears twice' % key, pos)
        seen[key] = pos
        pairs.append((key, value))
        pos += len(chunk) + 1
    return pairs


class Tag(t.Mapping[str, str]):
    """An immutable, validated tag: a mapping key -> value with canonical printing.

    Equality and hashing ignore the order the pairs were written in. ``str(tag)`` is the canonical (tree-ordered)
    spelling, for grouping and comparing; ``tag.text`` is the spelling the tag was parsed from, for anything
    handed back to the user (a template value, a process name, a report).
    """

    __slots__ = ("_pairs", "_canonical", "_hash", "_text")

    def __init__(self, pairs: t.Mapping[str, str] | t.Iterable[tuple[str, str]]) -> None:
        items = dict(pairs)
        ordered = sorted(items.items(), key=lambda kv: key_order(kv[0]))
        self._pairs: dict[str, str] = dict(ordered)
        self._canonical = "_".join("%s.%s" % kv for kv in ordered)
        self._hash = hash(frozenset(ordered))
        self._text = self._canonical

    @classmethod
    def parse(cls, text: str) -> "Tag":
        """The tag written as ``text``; raises TagError (naming the text and the character) when malformed."""
        tag = cls(split_pairs(text))
        tag._text = text
        return tag

    @property
    def text(self) -> str:
        """The tag as written (``Tag.parse``'s text); the canonical spelling for a tag built from pairs."""
        return self._text

    def __getitem__(self, key: str) -> str:
        return self._pairs[key]

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tag):
            return self._pairs == other._pairs
        if isinstance(other, str):
            try:
                return self == Tag.parse(other)
            except TagError:
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return self._canonical

    def __repr__(self) -> str:
        return "Tag(%r)" % self._canonical

    def path(self) -> list[tuple[str, str]]:
        """The tag's pairs along cop > owt > pdl > service > cluster, up to the first missing key."""
        out = []
        for key in PATH_KEYS:
            if key not in self._pairs:
                break
            out.append((key, self._pairs[key]))
        return out

    def holds(self, pairs: t.Iterable[tuple[str, str]]) -> bool:
        """True when every (key, value) is in this tag (exact values)."""
        mine = self._pairs
        return all(mine.get(k) == v for k, v in pairs)


def canonical(text: str) -> str:
    """The canonical (tree-ordered) spelling of a tag string."""
    return str(Tag.parse(text))


def join_pairs(pairs: t.Iterable[tuple[str, str]]) -> str:
    return "_".join("%s.%s" % kv for kv in pairs)


def group_name(text: str) -> str:
    """Ansible group name for a tag or pair string: every character outside [A-Za-z0-9_] becomes "_"."""
    return _GROUP_UNSAFE.sub("_", text)
