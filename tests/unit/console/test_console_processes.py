"""The Instances page, a host's process page and its API (Frigga in the console): hosts the tree knows (404
otherwise), reads and actions through control.yml's ``process`` task run by ``noops_cli.runner.collect_run`` (here
answered by a fake host: the real runs are in tests/integration/console/test_console_processes.py), actions for
operators and admins only, on the audit log, and the live log tail (server-sent events), masked and bounded."""

import asyncio
import json
import textwrap

import pytest

from noops_cli.runner import CollectedRun, HostResult

pytestmark = pytest.mark.django_db

TAG = "cop.shop_owt.sales_pdl.store_service.web_cluster.prod-lg_job.web_idc.lg_status.service"
JOB = "job.web_service.web_cluster.prod-lg_pdl.store_owt.sales_cop.shop"


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    (tmp_path / "tree.yml").write_text(textwrap.dedent("""\
        machines:
          web1: {tags: [%s]}
          web2: {tags: [%s]}
          zk1: {tags: [cop.shop_owt.infra_pdl.base_service.zk_cluster.prod-hh_job.zk_idc.hh_status.service]}
        """ % (TAG, TAG.replace("idc.lg", "idc.hh"))))
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "web.yml").write_text(textwrap.dedent("""\
        cluster: {name: web, version: "1.2", env: production, jobs: [%s]}
        web: {path: /home/work/web, pkg_url: "https://pkgs.example.com/web.tgz"}
        """ % JOB))
    monkeypatch.setenv("NOOPS_TREE", str(tmp_path / "tree.yml"))
    monkeypatch.delenv("NOOPS_CLUSTERS", raising=False)
    return tmp_path


class FakeHost:
    """Answers collect_run as control.yml's process task on the host would; keeps every RunSpec it was given."""

    def __init__(self):
        self.specs = []
        self.pid = 100
        self.state = "running"
        self.log = ["started", "login with password=hunter2x9 ok"]
        self.error = None

    def __call__(self, spec, timeout=None):
        self.specs.append(spec)
        extra = spec.extravars
        if self.error:
            return CollectedRun(rc=2, status="failed", seconds=0.1, results=[HostResult(
                spec.limit, "Apply the action", "noops.platform.process", "failed", {"msg": self.error})])
        actions = []
        if extra["action"] in ("restart", "start"):
            self.pid += 1
            self.state = "running"
            actions = ["%s:%s" % (extra.get("name"), extra["action"])]
        elif extra["action"] in ("stop", "nuke"):
            self.state = "stopped" if extra["action"] == "stop" else "exited"
            actions = ["%s:%s" % (extra.get("name"), "stop" if extra["action"] == "stop" else "kill")]
        names = [extra["name"]] if "name" in extra else ["web", "web-worker"]
        processes = []
        for name in names:
            entry = {"name": name, "state": self.state, "raw_state": "RUNNING", "version": "1.2",
                     "pid": self.pid if self.state == "running" else None, "start_time": "2026-11-30 12:00:00",
                     "log": "/srv/web/log/web.log"}
            if extra.get("log_lines"):
                entry["log_lines"] = self.log[-extra["log_lines"]:]
            processes.append(entry)
        return CollectedRun(rc=0, status="successful", seconds=0.2, results=[
            HostResult(spec.limit, "Check the request", "ansible.builtin.fail", "skipped", {}),
            HostResult(spec.limit, "Apply the action", "noops.platform.process", "ok",
                       {"processes": processes, "actions": actions, "changed": bool(actions)})])


@pytest.fixture
def host(monkeypatch):
    fake = FakeHost()
    monkeypatch.setattr("noops_cli.runner.collect_run", fake)
    return fake


