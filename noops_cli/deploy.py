"""``noops deploy | rollback | control``: the commands, and the playbook run each asks for.

The run itself is in ``runner`` (ansible-runner), its progress in ``tracker`` (read from the history store),
what is shown in ``views`` and the operator's keys and Ctrl-C in ``operator_input``. Per host: pending -> deploying
(running for a control action) -> success | failed | skipped | unreachable (with ``--check``: would change, naming
the thor steps that would change the host, instead of success), and the release the host's program path points
at. Pauses of the rollout (``noops.platform.task_control``) are continued with ``noops tasks resume ID`` or
``c`` + Enter here; the first Ctrl-C cancels before the next batch, the second interrupts the run, the third kills
it.
"""

from __future__ import annotations

import argparse
import os
import re
import typing as t

from noops_cli import LOCATION, collection
from noops_cli.main import CliError
from noops_cli.runner import RunSpec, run_playbook
from noops_cli.tracker import PROGRESS_ROLES
from noops_cli.views import summarize

PLAYBOOKS = {"deploy": "deploy.yml", "rollback": "rollback.yml", "control": "control.yml"}


# --- the commands -------------------------------------------------------------------------------------------


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("want an integer >= 0, got %r" % text) from None
    if value < 0:
        raise argparse.ArgumentTypeError("want an integer >= 0, got %d" % value)
    return value


def _positive_int(text: str) -> int:
    value = _nonneg_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("want an integer >= 1, got %d" % value)
    return value


