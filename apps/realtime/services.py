"""What the realtime layer needs at run time, one set per event loop: config, the Redis
client, the socket registry and the rate limiter.

    from apps.realtime.services import get_redis
    redis = get_redis()          # redis.asyncio.Redis, decode_responses=True, DB REDIS_DB

Redis clients are bound to the loop they were made on, hence one per loop.
Tests can `install_services(...)` their own (e.g. pointing at the test redis).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from apps.realtime.ratelimit import FixedWindowRateLimiter
from apps.realtime.socket_registry import SocketRegistry
from flylive.config import AppConfig, get_config

# Connections per process and loop. A burst of handshakes waits for a free one
# (BlockingConnectionPool) instead of failing with MaxConnectionsError, which would
# refuse sockets (the revocation check fails closed).
REDIS_POOL_SIZE = 64
REDIS_POOL_WAIT_SECONDS = 5


def create_redis(config: AppConfig) -> Redis:
    """The contract's client settings: connect timeout 10 s, command timeout 5 s, 3 retries."""
    pool = BlockingConnectionPool.from_url(
        config.redis_url,
        max_connections=REDIS_POOL_SIZE,
        timeout=REDIS_POOL_WAIT_SECONDS,
        decode_responses=True,
        socket_connect_timeout=10,
        socket_timeout=5,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), 3),
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)


@dataclass(frozen=True)
class RealtimeServices:
    config: AppConfig
    redis: Redis
    sockets: SocketRegistry
    rate_limiter: FixedWindowRateLimiter

    @classmethod
    def build(cls, config: AppConfig, redis: Redis | None = None) -> RealtimeServices:
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


def get_redis() -> Redis:
    return get_services().redis


def install_services(services: RealtimeServices) -> None:
    """Use `services` on the running loop from now on (tests)."""
    _by_loop[asyncio.get_running_loop()] = services


def uninstall_services() -> RealtimeServices | None:
    return _by_loop.pop(asyncio.get_running_loop(), None)
