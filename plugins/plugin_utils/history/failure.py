# -*- coding: utf-8 -*-
# Copyright: noops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What failed, in one line, from a failed task's result: shared by thor's failure report (filter
``noops.platform.failure_reason``), the history callback's per-host message and ``noops deploy``'s table.

A command task that fails says only "non-zero return code"; the line adds the command, its exit status and the
last lines of its stderr (else of its stdout), each line once. Secrets are masked with redact's ``Masker``.
"""

from __future__ import annotations

import json
import shlex
import typing as t

from ansible_collections.noops.platform.plugins.module_utils.redact import Masker, mask_text

NO_LOG = "output hidden (no_log)"
TAIL_LINES = 5
# What Ansible puts in ``exception`` when it has no traceback: nothing to say.
NO_TRACEBACK = frozenset(("", "(traceback unavailable)"))


def _text(value: t.Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _unique(lines: t.Iterable[str]) -> list[str]:
    """Each line once, where it was last written: a program restarted in a loop writes the same lines each time."""
    lines = list(lines)
    last = {line: i for i, line in enumerate(lines)}
    return [line for i, line in enumerate(lines) if last[line] == i]


def _tail(text: str, count: int = TAIL_LINES, said: str = "") -> str:
    """The last ``count`` distinct non-blank lines of ``text`` that ``said`` does not hold already, " | "-joined."""
    lines = _unique(line.strip() for line in text.splitlines() if line.strip())
    return " | ".join([line for line in lines if line not in said][-count:])


def _said_once(message: str) -> str:
    """``message`` with the repeated lines of each of its " | "-joined runs written once
    ("last log lines: a | b | a | b" -> "last log lines: a | b")."""
    parts = []
    for part in message.split("; "):
        if " | " in part:
            label, colon, first = part.partition(": ")
            if colon and " | " not in label:
                part = label + colon + " | ".join(_unique(first.split(" | ")))
            else:
                part = " | ".join(_unique(part.split(" | ")))
        parts.append(part)
    return "; ".join(parts)


def _command(cmd: t.Any) -> str:
    if isinstance(cmd, (list, tuple)):
        return " ".join(shlex.quote(str(part)) for part in cmd)
    return str(cmd)


def describe_failure(result: t.Mapping[str, t.Any], masker: Masker | None = None) -> str:
    """One line for a failed result: its message, then what the module did not say itself - ``command: …``,
    ``exit status N``, ``stderr: …`` (last lines; stdout when stderr is empty), a crashed module's output, the
    failed items of a loop. A line is said once: repeated lines of the message and of a tail are dropped, and so are
    tail lines the message already holds; Ansible's "(traceback unavailable)" is left out. Secrets are masked with
    ``masker.scrub`` (the text rule of module_utils/redact.py and the values ``masker`` knows; the text rule alone
    without one). "" for an empty result."""
    if result.get("_ansible_no_log") or "censored" in result:
        return NO_LOG
    message = _said_once(_text(result.get("msg")).strip())
    parts = [message] if message else []
    if result.get("cmd"):
        command = _command(result["cmd"])
        if command not in message:
            parts.append("command: " + command)
    rc = result.get("rc")
    if isinstance(rc, int) and rc != 0 and ("exit status %d" % rc) not in message and "rc %d" % rc not in message:
        parts.append("exit status %d" % rc)
    stderr_text = _text(result.get("stderr"))
    stderr = _tail(stderr_text, said=message)
    if stderr:
        parts.append("stderr: " + stderr)
    elif result.get("cmd") and not stderr_text.strip():
        stdout = _tail(_text(result.get("stdout")), said=message)
        if stdout:
            parts.append("last output: " + stdout)
    for key in ("module_stderr", "module_stdout", "exception"):
        value = _text(result.get(key))
        if value.strip() in NO_TRACEBACK:
            continue
        value = _tail(value, 3, said=message)
        if value:
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
    return (masker.scrub(text) or text) if masker is not None else mask_text(text)


def masker_for(*secrets: t.Any) -> Masker:
    """A Masker that knows the values of every secret-looking key in ``secrets`` (mappings, lists)."""
    masker = Masker()
    for data in secrets:
        masker.learn(data)
    return masker
