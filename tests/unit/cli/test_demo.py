"""``noops demo``'s closing lines: how to open the web console on the demo's fleet."""

import os
import shlex

from noops_cli import demo


def test_the_demo_says_how_to_open_the_console_on_its_fleet(tmp_path, monkeypatch):
    monkeypatch.setenv("NOOPS_HISTORY_DSN", str(tmp_path / "my history.db"))
    run = demo.Demo(str(tmp_path / "demo"), 2, 1.0, True)
    cluster = tmp_path / "cluster-1.0.0.yml"
    cluster.write_text("cluster: {name: hello}\n")
    folder = run.write_services_cluster(str(cluster))
    assert folder == os.path.join(run.fleet_dir, "clusters")  # beside the fleet's tree: the Services page's folder
    assert (tmp_path / "demo" / "fleet" / "clusters" / "hello.yml").read_text() == "cluster: {name: hello}\n"
    command, url = run.console_lines(folder)
    words = shlex.split(command.split("#")[0])
    assert words == ["NOOPS_TREE=" + os.path.join(run.fleet_dir, "tree.yml"), "noops", "console", "--dsn",
                     str(tmp_path / "my history.db")]
    assert "http://127.0.0.1:8642/" in url and "admin" in url
