# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name (plugins/action/release_render.py), on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: release_render
short_description: Render a release package's config files for one host, on the controller
description:
  - Reads a release package (a folder holding C(release/) or a C(.tar.gz)) on the controller, merges the
    C(base) section of C(release/deploy/config.template.yml) with the section named by O(env), resolves
    C($<x>) from O(values) and C(${x}) from other config keys, and renders every entry of
    C(release/deploy/init.yml) with its Jinja2 (C(.j2)) or ERB-subset (C(.erb)) template.
  - A file whose resolved name lies under the cluster's C(path) (the stable symlink) is placed in
    O(release_path) instead, so the config is versioned with the program; other names are used as they are.
  - Files are written below O(staging_dir) on the controller (owner-only modes); the caller copies each
    C(src) to C(dest) on the host with the returned C(mode) and C(owner). Nothing on the host is touched.
  - Files that use a secret (a config key or cluster value with a secret name - passwd, password, passphrase,
    secret or credential anywhere, or a last word key, token, pass, pwd or auth - or anything derived from one)
    get mode 0640 or stricter. Secret values and URL passwords never appear in the result.
  - This is an action plugin; it never connects to the host.
version_added: "0.1.0"
author: noops maintainers (!UNKNOWN)
options:
  package:
    description:
      - The package on the controller, a folder that contains C(release/) or a C(.tar.gz)/C(.tgz)/C(.tar).
      - A relative path not found from the current folder is looked up like a C(files/) source of the role
        or playbook.
      - A tarball is checked member by member (absolute names, C(..), links escaping C(release/), devices)
        before anything is unpacked.
    type: path
    required: true
  env:
    description:
      - The environment, the section of C(config.template.yml) merged over C(base) (C(cluster.env) in
        cluster.yml). An env without a section is an error naming the file and the env.
    type: str
    required: true
  values:
    description:
      - The cluster's values for C($<x>) references, the module block of cluster.yml, such as C(name), C(user),
        C(path), C(version), C(job), C(data_path) and every template value such as C(db_passwd).
      - C(path) must be set; it decides which files go into O(release_path).
    type: dict
    required: true
  release_path:
    description:
      - The new release folder on the host, where C(path) will point after the switch.
    type: str
    required: true
  staging_dir:
    description:
      - Controller folder that receives the rendered files, one per host (for example
        C({{ playbook_dir }}/.staging/{{ inventory_hostname }})). Files are written as
        C(staging_dir + dest).
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
    details: The work is done on the controller by the action plugin of the same name.
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Rendering changes no host, so it renders in check mode too (into the controller's O(staging_dir)).
  diff_mode:
    support: none
  platform:
    support: N/A
    details: Runs on the controller only; the host is not contacted.
    platforms: all
notes:
  - O(values) is treated as C(no_log); error messages and results are scrubbed of secret values.
  - The package standard, the formats, lint and build are described in C(docs/package.md) of the collection.
"""

EXAMPLES = r"""
- name: Render the config of this host's release
  noops.platform.release_render:
    package: /srv/packages/hello-1.0.0.tar.gz
    env: production
    values:
      name: hello
      user: work
      path: /home/work/hello
      version: 1.0.0
      job: job.hello_service.hello_cluster.production-lg_pdl.demo_owt.ops_cop.example
      data_path: /data/hello
      port: 8080
      db_passwd: "{{ vault_hello_db_passwd }}"
    release_path: /home/work/.releases/hello/1.0.0
    staging_dir: "{{ playbook_dir }}/.staging/{{ inventory_hostname }}"
  register: rendered

- name: Put the rendered files in place
  ansible.builtin.copy:
    src: "{{ item.src }}"
    dest: "{{ item.dest }}"
    mode: "{{ item.mode }}"
    owner: "{{ item.owner | default(omit, true) }}"
  loop: "{{ rendered.files }}"
  loop_control:
    label: "{{ item.dest }}"
"""

RETURN = r"""
files:
  description: One item per init.yml entry, in init.yml order.
  returned: success
  type: list
  elements: dict
  contains:
    entry:
      description: The init.yml entry id (its key, or C(#n) for an unnamed list item).
      type: str
      sample: hello
    dest:
      description: Absolute destination on the host (inside O(release_path) when the name was under C(path)).
      type: str
      sample: /home/work/.releases/hello/1.0.0/conf/hello.conf
    src:
      description: The rendered file on the controller, below O(staging_dir).
      type: str
      sample: /work/.staging/web1/home/work/.releases/hello/1.0.0/conf/hello.conf
    mode:
      description: Octal mode for the host file; 0640 or stricter when C(secret).
      type: str
      sample: "0640"
    owner:
      description: Owner from the entry, or null.
      type: str
      sample: work
    type:
      description: The entry's type, carried through (file, mon, backup, ...).
      type: str
      sample: file
    secret:
      description: Whether the file holds a secret.
      type: bool
      sample: true
    in_release:
      description: Whether the file goes into the new release folder.
      type: bool
      sample: true
    template:
      description: The template it was rendered from, relative to C(release/deploy/templates).
      type: str
      sample: hello.conf.j2
config:
  description: The resolved config for O(env); the value of every secret key is replaced by C(<secret>).
  returned: success
  type: dict
  sample: {basedir: /home/work/hello, port: 8080, db_password: <secret>}
secret_keys:
  description: The config keys treated as secret.
  returned: success
  type: list
  elements: str
  sample: [db_dsn, db_password]
"""
