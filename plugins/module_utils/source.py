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

from ansible_collections.noops.platform.plugins.module_utils import yaml_file
from ansible_collections.noops.platform.plugins.module_utils.tree import Tree, TreeError, load_tree

URL_SCHEMES = ("http://", "https://")


class SourceError(TreeError):
    """A source that cannot be read or parsed; the message names the source (and line/column when known)."""


def is_url(source: str) -> bool:
    return source.lower().startswith(URL_SCHEMES)


def display_source(source: str) -> str:
    """The source as it may be printed: a password inside a URL is masked."""
    if not is_url(source):
        return source
    parts = urllib.parse.urlsplit(source)
    if parts.password is None:
        return source
    netloc = "%s:***@%s" % (parts.username or "", parts.netloc.rpartition("@")[2])
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def parse_yaml(text: str, source: str) -> t.Any:
    """Parse YAML text with the collection's loader (``yaml_file``: YAML 1.2, duplicate keys refused).

    A syntax error or a duplicate key becomes one line naming source:line:column; plain values that YAML does not
    read as they are written (``enabled: yes``, ``1.10``) one line each.
    """
    try:
        return yaml_file.load_yaml_strict(text, source, fast=True)
    except yaml_file.AmbiguousYamlError as e:
        raise SourceError(str(e)) from None
    except yaml_file.YamlFileError as e:
        where = "%s:%d:%d" % (source, e.line, e.column) if e.line else source
        raise SourceError("%s: invalid YAML: %s" % (where, e.problem)) from None


def _no_duplicates(pairs: list[tuple[str, t.Any]]) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate key %r" % key)
        out[key] = value
    return out


def parse_json(text: str, source: str) -> t.Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise SourceError("%s:%d:%d: invalid JSON: %s" % (source, e.lineno, e.colno, e.msg)) from e
    except ValueError as e:
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
    """Read a tree document from a file path (YAML) or an http(s) URL (JSON): returns (document, text)."""
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
    return parse_yaml(text, source), text


def load_source(source: str, headers: t.Mapping[str, str] | None = None, timeout: float = 10,
                validate_certs: bool = True) -> Tree:
    """Read and validate a tree: raises TreeError (SourceError for reading/parsing) naming the source."""
    doc, _text = read_source(source, headers=headers, timeout=timeout, validate_certs=validate_certs)
    return load_tree(doc, display_source(source))
