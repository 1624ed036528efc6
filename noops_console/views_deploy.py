"""The deploy form (``/deploy``): thin glue around ``deploy_form.check``. A dry run shows every problem next to its
field, or the hosts and the batch plan; the cluster.yml can be copied or downloaded. Nothing is started here."""

from __future__ import annotations

import typing as t

import json
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from noops_console import accounts, deploy_form, history, roles
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
    (dry run), ``action=download``, ``action=deploy`` (check, then launch as ``noops deploy`` does and go to the
    task's page) or ``action=force`` (the same with ``--force --rebuild``: the package built or downloaded again
    and deployed also to hosts already running the version)."""
    from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
    from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text

    if request.method in ("GET", "HEAD"):
        return render(request, "console/deploy.html", {"fields": _fields(_form(request.GET), {}), "checked": False})
    form = _form(request.POST)
    if request.POST.get("action") == "download":
        text = deploy_form.render(form)[0]
        response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="%s"' % deploy_form.SOURCE
        response["Cache-Control"] = "no-store"  # it holds the template values as typed (passwords)
        return response
    sources = deploy_form.inventory_sources(form["inventory"])
    inventory_refused = _inventory_refusal(request, sources)
    result = deploy_form.check(form, inventory_refused=inventory_refused)
    launching = request.POST.get("action") in ("deploy", "force")
    refused = _may_not_build(request, result) if launching else None
    if refused:
        result["problems"].append(refused)
        result["general"].append(refused)
    elif launching and not result["problems"]:
        try:
            task_id = start(request, deploy_form.render(form)[0], sources, result,
                            force=request.POST.get("action") == "force")
        except (deploy_form.LaunchError, history.StoreError) as e:
            result["problems"].append(str(e))
            result["general"].append(str(e))
        else:
            return redirect("/tasks/%d" % task_id)
    context = {"fields": _fields(form, result["errors"]), "checked": True, "result": result,
               # The page shows the file with its secrets masked; the download holds them as typed.
               "cluster_yml": mask_document_text(result["cluster_yml"], Masker())}
    status = 403 if refused or inventory_refused else 400 if result["problems"] else 200
    return render(request, "console/deploy.html", context, status=status)


BUILD_ROLE = "admin"  # a deploy built from code runs its build command on the console's host


def _inventory_refusal(request: HttpRequest, sources: list[str]) -> str | None:
    """Why the request's user may not have the console read these inventory ``sources`` (None: it may). An
    admin's choice of a source other than the configured ones is audited (``inventory.use``) before it is read."""
    refusal = deploy_form.inventory_refusal(sources, request.user.get_username(), roles.role_of(request.user))
    unknown = [] if refusal else deploy_form.unknown_inventories(sources)
    if unknown:
        accounts.audit(request.user, "inventory.use", "inventory", "read inventory %s (not a configured source) "
                       "on the console's host" % ", ".join(unknown), accounts.client_address(request))
    return refusal


def _may_not_build(request: HttpRequest, checked: t.Mapping[str, t.Any]) -> str | None:
    """Why the request's user may not launch this deploy (None: it may): one that builds from code (``code_url``)
    runs its ``build_command`` on the console's host as the console's user, which only the admin role may do."""
    if not checked.get("build") or roles.role_of(request.user) == BUILD_ROLE:
        return None
    return ("code_url: a deploy built from code runs its build command on the console's host: launching one needs "
            "the %s role (user %s has role %s; a package URL deploy needs operator)"
            % (BUILD_ROLE, request.user.get_username(), roles.role_of(request.user) or "none"))


def _launch_detail(checked: t.Mapping[str, t.Any], force: bool = False) -> str:
    """The audit entry's detail of a launch: what, where, forced or not, and for a build from code what runs on
    the console's host."""
    detail = "deploy %s %s to %d hosts" % (checked.get("service"), checked.get("version"), len(checked["hosts"]))
    if force:
        detail += " (forced: the package built or downloaded again, hosts already running the version too)"
    build = checked.get("build")
    if build:
        detail += "; built on the console's host from %s%s%s with: %s" % (
            build["code_url"], " branch %s" % build["branch"] if build["branch"] else "",
            " in %s" % build["relative_path"] if build["relative_path"] else "", build["build_command"] or "-")
    return detail


def start(request: HttpRequest, text: str, sources: list[str], checked: dict[str, t.Any], force: bool = False
          ) -> int:
    """Launch a checked cluster.yml as the request's user (``force``: ``noops deploy --force --rebuild``), audit
    it, return the task id. Raises LaunchError."""
    folder = os.path.join(os.path.dirname(settings.CONSOLE_DB), "deploys")
    user = request.user.get_username()
    task_id = deploy_form.launch(text, sources, user, history.history_dsn(), folder, force=force)
    from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
    from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text

    masker = Masker()
    mask_document_text(text, masker)  # learns the cluster.yml's secret values: a build command may repeat one
    accounts.audit(request.user, "task.launch", "task:%d" % task_id, masker.scrub(_launch_detail(checked, force)) or "",
                   accounts.client_address(request))
    return task_id


@methods("POST")
@api_view("launch_tasks")
def deploys_api(request: HttpRequest) -> HttpResponse:
    """``POST /api/v1/deploys`` with ``{"cluster_yml": "<text>", "inventory": "<source>" or [sources], "force":
    false}``: 400
    ``{"errors": [...]}`` with every problem and nothing started, else 201 ``{"task": ID}``."""
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return api_error(400, "body: not JSON")
    if not isinstance(body, dict):
        return api_error(400, "body: a JSON object with cluster_yml (and inventory)")
    text, inventory, force = body.get("cluster_yml"), body.get("inventory"), body.get("force", False)
    errors = []
    if not isinstance(force, bool):
        errors.append("force: %s: true or false" % json.dumps(force)[:80])
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
    inventory_refused = _inventory_refusal(request, sources)
    checked = deploy_form.check_text(text, sources, inventory_refused=inventory_refused)
    if inventory_refused:
        return api_error(403, *checked["problems"])
    if checked["problems"]:
        return api_error(400, *checked["problems"])
    refused = _may_not_build(request, checked)
    if refused:
        return api_error(403, refused)
    try:
        task_id = start(request, text, sources, checked, force=force)
    except (deploy_form.LaunchError, history.StoreError) as e:
        return api_error(503, str(e))
    return JsonResponse({"task": task_id}, status=201)
