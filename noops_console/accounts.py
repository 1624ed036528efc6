"""Users, API tokens, the first admin and the audit log: one function each, for the command line and the pages."""

from __future__ import annotations

import hashlib
import re
import secrets
import typing as t

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from noops_console import roles
from noops_console.models import ApiToken, AuditEntry

FIRST_ADMIN = "admin"
TOKEN_PREFIX = "noops_"
_NAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,150}$")


class AccountError(Exception):
    """A user or token request that cannot be done; the message names the field and value."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_problems(name: str, role: str) -> list[str]:
    """The problems of a new user's ``name`` (bad, taken) and ``role`` (not viewer, operator or admin), as lines."""
    User = get_user_model()
    problems = []
    if not _NAME.match(name or ""):
        problems.append("user name %r: use 1-150 letters, digits and _ . @ + -" % name)
    elif User.objects.filter(username=name).exists():
        problems.append("user name %r: already exists" % name)
    if role not in roles.ROLE_NAMES:
        problems.append("role %r: one of %s" % (role, ", ".join(roles.ROLE_NAMES)))
    return problems


def add_user(name: str, role: str, password: str, by: str = "") -> t.Any:
    """Create user ``name`` with ``role`` (viewer, operator, admin) and ``password``; audited as done by ``by``.

    Raises AccountError naming every problem (bad name, unknown role, existing user, weak password) at once.
    """
    User = get_user_model()
    problems = user_problems(name, role)
    try:
        validate_password(password or "", User(username=name))
    except ValidationError as e:
        problems.append("password: %s" % " ".join(e.messages))
    if problems:
        raise AccountError("; ".join(problems))
    with transaction.atomic():
        user = User.objects.create_user(username=name, password=password)
        roles.set_role(user, role)
        audit(by or name, "user.add", "user:%s" % name, "role %s" % role)
    return user


def ensure_first_admin() -> str | None:
    """On a console without users, create ``admin`` (role admin) with a generated password and return it (the only
    time it is known); None when users exist already."""
    User = get_user_model()
    with transaction.atomic():
        if User.objects.exists():
            return None
        password = secrets.token_urlsafe(18)
        user = User.objects.create_user(username=FIRST_ADMIN, password=password)
        roles.set_role(user, "admin")
        audit("noops console", "user.add", "user:%s" % FIRST_ADMIN, "first start: role admin, generated password")
    return password


def _user(name: str) -> t.Any:
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        raise AccountError("user name %r: no such user" % name)
    return user


def _keep_an_admin(user: t.Any) -> None:
    """Refuse to take the last active admin away (disable, demote, remove): nobody could manage users then."""
    if roles.role_of_stored(user) != "admin" or not user.is_active:
        return
    others = [u for u in get_user_model().objects.filter(is_active=True).exclude(pk=user.pk)
              if roles.role_of_stored(u) == "admin"]
    if not others:
        raise AccountError("user name %r: the last active admin stays" % user.get_username())


def list_users() -> list[dict[str, t.Any]]:
    """Every user: {"name", "role", "active", "tokens", "last_login"} by name."""
    User = get_user_model()
    return [{"name": u.get_username(), "role": roles.role_of_stored(u) or "-", "active": u.is_active,
             "tokens": u.api_tokens.count(), "last_login": u.last_login}
            for u in User.objects.order_by("username")]


def set_password(name: str, password: str, by: str = "") -> None:
    """Give user ``name`` a new password (its sessions end: they were signed with the old one). Raises
    AccountError (no such user, weak password)."""
    user = _user(name)
    try:
        validate_password(password or "", user)
    except ValidationError as e:
        raise AccountError("password: %s" % " ".join(e.messages)) from None
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit(by or name, "user.set-password", "user:%s" % name)


def set_user_role(name: str, role: str, by: str = "") -> None:
    """Make ``role`` the only role of user ``name``. Raises AccountError (no such user, unknown role, the last
    active admin)."""
    if role not in roles.ROLE_NAMES:
        raise AccountError("role %r: one of %s" % (role, ", ".join(roles.ROLE_NAMES)))
    user = _user(name)
    with transaction.atomic():
        if role != "admin":
            _keep_an_admin(user)
        old = roles.role_of_stored(user)
        roles.set_role(user, role)
        audit(by or name, "user.set-role", "user:%s" % name, "role %s (was %s)" % (role, old or "none"))


