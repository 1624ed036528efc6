# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name (plugins/action/odin_prepare.py), on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: odin_prepare
short_description: Check a cluster.yml, choose its hosts and prepare its package, on the controller
description:
  - The first step of a deploy (C(playbooks/deploy.yml)), before any host is touched. Reads O(cluster_file),
    checks every field, selects the hosts, resolves the rollout settings, fetches (or builds) the package,
    verifies and lints it, and checks that the cluster gives every C($<x>) value the package's
    C(config.template.yml) uses for C(cluster.env).
  - >-
    Every problem is reported at once, one line each naming the file, the field and the value, for example
    C(cluster.yml: dch.pkg_url: "gopher://x/y.tgz": scheme must be http, https, ftp or file). The task then
    fails with them joined by newlines in C(msg) and as the list RV(problems).
  - "Hosts: the module block's C(host:) list (inventory names or C(ansible_host) addresses) or, without it,
    the inventory hosts whose C(noops_tags) match any C(cluster.jobs) tag, only those that also carry
    C(status.service) unless C(include_offline: true). They are narrowed to O(limit_hosts) and returned in
    inventory order."
  - "Package: C(pkg_url) (http, https, ftp, file, or a plain path) is downloaded once into
    C(${XDG_CACHE_HOME:-~/.cache}/noops/packages/), keyed by the URL and its checksum (C(pkg_sha256), or a
    C(<url>.sha256) file published beside the package) and verified. A local file or package folder (one that
    holds C(release/)) is copied or packaged into the cache by content. Relative paths resolve against the
    folder of the cluster file."
  - "Build: with C(code_url) (a git URL or a local repository) instead, the repository is fetched into
    C(${XDG_CACHE_HOME:-~/.cache}/noops/build/), C(branch) (default the remote HEAD, then master, main) is
    checked out, C(build_command) runs in C(relative_path), and C(relative_path/release) is packaged as
    C(<name>-<commit12>.tar.gz) beside C(build.log) and C(build-error.log). The package of a commit is reused
    unless C(force_rebuild: true). The release version is the cluster's, else the commit's first 12 digits."
  - "Rollout plan: the batches of the selected hosts, and the sleep and the pause for the operator after each, are
    decided once and returned as RV(plan); C(playbooks/deploy.yml) runs its batches from it."
  - This is an action plugin; it never connects to a host. The format is in C(docs/cluster.md).
version_added: "0.1.0"
author: noops maintainers (!UNKNOWN)
options:
  cluster_file:
    description:
      - Path of the cluster.yml on the controller. A relative path not found from the current folder is looked
        for beside the playbook. Messages name it as given.
    type: path
    required: true
  package:
    description:
      - Fetch (or build), verify and lint the package. C(false) for a rollback, which needs only the cluster's hosts,
        paths and rollout settings; the result's C(thor.thor_package) is then empty.
    type: bool
    default: true
  overrides:
    description:
      - Extra vars that win over the cluster.yml's fields, each checked as the field is - the request's
        C(env), C(version), C(pkg_url) (another package; the file's C(pkg_sha256) and git settings are then not
        used), C(pkg_sha256), C(branch) (with a C(code_url) in the file) and the rollout settings C(batch),
        C(sleep), C(pause_step), C(max_fail), C(canary), C(force), and C(force_rebuild) (build the package again
        from C(code_url), or download C(pkg_url) again, even when the package cache holds it). A null or empty
        value counts as not given.
        Strings such as C("2") or C("true") (what C(-e key=value) gives) are accepted.
    type: dict
    default: {}
  limit_hosts:
    description:
      - The inventory hosts that the run's C(--limit) leaves; the selected hosts are narrowed to them. The
        pattern is never parsed here, Ansible applies its own host pattern rules.
      - >-
        Defaults, when the run has a C(--limit) (C(ansible_limit)), to C(ansible_play_hosts_all), the hosts of
        the play after the limit. Run the task in a play on C(hosts: all), as C(playbooks/deploy.yml) does, so
        that they are the whole inventory narrowed by C(--limit). Without a C(--limit) no host is left out.
    type: list
    elements: str
  cache_dir:
    description:
      - Folder of the package and build caches instead of C(${XDG_CACHE_HOME:-~/.cache}/noops).
    type: path
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
    details: Changes no host; the package is still fetched or built and verified into the controller cache.
  diff_mode:
    support: none
  platform:
    details: Runs on the controller only; no host is contacted.
    platforms: all
notes:
  - >-
    The result holds the cluster's template values (passwords, keys) in RV(thor.thor_values). A successful
    result is marked C(_ansible_no_log), so callbacks print it censored; keep C(no_log: true) on the task too,
    and never print RV(thor) in a later task. A failed result holds no template values, and problem lines show
    secret-named values as C(********).
  - >-
    Rollout settings are looked up in the extra vars (O(overrides)), then the module block, then the
    C(cluster:) block.
seealso:
  - module: noops.platform.deploy_lock
  - module: noops.platform.release_render
"""

EXAMPLES = r"""
- name: Check cluster.yml, the hosts and the package
  noops.platform.odin_prepare:
    cluster_file: "{{ cluster_file }}"
    overrides:
      batch: "{{ batch | default(omit) }}"
  register: odin
  run_once: true
  delegate_to: localhost
  no_log: true
  failed_when: false

- name: Report every problem at once
  ansible.builtin.fail:
    msg: "{{ odin.problems | join('\n') }}"
  when: odin.problems | default([]) | length > 0
"""

RETURN = r"""
problems:
  description: Every problem found, one line each (empty on success).
  returned: always
  type: list
  elements: str
  sample: ['cluster.yml: dch.pkg_url: "gopher://x/y.tgz": scheme must be http, https, ftp or file']