def test_the_services_row_links_to_its_instances(login, make_task, fleet, host):
    make_task({"web1": "success"}, service=JOB, version="1.2", status="success")
    from urllib.parse import quote

    page = login("viewer").get("/services").content.decode()
    assert 'href="/instances?cluster_file=%s"' % quote(str(fleet / "clusters" / "web.yml"), safe="") in page
    assert 'href="/instances?node=cop.shop_owt.infra_pdl.base_service.zk_cluster.prod-hh"' in page
    zk = login("viewer").get("/instances?node=cop.shop_owt.infra_pdl.base_service.zk_cluster.prod-hh")
    assert zk.status_code == 200 and b'href="/hosts/zk1"' in zk.content and b"never deployed" in zk.content


def test_instances_page_per_host_version_and_status_from_the_history(login, make_task, fleet, host):
    make_task({"web1": "success", "web2": "success"}, service=JOB, version="1.1", status="success")
    make_task({"web1": "success", "web2": "failed"}, service=JOB, version="1.2", status="failed")
    answer = login("viewer").get("/instances", {"cluster_file": str(fleet / "clusters" / "web.yml")})
    assert answer.status_code == 200
    rows = {r.split("</td>")[0].split(">")[-1]: r for r in answer.content.decode().split("<tr><td>")[1:]}
    assert "1.2" in rows["web1"] and "s-success" in rows["web1"] and 'href="/hosts/web1"' in rows["web1"]
    assert "s-failed" in rows["web2"] and 'href="/hosts/web2"' in rows["web2"]
    assert host.specs == []  # the history is read, no host is asked


@pytest.mark.parametrize("query", [{"cluster_file": "/nowhere/web.yml"}, {"node": "cop.nope"}, {}])
def test_instances_of_an_unknown_cluster_is_404(login, fleet, host, query):
    assert login("viewer").get("/instances", query).status_code == 404


def test_host_page_reads_the_host_through_control_yml(login, fleet, host):
    client = login("viewer")
    shell = client.get("/hosts/web1")
    assert shell.status_code == 200 and b'hx-get="/hosts/web1"' in shell.content and host.specs == []
    part = client.get("/hosts/web1", HTTP_HX_REQUEST="true").content.decode()
    assert "web-worker" in part and ">100<" in part and "1.2" in part and "Read from web1 at" in part
    assert 'href="/hosts/web1/processes/web/log"' in part
    assert "Restart" not in part  # a viewer gets no action buttons
    spec, = host.specs
    assert spec.playbook == "noops.platform.control" and spec.limit == "web1" and spec.record is False
    assert spec.extravars == {"query": TAG, "action": "status"}
    inventory = spec.inventory[0]
    assert inventory.endswith(".noops.yml")


def test_processes_api(login, fleet, host):
    data = json.loads(login("viewer").get("/api/v1/hosts/web1/processes").content)
    assert [p["name"] for p in data["processes"]] == ["web", "web-worker"]
    assert data["processes"][0] == {"name": "web", "pid": 100, "state": "running",
                                    "start_time": "2026-11-30 12:00:00", "release": "1.2",
                                    "log": "/srv/web/log/web.log"}
    assert data["host"] == "web1" and data["read_at"].endswith("Z") and data["error"] is None


@pytest.mark.parametrize("path", ["/hosts/nope", "/api/v1/hosts/nope/processes", "/hosts/nope/processes/web/log",
                                  "/api/v1/hosts/nope/processes/web/log", "/hosts/nope/processes/web/log/stream"])
def test_a_host_the_tree_does_not_know_is_404(login, fleet, host, path):
    answer = login("viewer").get(path)
    assert answer.status_code == 404 and b"no host nope" in answer.content
    assert host.specs == []


@pytest.mark.parametrize("path", ["/hosts/nope/processes/web/restart", "/api/v1/hosts/nope/processes/web/restart",
                                  "/hosts/web1/processes/web/reboot", "/api/v1/hosts/web1/processes/web/reboot",
                                  "/api/v1/hosts/web1/processes/%7B%7Bx%7D%7D/restart"])
def test_actions_on_what_is_not_there_are_404(login, fleet, host, path):
    assert login("operator").post(path).status_code == 404
    assert host.specs == []


