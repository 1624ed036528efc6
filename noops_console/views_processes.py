"""The Instances page (a service cluster's hosts as the history knows them) and a host's process page (Frigga):
its processes read live, start / stop / restart / nuke for operators, a live log tail. Thin: the work is in
``processes`` (control.yml through ``noops_cli.runner``) and ``noops_cli.services``."""

from __future__ import annotations

import asyncio
import time
import typing as t

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import escape

from noops_console import accounts, events, history, processes, roles
from noops_console.auth import api_error, api_view, methods, page_view
from noops_console.models import AuditEntry

# The live log tail: a read of the host every LOG_INTERVAL seconds; a stream ends after STREAM_SECONDS (the page
# reconnects) so that no read goes on for a page closed without a word.
LOG_INTERVAL = 3.0
STREAM_SECONDS = 300
RETRY_MS = 3000


def _tree_or_503(request: HttpRequest) -> t.Any:
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import TreeError

    try:
        return processes.load_tree()
    except TreeError as e:
        raise _Unavailable(str(e)) from e


class _Unavailable(Exception):
    pass


def _machine(host: str, tree: t.Any) -> t.Any:
    try:
        return processes.machine(host, tree)
    except processes.HostNotFound as e:
        raise Http404(str(e)) from None


def _unavailable(request: HttpRequest, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_error(503, message)
    return render(request, "console/error.html", {"title": "Service tree", "message": message}, status=503)


# --- the Instances page --------------------------------------------------------------------------------------------

def instances_of(cluster_file: str | None, node: str | None) -> dict[str, t.Any] | None:
    """The Services table's row of a cluster.yml (``cluster_file``) or of a tree cluster without one (``node``:
    its path joined by ``_``, ``cop.x_owt.y_…``), with ``instances``: per host ``{"host", "status", "version"}`` —
    the last final status and release of the service's deploys and rollbacks on that host, as the history
    recorded them (``None`` for a host none reached). None when no row matches. Raises TreeError, StoreError."""
    from noops_cli.services import table_for
    from ansible_collections.noops.platform.plugins.plugin_utils.history.store import service_history

    with history.open_store() as store:
        table = table_for(None, store=store)
        row = None
        for candidate in table["services"]:
            if cluster_file and candidate["cluster_file"] == cluster_file:
                row = candidate
            elif node and not candidate["cluster_file"] and "_".join(candidate["node"]) == node:
                row = candidate
            if row is not None:
                break
        if row is None:
            return None
        seen = service_history(store, row["jobs"][:1]).get(row["jobs"][0], {}) if row["jobs"] else {}
    known = seen.get("hosts", {})
    row["instances_list"] = [{"host": h, "status": known.get(h, (None, None))[0],
                              "version": known.get(h, (None, None))[1]} for h in row["hosts"]]
    return row


@methods("GET")
@page_view("view_tasks")
def instances_page(request: HttpRequest) -> HttpResponse:
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import TreeError

    cluster_file = (request.GET.get("cluster_file") or "").strip() or None
    node = (request.GET.get("node") or "").strip() or None
    if not cluster_file and not node:
        raise Http404("give cluster_file=FILE or node=PATH (the Services page links here)")
    try:
        row = instances_of(cluster_file, node)
    except (TreeError, history.StoreError) as e:
        return _unavailable(request, str(e))
    if row is None:
        raise Http404("no service cluster %s in the Services table" % (cluster_file or node))
    return render(request, "console/instances.html", {"row": row})


# --- a host's processes ----------------------------------------------------------------------------------------------

def _context(request: HttpRequest, host: str, machine: t.Any, **more: t.Any) -> dict[str, t.Any]:
    audit = AuditEntry.objects.filter(target__startswith="host:%s/" % host)[:10]
    return dict({"host": host, "tags": list(machine.raw_tags), "audit": audit,
                 "can_act": roles.can(request.user, "process_actions"), "actions": processes.ACTIONS}, **more)


@methods("GET")
@page_view("view_tasks")
def host_page(request: HttpRequest, host: str) -> HttpResponse:
    """``/hosts/NAME``: the page at once, its process table read by htmx right after (``?read=1``, or an htmx
    request, reads it before answering)."""
    try:
        tree = _tree_or_503(request)
    except _Unavailable as e:
        return _unavailable(request, str(e))
    machine = _machine(host, tree)
    if request.htmx or request.GET.get("read") == "1":
        reading = processes.run_control(host, "status", tree=tree)
        context = _context(request, host, machine, reading=reading.as_json())
        return render(request, "console/_host_processes.html" if request.htmx else "console/host.html", context)
    return render(request, "console/host.html", _context(request, host, machine, reading=None))


def _result_line(proc: str, action: str, reading: processes.Reading) -> str:
    if reading.error:
        return "%s %s: %s" % (action, proc, reading.error)
    found = [p for p in reading.processes if p["name"] == proc]
    if not found:
        return "%s %s: done (%s)" % (action, proc, ", ".join(reading.actions) or "nothing to do")
    p = found[0]
    return "%s %s: %s%s (%s)" % (action, proc, p["state"], ", pid %s" % p["pid"] if p.get("pid") else "",
                                 ", ".join(reading.actions) or "nothing to do")


def _act(request: HttpRequest, host: str, proc: str, action: str) -> processes.Reading:
    reading = processes.run_control(host, action, name=proc, user=request.user.get_username())
    accounts.audit(request.user, "process.%s" % action, "host:%s/%s" % (host, proc),
                   "host %s process %s: %s" % (host, proc, _result_line(proc, action, reading)),
                   accounts.client_address(request))
    return reading


@methods("POST")
@page_view("process_actions")
def process_action(request: HttpRequest, host: str, proc: str, action: str) -> HttpResponse:
    """``POST /hosts/NAME/processes/PROC/ACTION`` (CSRF): the action's result above the table, which reads the
    host again."""
    if action not in processes.ACTIONS:
        raise Http404("no action %s (one of %s)" % (action, ", ".join(processes.ACTIONS)))
    try:
        machine = _machine(host, _tree_or_503(request))
        processes.check_process(proc)
    except _Unavailable as e:
        return _unavailable(request, str(e))
    except processes.BadRequest as e:
        raise Http404(str(e)) from None
    reading = _act(request, host, proc, action)
    context = _context(request, host, machine, reading=None,
                       result={"ok": reading.error is None, "text": _result_line(proc, action, reading),
                               "at": history.iso(reading.read_at), "seconds": round(reading.seconds, 1)})
    status = 200 if reading.error is None or request.htmx else 502
    # htmx: the result out of band, above the table, which then reads the host again (and the result stays).
    return render(request, "console/_process_action.html" if request.htmx else "console/host.html", context,
                  status=status)


@methods("GET")
@api_view("view_tasks")
def processes_api(request: HttpRequest, host: str) -> HttpResponse:
    """``GET /api/v1/hosts/NAME/processes``: ``{"host", "read_at", "seconds", "processes": [{"name", "pid",
    "state", "start_time", "release", "log"}], "actions", "error"}``, read now; 404 for a host the tree lacks,
    502 when the host did not answer."""
    try:
        _machine(host, _tree_or_503(request))
    except _Unavailable as e:
        return _unavailable(request, str(e))
    reading = processes.run_control(host, "status")
    answer = reading.as_json()
    return JsonResponse(answer, status=502 if reading.error else 200)


@methods("POST")
@api_view("process_actions")
def process_action_api(request: HttpRequest, host: str, proc: str, action: str) -> HttpResponse:
    """``POST /api/v1/hosts/NAME/processes/PROC/start|stop|restart|nuke``: the reading after the action
    (``processes`` holds PROC's new state and pid, ``actions`` what was done); 502 with ``error`` when it
    failed."""
    if action not in processes.ACTIONS:
        return api_error(404, "action: %s: one of %s" % (action, ", ".join(processes.ACTIONS)))
    try:
        _machine(host, _tree_or_503(request))
        processes.check_process(proc)
    except _Unavailable as e:
        return _unavailable(request, str(e))
    except processes.BadRequest as e:
        return api_error(404, str(e))
    reading = _act(request, host, proc, action)
    answer = dict(reading.as_json(), process=proc, action=action)
    return JsonResponse(answer, status=502 if reading.error else 200)


# --- the log tail ------------------------------------------------------------------------------------------------

def _log_reading(host: str, proc: str, lines: int) -> tuple[list[str], processes.Reading]:
    reading = processes.run_control(host, "status", name=proc, log_lines=lines)
    found = [p for p in reading.processes if p["name"] == proc]
    if not reading.error and not found:
        reading.error = "no process %s on %s" % (proc, host)
    return (found[0].get("log_lines") or []) if found else [], reading


def _log_args(request: HttpRequest, host: str, proc: str) -> int:
    """Checks host, process and ``lines``; returns the line count. Raises Http404, _Unavailable, BadRequest."""
    _machine(host, _tree_or_503(request))
    try:
        processes.check_process(proc)
    except processes.BadRequest as e:
        raise Http404(str(e)) from None
    return processes.check_lines(request.GET.get("lines"))


def _page_log_args(request: HttpRequest, host: str, proc: str) -> int | HttpResponse:
    """``_log_args`` for a page: the line count, or the page that says why not (503, 400; Http404 raised)."""
    try:
        return _log_args(request, host, proc)
    except _Unavailable as e:
        return _unavailable(request, str(e))
    except processes.BadRequest as e:
        return render(request, "console/error.html", {"title": "Bad request", "message": str(e)}, status=400)


@methods("GET")
@page_view("view_tasks")
def log_page(request: HttpRequest, host: str, proc: str) -> HttpResponse:
    """``/hosts/NAME/processes/PROC/log``: the live tail page (server-sent events from ``…/log/stream``); an htmx
    request (the polling fallback) gets the last ``lines`` lines, read now."""
    lines = _page_log_args(request, host, proc)
    if isinstance(lines, HttpResponse):
        return lines
    context: dict[str, t.Any] = {"host": host, "proc": proc, "lines": lines, "max_lines": processes.MAX_LOG_LINES}
    if request.htmx:
        got, reading = _log_reading(host, proc, lines)
        context.update(log_lines=got, reading=reading.as_json())
        return render(request, "console/_log_lines.html", context)
    return render(request, "console/log.html", context)


@methods("GET")
@api_view("view_tasks")
def log_api(request: HttpRequest, host: str, proc: str) -> HttpResponse:
    """``GET /api/v1/hosts/NAME/processes/PROC/log?lines=N``: ``{"host", "process", "lines": [...], "read_at",
    "seconds", "error"}`` — the last N (1-200, default 50) lines, secrets masked."""
    try:
        lines = _log_args(request, host, proc)
    except _Unavailable as e:
        return _unavailable(request, str(e))
    except processes.BadRequest as e:
        return api_error(400, str(e))
    got, reading = _log_reading(host, proc, lines)
    answer = {"host": host, "process": proc, "lines": got, "read_at": history.iso(reading.read_at),
              "seconds": round(reading.seconds, 2), "error": reading.error}
    return JsonResponse(answer, status=502 if reading.error else 200)


def _lines_html(lines: t.Iterable[str]) -> str:
    return "".join('<span class="line">%s</span>\n' % escape(line) for line in lines)


async def log_events(request: HttpRequest, host: str, proc: str, lines: int,
                     interval: float = LOG_INTERVAL, seconds: float = STREAM_SECONDS,
                     read: t.Callable[[str, str, int], tuple[list[str], processes.Reading]] | None = None,
                     ) -> t.AsyncIterator[bytes]:
    """The events of a live tail: ``line`` (new lines as HTML, each masked and escaped: appended by the page),
    ``read`` (when the host was last read, or its error). The host is read every ``interval`` seconds, the last
    ``lines`` lines each time, and only the previous tail is kept (bounded memory); the stream ends after
    ``seconds``, or as soon as the session it started with has ended (logged out, expired)."""
    from asgiref.sync import sync_to_async

    read = read or _log_reading
    session_key = getattr(request, "session", None) and request.session.session_key
    store = request.session.__class__ if session_key else None
    before: list[str] | None = None
    ends = time.monotonic() + seconds
    yield events.event("connected", name="read", retry=RETRY_MS)
    while time.monotonic() < ends:
        if store is not None and not await sync_to_async(lambda: store(session_key).load().get("_auth_user_id"))():
            yield events.event("session ended: reload the page to log in", name="read")
            return
        got, reading = await asyncio.to_thread(read, host, proc, lines)
        if reading.error:
            yield events.event(escape("%s: %s" % (history.iso(reading.read_at), reading.error)), name="read")
        else:
            fresh = processes.new_lines(before, got)
            before = got
            if fresh:
                yield events.event(_lines_html(fresh), name="line")
            yield events.event("read %s UTC (%.1f s)" % (history.iso(reading.read_at).replace("T", " ").rstrip("Z"),
                                                       reading.seconds), name="read")
        await asyncio.sleep(interval)
    yield events.comment("stream ends: the page reconnects")


@methods("GET")
@page_view("view_tasks")
def log_stream(request: HttpRequest, host: str, proc: str) -> HttpResponse:
    """``/hosts/NAME/processes/PROC/log/stream``: server-sent events of the live tail (``log_events``), for a
    logged-in session."""
    lines = _page_log_args(request, host, proc)
    if isinstance(lines, HttpResponse):
        return lines
    return events.response(log_events(request, host, proc, lines))
