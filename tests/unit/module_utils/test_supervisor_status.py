"""module_utils/supervisor_status.py: parsing what god and systemctl print (recorded samples), /proc facts and log
tails."""

import pytest

from ansible_collections.noops.platform.plugins.module_utils.supervisor_status import (
    normalise,
    parse_god_status,
    parse_systemctl_show,
    proc_stat_ids,
    process_age,
    proc_stat_starttime,
    process_tree,
    tail_lines,
)

GOD_SAMPLES = [
    ("", {}),
    ("ticker: up\n", {"ticker": "up"}),
    ("crasher: unmonitored\nticker: up\n", {"crasher": "unmonitored", "ticker": "up"}),
    # a group header, then its watches indented
    ("web:\n  web-1: start\n  web-2: restart\nlone: init\n", {"web-1": "start", "web-2": "restart", "lone": "init"}),
    # a god patched to show pid and user in "god status"
    ("frigga[25933 root]: running (2014-03-26 23:03:43)\n"
     "database-change-handler_database-change-handler_production-sd[8617 root]: running (2014-04-01 10:48:54)\n",
     {"frigga": "running", "database-change-handler_database-change-handler_production-sd": "running"}),
    ("The server is not available (or you do not have permissions to access it)\n", {}),
]


@pytest.mark.parametrize("text, expected", GOD_SAMPLES)
def test_parse_god_status(text, expected):
    assert parse_god_status(text) == expected


SYSTEMCTL = """\
Id=dch.service
LoadState=loaded
ActiveState=active
MainPID=4242
NeedDaemonReload=no
UnitFileState=enabled

Id=gone.service
LoadState=not-found
ActiveState=inactive
MainPID=0
NeedDaemonReload=no
UnitFileState=
"""


def test_parse_systemctl_show():
    units = parse_systemctl_show(SYSTEMCTL)
    assert [u["Id"] for u in units] == ["dch.service", "gone.service"]
    assert units[0]["MainPID"] == "4242" and units[1]["UnitFileState"] == ""


@pytest.mark.parametrize("backend, raw, state", [
    ("god", "up", "running"), ("god", "unmonitored", "stopped"), ("god", "start", "starting"),
    ("god", "stop", "stopping"), ("god", "weird", "unknown"),
    ("supervisord", "RUNNING", "running"), ("supervisord", "FATAL", "fatal"), ("supervisord", "BACKOFF", "backoff"),
    ("systemd", "active", "running"), ("systemd", "failed", "fatal"), ("systemd", "inactive", "stopped"),
    ("systemd", "activating", "starting"),
])
def test_normalise(backend, raw, state):
    assert normalise(backend, raw) == state


STAT = "4242 (sh -c (odd) name) S 1 4242 4242 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0 987654 2289664 214"


def test_proc_stat_fields_survive_parens_in_the_name():
    assert proc_stat_starttime(STAT) == 987654
    assert proc_stat_ids(STAT) == (1, 4242, 4242)


def test_process_age_from_a_proc_folder(tmp_path):
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "stat").write_text(STAT)
    tck = __import__("os").sysconf("SC_CLK_TCK")
    (tmp_path / "uptime").write_text("%.2f 1.00\n" % (987654 / tck + 2.5))
    assert process_age(4242, str(tmp_path)) == pytest.approx(2.5)
    assert process_age(4343, str(tmp_path)) is None
    assert process_age(__import__("os").getpid()) >= 0


def test_process_tree_reaches_descendants_and_group_strays():
    table = {
        100: (1, 100, 100),     # the program, group and session leader
        101: (100, 100, 100),   # its child
        102: (101, 100, 100),   # grandchild
        150: (1, 100, 100),     # double-forked away from the tree, still in the group
        200: (1, 200, 200),     # someone else
        201: (200, 200, 200),
    }
    assert process_tree(100, table) == [100, 101, 102, 150]
    assert process_tree(200, table) == [200, 201]


@pytest.mark.parametrize("count, expected", [(0, []), (1, ["line 99"]), (3, ["line 97", "line 98", "line 99"])])
def test_tail_lines(tmp_path, count, expected):
    log = tmp_path / "x.log"
    log.write_text("".join("line %d\n" % n for n in range(100)))
    assert tail_lines(str(log), count, block=7) == expected  # a tiny block crosses many reads


def test_tail_of_a_short_file(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("only\n")
    assert tail_lines(str(log), 10) == ["only"]