def test_the_host_answering_an_error_is_502(login, fleet, host):
    host.error = "supervisord of /srv/web1 is not running"
    answer = login("viewer").get("/api/v1/hosts/web1/processes")
    assert answer.status_code == 502 and "is not running" in json.loads(answer.content)["error"]
    part = login("viewer").get("/hosts/web1", HTTP_HX_REQUEST="true").content.decode()
    assert "is not running" in part and "No answer from the host" in part


@pytest.mark.parametrize("role,status", [("viewer", 403), ("operator", 200), ("admin", 200)])
def test_actions_need_process_actions(login, fleet, host, role, status):
    from noops_console.models import AuditEntry

    answer = login(role).post("/api/v1/hosts/web1/processes/web/restart")
    assert answer.status_code == status
    if status == 403:
        assert host.specs == [] and not AuditEntry.objects.filter(action__startswith="process.").exists()
        assert login(role).post("/hosts/web1/processes/web/restart").status_code == 403
        return
    data = json.loads(answer.content)
    assert data["processes"][0]["pid"] == 101 and data["actions"] == ["web:restart"] and data["error"] is None
    spec, = host.specs
    assert spec.extravars == {"query": TAG, "action": "restart", "name": "web"} and spec.limit == "web1"
    assert spec.record is True and spec.env == {"NOOPS_USER": role + "1"}  # the history's initiator
    entry = AuditEntry.objects.get(action="process.restart")
    assert entry.username == role + "1" and entry.target == "host:web1/web"
    assert "host web1 process web: restart web: running, pid 101" in entry.detail


@pytest.mark.parametrize("action,shown", [("start", "running, pid 101"), ("stop", "stopped"),
                                          ("restart", "running, pid 101"), ("nuke", "exited")])
def test_page_actions_show_their_result_and_are_audited(login, fleet, host, action, shown):
    from noops_console.models import AuditEntry

    part = login("operator").post("/hosts/web1/processes/web/%s" % action, HTTP_HX_REQUEST="true")
    text = part.content.decode()
    assert part.status_code == 200 and "%s web: %s" % (action, shown) in text
    assert '<p id="process-result" hx-swap-oob="true" class="result s-ok"' in text  # above the table, kept
    assert 'hx-get="/hosts/web1" hx-trigger="load"' in text  # then the table reads the host again
    assert AuditEntry.objects.filter(action="process.%s" % action, target="host:web1/web").count() == 1
    assert "process.%s" % action in text  # the host's actions, listed


def test_a_failed_action_shows_the_error(login, fleet, host):
    host.error = "web: no config /srv/web1/etc/supervisor/web.conf"
    page = login("operator").post("/hosts/web1/processes/web/start")
    assert page.status_code == 502 and b"start web: web1: Apply the action: web: no config" in page.content
    api = login("operator").post("/api/v1/hosts/web1/processes/web/start")
    assert api.status_code == 502 and "no config" in json.loads(api.content)["error"]


def test_page_actions_need_the_csrf_token(users, fleet, host):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users["operator"])
    assert client.post("/hosts/web1/processes/web/restart").status_code == 403
    assert host.specs == []


def test_api_actions_with_a_token(client, users, fleet, host):
    from noops_console import accounts

    token = accounts.add_token(users["operator"].username)
    answer = client.post("/api/v1/hosts/web1/processes/web/nuke", HTTP_AUTHORIZATION="Bearer " + token)
    assert answer.status_code == 200 and json.loads(answer.content)["actions"] == ["web:kill"]
    assert host.specs[0].extravars["action"] == "nuke"


def test_log_api_masks_and_bounds(login, fleet, host):
    client = login("viewer")
    data = json.loads(client.get("/api/v1/hosts/web1/processes/web/log?lines=2").content)
    assert data["lines"] == ["started", "login with password=******** ok"]
    assert host.specs[-1].extravars == {"query": TAG, "action": "status", "name": "web", "log_lines": 2}
    for bad in ("0", "201", "x"):
        answer = client.get("/api/v1/hosts/web1/processes/web/log?lines=" + bad)
        assert answer.status_code == 400 and b"lines: " in answer.content
    part = client.get("/hosts/web1/processes/web/log", HTTP_HX_REQUEST="true").content.decode()
    assert "password=********" in part and "hunter2x9" not in part  # the polling fallback


