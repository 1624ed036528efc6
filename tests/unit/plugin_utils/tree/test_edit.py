"""tree_edit: comment-keeping round trips on awkward layouts, and writes that are atomic or do not happen."""

import os
import shutil
import textwrap

import pytest

import noops_cli
from ansible_collections.noops.platform.plugins.plugin_utils.tree import edit as tree_edit
from ansible_collections.noops.platform.plugins.plugin_utils.tree.edit import EditError, TreeEdit

EXAMPLE = os.path.join(noops_cli.COLLECTION_ROOT, "examples", "tree.yml")

# Comments in every place ruamel keeps them differently: after a block list, after a flow list, after a flow
# mapping, after a scalar, end-of-line comments, before the first key, before the next section, at the end.
AWKWARD = textwrap.dedent("""\
    # head
    machines:
      # first header
      a:
        address: 1.1.1.1  # eol a
        tags:
          - cop.x_owt.a  # eol tag
      # about b
      b:
        tags: [cop.x_owt.b]
      # about c
      c:
        tags:
          - cop.x_owt.c
        vars: {x: 1}
      # about d
      d:
        tags: cop.x_owt.d
      # trailing machines

    nodes:
      cop.x:
        vars: {a: 1}
    # end
    """)

# Four-space mappings with unindented list dashes: the guessed layout must be kept for new entries too.
WIDE = textwrap.dedent("""\
    machines:
        a:
            tags:
            - cop.x_owt.a
        b:
            tags:
            - cop.x_owt.b
    """)


def edit_text(tmp_path, text, action, *args):
    path = tmp_path / "t.yml"
    path.write_text(text)
    edit = TreeEdit.open(str(path))
    getattr(edit, action)(*args)
    edit.save()
    return path.read_text()


CASES = [
    (AWKWARD, "add_tag", ("a", "cop.x_owt.z"), ("      - cop.x_owt.a  # eol tag\n      - cop.x_owt.z\n  # about b\n",)),
    (AWKWARD, "add_tag", ("b", "cop.x_owt.z"), ("    tags: [cop.x_owt.b, cop.x_owt.z]\n  # about c\n",)),
    (AWKWARD, "add_tag", ("c", "cop.x_owt.z"), ("      - cop.x_owt.c\n      - cop.x_owt.z\n    vars: {x: 1}\n",)),
    (AWKWARD, "add_tag", ("d", "cop.x_owt.z"),
     ("  d:\n    tags:\n      - cop.x_owt.d\n      - cop.x_owt.z\n  # trailing machines\n\nnodes:\n",)),
    (AWKWARD, "remove_machine", ("a",), ("machines:\n  # first header\n  # about b\n  b:\n",)),
    (AWKWARD, "remove_machine", ("b",), ("# eol tag\n  # about b\n  # about c\n  c:\n",)),
    (AWKWARD, "remove_machine", ("c",), ("    tags: [cop.x_owt.b]\n  # about c\n  # about d\n  d:\n",)),
    (AWKWARD, "remove_machine", ("d",), ("    vars: {x: 1}\n  # about d\n  # trailing machines\n\nnodes:\n",)),
    (AWKWARD, "add_machine", ("n", ["cop.x_owt.b_pdl.p"], "10.0.0.9"),
     ("    tags: [cop.x_owt.b]\n  n:\n    address: 10.0.0.9\n    tags:\n      - cop.x_owt.b_pdl.p\n  # about c\n",)),
    (AWKWARD, "add_machine", ("n", ["idc.lg"]), ("    tags: cop.x_owt.d\n  n:\n    tags:\n      - idc.lg\n"
                                                 "  # trailing machines\n\nnodes:\n",)),
    (WIDE, "add_machine", ("n", ["cop.x_owt.a"]), ("        - cop.x_owt.a\n    n:\n        tags:\n"
                                                   "        - cop.x_owt.a\n    b:\n",)),
    (WIDE, "add_tag", ("b", "idc.lg"), ("        - cop.x_owt.b\n        - idc.lg\n",)),
    # Names YAML reads as booleans or null when plain are written quoted.
    (AWKWARD, "add_machine", ("yes", ["idc.lg"]), ('  "yes":\n    tags:\n      - idc.lg\n',)),
    (AWKWARD, "add_machine", ("NO", ["idc.lg"]), ('  "NO":\n    tags:\n      - idc.lg\n',)),
    (AWKWARD, "add_machine", ("Off", ["idc.lg"]), ('  "Off":\n    tags:\n      - idc.lg\n',)),
    (AWKWARD, "add_machine", ("on", ["idc.lg"]), ('  "on":\n    tags:\n      - idc.lg\n',)),
    (AWKWARD, "add_machine", ("true", ["idc.lg"]), ('  "true":\n    tags:\n      - idc.lg\n',)),
    (AWKWARD, "add_machine", ("yesman", ["idc.lg"]), ('  yesman:\n    tags:\n      - idc.lg\n',)),
]


