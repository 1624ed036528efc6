"""Running an Odin playbook through ansible-runner: its environment, the run, and following it in the store.

The playbooks (playbooks/deploy.yml, rollback.yml, control.yml) are the same ones ``ansible-playbook`` and AWX run.
The history callback records the run (it is always enabled for these runs); the tracker reads the run's task and
hosts from the store while it goes on, and the view shows them.
"""

from __future__ import annotations

import configparser
import dataclasses
import getpass
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import typing as t

from noops_cli import COLLECTION_ROOT, LOCATION, collection
from noops_cli.main import CliError
from noops_cli.operator_input import Operator, interrupt, stdin_keys
from noops_cli.tracker import PROGRESS_ROLES, RolloutTracker, StoreReader, secrets_masker
from noops_cli.views import LiveView, PlainView, pause_hint

HISTORY_CALLBACK = "noops.platform.history"
# callbacks_enabled when none is wanted: Ansible refuses an empty name, and skips a stdout callback in that list
# (the run's own stdout callback is ansible-runner's).
NO_CALLBACKS = "ansible.builtin.default"
# Seconds between two reads of the run's records in the store.
POLL_INTERVAL = 0.5


@dataclasses.dataclass
class RunSpec:
    playbook: str
    title: str
    extravars: dict[str, t.Any]
    inventory: list[str] = dataclasses.field(default_factory=list)
    limit: str | None = None
    check: bool = False
    forks: int | None = None
    verbosity: int = 0
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    progress_roles: t.Collection[str] = PROGRESS_ROLES
    # The hosts may be reached over SSH: its control sockets must fit (a short folder, or refused before the run).
    ssh: bool = True
    # Recorded in the deploy history (a task). Off only for reads that change nothing (``collect_run`` of a
    # status): a page reading a host's processes must not add a task each time it is shown.
    record: bool = True


@dataclasses.dataclass
class RunOutcome:
    rc: int
    status: str
    tracker: RolloutTracker
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return not self.interrupted and self.tracker.succeeded(self.rc)


def ansible_config_path() -> str:
    """The ansible.cfg a run uses: $ANSIBLE_CONFIG when set, else the repository's (collections path, history)."""
    return os.environ.get("ANSIBLE_CONFIG") or os.path.join(COLLECTION_ROOT, "ansible.cfg")


def history_dsn(explicit: str | None = None, config_path: str | None = None) -> str:
    """The history store of noops' runs and of ``noops tasks`` and the console (the one resolver,
    history.store.history_dsn): ``explicit`` (``--dsn``), else $NOOPS_HISTORY_DSN, else ``[noops_history] dsn``
    of the ansible.cfg the runs use (``config_path``, default ``ansible_config_path()``), else the default SQLite
    file. Raises CliError for an ansible.cfg that cannot be parsed."""
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import StoreError
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import history_dsn as resolve

    try:
        return resolve(explicit, config_path or ansible_config_path())
    except StoreError as e:
        raise CliError(str(e)) from e


