"""Celery app: the periodic jobs (room auto-close pass, rooms lost by media nodes, cleanup
after dead web processes; later the gift buffer flush).

`celery -A flylive worker` and `celery -A flylive beat` (bin/serve runs both). The
schedule is `CELERY_BEAT_SCHEDULE` in flylive/settings/base.py; each app's `tasks.py` is
discovered. Tasks run their asyncio code on one loop per worker process
(flylive/celery_loop.py).
"""

from __future__ import annotations

import os

from celery import Celery

from flylive.config import SETTINGS_MODULES, get_config

_config = get_config()
# The environment's settings module, as the other entry points pick it: under
# NODE_ENV=production that is flylive.settings.prod (DEBUG off), never dev.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULES[_config.NODE_ENV])

app = Celery("flylive")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The broker address holds the Redis password: from the config, not a Django setting.
app.conf.broker_url = _config.redis_url
app.autodiscover_tasks()
