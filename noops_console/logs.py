"""Log lines of the console."""

from __future__ import annotations

import logging


class OneLineFormatter(logging.Formatter):
    """A refused request (Django's ``django.security`` loggers: a Host the console does not answer to, a failed CSRF
    check, a body too large) as one line naming what was refused and why, without the traceback Django attaches:
    they are the client's mistakes, not the console's."""

    def format(self, record: logging.LogRecord) -> str:
        from django.conf import settings
        from django.core.exceptions import DisallowedHost, RequestDataTooBig

        exc = record.exc_info[1] if record.exc_info else None
        request = getattr(record, "request", None)
        if isinstance(exc, DisallowedHost) and request is not None:
            text = "refused a request for host %r (not a name this console answers to: see --allowed-host)" % (
                request.META.get("HTTP_HOST", ""),)
        elif isinstance(exc, RequestDataTooBig) and request is not None:
            text = "refused a request: %s %s: body larger than %d bytes" % (
                request.method, request.path, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        elif record.name == "django.security.csrf" and request is not None:
            reason = record.args[0] if isinstance(record.args, tuple) and record.args else record.getMessage()
            text = "refused a request: %s %s: CSRF check failed (%s)" % (request.method, request.path, reason)
        else:
            text = record.getMessage()
        return "noops console: " + " ".join(str(text).split())


class NotUnauthenticated(logging.Filter):
    """Drops the CSRF record of an API request without credentials: it is answered 401 (log in or send a token),
    which like the other 4xx answers is not logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 401
