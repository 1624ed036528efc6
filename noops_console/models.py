"""The console's own records: API tokens and the audit log. The deploy history is not mapped here: it is read
through the history store (``noops_console.history``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Console(models.Model):
    """No table: holds the console's permissions, which the role groups (``noops_console.roles``) are given."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_tasks", "See tasks, their hosts and logs"),
            ("control_tasks", "Pause, resume and cancel tasks"),
            ("launch_tasks", "Launch deploys, rollbacks and controls"),
            ("process_actions", "Start, stop and restart processes on hosts"),
            ("manage_users", "Add and change users, roles and tokens"),
            ("manage_services", "Add and change services"),
        ]


class ApiToken(models.Model):
    """An API token of a user. Only its SHA-256 is kept: the token itself is shown once, when it is made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=16, help_text="the token's first characters, to tell tokens apart")
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "%s… of %s" % (self.hint, self.user)


class AuditEntry(models.Model):
    """Who did what to what, and when: logins, task controls, user and token changes."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    username = models.CharField(max_length=150, help_text="kept when the user is deleted")
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=255, blank=True, db_index=True)
    detail = models.TextField(blank=True)
    address = models.CharField(max_length=64, blank=True, help_text="client address, '' from the command line")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target", "at"])]

    def __str__(self) -> str:
        return "%s %s %s %s" % (self.at.isoformat(), self.username, self.action, self.target)
