from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "noops_console"
    label = "noops_console"
    verbose_name = "noops console"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from noops_console import roles

        # After auth has created the permissions: make the role groups hold theirs.
        post_migrate.connect(roles.on_post_migrate, sender=self)
