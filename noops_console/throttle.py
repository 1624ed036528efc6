"""Login throttling, a small rule on Django's cache.

The rule: after ``USER_LIMIT`` failed logins for one user name, or ``ADDRESS_LIMIT`` from one client address,
within ``WINDOW`` seconds of the first of them, every login for that name (or from that address) is refused —
even with the right password — until ``WINDOW`` seconds after that first failure. A successful login clears the
name's count. The counters live in the cache of the one console process (a restart clears them).
"""

from __future__ import annotations

import hashlib
import threading
import time

from django.core.cache import cache

USER_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW = 900  # seconds

_lock = threading.Lock()  # the console's views run in threads: keep read-modify-write of a counter whole


def _keys(username: str, address: str) -> list[tuple[str, int]]:
    name = hashlib.sha256((username or "").lower().encode("utf-8")).hexdigest()[:32]
    out = [("noops-login:user:%s" % name, USER_LIMIT)]
    if address:
        out.append(("noops-login:addr:%s" % address, ADDRESS_LIMIT))
    return out


def blocked_for(username: str, address: str, now: float | None = None) -> int:
    """Seconds until a login for ``username`` from ``address`` is allowed again; 0 when it is allowed now."""
    now = time.time() if now is None else now
    wait = 0.0
    for key, limit in _keys(username, address):
        count, first = cache.get(key, (0, now))
        if count >= limit:
            wait = max(wait, first + WINDOW - now)
    return int(wait + 0.999) if wait > 0 else 0


def record_failure(username: str, address: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    with _lock:
        for key, dummy in _keys(username, address):
            count, first = cache.get(key, (0, now))
            if now - first >= WINDOW:
                count, first = 0, now
            cache.set(key, (count + 1, first), timeout=max(1, int(first + WINDOW - now + 1)))


def record_success(username: str) -> None:
    with _lock:
        cache.delete(_keys(username, "")[0][0])
