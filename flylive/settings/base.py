"""Django settings shared by every environment. Values come from `flylive.config`.

Secrets stay out of Django settings (a debug page or `diffsettings` prints settings):
JWT_SECRET, LARAVEL_INTERNAL_KEY and REDIS_PASSWORD are read through
`flylive.config.get_config()` by the code that needs them; the channel layer builds its
Redis address itself (apps/realtime/channel_layer.py), and so does Celery (flylive/celery.py).
Only lowercase names here are private to this module."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from flylive.config import get_config

_config = get_config()
BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Its own variable, never JWT_SECRET; required in production (flylive/config.py).
SECRET_KEY = _config.django_secret_key
DEBUG = False
ALLOWED_HOSTS = list(_config.DJANGO_ALLOWED_HOSTS)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_prometheus",
    "apps.realtime",
    "apps.rooms",
    "apps.media",
    "apps.seats",
    "apps.chat",
    "apps.gifts",
    "apps.staff",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # admin CSS and the demo page's bundle
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "flylive.urls"
ASGI_APPLICATION = "flylive.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": dj_database_url.parse(_config.DATABASE_URL, conn_max_age=60)}
# django-prometheus's wrappers of the same backends: Django's database metrics.
_ENGINE = DATABASES["default"]["ENGINE"]
if _ENGINE.startswith("django.db.backends."):
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends." + _ENGINE.rsplit(".", 1)[1]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Broadcasts use the pub/sub flavour: it scales best for large groups. Without `hosts` the
# layer connects to the configured Redis (so its password is not a setting).
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "apps.realtime.channel_layer.BoundedPubSubChannelLayer",
        "CONFIG": {"prefix": "flylive"},
    }
}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The demo page's bundle, made by bin/setup (esbuild) in static/demo/build/, served as static/demo/...
# (only the build: never its sources or node_modules). collectstatic copies it into STATIC_ROOT.
STATICFILES_DIRS = [("demo", BASE_DIR / "static" / "demo" / "build")]
WHITENOISE_USE_FINDERS = True  # serve from the apps and static/ without collectstatic in development
LOGIN_URL = "admin:login"

# Staff API (apps/staff/api.py): staff users only, by session (admin login) or token.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",  # first: 401 with WWW-Authenticate
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FlyLive staff API",
    "DESCRIPTION": "Live rooms, moderation actions, the moderation log and gift dead letters.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}
USE_TZ = True
TIME_ZONE = "UTC"

_LEVELS = {"fatal": "CRITICAL", "error": "ERROR", "warn": "WARNING", "info": "INFO",
           "debug": "DEBUG", "trace": "DEBUG"}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "apps.realtime.correlation.CorrelationIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"}
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["correlation"]}
    },
    "root": {"handlers": ["console"], "level": _LEVELS[_config.LOG_LEVEL]},
}

# Celery: the project's Redis is the broker (flylive/celery.py sets it from the config);
# each app's tasks.py is discovered.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # LOGGING above is the one log format


def _every(task: str, interval_ms: int) -> tuple[str, dict[str, object]]:
    """A beat entry for `task`. A run that waited in the queue longer than its period is dropped
    (`expires`): the next one is already due, so a busy or restarted worker never works through
    a backlog of stale runs."""
    seconds = interval_ms / 1000
    return task, {"task": task, "schedule": seconds, "options": {"expires": seconds}}


CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = dict([
    _every("rooms.auto_close_idle_rooms", _config.ROOM_AUTO_CLOSE_POLL_INTERVAL_MS),
    _every("rooms.close_lost_media_rooms", _config.MEDIA_LOST_ROOMS_POLL_INTERVAL_MS),
    _every("seats.expire_invites", _config.SEAT_INVITE_SWEEP_INTERVAL_MS),
    _every("gifts.flush_gift_buffer", _config.GIFT_BUFFER_FLUSH_INTERVAL_MS),
    _every("realtime.sweep_dead_web_instances", _config.WEB_INSTANCE_SWEEP_INTERVAL_MS),
])
