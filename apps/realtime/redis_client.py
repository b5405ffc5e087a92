"""The project's Redis client, built from the configuration with the contract's settings.

Redis clients are bound to the event loop they were made on: web processes hold one
per loop (`apps.realtime.loop_services`), other processes build their own.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from flylive.config import AppConfig

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
