"""A task page's live parts: its event streams (pages and API), its logs and the retry of its failed hosts. Thin:
the work is in ``history``, ``tasklogs``, ``events`` and ``deploy_form``."""

from __future__ import annotations

import json
import threading
import typing as t

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string

from noops_console import accounts, deploy_form, events, history, tasklogs
from noops_console.auth import api_error, api_view, methods, page_view

ACTIVE = ("running", "paused")


# --- event streams ------------------------------------------------------------------------------------------


class _TaskFollower:
    """Polls one task's changes from one store connection (a stream's worker thread, one poll at a time)."""

    def __init__(self, task_id: int, render_event: t.Callable[[t.Any, dict[str, t.Any]], events.Event]) -> None:
        self.task_id = task_id
        self.render_event = render_event
        self.store = history.open_store()

    def __call__(self, since: int) -> tuple[list[events.Event], bool]:
        try:
            changes = self.store.task_changes(self.task_id, since)
        except history.StoreError as e:
            return [events.Event(since, "error", str(e))], True
        if changes is None:
            return [events.Event(since, "error", "no task %d" % self.task_id)], True
        out = [self.render_event(self.store, changes)] if changes["seq"] > since else []
        return out, changes["status"] not in ACTIVE

    def close(self) -> None:
        self.store.close()


def _follow(task_id: int, since: int, render_event: t.Callable[[t.Any, dict[str, t.Any]], events.Event],
            ) -> HttpResponse:
    try:
        follower = _TaskFollower(task_id, render_event)
    except history.StoreError as e:
        return HttpResponse(str(e), status=503, content_type="text/plain; charset=utf-8")
    first = follower(since)
    if not first[0] and first[1]:
        # An ended task and nothing after the client's last event: 204 tells EventSource not to reconnect.
        follower.close()
        return HttpResponse(status=204)
    return events.stream(follower, since, first=first, close=follower.close)


@methods("GET")
@page_view("view_tasks")
def task_events(request: HttpRequest, task_id: int) -> HttpResponse:
    """``GET /tasks/ID/events``: the task page's body, rendered again at each change of the task (event ``task``,
    ``id:`` the store's change number); ``end`` once the task ended and all was sent."""
    def render_event(store: t.Any, changes: dict[str, t.Any]) -> events.Event:
        html = render_to_string("console/_task_body.html", _task_context(store, request, task_id), request=request)
        return events.Event(changes["seq"], "task", html)

    return _follow(task_id, events.last_event_id(request), render_event)


@methods("GET")
@api_view("view_tasks")
def task_events_api(request: HttpRequest, task_id: int) -> HttpResponse:
    """``GET /api/v1/tasks/ID/events``: what changed after ``Last-Event-ID`` (or ``?last_event_id=``), as events
    ``change`` with JSON ``{"seq", "task": the task's summary and live facts, "hosts": the hosts that changed}``;
    ``end`` once the task ended and all was sent."""
    from ansible_collections.noops.platform.plugins.module_utils.redact import Masker

    def render_event(store: t.Any, changes: dict[str, t.Any]) -> events.Event:
        task = store.get_task(task_id) or {}
        hosts = store.task_hosts(task_id)
        summary = dict(history._summary(task, {}), **history.live_facts(task, hosts))
        body = {"seq": changes["seq"], "task": summary, "hosts": [history.host_row(h) for h in changes["hosts"]]}
        return events.Event(changes["seq"], "change", json.dumps(Masker().mask(body)))

    return _follow(task_id, events.last_event_id(request), render_event)


@methods("GET")
@page_view("view_tasks")
def task_list_events(request: HttpRequest) -> HttpResponse:
    """``GET /tasks/events``: an event ``changed`` (its data the ids of the changed tasks) whenever a task is
    created or changes; the task list then fetches its table again. It never ends by itself (its lifetime does)."""
    try:
        store = history.open_store()
        since = events.last_event_id(request) or store.change_seq()
    except history.StoreError as e:
        return HttpResponse(str(e), status=503, content_type="text/plain; charset=utf-8")

    def poll(since: int) -> tuple[list[events.Event], bool]:
        try:
            rows = store.tasks_changed(since)
        except history.StoreError as e:
            return [events.Event(since, "error", str(e))], True
        if not rows:
            return [], False
        return [events.Event(max(int(r["seq"]) for r in rows), "changed",
                             " ".join(str(r["id"]) for r in rows))], False

    return events.stream(poll, since, close=store.close)


# --- the task page's context ----------------------------------------------------------------------------------


def _task_context(store: t.Any, request: HttpRequest, task_id: int, errors: list[str] | None = None,
                  ) -> dict[str, t.Any]:
    from noops_console.models import AuditEntry

    task = history.task_detail(store, task_id)
    if task is None:
        raise Http404("no task %d" % task_id)
    audit = AuditEntry.objects.filter(target="task:%d" % task_id)[:20]
    return {"task": task, "active": task["status"] in ACTIVE, "errors": errors or [], "audit": list(audit)}


# --- logs ---------------------------------------------------------------------------------------------------


