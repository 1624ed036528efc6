"""Who is asking: the session (pages) or an API token (``Authorization: Bearer TOKEN``), and what they may do."""

from __future__ import annotations

import functools
import typing as t

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from noops_console import accounts, roles


class BearerTokenMiddleware:
    """A request with ``Authorization: Bearer TOKEN`` is that token's user, and carries no cookie to forge, so it
    is exempt from the CSRF check. A bad token is refused (401) rather than falling back to the session."""

    def __init__(self, get_response: t.Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return api_error(401, "Authorization: use 'Bearer TOKEN'")
            user = accounts.user_for_token(token.strip())
            if user is None:
                return api_error(401, "unknown or revoked API token")
            request.user = user
            request.auth_method = "token"
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """Pages load scripts, styles and images from the console only, and no other site may frame them. (htmx adds
    its indicator styles inline, hence ``'unsafe-inline'`` for styles alone.)"""

    POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
              "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")

    def __init__(self, get_response: t.Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", self.POLICY)
        return response


def methods(*allowed: str) -> t.Callable[[t.Callable[..., HttpResponse]], t.Callable[..., HttpResponse]]:
    """Only the HTTP ``allowed`` methods (GET brings HEAD); any other gets 405 with ``Allow``: JSON under /api/,
    a page otherwise."""
    names = list(allowed) + (["HEAD"] if "GET" in allowed and "HEAD" not in allowed else [])

    def wrap(view: t.Callable[..., HttpResponse]) -> t.Callable[..., HttpResponse]:
        @functools.wraps(view)
        def inner(request: HttpRequest, *args: t.Any, **kwargs: t.Any) -> HttpResponse:
            if request.method in names:
                return view(request, *args, **kwargs)
            message = "method %s: use %s" % (request.method, " or ".join(names))
            if request.path.startswith("/api/"):
                response: HttpResponse = api_error(405, message)
            else:
                from django.shortcuts import render
                response = render(request, "console/error.html", {"title": "Method not allowed",
                                                                  "message": message}, status=405)
            response["Allow"] = ", ".join(names)
            return response
        return inner
    return wrap


def api_error(status: int, *errors: str) -> JsonResponse:
    response = JsonResponse({"errors": list(errors)}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="noops console"'
    return response


def api_view(permission: str) -> t.Callable[[t.Callable[..., HttpResponse]], t.Callable[..., HttpResponse]]:
    """An API view: 401 without credentials, 403 without ``permission``."""
    def wrap(view: t.Callable[..., HttpResponse]) -> t.Callable[..., HttpResponse]:
        @functools.wraps(view)
        def inner(request: HttpRequest, *args: t.Any, **kwargs: t.Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return api_error(401, "log in or send Authorization: Bearer TOKEN")
            if not roles.can(request.user, permission):
                return api_error(403, "user %s (role %s) may not do this: needs %s"
                                 % (request.user.get_username(), roles.role_of(request.user) or "none", permission))
            return view(request, *args, **kwargs)
        return inner
    return wrap


def page_view(permission: str) -> t.Callable[[t.Callable[..., HttpResponse]], t.Callable[..., HttpResponse]]:
    """A page: the login page without a session, 403 without ``permission``."""
    def wrap(view: t.Callable[..., HttpResponse]) -> t.Callable[..., HttpResponse]:
        @functools.wraps(view)
        def inner(request: HttpRequest, *args: t.Any, **kwargs: t.Any) -> HttpResponse:
            if not request.user.is_authenticated:
                login_url = "/login?next=%s" % _quote(request.get_full_path())
                if getattr(request, "htmx", False):
                    # A page refreshing itself after its session ended: the whole page goes to the login form,
                    # rather than the login form being swapped into a part of the page.
                    from django_htmx.http import HttpResponseClientRedirect
                    return HttpResponseClientRedirect(login_url)
                return redirect(login_url)
            if not roles.can(request.user, permission):
                from django.shortcuts import render
                return render(request, "console/error.html", {"title": "Not allowed", "message": (
                    "Your role (%s) does not allow this." % (roles.role_of(request.user) or "none"))}, status=403)
            return view(request, *args, **kwargs)
        return inner
    return wrap


def _quote(path: str) -> str:
    from urllib.parse import quote
    return quote(path, safe="/")
