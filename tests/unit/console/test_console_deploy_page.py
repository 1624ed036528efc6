"""The deploy form page: operators only, CSRF, every problem inline next to its field, a dry run with the hosts and
the batch plan, the cluster.yml to copy (masked) or download (as typed)."""

import re

import pytest
import yaml
from django.test import Client

from noops_console import deploy_form

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import InventoryHost

pytestmark = pytest.mark.django_db
JOB = "job.hello_service.hello_pdl.demo_owt.ops_cop.example"


@pytest.fixture(autouse=True)
def _inventory(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    hosts = [InventoryHost("h%d" % i, None, ("%s_status.service" % JOB,)) for i in (1, 2, 3)]
    monkeypatch.setattr(deploy_form, "load_inventory", lambda sources: hosts)


def _good():
    import noops_cli
    import os
    return {"service": JOB, "env": "production", "version": "1.0.0", "path": "/home/work/hello",
            "pkg_url": os.path.join(noops_cli.COLLECTION_ROOT, "examples", "packages", "hello"),
            "batch": "2", "canary": "1", "values": "port: 18080\ndb_passwd: s3cret-value"}


@pytest.mark.parametrize("role, status", [("viewer", 403), ("operator", 200), ("admin", 200)])
def test_the_form_is_for_operators(login, role, status):
    response = login(role).get("/deploy?service=%s&path=/home/work/x" % JOB)
    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert 'value="/home/work/x"' in page and JOB in page
        for name in deploy_form.FIELD_NAMES:
            assert 'name="%s"' % name in page


def test_bad_values_are_shown_next_to_their_fields(login):
    form = dict(_good(), batch="0", path="relative", max_fail="lots", action="check")
    response = login("operator").post("/deploy", form)
    page = response.content.decode()
    assert response.status_code == 400 and "3 problems" in page and 'id="dry-run"' not in page
    for field, says in (("batch", "must be an integer &gt;= 1"), ("path", "must be an absolute path"),
                        ("max_fail", "must be a count &gt;= 0")):
        block = re.search(r'<div class="field has-error" id="field-%s">(.*?)</div>' % field, page, re.S)
        assert block and says in block.group(1), field
    assert page.count("has-error") == 3


def test_a_dry_run_shows_the_hosts_and_the_plan(login, store):
    response = login("operator").post("/deploy", dict(_good(), action="check"))
    page = response.content.decode()
    assert response.status_code == 200 and 'id="dry-run"' in page and "to 3 hosts" in page
    assert "<td class=\"msg\">h1</td>" in page and "<td class=\"msg\">h2, h3</td>" in page and "pause (canary batch done)" in page
    assert "s3cret-value" not in page.split('id="cluster-yml"')[1]  # the file shown is masked
    assert "db_passwd: ********" in page
    assert store.list_tasks() == []  # nothing started


def test_download_and_csrf(users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["operator"])
    assert client.post("/deploy", dict(_good(), action="download")).status_code == 403
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get("/deploy").content.decode()).group(1)
    response = client.post("/deploy", dict(_good(), action="download", csrfmiddlewaretoken=token))
    assert response.status_code == 200 and response["Content-Disposition"] == 'attachment; filename="cluster.yml"'
    assert "db_passwd: s3cret-value" in response.content.decode()


def test_the_download_is_never_cached(login):
    response = login("operator").post("/deploy", dict(_good(), action="download"))
    assert response.status_code == 200 and "s3cret-value" in response.content.decode()
    assert response["Cache-Control"] == "no-store"


def _yml(**block):
    import yaml
    doc = {"cluster": {"name": "hello", "version": "1.0.0", "env": "production", "jobs": [JOB]},
           "hello": dict({"path": "/home/work/hello", "pkg_url": _good()["pkg_url"], "port": 18080,
                          "db_passwd": "x"}, **block)}
    return yaml.safe_dump(doc)


