"""The deploy history as the console shows it, read and changed through the history store's own code.

Every function takes an open ``HistoryStore`` and returns plain JSON-ready dicts, with secrets masked by the
project's one secret rule (``module_utils/redact.py``, ``plugin_utils/history/mask.py``). Pages and the API both call these.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import time
import typing as t

from django.conf import settings

from ansible_collections.noops.platform.plugins.plugin_utils.history.control import (
    FINAL_HOST_STATUSES, HOST_STATUSES, TASK_STATUSES, ControlError,
)
from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text
from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    HistoryStore, StoreError, host_counts, parse_dsn, query_tasks, task_services,
)

CONTROL_ACTIONS = ("pause", "resume", "cancel")
RETRY_HOST_STATUSES = ("failed", "unreachable")  # the hosts a retry deploys again
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000
MAX_REASON = 500  # characters
MAX_ID = 2 ** 63 - 1  # the largest id the stores hold (SQLite INTEGER, PostgreSQL BIGINT)
_NUMBER = re.compile(r"^[0-9]+$")
_SERVICE_PART = re.compile(r"[A-Za-z0-9*?\[]")
__all__ = ["ControlError", "StoreError", "QueryError", "open_store", "list_tasks", "task_detail", "control_task"]


class QueryError(ValueError):
    """Bad filter or paging values; ``errors`` lists each as "field: value: why"."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def history_dsn() -> str:
    """The history store DSN: the console's setting, else resolved as ``noops tasks`` resolves it."""
    from noops_cli.runner import history_dsn as resolve

    return resolve(settings.NOOPS_HISTORY_DSN)


def missing_store() -> str | None:
    """The path of the SQLite history store when that file does not exist (None when it exists, or for
    PostgreSQL)."""
    engine, target = parse_dsn(history_dsn())
    return target if engine == "sqlite" and not os.path.exists(target) else None


def open_store(create: bool = False) -> HistoryStore:
    """Open (and migrate) the history store. A SQLite store that does not exist is not created (a deleted or
    misnamed store must not turn into an empty one) unless ``create``. Raises StoreError ("history store PATH
    does not exist")."""
    dsn = history_dsn()
    if not create:
        missing = missing_store()
        if missing:
            raise StoreError("history store %s does not exist" % missing)
    return HistoryStore(dsn)


