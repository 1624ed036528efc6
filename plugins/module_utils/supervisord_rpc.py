# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""supervisord's XML-RPC interface, as supervisorctl uses it, without starting a Python process per call.

Standard library only: the ``process`` module runs it on the host. The server is found the way supervisorctl
finds it: ``[supervisorctl] serverurl`` of the main config, else the ``[unix_http_server]`` socket.
"""

from __future__ import annotations

import configparser
import http.client
import re
import socket
import time
import xmlrpc.client

# supervisor.xmlrpc.Faults
BAD_NAME = 10
NO_FILE = 20
NOT_EXECUTABLE = 21
ABNORMAL_TERMINATION = 40
SPAWN_ERROR = 50
ALREADY_STARTED = 60
NOT_RUNNING = 70
ALREADY_ADDED = 90
STILL_RUNNING = 91

Fault = xmlrpc.client.Fault


class RpcUnavailable(Exception):
    """No supervisord answers at the configured address (or the main config is missing)."""


def server_address(conf_path: str, default_socket: str = "") -> tuple[str, str, str]:
    """(url, username, password) of the supervisord that ``conf_path`` configures."""
    parser = configparser.RawConfigParser(strict=False, inline_comment_prefixes=(";", "#"))
    try:
        with open(conf_path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise RpcUnavailable("could not find config file %s (%s)" % (conf_path, exc.strerror or exc)) from None
    except configparser.Error as exc:
        raise RpcUnavailable("cannot read %s: %s" % (conf_path, str(exc).splitlines()[0])) from None
    url = parser.get("supervisorctl", "serverurl", fallback="").strip()
    if not url:
        sock = parser.get("unix_http_server", "file", fallback="").strip() or default_socket
        if not sock:
            raise RpcUnavailable("%s names no [supervisorctl] serverurl and no [unix_http_server] file" % conf_path)
        url = "unix://" + sock
    return (url, parser.get("supervisorctl", "username", fallback=""),
            parser.get("supervisorctl", "password", fallback=""))


def main_log(conf_path: str, default: str = "") -> str:
    """supervisord's own log file (``[supervisord] logfile``) that ``conf_path`` configures, else ``default``."""
    parser = configparser.RawConfigParser(strict=False, inline_comment_prefixes=(";", "#"))
    try:
        with open(conf_path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error):
        return default
    path = parser.get("supervisord", "logfile", fallback="").strip()
    return path if path.startswith("/") and "%(" not in path else default


# "2026-11-30 05:21:06,123 WARN exited: hello (exit status 3; not expected)"
EXITED_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ \w+ exited: (\S+) \((.*); (?:not )?expected\)$")


def last_exit(log_lines: list, process: str, since: float = 0.0):
    """(status, words) of ``process``'s last exit that supervisord logged at or after ``since`` (epoch seconds,
    local time as supervisord logs it): status is the exit status, -1 for a signal; None when there is none."""
    for line in reversed(log_lines):
        match = EXITED_RE.match(line)
        if not match or match.group(2) != process:
            continue
        try:
            when = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
        except (ValueError, OverflowError):
            when = 0.0
        if when < int(since) - 1:
            return None
        words = match.group(3)
        status = re.match(r"^exit status (\d+)$", words)
        return (int(status.group(1)) if status else -1), words
    return None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, connect_timeout: float) -> None:
        super().__init__("localhost")
        self._path = path
        self._connect_timeout = connect_timeout

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._connect_timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        sock.settimeout(None)  # start and stop with wait=True answer when the process is up or gone
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, connect_timeout: float) -> None:
        super().__init__()
        self._path = path
        self._connect_timeout = connect_timeout

    def make_connection(self, host):
        return _UnixConnection(self._path, self._connect_timeout)


class Supervisord:
    """One supervisord; ``call("supervisor.getAllProcessInfo")`` and friends. Faults are raised as ``Fault``."""

    def __init__(self, url: str, username: str = "", password: str = "", connect_timeout: float = 10.0) -> None:
        self.url = url
        self._args = (url, username, password, connect_timeout)
        auth = ("%s:%s@" % (username, password)) if username else ""
        if url.startswith("unix://"):
            self._proxy_args = ("http://%slocalhost/RPC2" % auth, _UnixTransport(url[len("unix://"):], connect_timeout))
        elif url.startswith(("http://", "https://")):
            scheme, rest = url.split("://", 1)
            self._proxy_args = ("%s://%s%s/RPC2" % (scheme, auth, rest.rstrip("/")), None)
        else:
            raise RpcUnavailable("serverurl %s: only unix:// and http:// are supported" % url)

    def call(self, method: str, *args):
        proxy = xmlrpc.client.ServerProxy(self._proxy_args[0], transport=self._proxy_args[1], allow_none=True)
        try:
            return getattr(proxy, method)(*args)
        except Fault:
            raise
        except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
            raise RpcUnavailable("%s: %s" % (self.url, exc)) from None
        finally:
            proxy("close")()

    def clone(self) -> "Supervisord":
        """A client of its own for another thread (a connection is not shared)."""
        return Supervisord(*self._args)


def process_name(info: dict) -> str:
    """supervisorctl's name for one getAllProcessInfo entry: ``group:name`` unless both are the same."""
    return info["name"] if info["group"] == info["name"] else "%s:%s" % (info["group"], info["name"])
