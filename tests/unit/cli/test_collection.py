"""Where the noops command finds the noops.platform collection: the checkout it runs from, else the first
``ansible_collections/noops/platform`` on Ansible's collection search path; nowhere is one line saying what to run."""

import os
import subprocess
import sys

import pytest

import noops_cli
from noops_cli import collection

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _install(base, marker="MANIFEST.json"):
    root = os.path.join(base, "ansible_collections", "noops", "platform")
    os.makedirs(os.path.join(root, "playbooks"))
    with open(os.path.join(root, marker), "w") as f:
        f.write("{}")
    with open(os.path.join(root, "playbooks", "deploy.yml"), "w") as f:
        f.write("---\n")
    return root


def test_a_checkout_uses_its_own_collection():
    assert noops_cli.LOCATION == collection.Location(ROOT, os.path.join(ROOT, "collections"), True)
    assert noops_cli.COLLECTION_ROOT == ROOT and noops_cli.LOCATE_ERROR is None
    assert os.path.join(ROOT, "collections") in sys.path


def test_an_installed_package_is_no_checkout(tmp_path):
    site = tmp_path / "site-packages"
    (site / "noops_cli").mkdir(parents=True)
    assert collection.checkout(str(site / "noops_cli")) is None


# (collections installed below tmp_path, the search path, the collection found: its folder below tmp_path or None)
SEARCHES = [
    (["a"], ["a"], "a"),
    (["a"], ["a/ansible_collections"], "a"),           # Ansible also takes the ansible_collections folder itself
    (["a", "b"], ["missing", "b", "a"], "b"),          # the first on the path wins
    (["a:galaxy.yml"], ["a"], "a"),                    # a source tree (galaxy.yml) as well as a built one
    (["a:README.md"], ["a"], None),                    # a folder that is no collection
    ([], ["a", "b"], None),
]


@pytest.mark.parametrize("installs, paths, found", SEARCHES)
def test_the_first_collection_on_the_search_path(tmp_path, installs, paths, found):
    for spec in installs:
        where, _, marker = spec.partition(":")
        _install(str(tmp_path / where), marker or "MANIFEST.json")
    location = collection.installed([str(tmp_path / p) for p in paths])
    if found is None:
        assert location is None
    else:
        assert location == collection.Location(str(tmp_path / found / "ansible_collections" / "noops" / "platform"),
                                               str(tmp_path / found), False)


def test_playbooks_run_by_fqcn(tmp_path):
    location = collection.Location(_install(str(tmp_path)), str(tmp_path), False)
    assert collection.playbook(location, "deploy.yml") == "noops.platform.deploy"
    with pytest.raises(collection.CollectionNotFound, match=r"no playbook control\.yml in the noops\.platform "):
        collection.playbook(location, "control.yml")


def test_the_run_finds_the_same_collection_first(tmp_path):
    location = collection.Location(str(tmp_path / "c" / "ansible_collections" / "noops" / "platform"),
                                   str(tmp_path / "c"), False)
    env = {"ANSIBLE_COLLECTIONS_PATH": os.pathsep.join(["/other", str(tmp_path / "c")])}
    assert collection.ansible_collections_path(location, env) == os.pathsep.join([str(tmp_path / "c"), "/other"])
    assert collection.ansible_collections_path(location, {}) == str(tmp_path / "c")


def test_search_path_follows_ansible_configuration(tmp_path, monkeypatch):
    # A fresh interpreter: ansible.constants reads its configuration once per process.
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[defaults]\ncollections_path = ./mine:/usr/share/x\ncollections_scan_sys_path = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    code = "from noops_cli import collection; print(collection.search_paths())"
    out = subprocess.run([sys.executable, "-c", code], env=dict(env, ANSIBLE_CONFIG=str(cfg)), capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout.strip().splitlines()[-1]
    assert out == repr(([str(tmp_path / "mine"), "/usr/share/x"], False))
    out = subprocess.run([sys.executable, "-c", code], env=dict(env, ANSIBLE_CONFIG=str(cfg),
                                                               ANSIBLE_COLLECTIONS_PATH="/e1:/e2"),
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip().splitlines()[-1]
    assert out == repr((["/e1", "/e2"], False))


def test_not_installed_is_one_line_saying_what_to_run(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(collection, "checkout", lambda package_dir=None: None)
    monkeypatch.setattr(collection, "search_paths", lambda: ([str(tmp_path / "x"), str(tmp_path / "y")], True))
    monkeypatch.setattr(sys, "path", [str(tmp_path / "z")])
    with pytest.raises(collection.CollectionNotFound) as e:
        collection.locate()
    message = str(e.value)
    assert "\n" not in message
    assert "noops.platform collection is not installed where Ansible looks (%s:%s, then sys.path)" % (
        tmp_path / "x", tmp_path / "y") in message
    assert "ansible-galaxy collection install noops-platform-<version>.tar.gz" in message
    monkeypatch.setattr(noops_cli, "LOCATE_ERROR", e.value)
    import noops_cli.main as cli

    assert cli.main(["tasks", "list"]) == 2
    assert capsys.readouterr().err == "noops: %s\n" % message
