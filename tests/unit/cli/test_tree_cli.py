"""``noops tree``: every command on temporary copies of the example tree, output and exit status as tables."""

import difflib
import json
import os
import re
import shutil

import pytest

import noops_cli
from noops_cli.main import main

EXAMPLE = os.path.join(noops_cli.COLLECTION_ROOT, "examples", "tree.yml")
ZK_LG = "cop.xiaomi_owt.miliao_pdl.infra_service.zk_cluster.production-lg_job.zk_loc.bj_idc.lg_status.service"
MACHINE_KEY = re.compile(r"  (\S+):$")


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A private copy of the example tree, made the default source through NOOPS_TREE."""
    path = tmp_path / "tree.yml"
    shutil.copy(EXAMPLE, path)
    os.chmod(path, 0o640)
    monkeypatch.setenv("NOOPS_TREE", str(path))
    return path


def run(capsys, *argv):
    status = main(["tree", *argv])
    out, err = capsys.readouterr()
    return status, out, err


# --- query ----------------------------------------------------------------------------------------------------------

QUERIES = [
    (["service.zk_idc.lg"], 0, "lg-zk01.bj\nlg-zk02.bj\nlg-zk03.bj\n"),
    (["service.zk_idc.lg", "--json"], 0, '["lg-zk01.bj", "lg-zk02.bj", "lg-zk03.bj"]\n'),
    (["service.dch,!status.offline"], 0, "".join("%s-acc-dch0%d.bj\n" % (i, n) for i in ("lg", "sd") for n in (1, 2, 3))
     + "hh-acc-dch01.bj\nhh-acc-dch02.bj\n"),
    (["cluster.staging"], 0, "sd-mc-fe01.bj\n"),                        # a machine with two tags appears once
    (["service.calendar,&idc.sd"], 0, "sd-mc-fe01.bj\n"),
    (["job.xmq-micloud-cell0[13]_idc.hh"], 0, "hh-im-xmq01.bj\nhh-im-xmq03.bj\n"),
    (["service.nothing"], 1, ""),
    (["service.nothing", "--json"], 1, "[]\n"),
]


@pytest.mark.parametrize("argv, status, stdout", QUERIES)
def test_query(tree, capsys, argv, status, stdout):
    got = run(capsys, "query", *argv)
    assert got[:2] == (status, stdout)
    assert ("no machine matches" in got[2]) == (status == 1)


def test_query_json_is_a_list(tree, capsys):
    status, out, _ = run(capsys, "query", "status.service", "--json")
    names = json.loads(out)
    assert status == 0 and isinstance(names, list) and len(names) == 34 and "hh-acc-dch03.bj" not in names


# --- show -----------------------------------------------------------------------------------------------------------

SHOWS = [
    ([], ["36 machines", "cop.xiaomi  36", "pdl.account  13", "service.dch  9", "cluster.production-lg  4",
          "service.zk  9", "cluster.staging  1"], ["lg-zk01.bj"]),
    (["service.zk"], ["service.zk: 9 of 36 machines", "cop.xiaomi  9", "pdl.infra  9",
                      "cluster.production-sd  3"], ["pdl.account", "lg-zk01.bj"]),
    (["service.zk_idc.lg", "--machines"], ["3 of 36 machines", "cluster.production-lg  3", "lg-zk01.bj",
                                           "lg-zk03.bj"], ["sd-zk01.bj", "production-sd"]),
    (["service.nothing"], ["0 of 36 machines"], ["cop.xiaomi"]),
]


@pytest.mark.parametrize("argv, present, absent", SHOWS)
def test_show(tree, capsys, argv, present, absent):
    status, out, err = run(capsys, "show", *argv)
    assert status == 0 and err == ""
    for text in present:
        assert text in out
    for text in absent:
        assert text not in out


def test_show_nests_cop_owt_pdl_service_cluster(tree, capsys):
    _, out, _ = run(capsys, "show")
    depth = {}
    for line in out.splitlines()[1:]:
        label = re.search(r"([a-z]+)\.", line)
        depth.setdefault(label.group(1), set()).add(label.start())
    columns = [depth[key] for key in ("cop", "owt", "pdl", "service", "cluster")]
    assert all(len(c) == 1 for c in columns)                       # each key at one depth
    assert [min(c) for c in columns] == sorted(min(c) for c in columns)


# --- validate -------------------------------------------------------------------------------------------------------

def test_validate_example(tree, capsys):
    assert run(capsys, "validate", str(tree)) == (0, "%s: 36 machines, 21 tags, 57 groups\n" % tree, "")


def test_validate_defaults_to_source(tree, capsys, tmp_path):
    small = tmp_path / "small.yml"
    small.write_text("machines:\n  a: {tags: [cop.x_service.y]}\n  b: {tags: [cop.x_service.z, idc.lg]}\n")
    assert run(capsys, "validate")[1] == "%s: 36 machines, 21 tags, 57 groups\n" % tree
    # pair groups cop_x, service_y, service_z, idc_lg; the tree path stops at the missing owt, so only cop_x again
    assert run(capsys, "validate", "--source", str(small))[1] == "%s: 2 machines, 3 tags, 4 groups\n" % small


BROKEN = [
    ("machines:\n  a: {address: 1.2.3.4}\n", "machine a: field 'tags' must be a non-empty list"),
    ("machines:\n  a: {tags: [cop.x__owt.y]}\n", 'machine a: tag "cop.x__owt.y": empty pair at char 6'),
    ("machines:\n  a: {tags: [cop.x]}\n  a: {tags: [cop.y]}\n", "3:3: invalid YAML: found duplicate key 'a'"),
    ("machines:\n  a: {tags: [cop.x]\n", "invalid YAML"),
    ("machines:\n  a: {tags: [cop.x], ip: 1.2.3.4}\n", "machine a: unknown field 'ip'"),
    ("", "empty document"),
    ("machines: {}\n", "field 'machines' must be a non-empty mapping"),
    ("machines:\n  a: {tags: [cop.x]}\nnodes:\n  service.x_cop.y: {}\n", "node service.x_cop.y: a node is a single pair"),
    ("machines:\n  a: {tags: [cluster.prod-eu]}\n  b: {tags: [cluster.prod.eu]}\n",
     'machine b: tag "cluster.prod.eu": group cluster_prod_eu of "cluster.prod.eu" is also the group of '
     '"cluster.prod-eu" (tag "cluster.prod-eu" of machine a)'),
    ("machines:\n  a: {tags: [cop.x_owt.y-z]}\n  b: {tags: [cop.x_owt.y.z]}\n",
     'machine b: tag "cop.x_owt.y.z": group owt_y_z of "owt.y.z" is also the group of "owt.y-z" '
     '(tag "cop.x_owt.y-z" of machine a)'),
    ("machines:\n  'host01:2222': {tags: [cop.x]}\n",
     'machine host01:2222: name "host01:2222": Ansible would read it as host "host01", port 2222'),
]


@pytest.mark.parametrize("text, message", BROKEN)
def test_validate_reports_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "broken.yml"
    path.write_text(text)
    status, out, err = run(capsys, "validate", str(path))
    assert status == 2 and out == ""
    assert err.startswith("noops: %s" % path) and message in err and err.count("\n") == 1


def test_validate_reports_every_problem_one_line_each(tmp_path, capsys):
    path = tmp_path / "broken.yml"
    path.write_text("machines:\n  'a:22': {tags: [cop.x]}\n  all: {tags: [idc.lg]}\n  b: {tags: [idc.l-g]}\n"
                    "  c: {tags: [idc.l.g]}\n")
    status, out, err = run(capsys, "validate", str(path))
    assert status == 2 and out == ""
    lines = err.splitlines()
    assert [line.split(": ")[:3] for line in lines] == [
        ["noops", str(path), "machine a:22"], ["noops", str(path), "machine all"], ["noops", str(path), "machine c"]]


@pytest.mark.parametrize("argv, message", [
    (["query", "service.zk__x"], 'noops: bad query "service.zk__x": empty pair at char 11'),
    (["query", "service.zk", "--source", "/nonexistent/tree.yml"], "noops: /nonexistent/tree.yml: no such file"),
    (["show", "Service.zk"], 'noops: bad query "Service.zk": bad key "Service"'),
    (["validate", "/nonexistent/tree.yml"], "noops: /nonexistent/tree.yml: no such file"),
])
def test_read_errors(tree, capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_source_option_beats_environment(tree, capsys, tmp_path):
    other = tmp_path / "other.yml"
    other.write_text("machines:\n  only.bj: {tags: [service.zk]}\n")
    assert run(capsys, "query", "service.zk")[1].count("\n") == 9
    assert run(capsys, "query", "service.zk", "--source", str(other))[1] == "only.bj\n"


# --- edits ----------------------------------------------------------------------------------------------------------

def comments(lines):
    return [line for line in lines if line.lstrip().startswith("#")]


def owner(lines, index):
    """The machine whose block holds line ``index``."""
    for line in reversed(lines[:index]):
        match = MACHINE_KEY.match(line)
        if match:
            return match.group(1)
    return None


EDITS = [
    # (argv, removed lines, added lines, machine holding the added lines, line right after them, message)
    (["tag", "lg-zk01.bj", "status.offline"], [], ["      - status.offline"], "lg-zk01.bj", "  lg-zk02.bj:",
     "lg-zk01.bj: added tag status.offline"),
    (["tag", "hh-zk03.bj", "status.offline_idc.lg"], [], ["      - status.offline_idc.lg"], "hh-zk03.bj", "",
     "hh-zk03.bj: added tag status.offline_idc.lg"),
    # pairs in another order still name the same tag
    (["untag", "sd-mc-fe01.bj",
      "idc.sd_status.service_job.carddav_cop.xiaomi_owt.miliao_pdl.micloud_service.carddav_cluster.staging_loc.bj"],
     ["      - cop.xiaomi_owt.miliao_pdl.micloud_service.carddav_cluster.staging_job.carddav_loc.bj_idc.sd_status.service"],
     [], None, None,
     "sd-mc-fe01.bj: removed tag cop.xiaomi_owt.miliao_pdl.micloud_service.carddav_cluster.staging_job.carddav_loc"
     ".bj_idc.sd_status.service"),
    # a new machine goes after the last one of its cluster, above the next group's heading comment
    (["add-machine", "lg-zk04.bj", "--tag", ZK_LG, "--address", "10.237.37.14"], [],
     ["  lg-zk04.bj:", "    address: 10.237.37.14", "    tags:", "      - " + ZK_LG], "lg-zk03.bj",
     "  # infra / zookeeper, production-sd", "lg-zk04.bj: added with tags " + ZK_LG),
    # nothing shared: at the end of the machines, the comment above "nodes:" stays above it
    (["add-machine", "new.bj", "--tag", "cop.other_service.x", "--tag", "idc.lg"], [],
     ["  new.bj:", "    tags:", "      - cop.other_service.x", "      - idc.lg"], "hh-zk03.bj", "",
     "new.bj: added with tags cop.other_service.x, idc.lg"),
    (["remove-machine", "lg-acc-dch03.bj"], ["  lg-acc-dch03.bj:", "    address: 10.237.37.43"], [], None, None,
     "lg-acc-dch03.bj: removed"),
    (["remove-machine", "hh-zk03.bj"], ["  hh-zk03.bj:", "    address: 10.38.161.13",
                                        "      - " + ZK_LG.replace("lg", "hh")], [], None, None, "hh-zk03.bj: removed"),
    (["remove-machine", "lg-acc-dch01.bj"], ["  lg-acc-dch01.bj:", "    address: 10.237.37.41"], [], None, None,
     "lg-acc-dch01.bj: removed"),
    (["remove-machine", "lg-mc-fe19.bj"], ["  lg-mc-fe19.bj:", "    address: 10.237.37.46"], [], None, None,
     "lg-mc-fe19.bj: removed"),
]


def changed_lines(before, after):
    removed, added = [], []
    for line in difflib.ndiff(before, after):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


@pytest.mark.parametrize("argv, removed, added, holder, next_line, message", EDITS)
def test_edit(tree, capsys, argv, removed, added, holder, next_line, message):
    before = tree.read_text().splitlines()
    inode = os.stat(tree).st_ino
    status, out, err = run(capsys, *argv)
    assert (status, err) == (0, "")
    assert out == "changed %s: %s\n" % (tree, message)
    after = tree.read_text().splitlines()

    got_removed, got_added = changed_lines(before, after)
    assert got_added == added
    # difflib may pair a removed block with an identical neighbour; the removed lines must at least include these
    for line in removed:
        assert line in got_removed
    assert len(after) == len(before) - len(got_removed) + len(added)
    if added:
        first = after.index(added[0])
        assert owner(after, first) == holder    # a new tag ends its machine; a new machine follows its neighbour
        assert after[first + len(added)] == next_line
    # every comment line of the file survives, in order, and the blank line + comment before "nodes:" stay put
    assert comments(after) == comments(before)
    nodes = after.index("nodes:")
    assert after[nodes - 2:nodes] == ["", "# Variables attached to a tree node are inherited by every machine below it."]
    # written by replacing the file (a new inode), with the old mode, leaving no temporary file behind
    assert os.stat(tree).st_ino != inode
    assert os.stat(tree).st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tree.parent)) == ["tree.yml"]
    assert main(["tree", "validate"]) == 0


def test_comment_lines_stay_next_to_their_group(tree, capsys):
    run(capsys, "remove-machine", "lg-acc-dch03.bj")
    run(capsys, "remove-machine", "lg-acc-dch01.bj")
    lines = tree.read_text().splitlines()
    assert lines[lines.index("  sd-acc-dch01.bj:") - 1] == "  # account / dch, production-sd"
    assert lines[lines.index("  lg-acc-dch02.bj:") - 1] == "  # account / dch, production-lg"


def test_round_trip_keeps_every_byte(tree, capsys):
    run(capsys, "add-machine", "lg-zk04.bj", "--tag", ZK_LG)
    run(capsys, "tag", "lg-zk04.bj", "status.offline")
    run(capsys, "untag", "lg-zk04.bj", "status.offline")
    run(capsys, "remove-machine", "lg-zk04.bj")
    with open(EXAMPLE, encoding="utf-8") as handle:
        assert tree.read_text() == handle.read()


EDIT_ERRORS = [
    (["tag", "nope.bj", "status.offline"], "machine nope.bj: not in the tree"),
    (["tag", "lg-zk01.bj", "status offline"], 'machine lg-zk01.bj: tag "status offline": pair "status offline"'),
    (["tag", "lg-zk01.bj", "idc.lg_status.service_loc.bj_job.zk_cop.xiaomi_owt.miliao_pdl.infra_service.zk"
      "_cluster.production-lg"], "machine lg-zk01.bj: already carries tag"),
    (["untag", "lg-zk01.bj", "status.offline"], "machine lg-zk01.bj: does not carry tag status.offline (it has cop."),
    (["untag", "lg-zk01.bj", ZK_LG], "is its only tag; a machine needs one (use remove-machine)"),
    (["untag", "lg-zk01.bj", "status."], 'tag "status.": empty value for key "status"'),
    (["add-machine", "lg-zk01.bj", "--tag", ZK_LG], "machine lg-zk01.bj: already in the tree"),
    (["add-machine", "bad name", "--tag", ZK_LG], 'machine bad name: name "bad name": Ansible would read a space'),
    (["add-machine", "lg-zk09.bj:2222", "--tag", ZK_LG], 'name "lg-zk09.bj:2222": Ansible would read it as host '
                                                           '"lg-zk09.bj", port 2222'),
    (["add-machine", "all", "--tag", ZK_LG], 'name "all": Ansible would target its group "all"'),
    (["add-machine", "idc_lg", "--tag", ZK_LG], 'name "idc_lg": Ansible would target the group idc_lg of this tree'),
    (["add-machine", "x.bj", "--tag", "service.dch_cluster.production.lg"],
     'group cluster_production_lg of "cluster.production.lg" is also the group of "cluster.production-lg"'),
    (["add-machine", "x.bj", "--tag", "idc.lg", "--tag", "idc.lg"], "machine x.bj: the same tag is given twice"),
    (["add-machine", "x.bj", "--tag", "idc.lg", "--address", "10.0.0.1 10.0.0.2"], "machine x.bj: bad address"),
    (["add-machine", "x.bj", "--tag", "idc.lg_idc.sd"], 'key "idc" appears twice'),
    (["remove-machine", "nope.bj"], "machine nope.bj: not in the tree"),
    (["tag", "lg-zk01.bj", "status.offline", "--source", "https://tree.example/tree.json"],
     "https://tree.example/tree.json: a URL source is read-only"),
]


@pytest.mark.parametrize("argv, message", EDIT_ERRORS)
def test_edit_errors_leave_the_file_alone(tree, capsys, argv, message):
    before = tree.read_bytes()
    stat = os.stat(tree)
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "")
    assert err.startswith("noops: ") and message in err and err.count("\n") == 1
    if "--source" not in argv:
        assert str(tree) in err                                     # the message names the file
    assert tree.read_bytes() == before and os.stat(tree).st_ino == stat.st_ino
    assert sorted(os.listdir(tree.parent)) == ["tree.yml"]


def test_edit_refuses_an_already_broken_file(tree, capsys):
    tree.write_text(tree.read_text().replace("_status.offline", "_status.off_line", 1))
    before = tree.read_bytes()
    status, _, err = run(capsys, "tag", "lg-zk01.bj", "status.offline")
    assert status == 2 and "machine hh-acc-dch03.bj: tag" in err and "pair \"line\" has no" in err
    assert tree.read_bytes() == before


@pytest.mark.parametrize("flags, writes", [(["--check"], False), (["--diff"], True), (["--check", "--diff"], False)])
def test_check_and_diff(tree, capsys, flags, writes):
    before = tree.read_text()
    status, out, _ = run(capsys, "tag", "lg-zk01.bj", "status.offline", *flags)
    assert status == 0
    assert "+      - status.offline\n" in out and out.startswith("--- %s (before)\n+++ %s (after)\n" % (tree, tree))
    assert out.endswith("%s %s: lg-zk01.bj: added tag status.offline\n" % ("changed" if writes else "would change",
                                                                           tree))
    assert (tree.read_text() != before) == writes
