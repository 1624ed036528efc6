"""``noops tasks``: the deploy history (list, show, log) and control of a running rollout (pause, resume, cancel)."""

from __future__ import annotations

import argparse
import fnmatch
import getpass
import json
import os
import sys
import typing as t

from rich.console import Console
from rich.table import Table
from rich.text import Text

from noops_cli.main import CliError
from ansible_collections.noops.platform.plugins.plugin_utils.history.control import (
    ControlError, FINAL_HOST_STATUSES, TASK_STATUSES, format_time, shown_status,
)
from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text
from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    RECAP_FIELDS, HistoryStore, StoreError,
)
from ansible_collections.noops.platform.plugins.plugin_utils.odin.store_lock import takeovers_of_task
from ansible_collections.noops.platform.plugins.plugin_utils.tree.query import TreeIndex, parse_query
from ansible_collections.noops.platform.plugins.module_utils.redact import mask_urls
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import Tag, TagError

_STATUS_STYLE = {
    "running": "cyan", "deploying": "cyan", "paused": "yellow", "pending": "dim", "success": "green",
    "failed": "red", "unreachable": "red", "cancelled": "magenta", "interrupted": "magenta", "skipped": "dim",
    "changed": "yellow", "ok": "green", "ignored": "dim",
}
_RECAP_STYLE = {"ok": "green", "changed": "yellow", "unreachable": "red", "failed": "red", "rescued": "magenta"}


def register(subparsers: t.Any) -> None:
    parser = subparsers.add_parser(
        "tasks", help="deploy history and control of running rollouts",
        description="Every ansible-playbook run recorded by the noops.platform.history callback is a task. The "
                    "store is --dsn, else $NOOPS_HISTORY_DSN, else [noops_history] dsn in ansible.cfg, else "
                    "${XDG_DATA_HOME:-~/.local/share}/noops/history.db.")
    parser.add_argument("--dsn", help="history store: a path, sqlite:///path or postgresql://...")
    sub = parser.add_subparsers(dest="tasks_command", metavar="ACTION")
    sub.required = True

    ls = sub.add_parser("list", help="tasks, newest first")
    ls.add_argument("--service", metavar="QUERY",
                    help="a tag query over the tasks' services (job.x_service.y, service.dch,!cluster.staging*); "
                         "a service that is not a tag is matched as a shell glob")
    ls.add_argument("--status", choices=TASK_STATUSES)
    ls.add_argument("--limit", type=int, default=50, help="at most this many tasks (0: all; default 50)")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(handler=run_list)

    show = sub.add_parser("show", help="one task with its per-host progress")
    show.add_argument("task_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true")
    show.add_argument("--cluster-yml", action="store_true", help="also print the (masked) cluster.yml used")
    show.set_defaults(handler=run_show)

    log = sub.add_parser("log", help="the per-host log of task results")
    log.add_argument("task_id", type=int, metavar="ID")
    log.add_argument("--host", metavar="H", help="only this host")
    log.add_argument("--json", action="store_true")
    log.set_defaults(handler=run_log)

    for action, text in (("pause", "hold the rollout before its next batch"),
                         ("resume", "let a paused rollout go on"),
                         ("cancel", "end the rollout before its next batch (hosts already done stay as they are)")):
        p = sub.add_parser(action, help=text)
        p.add_argument("task_id", type=int, metavar="ID")
        p.add_argument("--reason", help="why (shown by show)")
        p.set_defaults(handler=run_control, action=action)

    prune = sub.add_parser("prune", help="delete ended tasks older than some days")
    prune.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    prune.set_defaults(handler=run_prune)
    # --dsn also after the action (``noops tasks list --dsn ...``); given there, it wins over one before it.
    for action_parser in sub.choices.values():
        action_parser.add_argument("--dsn", default=argparse.SUPPRESS, help="history store (as noops tasks --dsn)")


# --- store and helpers -------------------------------------------------------------------------------


def open_history(args: argparse.Namespace) -> HistoryStore:
    from noops_cli.runner import history_dsn

    dsn = history_dsn(args.dsn)
    try:
        return HistoryStore(dsn)
    except StoreError as e:
        raise CliError(str(e)) from e


def _task_or_fail(store: HistoryStore, task_id: int) -> dict[str, t.Any]:
    task = store.get_task(task_id)
    if task is None:
        raise CliError("no task %d in %s" % (task_id, store.name))
    return task


def _console() -> Console:
    # A terminal crops to its width; a pipe or file (less, grep, CI logs) gets whole lines, as `noops tree` and
    # `noops services` do (Rich would otherwise assume 80 columns and wrap a long host message).
    return Console() if sys.stdout.isatty() else Console(width=4096)


def _styled(status: str | None) -> Text:
    return Text(status or "-", style=_STATUS_STYLE.get(status or "", ""))


def _duration(start: float | None, end: float | None) -> str:
    if start is None or end is None:
        return "-"
    secs = int(round(end - start))
    return "%dm%02ds" % divmod(secs, 60) if secs >= 60 else "%ds" % secs


