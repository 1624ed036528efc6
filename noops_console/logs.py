"""Log lines of the console."""

from __future__ import annotations

import logging


class OneLineFormatter(logging.Formatter):
    """A refused request (Django's ``django.security`` loggers: a Host the console does not answer to, a body too
    large) as one line, without the traceback Django attaches: they are the client's mistakes, not the console's."""

    def format(self, record: logging.LogRecord) -> str:
        from django.core.exceptions import DisallowedHost

        exc = record.exc_info[1] if record.exc_info else None
        request = getattr(record, "request", None)
        if isinstance(exc, DisallowedHost) and request is not None:
            text = "refused a request for host %r (not a name this console answers to: see --allowed-host)" % (
                request.META.get("HTTP_HOST", ""),)
        else:
            text = record.getMessage()
        return "noops console: " + " ".join(text.split())