def set_active(name: str, active: bool, by: str = "") -> None:
    """Enable or disable user ``name``: a disabled user cannot log in, its sessions and API tokens stop working
    (they are kept, and work again once enabled). Raises AccountError (no such user, the last active admin)."""
    user = _user(name)
    with transaction.atomic():
        if not active:
            _keep_an_admin(user)
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit(by or name, "user.enable" if active else "user.disable", "user:%s" % name)


def remove_user(name: str, by: str = "") -> None:
    """Delete user ``name`` with its API tokens (the audit log keeps its name). Raises AccountError (no such
    user, the last active admin)."""
    user = _user(name)
    with transaction.atomic():
        _keep_an_admin(user)
        user.delete()
        audit(by or name, "user.remove", "user:%s" % name)


def list_tokens(name: str | None = None) -> list[dict[str, t.Any]]:
    """API tokens (all, or user ``name``'s): {"id", "user", "hint", "created", "last_used"}; never the token.
    Raises AccountError for an unknown ``name``."""
    rows = ApiToken.objects.select_related("user").order_by("id")
    if name is not None:
        rows = rows.filter(user=_user(name))
    return [{"id": r.pk, "user": r.user.get_username(), "hint": r.hint, "created": r.created,
             "last_used": r.last_used} for r in rows]


def revoke_token(token_id: int, by: str = "") -> None:
    """Delete API token ``token_id`` (the id ``list_tokens`` shows): requests with it get 401 from now on.
    Raises AccountError when there is no such token."""
    row = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if row is None:
        raise AccountError("token %d: no such token" % token_id)
    with transaction.atomic():
        row.delete()
        audit(by or row.user.get_username(), "token.revoke", "user:%s" % row.user.get_username(),
              "token %s…" % row.hint)


def add_token(name: str, by: str = "") -> str:
    """A new API token for user ``name``, returned once; only its SHA-256 is stored. Raises AccountError."""
    User = get_user_model()
    user = User.objects.filter(username=name).first()
    if user is None:
        raise AccountError("user name %r: no such user" % name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, digest=_hash(token), hint=token[:len(TOKEN_PREFIX) + 4])
    audit(by or name, "token.add", "user:%s" % name, "token %s…" % token[:len(TOKEN_PREFIX) + 4])
    return token


def user_for_token(token: str) -> t.Any | None:
    """The active user an API token belongs to, or None (unknown token, inactive user)."""
    if not token:
        return None
    row = ApiToken.objects.select_related("user").filter(digest=_hash(token)).first()
    if row is None or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used is None or (now - row.last_used).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used=now)
    return row.user


def audit(who: t.Any, action: str, target: str = "", detail: str = "", address: str = "") -> AuditEntry:
    """Record an action; ``who`` is a user or a name (the command line, a failed login's typed name). The detail is
    stored after the project's text rule for secrets (``redact.mask_text``: ``password=X``, URL passwords, ...)."""
    from ansible_collections.noops.platform.plugins.module_utils.redact import mask_text

    user = who if hasattr(who, "username") else None
    name = user.get_username() if user is not None else str(who or "")
    if user is not None and not user.pk:
        user = None
    return AuditEntry.objects.create(user=user, username=name[:150], action=action, target=target[:255],
                                     detail=mask_text(detail or ""), address=address[:64])


def audit_entries(user: str | None = None, action: str | None = None, target: str | None = None,
                  limit: int = 100) -> list[dict[str, t.Any]]:
    """The newest ``limit`` audit entries, newest first: ``{"at" (datetime, UTC), "user", "action", "target",
    "detail", "address"}``. ``user`` and ``target`` match exactly, ``action`` as a prefix (``task.``)."""
    entries = AuditEntry.objects.all()
    if user:
        entries = entries.filter(username=user)
    if action:
        entries = entries.filter(action__startswith=action)
    if target:
        entries = entries.filter(target=target)
    return [{"at": e.at, "user": e.username, "action": e.action, "target": e.target, "detail": e.detail,
             "address": e.address} for e in entries.order_by("-at", "-id")[:max(1, int(limit))]]


def client_address(request: t.Any) -> str:
    """The client address of a request (the direct peer: the console does not trust proxy headers)."""
    return str(request.META.get("REMOTE_ADDR") or "")
