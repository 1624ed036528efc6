"""The deploy form (``/deploy``): thin glue around ``deploy_form.check``. A dry run shows every problem next to its
field, or the hosts and the batch plan; the cluster.yml can be copied or downloaded. Nothing is started here."""

from __future__ import annotations

import typing as t

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from noops_console import deploy_form
from noops_console.auth import methods, page_view

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
    (dry run) or ``action=download``."""
    from ansible_collections.noops.platform.plugins.module_utils.history_mask import Masker, mask_document_text

    if request.method in ("GET", "HEAD"):
        return render(request, "console/deploy.html", {"fields": _fields(_form(request.GET), {}), "checked": False})
    form = _form(request.POST)
    if request.POST.get("action") == "download":
        text = deploy_form.render(form)[0]
        response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="%s"' % deploy_form.SOURCE
        return response
    result = deploy_form.check(form)
    context = {"fields": _fields(form, result["errors"]), "checked": True, "result": result,
               # The page shows the file with its secrets masked; the download holds them as typed.
               "cluster_yml": mask_document_text(result["cluster_yml"], Masker())}
    return render(request, "console/deploy.html", context, status=200 if not result["problems"] else 400)