@pytest.mark.parametrize("before,now,new", [
    (None, ["a", "b"], ["a", "b"]),
    (["a", "b"], ["a", "b"], []),
    (["a", "b", "c"], ["b", "c", "d"], ["d"]),
    (["a", "b"], ["c", "d"], ["c", "d"]),          # moved on by more than a tail, or rotated
    (["x", "a"], ["a", "b", "c"], ["b", "c"]),
    ([], ["a"], ["a"]),
])
def test_new_lines(before, now, new):
    from noops_console.processes import new_lines

    assert new_lines(before, now) == new


def test_log_events_send_only_new_lines_escaped(rf):
    from noops_console import processes, views_processes

    tails = [["<b>one</b>", "two"], ["<b>one</b>", "two"], ["two", "three"]]
    reads = []

    def read(host, proc, lines):
        reads.append((host, proc, lines))
        return tails[min(len(reads), len(tails)) - 1], processes.Reading(host, 0.0, 0.1, [], [], None)

    request = rf.get("/hosts/web1/processes/web/log/stream")

    async def collect():
        return [e async for e in views_processes.log_events(request, "web1", "web", 3, interval=0.02, seconds=0.3,
                                                            read=read)]
    events = asyncio.run(asyncio.wait_for(collect(), 10))
    assert len(reads) >= 3 and set(reads) == {("web1", "web", 3)}
    lines = [e.decode() for e in events if e.startswith(b"event: line")]
    assert lines == ['event: line\ndata: <span class="line">&lt;b&gt;one&lt;/b&gt;</span>\n'
                     'data: <span class="line">two</span>\ndata: \n\n',
                     'event: line\ndata: <span class="line">three</span>\ndata: \n\n']
    assert events[0].startswith(b"event: read\nretry: 3000\n")  # the page reconnects after the stream ends
    assert events[-1].startswith(b": ")


def test_log_stream_is_an_event_stream_for_a_session(client, login, fleet, host):
    assert client.get("/hosts/web1/processes/web/log/stream").status_code == 302  # no session: the login form
    answer = login("viewer").get("/hosts/web1/processes/web/log/stream?lines=5")
    assert answer.status_code == 200 and answer["Content-Type"] == "text/event-stream"
    assert answer["Cache-Control"] == "no-store"
    page = login("viewer").get("/hosts/web1/processes/web/log").content.decode()
    assert 'sse-connect="/hosts/web1/processes/web/log/stream?lines=50"' in page and "hx-sse-2" in page


def test_sse_event_encoding():
    from noops_console import events as sse

    assert sse.event("a\nb", name="line") == b"event: line\ndata: a\ndata: b\n\n"
    assert sse.event("x", retry=3000) == b"retry: 3000\ndata: x\n\n"
    assert sse.comment("keep\nalive") == b": keep alive\n\n"


def test_a_secret_of_the_services_cluster_yml_is_masked_in_the_log_tail(login, fleet, host):
    """The program prints a template value bare (no ``password=`` before it): the console knows it from the
    clusters folder's cluster.yml (a secret-named key) and masks it in every line it shows."""
    (fleet / "clusters" / "web.yml").write_text(textwrap.dedent("""\
        cluster: {name: web, version: "1.2", env: production, jobs: [%s]}
        web: {path: /home/work/web, pkg_url: "https://pkgs.example.com/web.tgz", db_passwd: Bare-S3cret-77}
        """ % JOB))
    host.log = ["connecting with Bare-S3cret-77 now"]
    data = login("viewer").get("/api/v1/hosts/web1/processes/web/log?lines=5").json()
    assert data["lines"] == ["connecting with ******** now"], data
    page = login("viewer").get("/hosts/web1/processes/web/log?lines=5", HTTP_HX_REQUEST="true")
    assert b"Bare-S3cret-77" not in page.content and b"********" in page.content
