"""The thor role on a local fleet: several noops_root hosts on this machine, each with its own supervisor.

Deploy, redeploy (no change), upgrade, a broken release rolled back by the role itself, rollback to the
previous and to a named version, and a package whose tar escapes the release refused before any host change.
"""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tarfile
import tempfile
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(os.path.realpath(os.path.join(os.path.dirname(__import__("sys").executable), "python")))
VENV_BIN = os.path.dirname(__import__("sys").executable)
SECRET = "s3cret-Thor-7781"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backends():
    out = [pytest.param("supervisord", id="supervisord")]
    god = shutil.which("god")
    out.append(pytest.param("god", id="god", marks=pytest.mark.skipif(
        god is None, reason="god is not installed (Debian package ruby-god; ./dev test installs it as root)")))
    return out


def build(src: str, out: str, version: str) -> None:
    subprocess.run([os.path.join(VENV_BIN, "noops"), "package", "build", src, "-o", out, "--version", version],
                   check=True, capture_output=True, text=True)


@pytest.fixture(params=backends())
def fleet(request, tmp_path):
    backend = request.param
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    hello = os.path.join(ROOT, "examples", "packages", "hello")
    build(hello, str(pkgs / "hello-1.0.0.tar.gz"), "1.0.0")
    build(hello, str(pkgs / "hello-2.0.0.tar.gz"), "2.0.0")
    broken = tmp_path / "broken"
    shutil.copytree(hello, broken)
    run_sh = broken / "release" / "target" / "bin" / "run.sh"
    run_sh.write_text("#!/bin/sh\necho 'cannot start: broken build' >&2\nexit 3\n")
    build(str(broken), str(pkgs / "hello-3.0.0.tar.gz"), "3.0.0")
    hosts = {}
    # Short roots: a supervisord socket path must fit in AF_UNIX's 108 bytes.
    short = tempfile.mkdtemp(prefix="thor-", dir="/tmp")
    request.addfinalizer(lambda: shutil.rmtree(short, ignore_errors=True))
    for name in ("h1", "h2"):
        hosts[name] = {"noops_root": os.path.join(short, name), "hello_port": free_port()}
    inventory = {"all": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "noops_supervisor": backend, "hello_db_passwd": SECRET, "pkg_dir": str(pkgs),
        "supervisor_god_log_level": "info"}}}
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps(inventory))
    ctx = {"backend": backend, "tmp": tmp_path, "inventory": str(inv), "hosts": hosts, "pkgs": pkgs}
    yield ctx
    # Stop each host's supervisor instance (and with it the service).
    stop = tmp_path / "stop.yml"
    stop.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n"
                    "        name: noops.platform.supervisor\n        tasks_from: stop\n")
    playbook(ctx, str(stop), check=False)


def playbook(ctx, path, check=True, **extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               NOOPS_STAGING=str(ctx["tmp"] / "staging"), PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), "-i", ctx["inventory"], path]
    for k, v in extra.items():
        cmd += ["-e", "%s=%s" % (k, v)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError("ansible-playbook failed (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout[-6000:], proc.stderr[-3000:]))
    return proc


def recap(output: str) -> dict:
    return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M)}


def served(host) -> dict:
    with urllib.request.urlopen("http://127.0.0.1:%d/" % host["hello_port"], timeout=5) as r:
        return json.load(r)


def host_path(host, *parts):
    return os.path.join(host["noops_root"], *[p.lstrip("/") for p in parts])


def tree_of(root: str) -> dict:
    out = {}
    for d, dirs, files in os.walk(root):
        for f in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            full = os.path.join(d, f)
            st = os.lstat(full)
            out[os.path.relpath(full, root)] = (stat.S_IFMT(st.st_mode), os.readlink(full) if os.path.islink(full) else st.st_size)
    return out


