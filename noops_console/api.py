"""The JSON API under /api/v1 (token or session). Thin: the work is in ``history`` and ``accounts``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from noops_console import accounts, history
from noops_console.auth import api_error, api_view, methods


@methods("GET")
@api_view("view_tasks")
def tasks(request: HttpRequest) -> HttpResponse:
    """``GET /api/v1/tasks?status=&service=&initiator=&mine=&page=&per_page=``."""
    try:
        query = history.parse_query(request.GET, request.user.get_username())
        with history.open_store() as store:
            return JsonResponse(history.list_tasks(store, **query))
    except history.QueryError as e:
        return api_error(400, *e.errors)
    except history.StoreError as e:
        return api_error(503, str(e))


@methods("GET")
@api_view("view_tasks")
def task(request: HttpRequest, task_id: int) -> HttpResponse:
    """``GET /api/v1/tasks/ID``: the task with its ``hosts``."""
    try:
        with history.open_store() as store:
            detail = history.task_detail(store, task_id)
    except history.StoreError as e:
        return api_error(503, str(e))
    if detail is None:
        return api_error(404, "no task %d" % task_id)
    return JsonResponse(detail)


@methods("POST")
@api_view("control_tasks")
def task_control(request: HttpRequest, task_id: int, action: str) -> HttpResponse:
    """``POST /api/v1/tasks/ID/pause|resume|cancel`` (optional ``reason``: a JSON body ``{"reason": "..."}`` or a
    form field)."""
    import json

    if action not in history.CONTROL_ACTIONS:
        return api_error(404, "no action %r (one of %s)" % (action, ", ".join(history.CONTROL_ACTIONS)))
    reason = request.POST.get("reason") if request.content_type != "application/json" else None
    if request.content_type == "application/json" and request.body:
        try:
            body = json.loads(request.body)
            reason = body.get("reason") if isinstance(body, dict) else None
        except ValueError:
            return api_error(400, "body: not JSON")
        if reason is not None and not isinstance(reason, str):
            return api_error(400, "reason: %r: a string" % (reason,))
    try:
        reason = history.check_reason(reason)
    except history.QueryError as e:
        return api_error(400, *e.errors)
    try:
        with history.open_store() as store:
            detail = history.control_task(store, task_id, action, by=request.user.get_username(), reason=reason)
    except KeyError:
        return api_error(404, "no task %d" % task_id)
    except history.ControlError as e:
        return api_error(409, str(e))
    except history.StoreError as e:
        return api_error(503, str(e))
    accounts.audit(request.user, "task.%s" % action, "task:%d" % task_id, reason or "",
                   accounts.client_address(request))
    return JsonResponse(detail)
