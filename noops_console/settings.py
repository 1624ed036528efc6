"""Django settings of the console, from the environment ``noops console`` sets (see ``noops_console.config``)."""

import os

from noops_console import config

CONSOLE_DB = os.path.abspath(os.path.expanduser(os.environ.get(config.DB_ENV) or config.default_db_path()))
SECRET_KEY = config.secret_key(CONSOLE_DB)
DEBUG = False
# The Host header is checked: a console on 127.0.0.1 must not answer a page of another site that a DNS record
# points at 127.0.0.1 (DNS rebinding).
# Only names and addresses: a "*" or ".domain" pattern, which would switch the check off, is dropped.
ALLOWED_HOSTS = [h for h in (config.host_name(h) for h in (os.environ.get(config.ALLOWED_HOSTS_ENV) or "").split(","))
                 if h] or list(config.LOOPBACK_NAMES)
# Request bodies: the API and forms take a few fields; a larger body is refused (400) before it is read.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # bytes

# None: resolved at each request like ``noops tasks`` does (environment, ansible.cfg, default file).
NOOPS_HISTORY_DSN = os.environ.get(config.HISTORY_DSN_ENV) or None
NOOPS_TASKS_PER_PAGE = 25

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django_htmx",
    "noops_console.apps.ConsoleConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "noops_console.auth.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "noops_console.auth.BearerTokenMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "noops_console.urls"
ASGI_APPLICATION = "noops_console.asgi.application"

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "noops_console.views.console_context",
    ]},
}]

DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": CONSOLE_DB,
    "OPTIONS": {"timeout": 10, "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One process serves the console: the login throttle's counters live in its memory (noops_console.throttle).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "noops-console"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Server-side sessions in the console database; cookies out of reach of scripts and of other sites' requests.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_NAME = "noops_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
CSRF_COOKIE_NAME = "noops_csrftoken"
CSRF_COOKIE_HTTPONLY = True  # pages send the token from the form / hx-headers, never from script-read cookies
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "noops_console.views.csrf_failure"
_TLS = os.environ.get(config.TLS_ENV) == "1"
SESSION_COOKIE_SECURE = _TLS
CSRF_COOKIE_SECURE = _TLS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/tasks"

LANGUAGE_CODE = "en"
USE_I18N = False
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"

# Errors of the console itself (5xx) with their traceback; a refused request (bad Host, failed CSRF check, body too
# large) on one line; other 4xx answers (401, 403, 404, 405, 409, 429, bad values) are the client's business and not
# logged.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"one_line": {"()": "noops_console.logs.OneLineFormatter"}},
    "filters": {"not_unauthenticated": {"()": "noops_console.logs.NotUnauthenticated"}},
    "handlers": {"console": {"class": "logging.StreamHandler"},
                 "refused": {"class": "logging.StreamHandler", "formatter": "one_line",
                             "filters": ["not_unauthenticated"]}},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING"},
                "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
                "django.security": {"handlers": ["refused"], "level": "WARNING", "propagate": False}},
}
