"""The deploy history as the console shows it, read and changed through the history store's own code.

Every function takes an open ``HistoryStore`` and returns plain JSON-ready dicts, with secrets masked by the
project's one secret rule (``module_utils/redact.py``, ``plugin_utils/history/mask.py``). Pages and the API both call these.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import typing as t

from django.conf import settings

from ansible_collections.noops.platform.plugins.plugin_utils.history.control import (
    FINAL_HOST_STATUSES, TASK_STATUSES, ControlError,
)
from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text
from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import (
    HistoryStore, StoreError, host_counts, parse_dsn, query_tasks, task_services,
)

CONTROL_ACTIONS = ("pause", "resume", "cancel")
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
        "hosts": [{"host": h["host"], "status": h["status"], "version": h.get("release"),
                   "started": iso(h.get("started_at")), "ended": iso(h.get("ended_at")),
                   "message": h.get("message")} for h in hosts],
    })
    out = masker.mask(out)
    out["cluster_yml"] = cluster_yml
    return out


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
