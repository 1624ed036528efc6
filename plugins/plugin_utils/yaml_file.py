# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the YAML files people write: cluster.yml, config.template.yml, init.yml, tree files, values files.

One loader for all of them, so that a value means the same everywhere:

- **YAML 1.2 core schema.** ``true``/``false`` are booleans, ``null``/``~``/nothing is null, ``123``, ``0o17``
  and ``0x1f`` are integers, ``1.5`` and ``1e3`` are floats, everything else is text: ``NO``, ``off``,
  ``2024-01-01``, ``1:30`` and ``1_000`` are strings (YAML 1.1, which PyYAML and Ansible read, makes booleans,
  dates and numbers of them).
- **Ambiguous plain scalars are refused** with a problem that says "quote it": the words ``yes``/``no``/``on``/
  ``off`` (any case; YAML 1.1 reads them as booleans, 1.2 as text), and numbers that would not be written back as
  they were written (``1.10`` is the number 1.1, ``0640`` is 640 in YAML 1.2 and 416 in YAML 1.1, ``007``,
  ``+5``, ``.5``). A quoted value, or an explicit tag (``!!str``, ``!!bool``), is read as written.
- **Typed fields.** The caller names, per path of keys, the fields that are text by definition (a version, a
  file mode, a user name): their written text is the value, whatever it looks like (``version: 1.10`` is
  ``"1.10"``, ``mode: 0640`` is ``"0640"``). Fields with a check of their own (a boolean setting that accepts
  ``yes``) are read as YAML 1.2 says, without the ambiguity check.
- **Ambiguous plain keys are refused** the same way: a key ``yes``, ``NO``, ``on``, ``off``, ``true``, ``false``,
  ``null``, ``~`` or nothing is a boolean or null to one YAML reading or both, never the name it looks like.
- **Duplicate keys** in one mapping are an error (a second ``version:`` would silently replace the first). In a
  mapping whose keys are identities (``identity_maps``: a tree's machines and nodes) a key repeated through a merge
  key (``<<``) is a duplicate too; elsewhere the mapping's own keys override merged ones, as YAML says.

Controller-side only: PyYAML comes with ansible-core. libyaml's parser is used when it is there (several times
faster on a big tree); plain maps, lists and strings, nearly all of a tree, are built directly from the nodes.
"""

from __future__ import annotations

import codecs
import math
import re
import typing as t

from ansible_collections.noops.platform.plugins.module_utils.redact import is_secret_name

try:
    import yaml
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core on a controller; this code runs nowhere else
    yaml = None

TEXT = "text"       # the field's value is its written text
OWN = "own"         # the field has its own type check: no ambiguity check here

Path = t.Tuple[t.Any, ...]
FieldKind = t.Callable[[Path], t.Optional[str]]

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"

# YAML 1.1 booleans that YAML 1.2 reads as text (PyYAML never took y/n, so neither reading changes for them).
_WORDS_11 = frozenset(w for word in ("yes", "no", "on", "off") for w in (word, word.title(), word.upper()))
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z")
MASK = "********"


def plain_is_not_text(text: str) -> bool:
    """Whether ``text`` written as a plain (unquoted) scalar is read as a boolean or null by YAML 1.1 or 1.2
    (``yes``, ``NO``, ``on``, ``true``, ``null``, ``~``, nothing): a writer must quote it."""
    return text in _WORDS_11 or text.lower() in ("true", "false", "null", "~", "")


class YamlFileError(ValueError):
    """A file that is not valid YAML (syntax, duplicate key, unknown tag): ``line`` and ``column`` count from 1
    (0 when unknown), ``problem`` says what is wrong."""

    def __init__(self, source: str, line: int, column: int, problem: str) -> None:
        where = "%s:%d:%d" % (source, line, column) if line else source
        super().__init__("%s: invalid YAML: %s" % (where, problem))
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem


class NotUtf8Error(YamlFileError):
    """A file that is not UTF-8 text; ``str()`` is one line: ``<source>: not UTF-8 text: byte 0xff at line L
    column C`` (line and column count from 1, the column in characters)."""

    def __init__(self, source: str, line: int, column: int, byte: int) -> None:
        super().__init__(source, line, column,
                         "not UTF-8 text: byte 0x%02x at line %d column %d" % (byte, line, column))
        self.args = ("%s: %s" % (source, self.problem),)

    def __str__(self) -> str:
        return self.args[0]


def decode_utf8(data: bytes, source: str) -> str:
    """``data`` as UTF-8 text (a leading byte order mark kept, as YAML skips it).

    Raises ``NotUtf8Error`` naming the first byte that is not UTF-8, with its line and column.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[start:e.start].decode("utf-8", "replace")) + 1
        raise NotUtf8Error(source, line, column, data[e.start]) from None


