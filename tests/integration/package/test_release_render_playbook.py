"""noops.platform.release_render through a real ansible-playbook run on localhost (connection local)."""

import json
import os
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HELLO = os.path.join(ROOT, "examples", "packages", "hello")
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
SECRET = "Db-Pa55-never-shown"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook not installed beside %s"
                       % sys.executable),
]

PLAYBOOK = """
- name: Render and place the hello package
  hosts: localhost
  gather_facts: false
  vars:
    hello_values:
      name: hello
      user: work
      path: "{{ host_root }}/home/work/hello"
      version: "{{ version }}"
      job: job.hello_service.hello_cluster.production-lg
      data_path: "{{ host_root }}/data/hello"
      port: 18080
      db_passwd: "%(secret)s"
    release_path: "{{ host_root }}/home/work/.releases/hello/{{ version }}"
  tasks:
    - name: Render the config on the controller
      noops.platform.release_render:
        package: "{{ package }}"
        env: "{{ env }}"
        values: "{{ hello_values }}"
        release_path: "{{ release_path }}"
        staging_dir: "{{ staging }}/{{ inventory_hostname }}"
      register: rendered

    - name: Create the folders
      ansible.builtin.file:
        path: "{{ item.dest | dirname }}"
        state: directory
        mode: "0755"
      loop: "{{ rendered.files }}"
      loop_control:
        label: "{{ item.dest }}"

    - name: Copy the rendered files to their places
      ansible.builtin.copy:
        src: "{{ item.src }}"
        dest: "{{ item.dest }}"
        mode: "{{ item.mode }}"
      loop: "{{ rendered.files }}"
      loop_control:
        label: "{{ item.dest }}"

    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ rendered | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
""" % {"secret": SECRET}


def run_playbook(tmp_path, package, env="production", version="1.0", extra=()):
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                         "      ansible_python_interpreter: %s\n" % sys.executable)
    argv = [PLAYBOOK_BIN, "-v", "-i", str(inventory), str(book), "-e", "package=%s" % package, "-e", "env=%s" % env,
            "-e", "version=%s" % version, "-e", "host_root=%s" % (tmp_path / "host"),
            "-e", "staging=%s" % (tmp_path / "staging"), "-e", "result_file=%s" % (tmp_path / "result.json")]
    # cwd is the checkout, so ansible.cfg there resolves noops.platform.* through collections/.
    return subprocess.run(argv + list(extra), cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    sys.path.insert(0, os.path.join(ROOT, "collections"))
    from ansible_collections.noops.platform.plugins.plugin_utils.package import build_package
    out = str(tmp_path_factory.mktemp("pkg") / "hello-1.0.tar.gz")
    build_package(HELLO, out, version="1.0")
    return out


@pytest.mark.parametrize("source", ["folder", "tarball"])
def test_render_and_place(tmp_path, tarball, source):
    package = HELLO if source == "folder" else tarball
    proc = run_playbook(tmp_path, package)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert SECRET not in json.dumps(result)
    release = str(tmp_path / "host/home/work/.releases/hello/1.0")
    assert [(f["entry"], f["dest"], f["mode"], f["type"], f["secret"], f["in_release"]) for f in result["files"]] == [
        ("hello", release + "/conf/hello.conf", "0640", "file", True, True),
        ("monitor", release + "/conf/mon.conf", "0644", "mon", False, True),
    ]
    assert result["changed"] is False
    assert result["config"]["db_password"] == "<secret>" and result["config"]["port"] == 18080
    assert result["secret_keys"] == ["db_dsn", "db_password"]
    for item in result["files"]:
        staged = os.stat(item["src"])
        assert item["src"].startswith(str(tmp_path / "staging" / "localhost"))
        assert stat.S_IMODE(staged.st_mode) == 0o600        # controller copies are owner-only
        assert stat.S_IMODE(os.stat(item["dest"]).st_mode) == int(item["mode"], 8)
    conf = (tmp_path / "host/home/work/.releases/hello/1.0/conf/hello.conf").read_text()
    assert "password = %s" % SECRET in conf
    assert "dsn = mysql://hello:%s@db-production.example.com:3306/hello" % SECRET in conf
    assert "log_file = %s/host/data/hello/log/hello.log" % tmp_path in conf
    mon = (tmp_path / "host/home/work/.releases/hello/1.0/conf/mon.conf").read_text()
    assert mon == ("service = hello\ntag = job.hello_service.hello_cluster.production-lg\n"
                   "url = http://127.0.0.1:18080/health\nnotify = ops@example.com\n")


def test_check_mode_renders_but_changes_no_host(tmp_path):
    proc = run_playbook(tmp_path, HELLO, extra=["--check"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list((tmp_path / "staging" / "localhost").rglob("hello.conf"))
    assert not (tmp_path / "host").exists()


@pytest.mark.parametrize("env, package, message", [
    ("qa", HELLO, "release/deploy/config.template.yml: env 'qa' has no section (sections: production, staging)"),
    ("production", "/nonexistent/pkg.tar.gz", "package /nonexistent/pkg.tar.gz: no such folder or tarball on the "
                                              "controller"),
])
def test_failures_name_the_cause(tmp_path, env, package, message):
    proc = run_playbook(tmp_path, package, env=env)
    assert proc.returncode == 2
    assert message in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr


def test_error_messages_never_carry_secret_values(tmp_path):
    import shutil
    package = str(tmp_path / "leaky")
    shutil.copytree(HELLO, package)
    init = os.path.join(package, "release/deploy/init.yml")
    with open(init) as f:
        text = f.read()
    # A relative name that embeds the password: the error must name the entry without showing the value.
    with open(init, "w") as f:
        f.write(text.replace("name: ${basedir}/conf/hello.conf", "name: conf-${db_password}.conf"))
    proc = run_playbook(tmp_path, package)
    assert proc.returncode == 2
    assert "entry 'hello': name 'conf-${db_password}.conf' resolves to 'conf-********.conf', not an absolute " \
           "path" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr
