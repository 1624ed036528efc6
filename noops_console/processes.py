"""A host's processes as the console shows and changes them (Frigga's process page).

Everything goes through ``playbooks/control.yml`` and its ``noops.platform.process`` task, run by
``noops_cli.runner`` exactly as ``noops control QUERY ACTION --name PROC --limit HOST`` runs it: reads are action
``status`` (with ``log_lines`` for a log tail), changes are ``start``, ``stop``, ``restart`` and ``nuke`` (the
module's ``killed``: SIGKILL to the process's whole tree, no restart). The hosts are the machines of the service
tree the console reads (``$NOOPS_TREE``, as the Services page), through the ``noops.platform.service_tree``
inventory over that same tree.

A read is not recorded in the deploy history (a page showing a host must not add a task each time); an action is,
as ``noops control`` records it, with the console user as the task's initiator. Nothing is cached: every answer
says when it was read (``read_at``) and how long the read took (``seconds``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
import time
import typing as t

from ansible_collections.noops.platform.plugins.module_utils.redact import Masker

ACTIONS = ("start", "stop", "restart", "nuke")  # control.yml's action names (nuke: the module's state killed)
# Seconds a read or an action may take before its run is cancelled (an action waits for the process: the
# module's own timeout is 30 s).
READ_TIMEOUT = 60
ACTION_TIMEOUT = 120
DEFAULT_LOG_LINES = 50
MAX_LOG_LINES = 200   # lines a log read asks the host for, at most
MAX_LINE = 2000       # characters kept of one log line
# A process name as supervisors write it. Checked before it reaches a playbook's extra variables (which Ansible
# would template).
PROCESS_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@:-]{0,127}$")
INVENTORY_NAME = "console.noops.yml"  # the service_tree inventory source over the console's tree


class HostNotFound(LookupError):
    """The name is no machine of the console's service tree."""


class BadRequest(ValueError):
    """A process name, action or line count that is refused before anything runs ("field: value: why")."""


@dataclasses.dataclass
class Reading:
    """What one run of control.yml on a host told: its processes (after the action, for an action), the module's
    ``actions``, and the error (the module's message, an unreachable host, a run that failed before the host)."""

    host: str
    read_at: float           # epoch seconds the run started
    seconds: float           # how long it took
    processes: list[dict[str, t.Any]]
    actions: list[str]
    error: str | None

    def as_json(self) -> dict[str, t.Any]:
        from noops_console.history import iso

        return {"host": self.host, "read_at": iso(self.read_at), "seconds": round(self.seconds, 2),
                "processes": self.processes, "actions": self.actions, "error": self.error}


def tree_source() -> str:
    """The service tree the console reads (``$NOOPS_TREE``, else the example tree), as the Services page."""
    from noops_cli.tree import default_source

    return default_source()


def load_tree() -> t.Any:
    """The console's service tree. Raises TreeError."""
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import load_source

    return load_source(tree_source())


def machine(name: str, tree: t.Any = None) -> t.Any:
    """The tree machine ``name``. Raises HostNotFound, TreeError (the tree cannot be read)."""
    tree = load_tree() if tree is None else tree
    found = tree.get(name)
    if found is None:
        raise HostNotFound("no host %s in the service tree %s" % (name, tree_source()))
    return found


def check_process(name: str) -> str:
    if not PROCESS_NAME.match(name or ""):
        raise BadRequest("process: %r: a process name (letters, digits, _ . @ : -; at most 128)" % (name,))
    return name


def check_lines(raw: str | None) -> int:
    """A log read's line count: 1 to MAX_LOG_LINES, DEFAULT_LOG_LINES when empty. Raises BadRequest."""
    raw = (raw or "").strip()
    if not raw:
        return DEFAULT_LOG_LINES
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LOG_LINES:
        raise BadRequest("lines: %s: a whole number from 1 to %d" % (raw, MAX_LOG_LINES))
    return int(raw)


def known_secrets() -> Masker:
    """A Masker that knows the secret values of the cluster.yml files in the clusters folders (as the Services page
    finds them): a program that prints a template value bare (no ``password=`` before it) has it masked too."""
    from noops_cli.services import cluster_dirs, find_cluster_files
    from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text

    masker = Masker()
    try:
        files = find_cluster_files(cluster_dirs(None, tree_source()))
    except (OSError, ValueError):
        files = []
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                mask_document_text(f.read(1 << 20), masker)
        except OSError:
            continue
    return masker


