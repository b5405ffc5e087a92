"""Django settings shared by every environment. Values come from `flylive.config`."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from flylive.config import get_config

CONFIG = get_config()
BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = CONFIG.DJANGO_SECRET_KEY or CONFIG.JWT_SECRET
DEBUG = False
ALLOWED_HOSTS = list(CONFIG.DJANGO_ALLOWED_HOSTS)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "apps.realtime",
    "apps.rooms",
    "apps.media",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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

DATABASES = {"default": dj_database_url.parse(CONFIG.DATABASE_URL, conn_max_age=60)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Broadcasts use the pub/sub flavour: it scales best for large groups.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [CONFIG.redis_url], "prefix": "flylive"},
    }
}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
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
    "root": {"handlers": ["console"], "level": _LEVELS[CONFIG.LOG_LEVEL]},
}

# Celery: the project's Redis is the broker; each app's tasks.py is discovered.
CELERY_BROKER_URL = CONFIG.redis_url
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}
