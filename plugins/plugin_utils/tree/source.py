# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a service tree document from a file (YAML) or an HTTP(S) endpoint (JSON).

``read_source`` returns the parsed document and its text; ``load_source`` also validates it into a ``Tree``.
Every failure is a ``SourceError`` (a ``TreeError``) whose one-line message starts with the source, so the
inventory plugin, the lookup and the CLI report the same words. Duplicate mapping keys are rejected: in a
tree file a repeated machine name would otherwise silently replace the first entry.
"""

from __future__ import annotations

import base64
import json
import typing as t
import urllib.error
import urllib.parse

from ansible.module_utils.urls import open_url

from ansible_collections.noops.platform.plugins.module_utils.redact import mask_urls
from ansible_collections.noops.platform.plugins.plugin_utils import yaml_file
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import Tree, TreeError, load_tree

URL_SCHEMES = ("http://", "https://")


class SourceError(TreeError):
    """A source that cannot be read or parsed; the message names the source (and line/column when known)."""


def is_url(source: str) -> bool:
    return source.lower().startswith(URL_SCHEMES)


def display_source(source: str) -> str:
    """The source as it may be printed: a password inside a URL is masked (``https://ops:********@cmdb/tree``)."""
    return mask_urls(source)


# A tree's machines and nodes are named once each: one repeated through a merge key (<<) is a duplicate key.
TREE_IDENTITY_MAPS = frozenset((("machines",), ("nodes",)))


def parse_yaml(text: str, source: str) -> t.Any:
    """Parse YAML text with the collection's loader (``yaml_file``: YAML 1.2, duplicate keys refused).

    A syntax error or a duplicate key (also a machine or node repeated through a merge key) becomes one line naming
    source:line:column; plain values that YAML does not read as they are written (``enabled: yes``, ``1.10``) one line
    each.
    """
    try:
        return yaml_file.load_yaml_strict(text, source, fast=True, identity_maps=TREE_IDENTITY_MAPS)
    except yaml_file.AmbiguousYamlError as e:
        raise SourceError(str(e)) from None
    except yaml_file.YamlFileError as e:
        raise SourceError(yaml_problem(e, source)) from None


def yaml_problem(error: "yaml_file.YamlFileError", source: str) -> str:
    """One line for a tree that is not valid YAML: ``source:line:column: invalid YAML: problem``, the same words
    for a file, an HTTP answer and ``noops tree``; ``source: not UTF-8 text: byte 0xff at line L column C`` for
    bytes that are not UTF-8."""
    if isinstance(error, yaml_file.NotUtf8Error):
        return "%s: %s" % (source, error.problem)
    where = "%s:%d:%d" % (source, error.line, error.column) if error.line else source
    return "%s: invalid YAML: %s" % (where, error.problem)


class _DuplicateKey(ValueError):
    pass


class _NotJsonConstant(ValueError):
    pass


def _refuse_constant(name: str) -> t.NoReturn:
    # Python's json reads NaN, Infinity and -Infinity, which JSON (RFC 8259) does not have.
    raise _NotJsonConstant(name)


def _unique_object(pairs: list[tuple[str, t.Any]]) -> dict[str, t.Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey()
    return out


def loads_json(text: str, source: str) -> t.Any:
    """json.loads that refuses a key repeated in one object (a machine listed twice).

    :raises json.JSONDecodeError: for text that is not JSON.
    :raises SourceError: ``source:line:column: invalid JSON: found duplicate key 'a1' (first at line 2)``, or
        ``source:line:column: invalid JSON: NaN is not a JSON value`` (also Infinity, -Infinity).
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_object, parse_constant=_refuse_constant)
    except _DuplicateKey:
        raise SourceError(_json_duplicate(text, source)) from None
    except _NotJsonConstant as e:
        raise SourceError(_json_constant(text, str(e), source)) from None


def _json_constant(text: str, name: str, source: str) -> str:
    """Where the first ``name`` (NaN, Infinity, -Infinity) outside a string of ``text`` is."""
    i, end = 0, len(text)
    while i < end:
        if text[i] == '"':
            i = json.decoder.scanstring(text, i + 1)[1]
            continue
        if text.startswith(name, i):
            line, column = _line_column(text, i)
            return "%s:%d:%d: invalid JSON: %s is not a JSON value" % (source, line, column, name)
        i += 1
    return "%s: invalid JSON: %s is not a JSON value" % (source, name)


def _json_duplicate(text: str, source: str) -> str:
    """Where the first repeated key of valid JSON ``text`` is (only on the error path: a walk in Python)."""
    objects: list[dict[str, int] | None] = []  # per open container: key -> offset (None for an array)
    i, end = 0, len(text)
    while i < end:
        char = text[i]
        if char == '"':
            key, after = json.decoder.scanstring(text, i + 1)
            j = after
            while j < end and text[j] in " \t\r\n":
                j += 1
            seen = objects[-1] if objects else None
            if seen is not None and j < end and text[j] == ":":
                if key in seen:
                    line, column = _line_column(text, i)
                    return "%s:%d:%d: invalid JSON: found duplicate key %r (first at line %d)" % (
                        source, line, column, key, _line_column(text, seen[key])[0])
                seen[key] = i
            i = after
            continue
        if char == "{":
            objects.append({})
        elif char == "[":
            objects.append(None)
        elif char in "]}":
            objects.pop()
        i += 1
    return "%s: invalid JSON: found a duplicate key" % source


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def parse_json(text: str, source: str) -> t.Any:
    """Parse JSON text; a syntax error or a duplicate key becomes one line naming source:line:column."""
    try:
        return loads_json(text, source)
    except SourceError:
        raise
    except json.JSONDecodeError as e:
        raise SourceError("%s:%d:%d: invalid JSON: %s" % (source, e.lineno, e.colno, e.msg)) from e
    except (ValueError, RecursionError) as e:
        raise SourceError("%s: invalid JSON: %s" % (source, e)) from e


def _fetch(url: str, headers: t.Mapping[str, str] | None, timeout: float, validate_certs: bool) -> str:
    shown = display_source(url)
    parts = urllib.parse.urlsplit(url)
    request_headers = {"Accept": "application/json"}
    request_headers.update(headers or {})
    if parts.username is not None:
        # urllib does not use credentials written in the URL: send them as basic auth and drop them from the URL.
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode("ascii")
        request_headers.setdefault("Authorization", "Basic %s" % token)
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    try:
        response = open_url(url, headers=request_headers, timeout=timeout, validate_certs=validate_certs,
                            follow_redirects="safe")
        with response:
            charset = response.headers.get_content_charset() or "utf-8"
            return response.read().decode(charset)
    except urllib.error.HTTPError as e:
        raise SourceError("%s: HTTP %d %s" % (shown, e.code, e.reason)) from e
    except urllib.error.URLError as e:
        raise SourceError("%s: cannot fetch: %s" % (shown, e.reason)) from e
    except (OSError, ValueError) as e:  # timeouts, resets, bad URLs, undecodable bodies
        raise SourceError("%s: cannot fetch: %s" % (shown, e)) from e


def read_source(source: str, headers: t.Mapping[str, str] | None = None, timeout: float = 10,
                validate_certs: bool = True) -> tuple[t.Any, str]:
    """Read a tree document from a file path (YAML; JSON for a name ending in ``.json``) or an http(s) URL (JSON).

    :returns: (document, text).
    :raises SourceError: one line naming the source (and line:column), also for a key repeated in one mapping.
    """
    if not isinstance(source, str) or not source.strip():
        raise SourceError("tree source must be a file path or an http(s) URL, got %r" % (source,))
    if is_url(source):
        text = _fetch(source, headers, timeout, validate_certs)
        return parse_json(text, display_source(source)), text
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError as e:
        raise SourceError("%s: no such file" % source) from e
    except IsADirectoryError as e:
        raise SourceError("%s: is a directory, want a tree file" % source) from e
    except UnicodeDecodeError as e:
        raise SourceError("%s: not UTF-8 text (byte %d)" % (source, e.start)) from e
    except OSError as e:
        raise SourceError("%s: cannot read: %s" % (source, e.strerror or e)) from e
    if source.endswith(".json"):
        return parse_json(text, source), text
    return parse_yaml(text, source), text


def load_source(source: str, headers: t.Mapping[str, str] | None = None, timeout: float = 10,
                validate_certs: bool = True) -> Tree:
    """Read and validate a tree: raises TreeError (SourceError for reading/parsing) naming the source."""
    doc, _text = read_source(source, headers=headers, timeout=timeout, validate_certs=validate_certs)
    return load_tree(doc, display_source(source))