def _process(entry: t.Mapping[str, t.Any], masker: Masker) -> dict[str, t.Any]:
    out = {"name": entry.get("name"), "pid": entry.get("pid"), "state": entry.get("state"),
           "start_time": entry.get("start_time") or None, "release": entry.get("version") or None,
           "log": entry.get("log") or None}
    if "log_lines" in entry:
        out["log_lines"] = [(masker.scrub(str(line)) or "")[:MAX_LINE] for line in (entry.get("log_lines") or [])]
    return out


def run_control(host: str, action: str, name: str | None = None, log_lines: int = 0, user: str | None = None,
                tree: t.Any = None) -> Reading:
    """Run control.yml's ``action`` (``status`` or one of ACTIONS) on ``host`` for process ``name`` (every process
    when None) and return what it told. A ``status`` is not recorded in the history; an action is, with ``user``
    as its initiator.

    Raises HostNotFound, BadRequest, TreeError; the run's own failures are the Reading's ``error``.
    """
    from noops_cli.deploy import playbook_fqcn
    from noops_cli.main import CliError
    from noops_cli.runner import RunSpec, collect_run

    if action != "status" and action not in ACTIONS:
        raise BadRequest("action: %r: one of %s" % (action, ", ".join(ACTIONS)))
    if name is not None:
        check_process(name)
    found = machine(host, tree)
    source = tree_source()
    folder = tempfile.mkdtemp(prefix="noops-console-inv-")
    started = time.time()
    try:
        inventory = os.path.join(folder, INVENTORY_NAME)
        with open(inventory, "w", encoding="utf-8") as f:
            from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import is_url

            f.write("plugin: noops.platform.service_tree\nsource: %s\n"
                    % (source if is_url(source) else os.path.abspath(source)))
        extra: dict[str, t.Any] = {"query": str(found.tags[0]), "action": action}
        if name is not None:
            extra["name"] = name
        if log_lines:
            extra["log_lines"] = int(log_lines)
        spec = RunSpec(playbook=playbook_fqcn("control.yml"), title="%s %s %s" % (action, name or "every process",
                                                                                     host),
                       extravars=extra, inventory=[inventory], limit=host, progress_roles=(),
                       record=action != "status", env={"NOOPS_USER": user} if user else {})
        try:
            run = collect_run(spec, timeout=READ_TIMEOUT if action == "status" else ACTION_TIMEOUT)
        except CliError as e:
            return Reading(host, started, time.time() - started, [], [], str(e))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    mine = [r for r in run.of("process") if r.host == host]
    masker = known_secrets()
    processes: list[dict[str, t.Any]] = []
    actions: list[str] = []
    for result in mine:
        processes = [_process(p, masker) for p in result.res.get("processes") or []]
        actions = [str(a) for a in result.res.get("actions") or []]
    failures = run.failures()
    error = None
    if failures:
        error = masker.scrub("; ".join(failures))
    elif run.status == "canceled":
        error = "%s on %s: no answer within %d s" % (action, host,
                                                       READ_TIMEOUT if action == "status" else ACTION_TIMEOUT)
    elif not mine or run.rc != 0:
        error = masker.scrub("%s on %s: the run ended %s (rc %d) without the process task's result%s" % (
            action, host, run.status, run.rc, (": " + " / ".join(run.output)) if run.output else ""))
    return Reading(host, started, run.seconds, processes, actions, error)


def new_lines(before: t.Sequence[str] | None, now: t.Sequence[str]) -> list[str]:
    """The lines of a log tail ``now`` that the previous tail ``before`` did not show: ``now`` after the longest
    end of ``before`` it starts with. All of ``now`` the first time (``before`` None) or when they do not overlap
    (the log moved on by more than a tail, or was rotated)."""
    if before is None:
        return list(now)
    before, now = list(before), list(now)
    for k in range(min(len(before), len(now)), 0, -1):
        if before[-k:] == now[:k]:
            return now[k:]
    return now