def _read_config(config_path: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(config_path)
    except configparser.Error as e:
        raise CliError("%s: %s" % (config_path, e)) from e
    return parser


def ssh_env(config_path: str) -> dict[str, str]:
    """``ANSIBLE_SSH_CONTROL_PATH_DIR`` for the run when Ansible's own folder for SSH control sockets is too deep
    for a unix socket (plugin_utils/odin/ssh_control.py), else nothing. Raises CliError naming a configured folder
    that cannot fit."""
    from ansible_collections.noops.platform.plugins.plugin_utils.odin.ssh_control import run_env
    from ansible_collections.noops.platform.plugins.module_utils.unix_socket import SocketPathError

    parser = _read_config(config_path)
    ini = dict(parser.items("ssh_connection")) if parser.has_section("ssh_connection") else {}
    try:
        return run_env(os.environ, ini)
    except SocketPathError as e:
        raise CliError("%s (%s)" % (e, config_path) if "[ssh_connection]" in str(e) else str(e)) from e


def callbacks_enabled(config_path: str, record: bool = True) -> str:
    """The run's ``callbacks_enabled`` ($ANSIBLE_CALLBACKS_ENABLED, else ansible.cfg's) with the history callback
    added: the progress shown is read from the history, so noops' own runs always record it. With ``record``
    False (a read that changes nothing) the history callback is taken out instead."""
    value = os.environ.get("ANSIBLE_CALLBACKS_ENABLED")
    if value is None:
        value = _read_config(config_path).get("defaults", "callbacks_enabled", fallback="")
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not record:
        return ",".join(n for n in names if n not in (HISTORY_CALLBACK, "history")) or NO_CALLBACKS
    if HISTORY_CALLBACK not in names and "history" not in names:
        names.append(HISTORY_CALLBACK)
    return ",".join(names)


def runner_env(spec: RunSpec, dsn: str) -> dict[str, str]:
    """What ansible-playbook needs beyond our environment (which ansible-runner passes on, NOOPS_* included)."""
    bin_dir = os.path.dirname(sys.executable)
    env = {
        "ANSIBLE_CONFIG": ansible_config_path(),
        # The collection this command found (noops_cli/collection.py) is the one the playbooks run from.
        "ANSIBLE_COLLECTIONS_PATH": collection.ansible_collections_path(LOCATION),
        # The noops venv's ansible-playbook, also when `noops` was started without activating the venv.
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "NOOPS_HISTORY_DSN": dsn,
        "NOOPS_USER": os.environ.get("NOOPS_USER") or getpass.getuser(),
        "ANSIBLE_FORCE_COLOR": "0",
    }
    env["ANSIBLE_CALLBACKS_ENABLED"] = callbacks_enabled(env["ANSIBLE_CONFIG"], spec.record)
    if spec.ssh:
        env.update(ssh_env(env["ANSIBLE_CONFIG"]))
    env.update(spec.env)
    return env


def runner_kwargs(spec: RunSpec, private: str, envvars: t.Mapping[str, str],
                  **callbacks: t.Callable[..., t.Any]) -> dict[str, t.Any]:
    """The arguments of ``ansible_runner.run``/``run_async`` for ``spec``: the collection as the project, the
    playbook, extra vars, inventory, limit, forks, check mode and verbosity, and ``callbacks`` (``event_handler``,
    ``cancel_callback``). Events are what noops reads; ansible-runner's own output and job_events are not needed."""
    cmdline = ["--check"] if spec.check else []
    if spec.verbosity:
        cmdline.append("-" + "v" * spec.verbosity)
    kwargs: dict[str, t.Any] = dict(
        private_data_dir=private, project_dir=COLLECTION_ROOT, playbook=spec.playbook, extravars=spec.extravars,
        envvars=dict(envvars), quiet=True, settings={"suppress_ansible_output": True, "pexpect_timeout": 1},
        **callbacks)
    if spec.inventory:
        kwargs["inventory"] = spec.inventory
    if spec.limit:
        kwargs["limit"] = spec.limit
    if spec.forks:
        kwargs["forks"] = spec.forks
    if cmdline:
        kwargs["cmdline"] = " ".join(cmdline)
    return kwargs


def run_playbook(spec: RunSpec, plain: bool | None = None,
                 on_pause: t.Callable[[Operator, int | None], None] | None = None) -> RunOutcome:
    """Run ``spec.playbook`` through ansible-runner, showing per-host progress (read from the history store)
    until it ends.

    ``on_pause(operator, task_id)`` is called once each time the run is held (the demo resumes by itself).
    """
    import ansible_runner

    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import redact_dsn

    tracker = RolloutTracker(spec.progress_roles, check=spec.check)
    tracker.masker = secrets_masker(spec.extravars)
    dsn = history_dsn()
    envvars = runner_env(spec, dsn)  # before anything starts: it refuses an SSH control folder that cannot fit
    plain = (not sys.stdout.isatty()) if plain is None else plain
    view: t.Any = PlainView(tracker, spec.title) if plain else LiveView(tracker, spec.title)
    operator = Operator(tracker, dsn, view.say)
    reader = StoreReader(dsn)
    private = tempfile.mkdtemp(prefix="noops-run-")
    cancel = {"kill": False}
    interrupts = 0
    stop_keys = threading.Event()
    kwargs = runner_kwargs(spec, private, envvars, event_handler=lambda e: (tracker.handle(e), True)[1],
                           cancel_callback=lambda: cancel["kill"])
    try:
        with view:
            thread, runner = ansible_runner.run_async(**kwargs)
            if not plain and sys.stdin.isatty():
                threading.Thread(target=stdin_keys, args=(operator, stop_keys), daemon=True).start()
            seen_pauses = 0
            while thread.is_alive():
                try:
                    reader.read(tracker)
                    view.refresh()
                    if tracker.pause_events != seen_pauses and tracker.paused:
                        seen_pauses = tracker.pause_events
                        if plain:
                            view.say(tracker.paused)
                            view.say(pause_hint(tracker.task_id, False))
                        if on_pause is not None:
                            on_pause(operator, tracker.task_id)
                    # Not thread.join(): a Ctrl-C that interrupts join() can leave the thread reported as
                    # finished while ansible-playbook still runs, and the loop would end before the run does.
                    time.sleep(POLL_INTERVAL)
                except KeyboardInterrupt:
                    interrupts += 1
                    interrupts = interrupt(interrupts, tracker, operator, view.say, cancel)
            reader.read(tracker, final=True)
            if reader.error:
                view.say("noops: the history store %s: %s" % (redact_dsn(dsn), reader.error))
            view.refresh()
    finally:
        reader.close()
        stop_keys.set()
        shutil.rmtree(private, ignore_errors=True)
    rc = runner.rc if runner.rc is not None else 1
    return RunOutcome(rc=rc, status=str(runner.status), tracker=tracker, interrupted=interrupts > 0)


@dataclasses.dataclass
class HostResult:
    """One task's result on one host, as the run's events told it."""

    host: str
    task: str
    action: str
    status: str  # ok, failed, unreachable, skipped
    res: dict[str, t.Any]


@dataclasses.dataclass
class CollectedRun:
    rc: int
    status: str
    results: list[HostResult]
    seconds: float
    # The last lines ansible-playbook printed (at most 5, ANSI colours removed): why a run that gave no result
    # ended.
    output: list[str] = dataclasses.field(default_factory=list)

    def of(self, action: str) -> list[HostResult]:
        """The results of the tasks running module ``action`` (short or FQCN name)."""
        return [r for r in self.results if r.action == action or r.action.endswith("." + action)]

    def failures(self) -> list[str]:
        """Every failed or unreachable result as ``host: task: message`` (masked), in order."""
        from noops_cli.tracker import one_line

        return ["%s: %s: %s" % (r.host, r.task, one_line(r.res.get("msg") or r.res.get("stderr") or "failed"))
                for r in self.results if r.status in ("failed", "unreachable")]


_EVENT_STATUS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
                 "runner_on_skipped": "skipped"}


