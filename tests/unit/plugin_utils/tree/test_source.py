"""read_source / load_source: files (YAML) and a real local HTTP server (JSON), and the CLI reading a URL."""

import base64
import http.server
import json
import os
import re
import threading
import time

import pytest
import yaml

import noops_cli
from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import (
    SourceError, display_source, load_source, parse_json, read_source,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import TreeError
from noops_cli.main import main

EXAMPLE = os.path.join(noops_cli.COLLECTION_ROOT, "examples", "tree.yml")
with open(EXAMPLE, encoding="utf-8") as _handle:
    EXAMPLE_DOC = yaml.safe_load(_handle)

# path -> (status, body, required Authorization header or None, delay in seconds)
ROUTES = {
    "/tree.json": (200, json.dumps(EXAMPLE_DOC), None, 0),
    "/broken.json": (200, '{"machines": {"a": ', None, 0),
    "/dupes.json": (200, '{"machines": {"a": {"tags": ["x.y"]}, "a": {"tags": ["x.z"]}}}', None, 0),
    "/badtag.json": (200, '{"machines": {"a": {"tags": ["x.y__z.w"]}}}', None, 0),
    "/private.json": (200, json.dumps(EXAMPLE_DOC), "Basic " + base64.b64encode(b"ops:s3cret").decode(), 0),
    "/token.json": (200, json.dumps(EXAMPLE_DOC), "Bearer t0ken", 0),
    "/slow.json": (200, json.dumps(EXAMPLE_DOC), None, 3),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path not in ROUTES:
            self.send_error(404, "Not Found")
            return
        status, body, auth, delay = ROUTES[self.path]
        if auth is not None and self.headers.get("Authorization") != auth:
            self.send_error(401, "Unauthorized")
            return
        time.sleep(delay)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:  # the client gave up (timeout test)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_url_reads_json(server):
    doc, text = read_source(server + "/tree.json")
    assert doc == EXAMPLE_DOC and json.loads(text) == EXAMPLE_DOC
    assert len(load_source(server + "/tree.json")) == 36


@pytest.mark.parametrize("path, kwargs, message", [
    ("/missing.json", {}, "/missing.json: HTTP 404 Not Found"),
    ("/broken.json", {}, "/broken.json:1:20: invalid JSON: Expecting value"),
    ("/dupes.json", {}, "/dupes.json:1:39: invalid JSON: found duplicate key 'a' (first at line 1)"),
    ("/private.json", {}, "/private.json: HTTP 401 Unauthorized"),
    ("/token.json", {"headers": {"Authorization": "Bearer wrong"}}, "HTTP 401"),
    ("/slow.json", {"timeout": 0.5}, "/slow.json: cannot fetch: "),
])
def test_url_errors(server, path, kwargs, message):
    with pytest.raises(SourceError) as err:
        read_source(server + path, **kwargs)
    assert str(err.value).startswith(server) and message in str(err.value)


def test_url_credentials_are_sent_and_masked(server):
    host = server.split("//", 1)[1]
    doc, _ = read_source("http://ops:s3cret@%s/private.json" % host)
    assert doc == EXAMPLE_DOC
    assert read_source(server + "/token.json", headers={"Authorization": "Bearer t0ken"})[0] == EXAMPLE_DOC
    with pytest.raises(SourceError) as err:
        read_source("http://ops:wrong@%s/private.json" % host)
    assert "wrong" not in str(err.value) and "ops:********@" in str(err.value)


def test_url_tree_errors_name_the_url(server):
    with pytest.raises(TreeError, match=r"/badtag.json: machine a: tag \"x.y__z.w\": empty pair"):
        load_source(server + "/badtag.json")


def test_unreachable_url():
    with pytest.raises(SourceError, match=r"^http://127.0.0.1:9/t.json: cannot fetch: "):
        read_source("http://127.0.0.1:9/t.json", timeout=2)


FILES = [
    ("a: 1\na: 2\n", "f.yml:2:1: invalid YAML: found duplicate key 'a' (first at line 1)"),
    ("machines:\n  x: {tags: [a.b]}\n  x: {}\n", "f.yml:3:3: invalid YAML: found duplicate key 'x' (first at line 2)"),
    ("machines: [\n", "f.yml:2:1: invalid YAML"),
    ("machines:\n\ta: 1\n", "f.yml:2:1: invalid YAML"),
]


@pytest.mark.parametrize("text, message", FILES)
def test_file_errors(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.yml").write_text(text)
    with pytest.raises(SourceError) as err:
        read_source("f.yml")
    assert str(err.value).startswith(message)


DUPLICATE_JSON = '{"machines": {\n  "a1": {"tags": ["idc.lg"]},\n  "a1": {"tags": ["idc.sd"]}\n}}\n'


@pytest.mark.parametrize("name, text, message", [
    ("t.yml", "machines:\n  a1: {tags: [idc.lg]}\n  a1: {tags: [idc.sd]}\n",
     "t.yml:3:3: invalid YAML: found duplicate key 'a1' (first at line 2)"),
    ("t.json", DUPLICATE_JSON, "t.json:3:3: invalid JSON: found duplicate key 'a1' (first at line 2)"),
    ("t.json", '{"machines": {"a1": {"tags": ["idc.lg"], "vars": {"x": 1, "x": 2}}}}',
     "t.json:1:59: invalid JSON: found duplicate key 'x' (first at line 1)"),
])
def test_a_key_listed_twice_in_a_file_is_refused_in_the_same_words(tmp_path, monkeypatch, name, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text)
    with pytest.raises(SourceError) as err:
        load_source(name)
    assert str(err.value) == message


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory, want a tree file"),
    (lambda p: p.write_bytes(b"machines:\n  \xff: {}\n"), "not UTF-8 text (byte 12)"),
])
def test_unreadable_files(tmp_path, make, message):
    path = tmp_path / "t.yml"
    make(path)
    with pytest.raises(SourceError, match="^" + re.escape("%s: %s" % (path, message))):
        read_source(str(path))


@pytest.mark.parametrize("source, shown", [
    ("https://ops:pw@cmdb.example/tree", "https://ops:********@cmdb.example/tree"),
    ("https://cmdb.example/tree", "https://cmdb.example/tree"),
    ("/etc/noops/tree.yml", "/etc/noops/tree.yml"),
])
def test_display_source(source, shown):
    assert display_source(source) == shown


def test_cli_reads_a_url_but_never_edits_it(server, capsys):
    assert main(["tree", "query", "service.zk_idc.hh", "--source", server + "/tree.json"]) == 0
    assert capsys.readouterr().out == "hh-zk01.bj\nhh-zk02.bj\nhh-zk03.bj\n"
    assert main(["tree", "validate", server + "/tree.json"]) == 0
    assert capsys.readouterr().out == "%s/tree.json: 36 machines, 21 tags, 57 groups\n" % server
    assert main(["tree", "validate", server + "/badtag.json"]) == 2
    assert "badtag.json: machine a: tag" in capsys.readouterr().err
    assert main(["tree", "remove-machine", "hh-zk01.bj", "--source", server + "/tree.json"]) == 2
    assert "a URL source is read-only" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ('{"machines": {"a": {"vars": {"weight": NaN}}}}', "t.json:1:40: invalid JSON: NaN is not a JSON value"),
    ('{"machines":\n {"a": {"vars": {"w": Infinity}}}}', "t.json:2:23: invalid JSON: Infinity is not a JSON value"),
    ('{"m": "NaN", "w": -Infinity}', "t.json:1:19: invalid JSON: -Infinity is not a JSON value"),
])
def test_json_has_no_nan_or_infinity(text, message):
    with pytest.raises(SourceError) as err:
        parse_json(text, "t.json")
    assert str(err.value) == message
    assert parse_json('{"m": "NaN Infinity"}', "t.json") == {"m": "NaN Infinity"}
