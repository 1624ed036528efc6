"""Unix socket paths the project creates for a host: supervisord's, god's and the SSH control sockets.

Linux keeps a socket path in sun_path (108 bytes with the final NUL): 107 bytes at most, and supervisord and ssh
bind a longer temporary name first (supervisord ``<path>.<pid>``, ssh ``<path>.<16 random characters>``).
Every path is either short enough with that suffix, moved to a short runtime folder, or refused by name."""

import os
import stat

import pytest
import yaml

import noops_cli.demo as demo
from ansible_collections.noops.platform.plugins.plugin_utils import fleet
from ansible_collections.noops.platform.plugins.module_utils import supervisor
from ansible_collections.noops.platform.plugins.module_utils import unix_socket as us
from ansible_collections.noops.platform.plugins.module_utils.supervisor import (
    SupervisorConfigError,
    instance_layout,
)
from ansible_collections.noops.platform.plugins.plugin_utils.odin import ssh_control

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
with open(os.path.join(ROOT, "examples", "tree.yml")) as _f:
    EXAMPLE = yaml.safe_load(_f)
RUN_TAIL = "/var/run/noops/supervisord/supervisord.sock"


def bound(path, suffix):
    """The bytes of the name actually bound: the path plus the temporary suffix."""
    return len(path.encode()) + suffix


def test_the_suffixes_are_what_the_binders_append():
    # supervisord 4 (supervisor/http.py): tempname = "%s.%d" % (socketname, os.getpid()), pid <= 4194304 on Linux.
    import supervisor.http
    import inspect
    assert '"%s.%d" % (socketname, os.getpid())' in inspect.getsource(supervisor.http)
    assert us.SUPERVISORD_BIND_SUFFIX == len(".4194304")
    # OpenSSH mux.c muxserver_listen: "%s.%s" with char rbuf[16+1] of random characters.
    assert us.SSH_MASTER_BIND_SUFFIX == 17
    # Ansible's ssh connection: ControlPath "%(directory)s/" + sha1(...)[:10].
    from ansible.plugins.connection.ssh import Connection
    name = Connection._create_control_path("h", 22, "u") % {"directory": "/d"}
    assert len(name) - len("/d") == us.ANSIBLE_CONTROL_NAME == 11


@pytest.mark.parametrize("extra, inside", [
    (0, True),     # a path of 99 bytes: 99 + 8 = 107 fits
    (1, False),    # 100 bytes: the temporary name would be 108
    (8, False),    # 107 bytes: the path itself fits, supervisord's temporary name does not (the field fault)
    (9, False),    # 108 bytes
    (-30, True),
    (60, False),
])
def test_supervisord_socket_leaves_room_for_the_pid(extra, inside):
    root = "/" + "r" * (99 - len(RUN_TAIL) - 1 + extra)
    natural = root + RUN_TAIL
    assert len(natural) == 99 + extra
    sock = instance_layout(root, "supervisord")["socket"]
    assert (sock == natural) is inside
    if not inside:
        assert sock.startswith("/tmp/noops-supervisord-")
    assert bound(sock, us.SUPERVISORD_BIND_SUFFIX) <= us.UNIX_PATH_MAX


def test_god_socket_is_in_the_layout():
    layout = instance_layout("/srv/h1", "god")
    assert layout["socket"] == "/tmp/god.%d.sock" % layout["port"]
    assert instance_layout("", "god")["socket"] == "/tmp/god.17165.sock"


@pytest.mark.parametrize("path, suffix, message", [
    ("/" + "a" * 107, 0, "/%s: 108 bytes, longer than the 107-byte limit for a unix socket" % ("a" * 107)),
    ("/" + "b" * 99, us.SUPERVISORD_BIND_SUFFIX,
     "/%s: 100 bytes, 108 with the 8-byte suffix supervisord binds first, longer than the 107-byte limit for a "
     "unix socket" % ("b" * 99)),
])
def test_a_path_that_cannot_fit_is_refused_by_name(path, suffix, message):
    binder = "supervisord" if suffix else ""
    assert us.socket_path_problem(path, suffix, binder) == message
    with pytest.raises(us.SocketPathError) as e:
        us.check_socket_path(path, suffix, binder)
    assert str(e.value) == message