def test_deploy_upgrade_recover_rollback(fleet):
    deploy = os.path.join(HERE, "deploy.yml")
    rollback = os.path.join(HERE, "rollback.yml")

    first = playbook(fleet, deploy, pkg_version="1.0.0")
    assert all(r["failed"] == 0 and r["changed"] > 0 for r in recap(first.stdout).values())
    for host in fleet["hosts"].values():
        link = host_path(host, "/home/work/hello")
        assert os.readlink(link) == ".releases/hello/1.0.0"
        assert os.path.isdir(host_path(host, "/data/hello/log")) and os.path.isdir(host_path(host, "/data/hello/dict"))
        conf = host_path(host, "/home/work/hello/conf/hello.conf")
        assert stat.S_IMODE(os.stat(conf).st_mode) & 0o037 == 0, "a file holding a secret must be 0640 or stricter"
        assert served(host)["version"] == "1.0.0"
    assert SECRET not in first.stdout + first.stderr

    again = playbook(fleet, deploy, pkg_version="1.0.0")
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in recap(again.stdout).values()), again.stdout[-3000:]

    playbook(fleet, deploy, pkg_version="2.0.0")
    assert all(served(h)["version"] == "2.0.0" for h in fleet["hosts"].values())

    broken = playbook(fleet, deploy, check=False, pkg_version="3.0.0")
    assert broken.returncode != 0
    assert "thor: deploy of hello 3.0.0 failed at" in broken.stdout
    assert "switched back to 2.0.0 and restarted it" in broken.stdout
    for host in fleet["hosts"].values():
        assert served(host)["version"] == "2.0.0"
        assert os.readlink(host_path(host, "/home/work/hello")) == ".releases/hello/2.0.0"
        assert not os.path.exists(host_path(host, "/home/work/.releases/hello/3.0.0"))

    playbook(fleet, rollback)
    assert all(served(h)["version"] == "1.0.0" for h in fleet["hosts"].values())

    playbook(fleet, rollback, thor_rollback_version="2.0.0")
    assert all(served(h)["version"] == "2.0.0" for h in fleet["hosts"].values())

    missing = playbook(fleet, rollback, check=False, thor_rollback_version="9.9")
    assert missing.returncode != 0 and "has no complete release of version 9.9" in missing.stdout


def test_escaping_package_changes_no_host(fleet, tmp_path):
    deploy = os.path.join(HERE, "deploy.yml")
    playbook(fleet, deploy, pkg_version="1.0.0")
    before = {n: tree_of(h["noops_root"]) for n, h in fleet["hosts"].items()}
    evil = fleet["pkgs"] / "hello-6.6.6.tar.gz"
    with tarfile.open(fleet["pkgs"] / "hello-1.0.0.tar.gz") as good, tarfile.open(evil, "w:gz") as bad:
        for member in good.getmembers():
            bad.addfile(member, good.extractfile(member) if member.isfile() else None)
        escape = tarfile.TarInfo("release/target/../../../../etc/owned")
        escape.size = 0
        bad.addfile(escape)
    proc = playbook(fleet, deploy, check=False, pkg_version="6.6.6")
    assert proc.returncode != 0
    assert "etc/owned" in proc.stdout
    after = {n: tree_of(h["noops_root"]) for n, h in fleet["hosts"].items()}
    for name in before:
        changed = {k for k in set(before[name]) | set(after[name]) if before[name].get(k) != after[name].get(k)
                   and "/log/" not in "/" + k and "/run/" not in "/" + k and not k.startswith("var/")}
        assert not changed, "host %s changed: %s" % (name, sorted(changed))
    assert all(served(h)["version"] == "1.0.0" for h in fleet["hosts"].values())


def release_dirs(host) -> dict:
    """Release folder name -> its marker's version (None for an incomplete folder)."""
    base = host_path(host, "/home/work/.releases/hello")
    out = {}
    for name in sorted(os.listdir(base)):
        full = os.path.join(base, name)
        if name.startswith(".") or not os.path.isdir(full):
            continue
        try:
            with open(os.path.join(full, ".noops-release.json")) as f:
                out[name] = json.load(f)["version"]
        except OSError:
            out[name] = None
    return out


