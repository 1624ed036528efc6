"""HTTP sources against a real local server, the inventory cache, and bad trees failing a real ansible-inventory."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from inventory_helpers import HERE, ROOT, TreeServer, ansible_env, listed, run_inventory, unsafe_free

pytestmark = pytest.mark.slow

EXAMPLE_TREE = os.path.join(ROOT, "examples", "tree.yml")
with open(EXAMPLE_TREE) as _f:
    EXAMPLE_DOC = yaml.safe_load(_f)
with open(os.path.join(HERE, "bad_trees.yaml")) as _f:
    BAD_TREES = yaml.safe_load(_f)
TOKEN = "s3cret-token-value"


def example_listing() -> dict:
    with open(os.path.join(HERE, "expected", "example.json")) as f:
        return unsafe_free(json.load(f))


@pytest.fixture
def server():
    routes = {
        "/tree": (200, "application/json", json.dumps(EXAMPLE_DOC).encode()),
        "/broken": (500, "text/plain", b"database is down"),
        "/html": (200, "text/html", b"<html><body>login first</body></html>"),
        "/bad-tree": (200, "application/json", json.dumps({"machines": {"m1": {"tags": ["idc"]}}}).encode()),
    }
    with TreeServer(routes) as srv:
        yield srv


def test_http_source_gives_the_same_inventory_as_the_file(server, write_config):
    config = write_config("http.noops.yml", source=server.base + "/tree")
    # values fetched over HTTP are data (--list prints them as __ansible_unsafe); the structure is the file's
    assert unsafe_free(listed(config)) == example_listing()
    assert server.count("/tree") == 1


@pytest.mark.parametrize("token_in, header", [
    ("config", "Bearer " + TOKEN),
    ("env", "Bearer " + TOKEN),
    (None, None),
])
def test_http_token_is_sent_as_bearer(server, write_config, token_in, header):
    options = {"source": server.base + "/tree", "headers": {"X-Noops-Client": "ci"}}
    env = ansible_env()
    if token_in == "config":
        options["token"] = TOKEN
    elif token_in == "env":
        env["NOOPS_TREE_TOKEN"] = TOKEN
    listed(write_config("tok.noops.yml", **options), env=env)
    (_path, headers), = server.requests
    assert headers.get("Authorization") == header
    assert headers.get("X-Noops-Client") == "ci"
    assert headers.get("Accept") == "application/json"


@pytest.mark.parametrize("route, words", [
    ("/broken", ["HTTP 500", "Internal Server Error"]),
    ("/missing", ["HTTP 404"]),
    ("/html", ["did not return JSON"]),
    ("/bad-tree", ['machine m1: tag "idc": pair "idc" has no "."']),
])
def test_http_errors_name_the_url(server, write_config, route, words):
    config = write_config("err.noops.yml", source=server.base + route, token=TOKEN)
    proc = run_inventory(config)
    assert proc.returncode != 0
    assert server.base + route in proc.stderr
    for word in words:
        assert word in proc.stderr
    assert TOKEN not in proc.stderr + proc.stdout


def test_unreachable_source_names_the_url(write_config):
    with TreeServer({}) as srv:
        url = srv.base + "/tree"
    # the server is closed now: nothing listens on that port
    proc = run_inventory(write_config("down.noops.yml", source=url, timeout=5))
    assert proc.returncode != 0
    assert "cannot reach tree source %s" % url in proc.stderr


def test_credentials_in_the_url_stay_out_of_messages(server, write_config):
    url = server.base.replace("http://", "http://deploy:pa55word@") + "/broken"
    proc = run_inventory(write_config("cred.noops.yml", source=url))
    assert proc.returncode != 0
    assert server.base.replace("http://", "http://deploy:********@") + "/broken" in proc.stderr
    assert "pa55word" not in proc.stderr


def test_cache_serves_the_second_run(server, write_config, tmp_path):
    cache = tmp_path / "cache"
    config = write_config("cached.noops.yml", source=server.base + "/tree", cache=True,
                          cache_plugin="ansible.builtin.jsonfile", cache_connection=str(cache), cache_timeout=3600)
    first = listed(config)
    assert server.count("/tree") == 1
    cache_files = sorted(os.listdir(cache))
    assert len(cache_files) == 1
    stamp = os.stat(cache / cache_files[0]).st_mtime_ns
    second = listed(config)
    assert server.count("/tree") == 1, "the second run must read the cache, not the server"
    assert second == first
    assert os.stat(cache / cache_files[0]).st_mtime_ns == stamp, "a cache just read must not be rewritten"
    # --flush-cache goes back to the source
    assert listed(config, "--flush-cache") == first
    assert server.count("/tree") == 2


@pytest.mark.parametrize("case", BAD_TREES, ids=[c["id"] for c in BAD_TREES])
def test_bad_tree_fails_the_run(write_config, case, tmp_path):
    config = write_config("bad.noops.yml", tree=case["tree"])
    proc = run_inventory(config)
    assert proc.returncode != 0
    assert "Completely failed to parse inventory source %s" % config in proc.stderr
    assert str(tmp_path / "tree.yml") in proc.stderr
    for word in case["expect"]:
        assert word in proc.stderr, word


def test_bad_query_names_the_option(write_config):
    proc = run_inventory(write_config("q.noops.yml", source=EXAMPLE_TREE, query="idc.lg,,status.service"))
    assert proc.returncode != 0
    assert "option 'query'" in proc.stderr and "empty term at char 7" in proc.stderr


def test_failure_comes_from_the_repo_config():
    """Without unparsed_is_failed (ansible's defaults) the same bad tree only warns: ansible.cfg makes it fatal."""
    bad = os.path.join(HERE, "bad.noops.yml")
    strict = run_inventory(bad)
    assert strict.returncode != 0
    lenient = run_inventory(bad, env=ansible_env(ANSIBLE_INVENTORY_UNPARSED_FAILED="False",
                                                 ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="False"))
    assert lenient.returncode == 0
    assert "Failed to parse inventory with" in lenient.stderr
    assert json.loads(lenient.stdout)["_meta"]["hostvars"] == {}