def _extra_var(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise argparse.ArgumentTypeError("want KEY=VALUE, got %r" % text)
    return key, value


def _common(p: argparse.ArgumentParser, batching: bool = True) -> None:
    p.add_argument("-i", "--inventory", action="append", default=[], metavar="SOURCE",
                   help="inventory source (repeatable; default: ansible.cfg's, the example service tree)")
    p.add_argument("-l", "--limit", metavar="PATTERN", help="further limit the hosts (Ansible host pattern)")
    p.add_argument("--forks", type=_positive_int, metavar="N", help="parallel connections (Ansible's --forks)")
    p.add_argument("-e", "--extra-var", action="append", default=[], type=_extra_var, metavar="KEY=VALUE",
                   help="extra variable for the playbook (repeatable)")
    p.add_argument("--plain", action="store_true", help="print lines instead of a live table (default when "
                                                        "stdout is not a terminal)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="ansible-playbook verbosity")
    if batching:
        # The rollout options are checked after parsing, as cluster.yml's fields are (rollout_option_problems).
        p.add_argument("--batch", metavar="N", help="hosts deployed in parallel (default 1)")
        p.add_argument("--sleep", metavar="S", help="seconds to wait after each batch")


def register(subparsers: t.Any) -> None:
    deploy = subparsers.add_parser(
        "deploy", help="deploy a service from cluster.yml in batches",
        description="Run playbooks/deploy.yml through ansible-runner with a live per-host table. Exit status 0 when "
                    "every host ended success or skipped, 1 when a host failed or was not reached, 2 when the request "
                    "was rejected before any host was touched (bad cluster.yml, lock held), 130 when interrupted. "
                    "A pause is continued with `noops tasks resume ID` or c + Enter here; Ctrl-C cancels before "
                    "the next batch (twice: interrupt now).")
    deploy.add_argument("-f", "--file", required=True, metavar="CLUSTER_YML", help="the cluster.yml to deploy")
    _common(deploy)
    deploy.add_argument("--check", action="store_true", help="check mode: validate and show what would change")
    deploy.add_argument("--pause-step", metavar="N", help="pause after every N hosts (0: never)")
    deploy.add_argument("--max-fail", metavar="N|N%",
                        help="failed hosts tolerated before the rollout stops (default 0)")
    deploy.add_argument("--canary", metavar="N", help="a first batch of N hosts, then a pause")
    deploy.add_argument("--force", action="store_true", help="deploy also to hosts already running the version")
    deploy.add_argument("--rebuild", action="store_true",
                        help="build the package again (code_url), or download it again (pkg_url), even when the "
                             "package cache holds it (force_rebuild)")
    deploy.add_argument("--break-lock", action="store_true", help="take the cluster's deploy lock even when a dead "
                                                                  "run left it")
    deploy.set_defaults(handler=run_deploy)

    rollback = subparsers.add_parser(
        "rollback", help="switch a cluster back to the previous (or a named) release",
        description="Run playbooks/rollback.yml through ansible-runner with the same batching and table as deploy.")
    rollback.add_argument("-f", "--file", required=True, metavar="CLUSTER_YML", help="the cluster.yml of the service")
    rollback.add_argument("--version", metavar="V", help="roll back to this version (default: the previous release)")
    _common(rollback)
    rollback.add_argument("--check", action="store_true", help="check mode")
    rollback.add_argument("--pause-step", metavar="N", help="pause after every N hosts")
    rollback.add_argument("--max-fail", metavar="N|N%", help="failed hosts tolerated")
    rollback.add_argument("--break-lock", action="store_true", help="take a lock left by a dead run")
    rollback.set_defaults(handler=run_rollback)

    control = subparsers.add_parser(
        "control", help="start, stop, restart or reload the processes of a tag query's machines in batches",
        description="Run playbooks/control.yml through ansible-runner (start/stop actions, 启停动作).")
    control.add_argument("query", metavar="QUERY",
                         help="tag query of the machines (service.dch_idc.sd,!status.offline)")
    control.add_argument("action", choices=("start", "stop", "restart", "reload", "kill", "status"))
    control.add_argument("--name", metavar="PROCESS", help="only this process (default: every process)")
    _common(control)
    control.add_argument("--check", action="store_true", help="check mode")
    control.set_defaults(handler=run_control)


def _abs_inventory(sources: t.Sequence[str]) -> list[str]:
    # ansible-runner runs from the collection root: a relative path means the caller's folder.
    return [os.path.abspath(s) if os.path.exists(s) else s for s in sources]


def _cluster_file(path: str) -> str:
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise CliError("%s: no such cluster file" % path)
    return full


ROLLOUT_OPTIONS = ("batch", "sleep", "pause_step", "max_fail", "canary")


def _rollout_options(args: argparse.Namespace) -> tuple[dict[str, t.Any], list[str]]:
    """The rollout options given (batch, sleep, pause_step, max_fail, canary) checked as cluster.yml's fields are
    -> (extra vars of those that pass, one problem line for each that does not: ``--max-fail: "lots": must be
    ...``)."""
    from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import ROLLOUT_CHECKS, show

    extra: dict[str, t.Any] = {}
    problems: list[str] = []
    for name in ROLLOUT_OPTIONS:
        value = getattr(args, name, None)
        if value is None:
            continue
        try:
            parsed = ROLLOUT_CHECKS[name](value)
        except ValueError as e:
            problems.append("--%s: %s: %s" % (name.replace("_", "-"), show(value), e))
            continue
        # max_fail stays as written (a count or "N%": the percentage is taken of the hosts the run selects).
        extra[name] = value.strip() if name == "max_fail" else parsed
    return extra, problems


def _file_problems(path: str, overrides: t.Mapping[str, t.Any]) -> list[str]:
    """What Odin finds wrong in the cluster.yml itself (its fields and rollout settings, ``overrides`` winning), as
    the playbook's check reports it; the hosts and the package are checked by the run."""
    from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import load_cluster_text, parse_cluster

    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError as e:
        return ["%s: cannot read the cluster file: %s" % (path, e.strerror or e)]
    doc, problems = load_cluster_text(text, path)
    if doc is None:
        return problems
    return problems + parse_cluster(doc, path, os.path.dirname(os.path.abspath(path)), overrides)[1]


def _rollout_vars(args: argparse.Namespace) -> dict[str, t.Any]:
    """The extra vars of the rollout options and flags; CliError (exit 2) naming every option that fails its check,
    with the cluster.yml's own problems, before anything runs."""
    extra, problems = _rollout_options(args)
    if problems:
        if getattr(args, "file", None):
            overrides = dict(extra)
            overrides.update(dict(args.extra_var))  # -e wins, as in the run
            problems += _file_problems(args.file, overrides)
        raise CliError("\n".join(problems))
    if getattr(args, "force", False):
        extra["force"] = True
    if getattr(args, "rebuild", False):
        extra["force_rebuild"] = True
    if getattr(args, "break_lock", False):
        extra["odin_break_lock"] = True
    extra.update(dict(args.extra_var))
    return extra


def playbook_fqcn(name: str) -> str:
    """The FQCN ansible-playbook runs for the collection's ``playbooks/<name>`` (``noops.platform.deploy``).
    Raises CliError when the collection lacks it."""
    try:
        return collection.playbook(LOCATION, name)
    except collection.CollectionNotFound as e:
        raise CliError(str(e)) from e


def spec_for(args: argparse.Namespace) -> RunSpec:
    """The playbook run a parsed command line asks for."""
    command = args.command
    playbook = playbook_fqcn(PLAYBOOKS[command])
    extra = {}
    if command in ("deploy", "rollback"):
        extra["cluster_file"] = _cluster_file(args.file)
        if command == "rollback" and args.version:
            extra["version"] = args.version
        title = "%s %s" % (command, os.path.basename(args.file))
        roles: t.Collection[str] = PROGRESS_ROLES
    else:
        extra.update(query=args.query, action=args.action)
        if args.name:
            extra["name"] = args.name
        title = "%s %s %s" % (args.action, args.name or "every process", args.query)
        roles = ()
    extra.update(_rollout_vars(args))
    return RunSpec(playbook=playbook, title=title, extravars=extra, inventory=_abs_inventory(args.inventory),
                   limit=args.limit, check=args.check, forks=args.forks, verbosity=args.verbose,
                   progress_roles=roles)


def _run(args: argparse.Namespace, what: str) -> int:
    spec = spec_for(args)
    outcome = run_playbook(spec, plain=True if args.plain else None)
    return summarize(outcome, what, print)


def run_deploy(args: argparse.Namespace) -> int:
    return _run(args, "deploy")


def run_rollback(args: argparse.Namespace) -> int:
    return _run(args, "rollback")


def run_control(args: argparse.Namespace) -> int:
    return _run(args, args.action)
