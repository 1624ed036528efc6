"""The Services page and ``GET /api/v1/services``: thin glue around ``noops_cli.services.table_for``, the function
``noops services`` prints from."""

from __future__ import annotations

import typing as t

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

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
    from noops_console import roles

    query = (request.GET.get("query") or "").strip() or None
    context: dict[str, t.Any] = {"query": query or "", "errors": [],
                                 "can_add": roles.can(request.user, "manage_services")}
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


# --- launching several rows at once ---------------------------------------------------------------------------


def clusters_folders() -> tuple[list[str], str | None]:
    """The clusters folders the Services page reads (as ``noops services`` finds them), and where a new cluster.yml
    goes: the first of them, else ``clusters/`` beside a tree file (None for a tree read from a URL without
    ``$NOOPS_CLUSTERS``)."""
    import os

    from noops_cli.services import CLUSTERS_FOLDER, cluster_dirs
    from noops_cli.tree import default_source
    from ansible_collections.noops.platform.plugins.plugin_utils.tree.source import is_url

    source = default_source()
    dirs = cluster_dirs(None, source)
    if dirs:
        return dirs, dirs[0]
    if source and not is_url(source):
        return dirs, os.path.join(os.path.dirname(os.path.abspath(source)), CLUSTERS_FOLDER)
    return dirs, None


@methods("POST")
@page_view("launch_tasks")
def services_launch(request: HttpRequest) -> HttpResponse:
    """Deploy the selected rows (``cluster_file``, repeated): each cluster.yml of the clusters folders is checked as
    the deploy form checks one (with the configured inventory), every problem of every file at once; only when
    none has a problem, each is launched as its own ``noops deploy`` (one task each). The page links the tasks."""
    import os

    from noops_cli.services import find_cluster_files
    from noops_console import deploy_form, views_deploy

    chosen = list(dict.fromkeys(f for f in request.POST.getlist("cluster_file") if f))
    known = set(find_cluster_files(clusters_folders()[0]))
    results: list[dict[str, t.Any]] = []
    problems: list[str] = []
    if not chosen:
        problems.append("cluster_file: none selected: tick the rows to deploy")
    for path in chosen:
        row: dict[str, t.Any] = {"file": path, "name": os.path.basename(path), "problems": [], "task": None}
        results.append(row)
        if path not in known:
            row["problems"].append("%s: not a cluster.yml of the clusters folders" % path)
            continue
        try:
            with open(path, encoding="utf-8") as f:
                row["text"] = f.read()
        except (OSError, UnicodeDecodeError) as e:
            row["problems"].append("%s: cannot read the cluster file: %s" % (path, e))
            continue
        row["checked"] = deploy_form.check_text(row["text"], [])
        row["problems"] += [line.replace(deploy_form.SOURCE, path, 1) if line.startswith(deploy_form.SOURCE)
                            else line for line in row["checked"]["problems"]]
        refused = views_deploy._may_not_build(request, row["checked"])
        if refused:
            row["problems"].append("%s: %s" % (path, refused))
    problems += [p for row in results for p in row["problems"]]
    if not problems:
        for row in results:
            try:
                row["task"] = views_deploy.start(request, row["text"], [], row["checked"])
            except (deploy_form.LaunchError, history.StoreError) as e:
                row["problems"].append("%s: %s" % (row["file"], e))
                problems.append(row["problems"][-1])
    status = 200 if any(row["task"] for row in results) else 400
    return render(request, "console/services_launch.html", {"results": results, "problems": problems},
                  status=status)


# --- adding a service -----------------------------------------------------------------------------------------

_FILE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*\.ya?ml"
ADD_FIELDS = (("file", "File", "the new cluster.yml's name in the clusters folder, e.g. shop.yml; default: "
                              "<name>.yml"),)


@methods("GET", "POST")
@page_view("manage_services")
def service_add(request: HttpRequest) -> HttpResponse:
    """GET: the form (the deploy form's fields and the file name). POST: the cluster.yml is checked as the deploy
    form checks it (Odin's ``cluster.prepare``: file, hosts, rollout), every problem at once next to its field,
    with the file name's (not a plain ``*.yml`` name, already there: never overwritten); without a problem it is
    written into the clusters folder (owner-only: it holds the template values), audited as ``service.add``, and
    the page goes to the Services page of its row."""
    import os
    import re
    from urllib.parse import urlencode

    from noops_console import accounts, deploy_form, views_deploy

    form = views_deploy._form(request.POST if request.method == "POST" else request.GET)
    form["file"] = str((request.POST if request.method == "POST" else request.GET).get("file") or "").strip()
    dirs, folder = clusters_folders()
    context: dict[str, t.Any] = {"folder": folder, "checked": request.method == "POST"}
    if request.method != "POST":
        context["fields"] = _add_fields(form, {})
        return render(request, "console/service_add.html", context)
    result = deploy_form.check(form, inventory_refused=views_deploy._inventory_refusal(
        request, deploy_form.inventory_sources(form["inventory"])))
    name = form["file"] or ("%s.yml" % deploy_form.cluster_name(form) if deploy_form.cluster_name(form) else "")
    file_problems = []
    if not re.fullmatch(_FILE_NAME, name):
        file_problems.append("file: %s: a plain file name ending .yml or .yaml (letters, digits, _ . -), in the "
                             "clusters folder" % (name or "missing"))
    elif folder is None:
        file_problems.append("file: %s: no clusters folder to write it to (the tree is read from a URL: set "
                             "$NOOPS_CLUSTERS in the console's environment)" % name)
    elif os.path.lexists(os.path.join(folder, name)):
        file_problems.append("file: %s: already exists in %s: a cluster.yml is never overwritten here" % (name,
                                                                                                            folder))
    errors = dict(result["errors"])
    if file_problems:
        errors["file"] = file_problems
    if not file_problems and not result["problems"]:
        path = os.path.join(t.cast(str, folder), name)
        try:
            os.makedirs(t.cast(str, folder), exist_ok=True)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
                f.write(result["cluster_yml"])
        except FileExistsError:
            errors["file"] = ["file: %s: already exists in %s: a cluster.yml is never overwritten here"
                              % (name, folder)]
        except OSError as e:
            errors["file"] = ["file: %s: cannot write it in %s: %s" % (name, folder, e.strerror or e)]
        else:
            accounts.audit(request.user, "service.add", "service:%s" % (result.get("service") or name),
                           "wrote %s (%s %s)" % (path, result.get("service"), result.get("version") or "-"),
                           accounts.client_address(request))
            return redirect("/services?" + urlencode({"query": result["service"]}) if result.get("service")
                            else "/services")
    from ansible_collections.noops.platform.plugins.module_utils.redact import Masker
    from ansible_collections.noops.platform.plugins.plugin_utils.history.mask import mask_document_text

    problems = result["problems"] + errors.get("file", [])
    context.update(fields=_add_fields(form, errors), result=dict(result, problems=problems),
                   cluster_yml=mask_document_text(result["cluster_yml"], Masker()))
    return render(request, "console/service_add.html", context, status=400)


def _add_fields(form: t.Mapping[str, str], errors: t.Mapping[str, list[str]]) -> list[dict[str, t.Any]]:
    from noops_console import views_deploy

    extra = [{"name": n, "label": label, "help": help_text, "value": form.get(n, ""), "errors": errors.get(n, []),
              "multiline": False} for n, label, help_text in ADD_FIELDS]
    return extra + views_deploy._fields(form, errors)
