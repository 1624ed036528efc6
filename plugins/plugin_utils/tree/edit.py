# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Editing a service tree file in place, keeping its comments, order and layout (ruamel.yaml round trip).

    edit = TreeEdit.open("tree.yml")
    edit.add_tag("lg-zk01.bj", "status.offline_cop.xiaomi")
    edit.save()                       # validates the whole edited document, then replaces the file atomically

Every edit is checked before anything is written: the tag is valid, the machine exists (or does not yet), and
the edited text, parsed again exactly as readers will parse it, still loads with ``load_tree``. The file is then
replaced in one ``os.replace`` of a temporary file written in the same folder, with the original mode.

ruamel keeps the comments of a YAML file on the node *before* them: the comment block above a machine is held by
the last value of the previous machine (or by the machine's key when the previous value is a flow collection).
So every edit first detaches the comment lines that follow the entry it touches and re-attaches them after the
new last entry; otherwise adding a machine would slip it under the next group's heading comment, and removing
one would drop the heading of the group after it.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import stat
import tempfile
import typing as t

try:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import CommentMark, YAMLError
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString
    from ruamel.yaml.tokens import CommentToken
except ImportError:  # pragma: no cover - ruamel.yaml is a dependency of the noops command; this runs nowhere else
    YAML = CommentedMap = CommentedSeq = CommentMark = CommentToken = DoubleQuotedScalarString = None

    class YAMLError(Exception):  # type: ignore[no-redef]
        """Stand-in so that except clauses stay valid when ruamel.yaml is missing."""

from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import parse_yaml
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import (
    Tree, TreeError, load_tree, machine_name_problem,
)
from ansible_collections.noops.platform.plugins.plugin_utils.yaml_file import plain_is_not_text

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: edits are still atomic, only not serialised
    fcntl = None  # type: ignore[assignment]

# Host names as inventories use them: letters, digits, ".", "-", "_" (no spaces, no ":" which reads as a port).


class EditError(TreeError):
    """An edit that cannot be made; the message names the file, the machine and the value."""


def _round_trip_yaml(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # tags are long: never fold a line the file did not fold
    mapping, sequence, offset = guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


_NESTED_KEY = re.compile(r"( +)[^\s#-][^:#]*:(\s|$)")
_BLOCK_KEY = re.compile(r"( *)[^\s#-][^:#]*:\s*(#.*)?$")
_DASH = re.compile(r"( *)-( +)\S")


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as ruamel names them, read from the file's first
    nested key and first block list; a file without block lists gets the DESIGN layout "tags:\n  - TAG".

    Read with two regular expressions rather than ruamel's own guess, which parses the whole file a second time.
    """
    mapping = offset = gap = None
    previous = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if mapping is None:
            match = _NESTED_KEY.match(line)
            if match:
                mapping = len(match.group(1))
        if offset is None and previous is not None:
            dash = _DASH.match(line)
            if dash:
                offset = len(dash.group(1)) - len(previous.group(1))
                gap = len(dash.group(2))
        previous = _BLOCK_KEY.match(line)
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    if offset is None or offset < 0 or gap is None:
        offset, gap = mapping, 1
    # ruamel's "sequence" is where an item's content starts relative to its key: after the dash and its spaces
    return mapping, offset + 1 + gap, offset


# --- comment bookkeeping -----------------------------------------------------------------------------------------

def _last_slot(node: t.Any) -> tuple[t.Any, t.Any, int] | None:
    """(container, key or index, slot) of the comment written after the last scalar or flow value in ``node``."""
    while True:
        if isinstance(node, CommentedMap) and len(node):
            key = next(reversed(node))
            value = node[key]
            if _is_block(value):
                node = value
                continue
            return node, key, 2
        if isinstance(node, CommentedSeq) and len(node):
            idx = len(node) - 1
            value = node[idx]
            if _is_block(value):
                node = value
                continue
            return node, idx, 0
        return None


def _is_block(value: t.Any) -> bool:
    return isinstance(value, (CommentedMap, CommentedSeq)) and len(value) > 0 and not value.fa.flow_style()


def pop_following(node: t.Any) -> str:
    """Detach and return the whole comment lines that follow ``node`` (an end-of-line comment stays)."""
    slot = _last_slot(node)
    if slot is None:
        return ""
    container, key, pos = slot
    entry = container.ca.items.get(key)
    token = entry[pos] if entry and len(entry) > pos else None
    if token is None or "\n" not in token.value:
        return ""
    head, _sep, rest = token.value.partition("\n")
    token.value = head + "\n"
    return rest


def push_following(node: t.Any, lines: str) -> None:
    """Attach comment lines (as returned by ``pop_following``) after ``node``."""
    if not lines:
        return
    slot = _last_slot(node)
    if slot is None:
        return
    container, key, pos = slot
    entry = container.ca.items.setdefault(key, [None, None, None, None])
    if entry[pos] is None:
        entry[pos] = CommentToken("\n" + lines, CommentMark(0), None)
    else:
        entry[pos].value += lines


def _before_lines(mapping: CommentedMap, key: t.Any) -> str:
    """Comment lines ruamel holds *on* ``key`` (after a flow value), as text."""
    entry = mapping.ca.items.get(key)
    if not entry or not entry[1]:
        return ""
    return "".join((" " * tok.column if tok.value.strip() else "") + tok.value for tok in entry[1])


def _prepend_before(mapping: CommentedMap, key: t.Any, lines: str) -> None:
    if not lines:
        return
    tokens = []
    for line in lines.splitlines(keepends=True):
        stripped = line.lstrip(" ")
        tokens.append(CommentToken(stripped, CommentMark(len(line) - len(stripped)), None))
    entry = mapping.ca.items.setdefault(key, [None, None, None, None])
    entry[1] = tokens + list(entry[1] or [])


# --- the editor ---------------------------------------------------------------------------------------------------

class TreeEdit:
    """A tree file loaded for round-trip editing. ``save()`` validates, then writes atomically."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.original = text
        self._yaml = _round_trip_yaml(text)
        # The file must be a valid tree before editing: an edit never hides an older problem.
        load_tree(parse_yaml(text, path), path)
        try:
            self.doc = self._yaml.load(text)
        except YAMLError as e:  # parse_yaml accepted it, so this is a ruamel-only limitation
            raise EditError("%s: cannot edit this YAML in place: %s" % (path, " ".join(str(e).split()))) from e
        self.changes: list[str] = []

    @classmethod
    def open(cls, path: str) -> "TreeEdit":
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError as e:
            raise EditError("%s: no such file" % path) from e
        except OSError as e:
            raise EditError("%s: cannot read: %s" % (path, e.strerror or e)) from e
        return cls(path, text)

    # the edits

    @property
    def machines(self) -> CommentedMap:
        return self.doc["machines"]

    def _machine(self, host: str) -> CommentedMap:
        machine = self.machines.get(host)
        if host not in self.machines:
            raise EditError("%s: machine %s: not in the tree" % (self.path, host))
        if not isinstance(machine, CommentedMap):  # "host:" with no entry; load_tree would have refused it
            raise EditError("%s: machine %s: entry is not a mapping" % (self.path, host))
        return machine

    def _tag(self, host: str, text: str) -> Tag:
        try:
            return Tag.parse(text)
        except TagError as e:
            raise EditError("%s: machine %s: tag %s" % (self.path, host, e)) from e

    def add_tag(self, host: str, text: str) -> None:
        machine = self._machine(host)
        tag = self._tag(host, text)
        tags = machine["tags"]
        current = [tags] if isinstance(tags, str) else list(tags)
        if any(Tag.parse(str(have)) == tag for have in current):
            raise EditError("%s: machine %s: already carries tag %s" % (self.path, host, text))
        following = pop_following(machine)
        if isinstance(tags, str):
            seq = CommentedSeq([tags, text])
            machine["tags"] = seq
        else:
            tags.append(text)
        push_following(machine, following)
        self.changes.append("%s: added tag %s" % (host, text))

    def remove_tag(self, host: str, text: str) -> None:
        machine = self._machine(host)
        tag = self._tag(host, text)
        tags = machine["tags"]
        current = [tags] if isinstance(tags, str) else list(tags)
        found = [i for i, have in enumerate(current) if Tag.parse(str(have)) == tag]
        if not found:
            raise EditError("%s: machine %s: does not carry tag %s (it has %s)"
                            % (self.path, host, text, ", ".join(str(have) for have in current)))
        if len(current) == 1:
            raise EditError("%s: machine %s: %s is its only tag; a machine needs one (use remove-machine)"
                            % (self.path, host, text))
        following = pop_following(machine)
        removed = current[found[0]]
        del tags[found[0]]
        push_following(machine, following)
        self.changes.append("%s: removed tag %s" % (host, removed))

    def add_machine(self, host: str, tags: t.Sequence[str], address: str | None = None) -> None:
        problem = machine_name_problem(host) if isinstance(host, str) and host else "want a non-empty string"
        if problem:
            raise EditError('%s: machine %s: name "%s": %s' % (self.path, host, host, problem))
        if host in self.machines:
            raise EditError("%s: machine %s: already in the tree" % (self.path, host))
        if not tags:
            raise EditError("%s: machine %s: give at least one tag" % (self.path, host))
        parsed = [self._tag(host, text) for text in tags]
        if len(set(parsed)) != len(parsed):
            raise EditError("%s: machine %s: the same tag is given twice" % (self.path, host))
        if address is not None and (not address.strip() or any(c.isspace() for c in address)):
            raise EditError("%s: machine %s: bad address %r" % (self.path, host, address))

        entry = CommentedMap()
        if address is not None:
            entry["address"] = address
        entry["tags"] = CommentedSeq(tags)
        after = self._neighbour(parsed[0])
        keys = list(self.machines)
        following = pop_following(self.machines[after]) if after is not None else ""
        position = keys.index(after) + 1 if after is not None else 0
        # "yes", "NO", "on" written plain would be a boolean to YAML 1.1 readers, and is refused by ours.
        key = DoubleQuotedScalarString(host) if plain_is_not_text(host) else host
        self.machines.insert(position, key, entry)
        push_following(entry, following)
        self.changes.append("%s: added with tags %s" % (host, ", ".join(tags)))

    def _neighbour(self, tag: Tag) -> str | None:
        """The machine a new one goes after: the last one sharing the deepest cop>owt>pdl>service>cluster prefix,
        else the last machine of the file."""
        want = tag.path()
        best, best_depth = None, 0
        for name, entry in self.machines.items():
            raw = entry.get("tags") if isinstance(entry, dict) else None
            for text in [raw] if isinstance(raw, str) else (raw or []):
                have = Tag.parse(str(text)).path()
                depth = 0
                while depth < min(len(want), len(have)) and want[depth] == have[depth]:
                    depth += 1
                if depth and depth >= best_depth:
                    best, best_depth = name, depth
        if best is None and len(self.machines):
            best = next(reversed(self.machines))
        return best

    def remove_machine(self, host: str) -> None:
        if host not in self.machines:
            raise EditError("%s: machine %s: not in the tree" % (self.path, host))
        if len(self.machines) == 1:
            raise EditError("%s: machine %s: is the last machine; a tree needs at least one" % (self.path, host))
        keys = list(self.machines)
        i = keys.index(host)
        prev_key = keys[i - 1] if i > 0 else None
        next_key = keys[i + 1] if i + 1 < len(keys) else None
        entry = self.machines[host]
        # Comments above the machine may head a group that continues, and comments below it belong to the
        # next entry: both stay where the machine was. Its own end-of-line comments go with it.
        moved = _before_lines(self.machines, host) + pop_following(entry)
        del self.machines[host]
        self.machines.ca.items.pop(host, None)
        if next_key is not None:
            _prepend_before(self.machines, next_key, moved)
        elif prev_key is not None:
            push_following(self.machines[prev_key], moved)
        self.changes.append("%s: removed" % host)

    # writing

    def render(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self.doc, out)
        return out.getvalue()

    def validate(self, text: str | None = None) -> Tree:
        """Load the edited text exactly as readers will; any problem is an EditError naming the file."""
        text = self.render() if text is None else text
        try:
            return load_tree(parse_yaml(text, self.path), self.path)
        except TreeError as e:
            raise EditError("edit refused, the result would not load: %s" % e) from e

    def diff(self, text: str | None = None) -> str:
        text = self.render() if text is None else text
        return "".join(difflib.unified_diff(self.original.splitlines(keepends=True), text.splitlines(keepends=True),
                                            "%s (before)" % self.path, "%s (after)" % self.path))

    def save(self, text: str | None = None) -> Tree:
        """Validate the edited document (or ``text``, its rendering) and replace the file atomically."""
        text = self.render() if text is None else text
        tree = self.validate(text)
        write_atomic(self.path, text, expect=self.original)
        return tree


@contextlib.contextmanager
def _folder_lock(folder: str) -> t.Iterator[None]:
    """Serialise noops edits of files in one folder (flock on the folder itself: no lock file left behind)."""
    if fcntl is None:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_atomic(path: str, text: str, expect: str | None = None) -> None:
    """Replace ``path`` by ``text`` in one rename, keeping its mode (and owner when allowed).

    With ``expect``, refuse when the file no longer holds that text: someone else changed it since it was read.
    A symbolic link is followed, so the link stays and its target is replaced.
    """
    path = os.path.realpath(path)
    folder = os.path.dirname(os.path.abspath(path))
    with _folder_lock(folder):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            info = None
        if expect is not None:
            try:
                with open(path, encoding="utf-8") as handle:
                    now = handle.read()
            except OSError:
                now = None
            if now != expect:
                raise EditError("%s: changed by someone else while being edited; nothing written, try again" % path)
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".%s." % os.path.basename(path), suffix=".tmp")
        except OSError as e:
            raise EditError("%s: cannot write a temporary file in %s: %s" % (path, folder, e.strerror or e)) from e
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            if info is not None:
                os.chmod(tmp, stat.S_IMODE(info.st_mode))
                if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                    with contextlib.suppress(PermissionError):
                        os.chown(tmp, info.st_uid, info.st_gid)
            os.replace(tmp, path)
        except BaseException as e:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(e, OSError):
                raise EditError("%s: cannot write: %s" % (path, e.strerror or e)) from e
            raise
