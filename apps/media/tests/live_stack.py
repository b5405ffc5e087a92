"""The whole server on loopback for media end-to-end tests: the session's redis, runmedia, the web process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import redis as sync_redis
from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio import from_url

from apps.media.gateway import MediaRpcClient
from apps.media.node_registry import NodeRegistry
from apps.media.tests.media_node_process import MediaNodeProcess, media_env, run_media_node
from tests.support.celery_procs import run_celery_beat, run_celery_worker
from tests.support.processes import RedisServer
from tests.support.server import LiveServer, run_server, server_env

MEDIA_E2E_DB = 7


@dataclass
class LiveStack:
    web: LiveServer
    media: MediaNodeProcess
    env: dict[str, str]
    redis: RedisServer

    @property
    def url(self) -> str:
        return self.web.url

    def logs(self) -> str:
        return f"--- media ---\n{self.media.log_tail()}\n--- web ---\n{self.web.log_tail()}"


@contextlib.contextmanager
def live_stack(redis: RedisServer, *, celery: bool = False, **settings: str) -> Iterator[LiveStack]:
    """runmedia + uvicorn against `redis` (DB MEDIA_E2E_DB, flushed first); `settings` are env overrides.

    `celery`: a Celery worker and beat too, for what the rooms app does on its schedule (closing
    the rooms a media node reports lost)."""
    sync_redis.Redis(host=redis.host, port=redis.port, db=MEDIA_E2E_DB).flushdb()
    env = media_env(server_env(redis, REDIS_DB=str(MEDIA_E2E_DB), LOG_LEVEL="warn"), **settings)
    with contextlib.ExitStack() as processes:
        media = processes.enter_context(run_media_node(env))
        web = processes.enter_context(run_server(env, server="uvicorn"))
        if celery:
            processes.enter_context(run_celery_worker(env, name="media-e2e"))
            processes.enter_context(run_celery_beat(env))
        yield LiveStack(web, media, env, redis)


@contextlib.asynccontextmanager
async def media_rpc(stack: LiveStack) -> AsyncIterator[MediaRpcClient]:
    """A gateway client on the stack's Redis, for looking inside the media node (room.stats)."""
    url = stack.redis.url(db=int(stack.env["REDIS_DB"]))
    layer = RedisPubSubChannelLayer(hosts=[url], prefix="flylive")
    redis_client: Any = from_url(url)
    client = MediaRpcClient(layer, timeout=5.0, registry=NodeRegistry(redis_client))
    try:
        yield client
    finally:
        await client.aclose()
        await layer.flush()
        await redis_client.aclose()
