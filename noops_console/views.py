"""Pages: login/logout, the task list and a task page. Thin: the work is in ``history`` and ``accounts``."""

from __future__ import annotations

import mimetypes
import os
import typing as t

from django.conf import settings
from django.contrib import auth
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from noops_console import accounts, history, roles, throttle
from noops_console.auth import api_error, methods, page_view
from noops_console.models import AuditEntry

ACTIVE = ("running", "paused")


def console_context(request: HttpRequest) -> dict[str, t.Any]:
    user = getattr(request, "user", None)
    return {"role": roles.role_of(user) if user is not None else None,
            "can_control": roles.can(user, "control_tasks") if user is not None else False,
            "can_launch": roles.can(user, "launch_tasks") if user is not None else False}


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A state change without a valid CSRF token: refused, as JSON for the API and as a page otherwise."""
    message = "CSRF check failed (%s): reload the page and try again" % reason
    if request.path.startswith("/api/"):
        if not request.user.is_authenticated:
            return api_error(401, "log in or send Authorization: Bearer TOKEN")
        return JsonResponse({"errors": [message]}, status=403)
    return render(request, "console/error.html", {"title": "Refused", "message": message}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: JSON for the API, a console page otherwise."""
    # Our own Http404s carry a sentence; the URL resolver's carry its patterns, which are not shown.
    arg = exception.args[0] if isinstance(exception, Http404) and exception.args else None
    message = arg if isinstance(arg, str) else "no such page"
    if request.path.startswith("/api/"):
        return api_error(404, "%s: %s" % (request.path, message))
    return render(request, "console/error.html", {"title": "Not found", "message": message}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400 for a request refused before any view (a Host the console does not answer to, a body over the size
    limit): JSON under /api/, a console page otherwise. Uses neither the session nor the user."""
    from django.core.exceptions import DisallowedHost, RequestDataTooBig

    if isinstance(exception, DisallowedHost):
        message = "Host %r: not a name this console answers to (see --allowed-host)" % request.META.get(
            "HTTP_HOST", "")
    elif isinstance(exception, RequestDataTooBig):
        message = "body: larger than %d bytes" % settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    else:
        message = "bad request"
    if request.path.startswith("/api/"):
        return api_error(400, message)
    return render(request, "console/error.html", {"title": "Bad request", "message": message}, status=400)


@methods("GET")
def home(request: HttpRequest) -> HttpResponse:
    return redirect("/tasks")


@methods("GET", "POST")
def login(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or "/tasks"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/tasks"
    context: dict[str, t.Any] = {"next": next_url, "username": ""}
    if request.method in ("GET", "HEAD"):
        if request.user.is_authenticated:
            return HttpResponseRedirect(next_url)
        return render(request, "console/login.html", context)
    username = (request.POST.get("username") or "").strip()
    password = request.POST.get("password") or ""
    address = accounts.client_address(request)
    context["username"] = username
    wait = throttle.blocked_for(username, address)
    if wait:
        accounts.audit(username, "login.refused", "user:%s" % username, "throttled for %d s" % wait, address)
        context["error"] = "Too many failed logins: try again in %d minute(s)." % ((wait + 59) // 60)
        response = render(request, "console/login.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response
    user = auth.authenticate(request, username=username, password=password)
    if user is None:
        throttle.record_failure(username, address)
        accounts.audit(username, "login.failed", "user:%s" % username, "", address)
        context["error"] = "Wrong user name or password."
        return render(request, "console/login.html", context, status=401)
    throttle.record_success(username)
    auth.login(request, user)
    accounts.audit(user, "login", "user:%s" % username, "", address)
    return HttpResponseRedirect(next_url)


@methods("POST")
def logout(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        accounts.audit(request.user, "logout", "user:%s" % request.user.get_username(), "",
                       accounts.client_address(request))
    auth.logout(request)
    return redirect("/login")


@methods("GET")
@page_view("view_tasks")
def task_list(request: HttpRequest) -> HttpResponse:
    context: dict[str, t.Any] = {"params": request.GET, "mine": request.GET.get("mine", "0") not in ("", "0"),
                                 "statuses": history.TASK_STATUSES}
    status = 200
    try:
        query = history.parse_query(request.GET, request.user.get_username())
        with history.open_store() as store:
            context.update(history.list_tasks(store, **query))
    except history.QueryError as e:
        context.update({"errors": e.errors, "tasks": [], "page": 1, "pages": 1, "total": 0})
        status = 400
    except history.StoreError as e:
        context.update({"errors": [str(e)], "tasks": [], "page": 1, "pages": 1, "total": 0})
        status = 503
    context["page_links"] = _page_links(request, context["page"], context["pages"])
    template = "console/_task_table.html" if request.htmx else "console/task_list.html"
    return render(request, template, context, status=status)


def _page_links(request: HttpRequest, page: int, pages: int) -> dict[str, str | None]:
    def link(n: int) -> str:
        params = request.GET.copy()
        params["page"] = str(n)
        return "?" + params.urlencode()
    return {"prev": link(page - 1) if page > 1 else None, "next": link(page + 1) if page < pages else None}


@methods("GET")
@page_view("view_tasks")
def task_page(request: HttpRequest, task_id: int) -> HttpResponse:
    return _render_task(request, task_id)


def _render_task(request: HttpRequest, task_id: int, status: int = 200,
                 errors: list[str] | None = None) -> HttpResponse:
    try:
        with history.open_store() as store:
            task = history.task_detail(store, task_id)
    except history.StoreError as e:
        return render(request, "console/error.html", {"title": "History store", "message": str(e)}, status=503)
    if task is None:
        raise Http404("no task %d" % task_id)
    audit = AuditEntry.objects.filter(target="task:%d" % task_id)[:20]
    context = {"task": task, "active": task["status"] in ACTIVE, "errors": errors or [], "audit": audit}
    template = "console/_task_body.html" if request.htmx else "console/task.html"
    return render(request, template, context, status=status)


@methods("POST")
@page_view("control_tasks")
def task_control(request: HttpRequest, task_id: int, action: str) -> HttpResponse:
    if action not in history.CONTROL_ACTIONS:
        raise Http404(action)
    errors = []
    try:
        reason = history.check_reason(request.POST.get("reason"))
    except history.QueryError as e:
        return _render_task(request, task_id, status=400, errors=e.errors)
    try:
        with history.open_store() as store:
            history.control_task(store, task_id, action, by=request.user.get_username(), reason=reason)
        accounts.audit(request.user, "task.%s" % action, "task:%d" % task_id, reason or "",
                       accounts.client_address(request))
    except KeyError:
        raise Http404("no task %d" % task_id) from None
    except history.ControlError as e:
        errors.append(str(e))
    except history.StoreError as e:
        errors.append(str(e))
    if request.htmx:
        return _render_task(request, task_id, status=200, errors=errors)
    if errors:
        return _render_task(request, task_id, status=409, errors=errors)
    return redirect("/tasks/%d" % task_id)


@methods("GET")
def static(request: HttpRequest, path: str) -> HttpResponse:
    """The console's own static files (its CSS, the htmx django-htmx ships): the console needs no web server in
    front and no CDN. Only files the installed apps ship are served."""
    found = finders.find(path) if path and ".." not in path.split("/") else None
    if not found or not os.path.isfile(found):
        raise Http404(path)
    kind, encoding = mimetypes.guess_type(found)
    response = FileResponse(open(found, "rb"), content_type=kind or "application/octet-stream")
    response["Cache-Control"] = "public, max-age=3600"
    return response