def _json(data: t.Any) -> int:
    json.dump(_masked(data), sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _masked(data: t.Any) -> t.Any:
    """``data`` with every URL password masked: records written before the history masked URLs hold them."""
    if isinstance(data, str):
        return mask_urls(data)
    if isinstance(data, dict):
        return {k: _masked(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_masked(v) for v in data]
    return data


def select_by_service(tasks: t.Sequence[dict[str, t.Any]], query: str) -> list[dict[str, t.Any]]:
    """Tasks whose service matches a tag query (or, for a service that is not a tag, the query as a glob)."""
    try:
        parse_query(query)
        is_query = True
    except TagError:
        is_query = False
    index = TreeIndex()
    keys = []
    for task in tasks:
        key = str(task["id"])
        service = task.get("service")
        if service:
            try:
                index.add(key, [Tag.parse(service)])
            except TagError:
                pass
        keys.append(key)
    chosen = set(index.select(query)) if is_query and len(index) else set()
    out = []
    for task in tasks:
        service = task.get("service") or ""
        if str(task["id"]) in chosen or (str(task["id"]) not in index and fnmatch.fnmatchcase(service, query)):
            out.append(task)
    return out


# --- handlers --------------------------------------------------------------------------------------------


def with_shown_status(task: dict[str, t.Any]) -> dict[str, t.Any]:
    """The task as readers show it: a running or paused run whose controller is gone is ``interrupted``
    (``status_reason`` says why); the status recorded stays in ``recorded_status``."""
    status, why = shown_status(task)
    if why:
        task = dict(task, recorded_status=task["status"], status=status, status_reason=why)
    return task


def run_list(args: argparse.Namespace) -> int:
    # Filters on the status and the service run in Python (the status shown depends on whether the run's
    # controller is alive, the service filter is a tag query), so they see every task.
    in_python = bool(args.service or args.status)
    with open_history(args) as store:
        try:
            tasks = store.list_tasks(limit=None if in_python or not args.limit else args.limit)
            progress = store.host_progress([task["id"] for task in tasks]) if tasks else {}
        except StoreError as e:
            raise CliError(str(e)) from e
    tasks = [dict(with_shown_status(task), hosts_done=progress.get(task["id"], (0, 0))[0],
                  hosts_selected=progress.get(task["id"], (0, 0))[1]) for task in tasks]
    if args.status:
        tasks = [task for task in tasks if task["status"] == args.status]
    if args.service:
        tasks = select_by_service(tasks, args.service)
    if in_python and args.limit:
        tasks = tasks[:args.limit]
    if args.json:
        return _json(tasks)
    table = Table(title="tasks in %s" % store.name, title_justify="left")
    for col in ("id", "initiator", "service", "version", "started", "ended", "status", "hosts", "control",
                "playbook"):
        table.add_column(col, no_wrap=col in ("id", "started", "ended", "status", "hosts"))
    for task in tasks:
        status = _styled(task["status"])
        if task.get("incomplete"):
            status.append(" (incomplete record)", style="yellow")
        control = task.get("control") or "run"
        table.add_row(str(task["id"]), task["initiator"], task.get("service") or "-", task.get("version") or "-",
                      format_time(task["started_at"]), format_time(task.get("ended_at")), status,
                      "%d/%d" % (task["hosts_done"], task["hosts_selected"]),
                      "-" if control == "run" else "%s by %s" % (control, task.get("control_by") or "?"),
                      task["playbook"])
    _console().print(table)
    return 0


def run_show(args: argparse.Namespace) -> int:
    with open_history(args) as store:
        task = with_shown_status(_task_or_fail(store, args.task_id))
        hosts = store.task_hosts(args.task_id)
        takeovers = takeovers_of_task(store, args.task_id)
    # Masked again when shown, as the console does: records written by an older history hold more in clear.
    masker = Masker()
    if task.get("cluster_yml"):  # first, so the secrets it holds are scrubbed from the host messages as well
        task["cluster_yml"] = mask_document_text(task["cluster_yml"], masker)
    for h in hosts:
        if h.get("message"):
            h["message"] = masker.scrub(h["message"])
    if args.json:
        return _json({"task": task, "hosts": hosts, "lock_takeovers": takeovers})
    console = _console()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    counts: dict[str, int] = {}
    for h in hosts:
        counts[h["status"]] = counts.get(h["status"], 0) + 1
    control = task.get("control") or "run"
    status = _styled(task["status"])
    if task.get("status_reason"):
        status.append(" (%s)" % task["status_reason"])
    done = sum(1 for h in hosts if h["status"] in FINAL_HOST_STATUSES)
    for label, value in (
            ("task", str(task["id"])), ("initiator", task["initiator"]), ("service", task.get("service") or "-"),
            ("cluster", task.get("cluster") or "-"), ("version", task.get("version") or "-"),
            ("playbook", task["playbook"]), ("started", format_time(task["started_at"])),
            ("ended", format_time(task.get("ended_at"))), ("status", status),
            ("control", "-" if control == "run" and not task.get("control_by") else "%s (by %s at %s%s)" % (
                control, task.get("control_by") or "?", format_time(task.get("control_at")),
                ", %s" % task["control_reason"] if task.get("control_reason") else "")),
            ("hosts", ", ".join("%s %d" % kv for kv in sorted(counts.items())) or "-"),
            ("progress", "%d / %d hosts done" % (done, len(hosts))),
            ("record", "incomplete (the store failed during the run)" if task.get("incomplete") else "complete"),
            ("controller", "%s pid %s" % (task.get("controller") or "?", task.get("pid") or "?"))):
        head.add_row(label, value)
    if task.get("awx_job_id") is not None:
        head.add_row("awx job", "%s (job template %s)" % (task["awx_job_id"], task.get("awx_job_template") or "?"))
    for took in takeovers:
        # The deploy lock taken over from a dead holder (several controllers sharing a PostgreSQL store).
        head.add_row("lock", lock_takeover_line(took, args.task_id))
    if task.get("message"):
        # The run's own failure, on the controller (a refused request, a lock held): no host is to blame.
        head.add_row("error", Text(task["message"], style="red"))
    console.print(head)
    table = Table(title="hosts (%d)" % len(hosts), title_justify="left")
    for col in ("host", "status", "start", "end", "took", "release"):
        table.add_column(col, no_wrap=col in ("host", "status", "start", "end"))
    # Ansible's recap of each host, as its PLAY RECAP prints it ("-": the run ended before Ansible's stats).
    for col in RECAP_FIELDS:
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("message")
    for h in hosts:
        recap = [Text("-" if h.get(f) is None else str(h[f]), style=_RECAP_STYLE.get(f, "") if h.get(f) else "dim")
                 for f in RECAP_FIELDS]
        table.add_row(h["host"], _styled(h["status"]), format_time(h.get("started_at")), format_time(h.get("ended_at")),
                      _duration(h.get("started_at"), h.get("ended_at")), h.get("release") or "-", *recap,
                      mask_urls(h.get("message") or ""))
    console.print(table)
    if args.cluster_yml and task.get("cluster_yml"):
        console.print(Text("cluster.yml (%s)" % (task.get("cluster_file") or "?"), style="bold"))
        console.print(Text(task["cluster_yml"]))
    return 0


def lock_takeover_line(took: t.Mapping[str, t.Any], task_id: int) -> str:
    """One takeover of a deploy lock as ``noops tasks show`` prints it, from the side of task ``task_id``."""
    def run(controller: t.Any, pid: t.Any, task: t.Any, user: t.Any) -> str:
        return "controller %s pid %s (task %s, user %s)" % (controller, pid, "-" if task is None else task, user or "?")

    taker = run(took["controller"], took["pid"], took["task_id"], took["user_name"])
    loser = run(took["from_controller"], took["from_pid"], took["from_task_id"], took["from_user"])
    if took.get("task_id") == task_id:
        return "took the deploy lock of %s over from %s at %s: %s" % (took["name"], loser, format_time(took["at"]),
                                                                     took["reason"])
    return "its deploy lock of %s was taken over by %s at %s: %s" % (took["name"], taker, format_time(took["at"]),
                                                                    took["reason"])


def run_log(args: argparse.Namespace) -> int:
    with open_history(args) as store:
        _task_or_fail(store, args.task_id)
        rows = store.task_log(args.task_id, args.host)
    if args.json:
        return _json(rows)
    if not rows:
        raise CliError("task %d has no log%s" % (args.task_id, " for host %s" % args.host if args.host else ""), 1)
    table = Table(title="log of task %d%s" % (args.task_id, " on %s" % args.host if args.host else ""),
                  title_justify="left", show_lines=False)
    for col in ("time", "host", "task", "status", "message / output"):
        table.add_column(col, overflow="fold")
    for row in rows:
        text = row.get("message") or ""
        if row.get("output"):
            text = (text + "\n" if text else "") + row["output"]
        table.add_row(format_time(row["at"])[11:], row.get("host") or "(controller)",
                      mask_urls(row.get("task_name") or ""), _styled(row["status"]), mask_urls(text))
    _console().print(table)
    return 0


def run_control(args: argparse.Namespace) -> int:
    by = os.environ.get("NOOPS_USER") or getpass.getuser()
    with open_history(args) as store:
        try:
            task = store.request_control(args.task_id, args.action, by=by, reason=args.reason)
        except KeyError:
            raise CliError("no task %d in %s" % (args.task_id, store.name)) from None
        except ControlError as e:
            raise CliError(str(e), 1) from e
        except StoreError as e:
            raise CliError(str(e)) from e
    what = {"pause": "will pause before its next batch", "resume": "resumes",
            "cancel": "will be cancelled before its next batch"}[args.action]
    print("task %d %s (status %s, control %s, by %s)" % (args.task_id, what, task.get("status"),
                                                         task.get("control"), by))
    return 0


def run_prune(args: argparse.Namespace) -> int:
    if args.older_than < 0:
        raise CliError("--older-than must be >= 0 days, got %s" % args.older_than)
    with open_history(args) as store:
        try:
            count = store.prune(args.older_than * 86400)
        except StoreError as e:
            raise CliError(str(e)) from e
    print("pruned %d task(s) older than %g day(s)" % (count, args.older_than))
    return 0
