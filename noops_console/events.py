"""Server-sent events (``text/event-stream``) for pages and the API, served by uvicorn through Django's ASGI
handler and received by htmx's SSE extension: ``event``/``comment``/``response`` for any stream (a process's log
tail), and ``stream``, a generic stream over a poll function (a task's changes).

A stream asks its ``poll(since)`` for what changed after the number ``since`` (the store's change sequence), sends
each change as one event whose ``id:`` is that number, and ends when ``poll`` says nothing more will come and all
was sent. A client that reconnects sends the last id it got (``Last-Event-ID``, as browsers' EventSource does) and
is caught up from there. Nothing is queued: each poll reads the current state, so a stream's memory stays bounded
whatever the client's speed.
"""

from __future__ import annotations

import asyncio
import time
import typing as t

from django.http import HttpRequest, StreamingHttpResponse

POLL_INTERVAL = 0.2  # seconds between two polls of the store
KEEPALIVE = 15.0  # seconds without an event before a comment line keeps proxies from closing the stream
LIFETIME = 300.0  # seconds a stream lasts; the client then reconnects (its session and role are checked again)
RETRY = 1000  # milliseconds a browser waits before it reconnects


class Event(t.NamedTuple):
    """One event: its id (a change number), name and text (may span lines)."""

    id: int
    name: str
    data: str


# poll(since) -> (events after ``since``, oldest first; True when the stream is over once they are sent)
Poll = t.Callable[[int], t.Tuple[t.List[Event], bool]]


def last_event_id(request: HttpRequest) -> int:
    """The change number a client has seen: its ``Last-Event-ID`` header, else the ``last_event_id`` query
    parameter; 0 when absent or not a whole number."""
    raw = (request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 19 else 0


def event(data: str, name: str | None = None, retry: int | None = None, event_id: int | None = None) -> bytes:
    """One event as the event-stream format writes it: ``event_id`` (the ``id:`` a reconnect sends back), ``name``
    (the client's ``sse-swap`` name; None: ``message``), ``retry`` (milliseconds the client waits before it
    reconnects), ``data`` (every line a ``data:`` line; CR, LF and CRLF end a line, as the format reads them)."""
    lines = []
    if event_id is not None:
        lines.append("id: %d" % int(event_id))
    if name:
        lines.append("event: " + "".join(name.split()))
    if retry is not None:
        lines.append("retry: %d" % int(retry))
    lines += ["data: " + line for line in (data.replace("\r\n", "\n").replace("\r", "\n").split("\n"))]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def encode(ev: Event) -> bytes:
    """A change's event: its number as the ``id:``."""
    return event(ev.data, ev.name, event_id=ev.id)


def comment(text: str = "") -> bytes:
    """A comment line: keeps the connection open through proxies, shown to no one."""
    return (": " + " ".join(text.split()) + "\n\n").encode("utf-8")


def response(chunks: t.AsyncIterator[bytes]) -> StreamingHttpResponse:
    """A streaming ``text/event-stream`` answer of ``chunks`` (``event``/``comment`` bytes) that no proxy or
    browser caches or buffers."""
    answer = StreamingHttpResponse(chunks, content_type="text/event-stream")
    answer["Cache-Control"] = "no-store"
    answer["X-Accel-Buffering"] = "no"  # a reverse proxy passes each event on at once
    return answer


async def _stream(poll: Poll, since: int, first: tuple[list[Event], bool] | None, interval: float,
                  keepalive: float, lifetime: float, close: t.Callable[[], None] | None) -> t.AsyncIterator[bytes]:
    try:
        async for chunk in _events(poll, since, first, interval, keepalive, lifetime):
            yield chunk
    finally:  # also when the client went away (the server cancels the response)
        if close is not None:
            await asyncio.to_thread(close)


async def _events(poll: Poll, since: int, first: tuple[list[Event], bool] | None, interval: float,
                  keepalive: float, lifetime: float) -> t.AsyncIterator[bytes]:
    yield ("retry: %d\n\n" % RETRY).encode("ascii")
    started = last_sent = time.monotonic()
    while True:
        events, done = first if first is not None else await asyncio.to_thread(poll, since)
        first = None
        for event in events:
            since = max(since, event.id)
            yield encode(event)
            last_sent = time.monotonic()
        if done:
            yield encode(Event(since, "end", ""))
            return
        now = time.monotonic()
        if now - started >= lifetime:
            return  # the client reconnects with Last-Event-ID
        if now - last_sent >= keepalive:
            yield comment("keepalive")
            last_sent = now
        await asyncio.sleep(interval)


def stream(poll: Poll, since: int, first: tuple[list[Event], bool] | None = None, interval: float | None = None,
           keepalive: float | None = None, lifetime: float | None = None,
           close: t.Callable[[], None] | None = None) -> StreamingHttpResponse:
    """A ``text/event-stream`` response of ``poll``'s events after ``since`` (``first``: the answer of a poll the
    caller already made). ``poll`` runs in a worker thread, one call at a time. ``interval``, ``keepalive`` and
    ``lifetime`` (seconds) default to POLL_INTERVAL, KEEPALIVE and LIFETIME. ``close`` is called once the stream
    is over, however it ends (the client gone included)."""
    interval = POLL_INTERVAL if interval is None else interval
    keepalive = KEEPALIVE if keepalive is None else keepalive
    lifetime = LIFETIME if lifetime is None else lifetime
    return response(_stream(poll, since, first, interval, keepalive, lifetime, close))


def parse(body: bytes | str) -> list[dict[str, str]]:
    """The events of an event-stream text (for tests and the benchmark): [{"id", "event", "data"}]; comments and
    ``retry:`` lines are skipped."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":") or ":" not in line:
                continue
            name, value = line.split(":", 1)
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
        if "event" in fields or "data" in fields:
            out.append({"id": (fields.get("id") or [""])[-1], "event": (fields.get("event") or ["message"])[-1],
                        "data": "\n".join(fields.get("data", []))})
    return out
