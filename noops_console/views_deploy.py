"""The deploy form (``/deploy``): thin glue around ``deploy_form.check``. A dry run shows every problem next to its
field, or the hosts and the batch plan; the cluster.yml can be copied or downloaded. Nothing is started here."""

from __future__ import annotations

import typing as t

import json
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from noops_console import accounts, deploy_form, history
from noops_console.auth import api_error, api_view, methods, page_view

MULTILINE = frozenset(("service", "values"))


def _fields(values: t.Mapping[str, str], errors: t.Mapping[str, list[str]]) -> list[dict[str, t.Any]]:
    return [{"name": name, "label": label, "help": help_text, "value": values.get(name, ""),
             "errors": errors.get(name, []), "multiline": name in MULTILINE}
            for name, label, help_text in deploy_form.FIELDS]


def _form(data: t.Mapping[str, str]) -> dict[str, str]:
    return {name: str(data.get(name) or "") for name in deploy_form.FIELD_NAMES}


@methods("GET", "POST")
@page_view("launch_tasks")
def deploy_page(request: HttpRequest) -> HttpResponse:
    """GET: the form (fields may be given as query parameters, e.g. from the Services page). POST: ``action=check``
    (dry run), ``action=download`` or ``action=deploy`` (check, then launch as ``noops deploy`` does and go to the
    task's page)."""
    from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
    from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text

    if request.method in ("GET", "HEAD"):
        return render(request, "console/deploy.html", {"fields": _fields(_form(request.GET), {}), "checked": False})
    form = _form(request.POST)
    if request.POST.get("action") == "download":
        text = deploy_form.render(form)[0]
        response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="%s"' % deploy_form.SOURCE
        return response
    result = deploy_form.check(form)
    if request.POST.get("action") == "deploy" and not result["problems"]:
        try:
            task_id = start(request, deploy_form.render(form)[0], deploy_form.inventory_sources(form["inventory"]),
                            result)
        except (deploy_form.LaunchError, history.StoreError) as e:
            result["problems"].append(str(e))
            result["general"].append(str(e))
        else:
            return redirect("/tasks/%d" % task_id)
    context = {"fields": _fields(form, result["errors"]), "checked": True, "result": result,
               # The page shows the file with its secrets masked; the download holds them as typed.
               "cluster_yml": mask_document_text(result["cluster_yml"], Masker())}
    return render(request, "console/deploy.html", context, status=200 if not result["problems"] else 400)


def start(request: HttpRequest, text: str, sources: list[str], checked: dict[str, t.Any]) -> int:
    """Launch a checked cluster.yml as the request's user, audit it, return the task id. Raises LaunchError."""
    folder = os.path.join(os.path.dirname(settings.CONSOLE_DB), "deploys")
    user = request.user.get_username()
    task_id = deploy_form.launch(text, sources, user, history.history_dsn(), folder)
    accounts.audit(request.user, "task.launch", "task:%d" % task_id,
                   "deploy %s %s to %d hosts" % (checked.get("service"), checked.get("version"), len(checked["hosts"])),
                   accounts.client_address(request))
    return task_id


@methods("POST")
@api_view("launch_tasks")
def deploys_api(request: HttpRequest) -> HttpResponse:
    """``POST /api/v1/deploys`` with ``{"cluster_yml": "<text>", "inventory": "<source>" or [sources]}``: 400
    ``{"errors": [...]}`` with every problem and nothing started, else 201 ``{"task": ID}``."""
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return api_error(400, "body: not JSON")
    if not isinstance(body, dict):
        return api_error(400, "body: a JSON object with cluster_yml (and inventory)")
    text, inventory = body.get("cluster_yml"), body.get("inventory")
    errors = []
    if not isinstance(text, str) or not text.strip():
        shown = "missing" if text is None else json.dumps(text)[:80]
        errors.append("cluster_yml: %s: the cluster.yml's text" % shown)
    if isinstance(inventory, str) or inventory is None:
        sources = deploy_form.inventory_sources(inventory)
    elif isinstance(inventory, list) and all(isinstance(i, str) for i in inventory):
        sources = [i for i in inventory if i.strip()]
    else:
        errors.append("inventory: %s: a source or a list of sources" % json.dumps(inventory)[:80])
    if errors:
        return api_error(400, *errors)
    checked = deploy_form.check_text(text, sources)
    if checked["problems"]:
        return api_error(400, *checked["problems"])
    try:
        task_id = start(request, text, sources, checked)
    except (deploy_form.LaunchError, history.StoreError) as e:
        return api_error(503, str(e))
    return JsonResponse({"task": task_id}, status=201)
