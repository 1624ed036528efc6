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
  - Every character of a group name outside C([A-Za-z0-9_]) becomes C(_). Two different pairs or tree paths that
    would make the same group name (C(cluster.prod-eu) and C(cluster.prod.eu)) are refused, naming both tags.
  - A machine name must be one Ansible uses as it is (letters, digits, C(.), C(-), C(_)); C(host:port), C(,),
    C([..]), spaces, a leading C(!), C(&), C(~) or C(@), globs, C(all), C(ungrouped), C(localhost) and the name of a
    group of the tree are refused.
  - A key listed twice in one mapping (a machine, a variable) is refused in a YAML file, a JSON file and an HTTP
    answer alike. All problems of the machines and nodes are reported at once, one line each.
  - Host vars are C(noops_tags) (the tags as written), C(noops_tag) (the first tag as a mapping key -> value),
    C(ansible_host) (from C(address)) and the machine's own C(vars). The vars of a C(nodes) entry become group vars
    of that tree-path group, or of the pair group when the node is a single pair.
  - Values from a tree file are trusted for templating, as in any inventory file of Ansible's own. Values from an
    HTTP source are data only (C(ansible-inventory --list) shows them as C(__ansible_unsafe)), so that a remote
    service cannot make the controller run Jinja it sent. O(compose) derives variables with Jinja for either source.
  - With O(cache) on, the cache holds the source document (as JSON text) and the source it came from; groups and
    variables are rebuilt from it on every run, and a run that read the cache does not write it back.
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
        expanded) to a YAML file (a name ending in C(.json) is read as JSON), or an C(http://) or C(https://) URL
        that answers a GET with the document as JSON.
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
      - Replaces an C(Authorization) entry of O(headers). It never appears in messages.
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
---
# tree.noops.yml: the tree file next to this config
plugin: noops.platform.service_tree
source: tree.yml

---
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

---
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
from urllib.error import HTTPError, URLError

from ansible import constants as C
from ansible.errors import AnsibleParserError
from ansible.inventory.host import Host
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.urls import open_url
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.path import basedir

try:
    from ansible.utils.vars import validate_variable_name
except ImportError:  # older ansible-core: every host variable goes through Host.set_variable
    validate_variable_name = None
try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19 has no template trust: nothing to apply
    trust_as_template = None

from ansible_collections.noops.platform.plugins.plugin_utils import yaml_file
from ansible_collections.noops.platform.plugins.module_utils.redact import mask_urls
from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import (
    TREE_IDENTITY_MAPS, SourceError, loads_json, yaml_problem,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import TagError
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import Layout, TreeError, load_tree


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


def redact_url(url: str) -> str:
    """The URL with its password masked (``https://ops:********@cmdb/tree``), for messages and error text."""
    return mask_urls(url)


def request_headers(headers: t.Mapping[str, t.Any] | None, token: str | None) -> dict[str, str]:
    """Headers for an URL source: JSON accepted, the configured ones, the token as the bearer credential."""
    out = {"Accept": "application/json"}
    out.update({str(k): str(v) for k, v in (headers or {}).items()})
    if token:
        for key in [k for k in out if k.lower() == "authorization"]:
            del out[key]
        out["Authorization"] = "Bearer %s" % token
    return out


def read_tree_file(path: str) -> t.Any:
    """Parse a tree file: JSON for a ``.json`` name (much faster on big fleets), YAML otherwise.

    Errors are one line, ``path:line:column: invalid YAML|JSON: problem``; a key repeated in one mapping (a
    machine listed twice) is one of them, in the same words as ``noops tree`` uses.
    """
    try:
        with open(path, "rb") as f:
            if path.endswith(".json"):
                try:
                    return loads_json(f.read().decode("utf-8"), path)
                except SourceError as e:
                    raise AnsibleParserError(to_native(e)) from e
                except json.JSONDecodeError as e:
                    raise AnsibleParserError("%s:%d:%d: invalid JSON: %s" % (path, e.lineno, e.colno, e.msg)) from e
                except ValueError as e:  # not UTF-8
                    raise AnsibleParserError("%s: invalid JSON: %s" % (path, e)) from e
            try:
                return load_yaml(f, path)
            except yaml_file.AmbiguousYamlError as e:
                raise AnsibleParserError(str(e)) from None  # one line per value
            except yaml_file.YamlFileError as e:
                raise AnsibleParserError(yaml_problem(e, path)) from None  # one line: the cause repeats it
    except OSError as e:
        raise AnsibleParserError("cannot read tree file %s: %s" % (path, e.strerror or e)) from e


def load_yaml(data: t.Any, source: str = "<tree>") -> t.Any:
    """A tree file's YAML through the collection's one loader, ``yaml_file``: YAML 1.2, libyaml where installed,
    duplicate keys refused (a machine or node repeated through a merge key too). Raises ``yaml_file.YamlFileError`` for
    invalid YAML, ``yaml_file.AmbiguousYamlError`` (one line each) for plain values YAML does not read as written
    (``vars: {enabled: yes}``)."""
    return yaml_file.load_yaml_strict(data, source, fast=True, identity_maps=TREE_IDENTITY_MAPS)


def fetch_tree_url(url: str, headers: dict[str, str], timeout: int, validate_certs: bool) -> str:
    """The body of a GET on ``url`` as text; errors name the URL (never its credentials) and the HTTP status."""
    shown = redact_url(url)
    try:
        response = open_url(url, headers=headers, timeout=timeout, validate_certs=validate_certs,
                            http_agent="noops-service-tree")
        body = response.read()
    except HTTPError as e:
        raise AnsibleParserError("tree source %s answered HTTP %s %s" % (shown, e.code, e.reason)) from e
    except URLError as e:
        raise AnsibleParserError("cannot reach tree source %s: %s" % (shown, to_native(e.reason))) from e
    except (OSError, ValueError) as e:  # timeouts, refused connections, bad URLs
        raise AnsibleParserError("cannot read tree source %s: %s" % (shown, to_native(e))) from e
    try:
        return to_text(body, errors="surrogate_or_strict")
    except UnicodeError as e:
        raise AnsibleParserError("tree source %s did not return UTF-8 text: %s" % (shown, e)) from e


def parse_json_text(text: str, where: str, checked: bool = False) -> t.Any:
    """Parse a JSON document; a key repeated in one object is refused (``checked``: text read before, from the
    cache, is parsed without that check)."""
    try:
        return json.loads(text) if checked else loads_json(text, where)
    except SourceError as e:
        raise AnsibleParserError(to_native(e)) from e
    except ValueError as e:
        raise AnsibleParserError("tree source %s did not return JSON: %s" % (where, e)) from e


def _plain_name(key: t.Any) -> bool:
    """True for a name Host.set_variable stores as is, without a warning (a plain, valid identifier)."""
    # Exactly str: subclasses (Ansible's tagged strings) take the checked path.
    if validate_variable_name is None or type(key) is not str:  # pylint: disable=unidiomatic-typecheck
        return False
    try:
        validate_variable_name(key)
    except Exception:
        return False
    return True


class _Trust:
    """Marks every string of a value as trusted for templating, as Ansible's own YAML inventory files are.

    One tagged copy per distinct string, shared by every host that carries it (strings are immutable): a fleet
    repeats the same few thousand tag values and paths over and over.
    """

    def __init__(self) -> None:
        self._seen: dict[str, t.Any] = {}

    def __call__(self, value: t.Any) -> t.Any:
        if type(value) is str:  # pylint: disable=unidiomatic-typecheck
            tagged = self._seen.get(value)
            if tagged is None:
                tagged = self._seen[value] = trust_as_template(value)
            return tagged
        if isinstance(value, dict):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self(item) for item in value]
        return value


def _fast_path_fits(data: t.Any) -> bool:
    """True when the inventory has the internals ``_populate_direct`` writes to (as in ansible-core 2.15 to 2.19)."""
    group = data.groups.get("all") if isinstance(getattr(data, "groups", None), dict) else None
    return (isinstance(getattr(data, "hosts", None), dict) and hasattr(data, "_groups_dict_cache")
            and hasattr(data, "current_source") and group is not None
            and isinstance(getattr(group, "hosts", None), list) and isinstance(getattr(group, "child_groups", None), list)
            and hasattr(group, "_hosts_cache") and hasattr(group, "host_names"))


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "noops.platform.service_tree"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and is_config_name(path)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)

        raw_source = self.get_option("source")
        if not isinstance(raw_source, str) or not raw_source.strip():
            raise AnsibleParserError("%s: option 'source' must be a tree file path or an http(s):// URL, got %r"
                                     % (path, raw_source))
        source = resolve_source(raw_source.strip(), path)
        doc = self._source_document(source, path, cache)
        shown = redact_url(source) if is_url(source) else source
        try:
            tree = load_tree(doc, shown)
        except TreeError as e:
            raise AnsibleParserError(to_native(e)) from e
        query = self.get_option("query")
        try:
            layout = tree.layout(query or None)
        except TagError as e:
            raise AnsibleParserError("%s: option 'query': %s" % (path, e)) from e
        # Trust as Ansible trusts its own inventory files: a local tree file may hold templates, an HTTP answer
        # never (a remote service must not make the controller run Jinja it sent). Ansible's inventory wrapper
        # reads this attribute on the first set_variable.
        self.trusted_by_default = not is_url(source)
        self._populate(layout)

    # -- the source document --------------------------------------------------------------------------------------

    def _source_document(self, source: str, path: str, cache: bool) -> t.Any:
        """The raw tree document, from the inventory cache when allowed (the cache holds the source, not groups)."""
        use_cache = self.get_option("cache")
        cache_key = self.get_cache_key(path)
        shown = redact_url(source) if is_url(source) else source
        if use_cache and cache:
            entry = self._cache.get(cache_key)
            # An entry remembers its source, so that editing `source:` never serves the old tree.
            if isinstance(entry, dict) and entry.get("source") == source and isinstance(entry.get("document"), str):
                return parse_json_text(entry["document"], "%s (cached)" % shown, checked=True)
        if is_url(source):
            text = fetch_tree_url(source, request_headers(self.get_option("headers"), self.get_option("token")),
                                  self.get_option("timeout"), self.get_option("validate_certs"))
            doc = parse_json_text(text, shown)
        else:
            doc = read_tree_file(source)
            text = json.dumps(doc) if use_cache else ""
        if use_cache:
            # Written only after a fresh read (a cache just read is never rewritten). JSON text rather than the
            # parsed tree: the cache layer deep-copies and compares what it stores, one string is cheap to do so.
            self._cache[cache_key] = {"source": source, "document": text}
        return doc

    # -- groups, hosts and variables ------------------------------------------------------------------------------

    def _populate(self, layout: Layout) -> None:
        data = getattr(self.inventory, "__wrapped__", self.inventory)
        if _fast_path_fits(data):
            trust = _Trust() if self.trusted_by_default and trust_as_template is not None else None
            self._populate_direct(data, layout, trust)
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
    def _populate_direct(data, layout: Layout, trust: t.Callable[[t.Any], t.Any] | None = None) -> None:
        """The same inventory as ``_populate_public`` followed by ``reconcile_inventory``, in linear time.

        Why it touches InventoryData/Group/Host attributes: per membership, ``add_child`` walks the group's
        ancestors twice (``Host.add_group``, ``Group.clear_hosts_cache``); per variable, the inventory wrapper
        deep-copies the value to tag it with its origin and ``Host.set_variable`` re-validates the name;
        ``reconcile_inventory`` then walks every host of every top-level group to add ``all``. On 30,000 machines
        that was most of the parse time. Here groups and links go through the public methods while the groups
        are empty (top-level groups linked to ``all`` first, as reconcile would, when nothing else is pending),
        then each group's ancestors are computed once and memberships are written straight into
        ``Group.hosts``/``Group.host_names`` and ``Host.groups``, and host variables into ``Host.vars`` when
        ``set_variable`` would only have assigned them. ``trust`` (for a local tree file) marks strings trusted
        as the wrapper's ``set_variable`` would; the wrapper's origin tag, used only in error messages, is left out.
        tests/unit/plugins/inventory checks that both ways give the same groups, links, depths, members and vars.
        """
        groups = data.groups
        existing = set(groups)
        for group in layout.groups:
            data.add_group(group)
        # reconcile_inventory() links every group without a parent to `all`, walking its hosts; doing it now,
        # while the groups are empty, is the same link for free. Only when no earlier group waits for that link,
        # so that `all` lists its children in the order reconcile would.
        if all(g.parent_groups for name, g in groups.items() if name != "all" and name in existing):
            has_parent = {child for _parent, child in layout.children}
            for group in layout.groups:
                if group not in has_parent and group not in existing:
                    data.add_child("all", group)
        for parent, child in layout.children:
            data.add_child(parent, child)
        for group, group_vars in layout.group_vars.items():
            target = groups[group]
            for key, value in group_vars.items():
                target.set_variable(key, trust(value) if trust else value)

        hosts = data.hosts
        source = data.current_source
        if source:
            source_dir = basedir(source)
        else:
            source, source_dir = None, None
        plain_keys: set[str] = set()  # variable names set_variable would accept without a warning
        for name, host_vars in layout.host_vars.items():
            host = hosts.get(name)
            if host is None and name not in C.LOCALHOST:
                # what add_host does for a new, not-localhost name
                host = hosts[name] = Host(name)
                host.vars["inventory_file"] = source
                host.vars["inventory_dir"] = source_dir
            else:
                data.add_host(name)
                host = hosts[name]
            own = host.vars
            for key, value in host_vars.items():
                if trust:
                    value = trust(value)
                if key in plain_keys and key not in own:
                    own[key] = value
                else:
                    host.set_variable(key, value)
                    if _plain_name(key):
                        plain_keys.add(key)

        touched = set()
        for group_text, members in layout.group_hosts.items():
            if not members:
                continue
            group = groups[group_text]
            ancestors = group.get_ancestors()
            touched.add(group)
            touched.update(ancestors)
            names = group.host_names
            group_hosts = group.hosts
            for name in members:
                if name in names:
                    continue
                host = hosts[name]
                group_hosts.append(host)
                names.add(name)
                # what Host.add_group records: the group's ancestors, then the group (a few short list scans
                # measured faster here than keeping an ordered set per host)
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
        for name in layout.host_vars:
            host_vars = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(compose, host_vars, name, strict=strict)
            self._add_host_to_composed_groups(groups, host_vars, name, strict=strict)
            self._add_host_to_keyed_groups(keyed_groups, host_vars, name, strict=strict)
