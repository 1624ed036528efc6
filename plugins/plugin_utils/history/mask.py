# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Masking of secrets before anything reaches the deploy history.

Three rules, applied to everything the history callback writes:

* a key that looks secret (``is_secret_name`` of module_utils/redact.py: ``db_passwd``, ``passphrase``,
  ``api_token``, ``backup_key``, ``clientSecret``…) has its value replaced by ``MASK``, however deep it sits in a
  mapping or list;
* every value once seen under such a key is remembered and scrubbed from free text (task names, messages,
  output tails, cluster.yml), so ``echo {{ db_passwd }}`` does not leak it through stdout either;
* the password of every URL in free text (``mysql://app:PW@db/x``) is masked (``mask_urls``).

A document (the cluster.yml saved with every task) is masked by its YAML structure with ``mask_document_text``:
the same rules, whatever way a value is written (block scalars, flow mappings, lists), plus the ``value`` of a
``{name: API_TOKEN, value: ...}`` pair.

``Masker`` (module_utils/redact.py, so that Frigga's log tails on hosts use it too) holds the secrets seen.
"""

from __future__ import annotations

import re
import typing as t

from ansible_collections.noops.platform.plugins.module_utils.redact import MASK, Masker, is_secret_name, mask_text

_LINE_SECRET = re.compile(r"^(\s*-?\s*[\"']?)([A-Za-z_][\w.-]*)([\"']?\s*[:=]\s*)(\S.*)$")
# "key:" with no value on its line (a mapping or list follows, indented) or a block scalar header ("key: |-").
_LINE_OPENS = re.compile(r"^(\s*(?:-\s+)*[\"']?)([A-Za-z_][\w.-]*)[\"']?\s*:\s*(?:[|>][-+0-9]*)?\s*(?:#.*)?$")
# "key: value" inside a flow mapping on one line: "{password: x, user: y}".
_FLOW_PAIR = re.compile(r"([{,]\s*[\"']?)([A-Za-z_][\w.-]*)([\"']?\s*:\s*)([^,{}\[\]\s][^,{}\[\]]*?)(\s*[,}])")
# Our own mask, written plain, reads as an alias: parse it as a quoted text of the same length.
_PLAIN_MASK = re.compile(r"(?<=[\s\[{,])\*{8}(?=[\s,\]}]|\Z)")
_PROPERTIES = re.compile(r"(?:[&!][^\s]*\s+)*")
_ENV_NAME, _ENV_VALUE = "name", "value"
# Resolved tags of plain scalars that hold no secret to learn ("null" or "true" would be scrubbed from every text).
_NULL = ":null"
_NOT_SECRET = (":null", ":bool")
_PLAIN_WORDS = frozenset(("null", "~", "true", "false", "yes", "no", "none"))


def mask_document_text(text: str, masker: Masker) -> str:
    """Mask a YAML document (cluster.yml) keeping its layout and comments; text that is no YAML line by line.

    Masked, with ``MASK`` in place of the value as written:

    * the value of every secret-named key (``is_secret_name``) however it is written: plain or quoted scalars,
      block scalars (``private_key: |`` and its lines), flow or block mappings and lists (whole subtrees);
    * the ``value`` of a mapping whose ``name`` is secret-named (``- {name: API_TOKEN, value: x}``);
    * the password of every URL (``mysql://app:********@db/x``) and every value the masker knows.

    Everything else stays byte for byte. The masked values are learnt by ``masker`` so that the same secret in
    the run's other text is scrubbed too. Text that does not parse as YAML (a broken cluster.yml is saved as
    well) is masked line by line: ``key: value`` lines, ``key: value`` pairs of one-line flow mappings, and
    every more-indented line (or ``- item`` line) that follows a secret key with no value on its line or a
    block scalar header. A 256 KiB file with 6,000 secrets takes under a second.

    :param text: the document.
    :param masker: the run's Masker; learns the masked values.
    :returns: the masked text.
    """
    if not text:
        return text
    bom = "\ufeff" if text.startswith("\ufeff") else ""  # the parser's character positions start after it
    text = text[len(bom):]
    spans = _secret_spans(text, masker)
    if spans is None:
        return bom + _mask_comments(_mask_lines(text, masker), masker)
    out = [bom]
    pos = 0
    for start, end, replacement in spans:
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return masker.scrub(_mask_comments("".join(out), masker)) or ""


# A secret name and its value in a comment: "# db_passwd: x", "# old password=x, ..." (the value: a quoted text or
# what runs to the next blank, "," or ";").
_COMMENT_PAIR = re.compile(r"(?<![\w.\-])([\"']?)([A-Za-z_][\w.\-]*)\1([ \t]*[:=][ \t]*)"
                           r"('[^'\n]*'|\"[^\"\n]*\"|[^\s,;'\"]+)")


def _comment_start(line: str) -> int:
    """Where the YAML comment of ``line`` starts (its "#"), or -1: a "#" at the line's start or after a blank,
    outside quotes."""
    quote = ""
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'" and (i == 0 or line[i - 1] in " \t:[{,-"):
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return -1


def _mask_comments(text: str, masker: Masker) -> str:
    """``text`` with the value of every secret-named ``key: value`` or ``key=value`` written in a comment masked
    (and learnt by ``masker``): a comment is text too, and "# db_passwd: old-one" holds a password."""
    if "#" not in text:
        return text
    lines = text.splitlines(keepends=True)
    for n, line in enumerate(lines):
        at = _comment_start(line)
        if at < 0:
            continue

        def hide(m: re.Match[str]) -> str:
            value = m.group(4)
            inner = value[1:-1] if value[:1] in "'\"" else value
            if not is_secret_name(m.group(2)) or not inner or inner == MASK or inner.lower() in _PLAIN_WORDS:
                return m.group(0)
            masker.add_secret(inner)
            quote = value[0] if value[:1] in "'\"" else ""
            return m.group(1) + m.group(2) + m.group(1) + m.group(3) + quote + MASK + quote

        lines[n] = line[:at] + mask_text(_COMMENT_PAIR.sub(hide, line[at:]))
    return "".join(lines)


def _secret_spans(text: str, masker: Masker) -> list[tuple[int, int, str]] | None:
    """(start, end, replacement) for each part of ``text`` to hide, sorted and disjoint; None when the text
    is no YAML (or no YAML parser is installed)."""
    try:
        import yaml  # PyYAML: installed with Ansible wherever the controller or the console runs
    except ImportError:  # pragma: no cover - a host without PyYAML: the line rules still apply
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = list(yaml.compose_all(_PLAIN_MASK.sub("'******'", text), Loader=loader))
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    found: list[tuple[int, int, str]] = []
    hidden: set[int] = set()
    visited: set[int] = set()

    def hide(key: t.Any, value: t.Any) -> None:
        if id(value) in hidden:
            return
        hidden.add(id(value))
        _learn_node(value, masker, yaml)
        if isinstance(value, yaml.ScalarNode) and value.tag.endswith(_NULL):
            return  # no value ("key:", "~", "null"): nothing to hide
        start, end = _value_span(text, value, yaml)
        if start >= end:
            return
        if isinstance(value, (yaml.MappingNode, yaml.SequenceNode)) and not value.flow_style:
            gap = text[key.end_mark.index:start]
            colon = gap.find(":")
            if colon >= 0 and "#" not in gap:  # "passwords:\n  - a\n  - b" -> "passwords: ********"
                found.append((key.end_mark.index + colon + 1, end, " " + MASK))
                return
        found.append((start, end, MASK))

    def walk(node: t.Any) -> None:
        if id(node) in visited:
            return
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            env_value = None
            env_secret = False
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if is_secret_name(key.value):
                        hide(key, value)
                        continue
                    if key.value == _ENV_NAME and isinstance(value, yaml.ScalarNode):
                        env_secret = is_secret_name(value.value)
                    elif key.value == _ENV_VALUE:
                        env_value = (key, value)
                walk(value)
            if env_secret and env_value is not None:
                hide(*env_value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item)

    for doc in docs:
        if doc is not None:
            walk(doc)
    found.sort(key=lambda s: (s[0], -s[1]))
    spans: list[tuple[int, int, str]] = []
    last = -1
    for span in found:
        if span[0] < last:
            continue  # inside a subtree already hidden (reached twice through an alias)
        spans.append(span)
        last = span[1]
    return spans


def _value_span(text: str, node: t.Any, yaml: t.Any) -> tuple[int, int]:
    """Where ``node``'s value is written: after its anchor and tag, up to its last character (a block
    collection ends with its last value, not at the comments and blank lines after it)."""
    start = node.start_mark.index
    start = _PROPERTIES.match(text, start).end() if text[start:start + 1] in "&!" else start
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1][1] if isinstance(node, yaml.MappingNode) else node.value[-1]
        return start, _value_span(text, last, yaml)[1]
    end = node.end_mark.index
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        end = start + len(text[start:end].rstrip())  # keep the line breaks after the block
    return start, end


def _learn_node(node: t.Any, masker: Masker, yaml: t.Any) -> None:
    """Teach ``masker`` every scalar under ``node`` (a secret subtree)."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.value.strip("*") and not node.tag.endswith(_NOT_SECRET):  # not a mask written before
                masker.add_secret(node.value)
                if "\n" in node.value:  # a key in a block scalar: each of its lines is a secret too
                    for line in node.value.splitlines():
                        masker.add_secret(line.strip())
        elif isinstance(node, yaml.MappingNode):
            stack.extend(v for _k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _mask_lines(text: str, masker: Masker) -> str:
    """The line rules for text that is no YAML (see ``mask_document_text``)."""
    lines = text.splitlines(keepends=True)
    for line in lines:
        m = _LINE_SECRET.match(line.rstrip("\r\n"))
        if m and is_secret_name(m.group(2)):
            value = m.group(4).strip().strip("\"'")
            if value.lower() not in _PLAIN_WORDS:
                masker.add_secret(value)
    out = []
    block_indent = -1  # > -1: inside the lines that follow a secret key opening a block
    env_column = -1  # > -1: the column of a secret "name:" whose sibling "value:" is masked
    for line in lines:
        body = line.rstrip("\r\n")
        end = line[len(body):]
        indent = len(body) - len(body.lstrip())
        if block_indent >= 0:
            stripped = body.lstrip()
            if not stripped or indent > block_indent or (indent == block_indent and stripped.startswith("- ")):
                if stripped:
                    masker.add_secret(stripped)
                    body = body[:indent] + MASK
                out.append(body + end)
                continue
            block_indent = -1
        m = _LINE_SECRET.match(body)
        opens = _LINE_OPENS.match(body)
        column = len(m.group(1)) if m else -1
        if env_column >= 0 and body.strip() and indent < env_column and column != env_column:
            env_column = -1  # left the mapping of the secret name
        if opens and is_secret_name(opens.group(2)):
            block_indent = len(opens.group(1))
        elif m and (is_secret_name(m.group(2)) or (m.group(2) == _ENV_VALUE and column == env_column)):
            if m.group(2) == _ENV_VALUE:
                masker.add_secret(m.group(4).strip().strip("\"'"))
            body = m.group(1) + m.group(2) + m.group(3) + MASK
        else:
            if m and m.group(2) == _ENV_NAME:  # "- name: API_TOKEN": its "value:" below is masked
                env_column = column if is_secret_name(m.group(4).strip().strip("\"'")) else -1
            body = _FLOW_PAIR.sub(lambda p: p.group(0) if not is_secret_name(p.group(2)) else (
                p.group(1) + p.group(2) + p.group(3) + MASK + p.group(5)), body)
            body = masker.scrub(body) or body
        out.append(body + end)
    return "".join(out)
