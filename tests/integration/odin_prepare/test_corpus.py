"""The corpus of cluster.yml files (cases/) with their expected problems (expected.yml), run twice:
through the pure function ``cluster.prepare`` and through the odin_prepare action in a real ansible-playbook
against the example service tree (examples/tree.noops.yml). Good files must pass with the expected hosts.

Generated per run, beside the checked-in files: the hello package as a tarball, the same made as
``tar -C hello .`` does, a tarball with a member escaping release/, one with a link in release/target/ to "..",
a file that is no tarball, and a loopback HTTP server publishing packages and checksums.
"""

import functools
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
HELLO = os.path.join(ROOT, "examples", "packages", "hello")
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
SECRET = "Hunter2-Secret"
sys.path.insert(0, os.path.join(ROOT, "collections"))

from ansible_collections.noops.platform.plugins.plugin_utils.odin.cluster import InventoryHost, prepare  # noqa: E402
from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package  # noqa: E402
from ansible_collections.noops.platform.plugins.plugin_utils.tree.tree import load_tree  # noqa: E402

with open(os.path.join(HERE, "expected.yml")) as _f:
    EXPECTED = yaml.safe_load(_f)
CASES = sorted(EXPECTED)


def test_every_case_file_has_an_expectation():
    files = sorted(f for f in os.listdir(os.path.join(HERE, "cases")) if f.endswith(".yml"))
    assert files == CASES
    assert sum(1 for c in EXPECTED.values() if c.get("problems")) >= 25


def _dot_root_tarball(path, src):
    """What ``tar -czf path -C src .`` writes: a "." root entry, then "./release/..."."""
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname=".")


def _up_link_tarball(path, src):
    """The package of ``src`` with release/target/up -> "..": inside release/, outside release/target/."""
    with tarfile.open(path, "w:gz") as tar:
        tar.add(os.path.join(src, "release"), arcname="release")
        info = tarfile.TarInfo("release/target/up")
        info.type, info.linkname = tarfile.SYMTYPE, ".."
        tar.addfile(info)


