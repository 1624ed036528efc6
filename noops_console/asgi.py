"""The ASGI application ``noops console`` serves with uvicorn."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "noops_console.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()
