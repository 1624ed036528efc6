"""The deploy form: its fields -> a cluster.yml, checked by Odin's own ``cluster.prepare`` (every problem at once,
each put next to the field it names), the hosts Odin selects and the batch plan of the rollout.

Nothing here starts a run, and nothing the user supplied is fetched, built or run: a dry run reads the inventory
(``ansible-inventory --list``, with the environment ``noops deploy`` gives ansible-playbook) and checks the file, the
hosts and the rollout as the deploy's first step does, without the package step (``cluster.prepare(...,
package=False)``). The package is fetched or built, and checked, by the launched ``noops deploy`` itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import typing as t

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import (
    InventoryHost, load_cluster_text, parse_cluster, prepare, problem,
)
from ansible_collections.noops.platform.plugins.plugin_utils.tree.hostvars import TAGS_VAR
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError

SOURCE = "cluster.yml"  # how problems name the file, and the name of the download
PLACEHOLDER = "unnamed"  # checks the rest of a form that gives no name

# (form field, label, help). The order is the form's.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("service", "Service (jobs tag)", "the job tag of the service cluster, e.g. job.dch_service.dch_cluster."
                                      "production-hh_pdl.account_owt.miliao_cop.xiaomi; several: one per line"),
    ("name", "Name", "names the program, its process and /data/<name>; default: the tag's job"),
    ("env", "Env", "the section of the package's config.template.yml (production, staging, ...)"),
    ("version", "Version", "the release version; a build from code without one uses the commit"),
    ("pkg_url", "Package URL", "http, https, ftp or file URL of a built package, or a path"),
    ("code_url", "Code URL", "a git repository to build from (instead of a package URL)"),
    ("branch", "Branch", "branch, tag or commit to build (code URL only)"),
    ("relative_path", "Relative path", "where in the repository the build runs and release/ is found"),
    ("build_command", "Build command", "shell command that builds release/ (code URL only)"),
    ("user", "Deploy account", "the user the program runs as; empty: the connecting user"),
    ("path", "Deploy path", "absolute; the stable symlink on each host, e.g. /home/work/dch"),
    ("start_action", "Start action", "template value mod_start: used where the package's config says $<mod_start>"),
    ("stop_action", "Stop action", "template value mod_stop: used where the package's config says $<mod_stop>"),
    ("batch", "Batch", "hosts deployed in parallel (default 1)"),
    ("canary", "Canary", "a first batch of this many hosts, then a pause (0: none)"),
    ("sleep", "Sleep", "seconds to wait after each batch"),
    ("pause_step", "Pause step", "pause after every n hosts (0: never)"),
    ("max_fail", "Max fail", "failed hosts tolerated, a count or \"N%\" (default 0)"),
    ("values", "Template values", "YAML, one 'name: value' a line (db_passwd: ..., port: 8080)"),
    ("inventory", "Inventory", "inventory source (path); empty: the one ansible.cfg names"),
)
FIELD_NAMES = tuple(f[0] for f in FIELDS)
TEXT_KEYS = ("version", "pkg_url", "code_url", "branch", "relative_path", "build_command", "user", "path")
ROLLOUT_KEYS = ("batch", "canary", "sleep", "pause_step", "max_fail")
TEMPLATE_KEYS = {"start_action": "mod_start", "stop_action": "mod_stop"}
MAX_FIELD = 4000  # characters of one field


def _text(value: str) -> str:
    """A YAML double-quoted scalar holding ``value`` exactly."""
    return json.dumps(value, ensure_ascii=False)


def _number_or_text(value: str) -> str:
    """A rollout value as typed: a whole number, a plain true/false, else quoted text (Odin names what is wrong)."""
    if re.fullmatch(r"[0-9]+", value) or value.lower() in ("true", "false"):
        return value.lower()
    return _text(value)


def cluster_name(form: t.Mapping[str, str]) -> str:
    """The cluster name: the form's, else the job of the first jobs tag ("" when neither)."""
    name = (form.get("name") or "").strip()
    if name:
        return name
    for text in _jobs(form):
        try:
            return Tag.parse(text).get("job", "")
        except TagError:
            return ""
    return ""


