"""The ERB subset: what renders like Ruby's ERB (trim mode "-"), and what is refused with file and line."""

import pytest

from ansible_collections.noops.platform.plugins.plugin_utils.erb import ErbError, erb_names, render_erb

VARS = {"name": "dch", "port": 8080, "on": True, "off": False, "nothing": None, "list": [1], "map": {"a": 1}}


@pytest.mark.parametrize("text, expected", [
    ("plain\ntext\n", "plain\ntext\n"),
    ("n=<%= name %>\n", "n=dch\n"),
    ("n=<%= @name %>\n", "n=dch\n"),
    ("n=<%=name%>:<%=   @port   %>\n", "n=dch:8080\n"),
    ("<%= on %>/<%= off %>/<%= nothing %>.", "true/false/."),
    ("a<%# a comment %>b\n", "ab\n"),
    ("a<%# a comment\n spanning lines %>b\n", "ab\n"),
    ("<%# header -%>\nx\n", "x\n"),
    ("x=<%= name -%>\ny\n", "x=dchy\n"),
    ("x=<%= name -%>\r\ny\n", "x=dchy\n"),
    ("a\n    <%-= name %>\nb\n", "a\ndch\nb\n"),
    ("a\n    <%-= name -%>\nb\n", "a\ndchb\n"),
    ("k = <%-= name %>\n", "k = dch\n"),            # "<%-" trims only when the tag starts its line
    ("<%= name %> <%-= port %>\n", "dch 8080\n"),  # ...and a tag before it on the line counts
    ("<%%= not a tag %>\n", "<%= not a tag %>\n"),
    ("100%> done\n", "100%> done\n"),
    ("", ""),
], ids=["text", "output", "ivar", "spacing", "ruby-to_s", "comment", "multiline-comment", "comment-trim",
        "trim-newline", "trim-crlf", "trim-indent", "trim-both", "no-trim-mid-line", "no-trim-after-tag",
        "literal", "lone-close", "empty"])
def test_render(text, expected):
    assert render_erb(text, VARS, "t.erb") == expected


@pytest.mark.parametrize("text, line, message", [
    ("a\n<% if on %>\nx\n<% end %>\n", 2, "ERB code tag '<% if on %>' is not supported"),
    ("a\nb\n\n<%- items.each do |i| -%>\n", 4, "ERB code tag '<% items.each do |i| %>' is not supported"),
    ("x\n<%= name.upcase %>\n", 2, "unsupported ERB expression '<%= name.upcase %>'"),
    ("<%= port + 1 %>", 1, "unsupported ERB expression '<%= port + 1 %>'"),
    ("<%= @a || 'x' %>", 1, "unsupported ERB expression"),
    ("<%== name %>", 1, "unsupported ERB expression"),
    ("<%= %>", 1, "unsupported ERB expression"),
    ("a\n<%# c\nd %>\ne <%= name\n", 4, "'<%' without a closing '%>'"),
    ("a\n\n<%= missing %>\n", 3, "undefined variable 'missing'"),
    ("<%= @list %>", 1, "variable 'list' is a list; the ERB subset prints only scalars"),
    ("<%= map %>", 1, "variable 'map' is a dict; the ERB subset prints only scalars"),
], ids=["if", "each-trimmed", "method-call", "arithmetic", "or", "double-equals", "empty-output",
        "unclosed-after-multiline", "undefined", "list", "dict"])
def test_errors(text, line, message):
    with pytest.raises(ErbError) as e:
        render_erb(text, VARS, "tpl/mon.conf.erb")
    assert e.value.line == line
    assert message in e.value.message
    assert str(e.value).startswith("tpl/mon.conf.erb:%d: " % line)


def test_names_in_order_once():
    assert erb_names("<%= b %><%# x %><%= @a %> <%= b %>", "t.erb") == ["b", "a"]