@pytest.mark.parametrize("path, suffix", [("/" + "a" * 106, 0), ("/" + "b" * 98, 8), ("/tmp/god.65535.sock", 0)])
def test_a_path_that_fits_passes(path, suffix):
    assert us.socket_path_problem(path, suffix) is None
    assert us.check_socket_path(path, suffix) == path


def test_the_layout_refuses_a_socket_it_cannot_place(monkeypatch):
    monkeypatch.setattr(supervisor, "SHORT_SOCKET_DIR", "/" + "t" * 80)
    with pytest.raises(SupervisorConfigError, match="longer than the 107-byte limit for a unix socket"):
        instance_layout("/" + "x" * 80, "supervisord")


def homes():
    """HOME values from 5 to 100 characters, plus the shapes of the field report."""
    out = ["/" + "h" * (n - 1) for n in range(5, 101)]
    return out + ["/tmp/xxxxxxxxxxxx/demo/home", "/tmp/xxxxxxxxxxx/demo/home", "/tmp/xxxxxxxxxxxxx/demo/home/"]


@pytest.mark.parametrize("home", homes(), ids=lambda h: "home%d" % len(h))
def test_demo_sockets_fit_for_every_home_length(home, monkeypatch):
    """What the demo decides for every host (its root, so its supervisord socket) and for SSH, from any HOME."""
    monkeypatch.setenv("HOME", home)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    base = demo.default_dir()
    assert base.startswith(home.rstrip("/"))
    hosts = fleet.plan_fleet(os.path.join(base, "hosts"), 6, "hello", tree_doc=EXAMPLE, ports=range(18080, 18086))
    sockets = [instance_layout(h.root, "supervisord")["socket"] for h in hosts]
    assert len(set(sockets)) == len(hosts)
    for sock in sockets:
        assert bound(sock, us.SUPERVISORD_BIND_SUFFIX) <= us.UNIX_PATH_MAX, sock
    # SSH: Ansible's natural ~/.ansible/cp, or a short runtime folder when that is too long.
    chosen = ssh_control.control_path_dir({}, {}, home=home, uid=1000, runtime_dir="/run/user/1000")
    directory = chosen or os.path.join(home, ".ansible", "cp")
    assert bound(directory, us.ANSIBLE_CONTROL_NAME + us.SSH_MASTER_BIND_SUFFIX) <= us.UNIX_PATH_MAX
    assert (chosen is None) == (len(home.rstrip("/")) + len("/.ansible/cp") <= 79)


@pytest.mark.parametrize("dir_len", [60, 79, 80, 100])
def test_demo_dir_of_any_length(dir_len):
    """noops demo --dir <long folder>: every host keeps a socket that fits, each its own."""
    base = "/" + "d" * (dir_len - 1)
    hosts = fleet.plan_fleet(os.path.join(base, "hosts"), 4, "hello", tree_doc=EXAMPLE, ports=range(4))
    sockets = {instance_layout(h.root, "supervisord")["socket"] for h in hosts}
    assert len(sockets) == 4
    assert all(bound(s, us.SUPERVISORD_BIND_SUFFIX) <= us.UNIX_PATH_MAX for s in sockets)


@pytest.mark.parametrize("env, ini, home, runtime, expected", [
    # Nothing configured, ~/.ansible/cp fits: left to Ansible.
    ({}, {}, "/home/u", "/run/user/1000", None),
    ({}, {}, "/" + "h" * 66, "/run/user/1000", None),
    # ~/.ansible/cp too long: the user's runtime folder, else /tmp/noops-cp-<uid>.
    ({}, {}, "/" + "h" * 67, "/run/user/1000", "/run/user/1000/noops-cp"),
    ({}, {}, "/" + "h" * 99, None, "/tmp/noops-cp-1000"),
    ({}, {}, "/" + "h" * 99, "/" + "r" * 90, "/tmp/noops-cp-1000"),
    # What the user configured is kept when it fits ...
    ({"ANSIBLE_SSH_CONTROL_PATH_DIR": "/short"}, {}, "/" + "h" * 99, None, None),
    ({}, {"control_path_dir": "/short"}, "/" + "h" * 99, None, None),
    # ... and its own ControlPath (a fixed name) is left to it.
    ({"ANSIBLE_SSH_CONTROL_PATH": "/tmp/cp-%%C"}, {}, "/" + "h" * 99, None, None),
])
def test_control_path_dir_choice(env, ini, home, runtime, expected):
    assert ssh_control.control_path_dir(env, ini, home=home, uid=1000, runtime_dir=runtime) == expected


