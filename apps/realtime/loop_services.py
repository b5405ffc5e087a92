"""What the realtime layer needs at run time, one set per event loop: config, the Redis
client, the socket registry and the rate limiter.

    from apps.realtime.loop_services import get_redis
    redis = get_redis()          # redis.asyncio.Redis, decode_responses=True, DB REDIS_DB

Redis clients are bound to the loop they were made on, hence one per loop.
Tests can `install_services(...)` their own (e.g. pointing at the test redis).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass

from apps.realtime.ratelimit import FixedWindowRateLimiter
from apps.realtime.redis_client import create_redis
from apps.realtime.socket_registry import SocketRegistry
from flylive.config import AppConfig, get_config
from flylive.redis_types import AsyncRedis


@dataclass(frozen=True)
class RealtimeServices:
    config: AppConfig
    redis: AsyncRedis
    sockets: SocketRegistry
    rate_limiter: FixedWindowRateLimiter

    @classmethod
    def build(cls, config: AppConfig, redis: AsyncRedis | None = None) -> RealtimeServices:
        client = redis if redis is not None else create_redis(config)
        return cls(config, client, SocketRegistry(client), FixedWindowRateLimiter(client))


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RealtimeServices] = (
    weakref.WeakKeyDictionary()
)


def get_services() -> RealtimeServices:
    loop = asyncio.get_running_loop()
    services = _by_loop.get(loop)
    if services is None:
        services = _by_loop[loop] = RealtimeServices.build(get_config())
    return services


def get_redis() -> AsyncRedis:
    return get_services().redis


def install_services(services: RealtimeServices) -> None:
    """Use `services` on the running loop from now on (tests)."""
    _by_loop[asyncio.get_running_loop()] = services


def uninstall_services() -> RealtimeServices | None:
    return _by_loop.pop(asyncio.get_running_loop(), None)
