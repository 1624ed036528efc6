"""A task's logs as the console shows and sends them, every one masked with the project's one secret rule
(``module_utils/redact.py``: ``mask_text``).

- ``deploy``: the playbook run's output. For a deploy the console launched, the output of its ``noops deploy``
  (``deploys/<time>-<random>.log`` beside the console database); else the run's task events as the history store
  recorded them (one line per task result: time, host, task, status, message, then its output).
- ``build`` and ``build-error``: the build command's standard output and standard error, kept in the history store
  when the package was built from code (``code_url``).
- ``host``: one host's task events from the history store.
"""

from __future__ import annotations

import os
import typing as t

from django.conf import settings

from ansible_collections.noops.platform.plugins.module_utils.redact import mask_text
from ansible_collections.noops.platform.plugins.plugin_utils.history.store import HistoryStore

KINDS = ("deploy", "build", "build-error", "host")
MAX_FILE = 8 * 1024 * 1024  # bytes of a launch's output file that are read (its last ones)


class LogError(ValueError):
    """A log that does not exist or was asked wrongly; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def deploys_folder() -> str:
    """Where the console keeps the cluster.yml and output of the deploys it launched."""
    return os.path.join(os.path.dirname(settings.CONSOLE_DB), "deploys")


def launch_output(task: t.Mapping[str, t.Any]) -> str | None:
    """The path of the output file of a deploy the console launched (None: not one, or the file is gone)."""
    cluster_file = task.get("cluster_file") or ""
    folder = os.path.realpath(deploys_folder())
    if not cluster_file.endswith(".yml") or os.path.dirname(os.path.realpath(cluster_file)) != folder:
        return None
    path = cluster_file[:-len(".yml")] + ".log"
    return path if os.path.isfile(path) else None


def log_kinds(store: HistoryStore, task: t.Mapping[str, t.Any]) -> list[dict[str, str]]:
    """The logs a task has besides its hosts': [{"kind", "label"}] (deploy always; build, build-error when kept)."""
    names = store.task_text_names(int(task["id"]))
    labels = {"build": "build log", "build-error": "build error log"}
    return [{"kind": "deploy", "label": "deploy log"}] + [{"kind": n, "label": labels[n]} for n in names
                                                          if n in labels]


def format_events(rows: t.Iterable[t.Mapping[str, t.Any]], with_host: bool = True) -> str:
    """Task events as lines: ``TIME [host] task (action): status[, changed]: message``, then the output indented."""
    from noops_console.history import iso

    out = []
    for row in rows:
        head = "%s %s%s%s: %s%s" % (
            iso(row.get("at")) or "-", ("[%s] " % (row.get("host") or "controller")) if with_host else "",
            row.get("task_name") or "-", " (%s)" % row["action"] if row.get("action") else "", row.get("status"),
            ", changed" if row.get("changed") else "")
        if row.get("message"):
            head += ": %s" % row["message"]
        out.append(head)
        for line in str(row.get("output") or "").splitlines():
            out.append("    " + line)
    return "\n".join(out) + ("\n" if out else "")


def _read_tail(path: str) -> str:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_FILE:
            f.seek(size - MAX_FILE)
        data = f.read()
    text = data.decode("utf-8", errors="replace")
    return ("…" + text) if size > MAX_FILE else text


def task_log(store: HistoryStore, task_id: int, kind: str, host: str | None = None) -> tuple[str, str]:
    """(file name, masked text) of one log of a task. Raises LogError (404: no such task, host or log; 400: a kind
    that is none of KINDS, ``host`` without a host name), StoreError."""
    if kind not in KINDS:
        raise LogError(400, "kind: %s: one of %s" % (kind, ", ".join(KINDS)))
    task = store.get_task(task_id)
    if task is None:
        raise LogError(404, "no task %d" % task_id)
    if kind == "host":
        if not host:
            raise LogError(400, "host: missing: the host whose log to show")
        if host not in {h["host"] for h in store.task_hosts(task_id)}:
            raise LogError(404, "host: %s: not a host of task %d" % (host, task_id))
        text = format_events(store.task_log(task_id, host=host), with_host=False)
        name = "task-%d-%s.log" % (task_id, "".join(c if c.isalnum() or c in "-._" else "_" for c in host))
    elif kind == "deploy":
        path = launch_output(task)
        text = _read_tail(path) if path else format_events(store.task_log(task_id))
        name = "task-%d-deploy.log" % task_id
    else:
        texts = store.task_texts(task_id)
        if kind not in texts:
            raise LogError(404, "task %d has no %s log (its package was not built from code by this run)"
                           % (task_id, kind))
        text = texts[kind]
        name = "task-%d-%s.log" % (task_id, kind)
    return name, mask_text(text)