def check_reason(reason: str | None) -> str | None:
    """A control request's reason, stripped; None when empty. Raises QueryError when longer than MAX_REASON."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise QueryError(["reason: %d characters: at most %d" % (len(reason), MAX_REASON)])
    return reason or None


def iso(epoch: float | None) -> str | None:
    """An epoch time (seconds) as ISO 8601 in UTC ("2026-11-30T05:11:19Z"), None stays None."""
    if epoch is None:
        return None
    when = datetime.datetime.fromtimestamp(float(epoch), tz=datetime.timezone.utc)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def progress(counts: t.Mapping[str, int]) -> dict[str, int]:
    """{"done": hosts in a final status, "total": hosts of the task} from per-status counts."""
    return {"done": sum(n for s, n in counts.items() if s in FINAL_HOST_STATUSES), "total": sum(counts.values())}


def _summary(task: t.Mapping[str, t.Any], counts: t.Mapping[str, int]) -> dict[str, t.Any]:
    return {
        "id": int(task["id"]),
        "initiator": task.get("initiator"),
        "service": task.get("service"),
        "cluster": task.get("cluster"),
        "version": task.get("version"),
        "playbook": task.get("playbook"),
        "status": task.get("status"),
        "control": task.get("control") or "run",
        "started": iso(task.get("started_at")),
        "ended": iso(task.get("ended_at")),
        "progress": progress(counts),
    }


def parse_query(params: t.Mapping[str, str], user: str | None = None) -> dict[str, t.Any]:
    """Filters and paging from query parameters (status, service, initiator, mine, page, per_page).

    ``page`` is 1 to MAX_PAGE (a page past the last is empty), ``per_page`` 1 to MAX_PER_PAGE; ``service`` is
    refused when one of its comma-separated parts is empty or holds no name character (``,,,``, ``!``).

    ``mine`` (0 or 1) at 1 selects the tasks whose initiator is ``user``. Raises QueryError.
    """
    errors = []
    status = (params.get("status") or "").strip() or None
    if status is not None and status not in TASK_STATUSES:
        errors.append("status: %s: one of %s" % (status, ", ".join(TASK_STATUSES)))
    service = (params.get("service") or "").strip() or None
    if service is not None and not all(_SERVICE_PART.search(part.strip().lstrip("!&"))
                                       for part in service.split(",")):
        errors.append("service: %s: an empty or invalid query" % service)
    initiator = (params.get("initiator") or "").strip() or None
    mine = (params.get("mine") or "").strip()
    if mine not in ("", "0", "1"):
        errors.append("mine: %s: 0 or 1" % mine)
    elif mine == "1" and user:
        initiator = user
    numbers = {}
    for name, default, top in (("page", 1, MAX_PAGE), ("per_page", settings.NOOPS_TASKS_PER_PAGE, MAX_PER_PAGE)):
        raw = (params.get(name) or "").strip()
        value = int(raw) if _NUMBER.match(raw) and len(raw) < 12 else (default if not raw else 0)
        if not 1 <= value <= top:
            errors.append("%s: %s: a whole number from 1 to %d" % (name, raw, top))
            value = default
        numbers[name] = value
    if errors:
        raise QueryError(errors)
    return {"status": status, "service": service, "initiator": initiator,
            "page": numbers["page"], "per_page": numbers["per_page"]}


def list_tasks(store: HistoryStore, status: str | None = None, service: str | None = None,
               initiator: str | None = None, page: int = 1, per_page: int = 25) -> dict[str, t.Any]:
    """One page of tasks, newest first: {"tasks": [...], "page", "per_page", "pages", "total"}.

    ``service`` is a tag query over the tasks' services (or a glob for services that are not tags), as
    ``noops tasks list --service``. Raises StoreError.
    """
    offset = (page - 1) * per_page
    services = None
    if service:
        from noops_cli.tasks import select_by_service

        # The query is matched against the distinct services (as noops tasks list --service matches a task's),
        # then one page of their tasks is read: never every task.
        known = task_services(store, status=status, initiator=initiator)
        services = [s["service"] for s in select_by_service([{"id": i, "service": s} for i, s in enumerate(known)],
                                                            service)]
    rows, total = query_tasks(store, status=status, initiator=initiator, limit=per_page, offset=offset,
                              services=services)
    counts = host_counts(store, [r["id"] for r in rows])
    masker = Masker()
    return {
        "tasks": [masker.mask(_summary(r, counts.get(int(r["id"]), {}))) for r in rows],
        "page": page, "per_page": per_page, "total": total, "pages": max(1, math.ceil(total / per_page)),
    }


def task_detail(store: HistoryStore, task_id: int) -> dict[str, t.Any] | None:
    """The task's summary with its control, cluster.yml (masked), ``error`` and ``hosts``; None when there is no
    such task.

    ``error`` is the run's own failure on the controller, which no host is to blame for (a refused request, the
    deploy lock held by another run): the task's message as ``noops tasks show`` prints it, else its failed results
    that name no host (one a line); None when there is neither.

    Raises StoreError.
    """
    task = store.get_task(task_id)
    if task is None:
        return None
    hosts = store.task_hosts(task_id)
    masker = Masker()
    cluster_yml = task.get("cluster_yml")
    if cluster_yml:  # first, so the secrets it holds are scrubbed from the messages below as well
        cluster_yml = mask_document_text(cluster_yml, masker)
    counts: dict[str, int] = {}
    for h in hosts:
        counts[h["status"]] = counts.get(h["status"], 0) + 1
    out = _summary(task, counts)
    out.update({
        "control_by": task.get("control_by"),
        "control_at": iso(task.get("control_at")),
        "control_reason": task.get("control_reason"),
        "incomplete": bool(task.get("incomplete")),
        "cluster_file": task.get("cluster_file"),
        "error": task.get("message") or "\n".join(store.controller_failures(task_id)) or None,
        "hosts": [host_row(h) for h in hosts],
    })
    out.update(live_facts(task, hosts))
    out["seq"] = int(task.get("seq") or 0)  # the store's change number of the task's last change
    out["retries"] = [int(r["id"]) for r in store.retries_of(task_id)]
    out["retry_refused"] = retry_refusal(store, task) if out["failed_hosts"] else None
    from noops_console.tasklogs import log_kinds

    out["logs"] = log_kinds(store, task)
    out = masker.mask(out)
    out["cluster_yml"] = cluster_yml
    return out


def host_row(h: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A host of a task as pages and the API show it (not masked: the caller masks)."""
    return {"host": h["host"], "status": h["status"], "version": h.get("release"), "started": iso(h.get("started_at")),
            "ended": iso(h.get("ended_at")), "message": h.get("message")}