@pytest.mark.parametrize("env, ini, origin", [
    ({"ANSIBLE_SSH_CONTROL_PATH_DIR": "/" + "c" * 79}, {}, "ANSIBLE_SSH_CONTROL_PATH_DIR"),
    ({}, {"control_path_dir": "/" + "c" * 90}, "[ssh_connection] control_path_dir"),
])
def test_a_configured_control_path_dir_too_long_is_refused(env, ini, origin):
    with pytest.raises(us.SocketPathError) as e:
        ssh_control.control_path_dir(env, ini, home="/home/u", uid=1000, runtime_dir=None)
    text = str(e.value)
    directory = env.get("ANSIBLE_SSH_CONTROL_PATH_DIR") or ini["control_path_dir"]
    assert text.startswith("%s=%s: SSH control sockets %s/<10-character hash>: " % (origin, directory, directory))
    assert "longer than the 107-byte limit for a unix socket" in text
    assert "%d bytes" % (len(directory) + 11) in text


def test_the_tmp_runtime_folder_is_private(tmp_path):
    folder = tmp_path / "noops-cp-1000"
    assert ssh_control.private_dir(str(folder)) == str(folder)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    os.chmod(folder, 0o777)
    with pytest.raises(us.SocketPathError, match="group or others can write"):
        ssh_control.private_dir(str(folder))


PERSIST = "-C -o ControlMaster=auto -o ControlPersist=60s"


@pytest.mark.parametrize("opts, problem", [
    (dict(connection="ssh", ssh_args=PERSIST), None),                                # ~/.ansible/cp from /home/u
    (dict(connection="ssh", ssh_args=PERSIST, control_path_dir="/" + "c" * 78), None),   # 79 bytes: fits
    (dict(connection="ssh", ssh_args=PERSIST, control_path_dir="/" + "c" * 79),
     "host h1: control_path_dir=/{c}: SSH control sockets /{c}/<10-character hash>: 91 bytes, 108 with the "
     "17-byte suffix ssh binds first, longer than the 107-byte limit for a unix socket".format(c="c" * 79)),
    (dict(connection="local", control_path_dir="/" + "c" * 99), None),              # no SSH
    (dict(connection="ssh", ssh_args="-C", control_path_dir="/" + "c" * 99), None),  # no ControlPersist: no socket
    (dict(connection="ssh", ssh_args=PERSIST, control_path="%(directory)s/%%C", control_path_dir="/" + "c" * 50),
     "host h1: control_path=%(directory)s/%%C: /{c}/{h}: 92 bytes, 109 with the 17-byte suffix ssh binds first, "
     "longer than the 107-byte limit for a unix socket".format(c="c" * 50, h="C" * 40)),
    (dict(connection="ssh", ssh_args=PERSIST, control_path="/x/%h-%p-%r", control_path_dir="/" + "c" * 99), None),
    (dict(connection="ssh", ssh_args=PERSIST, ssh_common_args="-o ControlPath=/" + "p" * 91),
     "host h1: -o ControlPath=/{p}: 92 bytes, 109 with the 17-byte suffix ssh binds first, longer than the "
     "107-byte limit for a unix socket".format(p="p" * 91)),
])
def test_control_path_problems_of_a_play(opts, problem):
    assert ssh_control.control_path_problems(["h1"], lambda host: opts, home="/home/u") == (
        [problem] if problem else [])


def test_ansible_resolves_a_hosts_ssh_options(monkeypatch):
    monkeypatch.delenv("ANSIBLE_SSH_CONTROL_PATH_DIR", raising=False)
    opts = ssh_control.ansible_ssh_options({"ansible_control_path_dir": "/srv/cp"})
    assert opts["connection"] == "ssh" and opts["control_path_dir"] == "/srv/cp"
    assert "ControlPersist" in opts["ssh_args"]
    assert ssh_control.ansible_ssh_options({"ansible_connection": "local"})["connection"] == "local"