def test_api_deploys_refuses_a_bad_cluster_yml_and_starts_nothing(login, store, monkeypatch):
    started = []
    monkeypatch.setattr(deploy_form, "launch", lambda *a, **k: started.append(a) or 1)
    monkeypatch.setenv("NOOPS_CONSOLE_INVENTORIES", "x.yml")  # a known source: operators may choose it
    client = login("operator")
    response = client.post("/api/v1/deploys", {"cluster_yml": _yml(batch=0, path="rel"), "inventory": "x.yml"},
                           content_type="application/json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert 'cluster.yml: hello.path: "rel": must be an absolute path' in errors
    assert "cluster.yml: hello.batch: 0: must be an integer >= 1" in errors
    assert started == [] and store.list_tasks() == []
    for body, says in (({}, "cluster_yml: missing"), ({"cluster_yml": "x", "inventory": 3}, "inventory: 3"),
                       ([1], "body: a JSON object")):
        bad = client.post("/api/v1/deploys", body, content_type="application/json")
        assert bad.status_code == 400 and says in bad.json()["errors"][0]


def test_api_deploys_launches_a_good_one_as_the_user(login, monkeypatch):
    from noops_console.models import AuditEntry

    calls = []

    def launch(text, sources, user, dsn, folder, **kwargs):
        calls.append((text, sources, user))
        return 42
    monkeypatch.setattr(deploy_form, "launch", launch)
    monkeypatch.setenv("NOOPS_CONSOLE_INVENTORIES", "fleet.yml")  # a known source: operators may choose it
    response = login("operator").post("/api/v1/deploys", {"cluster_yml": _yml(), "inventory": "fleet.yml"},
                                      content_type="application/json")
    assert response.status_code == 201 and response.json() == {"task": 42}
    assert calls == [(_yml(), ["fleet.yml"], "operator1")]
    entry = AuditEntry.objects.get(action="task.launch")
    assert entry.username == "operator1" and entry.target == "task:42" and "to 3 hosts" in entry.detail


def test_api_deploys_needs_an_operator(login, client):
    assert client.post("/api/v1/deploys", {}, content_type="application/json").status_code == 401
    assert login("viewer").post("/api/v1/deploys", {}, content_type="application/json").status_code == 403


def test_compile_and_deploy_from_the_page(login, monkeypatch):
    monkeypatch.setattr(deploy_form, "launch", lambda text, sources, user, dsn, folder, **k: 7)
    response = login("operator").post("/deploy", dict(_good(), action="deploy"))
    assert response.status_code == 302 and response["Location"] == "/tasks/7"
    bad = login("operator").post("/deploy", dict(_good(), batch="0", action="deploy"))
    assert bad.status_code == 400 and b"1 problem" in bad.content


# --- a build from code: nothing the user supplied runs before an accepted launch, and only admins launch one ---


@pytest.fixture
def code_repo(tmp_path):
    """A git repository to build from, and the file its build command would create."""
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README").write_text("x\n")
    env = dict(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t",
               HOME=str(tmp_path), PATH=__import__("os").environ["PATH"])
    for args in (["init", "-q"], ["add", "README"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git"] + args, cwd=repo, env=env, check=True)
    return str(repo), tmp_path / "MARKER"


def _code(repo, marker, **more):
    form = dict(_good(), code_url=repo, build_command="touch %s" % marker, **more)
    form.pop("pkg_url")
    return form


def test_a_dry_run_builds_nothing_and_says_when_the_package_is_built(login, code_repo):
    repo, marker = code_repo
    for role in ("operator", "admin"):
        response = login(role).post("/deploy", dict(_code(repo, marker), action="check"))
        assert response.status_code == 200, response.content.decode()[:2000]
        page = response.content.decode()
        assert "when the deploy runs" in page and "builds and runs nothing" in page
    assert not marker.exists()


def test_a_refused_launch_builds_nothing(login, code_repo, store, monkeypatch):
    repo, marker = code_repo
    started = []
    monkeypatch.setattr(deploy_form, "launch", lambda *a, **k: started.append(a) or 1)
    client = login("admin")
    text = _yml(code_url=repo, build_command="touch %s" % marker, batch=0).replace("pkg_url", "unused_pkg_url")
    response = client.post("/api/v1/deploys", {"cluster_yml": text}, content_type="application/json")
    assert response.status_code == 400 and "cluster.yml: hello.batch: 0: must be an integer >= 1" in \
        response.json()["errors"]
    bad = client.post("/deploy", dict(_code(repo, marker), batch="0", action="deploy"))
    assert bad.status_code == 400
    assert not marker.exists() and started == [] and store.list_tasks() == []


def _code_yml(repo, marker):
    import yaml
    doc = yaml.safe_load(_yml())
    del doc["hello"]["pkg_url"]
    doc["hello"].update(code_url=repo, build_command="touch %s" % marker)
    return yaml.safe_dump(doc)


def test_a_build_from_code_is_launched_by_admins_only_and_audited(login, code_repo, monkeypatch):
    from noops_console.models import AuditEntry

    repo, marker = code_repo
    calls = []
    monkeypatch.setattr(deploy_form, "launch", lambda text, sources, user, dsn, folder, **k: calls.append(user) or 9)
    refused = login("operator").post("/api/v1/deploys", {"cluster_yml": _code_yml(repo, marker)},
                                     content_type="application/json")
    assert refused.status_code == 403 and "admin" in refused.json()["errors"][0]
    page = login("operator").post("/deploy", dict(_code(repo, marker), action="deploy"))
    assert page.status_code == 403 and b"admin" in page.content
    assert calls == [] and not AuditEntry.objects.filter(action="task.launch").exists()
    accepted = login("admin").post("/api/v1/deploys", {"cluster_yml": _code_yml(repo, marker)},
                                   content_type="application/json")
    assert accepted.status_code == 201 and accepted.json() == {"task": 9} and calls == ["admin1"]
    entry = AuditEntry.objects.get(action="task.launch")
    assert entry.username == "admin1" and "touch %s" % marker in entry.detail and repo in entry.detail
    assert not marker.exists()  # the console itself built nothing: the launched noops deploy builds


# --- the inventory: reading one may run it (an executable inventory, an inventory plugin), on the console's host ---


@pytest.fixture
def known_inventory(monkeypatch, tmp_path):
    """The configured inventory (ansible.cfg's) is tmp/fleet.yml; an executable one beside it is not known."""
    (tmp_path / "fleet.yml").write_text("all: {}\n")
    (tmp_path / "ansible.cfg").write_text("[defaults]\ninventory = fleet.yml\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "ansible.cfg"))
    monkeypatch.delenv("ANSIBLE_INVENTORY", raising=False)
    monkeypatch.delenv("NOOPS_CONSOLE_INVENTORIES", raising=False)
    script = tmp_path / "run-me.sh"
    script.write_text("#!/bin/sh\ntouch %s\necho '{}'\n" % (tmp_path / "ran"))
    script.chmod(0o755)
    read = []
    hosts = [InventoryHost("h%d" % i, None, ("%s_status.service" % JOB,)) for i in (1, 2, 3)]
    monkeypatch.setattr(deploy_form, "load_inventory", lambda sources: read.append(list(sources)) or hosts)
    return {"configured": str(tmp_path / "fleet.yml"), "other": str(script), "read": read}


@pytest.mark.parametrize("how", ["check", "deploy", "api"])
def test_an_operator_may_choose_only_a_known_inventory(login, known_inventory, monkeypatch, how):
    from noops_console.models import AuditEntry

    monkeypatch.setattr(deploy_form, "launch", lambda *a, **k: pytest.fail("launched"))
    client = login("operator")
    if how == "api":
        response = client.post("/api/v1/deploys", {"cluster_yml": _yml(), "inventory": known_inventory["other"]},
                               content_type="application/json")
        errors = response.json()["errors"]
    else:
        response = client.post("/deploy", dict(_good(), batch="0", inventory=known_inventory["other"], action=how))
        page = response.content.decode()
        block = re.search(r'<div class="field has-error" id="field-inventory">(.*?)</div>', page, re.S)
        errors = [block.group(1)] if block else []
        assert re.search(r'id="field-batch">.*?must be an integer', page, re.S)  # the other problems too
    assert response.status_code == 403
    assert any("needs the admin role" in e and known_inventory["configured"] in e for e in errors), errors
    assert known_inventory["read"] == []  # never read (run)
    assert not AuditEntry.objects.filter(action="inventory.use").exists()


def test_the_configured_inventory_is_every_operators(login, known_inventory):
    response = login("operator").post("/deploy", dict(_good(), inventory=known_inventory["configured"],
                                                      action="check"))
    assert response.status_code == 200 and 'id="dry-run"' in response.content.decode()
    assert known_inventory["read"] == [[known_inventory["configured"]]]


def test_an_admin_may_choose_another_inventory_audited(login, known_inventory):
    from noops_console.models import AuditEntry

    response = login("admin").post("/deploy", dict(_good(), inventory=known_inventory["other"], action="check"))
    assert response.status_code == 200 and 'id="dry-run"' in response.content.decode()
    entry = AuditEntry.objects.get(action="inventory.use")
    assert entry.username == "admin1" and known_inventory["other"] in entry.detail


@pytest.mark.parametrize("how", ["page", "api"])
def test_force_rebuild_and_deploy(login, monkeypatch, how):
    """Force rebuild and deploy: launched as noops deploy --force --rebuild, and audited as forced."""
    from noops_console.models import AuditEntry

    calls = []
    monkeypatch.setattr(deploy_form, "launch", lambda text, sources, user, dsn, folder, force=False, **k:
                        calls.append(force) or 5)
    client = login("operator")
    if how == "page":
        page = client.get("/deploy").content.decode()
        assert 'value="force"' in page and "Force rebuild and deploy" in page
        assert client.post("/deploy", dict(_good(), action="force")).status_code == 302
        assert client.post("/deploy", dict(_good(), action="deploy")).status_code == 302
    else:
        post = lambda body: client.post("/api/v1/deploys", body, content_type="application/json")  # noqa: E731
        assert post({"cluster_yml": _yml(), "force": True}).status_code == 201
        assert post({"cluster_yml": _yml()}).status_code == 201
        bad = post({"cluster_yml": _yml(), "force": "yes"})
        assert bad.status_code == 400 and bad.json()["errors"] == ['force: "yes": true or false']
    assert calls == [True, False]
    details = [e.detail for e in AuditEntry.objects.filter(action="task.launch").order_by("id")]
    assert "forced" in details[0] and "forced" not in details[1]


def test_launch_with_force_runs_noops_deploy_force_rebuild(tmp_path, monkeypatch):
    import subprocess

    seen = {}

    class Proc:
        pid, returncode = 1, 2

        def __init__(self, command, **kw):
            seen["command"] = command

        def poll(self):
            return 2

        def wait(self):
            return 2
    monkeypatch.setattr(subprocess, "Popen", Proc)
    with pytest.raises(deploy_form.LaunchError):
        deploy_form.launch("x: 1\n", [], "ann", str(tmp_path / "h.db"), str(tmp_path / "d"), wait=1, force=True)
    command = seen["command"]
    assert command[command.index("deploy"):][3:] == ["--plain", "--force", "--rebuild"], command


def test_the_launch_audit_entry_masks_the_secrets_of_the_build_command(login, code_repo, monkeypatch):
    """The audit entry names the build command; its passwords, tokens, URL passwords and the cluster.yml's own
    secret values are masked there (and wherever the entry is shown)."""
    from noops_console.models import AuditEntry

    repo, marker = code_repo
    monkeypatch.setattr(deploy_form, "launch", lambda text, sources, user, dsn, folder, **k: 9)
    doc = yaml.safe_load(_code_yml(repo, marker))
    doc["hello"]["db_passwd"] = "Tmpl-S3cret-55"
    doc["hello"]["build_command"] = ("make PASSWORD=Build-Pw-99 && curl https://u:Url-Pw-77@x.example/y "
                                     "&& echo token=Tok-55x && echo Tmpl-S3cret-55")
    accepted = login("admin").post("/api/v1/deploys", {"cluster_yml": yaml.safe_dump(doc)},
                                   content_type="application/json")
    assert accepted.status_code == 201, accepted.content
    detail = AuditEntry.objects.get(action="task.launch").detail
    for secret in ("Build-Pw-99", "Url-Pw-77", "Tok-55x", "Tmpl-S3cret-55"):
        assert secret not in detail, detail
    assert "make PASSWORD=********" in detail and repo in detail


def test_a_dry_run_without_a_version_or_a_pause_says_so_in_words(login, code_repo):
    repo, marker = code_repo
    form = dict(_code(repo, marker), version="", pause_step="0", action="check")
    page = login("operator").post("/deploy", form).content.decode()
    heading = re.search(r"<h2>Dry run: (.*?)</h2>", page).group(1)
    assert "None" not in heading and "(the version the build gives)" in heading, heading
    assert "no pause" in page and "pause every 0" not in page
