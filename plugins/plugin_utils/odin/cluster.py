# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cluster.yml, Odin's input: validation, host selection, rollout settings and the variables for thor.

    cluster:
      name: dch                       # names the module block below
      version: 1.0.0.1
      env: production                 # section of the package's config.template.yml
      jobs: [job.dch_service.dch_cluster.production-hh_pdl.account_owt.miliao_cop.xiaomi]
    dch:
      host: [10.237.37.43]            # or omitted: the inventory hosts whose tags match `jobs`
      user: work
      version: "93043"
      path: /home/work/passport-dch
      pkg_url: https://.../dch-93043.tar.gz
      db_passwd: xxxx                 # every other key is a template value

Every check returns a list of problems instead of raising, so a run reports all of them at once. A problem is
one line naming the file, the field and the value:

    cluster.yml: dch.pkg_url: "gopher://x/y.tgz": scheme must be http, https, ftp or file

Values of secret-named fields (the rule of module_utils/redact.py: db_passwd, passphrase, api_key, token...) are
shown as "********", and so is the password of any URL.
Pure Python (PyYAML only in ``load_cluster_text``, through ``yaml_file``); the odin_prepare action is the thin
glue around it.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
import typing as t
import urllib.parse

from ansible_collections.noops.platform.plugins.plugin_utils.odin.fetch import (
    FetchError, build_from_git, fetch_package, unpack_once, url_scheme,
)
from ansible_collections.noops.platform.plugins.plugin_utils.package import (
    CONFIG_FILE, INIT_FILE, _REF as _PACKAGE_REF, Package, lint_unpacked, merge_config,
)
from ansible_collections.noops.platform.plugins.module_utils.package_tar import ERROR, PackageError
from ansible_collections.noops.platform.plugins.plugin_utils import yaml_file
from ansible_collections.noops.platform.plugins.plugin_utils.tree.hostvars import host_tags, parse_tags, tag_index
from ansible_collections.noops.platform.plugins.module_utils.redact import MASK, is_secret_name, mask_urls
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError

URL_SCHEMES = ("http", "https", "ftp", "file")
# The values thor itself gives every package ($<name>, $<path>, ...); a cluster.yml need not repeat them.
BUILTIN_VALUES = ("name", "user", "path", "version", "job", "data_path")
ROLLOUT_DEFAULTS: dict[str, t.Any] = dict(batch=1, sleep=0, pause_step=0, max_fail=0, canary=0, force=False)
# Keys of the module block that steer the deploy; every other key is a template value.
MODULE_SETTINGS = frozenset(("host", "user", "version", "path", "data_path", "pkg_url", "pkg_sha256", "code_url",
                             "branch", "relative_path", "build_command", "force_rebuild", "include_offline"))
CLUSTER_SETTINGS = frozenset(("name", "version", "env", "jobs", "include_offline"))
SETTING_KEYS = MODULE_SETTINGS | frozenset(ROLLOUT_DEFAULTS)
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")      # names a process and a folder on every host
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")   # names the release folder
MAX_VERSION = 128   # characters; the release folder adds "-YYYYmmddHHMMSS", a file name holds 255 bytes
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}\Z")
_MISSING = object()


# --------------------------------------------------------------------------- problems

def show(value: t.Any, secret: bool = False) -> str:
    """A value as a problem line shows it: strings quoted, secrets and URL passwords hidden."""
    if secret:
        return '"%s"' % MASK
    if isinstance(value, str):
        return json.dumps(redact_url(value), ensure_ascii=False)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


def problem(source: str, field: str, message: str, value: t.Any = _MISSING) -> str:
    """``source: field: "value": message`` (without the value part when there is none to show); URL passwords
    in the value or the message are masked."""
    if value is _MISSING:
        return redact_url("%s: %s: %s" % (source, field, message))
    secret = is_secret_name(field.rsplit(".", 1)[-1])
    return "%s: %s: %s: %s" % (source, field, show(value, secret), redact_url(message))


# ``https://user:pw@host/x`` -> ``https://user:********@host/x``, inside any text: the one URL mask.
redact_url = mask_urls


