"""Development settings (NODE_ENV=development): DEBUG on. Refused under NODE_ENV=production."""

from flylive.config import get_config, refuse_in_production
from flylive.settings.base import *  # noqa: F403

refuse_in_production(get_config(), __name__)

DEBUG = True
