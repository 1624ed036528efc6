"""Helpers for the inventory integration tests: real `ansible-inventory` processes and a real HTTP server."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import typing as t

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)
ANSIBLE_INVENTORY = os.path.join(BIN, "ansible-inventory")
COLLECTIONS = os.path.join(ROOT, "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment of a plain checkout run: the repo's ansible.cfg, no inherited ANSIBLE_* overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "NOOPS_TREE_"))}
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_LOCAL_TEMP"] = os.environ.get("ANSIBLE_LOCAL_TEMP", "/tmp/noops-ansible-tmp")
    env.update(extra)
    return env


def run_inventory(source: str, *args: str, env: dict[str, str] | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess:
    """`ansible-inventory -i SOURCE --list ARGS` from the repo root, as a user of a checkout runs it."""
    if not os.path.exists(ANSIBLE_INVENTORY):
        pytest.skip("ansible-inventory not installed next to %s" % sys.executable)
    return subprocess.run([ANSIBLE_INVENTORY, "-i", source, "--list", *args], cwd=ROOT,
                          env=env or ansible_env(), capture_output=True, text=True, timeout=timeout)


def listed(source: str, *args: str, env: dict[str, str] | None = None) -> dict[str, t.Any]:
    """The parsed JSON of a successful `ansible-inventory --list`; a failure shows its stderr."""
    proc = run_inventory(source, *args, env=env)
    assert proc.returncode == 0, "ansible-inventory -i %s failed (%d):\n%s" % (source, proc.returncode, proc.stderr)
    return json.loads(proc.stdout)


def unsafe_free(value: t.Any) -> t.Any:
    """`{"__ansible_unsafe": x}` (how --list prints untrusted strings) replaced by x, to compare with plain data."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unsafe_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsafe_free(v) for v in value]
    return value


class TreeServer:
    """A real HTTP server on 127.0.0.1 (ephemeral port) in a thread, answering a few canned routes.

    Every request is recorded (path and headers), so tests can prove what the plugin sent and how often.
    """

    def __init__(self, routes: dict[str, tuple[int, str, bytes]]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append((self.path, dict(self.headers.items())))
                status, content_type, body = server.routes.get(self.path, (404, "text/plain", b"no such route"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: t.Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def __enter__(self) -> "TreeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
