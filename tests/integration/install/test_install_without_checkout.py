"""The noops command without a checkout: the Python package from a built wheel, the collection from its built tarball.

A fresh venv gets the wheel (``pip install``, dependencies from PyPI) and a temporary collections path gets the
collection (``ansible-galaxy collection install``); from an empty folder outside the repository, with no
ANSIBLE_CONFIG and a HOME of its own, ``noops demo`` runs end to end, ``noops tasks list`` shows its runs and
``noops console`` serves its pages. The collection is found where Ansible looks for collections; when it is
nowhere, one line says what to run. The built tarball holds what users need and none of the development files.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

import pytest
import yaml

from servers import running_console

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.dirname(sys.executable)

pytestmark = pytest.mark.slow

with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as _f:
    GALAXY = yaml.safe_load(_f)
TARBALL = "%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])


def _run(cmd, **kw):
    kw.setdefault("timeout", 900)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _ok(proc):
    assert proc.returncode == 0, "%s\n%s\n%s" % (proc.args, proc.stdout[-6000:], proc.stderr[-4000:])
    return proc


@pytest.fixture(scope="module")
def tarball():
    out = tempfile.mkdtemp(prefix="noops-coll-")
    _ok(_run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", ROOT, "--output-path", out, "--force"]))
    yield os.path.join(out, TARBALL)
    shutil.rmtree(out, ignore_errors=True)


def _members(path):
    with tarfile.open(path) as tar:
        return [m.name for m in tar.getmembers()]


def test_the_collection_tarball_holds_what_users_need_and_no_development_files(tarball):
    names = _members(tarball)
    top = {n.split("/", 1)[0] for n in names}
    for needed in ("MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md", "meta", "plugins", "roles",
                   "playbooks", "docs", "examples", "ansible.cfg"):
        assert needed in top, "%s is not in %s" % (needed, TARBALL)
    for playbook in ("deploy.yml", "rollback.yml", "control.yml"):
        assert "playbooks/" + playbook in names
    assert "meta/runtime.yml" in names
    assert any(n.startswith("examples/packages/hello/") for n in names)
    for left_out in ("tests", ".ci", "dev", "molecule", "bench", "noops_cli", "noops_console", ".venv", "collections",
                     "pyproject.toml", "build", "dist", ".git", ".gitignore", ".ansible-lint", ".pytest_cache"):
        assert left_out not in top, "%s should not be in %s" % (left_out, TARBALL)
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".egg-info"))]


@pytest.fixture(scope="module")
def fresh(tarball):
    """A venv with the wheel (and the console extra) installed, HOME and an empty working folder of its own."""
    # Short: the demo hosts' supervisord sockets live below this folder (AF_UNIX paths are at most 107 bytes).
    base = tempfile.mkdtemp(prefix="ni-", dir="/tmp")
    wheels = os.path.join(base, "wheels")
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, ROOT]))
    wheel = [os.path.join(wheels, n) for n in os.listdir(wheels) if n.endswith(".whl")][0]
    venv = os.path.join(base, "venv")
    # The interpreter this venv was made from, not this venv: nothing of the checkout's venv comes along.
    _ok(_run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", venv]))
    home = os.path.join(base, "home")
    work = os.path.join(base, "work")
    os.makedirs(home)
    os.makedirs(work)
    checkout_bin = os.path.realpath(BIN)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "NOOPS_", "PYTHON", "VIRTUAL_ENV", "XDG_"))}
    env.update(HOME=home, PATH=os.pathsep.join([os.path.join(venv, "bin")] + [
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and os.path.realpath(p) != checkout_bin]),
               # pip's cache of this machine (the demo's supervisor venv, the wheel's dependencies)
               PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "pip"))
    proc = _run([os.path.join(venv, "bin", "pip"), "install", "-q", wheel + "[console]"], env=env, cwd=work,
                timeout=1800)
    if proc.returncode != 0 and "No matching distribution found" in proc.stdout + proc.stderr:
        pytest.skip("PyPI is not reachable for the package's dependencies")
    _ok(proc)
    ctx = {"base": base, "venv": venv, "home": home, "work": work, "env": env, "tarball": tarball}
    yield ctx
    demo_dir = os.path.join(base, "demo")
    if os.path.isdir(demo_dir) and "colls" in ctx:
        _run([os.path.join(venv, "bin", "noops"), "demo", "--dir", demo_dir, "--clean"], env=ctx["run_env"],
             cwd=work, timeout=300)
    shutil.rmtree(base, ignore_errors=True)


def _galaxy_install(ctx, env, *args):
    return _ok(_run([os.path.join(ctx["venv"], "bin", "ansible-galaxy"), "collection", "install", ctx["tarball"],
                     *args], env=env, cwd=ctx["work"]))


def _where(ctx, env, cwd):
    """(noops_cli's file, the collection root the noops command uses, sys.path) of the fresh venv's Python."""
    proc = _ok(_run([os.path.join(ctx["venv"], "bin", "python"), "-c",
                     "import json, sys, noops_cli; print(json.dumps([noops_cli.__file__, noops_cli.COLLECTION_ROOT,"
                     " sys.path]))"], env=env, cwd=cwd))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_demo_tasks_and_console_run_from_an_empty_folder(fresh):
    ctx = fresh
    colls = os.path.join(ctx["base"], "colls")
    _galaxy_install(ctx, ctx["env"], "-p", colls)
    env = dict(ctx["env"], ANSIBLE_COLLECTIONS_PATH=colls)
    ctx["colls"], ctx["run_env"] = colls, env
    noops = os.path.join(ctx["venv"], "bin", "noops")

    module, root, path = _where(ctx, env, ctx["work"])
    assert module.startswith(os.path.join(ctx["venv"], "lib")), module
    assert os.path.realpath(root) == os.path.realpath(os.path.join(colls, "ansible_collections", "noops", "platform"))
    assert not [p for p in path if p and os.path.realpath(p).startswith(os.path.realpath(ROOT) + os.sep)], path

    demo = _run([noops, "demo", "--dir", os.path.join(ctx["base"], "demo"), "--hosts", "2", "--plain",
                 "--pause-seconds", "1"], env=env, cwd=ctx["work"], timeout=2400)
    assert demo.returncode == 0, demo.stdout[-8000:] + demo.stderr[-4000:]
    for step in ("==> 3. Deploy hello 1.0.0 to 2 hosts", "==> 4. The processes of every host",
                 "==> 5. Deploy hello 2.0.0 to all 2 hosts at once", "==> 6. Roll back to 1.0.0", "Where to look next"):
        assert step in demo.stdout
    assert re.search(r"paused: run `noops tasks resume \d+`", demo.stdout)

    listed = _ok(_run([noops, "tasks", "list"], env=env, cwd=ctx["work"]))
    for playbook in ("deploy.yml", "control.yml", "rollback.yml"):
        assert playbook in listed.stdout, listed.stdout
    assert "failed" not in listed.stdout

    # The console's templates and static files come with the package.
    with running_console(["--db", os.path.join(ctx["base"], "console.db")], env, cwd=ctx["work"],
                         command=[noops]) as run:
        pages = {}
        for page in ("login", "static/console/console.css"):
            with urllib.request.urlopen("%s/%s" % (run["url"], page), timeout=5) as r:
                pages[page] = (r.status, r.read().decode())
        assert pages["login"][0] == 200 and "<form" in pages["login"][1]
        assert pages["static/console/console.css"][0] == 200 and pages["static/console/console.css"][1].strip()


def _cfg(folder, colls):
    path = os.path.join(folder, "ansible.cfg")
    with open(path, "w", encoding="utf-8") as f:
        f.write("[defaults]\ncollections_path = %s\n" % colls)
    return path


# How the collection was installed and how Ansible is told where: (install args, env, ansible.cfg in the working
# folder) -> the collection root the noops command finds, relative to the case's folder ("" = not found).
WHERE = [
    ("-p DIR, ANSIBLE_COLLECTIONS_PATH=DIR", ["-p", "{case}/c1"], {"ANSIBLE_COLLECTIONS_PATH": "{case}/c1"}, None,
     "c1"),
    ("default path (~/.ansible/collections)", [], {}, None, "home/.ansible/collections"),
    ("ansible.cfg in the working folder", ["-p", "{case}/work/c2"], {}, "./c2", "work/c2"),
    ("ANSIBLE_CONFIG", ["-p", "{case}/c3"], {"ANSIBLE_CONFIG": "{case}/cfg/ansible.cfg"}, "{case}/c3", "c3"),
    ("not installed", None, {"ANSIBLE_COLLECTIONS_PATH": "{case}/nothing"}, None, ""),
]


@pytest.mark.parametrize("install, env, cfg, found", [w[1:] for w in WHERE], ids=[w[0] for w in WHERE])
def test_the_collection_is_found_where_ansible_looks(fresh, install, env, cfg, found):
    ctx = fresh
    case = tempfile.mkdtemp(dir=ctx["base"])
    for sub in ("home", "work", "cfg", "nothing"):
        os.makedirs(os.path.join(case, sub))
    run_env = dict(ctx["env"], HOME=os.path.join(case, "home"))
    run_env.update({k: v.format(case=case) for k, v in env.items()})
    cwd = os.path.join(case, "work")
    if cfg:
        _cfg(os.path.join(case, "cfg") if "ANSIBLE_CONFIG" in env else cwd, cfg.format(case=case))
    if install is not None:
        _galaxy_install(ctx, run_env, *[a.format(case=case) for a in install])
    noops = os.path.join(ctx["venv"], "bin", "noops")
    shown = _run([noops, "tree", "show"], env=run_env, cwd=cwd)
    if found:
        _ok(shown)
        expected = os.path.join(case, found, "ansible_collections", "noops", "platform")
        # the example service tree shipped with the collection
        assert shown.stdout.startswith(os.path.join(expected, "examples", "tree.yml") + "  36 machines"), shown.stdout
        assert os.path.realpath(_where(ctx, run_env, cwd)[1]) == os.path.realpath(expected)
    else:
        assert shown.returncode == 2, shown.stdout + shown.stderr
        lines = shown.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("noops: "), shown.stderr
        assert "ansible-galaxy collection install" in lines[0] and "noops.platform" in lines[0], lines[0]