def masked(doc: t.Any) -> t.Any:
    """The parsed file with the value of every secret-named key (at any depth) hidden, URL passwords too."""
    if isinstance(doc, dict):
        return {k: (MASK if is_secret_name(str(k)) and v is not None else masked(v)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [masked(v) for v in doc]
    if isinstance(doc, str):
        return redact_url(doc)
    return doc


# --------------------------------------------------------------------------- typed fields

def as_bool(value: t.Any) -> bool:
    """YAML booleans, and the strings extra vars give ("true", "no", "1")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.strip().lower() in ("true", "yes", "on", "1")
    raise ValueError("must be true or false")


def as_int(value: t.Any, minimum: int) -> int:
    """An int, or a string of digits (extra vars on the command line are strings)."""
    if isinstance(value, bool):
        raise ValueError("must be an integer >= %d, not a boolean" % minimum)
    if isinstance(value, str) and re.match(r"\s*-?\d+\s*\Z", value):
        value = int(value)
    if not isinstance(value, int) or value < minimum:
        raise ValueError("must be an integer >= %d" % minimum)
    return value


def as_seconds(value: t.Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds >= 0, not a boolean")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError("must be a number of seconds >= 0") from None
    if not isinstance(value, (int, float)) or value < 0 or math.isnan(value) or math.isinf(value):
        raise ValueError("must be a number of seconds >= 0")
    return int(value) if float(value).is_integer() else float(value)


def as_max_fail(value: t.Any) -> tuple[int, bool]:
    """A count of hosts, or "N%" of the hosts -> (number, is_percent)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number = value.strip()[:-1].strip()
        if re.match(r"\d+(\.\d+)?\Z", number) and float(number) <= 100:
            return float(number), True
        raise ValueError("must be a count >= 0 or a percentage 0-100%")
    try:
        return as_int(value, 0), False
    except ValueError:
        raise ValueError("must be a count >= 0 or a percentage such as \"25%\"") from None


def as_canary(value: t.Any) -> int:
    """true -> a first batch of one host, false -> none, n -> a first batch of n hosts."""
    if isinstance(value, bool) or (isinstance(value, str) and not value.strip().isdigit()):
        try:
            return int(as_bool(value))
        except ValueError:
            raise ValueError("must be true, false or a number of hosts >= 0") from None
    try:
        return as_int(value, 0)
    except ValueError:
        raise ValueError("must be true, false or a number of hosts >= 0") from None


# The least value of each numeric rollout setting (max_fail: as a count).
ROLLOUT_MINIMUM = dict(batch=1, sleep=0, pause_step=0, max_fail=0, canary=0)
ROLLOUT_CHECKS: dict[str, t.Callable[[t.Any], t.Any]] = dict(
    batch=lambda v: as_int(v, ROLLOUT_MINIMUM["batch"]), sleep=as_seconds,
    pause_step=lambda v: as_int(v, ROLLOUT_MINIMUM["pause_step"]), max_fail=as_max_fail, canary=as_canary,
    force=as_bool,
)


# --------------------------------------------------------------------------- the file

class Cluster(t.NamedTuple):
    """A checked cluster.yml. A field that failed its check is None (its problem is in the list)."""
    source: str                     # how messages name the file
    base_dir: str                   # relative pkg_url/code_url paths resolve against the file's folder
    name: str | None
    env: str | None
    jobs: tuple[Tag, ...]
    version: str | None             # module block's version, else cluster.version; None: none given (or bad)
    hosts: tuple[str, ...] | None   # the host: list as written; None: select by jobs
    user: str
    path: str | None
    data_path: str | None
    pkg_url: str | None
    pkg_sha256: str | None
    code_url: str | None
    branch: str | None
    relative_path: str
    build_command: str | None
    force_rebuild: bool
    include_offline: bool
    settings: dict[str, tuple[t.Any, str]]   # rollout key -> (raw value, "source: field" it came from)
    values: dict[str, t.Any]                 # template values (thor_values)

    @property
    def service(self) -> str | None:
        """The job tag being deployed (the first of `jobs`), as cluster.yml spells it."""
        return self.jobs[0].text if self.jobs else None

    @property
    def lock_key(self) -> str | None:
        """The service cluster: its canonical jobs tags, sorted, so that the order they are written in does not matter."""
        if self.jobs:
            return ",".join(sorted(str(j) for j in self.jobs))
        return "%s:%s" % (self.name, self.path) if self.name and self.path else None


# How cluster.yml fields are typed for the YAML loader: these are text as written (`version: 1.10` is "1.10",
# `branch: 2024` is "2024"); the rollout settings and booleans have checks of their own (`force: yes` is fine).
# Every other value is a template value, where an ambiguous plain scalar (NO, off, 1.10, 0640) is refused.
TEXT_FIELDS = frozenset(("name", "env", "version", "user", "path", "data_path", "pkg_url", "pkg_sha256", "code_url",
                         "branch", "relative_path", "build_command"))
CLUSTER_FIELDS = yaml_file.depth_fields({2: {**{k: yaml_file.OWN for k in SETTING_KEYS | CLUSTER_SETTINGS},
                                             **{k: yaml_file.TEXT for k in TEXT_FIELDS}}})


def load_cluster_text(text: str | bytes, source: str) -> tuple[t.Any, list[str]]:
    """Parse the YAML of a cluster.yml (YAML 1.2, see ``yaml_file``) -> (document, problems).

    A syntax error is one problem naming the line, and the document is None. A plain value that YAML does not
    read as it is written (``country: NO``, ``ratio: 1.10``) is one problem each, naming line, column, field and
    value; the document is returned with them so that its other problems are reported too.
    """
    try:
        doc, problems = yaml_file.load_yaml(text, source, CLUSTER_FIELDS)
    except yaml_file.NotUtf8Error as e:
        return None, [str(e)]
    except yaml_file.YamlFileError as e:
        line = " line %d" % e.line if e.line else ""
        return None, ["%s: YAML error%s: %s" % (source, line, e.problem)]
    return doc, [str(p) for p in problems]


def parse_cluster(doc: t.Any, source: str, base_dir: str = ".",
                  overrides: t.Mapping[str, t.Any] | None = None) -> tuple[Cluster | None, list[str]]:
    """Check every field of a parsed cluster.yml; ``overrides`` are extra vars that win over the file (``OVERRIDES``:
    env, version, the package and the rollout settings).

    Returns None as the cluster only when there is no usable module block at all.
    """
    problems: list[str] = []
    if not isinstance(doc, dict):
        kind = "empty" if doc is None else "a %s" % type(doc).__name__
        return None, ["%s: must be a mapping with a 'cluster:' block and a module block, not %s" % (source, kind)]
    head = doc.get("cluster")
    if not isinstance(head, dict):
        message = ("missing: the file needs a 'cluster:' block (name, version, env, jobs)" if head is None
                   else "must be a mapping (name, version, env, jobs), not %s" % type(head).__name__)
        return None, [problem(source, "cluster", message)]
    name = head.get("name")
    if name is None:
        return None, [problem(source, "cluster.name", "missing: it names the module block")]
    if not isinstance(name, str) or not NAME_RE.match(name):
        return None, [problem(source, "cluster.name", "must match [A-Za-z0-9][A-Za-z0-9_.-]* (it names the module "
                              "block, the process and the data folder)", name)]
    block = doc.get(name)
    if not isinstance(block, dict):
        message = ("missing: cluster.name is %r but the file has no '%s:' block" % (name, name) if block is None
                   else "must be a mapping, not %s" % type(block).__name__)
        others = [str(k) for k in doc if k != "cluster"]
        if block is None and others:
            message += " (blocks found: %s)" % ", ".join(others)
        return None, [problem(source, name, message)]
    for key in doc:
        if key not in ("cluster", name):
            problems.append(problem(source, str(key), "unknown block: cluster.name is %r, so only 'cluster:' and "
                                    "'%s:' are read" % (name, name)))
    head, block, more = _override_file(head, block, source, overrides or {})
    problems += more

    def field(where: str, key: str, check: t.Callable[[t.Any], t.Any], default: t.Any = None) -> t.Any:
        holder = head if where == "cluster" else block
        if key not in holder or holder[key] is None:
            return default
        try:
            return check(holder[key])
        except ValueError as e:
            problems.append(problem(source, "%s.%s" % (where, key), str(e), holder[key]))
            return None

    env = field("cluster", "env", _env)
    if "env" not in head:
        problems.append(problem(source, "cluster.env", "missing: it selects the section of config.template.yml "
                                "(production, staging, ...)"))
    jobs = _jobs(head, source, problems)
    version = field(name, "version", _version) or field("cluster", "version", _version)
    hosts = field(name, "host", _host_list)
    user = field(name, "user", _plain_str, "") or ""
    path = field(name, "path", _abs_path)
    if "path" not in block:
        problems.append(problem(source, "%s.path" % name, "missing: the program's path on the hosts "
                                "(e.g. /home/work/%s)" % name))
    data_path = field(name, "data_path", _abs_path, "/data/%s" % name)
    pkg_url = field(name, "pkg_url", _url)
    pkg_sha256 = field(name, "pkg_sha256", _sha256)
    code_url = field(name, "code_url", _plain_str)
    branch = field(name, "branch", _plain_str)
    relative_path = field(name, "relative_path", _relative_path, ".") or "."
    build_command = field(name, "build_command", _plain_str)
    force_rebuild = bool(field(name, "force_rebuild", as_bool, False))
    rebuild = (overrides or {}).get("force_rebuild")
    if rebuild is not None and rebuild != "":
        try:
            force_rebuild = bool(OVERRIDES["force_rebuild"].check(rebuild))
        except ValueError as e:
            problems.append(problem("extra vars", "force_rebuild", str(e), rebuild))
    include_offline = bool(field(name, "include_offline", as_bool, None) if "include_offline" in block
                           else field("cluster", "include_offline", as_bool, False))
    has_pkg, has_code = block.get("pkg_url") is not None, block.get("code_url") is not None
    if has_pkg and has_code:
        problems.append(problem(source, "%s.code_url" % name, "give either pkg_url (a built package) or code_url "
                                "(build from git), not both", block["code_url"]))
    elif not has_pkg and not has_code:
        problems.append(problem(source, "%s.pkg_url" % name, "missing: give pkg_url (http, https, ftp or file) or "
                                "code_url (a git repository to build from)"))
    if has_pkg:
        for key in ("branch", "relative_path", "build_command", "force_rebuild"):
            if key in block:
                problems.append(problem(source, "%s.%s" % (name, key), "only used with code_url (building from "
                                        "git), not with pkg_url", block[key]))
    settings = _settings(head, block, name, source, overrides or {})
    values = {str(k): v for k, v in block.items() if k not in SETTING_KEYS}
    for key in values:
        if not isinstance(key, str) or not key:
            problems.append(problem(source, "%s.%s" % (name, key), "a template value's name must be a string"))
    cluster = Cluster(source, base_dir, name, env, tuple(jobs), version, tuple(hosts) if hosts is not None else None,
                      user, path, data_path, pkg_url, pkg_sha256, code_url, branch, relative_path, build_command,
                      force_rebuild, include_offline, settings, values)
    problems += resolve_rollout(settings, None)[1]
    return cluster, problems


def _jobs(head: dict, source: str, problems: list[str]) -> list[Tag]:
    raw = head.get("jobs")
    if raw is None:
        problems.append(problem(source, "cluster.jobs", "missing: the job tag(s) of the service cluster, e.g. "
                                "[job.dch_service.dch_cluster.production-hh_pdl.account_owt.miliao_cop.xiaomi]"))
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        problems.append(problem(source, "cluster.jobs", "must be a non-empty list of tags", raw))
        return []
    jobs: list[Tag] = []
    for i, item in enumerate(items):
        label = "cluster.jobs" if isinstance(raw, str) else "cluster.jobs[%d]" % i
        try:
            tag = Tag.parse(item)
        except TagError as e:
            problems.append(problem(source, label, "malformed tag: %s" % e.reason
                                    + (" at char %d" % e.pos if e.pos is not None else "")))
            continue
        if tag not in jobs:
            jobs.append(tag)
    return jobs


def _settings(head: dict, block: dict, name: str, source: str,
              overrides: t.Mapping[str, t.Any]) -> dict[str, tuple[t.Any, str]]:
    """Rollout settings by precedence: extra vars > module block > cluster block (each remembers its origin)."""
    found: dict[str, tuple[t.Any, str]] = {}
    for key in ROLLOUT_DEFAULTS:
        if overrides.get(key) not in (None, ""):  # "": an optional question left blank
            found[key] = (overrides[key], "extra vars: %s" % key)
        elif block.get(key) is not None:
            found[key] = (block[key], "%s: %s.%s" % (source, name, key))
        elif head.get(key) is not None:
            found[key] = (head[key], "%s: cluster.%s" % (source, key))
    return found


def resolve_rollout(settings: t.Mapping[str, tuple[t.Any, str]], host_count: int | None) -> tuple[dict, list[str]]:
    """batch, sleep, pause_step, max_fail (a count; a percentage is taken of ``host_count``, rounded down),
    canary (0: none) and force, with defaults for what is not given."""
    problems = []
    rollout = dict(ROLLOUT_DEFAULTS)
    for key, (value, origin) in settings.items():
        try:
            parsed = ROLLOUT_CHECKS[key](value)
        except ValueError as e:
            problems.append("%s: %s: %s" % (origin, show(value), e))
            continue
        if key == "max_fail":
            number, percent = parsed
            parsed = int(number)
            if percent:
                parsed = int(math.floor(number * host_count / 100.0)) if host_count else 0
                rollout["max_fail_percent"] = number
        rollout[key] = parsed
    return rollout, problems


def rollout_plan(hosts: t.Sequence[str], rollout: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The batches of a rollout, and where it sleeps and pauses for the operator, decided before it starts.

    ``hosts`` are the inventory names in the order they are deployed; ``rollout`` is what ``resolve_rollout``
    returns (``batch`` >= 1, ``canary`` >= 0 and ``pause_step`` >= 0 hosts, ``sleep`` >= 0 seconds; other keys
    are not read). Pure: the same plan for the same input, the input untouched, plain JSON data out::

        {"hosts": 5,                       # how many hosts
         "serial": [1, 2, 2],              # the batch sizes, Ansible's ``serial`` list
         "batches": [{"hosts": ["h1"],     # the batch's hosts, in order
                      "done": 1,           # hosts reached once the batch is done (the batches before it included)
                      "sleep": 0,          # whole seconds to wait after the batch (ansible.builtin.pause takes whole
                                           # seconds: a fraction is dropped), 0 after the last batch
                      "pause": "canary batch done"},   # why to pause for the operator after it; None: no pause
                     ...]}

    The first batch holds ``canary`` hosts when ``canary`` > 0 (then a pause), every other ``batch`` hosts (the
    last one may hold fewer). A pause also follows each batch that takes the count of hosts done past a multiple
    of ``pause_step``. Neither a sleep nor a pause follows the last batch. How many failures stop the rollout
    (``max_fail``) is decided while it runs, not here.
    """
    batch, canary = int(rollout.get("batch") or 1), int(rollout.get("canary") or 0)
    pause_step, sleep = int(rollout.get("pause_step") or 0), int(rollout.get("sleep") or 0)
    total = len(hosts)
    batches: list[dict[str, t.Any]] = []
    done = 0
    while done < total:
        size = canary if canary > 0 and not batches else batch
        before, done = done, min(total, done + size)
        last = done == total
        if last:
            pause = None
        elif canary > 0 and not batches:
            pause = "canary batch done"
        elif pause_step > 0 and done // pause_step > before // pause_step:
            pause = "pause_step %d: %d of %d hosts done" % (pause_step, done, total)
        else:
            pause = None
        batches.append(dict(hosts=list(hosts[before:done]), done=done, sleep=0 if last else sleep, pause=pause))
    return dict(hosts=total, serial=[len(b["hosts"]) for b in batches], batches=batches)


def _env(value: t.Any) -> str:
    if not isinstance(value, str) or not re.match(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z", value):
        raise ValueError("must be the name of a section of config.template.yml (production, staging, ...)")
    if value == "base":
        raise ValueError("'base' is merged into every env; name the env itself (production, staging, ...)")
    return value


def _version(value: t.Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a version string such as \"93043\" or \"1.0.0.1\"")
    text = str(value)
    if len(text) > MAX_VERSION:
        raise ValueError("is %d characters long, at most %d (it names the release folder on every host, and a "
                         "file name is at most 255 bytes)" % (len(text), MAX_VERSION))
    if not VERSION_RE.match(text):
        raise ValueError("must match [A-Za-z0-9][A-Za-z0-9_.+-]* (it names the release folder on every host)")
    return text


def _plain_str(value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


def _host_list(value: t.Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError("must be a list of addresses or inventory names")
    if not all(isinstance(h, str) and h.strip() for h in items):
        raise ValueError("every entry must be an address or inventory name (a string)")
    return list(dict.fromkeys(h.strip() for h in items))


def _abs_path(value: t.Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError("must be an absolute path")
    clean = posixpath.normpath(value)
    if clean == "/" or ".." in value.split("/"):
        raise ValueError("must be an absolute path below / without '..'")
    return clean


def _relative_path(value: t.Any) -> str:
    if not isinstance(value, str) or value.startswith("/") or ".." in value.split("/"):
        raise ValueError("must be a path inside the repository (relative, without '..')")
    return posixpath.normpath(value) if value.strip() else "."


def _sha256(value: t.Any) -> str:
    if not isinstance(value, str):
        # YAML reads an unquoted checksum of digits only as a number and drops its leading zeros.
        raise ValueError("must be 64 hex digits, in quotes (the package's sha256)")
    if not SHA256_RE.match(value.strip()):
        raise ValueError("must be 64 hex digits (the package's sha256)")
    return value.strip().lower()


def _url(value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a URL (http, https, ftp or file) or a path")
    text = value.strip()
    scheme = url_scheme(text)
    if scheme and scheme not in URL_SCHEMES:
        raise ValueError("scheme must be http, https, ftp or file")
    if scheme in ("http", "https", "ftp") and not urllib.parse.urlsplit(text).netloc:
        raise ValueError("has no host")
    return text


# --------------------------------------------------------------------------- extra vars over the file

class Override(t.NamedTuple):
    """An extra var a run may give over cluster.yml, as a form or an AWX survey asks for it.

    ``kind``: text, integer, number (seconds, a float) or boolean; ``minimum``/``maximum``: bounds of the value
    (integer, number) or of its length in characters (text), None when there is none; ``check``: the same parse
    function the file's field goes through (ValueError saying what is wrong).
    """
    kind: str
    check: t.Callable[[t.Any], t.Any]
    minimum: int | None = None
    maximum: int | None = None


# The request's own fields an extra var may replace (env, version, the package), then the rollout settings.
PACKAGE_OVERRIDES = ("env", "version", "pkg_url", "pkg_sha256", "branch")
OVERRIDES: dict[str, Override] = {
    "env": Override("text", _env, 1),
    "version": Override("text", _version, 1, MAX_VERSION),
    "pkg_url": Override("text", _url, 1),
    "pkg_sha256": Override("text", _sha256, 64, 64),
    "branch": Override("text", _plain_str, 1),
    "batch": Override("integer", ROLLOUT_CHECKS["batch"], ROLLOUT_MINIMUM["batch"]),
    "sleep": Override("number", ROLLOUT_CHECKS["sleep"], ROLLOUT_MINIMUM["sleep"]),
    "pause_step": Override("integer", ROLLOUT_CHECKS["pause_step"], ROLLOUT_MINIMUM["pause_step"]),
    # A count of hosts or "N%": text.
    "max_fail": Override("text", ROLLOUT_CHECKS["max_fail"], 1),
    # Also true (one host) or false.
    "canary": Override("integer", ROLLOUT_CHECKS["canary"], ROLLOUT_MINIMUM["canary"]),
    "force": Override("boolean", ROLLOUT_CHECKS["force"]),
    # Build the package again (code_url), or download it again (pkg_url), even when the cache holds it.
    "force_rebuild": Override("boolean", as_bool),
}
_GIT_SETTINGS = ("code_url", "branch", "relative_path", "build_command", "force_rebuild")


def _override_file(head: dict, block: dict, source: str,
                   overrides: t.Mapping[str, t.Any]) -> tuple[dict, dict, list[str]]:
    """The file's cluster block and module block with what the extra vars replace (env, version, the package),
    and the problems of those extra vars. None or "" (an optional question left blank) replaces nothing; a
    pkg_url replaces the package and with it the file's pkg_sha256 and git settings."""
    problems: list[str] = []
    given: dict[str, t.Any] = {}
    for key in PACKAGE_OVERRIDES:
        value = overrides.get(key)
        if value is None or value == "":
            continue
        try:
            given[key] = OVERRIDES[key].check(value)
        except ValueError as e:
            problems.append(problem("extra vars", key, str(e), value))
    head, block = dict(head), dict(block)
    if "env" in given:
        head["env"] = given["env"]
    if "version" in given:
        block["version"] = given["version"]
    if "pkg_url" in given:
        for key in _GIT_SETTINGS + ("pkg_sha256",):
            block.pop(key, None)
        block["pkg_url"] = given["pkg_url"]
        if "branch" in given:
            problems.append(problem("extra vars", "branch", "give either pkg_url (a built package) or branch (to "
                                    "build from git), not both", overrides["branch"]))
            given.pop("branch")
    if "pkg_sha256" in given:
        block["pkg_sha256"] = given["pkg_sha256"]
    if "branch" in given:
        if block.get("code_url") is None:
            has = "gives pkg_url" if block.get("pkg_url") is not None else "has no code_url"
            problems.append(problem("extra vars", "branch", "only used with code_url (building from git); %s %s"
                                    % (source, has), overrides["branch"]))
        else:
            block["branch"] = given["branch"]
    return head, block, problems


# --------------------------------------------------------------------------- hosts

class InventoryHost(t.NamedTuple):
    name: str
    address: str | None             # ansible_host
    tags: t.Any                     # noops_tags as the inventory gives it (parsed by tree/hostvars.py)


def select_hosts(cluster: Cluster, inventory: t.Sequence[InventoryHost]) -> tuple[list[str], str | None, list[str]]:
    """The inventory names to deploy to, in inventory order -> (hosts, the tag query used or None, problems).

    ``host:`` entries are inventory names or addresses (ansible_host); without ``host:`` the hosts whose
    ``noops_tags`` match any ``jobs`` tag, and unless ``include_offline``, that carry ``status.service``.
    Every inventory host's ``noops_tags`` is read, whichever way hosts are chosen: a bad one is a problem naming
    the host and the value (the policy of ``tree/hostvars.py``), and then no host is selected by tags.
    """
    source, name = cluster.source, cluster.name
    tags, tag_problems = parse_tags((host.name, host.tags) for host in inventory)
    order = {h.name: i for i, h in enumerate(inventory)}
    if cluster.hosts is not None:
        by_address: dict[str, list[str]] = {}
        for host in inventory:
            if host.address:
                by_address.setdefault(str(host.address), []).append(host.name)
        chosen: list[str] = []
        problems = []
        for i, entry in enumerate(cluster.hosts):
            label = "%s.host[%d]" % (name, i)
            if entry in order:
                chosen.append(entry)
            elif len(by_address.get(entry, ())) == 1:
                chosen.append(by_address[entry][0])
            elif entry in by_address:
                problems.append(problem(source, label, "is the address of several inventory hosts (%s): name one "
                                        "of them instead" % ", ".join(by_address[entry]), entry))
            else:
                problems.append(problem(source, label, "not in the inventory (neither a host name nor an "
                                        "ansible_host)", entry))
        return sorted(set(chosen), key=order.__getitem__), None, tag_problems + problems
    if not cluster.jobs:
        return [], None, tag_problems   # the jobs problem is already reported
    query = ",".join(job.text for job in cluster.jobs)
    if not cluster.include_offline:
        query += ",&status.service"
    if tag_problems:
        return [], query, tag_problems
    return tag_index(tags).select(query), query, []


def host_jobs(cluster: Cluster, inventory: t.Sequence[InventoryHost], hosts: t.Sequence[str]) -> dict[str, str]:
    """Each host's own job tag (thor's ``$<job>``) where it is not the first of ``jobs``, the default for all.

    A host's job is the first ``jobs`` tag that one of its ``noops_tags`` holds; a host whose tags hold none (a
    ``host:`` list entry) keeps the default. With one ``jobs`` tag there is nothing to say per host.
    """
    if len(cluster.jobs) < 2:
        return {}
    chosen = set(hosts)
    jobs: dict[str, str] = {}
    for host in inventory:
        if host.name not in chosen:
            continue
        tags = host_tags(host.name, host.tags)[0]     # a bad value is select_hosts' problem
        for job in cluster.jobs:
            if any(tag.holds(job.items()) for tag in tags):
                if job != cluster.jobs[0]:
                    jobs[host.name] = job.text
                break
    return jobs


def apply_limit(hosts: t.Sequence[str], limit_hosts: t.Collection[str] | None) -> list[str]:
    """``hosts`` narrowed to ``limit_hosts``, keeping their order; None: no limit.

    ``limit_hosts`` are the inventory hosts that a ``--limit`` leaves, as Ansible's own host pattern rules give them
    (``ansible_play_hosts_all`` of a play on all hosts; ``InventoryManager.subset()`` outside a playbook): the
    pattern itself is never parsed here.
    """
    if limit_hosts is None:
        return list(hosts)
    kept = set(limit_hosts)
    return [h for h in hosts if h in kept]


# --------------------------------------------------------------------------- the package's needs

def check_package_needs(cluster: Cluster, config_doc: t.Any, init_doc: t.Any, package_label: str) -> list[str]:
    """An env the package has no section for, and each ``$<x>`` the package uses that the cluster lacks."""
    source, name = cluster.source, cluster.name
    config_where = "%s/%s" % (package_label, CONFIG_FILE)
    if cluster.env is None:
        return []
    try:
        merged = merge_config(config_doc, cluster.env, config_where)
    except PackageError as e:
        if isinstance(config_doc, dict) and isinstance(config_doc.get("base"), dict) and cluster.env not in config_doc:
            sections = ", ".join(sorted(str(k) for k in config_doc if k != "base")) or "none"
            return [problem(source, "cluster.env", "%s has no section for it (sections: %s)"
                            % (config_where, sections), cluster.env)]
        return [problem(source, "cluster.env", e.message, cluster.env)]
    needed: dict[str, str] = {}
    for key, value in merged.items():
        for ref in cluster_refs(value):
            needed.setdefault(ref, "%s key '%s'" % (config_where, key))
    if isinstance(init_doc, dict):
        entries = init_doc.items()
    elif isinstance(init_doc, list):
        entries = ((str(i + 1), e) for i, e in enumerate(init_doc))
    else:
        entries = ()
    for entry_id, entry in entries:
        if isinstance(entry, dict):
            for ref in cluster_refs(entry.get("name")):
                needed.setdefault(ref, "%s/%s entry '%s'" % (package_label, INIT_FILE, entry_id))
    have = set(BUILTIN_VALUES) | set(cluster.values)
    return [problem(source, "%s.%s" % (name, ref), "missing: the package needs $<%s> (%s, env %s)"
                    % (ref, where, cluster.env)) for ref, where in needed.items() if ref not in have]


def cluster_refs(value: t.Any) -> list[str]:
    """The names of the ``$<x>`` references in a config value (strings inside mappings and lists too)."""
    if isinstance(value, str):
        return [m.group(1) for m in _PACKAGE_REF.finditer(value) if m.group(1)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in cluster_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in cluster_refs(v)]
    return []


# --------------------------------------------------------------------------- for thor

def thor_vars(cluster: Cluster, version: str, package: str, force: bool) -> dict[str, t.Any]:
    """The thor role's variables for this deploy (thor_values holds the template values: secrets)."""
    return dict(thor_name=cluster.name, thor_version=version, thor_package=package, thor_env=cluster.env,
                thor_path=cluster.path, thor_user=cluster.user, thor_data_path=cluster.data_path,
                thor_job=cluster.service, thor_force=force, thor_values=dict(cluster.values))


def _thor_name(value: t.Any) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError("must match [A-Za-z0-9][A-Za-z0-9_.-]* (it names the process and the data folder)")
    return value


def _thor_path(value: t.Any) -> str:
    clean = _abs_path(value)
    if clean != value:
        raise ValueError("must be an absolute path below / written as %s (it is the symlink switched between "
                         "releases)" % clean)
    return value


def _thor_package(value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be the release package (.tar.gz, or its folder) on the controller")
    return value


# The rules of thor_vars' values (and of the releases kept), for a play that uses the thor role on its own: the
# same rules a cluster.yml's fields meet. Types and choices are the role's argument_specs.
THOR_RULES = (("thor_name", _thor_name), ("thor_version", _version), ("thor_path", _thor_path),
              ("thor_data_path", _abs_path), ("thor_package", _thor_package),
              ("thor_keep_releases", lambda value: as_int(value, 2)))


def thor_problems(request: t.Mapping[str, t.Any]) -> list[str]:
    """One line per thor role variable of ``request`` that breaks its rule (``thor: <variable>: <value>:
    <rule>``); a variable that is not in ``request`` is not checked."""
    problems = []
    for key, check in THOR_RULES:
        if key in request:
            try:
                check(request[key])
            except ValueError as e:
                problems.append(problem("thor", key, str(e), request[key]))
    return problems


# --------------------------------------------------------------------------- the whole check

def requested(doc: t.Any) -> dict[str, t.Any]:
    """What a cluster.yml asks for, as far as it can be read even when other fields are bad: ``service`` (the
    first well-formed ``jobs`` tag), ``name`` (a well-formed ``cluster.name``) and ``version`` (the module block's,
    else ``cluster.version``, when well-formed); None for each that cannot be read. A refused request is still
    recorded with the service and version it asked for."""
    head = doc.get("cluster") if isinstance(doc, dict) else None
    head = head if isinstance(head, dict) else {}
    name = head.get("name")
    name = name if isinstance(name, str) and NAME_RE.match(name) else None
    block = doc.get(name) if name else None
    block = block if isinstance(block, dict) else {}
    version = None
    for raw in (block.get("version"), head.get("version")):
        if raw is not None:
            try:
                version = _version(raw)
                break
            except ValueError:
                continue
    service = None
    jobs = head.get("jobs")
    for item in [jobs] if isinstance(jobs, str) else jobs if isinstance(jobs, list) else []:
        try:
            service = Tag.parse(item).text
            break
        except (TagError, TypeError):
            continue
    return dict(service=service, name=name, version=version)


class Prepared(t.NamedTuple):
    result: dict[str, t.Any]        # what odin_prepare returns (secrets only inside result["thor"]["thor_values"])
    problems: list[str]


def prepare(cluster_file: str, inventory: t.Sequence[InventoryHost], overrides: t.Mapping[str, t.Any] | None = None,
            limit: str | None = None, limit_hosts: t.Collection[str] | None = None, source: str | None = None,
            cache_dir: str | None = None, package: bool = True) -> Prepared:
    """Everything Odin checks before any host is touched: the file, the hosts, the rollout settings and plan, the
    package (fetched or built, verified, linted) and the template values the package needs. All problems are
    collected.

    ``limit`` is the run's ``--limit`` pattern, only named in the result and in messages; ``limit_hosts`` are the
    inventory hosts that it leaves (see ``apply_limit``), None when the run has no limit.
    """
    source = source or cluster_file
    base_dir = os.path.dirname(os.path.abspath(cluster_file))
    try:
        with open(cluster_file, "rb") as f:
            text = f.read()
    except OSError as e:
        return Prepared({}, ["%s: cannot read the cluster file: %s" % (source, e.strerror or e)])
    doc, problems = load_cluster_text(text, source)
    if doc is None and problems:
        return Prepared({}, problems)
    cluster, more = parse_cluster(doc, source, base_dir, overrides)
    problems += more
    if cluster is None:
        return Prepared(requested(doc), problems)
    result: dict[str, t.Any] = dict(requested(doc), cluster=masked(doc), lock_name=cluster.lock_key)
    result.update(service=cluster.service, name=cluster.name)

    selected, query, host_problems = select_hosts(cluster, inventory)
    problems += host_problems
    hosts = apply_limit(selected, limit_hosts)
    result.update(hosts=hosts, hosts_all=selected, query=query, limit=limit or None,
                  host_jobs=host_jobs(cluster, inventory, hosts))
    if not hosts and not host_problems and (cluster.jobs or cluster.hosts is not None):
        if cluster.hosts is not None:
            how = "the host: list"
        else:
            how = "no inventory host matches %s" % show(query)
            if not cluster.include_offline:
                how += " (only hosts with status.service; include_offline: true takes the others too)"
        narrowed = " after --limit %s (%d before)" % (show(limit), len(selected)) if limit and selected else ""
        problems.append(problem(source, "%s.host" % cluster.name if cluster.hosts is not None else "cluster.jobs",
                                "no host selected: %s%s" % (how, narrowed)))
    rollout = resolve_rollout(cluster.settings, len(hosts))[0]
    result.update(rollout=rollout, plan=rollout_plan(hosts, rollout))

    if not package:
        # A rollback: the hosts already hold their releases, so neither the package nor its version is needed.
        result["version"] = cluster.version
        result["thor"] = thor_vars(cluster, cluster.version or "", "", rollout["force"])
        return Prepared(result, problems)
    package, version = _package(cluster, result, problems, cache_dir)
    if version is None and not cluster.code_url:
        problems.append(problem(source, "%s.version" % cluster.name, "missing: the release version (here or in "
                                "cluster.version); it names the release folder on every host"))
    result["version"] = version
    if package is not None:
        result["thor"] = thor_vars(cluster, version or "", package, rollout["force"])
        result["thor"]["thor_package_tree"] = result.get("package_tree", "")
    return Prepared(result, problems)


def _package(cluster: Cluster, result: dict, problems: list[str], cache_dir: str | None) -> tuple[str | None,
                                                                                                  str | None]:
    """Fetch or build the package, lint it and check what it needs -> (controller path, release version)."""
    source, name = cluster.source, cluster.name
    version = cluster.version
    if cluster.pkg_url and not cluster.code_url:
        field_value = dict(pkg_url=cluster.pkg_url, pkg_sha256=cluster.pkg_sha256)
        try:
            fetched = fetch_package(cluster.pkg_url, cluster.base_dir, cluster.pkg_sha256, cache_dir,
                                    refresh=cluster.force_rebuild)
        except FetchError as e:
            problems.append(problem(source, "%s.%s" % (name, e.field), e.message, field_value.get(e.field)))
            return None, version
        path, sha, label = fetched.path, fetched.sha256, cluster.pkg_url
        result["fetch"] = dict(origin=fetched.origin, verified_by=fetched.checksum_from)
    elif cluster.code_url and not cluster.pkg_url:
        if problems:
            # The build runs the file's build command on this machine: never for a request refused already.
            problems.append(problem(source, "%s.code_url" % name, "not built: the build command runs only for a "
                                    "cluster.yml without problems (fix the ones above)", cluster.code_url))
            return None, version
        field_value = dict(code_url=cluster.code_url, branch=cluster.branch, relative_path=cluster.relative_path,
                           build_command=cluster.build_command)
        try:
            built = build_from_git(cluster.code_url, cluster.base_dir, name, cluster.branch, cluster.relative_path,
                                   cluster.build_command, cluster.force_rebuild, cache_dir)
        except FetchError as e:
            problems.append(problem(source, "%s.%s" % (name, e.field), e.message, field_value.get(e.field)))
            return None, version
        path, sha, label = built.path, built.sha256, cluster.code_url
        version = version or built.commit[:12]
        result["build"] = dict(commit=built.commit, log=redact_url(built.log), error_log=redact_url(built.error_log),
                               reused=built.reused)
        if cluster.pkg_sha256 and cluster.pkg_sha256 != sha:
            problems.append(problem(source, "%s.pkg_sha256" % name, "does not match the built package: its sha256 is "
                                    "%s" % sha, cluster.pkg_sha256))
    else:
        return None, version
    result.update(package=path, package_sha256=sha)
    field = "%s.%s" % (name, "pkg_url" if cluster.pkg_url else "code_url")
    # Unpacked once into the cache: the lint, the needs and every host's render read that folder.
    try:
        unpacked = unpack_once(path, sha, cache_dir)
    except OSError as e:
        problems.append(problem(source, field, "cannot unpack the package into the cache: %s" % e, label))
        return path, version
    lint_errors = [p for p in lint_unpacked(path, unpacked.root, unpacked.problems) if p.level == ERROR]
    problems += [problem(source, field, "package lint: %s: %s" % (_in_package(p.path, path), _one_line(p.message)),
                         label) for p in lint_errors]
    if not lint_errors and unpacked.root:
        result["package_tree"] = unpacked.root
        try:
            pkg = Package(unpacked.root, label=path)
            needs = check_package_needs(cluster, pkg.config_doc(), pkg.read_yaml(INIT_FILE), os.path.basename(path))
        except PackageError as e:
            needs = [problem(source, field, "package: %s: %s" % (_in_package(e.path, path), _one_line(e.message)),
                             label)]
        problems += needs
    return path, version


def _in_package(where: str, package: str) -> str:
    """A path inside the cached package as the user knows it: "release/target/log", or the tarball's own name."""
    if where.startswith(package + "/"):
        return where[len(package) + 1:]
    return os.path.basename(package) if where == package else where


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())