class YamlProblem(t.NamedTuple):
    """A plain scalar that YAML does not read as it is written; ``str()`` is the one-line message."""

    source: str
    line: int           # from 1
    column: int         # from 1
    field: str          # dotted path of keys, list items as [i]
    text: str           # the scalar as written (masked when the field is secret-named)
    message: str

    @property
    def detail(self) -> str:
        """The message without the source: ``line 3 column 12: dch.country: NO: ...``."""
        return "line %d column %d: %s: %s: %s" % (self.line, self.column, self.field, self.text, self.message)

    def __str__(self) -> str:
        return "%s:%d:%d: %s: %s: %s" % (self.source, self.line, self.column, self.field, self.text, self.message)


def field_name(path: Path) -> str:
    out = ""
    for key in path:
        if isinstance(key, int) and not isinstance(key, bool):
            out += "[%d]" % key
        else:
            out += ("." if out else "") + str(key)
    return out or "(document)"


def _is_secret(path: Path) -> bool:
    """Whether a key on the path is secret-named: its value is never shown."""
    return any(is_secret_name(str(key)) for key in path)


_LOADERS: dict[bool, t.Any] = {}


def _loader_class(fast: bool) -> t.Any:
    """A safe loader with the YAML 1.2 core schema's implicit types (made on first use).

    ``fast``: libyaml's parser where it is installed (its syntax error messages are terser than the pure-Python
    parser's, which the small files keep).
    """
    if fast in _LOADERS:
        return _LOADERS[fast]
    if yaml is None:
        raise YamlFileError("", 0, 0, "PyYAML is not installed: it is needed to read YAML files")
    base: t.Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if fast else yaml.SafeLoader

    class Yaml12Loader(base):  # type: ignore[misc, valid-type]
        yaml_implicit_resolvers: dict[t.Any, t.Any] = {}

        def resolve(self, kind: t.Any, value: str, implicit: t.Any) -> str:
            # Most of a file is names and words: a plain scalar whose first character starts no implicit type
            # is text, as the full resolver would say, without trying its regular expressions.
            if kind is ScalarNode and implicit[0] and value and value[0] not in self.yaml_implicit_resolvers:
                return _STR
            return super().resolve(kind, value, implicit)

        def construct_yaml_int(self, node: t.Any) -> int:
            text = self.construct_scalar(node)
            sign = -1 if text.startswith("-") else 1
            digits = text.lstrip("+-")
            if digits.startswith("0o"):
                return sign * int(digits[2:], 8)
            if digits.startswith("0x"):
                return sign * int(digits[2:], 16)
            return sign * int(digits, 10)

    resolvers = [
        (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
        (_FLOAT, r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                 r"|\.(?:nan|NaN|NAN))$", "-+0123456789."),
        (_MERGE, r"^(?:<<)$", "<"),
        (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ]
    for tag, pattern, first in resolvers:
        Yaml12Loader.add_implicit_resolver(tag, re.compile(pattern), list(first))
    Yaml12Loader.add_constructor(_INT, Yaml12Loader.construct_yaml_int)
    _LOADERS[fast] = Yaml12Loader
    return Yaml12Loader


class _Builder:
    """Builds Python data from the composed node tree, collecting ambiguity problems with their marks."""

    def __init__(self, loader: t.Any, source: str, kind: FieldKind | None,
                 identity_maps: t.Collection[Path] = ()) -> None:
        self.loader = loader
        self.source = source
        self.kind = kind
        self.identity_maps = identity_maps
        self.problems: list[YamlProblem] = []
        self.built: dict[int, t.Any] = {}

    def refuse(self, node: t.Any, path: Path, message: str) -> None:
        mark = node.start_mark
        text = node.value
        if _is_secret(path):
            text = MASK
            message = ("YAML does not read this plain value as it is written (YAML 1.1 and 1.2 read it "
                       "differently, or as a number written another way); quote it")
        self.problems.append(YamlProblem(self.source, mark.line + 1, mark.column + 1, field_name(path), text,
                                         message))

    def build(self, node: t.Any, path: Path) -> t.Any:
        tag = node.tag
        if isinstance(node, ScalarNode):
            kind = self.kind(path) if self.kind is not None else None
            if tag == _STR:
                if not node.style and kind is None and node.value in _WORDS_11:
                    self.word(node, path)
                return node.value
            if kind == TEXT and not node.style and tag != _NULL:
                return node.value
            value = self.loader.construct_object(node, deep=True)
            if not node.style and kind is None and tag in (_INT, _FLOAT):
                self.number(node, path, value)
            return value
        if id(node) in self.built:        # an alias: the anchored collection, built once (as PyYAML shares it)
            return self.built[id(node)]
        if tag == _MAP and isinstance(node, MappingNode):
            value = self.mapping(node, path)
        elif tag == _SEQ and isinstance(node, SequenceNode):
            value = [item.value if item.tag == _STR and item.value not in _WORDS_11 else self.build(item, path + (i,))
                     for i, item in enumerate(node.value)]
        else:
            return self.loader.construct_object(node, deep=True)     # !!set, !!omap, !!binary, ...
        self.built[id(node)] = value
        return value

    def word(self, node: t.Any, path: Path) -> None:
        value = node.value
        as_bool = "true" if value.lower() in ("yes", "on") else "false"
        self.refuse(node, path, "YAML 1.1 reads this as the boolean %s, YAML 1.2 as the text %s; quote it (\"%s\") "
                    "for the text, or write %s" % (as_bool, value, value, as_bool))

    def key_word(self, node: t.Any, path: Path) -> None:
        """A plain key YAML reads as a boolean or null (``yes:``, ``NO:``, ``on:``, ``true:``, ``~:``)."""
        text = node.value
        lower = text.lower()
        if lower in ("yes", "no", "on", "off"):
            reading = "YAML 1.1 reads this key as the boolean %s, YAML 1.2 as the text %s" % (
                "true" if lower in ("yes", "on") else "false", text)
        elif lower in ("true", "false"):
            reading = "YAML reads this key as the boolean %s, not as text" % lower
        else:
            reading = "YAML reads this key as null, not as text"
        self.refuse(node, path + (text,), "%s; quote it (\"%s\")" % (reading, text))

    def number(self, node: t.Any, path: Path, value: t.Any) -> None:
        text = node.value
        if isinstance(value, float):
            if math.isinf(value) or math.isnan(value):
                return
            written = repr(value)
        else:
            written = str(value)
        if written == text:
            return
        if re.match(r"[-+]?0[0-7]+\Z", text):
            message = ("YAML 1.1 reads this as the octal number %d, YAML 1.2 as %s; quote it (\"%s\") to keep the "
                       "text, or write %s or 0o%s" % (int(text, 8), written, text, written, text.lstrip("+-0")))
        else:
            message = ("YAML reads this as the number %s; quote it (\"%s\") to keep the text, or write %s"
                       % (written, text, written))
        self.refuse(node, path, message)

    def mapping(self, node: t.Any, path: Path) -> dict[t.Any, t.Any]:
        out: dict[t.Any, t.Any] = {}
        merged: list[dict[t.Any, t.Any]] = []
        build = self.build
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE and path in self.identity_maps:
                self.refuse_merged_repeats(node, path)
            if key_node.tag == _STR:
                key = key_node.value
                if key in _WORDS_11 and not key_node.style:
                    self.key_word(key_node, path)
            elif key_node.tag == _MERGE:
                merged += self.merge(value_node, path)
                continue
            else:
                key = self.key(key_node, path)
            if key in out:
                first = next(k for k, _value in node.value
                             if k.tag != _MERGE and self.loader.construct_object(k) == key)
                raise YamlFileError(self.source, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                    "found duplicate key %r (first at line %d)" % (key, first.start_mark.line + 1))
            if value_node.tag == _STR and value_node.value not in _WORDS_11:
                out[key] = value_node.value     # most of a file: text, whatever the field's kind
            else:
                out[key] = build(value_node, path + (key,))
        for extra in merged:             # explicit keys win over merged ones, the first merged mapping over later ones
            for key, value in extra.items():
                out.setdefault(key, value)
        return out

    def refuse_merged_repeats(self, node: t.Any, path: Path) -> None:
        """In a mapping whose keys are identities (the machines of a tree), a key repeated through a merge key
        (``<<: {m1: ...}`` next to ``m1:``) is a duplicate key, not an override that silently drops one of them."""
        keys: list[t.Any] = []
        pending = [node]
        while pending:
            mapping = pending.pop(0)
            if not isinstance(mapping, MappingNode):
                continue
            for key_node, value_node in mapping.value:
                if key_node.tag == _MERGE:
                    pending += value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                elif isinstance(key_node, ScalarNode):
                    keys.append(key_node)
        first: dict[t.Any, t.Any] = {}
        for key_node in sorted(keys, key=lambda k: (k.start_mark.line, k.start_mark.column)):
            key = key_node.value if key_node.tag == _STR else self.loader.construct_object(key_node)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:
                continue
            if seen is not key_node:
                mark = key_node.start_mark
                raise YamlFileError(self.source, mark.line + 1, mark.column + 1,
                                    "found duplicate key %r (first at line %d)" % (key, seen.start_mark.line + 1))

    def key(self, node: t.Any, path: Path) -> t.Any:
        """A key that is not plain text: a number (checked as values are), a boolean or null."""
        mark = node.start_mark
        if not isinstance(node, ScalarNode):
            raise YamlFileError(self.source, mark.line + 1, mark.column + 1,
                                "a key must be a plain value, not a %s" % node.id)
        key = self.loader.construct_object(node, deep=True)
        if not node.style and node.tag in (_INT, _FLOAT):
            self.number(node, path + (node.value,), key)
        elif not node.style and node.tag in (_BOOL, _NULL):
            self.key_word(node, path)
        try:
            hash(key)
        except TypeError:
            raise YamlFileError(self.source, mark.line + 1, mark.column + 1, "unhashable key") from None
        return key

    def merge(self, node: t.Any, path: Path) -> list[dict[t.Any, t.Any]]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        found = []
        for item in items:
            if not isinstance(item, MappingNode):
                raise YamlFileError(self.source, item.start_mark.line + 1, item.start_mark.column + 1,
                                    "a merge key (<<) takes a mapping or a list of mappings")
            found.append(self.mapping(item, path))
        return found


def load_yaml(data: t.Any, source: str, kind: FieldKind | None = None,
              fast: bool = False, identity_maps: t.Collection[Path] = ()) -> tuple[t.Any, list[YamlProblem]]:
    """Parse ``data`` (text, bytes or a binary file object) as written YAML -> (document, ambiguity problems).

    ``kind(path)`` says how a field is typed: ``TEXT`` (its written text is the value), ``OWN`` (its own check
    judges the YAML 1.2 value) or None (free: ambiguous plain scalars become problems). ``path`` is the tuple
    of keys (and list indexes) from the top. The document is returned even with problems (with the YAML 1.2
    reading of the refused scalars), so that a caller can report every other problem too.
    ``fast`` parses with libyaml where it is installed (for big tree files). ``identity_maps``: paths of
    mappings whose keys are identities (a tree's ``("machines",)``): there a key repeated through a merge key
    (``<<``) is a duplicate key, not an override.
    Raises ``YamlFileError`` (one line, with line and column) for invalid YAML and duplicate keys, and its
    subclass ``NotUtf8Error`` for bytes that are not UTF-8 text (UTF-16 with a byte order mark is read too).
    """
    if hasattr(data, "read"):
        data = data.read()
    if isinstance(data, (bytes, bytearray)) and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        data = decode_utf8(bytes(data), source)
    loader = _loader_class(fast)(data)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None, []
            builder = _Builder(loader, source, kind, identity_maps)
            doc = builder.build(node, ())
            return doc, builder.problems
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
            raise YamlFileError(source, line, column, " ".join(str(e.problem or e.context).split())) from None
        except yaml.YAMLError as e:
            raise YamlFileError(source, 0, 0, " ".join(str(e).split())) from None
        except RecursionError:
            raise YamlFileError(source, 0, 0, "nested too deep (a recursive alias?)") from None
    finally:
        loader.dispose()


class AmbiguousYamlError(YamlFileError):
    """Plain values YAML does not read as they are written; ``problems`` holds every one, ``str()`` is one line
    per problem."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        first = problems[0]
        super().__init__(first.source, first.line, first.column, first.message)
        self.problems = problems
        self.args = ("\n".join(str(p) for p in problems),)

    def __str__(self) -> str:
        return self.args[0]


def load_yaml_strict(data: t.Any, source: str, kind: FieldKind | None = None, fast: bool = False,
                     identity_maps: t.Collection[Path] = ()) -> t.Any:
    """``load_yaml`` for callers with no list of problems: ambiguous values raise ``AmbiguousYamlError`` (all of
    them), invalid YAML ``YamlFileError``."""
    doc, problems = load_yaml(data, source, kind, fast, identity_maps)
    if problems:
        raise AmbiguousYamlError(problems)
    return doc


def depth_fields(fields: t.Mapping[int, t.Mapping[str, str]]) -> FieldKind:
    """A ``kind`` function from {depth: {key name: kind}}: depth 1 is a top-level key, 2 one below it, ..."""
    def kind(path: Path) -> str | None:
        at = fields.get(len(path))
        return at.get(path[-1]) if at and isinstance(path[-1], str) else None
    return kind
