# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What failed, in one line, from a failed task's result: shared by thor's failure report (filter
``noops.platform.failure_reason``), the history callback's per-host message and ``noops deploy``'s table.

A command task that fails says only "non-zero return code"; the line adds the command, its exit status and the
last lines of its stderr (else of its stdout). Secrets are scrubbed with ``history_mask.Masker``.
"""

from __future__ import annotations

import json
import shlex
import typing as t

from ansible_collections.noops.platform.plugins.module_utils.redact import Masker

NO_LOG = "output hidden (no_log)"
TAIL_LINES = 5


def _text(value: t.Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _tail(text: str, count: int = TAIL_LINES) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:])


def _command(cmd: t.Any) -> str:
    if isinstance(cmd, (list, tuple)):
        return " ".join(shlex.quote(str(part)) for part in cmd)
    return str(cmd)


def describe_failure(result: t.Mapping[str, t.Any], masker: Masker | None = None) -> str:
    """One line for a failed result: its message, then what the module did not say itself - ``command: …``,
    ``exit status N``, ``stderr: …`` (last lines; stdout when stderr is empty), a crashed module's output, the
    failed items of a loop. Secrets known to ``masker`` are scrubbed. "" for an empty result."""
    if result.get("_ansible_no_log") or "censored" in result:
        return NO_LOG
    message = _text(result.get("msg")).strip()
    parts = [message] if message else []
    if result.get("cmd"):
        command = _command(result["cmd"])
        if command not in message:
            parts.append("command: " + command)
    rc = result.get("rc")
    if isinstance(rc, int) and rc != 0 and ("exit status %d" % rc) not in message and "rc %d" % rc not in message:
        parts.append("exit status %d" % rc)
    stderr = _tail(_text(result.get("stderr")))
    if stderr and stderr not in message:
        parts.append("stderr: " + stderr)
    elif result.get("cmd") and not stderr:
        stdout = _tail(_text(result.get("stdout")))
        if stdout and stdout not in message:
            parts.append("last output: " + stdout)
    for key in ("module_stderr", "module_stdout", "exception"):
        value = _tail(_text(result.get(key)), 3)
        if value and value not in message:
            parts.append("%s: %s" % (key.replace("_", " "), value))
            break
    items = result.get("results")
    if isinstance(items, list):
        failed = [item for item in items if isinstance(item, t.Mapping) and item.get("failed")]
        for item in failed[:3]:
            label = item.get("_ansible_item_label", item.get("item"))
            said = describe_failure(item)
            parts.append(("item %s: %s" % (_text(label), said)) if label is not None else said)
    text = "; ".join(part for part in parts if part) or ("failed" if result.get("failed") else "")
    return (masker.scrub(text) or text) if masker is not None else text


def masker_for(*secrets: t.Any) -> Masker:
    """A Masker that knows the values of every secret-looking key in ``secrets`` (mappings, lists)."""
    masker = Masker()
    for data in secrets:
        masker.learn(data)
    return masker