def collect_run(spec: RunSpec, timeout: float | None = None) -> CollectedRun:
    """Run ``spec.playbook`` through ansible-runner as ``run_playbook`` does (same environment, same collection,
    the history recording it unless ``spec.record`` is False) but without a view or an operator: for a caller
    that wants the tasks' results (the console's process pages). Ignored results (``ignore_errors``) count as ok.

    ``timeout``: seconds after which the run is cancelled (its status is then ``canceled``). Raises CliError for
    an environment that cannot run (an SSH control folder that cannot fit, an unreadable ansible.cfg).
    """
    import ansible_runner

    started = time.monotonic()
    envvars = runner_env(spec, history_dsn())
    results: list[HostResult] = []

    def handle(event: t.Mapping[str, t.Any]) -> bool:
        status = _EVENT_STATUS.get(str(event.get("event")))
        data = event.get("event_data") or {}
        if status:
            if status == "failed" and data.get("ignore_errors"):
                status = "ok"
            res = data.get("res")
            results.append(HostResult(host=str(data.get("host") or ""), task=str(data.get("task") or ""),
                                      action=str(data.get("task_action") or ""), status=status,
                                      res=dict(res) if isinstance(res, dict) else {}))
        return False  # nothing kept on disk: the private folder is removed below

    private = tempfile.mkdtemp(prefix="noops-run-")
    kwargs = runner_kwargs(spec, private, envvars, event_handler=handle,
                           cancel_callback=lambda: timeout is not None and time.monotonic() - started > timeout)
    output: list[str] = []
    try:
        runner = ansible_runner.run(**kwargs)
        try:
            text = runner.stdout.read()[-4000:] if runner.stdout else ""
        except (OSError, ValueError):
            text = ""
        output = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if line.strip()][-5:]
    finally:
        shutil.rmtree(private, ignore_errors=True)
    rc = runner.rc if runner.rc is not None else 1
    return CollectedRun(rc=rc, status=str(runner.status), results=results, seconds=time.monotonic() - started,
                        output=output)
