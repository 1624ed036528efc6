# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: service_tree
short_description: Service tree of tagged machines as an Ansible inventory
description:
  - Reads a service tree document (C(machines) with their tags, address and vars, optional C(nodes) with vars)
    from a YAML file or from an HTTP(S) endpoint that returns the same document as JSON.
  - For every pair a machine carries (C(key.value)) the machine joins the group C(key_value), for example
    C(idc_lg) or C(cluster_production_lg).
  - The organisational path C(cop > owt > pdl > service > cluster) of every tag becomes nested groups named by
    their prefix tag (C(cop_xiaomi), C(cop_xiaomi_owt_miliao), ...), each a child of its parent; the machine is a
    member of the deepest one and so, through nesting, of every level above it.
  - Every character of a group name outside C([A-Za-z0-9_]) becomes C(_).
  - Host vars are C(noops_tags) (the tags as written), C(noops_tag) (the first tag as a mapping key -> value),
    C(ansible_host) (from C(address)) and the machine's own C(vars). The vars of a C(nodes) entry become group vars
    of that tree-path group, or of the pair group when the node is a single pair.
  - Values in the tree are data; Jinja expressions in them are not evaluated.
  - The inventory config file name must end in C(.noops.yml) or C(.noops.yaml), or be C(service_tree.yml) or
    C(service_tree.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as a config file of this plugin.
    type: str
    required: true
    choices: [noops.platform.service_tree]
  source:
    description:
      - Where the tree document comes from. A path (relative paths start at the folder of this config file, C(~) is
        expanded) to a YAML file, or an C(http://) or C(https://) URL that answers a GET with the document as JSON.
    type: str
    required: true
  query:
    description:
      - Keep only the machines matching this tag query, for example C(idc.lg,idc.sd,!status.offline).
      - Terms are separated by C(,); a plain term adds, C(&) intersects, C(!) removes; values may use shell globs.
      - Groups are made from the kept machines only.
    type: str
  headers:
    description: Extra HTTP headers sent with the request for an URL source.
    type: dict
    default: {}
  token:
    description:
      - "Bearer token for an URL source, sent as C(Authorization: Bearer <token>)."
      - Prefer the environment variable over writing the token into the config file.
    type: str
    env:
      - name: NOOPS_TREE_TOKEN
  timeout:
    description: Seconds to wait for an URL source to answer.
    type: int
    default: 10
  validate_certs:
    description: Verify the TLS certificate of an C(https://) source.
    type: bool
    default: true
"""

EXAMPLES = r"""
# tree.noops.yml: the tree file next to this config
plugin: noops.platform.service_tree
source: tree.yml

# prod.noops.yml: only machines in production, from the tree service, cached for an hour
plugin: noops.platform.service_tree
source: https://tree.example.com/api/tree
# the token comes from the environment: NOOPS_TREE_TOKEN=...
query: status.service
timeout: 20
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/noops-inventory
cache_timeout: 3600

# service_tree.yml: extra groups from host vars
plugin: noops.platform.service_tree
source: /etc/noops/tree.yml
keyed_groups:
  # one group per owt: owt_miliao -> team_miliao
  - key: noops_tag.owt
    prefix: team
groups:
  # machines of the dch service in lg
  dch_lg: noops_tag.service == 'dch' and noops_tag.idc == 'lg'
compose:
  ansible_user: "'work'"
"""

import json
import os
import typing as t

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.noops.platform.plugins.module_utils.tags import TagError
from ansible_collections.noops.platform.plugins.module_utils.tree import Layout, TreeError, load_tree

try:  # libyaml's loader is several times faster on big trees
    import yaml
    _YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
except ImportError:  # pragma: no cover - ansible-core requires PyYAML
    yaml = None

CONFIG_SUFFIXES = (".noops.yml", ".noops.yaml")
CONFIG_NAMES = ("service_tree.yml", "service_tree.yaml")


def is_config_name(path: str) -> bool:
    """True for the config file names this plugin answers to."""
    base = os.path.basename(path)
    return base in CONFIG_NAMES or base.endswith(CONFIG_SUFFIXES)


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def resolve_source(source: str, config_path: str) -> str:
    """A URL as is; a path expanded and made absolute against the config file's folder."""
    if is_url(source):
        return source
    path = os.path.expanduser(source)
    if not os.path.isabs(path):
        path = os.path.join(os.path.dirname(os.path.abspath(config_path)), path)
    return os.path.normpath(path)


def request_headers(headers: t.Mapping[str, t.Any] | None, token: str | None) -> dict[str, str]:
    """Headers for an URL source: the configured ones, JSON accepted, the token as a bearer credential."""
    out = {"Accept": "application/json"}
    out.update({str(k): str(v) for k, v in (headers or {}).items()})
    if token:
        out["Authorization"] = "Bearer %s" % token
    return out


def read_tree_file(path: str) -> t.Any:
    try:
        with open(path, "rb") as f:
            return yaml.load(f, Loader=_YamlLoader)
    except OSError as e:
        raise AnsibleParserError("cannot read tree file %s: %s" % (path, e.strerror or e)) from e
    except yaml.YAMLError as e:
        raise AnsibleParserError("tree file %s is not valid YAML: %s" % (path, e)) from e


def fetch_tree_url(url: str, headers: dict[str, str], timeout: int, validate_certs: bool) -> t.Any:
    try:
        response = open_url(url, headers=headers, timeout=timeout, validate_certs=validate_certs,
                            http_agent="noops-service-tree")
        body = response.read()
    except HTTPError as e:
        raise AnsibleParserError("tree source %s answered HTTP %s %s" % (url, e.code, e.reason)) from e
    except URLError as e:
        raise AnsibleParserError("cannot reach tree source %s: %s" % (url, to_native(e.reason))) from e
    except (OSError, ValueError) as e:  # timeouts, refused connections, bad URLs
        raise AnsibleParserError("cannot read tree source %s: %s" % (url, to_native(e))) from e
    try:
        return json.loads(to_text(body, errors="surrogate_or_strict"))
    except ValueError as e:
        raise AnsibleParserError("tree source %s did not return JSON: %s" % (url, e)) from e


def _fast_path_fits(data: t.Any) -> bool:
    """True when the inventory has the internals ``_populate_direct`` writes to (as in ansible-core 2.15 to 2.19)."""
    group = data.groups.get("all") if isinstance(getattr(data, "groups", None), dict) else None
    return (isinstance(getattr(data, "hosts", None), dict) and hasattr(data, "_groups_dict_cache")
            and group is not None and isinstance(getattr(group, "hosts", None), list)
            and hasattr(group, "_hosts_cache") and hasattr(group, "host_names"))


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "noops.platform.service_tree"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and is_config_name(path)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)

        source = resolve_source(self.get_option("source"), path)
        doc = self._source_document(source, path, cache)
        try:
            tree = load_tree(doc, source)
            layout = tree.layout(self.get_option("query") or None)
        except (TreeError, TagError) as e:
            raise AnsibleParserError(to_native(e)) from e
        self._populate(layout)

    def _source_document(self, source: str, path: str, cache: bool) -> t.Any:
        """The raw tree document, from the inventory cache when allowed (the cache holds the source, not groups)."""
        use_cache = self.get_option("cache")
        read_cache = use_cache and cache
        cache_key = self.get_cache_key(path)
        if read_cache:
            try:
                return self._cache[cache_key]
            except KeyError:
                pass
        if is_url(source):
            doc = fetch_tree_url(source, request_headers(self.get_option("headers"), self.get_option("token")),
                                 self.get_option("timeout"), self.get_option("validate_certs"))
        else:
            doc = read_tree_file(source)
        # Written only after a fresh read: a cache just read is never rewritten.
        if use_cache:
            self._cache[cache_key] = doc
        return doc

    def _populate(self, layout: Layout) -> None:
        data = getattr(self.inventory, "__wrapped__", self.inventory)
        if _fast_path_fits(data):
            self._populate_direct(data, layout)
        else:
            self._populate_public(self.inventory, layout)
        self._construct(layout)

    @staticmethod
    def _populate_public(inventory, layout: Layout) -> None:
        """Hand the layout to Ansible through InventoryData's public methods only (the reference result)."""
        # Groups first, then the links while every group is still empty, then hosts: adding a child group
        # to a group that already holds hosts makes Ansible re-walk those hosts' ancestors.
        for group in layout.groups:
            inventory.add_group(group)
        for parent, child in layout.children:
            inventory.add_child(parent, child)
        for group, group_vars in layout.group_vars.items():
            for key, value in group_vars.items():
                inventory.set_variable(group, key, value)
        for name, host_vars in layout.host_vars.items():
            inventory.add_host(name)
            for key, value in host_vars.items():
                inventory.set_variable(name, key, value)
        for group, members in layout.group_hosts.items():
            for name in members:
                inventory.add_child(group, name)

    @staticmethod
    def _populate_direct(data, layout: Layout) -> None:
        """The same result as ``_populate_public``, built in time linear in the number of memberships.

        Per membership, ``InventoryData.add_child`` walks the group's ancestors twice (``Host.add_group`` and
        ``Group.clear_hosts_cache``) and, through the inventory wrapper, copies every variable value to tag it with
        its origin; on 30,000 machines that is most of the parse time. Here every group's ancestors are computed
        once, after all links exist, and the memberships Ansible would record are written straight into
        ``Group.hosts``/``Group.host_names`` and ``Host.groups``; variables go through ``Group``/``Host``
        ``set_variable`` (name checks and merging kept) on the unwrapped InventoryData, so values stay untrusted
        plain data. tests/unit/plugins/inventory checks that both ways give the same inventory.
        """
        for group in layout.groups:
            data.add_group(group)
        for parent, child in layout.children:
            data.add_child(parent, child)
        groups = data.groups
        for group, group_vars in layout.group_vars.items():
            target = groups[group]
            for key, value in group_vars.items():
                target.set_variable(key, value)
        hosts = data.hosts
        for name, host_vars in layout.host_vars.items():
            data.add_host(name)
            host = hosts[name]
            for key, value in host_vars.items():
                host.set_variable(key, value)
        touched = set()
        for group_text, members in layout.group_hosts.items():
            if not members:
                continue
            group = groups[group_text]
            ancestors = group.get_ancestors()
            touched.add(group)
            touched.update(ancestors)
            names = group.host_names
            for name in members:
                if name in names:
                    continue
                host = hosts[name]
                group.hosts.append(host)
                names.add(name)
                # what Host.add_group records: the group's ancestors first, then the group
                mine = host.groups
                for ancestor in ancestors:
                    if ancestor not in mine:
                        mine.append(ancestor)
                if group not in mine:
                    mine.append(group)
        for group in touched:
            group._hosts_cache = None
        data._groups_dict_cache = {}

    def _construct(self, layout: Layout) -> None:
        compose = self.get_option("compose")
        groups = self.get_option("groups")
        keyed_groups = self.get_option("keyed_groups")
        if not (compose or groups or keyed_groups):
            return
        strict = self.get_option("strict")
        for name, host_vars in layout.host_vars.items():
            host_vars = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(compose, host_vars, name, strict=strict)
            self._add_host_to_composed_groups(groups, host_vars, name, strict=strict)
            self._add_host_to_keyed_groups(keyed_groups, host_vars, name, strict=strict)