@pytest.mark.parametrize("text, action, args, expected", CASES)
def test_edits_keep_layout_and_comments(tmp_path, text, action, args, expected):
    result = edit_text(tmp_path, text, action, *args)
    for fragment in expected:
        assert fragment in result
    kept = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in result.splitlines() if line.lstrip().startswith("#")] == kept
    assert result.startswith(text.splitlines(keepends=True)[0])


@pytest.mark.parametrize("text", [AWKWARD, WIDE, open(EXAMPLE, encoding="utf-8").read()])
def test_untouched_document_renders_identically(tmp_path, text):
    path = tmp_path / "t.yml"
    path.write_text(text)
    assert TreeEdit.open(str(path)).render() == text


@pytest.fixture
def tree(tmp_path):
    path = tmp_path / "tree.yml"
    shutil.copy(EXAMPLE, path)
    os.chmod(path, 0o604)
    return path


def test_validation_failure_writes_nothing(tree, monkeypatch):
    before = tree.read_bytes()
    edit = TreeEdit.open(str(tree))
    edit.add_tag("lg-zk01.bj", "status.offline")
    # Whatever the cause, a rendering that would not load is never written.
    monkeypatch.setattr(TreeEdit, "render", lambda self: "machines:\n  a: {tags: [x.y]}\n  a: {tags: [x.z]}\n")
    with pytest.raises(EditError, match=r"edit refused, the result would not load: .*duplicate key 'a'"):
        edit.save()
    assert tree.read_bytes() == before and os.listdir(tree.parent) == ["tree.yml"]


def test_failed_replace_leaves_original_and_no_temp_file(tree, monkeypatch):
    before = tree.read_bytes()
    edit = TreeEdit.open(str(tree))
    edit.remove_machine("lg-zk01.bj")

    def broken_replace(src, dst):
        assert os.path.dirname(src) == os.path.dirname(dst)        # the temp file sits beside the target
        assert os.stat(src).st_mode & 0o777 == 0o604                # with the target's mode before the switch
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tree_edit.os, "replace", broken_replace)
    with pytest.raises(EditError, match="tree.yml: cannot write: No space left on device"):
        edit.save()
    assert tree.read_bytes() == before and os.listdir(tree.parent) == ["tree.yml"]


def test_concurrent_change_is_not_overwritten(tree):
    edit = TreeEdit.open(str(tree))
    edit.add_tag("lg-zk01.bj", "status.offline")
    tree.write_text(tree.read_text() + "# edited by someone else\n")
    with pytest.raises(EditError, match="changed by someone else while being edited; nothing written"):
        edit.save()
    assert tree.read_text().endswith("# edited by someone else\n")


def test_symlink_is_kept_and_target_replaced(tree):
    link = tree.parent / "link.yml"
    link.symlink_to(tree.name)
    edit = TreeEdit.open(str(link))
    edit.add_tag("lg-zk01.bj", "status.offline")
    edit.save()
    assert link.is_symlink() and "      - status.offline\n" in tree.read_text()
    assert os.stat(tree).st_mode & 0o777 == 0o604


def test_save_returns_the_new_tree(tree):
    edit = TreeEdit.open(str(tree))
    edit.add_machine("lg-zk04.bj", ["cop.xiaomi_owt.miliao_pdl.infra_service.zk_cluster.production-lg_idc.lg"])
    new = edit.save()
    assert len(new) == 37 and new.select("service.zk_idc.lg")[-1].name == "lg-zk04.bj"
    assert edit.changes == ["lg-zk04.bj: added with tags "
                            "cop.xiaomi_owt.miliao_pdl.infra_service.zk_cluster.production-lg_idc.lg"]


def test_last_machine_cannot_be_removed(tmp_path):
    path = tmp_path / "one.yml"
    path.write_text("machines:\n  only: {tags: [cop.x]}\n")
    with pytest.raises(EditError, match="only: is the last machine"):
        TreeEdit.open(str(path)).remove_machine("only")


@pytest.mark.parametrize("text, expected", [
    (open(EXAMPLE, encoding="utf-8").read(), (2, 4, 2)),
    (WIDE, (4, 2, 0)),
    ("machines:\n  a: {tags: [x.y]}\n", (2, 4, 2)),                     # no block list: the DESIGN layout
    ("# c\nmachines:\n   a:\n      tags:   # eol\n         -   x.y\n", (3, 7, 3)),
    ("machines:\n  a:\n    tags:\n    - x.y\n", (2, 2, 0)),
])
def test_guess_indent(text, expected):
    assert tree_edit.guess_indent(text) == expected
