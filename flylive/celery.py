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

from apps.realtime.redis_client import sentinel_kwargs
from flylive.config import SETTINGS_MODULES, AppConfig, get_config
from flylive.redis_cluster import require_redis_topology

_config = get_config()
require_redis_topology(_config)  # worker and beat: a Sentinel or Cluster that does not answer stops start-up
# The environment's settings module, as the other entry points pick it: under
# NODE_ENV=production that is flylive.settings.prod (DEBUG off), never dev.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULES[_config.NODE_ENV])

app = Celery("flylive")
app.config_from_object("django.conf:settings", namespace="CELERY")


def broker_settings(config: AppConfig) -> dict[str, object]:
    """The broker: the configured Redis DB, or with REDIS_SENTINEL_NODES kombu's Sentinel
    transport (`sentinel://` per Sentinel, the master name in the transport options), which
    asks the Sentinels for the primary on every connection and so follows a failover."""
    if not config.redis_sentinel:
        return {"broker_url": config.redis_url}
    auth = f"{config.REDIS_USERNAME or ''}:{config.REDIS_PASSWORD}@" if config.REDIS_PASSWORD else ""
    urls = [f"sentinel://{auth}{f'[{host}]' if ':' in host else host}:{port}/{config.REDIS_DB}"
            for host, port in config.REDIS_SENTINEL_NODES]
    return {"broker_url": ";".join(urls),
            "broker_transport_options": {"master_name": config.REDIS_SENTINEL_MASTER,
                                         "sentinel_kwargs": sentinel_kwargs()}}


# The broker address holds the Redis password: from the config, not a Django setting.
app.conf.update(broker_settings(_config))
app.autodiscover_tasks()
