"""`ansible-inventory --list` over the service_tree plugin, compared with checked-in JSON and with the tree itself.

Set NOOPS_UPDATE_EXPECTED=1 to rewrite expected/*.json after an intended change (then review the diff).
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from inventory_helpers import HERE, ROOT, listed, unsafe_free

from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import PATH_KEYS, Tag, group_name

pytestmark = pytest.mark.slow

EXAMPLE_TREE = os.path.join(ROOT, "examples", "tree.yml")


@pytest.mark.parametrize("name", ["example", "query", "constructed"])
def test_list_matches_expected_json(name):
    got = listed(os.path.join(HERE, "%s.noops.yml" % name))
    path = os.path.join(HERE, "expected", "%s.json" % name)
    if os.environ.get("NOOPS_UPDATE_EXPECTED") == "1":
        with open(path, "w") as f:
            json.dump(got, f, indent=4, sort_keys=True)
            f.write("\n")
    with open(path) as f:
        assert got == json.load(f)


def members(listing: dict, group: str) -> set[str]:
    """Hosts of a group including those of its children, as Ansible resolves them."""
    entry = listing.get(group, {})
    out = set(entry.get("hosts", []))
    for child in entry.get("children", []):
        out |= members(listing, child)
    return out


@pytest.mark.parametrize("name, query", [("example", None), ("query", "idc.lg,idc.sd,!status.offline")])
def test_groups_follow_the_design_rules(name, query):
    """Recompute, straight from the tree file, what docs/design.md promises (tags, groups, host variables), and check the listing holds exactly it."""
    listing = listed(os.path.join(HERE, "%s.noops.yml" % name))
    with open(EXAMPLE_TREE) as f:
        doc = yaml.safe_load(f)
    machines = doc["machines"]
    if query:  # the query of query.noops.yml, evaluated by hand
        machines = {n: m for n, m in machines.items()
                    if any(Tag.parse(t).get("idc") in ("lg", "sd") for t in m["tags"])
                    and not any(Tag.parse(t).get("status") == "offline" for t in m["tags"])}
    hostvars = unsafe_free(listing["_meta"]["hostvars"])
    assert set(hostvars) == set(machines) == members(listing, "all")
    want_groups: dict[str, set[str]] = {}
    want_parent: dict[str, str] = {}
    for name_, entry in machines.items():
        tags = [Tag.parse(t) for t in entry["tags"]]
        for tag in tags:
            for key, value in tag.items():
                want_groups.setdefault(group_name("%s_%s" % (key, value)), set()).add(name_)
            path = [(k, tag[k]) for k in PATH_KEYS if k in tag]
            parent = None
            for depth in range(1, len(path) + 1):
                if [k for k, _ in path[:depth]] != list(PATH_KEYS[:depth]):
                    break
                node = group_name("_".join("%s.%s" % kv for kv in path[:depth]))
                want_groups.setdefault(node, set()).add(name_)
                if parent:
                    want_parent[node] = parent
                parent = node
        host = hostvars[name_]
        assert host["noops_tags"] == entry["tags"]
        assert host["noops_tag"] == dict(tags[0])
        assert host.get("ansible_host") == entry.get("address")
        for key, value in (entry.get("vars") or {}).items():
            assert host[key] == value
    for group, hosts in want_groups.items():
        assert members(listing, group) == hosts, group
    for child, parent in want_parent.items():
        assert child in listing[parent]["children"], (parent, child)
    listed_groups = {g for g in listing if g not in ("_meta", "all", "ungrouped")}
    assert listed_groups == set(want_groups)


def test_node_vars_reach_the_hosts_below_them():
    hostvars = unsafe_free(listed(os.path.join(HERE, "example.noops.yml"))["_meta"]["hostvars"])
    with open(EXAMPLE_TREE) as f:
        nodes = yaml.safe_load(f)["nodes"]
    checked = 0
    for node, entry in nodes.items():
        pairs = Tag.parse(node)
        for host, hv in hostvars.items():
            if any(all(Tag.parse(t).get(k) == v for k, v in pairs.items()) for t in hv["noops_tags"]):
                for key, value in entry["vars"].items():
                    assert hv[key] == value, (node, host, key)
                    checked += 1
    assert checked > 20
