"""The Services page and ``GET /api/v1/services``: thin glue around ``noops_cli.services.table_for``, the function
``noops services`` prints from."""

from __future__ import annotations

import typing as t

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from noops_console import history
from noops_console.auth import api_error, api_view, methods, page_view

MAX_QUERY = 500  # characters


class ServicesError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _table(query: str | None) -> dict[str, t.Any]:
    """The table over the history store. Raises ServicesError (400 for a bad query, 503 for a tree or store that
    cannot be read, or a store that does not exist: as the task pages, never a table without its history)."""
    from noops_cli.services import table_for
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.tags import TagError
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import TreeError

    if query and len(query) > MAX_QUERY:
        raise ServicesError(400, "query: %d characters: at most %d" % (len(query), MAX_QUERY))
    try:
        with history.open_store() as store:
            return table_for(query, store=store)
    except TagError as e:
        raise ServicesError(400, "query: %s: %s" % (query, e)) from e
    except (TreeError, history.StoreError) as e:
        raise ServicesError(503, str(e)) from e


@methods("GET")
@page_view("view_tasks")
def services_page(request: HttpRequest) -> HttpResponse:
    query = (request.GET.get("query") or "").strip() or None
    context: dict[str, t.Any] = {"query": query or "", "errors": []}
    status = 200
    try:
        context.update(_table(query))
        for row in context["services"]:
            row["deploy_link"] = _deploy_link(row)
    except ServicesError as e:
        context.update(errors=[str(e)], services=[], tree=[], problems=[])
        status = e.status
    return render(request, "console/services.html", context, status=status)


@methods("GET")
@api_view("view_tasks")
def services_api(request: HttpRequest) -> HttpResponse:
    """``GET /api/v1/services?query=``: the table ``noops services --json`` prints."""
    query = (request.GET.get("query") or "").strip() or None
    try:
        return JsonResponse(_table(query))
    except ServicesError as e:
        return api_error(e.status, str(e))


def _deploy_link(row: t.Mapping[str, t.Any]) -> str | None:
    """The deploy form pre-filled from a row's cluster.yml (None for a row without one, or whose URL hides a
    password: the form would get the mask)."""
    from urllib.parse import urlencode

    from ansible_collections.noops.platform.plugins.module_utils.redact import MASK

    if not row.get("cluster_file") or not row.get("jobs") or MASK in (row.get("url") or ""):
        return None
    fields = {"service": "\n".join(row["jobs"]), "name": row.get("name"), "env": row.get("env"),
              "path": row.get("path")}
    if row.get("url_kind"):
        fields[row["url_kind"]] = row["url"]
    return "/deploy?" + urlencode({k: v for k, v in fields.items() if v})
