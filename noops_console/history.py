"""The deploy history as the console shows it, read and changed through the history store's own code.

Every function takes an open ``HistoryStore`` and returns plain JSON-ready dicts, with secrets masked by the
project's one secret rule (``history_mask``). Pages and the API both call these.
"""

from __future__ import annotations

import datetime
import math
import typing as t

from django.conf import settings

from ansible_collections.noops.platform.plugins.module_utils.history_control import (
    FINAL_HOST_STATUSES, TASK_STATUSES, ControlError,
)
from ansible_collections.noops.platform.plugins.module_utils.history_mask import Masker, mask_document_text
from ansible_collections.noops.platform.plugins.module_utils.history_store import (
    HistoryStore, StoreError, host_counts, query_tasks, resolve_dsn,
)

CONTROL_ACTIONS = ("pause", "resume", "cancel")
MAX_PER_PAGE = 200
__all__ = ["ControlError", "StoreError", "QueryError", "open_store", "list_tasks", "task_detail", "control_task"]


class QueryError(ValueError):
    """Bad filter or paging values; ``errors`` lists each as "field: value: why"."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def history_dsn() -> str:
    """The history store DSN: the console's setting, else resolved as ``noops tasks`` resolves it."""
    from noops_cli.tasks import config_dsn

    return resolve_dsn(settings.NOOPS_HISTORY_DSN, config_dsn())


def open_store() -> HistoryStore:
    """Open (and migrate) the history store. Raises StoreError."""
    return HistoryStore(history_dsn())


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

    ``mine`` (any non-empty value but 0) selects the tasks whose initiator is ``user``. Raises QueryError.
    """
    errors = []
    status = (params.get("status") or "").strip() or None
    if status is not None and status not in TASK_STATUSES:
        errors.append("status: %s: one of %s" % (status, ", ".join(TASK_STATUSES)))
    initiator = (params.get("initiator") or "").strip() or None
    if (params.get("mine") or "0") not in ("", "0") and user:
        initiator = user
    numbers = {}
    for name, default, top in (("page", 1, None), ("per_page", settings.NOOPS_TASKS_PER_PAGE, MAX_PER_PAGE)):
        raw = (params.get(name) or "").strip()
        try:
            value = int(raw) if raw else default
            if value < 1 or (top and value > top):
                raise ValueError
        except ValueError:
            errors.append("%s: %s: a whole number from 1%s" % (name, raw, " to %d" % top if top else ""))
            value = default
        numbers[name] = value
    if errors:
        raise QueryError(errors)
    return {"status": status, "service": (params.get("service") or "").strip() or None, "initiator": initiator,
            "page": numbers["page"], "per_page": numbers["per_page"]}


def list_tasks(store: HistoryStore, status: str | None = None, service: str | None = None,
               initiator: str | None = None, page: int = 1, per_page: int = 25) -> dict[str, t.Any]:
    """One page of tasks, newest first: {"tasks": [...], "page", "per_page", "pages", "total"}.

    ``service`` is a tag query over the tasks' services (or a glob for services that are not tags), as
    ``noops tasks list --service``. Raises StoreError.
    """
    offset = (page - 1) * per_page
    if service:
        from noops_cli.tasks import select_by_service

        rows, dummy = query_tasks(store, status=status, initiator=initiator)
        rows = select_by_service(rows, service)
        total = len(rows)
        rows = rows[offset:offset + per_page]
    else:
        rows, total = query_tasks(store, status=status, initiator=initiator, limit=per_page, offset=offset)
    counts = host_counts(store, [r["id"] for r in rows])
    masker = Masker()
    return {
        "tasks": [masker.mask(_summary(r, counts.get(int(r["id"]), {}))) for r in rows],
        "page": page, "per_page": per_page, "total": total, "pages": max(1, math.ceil(total / per_page)),
    }


def task_detail(store: HistoryStore, task_id: int) -> dict[str, t.Any] | None:
    """The task's summary with its control, cluster.yml (masked) and ``hosts``; None when there is no such task.

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
