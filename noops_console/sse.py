"""Server-sent events (``text/event-stream``) for the console's live pages, served by uvicorn through Django's ASGI
handler; the pages receive them with htmx's SSE extension (which django-htmx ships).

``response(events)`` wraps an async iterator of encoded events in a streaming response that no proxy or browser
caches or buffers; ``event(data, name)`` encodes one event (every line of ``data`` a ``data:`` line), ``comment``
a keep-alive line. The client reconnects by itself after a stream ends (``retry``).
"""

from __future__ import annotations

import typing as t

from django.http import StreamingHttpResponse

CONTENT_TYPE = "text/event-stream"


def event(data: str, name: str | None = None, retry: int | None = None) -> bytes:
    """One event: ``name`` (the client's ``sse-swap`` name; None: ``message``), ``data`` (lines), ``retry``
    (milliseconds the client waits before it reconnects)."""
    lines = []
    if name:
        lines.append("event: " + "".join(name.split()))
    if retry is not None:
        lines.append("retry: %d" % int(retry))
    lines += ["data: " + line for line in (data.replace("\r\n", "\n").replace("\r", "\n").split("\n"))]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def comment(text: str = "") -> bytes:
    """A comment line: keeps the connection open through proxies, shown to no one."""
    return (": " + " ".join(text.split()) + "\n\n").encode("utf-8")


def response(events: t.AsyncIterator[bytes]) -> StreamingHttpResponse:
    """A streaming ``text/event-stream`` answer of ``events`` (an async iterator of ``event``/``comment``
    bytes)."""
    answer = StreamingHttpResponse(events, content_type=CONTENT_TYPE)
    answer["Cache-Control"] = "no-store"
    answer["X-Accel-Buffering"] = "no"  # a reverse proxy passes each event on at once
    return answer
