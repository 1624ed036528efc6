"""Finding supervisord's XML-RPC server from its main config, what happens when nothing answers, and the facts
read from supervisord's own log (a program's last exit) that failure messages are built from."""

import time

import pytest

from ansible_collections.noops.platform.plugins.module_utils.supervisord_rpc import (
    RpcUnavailable, Supervisord, last_exit, main_log, process_name, server_address,
)


@pytest.mark.parametrize("text, expected", [
    ("[unix_http_server]\nfile = /srv/h1/run/s.sock ; the socket\nchmod = 0700\n"
     "[supervisorctl]\nserverurl = unix:///srv/h1/run/s.sock\n", ("unix:///srv/h1/run/s.sock", "", "")),
    ("[unix_http_server]\nfile=/run/other.sock\n", ("unix:///run/other.sock", "", "")),
    ("[inet_http_server]\nport = 127.0.0.1:9001\n[supervisorctl]\nserverurl = http://127.0.0.1:9001\n"
     "username = ops\npassword = pw\n", ("http://127.0.0.1:9001", "ops", "pw")),
    ("[supervisord]\nlogfile = x\n", ("unix:///default.sock", "", "")),
], ids=["role-layout", "socket-only", "inet-with-auth", "default-socket"])
def test_server_address(tmp_path, text, expected):
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    assert server_address(str(conf), "/default.sock") == expected


def test_server_address_errors(tmp_path):
    with pytest.raises(RpcUnavailable, match="could not find config file .*missing.conf"):
        server_address(str(tmp_path / "missing.conf"))
    conf = tmp_path / "empty.conf"
    conf.write_text("[supervisord]\n")
    with pytest.raises(RpcUnavailable, match="no \\[supervisorctl\\] serverurl and no \\[unix_http_server\\] file"):
        server_address(str(conf))
    with pytest.raises(RpcUnavailable, match="only unix:// and http:// are supported"):
        Supervisord("tcp://x")


def test_nothing_listening_is_unavailable(tmp_path):
    with pytest.raises(RpcUnavailable, match="No such file or directory"):
        Supervisord("unix://%s" % (tmp_path / "gone.sock")).call("supervisor.getAllProcessInfo")


def test_process_name():
    assert process_name({"group": "hello", "name": "hello"}) == "hello"
    assert process_name({"group": "web", "name": "web-8080"}) == "web:web-8080"


def supervisord_line(when, text):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) + ",123 WARN " + text


def test_last_exit_from_supervisords_log():
    now = time.time()
    lines = [supervisord_line(now - 100, "exited: hello (exit status 1; not expected)"),
             supervisord_line(now, "spawned: 'hello' with pid 42"),
             supervisord_line(now, "exited: other (exit status 9; not expected)"),
             supervisord_line(now, "exited: hello (exit status 3; not expected)"),
             supervisord_line(now, "gave up: hello entered FATAL state, too many start retries too quickly")]
    assert last_exit(lines, "hello", now - 5) == (3, "exit status 3")
    assert last_exit(lines[:1], "hello", now - 5) is None  # before the action: not this start's exit
    killed = [supervisord_line(now, "exited: hello (terminated by SIGKILL; not expected)")]
    assert last_exit(killed, "hello") == (-1, "terminated by SIGKILL")
    assert last_exit(lines, "nobody") is None


def test_main_log(tmp_path):
    conf = tmp_path / "supervisord.conf"
    conf.write_text("[supervisord]\nlogfile = /var/log/s.log ; the log\n")
    assert main_log(str(conf), "/default.log") == "/var/log/s.log"
    conf.write_text("[supervisord]\n")
    assert main_log(str(conf), "/default.log") == "/default.log"
    assert main_log(str(tmp_path / "missing"), "/d") == "/d"
