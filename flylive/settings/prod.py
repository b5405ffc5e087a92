"""Production settings (NODE_ENV=production, the entry points' choice then): DEBUG off."""

from flylive.config import ConfigError, get_config
from flylive.settings.base import *  # noqa: F403

if get_config().DJANGO_SECRET_KEY is None:  # chosen explicitly under another NODE_ENV
    raise ConfigError("Invalid configuration:\n  DJANGO_SECRET_KEY: is required by flylive.settings.prod")

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