def _escaping_tarball(path):
    with tarfile.open(path, "w:gz") as tar:
        for name in ("release", "release/target", "release/deploy"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        data = b"owned\n"
        info = tarfile.TarInfo("release/../../evil.sh")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    work, pub = base / "cases", base / "pub"
    shutil.copytree(os.path.join(HERE, "cases"), work)
    shutil.copytree(os.path.join(HERE, "packages"), work / "packages")
    shutil.copytree(HELLO, work / "packages" / "hello")
    tarball = work / "packages" / "hello-1.0.tar.gz"
    build_package(HELLO, str(tarball), version="1.0")
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    _escaping_tarball(str(work / "packages" / "escape-1.0.tar.gz"))
    _dot_root_tarball(str(work / "packages" / "dotroot-1.0.tar.gz"), HELLO)
    _up_link_tarball(str(work / "packages" / "uplink-1.0.tar.gz"), HELLO)
    (work / "packages" / "garbage-1.0.tar.gz").write_bytes(b"this is not a tarball\n" * 10)
    pub.mkdir()
    shutil.copy(tarball, pub / "hello-1.0.tar.gz")
    (pub / "hello-1.0.tar.gz.sha256").write_text("%s  hello-1.0.tar.gz\n" % sha)
    shutil.copy(tarball, pub / "tampered-1.0.tar.gz")
    (pub / "tampered-1.0.tar.gz.sha256").write_text("%s  tampered-1.0.tar.gz\n" % ("ab" * 32))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(pub)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    http_base = "http://127.0.0.1:%d" % httpd.server_address[1]
    for case in work.glob("*.yml"):
        case.write_text(case.read_text().replace("{{HTTP}}", http_base).replace("{{HELLO_SHA256}}", sha))
    yield dict(dir=str(work), cache=str(base / "cache"), http=http_base, sha=sha)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def tree():
    with open(os.path.join(ROOT, "examples", "tree.yml")) as f:
        loaded = load_tree(yaml.safe_load(f), "tree.yml")
    layout = loaded.layout()
    groups = dict(layout.group_hosts, all=[m.name for m in loaded.machines])
    return [InventoryHost(m.name, m.address, m.raw_tags) for m in loaded.machines], groups


def check(case, problems, result, corpus):
    expected = EXPECTED[case]
    want = [w.replace("{{HTTP}}", corpus["http"]) for w in expected.get("problems", [])]
    text = "\n".join(problems)
    assert SECRET not in text
    assert len(problems) == len(want), text
    for substring in want:
        assert substring in text, "%s: %r not in\n%s" % (case, substring, text)
    if not want:
        assert result["hosts"] == expected["hosts"]
        assert result["thor"]["thor_values"]["db_passwd"] == SECRET
        assert result["cluster"]["dch"]["db_passwd"] == "********"
        if "version" in expected:
            assert result["version"] == expected["version"]
            assert result["thor"]["thor_version"] == expected["version"]
        for key, value in (expected.get("rollout") or {}).items():
            assert result["rollout"][key] == value, key
        assert os.path.isfile(result["package"]) and result["package"].startswith(corpus["cache"])


@pytest.mark.parametrize("case", CASES)
def test_prepare(corpus, tree, case):
    inventory, groups = tree
    path = os.path.join(corpus["dir"], case)
    prepared = prepare(path, inventory, groups, None, EXPECTED[case].get("limit"), source=case,
                       cache_dir=corpus["cache"])
    check(case, prepared.problems, prepared.result, corpus)


PLAYBOOK = """
- name: Check every cluster.yml of the corpus
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Prepare {{ item.file }}
      noops.platform.odin_prepare:
        cluster_file: "{{ corpus }}/{{ item.file }}"
        limit: "{{ item.limit | default(omit) }}"
        cache_dir: "{{ cache_dir }}"
      loop: "{{ cases }}"
      register: prepared
      ignore_errors: true

    - name: Keep the results for the test
      ansible.builtin.copy:
        content: "{{ prepared.results | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook not installed beside %s"
                    % sys.executable)
def test_corpus_through_ansible_playbook(corpus, tmp_path):
    book = tmp_path / "corpus.yml"
    book.write_text(PLAYBOOK)
    cases = [dict(file=c, **({"limit": EXPECTED[c]["limit"]} if "limit" in EXPECTED[c] else {})) for c in CASES]
    extra = dict(corpus=corpus["dir"], cache_dir=corpus["cache"], cases=cases, result_file=str(tmp_path / "r.json"))
    env = dict(os.environ, NOOPS_HISTORY_DSN=str(tmp_path / "history.db"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([PLAYBOOK_BIN, "-v", "-i", "examples/tree.noops.yml", str(book), "-e", json.dumps(extra)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    # The action marks a successful result (it holds the template values) so that no callback prints it.
    assert SECRET not in proc.stdout + proc.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert [r["item"]["file"] for r in results] == CASES
    for case, result in zip(CASES, results):
        # Messages name the file as the option gave it: the corpus path here.
        problems = [p.replace(corpus["dir"] + "/", "") for p in result.get("problems", [])]
        assert bool(result.get("failed")) == bool(EXPECTED[case].get("problems")), (case, result.get("msg"))
        if result.get("failed"):
            assert result["msg"] == "\n".join(result["problems"])
            assert "thor" not in result
        check(case, problems, result, corpus)


def test_example_hello_cluster(tmp_path):
    """examples/cluster/hello.yml (the demo's) passes against hosts tagged as the demo fleet's are."""
    tag = "cop.example_owt.ops_pdl.demo_service.hello_job.hello_loc.bj_idc.%s_status.service"
    inventory = [InventoryHost("demo-lg1", None, (tag % "lg",)), InventoryHost("demo-sd1", None, (tag % "sd",)),
                 InventoryHost("other", None, ("cop.example_service.zk_job.zk_status.service",))]
    prepared = prepare(os.path.join(ROOT, "examples", "cluster", "hello.yml"), inventory,
                       {"all": [h.name for h in inventory]}, cache_dir=str(tmp_path))
    assert prepared.problems == []
    assert (prepared.result["hosts"], prepared.result["version"]) == (["demo-lg1", "demo-sd1"], "1.0.0")
    assert prepared.result["thor"]["thor_values"] == {"port": 18080, "db_passwd": "hello-demo-not-a-secret"}


NOOPS_BIN = os.path.join(os.path.dirname(sys.executable), "noops")
AGREEMENT_CLUSTER = """\
cluster: {name: dch, version: "1.0", env: production, jobs: [%s]}
dch: {user: work, path: /home/work/passport-dch, pkg_url: "%s", port: 8080, db_passwd: %s}
"""


@pytest.mark.skipif(not os.path.exists(NOOPS_BIN), reason="the noops CLI is not installed beside %s" % sys.executable)
def test_package_lint_and_odin_prepare_agree_on_every_corpus_package(corpus, tree, tmp_path):
    """`noops package lint` and odin_prepare refuse the same packages for the same reasons; a package they accept
    unpacks on a host (release/target/ alone)."""
    from ansible_collections.noops.platform.plugins.module_utils.package_tar import PackageError, unpack_target

    inventory, groups = tree
    folder = os.path.join(corpus["dir"], "packages")
    packages = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    assert len(packages) >= 8
    job = "job.dch_service.dch_cluster.production-hh_pdl.account_owt.miliao_cop.xiaomi"
    for path in packages:
        proc = subprocess.run([NOOPS_BIN, "package", "lint", "--json", path], capture_output=True, text=True,
                              timeout=120, check=False)
        [report] = json.loads(proc.stdout)["packages"]
        lint = ["%s: %s" % (p["path"][len(path) + 1:] if p["path"].startswith(path + "/") else
                            os.path.basename(path),
                            "; ".join(line.strip() for line in p["message"].splitlines() if line.strip()))
                for p in report["problems"] if p["level"] == "ERROR"]
        cluster_file = tmp_path / "cluster.yml"
        cluster_file.write_text(AGREEMENT_CLUSTER % (job, path, SECRET))
        prepared = prepare(str(cluster_file), inventory, groups, None, None, source="cluster.yml",
                           cache_dir=corpus["cache"])
        refused = [p.split(": package lint: ", 1)[1] for p in prepared.problems if ": package lint: " in p]
        assert sorted(refused) == sorted(lint), path
        assert (proc.returncode == 0) == (not refused), (path, proc.stdout[-2000:])
        if not refused and os.path.isfile(path):
            dest = tmp_path / ("unpacked-" + os.path.basename(path))
            dest.mkdir()
            try:
                unpack_target(path, str(dest))
            except PackageError as e:
                pytest.fail("%s: lint accepts it, a host refuses it: %s" % (path, e))