def _log_response(request: HttpRequest, task_id: int, api: bool) -> HttpResponse:
    kind = (request.GET.get("kind") or ("host" if request.GET.get("host") else "deploy")).strip()
    host = (request.GET.get("host") or "").strip() or None
    try:
        with history.open_store() as store:
            name, text = tasklogs.task_log(store, task_id, kind, host)
    except tasklogs.LogError as e:
        if api:
            return api_error(e.status, str(e))
        if e.status == 404:
            raise Http404(str(e)) from None
        return render(request, "console/error.html", {"title": "Bad request", "message": str(e)}, status=400)
    except history.StoreError as e:
        if api:
            return api_error(503, str(e))
        return render(request, "console/error.html", {"title": "History store", "message": str(e)}, status=503)
    if api or request.GET.get("download"):
        response = HttpResponse(text, content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = '%s; filename="%s"' % ("attachment" if request.GET.get("download")
                                                                  or api else "inline", name)
    else:
        response = render(request, "console/task_log.html", {
            "task_id": task_id, "kind": kind, "host": host, "text": text, "name": name,
            "query": request.GET.urlencode()})
    response["Cache-Control"] = "no-store"
    return response


@methods("GET")
@page_view("view_tasks")
def task_log(request: HttpRequest, task_id: int) -> HttpResponse:
    """``GET /tasks/ID/log?kind=deploy|build|build-error|host&host=NAME[&download=1]``: a log of the task as a page,
    or as a file to download."""
    return _log_response(request, task_id, api=False)


@methods("GET")
@api_view("view_tasks")
def task_log_api(request: HttpRequest, task_id: int) -> HttpResponse:
    """``GET /api/v1/tasks/ID/log?kind=…&host=…``: the log as ``text/plain`` (an attachment)."""
    return _log_response(request, task_id, api=True)


# --- retry ----------------------------------------------------------------------------------------------------


def retry(request: HttpRequest, task_id: int) -> tuple[int, list[str]]:
    """Launch a deploy of the task's cluster.yml limited to its failed and unreachable hosts, as the request's
    user, linked to the task (``retry_of``) and audited (``task.retry``); returns the new task's id and the hosts.

    Raises KeyError, history.ControlError (refused: 409), deploy_form.LaunchError, history.StoreError.
    One retry at a time in this console (the console is one process): a second request for the same task finds
    the first one's task and is refused."""
    with _RETRY_LOCK:
        return _retry(request, task_id)


_RETRY_LOCK = threading.Lock()


def _retry(request: HttpRequest, task_id: int) -> tuple[int, list[str]]:
    with history.open_store() as store:
        plan = history.retry_plan(store, task_id)
    checked = deploy_form.check_text(plan["cluster_yml"], plan["sources"])
    if checked["problems"]:
        raise history.ControlError("the cluster.yml of task %d does not pass the check now: %s"
                                   % (task_id, "; ".join(checked["problems"])))
    from noops_console.views_deploy import _may_not_build

    refused = _may_not_build(request, checked)
    if refused:
        raise PermissionError(refused)
    new_id = deploy_form.launch(plan["cluster_yml"], plan["sources"], request.user.get_username(),
                                history.history_dsn(), tasklogs.deploys_folder(), limit=",".join(plan["hosts"]))
    with history.open_store() as store:
        store.update_task(new_id, retry_of=task_id)
    accounts.audit(request.user, "task.retry", "task:%d" % task_id, "task %d deploys again on %s"
                   % (new_id, ", ".join(plan["hosts"])), accounts.client_address(request))
    return new_id, plan["hosts"]


@methods("POST")
@page_view("launch_tasks")
def task_retry(request: HttpRequest, task_id: int) -> HttpResponse:
    """``POST /tasks/ID/retry``: retry the failed hosts and open the new task's page (the task page with the reason
    when refused)."""
    from noops_console.views import _render_task

    try:
        new_id, dummy = retry(request, task_id)
    except KeyError:
        raise Http404("no task %d" % task_id) from None
    except PermissionError as e:
        return _render_task(request, task_id, status=403, errors=[str(e)])
    except history.ControlError as e:
        return _render_task(request, task_id, status=409, errors=[str(e)])
    except (deploy_form.LaunchError, history.StoreError) as e:
        return _render_task(request, task_id, status=503, errors=[str(e)])
    if request.htmx:
        from django_htmx.http import HttpResponseClientRedirect
        return HttpResponseClientRedirect("/tasks/%d" % new_id)
    return redirect("/tasks/%d" % new_id)


@methods("POST")
@api_view("launch_tasks")
def task_retry_api(request: HttpRequest, task_id: int) -> HttpResponse:
    """``POST /api/v1/tasks/ID/retry``: 201 ``{"task": NEW_ID, "retry_of": ID, "hosts": [...]}``; 404 no task, 409
    still running or paused / not a deploy / no failed host / its cluster.yml unreadable, 403 a build from code
    without the admin role."""
    try:
        new_id, hosts = retry(request, task_id)
    except KeyError:
        return api_error(404, "no task %d" % task_id)
    except PermissionError as e:
        return api_error(403, str(e))
    except history.ControlError as e:
        return api_error(409, str(e))
    except (deploy_form.LaunchError, history.StoreError) as e:
        return api_error(503, str(e))
    return JsonResponse({"task": new_id, "retry_of": task_id, "hosts": hosts}, status=201)
