# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tag index of an Ansible inventory: every host's ``noops_tags`` host variable, parsed.

One policy for every plugin that reads tags from the inventory (``odin_prepare``, the ``naming`` lookup, the
``tag_query`` filter):

* ``noops_tags`` missing or null: the host has no tags (hosts of other inventory sources, ``localhost``); it
  matches no tag query.
* a list of tag strings (what the ``service_tree`` inventory sets), or one tag string: its tags.
* anything else - a value that is not a string or a list of strings, or a string that breaks the tag grammar - is
  an error naming the host and the value: ``host web1: noops_tags: "cop.x__owt.y": empty pair at char 6``. Every
  bad value of every host given is reported at once. A bad tag is never skipped: the host it sits on could be one
  the query was meant to select, and a deploy or an endpoint list that silently leaves it out is wrong.
"""

from __future__ import annotations

import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.tree.query import TreeIndex
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError

TAGS_VAR = "noops_tags"


class HostTagsError(ValueError):
    """Bad ``noops_tags`` values; ``problems`` holds one line per bad value (the message is all of them)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _show(value: t.Any) -> str:
    return '"%s"' % value if isinstance(value, str) else repr(value)


def host_tags(name: str, value: t.Any) -> tuple[tuple[Tag, ...], list[str]]:
    """(the tags of ``noops_tags`` ``value`` of host ``name``, one problem line per bad value).

    ``None`` gives no tags; a string is one tag; a list or tuple holds tag strings. The tags of the good values
    are returned even when there are problems.
    """
    if value is None:
        return (), []
    if isinstance(value, str):
        value = [value]
    elif not isinstance(value, (list, tuple)):
        return (), ["host %s: %s: %s: not a list of tags" % (name, TAGS_VAR, _show(value))]
    tags: list[Tag] = []
    problems = []
    for item in value:
        if not isinstance(item, str):
            problems.append("host %s: %s: %s: not a tag (a string)" % (name, TAGS_VAR, _show(item)))
            continue
        try:
            tags.append(Tag.parse(item))
        except TagError as e:
            problems.append("host %s: %s: %s" % (name, TAGS_VAR, e))
    return tuple(tags), problems


def parse_tags(hosts: t.Iterable[tuple[str, t.Any]]) -> tuple[dict[str, tuple[Tag, ...]], list[str]]:
    """({host: tags} in the given order, every problem of every host) for ``(name, noops_tags value)`` pairs."""
    tags: dict[str, tuple[Tag, ...]] = {}
    problems: list[str] = []
    for name, value in hosts:
        tags[name], found = host_tags(name, value)
        problems += found
    return tags, problems


def inventory_tags(names: t.Iterable[str], hostvars: t.Mapping[str, t.Any]) -> dict[str, tuple[Tag, ...]]:
    """{host: tags} of the inventory hosts ``names`` (in that order) from Ansible's ``hostvars``.

    Raises ``HostTagsError`` naming every host with a bad ``noops_tags`` value.
    """
    tags, problems = parse_tags((name, (hostvars.get(name) or {}).get(TAGS_VAR)) for name in names)
    if problems:
        raise HostTagsError(problems)
    return tags


def tag_index(tags: t.Mapping[str, t.Sequence[Tag]]) -> TreeIndex:
    """A ``TreeIndex`` of ``{host: tags}`` for tag queries, hosts in the mapping's order."""
    index = TreeIndex()
    for name, host in tags.items():
        index.add(name, host)
    return index
