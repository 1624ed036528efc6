"""Fixtures every test folder shares: a private PostgreSQL server for the history store's PostgreSQL backend."""

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

_counter = itertools.count()

# -- a private PostgreSQL server on loopback, for the history store (unit tests, integration tests, benchmarks).
# The PostgreSQL server is a real one: Debian's ``postgresql`` package (installed here when root and missing),
# a cluster made with initdb in a temporary folder, started with pg_ctl on 127.0.0.1 and a free port - never the
# system service. Each test gets its own database. Without the binaries (and no root to install them) or
# without psycopg, the PostgreSQL cases are skipped with the reason.


def _pg_bindir():
    for pattern in ("/usr/lib/postgresql/*/bin/initdb",):
        found = sorted(glob.glob(pattern), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        if found:
            return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _install_postgresql():
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True, timeout=300)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"], env=env,
                   check=False, capture_output=True, timeout=600)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """(admin DSN, run-as prefix) of a private PostgreSQL cluster, or a skip with the reason."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[test]')")
    bindir = _pg_bindir()
    if bindir is None and os.geteuid() == 0 and shutil.which("apt-get"):
        _install_postgresql()
        bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are missing and we are not root to apt-get "
                    "install postgresql")
    # initdb refuses to run as root: run the server as the "postgres" user the Debian package creates.
    prefix = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root but there is no 'postgres' user to run the server as")
        prefix = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else None
        if prefix is None:
            pytest.skip("running as root without runuser to start the server as 'postgres'")
    base = tempfile.mkdtemp(prefix="noops-pg-")
    data = os.path.join(base, "data")
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    log = os.path.join(base, "server.log")
    try:
        subprocess.run(prefix + [os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True, timeout=120)
        opts = "-h 127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off" % (port, base)
        subprocess.run(prefix + [os.path.join(bindir, "pg_ctl"), "-D", data, "-l", log, "-o", opts, "-w", "-t", "60",
                                 "start"], check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        detail = getattr(e, "stderr", b"") or b""
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip("could not start a private PostgreSQL server: %s %s" % (e, detail.decode(errors="replace")[-300:]))
    try:
        yield "postgresql://postgres@127.0.0.1:%d/postgres" % port
    finally:
        subprocess.run(prefix + [os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_dsn(pg_server):
    """A fresh database on the private server, for one test."""
    import psycopg

    name = "noops_t%d_%d" % (os.getpid(), next(_counter))
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE %s" % name)
    yield pg_server.rsplit("/", 1)[0] + "/" + name
