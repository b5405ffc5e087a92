"""`manage.py runmedia`: run this machine's media node until SIGTERM/SIGINT (then shut down gracefully)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.media.media_settings import MediaSettings
from apps.media.service import MediaService
from flylive.config import get_config
from flylive.redis_cluster import require_redis_topology

logger = logging.getLogger("apps.media.runmedia")
SHUTDOWN_DEADLINE_SECONDS = 30.0  # contract 10: forced exit after 30 s


class Command(BaseCommand):
    help = "Run the media service: a pool of mediasoup workers serving rooms' media over the channel layer."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=None, help="override MEDIASOUP_NUM_WORKERS")
        parser.add_argument("--node-id", default=None, help="registry id (default: host-pid-random)")
        parser.add_argument(
            "--bench", action="store_true", help="serve bench-only RPCs (bench/media_room.py)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        require_redis_topology(get_config())  # a Sentinel or Cluster that does not answer stops start-up
        asyncio.run(
            run_media_node(workers=options["workers"], node_id=options["node_id"], bench=options["bench"])
        )


async def run_media_node(
    *, workers: int | None = None, node_id: str | None = None, bench: bool = False
) -> None:
    from channels.layers import get_channel_layer

    from apps.realtime.redis_client import create_redis

    config = get_config()
    settings = MediaSettings.from_config(config)
    if workers:
        settings = settings.with_changes(num_workers=workers)
    if bench:
        settings = settings.with_changes(bench_rpc=True)
    redis = create_redis(config)
    service = MediaService(settings, redis=redis, channel_layer=get_channel_layer(), node_id=node_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    print(f"media node {service.node_id} ready on {service.channel}", flush=True)
    try:
        await stop.wait()
    finally:
        logger.info("shutting down the media node")
        try:
            await asyncio.wait_for(service.stop(), SHUTDOWN_DEADLINE_SECONDS)
        except TimeoutError:
            logger.error("media node did not stop within %.0f s", SHUTDOWN_DEADLINE_SECONDS)
        await redis.aclose()