hosts:
  description: The inventory names to deploy to, in inventory order, after O(limit_hosts).
  returned: when the file could be read
  type: list
  elements: str
  sample: [hh-acc-dch01.bj, hh-acc-dch02.bj]
hosts_all:
  description: The hosts before O(limit_hosts).
  returned: when the file could be read
  type: list
  elements: str
host_jobs:
  description:
    - Host name to its own job tag (thor's C($<job>)) for the hosts whose first matching C(cluster.jobs) tag is
      not the first one; every other host gets C(thor_job) of RV(thor). Empty with a single jobs tag.
  returned: when the file could be read
  type: dict
  sample: {sd-acc-dch01.bj: job.dch_service.dch_cluster.production-sd}
query:
  description: The tag query the hosts were selected with; null when the file lists C(host:).
  returned: when the file could be read
  type: str
  sample: job.dch_service.dch,&status.service
service:
  description:
    - The job tag being deployed (the first of C(cluster.jobs)), spelled as in cluster.yml.
    - Tags compare whatever the order of their pairs; the spelling is kept for templates, the history and reports.
    - Also when the request is refused, as far as the file can be read (the first well-formed jobs tag); null when
      none can be read.
  returned: when the file could be parsed as YAML
  type: str
name:
  description: The cluster's name (C(cluster.name)); null when it is missing or malformed.
  returned: when the file could be parsed as YAML
  type: str
  sample: dch
lock_name:
  description: The service cluster's lock key for M(noops.platform.deploy_lock), its sorted canonical job tags.
  returned: when the file could be read
  type: str
version:
  description:
    - The release version (the module block's, else C(cluster.version), else the built commit).
    - Also when the request is refused, as far as the file can be read; null when no well-formed version is given.
  returned: when the file could be parsed as YAML
  type: str
  sample: "93043"
package:
  description: The package on the controller, in the cache.
  returned: when the package was had
  type: str
package_sha256:
  description: Its sha256.
  returned: when the package was had
  type: str
package_tree:
  description: The package unpacked once on the controller, in the cache by its sha256
    (C(packages/unpacked/<sha256>/), holding C(release/)); the lint, the needs check and every host's render read it.
  returned: when the package was had and passed lint
  type: str
fetch:
  description: How the package was had; C(origin) is download, cache, file or folder; C(verified_by) is
    pkg_sha256, <url>.sha256 or null.
  returned: with pkg_url
  type: dict
build:
  description: The build from git.
  returned: with code_url
  type: dict
  contains:
    commit:
      description: The full commit built.
      type: str
    log:
      description: Path of C(build.log) (the build command's output).
      type: str
    error_log:
      description: Path of C(build-error.log) (its standard error).
      type: str
    reused:
      description: Whether the package of this commit was reused from the cache.
      type: bool
limit:
  description: The run's C(--limit) pattern (C(ansible_limit)), as given; null without one.
  returned: when the file could be read
  type: str
  sample: idc_lg
rollout:
  description: The rollout settings with defaults. C(max_fail) is a count (a percentage is taken of the host
    count, rounded down); C(canary) is the first batch's size, 0 for none.
  returned: when the file could be read
  type: dict
  sample: {batch: 2, sleep: 5, pause_step: 0, max_fail: 1, canary: 1, force: false}
plan:
  description:
    - The rollout plan of RV(hosts) with RV(rollout), decided before any host is touched. The first batch holds
      C(canary) hosts when C(canary) > 0, every other C(batch) hosts (the last may hold fewer). A batch is followed
      by a pause for the operator when it is the canary batch, or when it takes the count of hosts done past a
      multiple of C(pause_step). Neither a sleep nor a pause follows the last batch. Whether more than
      C(max_fail) hosts failed is decided while the rollout runs.
    - The same plan comes from the pure function C(rollout_plan(hosts, rollout)) of C(plugin_utils/odin/cluster.py).
  returned: when the file could be read
  type: dict
  sample:
    hosts: 3
    serial: [1, 2]
    batches:
      - {hosts: [hh-acc-dch01.bj], done: 1, sleep: 5, pause: canary batch done}
      - {hosts: [hh-acc-dch02.bj, hh-acc-dch03.bj], done: 3, sleep: 0, pause: null}
  contains:
    hosts:
      description: How many hosts the rollout deploys to.
      type: int
    serial:
      description: The size of each batch, in order (what the rollout play's C(serial) is given).
      type: list
      elements: int
    batches:
      description: The batches, in order.
      type: list
      elements: dict
      contains:
        hosts:
          description: The batch's inventory names, in inventory order.
          type: list
          elements: str
        done:
          description: How many hosts the rollout has reached once this batch is done (the batches before it included).
          type: int
        sleep:
          description:
            - Seconds to wait after the batch, a whole number (C(ansible.builtin.pause) waits whole seconds, so a
              fraction in C(sleep) is dropped); 0 after the last batch.
          type: int
        pause:
          description:
            - >-
              Why the rollout pauses for the operator after the batch (C(canary batch done), or
              C(pause_step N: D of T hosts done)); null when it does not.
          type: str
thor:
  description: The thor role's variables (thor_name, thor_version, thor_package, thor_package_tree, thor_env,
    thor_path, thor_user, thor_data_path, thor_job, thor_force, thor_values). C(thor_values) holds secrets. C(thor_job) is the first
    jobs tag; RV(host_jobs) has the hosts that differ.
  returned: success
  type: dict
  contains:
    thor_values:
      description: The template values of the module block (every key that is not a setting); secrets included.
      type: dict
cluster:
  description: The parsed cluster.yml with the value of every secret-named key shown as C(********).
  returned: when the file could be read
  type: dict
"""