def _jobs(form: t.Mapping[str, str]) -> list[str]:
    return [j for j in re.split(r"[\s,]+", form.get("service") or "") if j]


def render(form: t.Mapping[str, str]) -> tuple[str, dict[str, tuple[int, int]]]:
    """The cluster.yml the form describes, and the lines (first, last; 1-based) each field wrote. Empty fields are
    left out, so Odin names what is missing."""
    lines = ["# cluster.yml written by the noops console's deploy form"]
    where: dict[str, tuple[int, int]] = {}

    def add(field: str, *text: str) -> None:
        first = len(lines) + 1
        lines.extend(text)
        where[field] = (first, len(lines))

    name = cluster_name(form)
    lines.append("cluster:")
    if name:
        add("name", "  name: %s" % _text(name))
    if (form.get("env") or "").strip():
        add("env", "  env: %s" % _text(form["env"].strip()))
    jobs = _jobs(form)
    if jobs:
        add("service", "  jobs:", *["    - %s" % _text(j) for j in jobs])
    lines.append("%s:" % (_text(name) if name else '"(no name)"'))
    for key in TEXT_KEYS:
        value = (form.get(key) or "").strip()
        if value:
            add(key, "  %s: %s" % (key, _text(value)))
    for field, key in TEMPLATE_KEYS.items():
        value = (form.get(field) or "").strip()
        if value:
            add(field, "  %s: %s" % (key, _text(value)))
    for key in ROLLOUT_KEYS:
        value = (form.get(key) or "").strip()
        if value:
            add(key, "  %s: %s" % (key, _number_or_text(value)))
    values = [line.rstrip() for line in (form.get("values") or "").replace("\r\n", "\n").split("\n")]
    values = [line for line in values if line.strip()]
    if values:
        add("values", *["  %s" % line for line in values])
    if len(lines) and lines[-1].endswith(":") and not lines[-1].startswith(" "):
        lines[-1] += " {}"
    return "\n".join(lines) + "\n", where


_LINE = re.compile(r"^%s(?::(\d+):\d+)?: (.*)$" % re.escape(SOURCE))
_YAML_LINE = re.compile(r"^YAML error line (\d+)")


def field_of(problem: str, name: str, where: t.Mapping[str, tuple[int, int]]) -> str | None:
    """The form field a problem line of Odin's names (None: the request as a whole)."""
    m = _LINE.match(problem)
    if not m:
        return None
    line, rest = m.group(1), m.group(2)
    yaml_error = _YAML_LINE.match(rest)
    if yaml_error or line:
        number = int(yaml_error.group(1) if yaml_error else line)
        for field, (first, last) in where.items():
            if first <= number <= last:
                return field
        if yaml_error:
            return None
    label = rest.split(": ", 1)[0]
    head, _, key = label.partition(".")
    key = re.sub(r"\[\d+\]$", "", key)
    if head == "cluster":
        return {"name": "name", "env": "env", "jobs": "service", "version": "version"}.get(key) or (
            key if key in ROLLOUT_KEYS else None)
    if name and head == name or head == '"(no name)"':
        if not key:
            return "name"
        if key in TEXT_KEYS or key in ROLLOUT_KEYS:
            return key
        if key == "host":
            return "service"
        for field, template_key in TEMPLATE_KEYS.items():
            if key == template_key:
                return field
        return "values"
    return None


# --- the inventory ---------------------------------------------------------------------------------------------


class InventoryError(Exception):
    """The inventory cannot be read; the message says why (ansible-inventory's last error line)."""