def test_failed_redeploy_of_the_previous_version_keeps_it_for_the_rollback(fleet, tmp_path):
    """v1, v2, then v1 again failing before the switch (a hook, then a bad config): the complete v1 that was on the
    host stays, untouched, and the rollback that follows goes back to it."""
    deploy = os.path.join(HERE, "deploy.yml")
    rollback = os.path.join(HERE, "rollback.yml")
    playbook(fleet, deploy, pkg_version="1.0.0")
    playbook(fleet, deploy, pkg_version="2.0.0")
    v1_before = {n: tree_of(host_path(h, "/home/work/.releases/hello/1.0.0")) for n, h in fleet["hosts"].items()}
    assert all(release_dirs(h) == {"1.0.0": "1.0.0", "2.0.0": "2.0.0"} for h in fleet["hosts"].values())

    hook = tmp_path / "refuse.yml"
    hook.write_text("- name: Refuse the switch\n  ansible.builtin.fail:\n    msg: the hook refuses\n")
    failures = {
        "hook": playbook(fleet, deploy, check=False, pkg_version="1.0.0", thor_before_switch_tasks_file=str(hook)),
        "config": playbook(fleet, deploy, check=False, pkg_version="1.0.0", thor_env="no-such-env"),
    }
    for why, proc in failures.items():
        assert proc.returncode != 0, why
        assert "thor: deploy of hello 1.0.0 failed at" in proc.stdout, (why, proc.stdout[-3000:])
        assert "the host still runs 2.0.0" in proc.stdout, why
    assert "the hook refuses" in failures["hook"].stdout
    assert "env 'no-such-env' has no section" in failures["config"].stdout
    for name, host in fleet["hosts"].items():
        assert served(host)["version"] == "2.0.0"
        assert release_dirs(host) == {"1.0.0": "1.0.0", "2.0.0": "2.0.0"}, "only the failed copies are gone"
        assert tree_of(host_path(host, "/home/work/.releases/hello/1.0.0")) == v1_before[name]

    playbook(fleet, rollback)
    for host in fleet["hosts"].values():
        assert served(host)["version"] == "1.0.0"
        assert os.readlink(host_path(host, "/home/work/hello")) == ".releases/hello/1.0.0"

    # A task's name is templated once for all hosts: it names no host's folder.
    task_lines = [line for proc in failures.values() for line in proc.stdout.splitlines() if line.startswith("TASK [")]
    assert task_lines
    for host in fleet["hosts"].values():
        assert not [line for line in task_lines if host["noops_root"] in line]


def test_a_failing_hook_says_what_failed(fleet, tmp_path):
    """A hook's command fails: the report names the step, the command, its exit status and its last stderr lines,
    with the deploy's secret masked; the host keeps no half release."""
    if fleet["backend"] != "supervisord":
        pytest.skip("the hook does not depend on the supervisor; run once")
    hook = tmp_path / "before_switch.yml"
    hook.write_text(
        "- name: Migrate the database\n"
        "  ansible.builtin.command: >-\n"
        "    sh -c 'echo connecting; echo \"migration 7 failed for {{ thor_values.db_passwd }}\" >&2; exit 4'\n"
        "  changed_when: true\n")
    proc = playbook(fleet, os.path.join(HERE, "deploy.yml"), check=False, pkg_version="1.0.0",
                    thor_before_switch_tasks_file=str(hook))
    assert proc.returncode != 0
    reports = [line for line in proc.stdout.splitlines() if "thor: deploy of hello 1.0.0 failed at" in line]
    assert reports, proc.stdout[-4000:]
    for report in reports:
        assert "Migrate the database: non-zero return code; command: sh -c" in report, report
        assert "exit status 4; stderr: migration 7 failed for ********" in report, report
        assert SECRET not in report
    for host in fleet["hosts"].values():
        assert not os.path.exists(host_path(host, "/home/work/hello"))
