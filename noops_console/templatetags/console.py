"""Template filters of the console pages: times as people read them."""

from __future__ import annotations

import datetime
import typing as t

from django import template

register = template.Library()


def _parse(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@register.filter
def when(value: str | None) -> str:
    """An ISO 8601 UTC time as ``2026-11-30 05:11:19``; "-" when unset."""
    parsed = _parse(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else "-"


def duration(seconds: float) -> str:
    """Seconds as ``42s``, ``3m05s`` or ``2h03m``."""
    secs = max(0, int(round(seconds)))
    if secs < 60:
        return "%ds" % secs
    if secs < 3600:
        return "%dm%02ds" % divmod(secs, 60)
    return "%dh%02dm" % (secs // 3600, secs % 3600 // 60)


@register.filter
def took(row: t.Mapping[str, t.Any], now: datetime.datetime | None = None) -> str:
    """How long a host (or task) took; for one still deploying (running), how long so far, marked with "…"."""
    start, end = _parse(row.get("started")), _parse(row.get("ended"))
    if start is None:
        return "-"
    if end is None:
        if row.get("status") not in ("deploying", "running", "paused"):
            return "-"
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return duration((now - start).total_seconds()) + "…"
    return duration((end - start).total_seconds())


@register.filter
def basename(path: str | None) -> str:
    """The last part of a file path."""
    import os

    return os.path.basename(path or "")


@register.filter
def seconds(value: float | None) -> str:
    """A number of seconds as ``42s``, ``3m05s`` or ``2h03m``; "-" when unset."""
    return "-" if value is None else duration(float(value))