def load_inventory(sources: t.Sequence[str]) -> list[InventoryHost]:
    """The hosts of the inventory ``sources`` (none: ansible.cfg's) in inventory order (Odin's order), read with
    the environment ``noops deploy`` runs ansible-playbook in: the order from ``ansible all --list-hosts``, the
    variables from ``ansible-inventory --list`` (which sorts its hosts). Raises InventoryError."""
    from noops_cli.runner import RunSpec, runner_env

    env = dict(os.environ)
    env.update(runner_env(RunSpec(playbook="", title="", extravars={}, ssh=False), env.get("NOOPS_HISTORY_DSN", "")))
    args: list[str] = []
    for source in sources:
        args += ["-i", os.path.abspath(source) if os.path.exists(source) else source]
    listed = _ansible(["ansible-inventory", "--list"] + args, env)
    try:
        data = json.loads(listed)
    except ValueError as e:
        raise InventoryError("ansible-inventory printed no JSON: %s" % e) from e
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    # "  hosts (N):" then one name a line.
    names = [line.strip() for line in _ansible(["ansible", "all", "--list-hosts"] + args, env).splitlines()[1:]
             if line.strip()]
    hosts = []
    for host in names:  # as odin_prepare reads them (noops_tags as given: cluster.select_hosts parses them)
        hv = hostvars.get(host) or {}
        address = hv.get("ansible_host")
        hosts.append(InventoryHost(host, str(address) if address else None, hv.get(TAGS_VAR)))
    return hosts


def _ansible(command: list[str], env: t.Mapping[str, str]) -> str:
    """Run one of Ansible's commands of this Python's environment; its standard output. Raises InventoryError."""
    program = os.path.join(os.path.dirname(sys.executable), command[0])
    command = [program if os.path.exists(program) else shutil.which(command[0]) or command[0]] + command[1:]
    try:
        done = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InventoryError("%s: %s" % (os.path.basename(command[0]), e)) from e
    if done.returncode != 0:
        errors = [line.strip() for line in done.stderr.splitlines() if "ERROR" in line or "error" in line.lower()]
        raise InventoryError((errors or done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1])
    return done.stdout


# --- the batch plan --------------------------------------------------------------------------------------------


