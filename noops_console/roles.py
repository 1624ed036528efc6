"""The console's roles as Django groups: viewer (reads tasks and services), operator (also pauses, continues and
cancels tasks, and launches deploys of a package URL: ``launch_tasks``), admin (as operator, and also launches a
deploy built from code, whose build command runs on the console's host: see ``views_deploy.BUILD_ROLE``). Operators
and admins also start, stop, restart and nuke processes on hosts (``process_actions``: the process pages);
``manage_services`` (admin) lets a user add a service (a new cluster.yml) on the Services page. The groups also hold
a permission reserved for a later page (``manage_users``) that no page checks yet. A user has one role; the highest
group wins if several were given by hand."""

from __future__ import annotations

import typing as t

ROLE_NAMES = ("viewer", "operator", "admin")
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "viewer": ("view_tasks",),
    "operator": ("view_tasks", "control_tasks", "launch_tasks", "process_actions"),
    "admin": ("view_tasks", "control_tasks", "launch_tasks", "process_actions", "manage_users", "manage_services"),
}
APP = "noops_console"


def ensure_roles() -> None:
    """Create the role groups and give each exactly its permissions (idempotent)."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from noops_console.models import Console

    ctype = ContentType.objects.get_for_model(Console)
    perms = {}
    for codename, label in Console._meta.permissions:
        perms[codename], _ = Permission.objects.get_or_create(content_type=ctype, codename=codename,
                                                              defaults={"name": label})
    for role in ROLE_NAMES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([perms[c] for c in ROLE_PERMISSIONS[role]])


def on_post_migrate(**kwargs: t.Any) -> None:
    ensure_roles()


def set_role(user: t.Any, role: str) -> None:
    """Make ``role`` the user's only role group. Raises ValueError for an unknown role."""
    from django.contrib.auth.models import Group

    if role not in ROLE_NAMES:
        raise ValueError("unknown role %r (one of %s)" % (role, ", ".join(ROLE_NAMES)))
    ensure_roles()
    user.groups.remove(*Group.objects.filter(name__in=ROLE_NAMES).exclude(name=role))
    user.groups.add(Group.objects.get(name=role))


def role_of(user: t.Any) -> str | None:
    """The user's role (the highest of its role groups), None for an anonymous user or one without a role."""
    if not getattr(user, "is_authenticated", False):
        return None
    names = set(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
    for role in reversed(ROLE_NAMES):
        if role in names:
            return role
    return "admin" if user.is_superuser else None


def role_of_stored(user: t.Any) -> str | None:
    """The role a stored user holds, whether or not it is active or logged in (``role_of`` is for requests)."""
    names = set(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
    for role in reversed(ROLE_NAMES):
        if role in names:
            return role
    return "admin" if user.is_superuser else None


def can(user: t.Any, codename: str) -> bool:
    """Whether the user holds the console permission ``codename`` (``control_tasks``…)."""
    return bool(getattr(user, "is_authenticated", False) and user.is_active
                and user.has_perm("%s.%s" % (APP, codename)))