def live_facts(task: t.Mapping[str, t.Any], hosts: t.Sequence[t.Mapping[str, t.Any]],
               now: float | None = None) -> dict[str, t.Any]:
    """What a task page shows beside the task's status: ``progress`` with ``percent`` (hosts done of the hosts the
    run selected — every batch's hosts are recorded, pending, when the rollout starts — rounded down, so 100 only
    when all are done), ``host_counts`` (hosts per host status, in HOST_STATUSES order), ``working`` (the hosts
    being deployed now, each with ``since`` and ``seconds`` so far; empty once the task ended), ``failed_hosts``
    (failed or unreachable: what a retry deploys again), the AWX job (``awx_job_id``, ``awx_job_template``; None
    when not run under AWX) and ``retry_of`` (the task this one retries, or None)."""
    now = time.time() if now is None else now
    counts: dict[str, int] = {}
    for h in hosts:
        counts[h["status"]] = counts.get(h["status"], 0) + 1
    done = progress(counts)
    done["percent"] = (100 * done["done"] // done["total"]) if done["total"] else 0
    active = task.get("status") in ("running", "paused")
    working = [{"host": h["host"], "since": iso(h.get("started_at")),
                "seconds": max(0, int(now - float(h["started_at"]))) if h.get("started_at") else None}
               for h in hosts if active and h["status"] == "deploying"]
    return {
        "progress": done,
        "host_counts": [{"status": s, "count": counts[s]} for s in HOST_STATUSES if counts.get(s)],
        "working": working,
        "failed_hosts": [h["host"] for h in hosts if h["status"] in RETRY_HOST_STATUSES],
        "awx_job_id": task.get("awx_job_id"),
        "awx_job_template": task.get("awx_job_template"),
        "retry_of": task.get("retry_of"),
    }


def control_task(store: HistoryStore, task_id: int, action: str, by: str,
                 reason: str | None = None) -> dict[str, t.Any]:
    """Ask a running task to pause, resume or cancel, as ``noops tasks pause|resume|cancel`` does (the rollout
    obeys between batches); returns the task as ``task_detail`` shows it.

    Raises KeyError (no such task), ControlError (the request does not fit the task's state), StoreError.
    """
    if action not in CONTROL_ACTIONS:
        raise ControlError("unknown action %r (one of %s)" % (action, ", ".join(CONTROL_ACTIONS)))
    store.request_control(task_id, action, by=by, reason=reason)
    return task_detail(store, task_id) or {}


def retry_refusal(store: HistoryStore, task: t.Mapping[str, t.Any]) -> str | None:
    """Why a retry of the ended deploy ``task`` would be wrong now, or None: it was retried already (retry that
    task instead), or its service was deployed (or rolled back) since — the retry would put the older release
    back. Raises StoreError."""
    task_id = int(task["id"])
    retries = store.retries_of(task_id)
    if retries:
        last = retries[-1]
        return "task %d was retried already by task %d (%s): retry that task's failed hosts instead" % (
            task_id, int(last["id"]), last["status"])
    if task.get("service"):
        newer = [t_ for t_ in query_tasks(store, services=[str(task["service"])], limit=20)[0]
                 if int(t_["id"]) > task_id and t_.get("playbook") in ("deploy.yml", "rollback.yml")
                 and t_.get("cluster") == task.get("cluster")]
        if newer:
            return "its service was deployed since (task %d, %s): a retry would deploy task %d's older cluster.yml " \
                   "again; deploy anew instead" % (int(newer[0]["id"]), newer[0]["status"], task_id)
    return None


def retry_plan(store: HistoryStore, task_id: int) -> dict[str, t.Any]:
    """What a retry of a deploy task launches: ``{"cluster_file", "cluster_yml" (the file's text, secrets
    included), "hosts" (the failed and unreachable hosts: the ``--limit``), "sources" (the inventory sources the
    console launched it with; empty: the one ansible.cfg names)}``.

    Raises KeyError (no such task), ControlError (still running or paused, not a deploy, no failed host, the
    cluster.yml it deployed cannot be read), StoreError.
    """
    task = store.get_task(task_id)
    if task is None:
        raise KeyError(task_id)
    if task["status"] in ("running", "paused"):
        raise ControlError("task %d is %s: retry its failed hosts once it ended" % (task_id, task["status"]))
    if task.get("playbook") != "deploy.yml":
        raise ControlError("task %d ran %s: only a deploy's failed hosts are retried" % (task_id, task.get("playbook")))
    hosts = [h["host"] for h in store.task_hosts(task_id) if h["status"] in RETRY_HOST_STATUSES]
    if not hosts:
        raise ControlError("task %d has no failed or unreachable host: nothing to retry" % task_id)
    refused = retry_refusal(store, task)
    if refused:
        raise ControlError(refused)
    path = task.get("cluster_file") or ""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ControlError("cluster_file: %s: cannot be read (%s): a retry deploys that cluster.yml again"
                           % (path or "-", e.strerror or e)) from None
    sources: list[str] = []
    if path.endswith(".yml") and os.path.isfile(path[:-len(".yml")] + ".inventory"):
        with open(path[:-len(".yml")] + ".inventory", encoding="utf-8") as f:
            sources = [line.strip() for line in f if line.strip()]
    return {"cluster_file": path, "cluster_yml": text, "hosts": hosts, "sources": sources}
