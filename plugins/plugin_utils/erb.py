# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ERB subset that packages migrated from the old platform may keep using.

Supported, as in Ruby's ERB with trim mode "-":

    <%= name %>  <%= @name %>   the value of a config key (nil -> "", true -> "true")
    <%# comment %>              dropped (may span lines)
    <%- ... %>                  also drops the indentation before the tag when it starts the line
    ... -%>                     also drops the newline right after the tag
    <%%                         a literal "<%"

Anything else -- code tags such as ``<% if x %>``, expressions such as ``<%= @a.upcase %>`` -- is rejected
with the file and line, because silently rendering it differently from Ruby would ship a wrong config.
Control flow belongs in a Jinja2 (.j2) template.
"""

from __future__ import annotations

import re
import typing as t

_NAME = re.compile(r"@?([A-Za-z_][A-Za-z0-9_]*)\Z")


class ErbError(ValueError):
    """A template outside the supported subset; ``line`` is 1-based."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__("%s:%d: %s" % (source, line, message))
        self.source = source
        self.line = line
        self.message = message


class _Tag(t.NamedTuple):
    kind: str          # "text", "output" or "comment"
    value: str         # the text, or the variable name
    line: int


def parse_erb(text: str, source: str) -> list[_Tag]:
    """Split a template into text, output and comment pieces, applying the trim forms."""
    pieces: list[_Tag] = []
    pos = 0
    line = 1
    buf: list[str] = []
    buf_at_line_start = True      # whether buf begins a line (the start, or after a tag that ate its newline)
    while True:
        start = text.find("<%", pos)
        if start < 0:
            buf.append(text[pos:])
            break
        buf.append(text[pos:start])
        tag_line = line + text.count("\n", pos, start)
        if text.startswith("<%%", start):
            buf.append("<%")
            pos = start + 3
            line = tag_line
            continue
        end = text.find("%>", start + 2)
        if end < 0:
            raise ErbError(source, tag_line, "'<%' without a closing '%>'")
        body = text[start + 2:end]
        after = end + 2
        if body.startswith("-"):
            body = body[1:]
            # "<%-" drops the blanks that indent the tag, only when nothing else precedes it on its line.
            joined = "".join(buf)
            head, newline, indent = joined.rpartition("\n")
            if indent.strip(" \t") == "" and (newline or buf_at_line_start):
                buf = [joined[:len(joined) - len(indent)]]
        buf_at_line_start = False
        if body.endswith("-"):
            body = body[:-1]
            if text.startswith("\n", after):
                after += 1
                buf_at_line_start = True
            elif text.startswith("\r\n", after):
                after += 2
                buf_at_line_start = True
        if buf:
            pieces.append(_Tag("text", "".join(buf), tag_line))
            buf = []
        if body.startswith("#"):
            pieces.append(_Tag("comment", body[1:], tag_line))
        elif body.startswith("="):
            expr = body[1:].strip()
            match = _NAME.match(expr)
            if not match:
                raise ErbError(source, tag_line, "unsupported ERB expression '<%%=%s%%>': only <%%= name %%> and "
                                                 "<%%= @name %%> are supported (use a .j2 template)" % body[1:])
            pieces.append(_Tag("output", match.group(1), tag_line))
        else:
            raise ErbError(source, tag_line, "ERB code tag '<%%%s%%>' is not supported: only <%%= name %%>, "
                                             "<%%# comment %%> and the trim forms are (use a .j2 template)" % body)
        line = tag_line + text.count("\n", start, after)
        pos = after
    if buf and "".join(buf):
        pieces.append(_Tag("text", "".join(buf), line))
    return pieces


def erb_names(text: str, source: str) -> list[str]:
    """The variable names a template uses, in order of first use."""
    seen: dict[str, None] = {}
    for piece in parse_erb(text, source):
        if piece.kind == "output":
            seen.setdefault(piece.value)
    return list(seen)


def _ruby_to_s(value: t.Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def render_erb(text: str, variables: t.Mapping[str, t.Any], source: str) -> str:
    """Render the subset; an unknown name or a list/mapping value is an error naming the file and line."""
    out: list[str] = []
    for piece in parse_erb(text, source):
        if piece.kind == "text":
            out.append(piece.value)
        elif piece.kind == "output":
            if piece.value not in variables:
                raise ErbError(source, piece.line, "undefined variable '%s'" % piece.value)
            value = variables[piece.value]
            if isinstance(value, (list, dict)):
                raise ErbError(source, piece.line, "variable '%s' is a %s; the ERB subset prints only scalars"
                               % (piece.value, type(value).__name__))
            out.append(_ruby_to_s(value))
    return "".join(out)