def batch_plan(hosts: t.Sequence[str], rollout: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """The rollout's batches: ``[{"hosts": [...], "done": hosts reached after it, "sleep": seconds after it,
    "pause": why it pauses after it or None}]``.

    The one place the console gets the plan: ``cluster.rollout_plan`` (the pure function the deploy runs its
    batches from) where this checkout has it; otherwise the same arithmetic as playbooks/deploy.yml here —
    Ansible's ``serial`` ``[canary, batch]`` (or ``batch``), a sleep after every batch but the last, a pause after
    the canary batch and whenever ``pause_step`` hosts were crossed.
    """
    from ansible_collections.noops.platform.plugins.plugin_utils.odin import cluster

    if hasattr(cluster, "rollout_plan"):
        return list(cluster.rollout_plan(hosts, rollout)["batches"])
    batch = max(1, int(rollout.get("batch") or 1))
    canary = max(0, int(rollout.get("canary") or 0))
    step = max(0, int(rollout.get("pause_step") or 0))
    sleep = rollout.get("sleep") or 0
    plan: list[dict[str, t.Any]] = []
    start = 0
    total = len(hosts)
    while start < total:
        size = canary if canary and not plan else batch
        chunk = list(hosts[start:start + size])
        done = start + len(chunk)
        pause = None
        if done < total:
            if canary and not plan:
                pause = "canary batch done"
            elif step and done // step > start // step:
                pause = "pause_step %d: %d of %d hosts done" % (step, done, total)
        plan.append({"hosts": chunk, "done": done, "sleep": sleep if done < total else 0, "pause": pause})
        start = done
    return plan


# --- the whole check -------------------------------------------------------------------------------------------


def _relative_paths(doc: t.Any) -> list[str]:
    """Problems for a pkg_url or code_url that is a relative local path: a cluster.yml from the console has no
    folder of the user's for it to be relative to."""
    from ansible_collections.noops.platform.plugins.plugin_utils.odin.fetch import (
        git_url, is_local_repo, local_path, url_scheme,
    )

    head = doc.get("cluster") if isinstance(doc, dict) else None
    name = head.get("name") if isinstance(head, dict) else None
    block = doc.get(name) if isinstance(name, str) and isinstance(doc, dict) else None
    problems = []
    for key in ("pkg_url", "code_url"):
        value = block.get(key) if isinstance(block, dict) else None
        if not isinstance(value, str) or not value.strip():
            continue
        value = value.strip()
        if key == "pkg_url":
            resolved = local_path(value, "") if url_scheme(value) in ("", "file") else None
        else:
            resolved = git_url(value, "") if is_local_repo(value) else None
        if resolved and not os.path.isabs(resolved):  # with no folder given, a relative path stays relative
            problems.append(problem(SOURCE, "%s.%s" % (name, key), "a relative path: give an absolute path or a URL "
                                    "(a cluster.yml from the console has no folder to be relative to)", value))
    return problems


def build_source(doc: t.Any) -> dict[str, str] | None:
    """What a cluster.yml builds from, when it builds from code: ``{"code_url", "branch", "relative_path",
    "build_command"}`` (strings, "" when not given); None when it names no code_url (a package URL deploy)."""
    head = doc.get("cluster") if isinstance(doc, dict) else None
    name = head.get("name") if isinstance(head, dict) else None
    block = doc.get(name) if isinstance(name, str) and isinstance(doc, dict) else None
    if not isinstance(block, dict) or block.get("code_url") in (None, ""):
        return None
    return {key: "" if block.get(key) is None else str(block.get(key))
            for key in ("code_url", "branch", "relative_path", "build_command")}


def check_text(text: str, inventory_sources: t.Sequence[str], inventory_refused: str | None = None
               ) -> dict[str, t.Any]:
    """Check a cluster.yml's text as the deploy's first step does (``cluster.prepare``: the file, the hosts, the
    rollout), with the hosts of ``inventory_sources`` (none: ansible.cfg's inventory; not read when
    ``inventory_refused``, a problem line, is given). The package is neither
    fetched nor built here (nor any build command run): the launched deploy does that, and checks the package and
    the values it needs then.

    Returns ``{"problems": [every problem line], "hosts", "plan", "rollout", "service", "version", "build"}``
    (``build``: ``build_source``'s answer); ``hosts`` and ``plan`` are empty when there is a problem.
    """
    problems: list[str] = []
    inventory: list[InventoryHost] = []
    if inventory_refused:  # not read at all: reading an inventory may run it
        problems.append(inventory_refused)
    else:
        try:
            inventory = load_inventory(inventory_sources)
        except InventoryError as e:
            problems.append("inventory: %s" % e)
    inventory_failed = bool(problems)
    folder = tempfile.mkdtemp(prefix="noops-form-")
    try:
        path = os.path.join(folder, SOURCE)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        prepared = prepare(path, inventory, {"all": [h.name for h in inventory]}, source=SOURCE, package=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    doc = load_cluster_text(text, SOURCE)[0]
    relative = _relative_paths(doc)
    # A relative path's "no such file" from the temporary folder says nothing more; without the inventory, neither
    # does "no host selected".
    fields = {p.split(": ", 2)[1] for p in relative}
    problems += [p for p in prepared.problems
                 if not (inventory_failed and "no host selected" in p)
                 and not (p.startswith(SOURCE + ": ") and p.split(": ", 2)[1] in fields)]
    problems += relative
    result = prepared.result
    out: dict[str, t.Any] = {"problems": problems, "hosts": [], "plan": [], "rollout": result.get("rollout") or {},
                             "service": result.get("service"), "version": result.get("version"),
                             "build": build_source(doc)}
    if not problems:
        out["hosts"] = list(result.get("hosts") or [])
        out["plan"] = batch_plan(out["hosts"], out["rollout"])
    return out


KNOWN_INVENTORIES_ENV = "NOOPS_CONSOLE_INVENTORIES"  # more inventory sources operators may choose (os.pathsep)


def configured_inventories() -> list[str]:
    """The inventory sources an operator may choose: the configured one (``$ANSIBLE_INVENTORY``, else the
    ``inventory`` of the ansible.cfg the runs use, relative to its folder) and ``$NOOPS_CONSOLE_INVENTORIES``."""
    import configparser

    from noops_cli.runner import ansible_config_path

    config = ansible_config_path()
    listed = os.environ.get("ANSIBLE_INVENTORY")
    base = os.getcwd()
    if not listed:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(config)
            listed = parser.get("defaults", "inventory", fallback="")
        except configparser.Error:
            listed = ""
        base = os.path.dirname(os.path.abspath(config))
    sources = [os.path.join(base, os.path.expanduser(s)) if not os.path.isabs(os.path.expanduser(s)) and
               "://" not in s else s for s in (x.strip() for x in (listed or "").split(",")) if s]
    sources += [s for s in os.environ.get(KNOWN_INVENTORIES_ENV, "").split(os.pathsep) if s]
    return sources


def _same_source(source: str) -> str:
    return os.path.realpath(source) if os.path.exists(source) else source


def unknown_inventories(sources: t.Sequence[str]) -> list[str]:
    """The ``sources`` that are not among ``configured_inventories`` (compared as real paths where they exist)."""
    known = {_same_source(s) for s in configured_inventories()}
    return [s for s in sources if _same_source(s) not in known]


INVENTORY_ROLE = "admin"  # reading an inventory may run it on the console's host


def inventory_refusal(sources: t.Sequence[str], user: str, role: str | None) -> str | None:
    """The problem line for an inventory ``user`` (of ``role``) may not choose, or None: a source other than the
    configured ones may be an executable inventory (or an inventory plugin) that reading it runs on the console's
    host, so only the admin role may choose one."""
    unknown = unknown_inventories(sources)
    if not unknown or role == INVENTORY_ROLE:
        return None
    known = configured_inventories()
    return ("inventory: %s: not a configured inventory source: reading an inventory can run a program on the "
            "console's host, so choosing another one needs the %s role (user %s has role %s); choose among: %s "
            "(or leave the field empty for ansible.cfg's)" % (", ".join(unknown), INVENTORY_ROLE, user,
                                                             role or "none", ", ".join(known) or "-"))


def inventory_sources(value: str | None) -> list[str]:
    """The inventory field: sources separated by blanks or commas."""
    return [s for s in re.split(r"[\s,]+", value or "") if s]


def check(form: t.Mapping[str, str], inventory_refused: str | None = None) -> dict[str, t.Any]:
    """Render the form's cluster.yml and check it (``check_text``): every problem at once, each next to its field.

    A field that cannot be checked with the rest (longer than ``MAX_FIELD``, template values that are no YAML, a
    missing or bad name) gets its problem next to it, and the rest of the form is checked without it (under a
    stand-in name), so that it hides no other problem. ``inventory_refused``: a problem line for the inventory
    field that keeps the inventory from being read at all (a source the user may not choose).

    Returns ``check_text``'s answer with ``"cluster_yml"`` (the text as typed), ``"errors": {field: [lines]}`` and
    ``"general"`` (the lines that name no field).
    """
    text, where = render(form)
    own: dict[str, list[str]] = {}  # problems found here, by field, before Odin's
    checked_form = dict(form)
    for field in FIELD_NAMES:
        if len(form.get(field) or "") > MAX_FIELD:
            own.setdefault(field, []).append("%s: %s: %d characters, at most %d" % (
                SOURCE, field, len(form.get(field) or ""), MAX_FIELD))
            checked_form[field] = ""  # the rest is checked without it
    checked, checked_where = render(checked_form)
    doc, yaml_problems = load_cluster_text(checked, SOURCE)
    if doc is None and (checked_form.get("values") or "").strip():
        # Only the template values are free YAML (every other field is written quoted): they broke the file.
        # Their error goes next to them; the rest is checked without them.
        own.setdefault("values", []).extend(yaml_problems)
        checked_form["values"] = ""
        checked, checked_where = render(checked_form)
        doc = load_cluster_text(checked, SOURCE)[0]
    name = cluster_name(checked_form)
    first: list[str] = []
    cluster, head_problems = parse_cluster(doc, SOURCE) if doc is not None else (None, [])
    if cluster is None and (not name or any(p.startswith("%s: cluster.name" % SOURCE) for p in head_problems)):
        # Odin stops at a missing or bad name; check the rest under a stand-in name so that every other problem
        # shows too.
        first = head_problems if doc is not None else []
        name = PLACEHOLDER
        checked, checked_where = render(dict(checked_form, name=name))
    if inventory_refused:
        out = check_text(checked, [], inventory_refused=inventory_refused)
    else:
        out = check_text(checked, inventory_sources(form.get("inventory")))
    problems = [p for p in first if p not in out["problems"]] + out["problems"]
    out.update(cluster_yml=text, errors={}, general=[])
    for field, lines in own.items():
        out["errors"].setdefault(field, []).extend(lines)
    for line in problems:
        field = "inventory" if line.startswith("inventory: ") else field_of(line, name, checked_where)
        if field is None and line.startswith("%s: cluster.name" % SOURCE):
            field = "name"
        if field:
            out["errors"].setdefault(field, []).append(line)
        else:
            out["general"].append(line)
    out["problems"] = [line for lines in own.values() for line in lines] + problems
    if out["problems"]:
        out["hosts"], out["plan"] = [], []
    return out


# --- launching -------------------------------------------------------------------------------------------------


class LaunchError(Exception):
    """The deploy could not be started, or its task did not appear in the history store; the message says why."""


def launch(text: str, sources: t.Sequence[str], user: str, dsn: str, folder: str, wait: float = 90.0,
           limit: str | None = None, force: bool = False) -> int:
    """Start the deploy of a checked cluster.yml exactly as ``noops deploy -f FILE [-i SOURCE ...] --plain
    [--force --rebuild]`` does (the same command, in a session of its own so that it outlives the request and the
    console; ``force``: build or download the package again even when the cache holds it, and deploy also to
    hosts already running the version), with
    ``NOOPS_USER`` = ``user`` (the history's initiator) and the console's history store. The file is kept in
    ``folder`` (mode 0600: it holds the template values), its output beside it (``.log``), and the inventory
    sources beside it (``.inventory``, one a line) for a retry. ``limit`` (an Ansible host pattern) is passed as
    ``--limit``.

    Returns the task id once the history store has the run's task (within ``wait`` seconds). Raises LaunchError.
    """
    import datetime
    import secrets
    import threading
    import time

    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore, StoreError

    os.makedirs(folder, mode=0o700, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(folder, "%s-%s.yml" % (stamp, secrets.token_hex(4)))
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
        f.write(text)
    # The noops command of this Python (as its console script runs it, without a PATH lookup).
    command = [sys.executable, "-c", "import sys; from noops_cli.main import main; sys.exit(main())",
               "deploy", "-f", path, "--plain"] + (["--force", "--rebuild"] if force else [])
    sources = [os.path.abspath(source) if os.path.exists(source) else source for source in sources]
    for source in sources:
        command += ["-i", source]
    if limit:
        command += ["--limit", limit]
    with open(os.open(path[:-len(".yml")] + ".inventory", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w",
              encoding="utf-8") as f:
        f.write("".join(source + "\n" for source in sources))
    env = dict(os.environ, NOOPS_USER=user, NOOPS_HISTORY_DSN=dsn)
    log_path = path[:-len(".yml")] + ".log"
    with open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as log:
        try:
            proc = subprocess.Popen(command, env=env, cwd=folder, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            raise LaunchError("cannot start noops deploy: %s" % e) from e
    threading.Thread(target=proc.wait, daemon=True).start()  # reaped when it ends; it is never waited for here
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with HistoryStore(dsn, lock_timeout=2.0, migrate=False) as store:
                for task in store.list_tasks(limit=50):
                    if task.get("cluster_file") == path:
                        return int(task["id"])
        except StoreError:
            pass  # the store may be created by the run itself
        if proc.poll() is not None:
            # It may have recorded its task just before it ended: one more look.
            try:
                with HistoryStore(dsn, lock_timeout=2.0, migrate=False) as store:
                    for task in store.list_tasks(limit=50):
                        if task.get("cluster_file") == path:
                            return int(task["id"])
            except StoreError:
                pass
            with open(log_path, encoding="utf-8", errors="replace") as f:
                tail = [line.strip() for line in f.read().splitlines() if line.strip()][-3:]
            raise LaunchError("noops deploy ended (exit status %d) without a task: %s" % (proc.returncode,
                                                                                        " / ".join(tail) or "-"))
        time.sleep(0.3)
    raise LaunchError("noops deploy started (pid %d) but its task is not in the history store after %d s; its "
                      "output: %s" % (proc.pid, wait, log_path))
