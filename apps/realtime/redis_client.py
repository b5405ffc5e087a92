"""The project's Redis clients, built from the configuration with the contract's settings.

Redis clients are bound to the event loop they were made on: web processes hold one
per loop (`apps.realtime.loop_services`), other processes build their own.

With REDIS_SENTINEL_NODES every client here finds the primary through the Sentinels each time
it opens a connection (redis-py's Sentinel pools), so a failover is followed: calls on the lost
primary fail as in any Redis outage, and the next connections go to the promoted replica. The
channel layer (`apps.realtime.channel_layer.configured_host`) and Celery's broker
(flylive/celery.py) build theirs from the same variables.

With REDIS_CLUSTER_NODES the state clients here (`create_redis`, `create_subscriber_redis`,
`create_sync_redis`) are Redis Cluster clients, which route each command to its key's slot and
follow slot moves and failovers; the channel layer and Celery's broker stay on REDIS_HOST (or
Sentinel): neither can use a Cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, TypeVar

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode as SyncClusterNode
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.sentinel import Sentinel as SyncSentinel

from flylive.config import AppConfig
from flylive.redis_types import AsyncRedis

# Connections per process and loop. A burst of handshakes waits for a free one
# (BlockingConnectionPool) instead of failing with MaxConnectionsError, which would
# refuse sockets (the revocation check fails closed).
REDIS_POOL_SIZE = 64
REDIS_POOL_WAIT_SECONDS = 5
# Asking a Sentinel where the primary is: one that does not answer soon is skipped for the next.
SENTINEL_TIMEOUT_SECONDS = 2.0
# A Cluster client keeps a pool per node and fails a command (MaxConnectionsError) rather than
# wait when that pool is full, so its bound is set well above a burst's need.
CLUSTER_CONNECTIONS_PER_NODE = 512


class _DirectWrite(Connection):
    """Writes a command without a task of its own.

    redis-py bounds each write with `asyncio.wait_for`, which on Python 3.11 wraps the write in
    a new task: measured at a fifth of the client's CPU per command (about 120 -> 100 us). The
    bytes go to the transport at once here; only a write the kernel did not take (the transport
    still buffers it) is waited for, within the same socket timeout. Errors are handled as
    redis-py does (the connection is dropped and the error raised as redis-py's).
    """

    async def send_packed_command(self, command: bytes | str | Iterable[bytes],
                                  check_health: bool = True) -> None:
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        try:
            writer = self._writer
            assert writer is not None  # connected above
            writer.writelines(command)
            if writer.transport.get_write_buffer_size():
                async with asyncio.timeout(self.socket_timeout):
                    await writer.drain()
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise redis.TimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise redis.ConnectionError(f"Error while writing to socket. {exc}") from exc
        except BaseException:
            await self.disconnect(nowait=True)
            raise


class _DirectWriteSentinelConnection(_DirectWrite, SentinelManagedConnection):
    """`_DirectWrite` on a connection that finds the primary through Sentinel."""


class _SentinelPool(SentinelConnectionPool):
    """A Sentinel-backed pool that owns its Sentinel clients and closes them with itself."""

    async def aclose(self) -> None:
        await super().aclose()
        await self.sentinel_manager.aclose()


class _BlockingSentinelPool(_SentinelPool, BlockingConnectionPool):
    """`_SentinelPool` that waits for a free connection, as `create_redis`'s pool does."""


_Pool = TypeVar("_Pool", bound=_SentinelPool)


def sentinel_kwargs() -> dict[str, Any]:
    """Connection options of the clients that ask the Sentinels (not of the primary's)."""
    return {"socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS, "socket_timeout": SENTINEL_TIMEOUT_SECONDS}


def primary_kwargs(config: AppConfig) -> dict[str, Any]:
    """What a connection to the primary found through Sentinel needs besides its address."""
    return {"db": config.REDIS_DB, "username": config.REDIS_USERNAME, "password": config.REDIS_PASSWORD}


def _sentinel_pool(pool_class: type[_Pool], config: AppConfig, **options: Any) -> _Pool:
    sentinel = Sentinel(list(config.REDIS_SENTINEL_NODES), sentinel_kwargs=sentinel_kwargs())  # type: ignore[no-untyped-call]
    return pool_class(config.REDIS_SENTINEL_MASTER, sentinel, **primary_kwargs(config), **options)


def cluster_options(config: AppConfig) -> dict[str, Any]:
    """What a Cluster client needs besides its nodes and timeouts (database 0: a Cluster has no other)."""
    return {"username": config.REDIS_USERNAME, "password": config.REDIS_PASSWORD, "ssl": config.REDIS_TLS}


def _create_cluster(config: AppConfig, **options: Any) -> RedisCluster:
    nodes = [ClusterNode(host, port) for host, port in config.REDIS_CLUSTER_NODES]
    return RedisCluster(startup_nodes=nodes, **cluster_options(config), **options)


def create_redis(config: AppConfig) -> AsyncRedis:
    """The contract's client settings: connect timeout 10 s, command timeout 5 s, 3 retries."""
    if config.redis_cluster:
        return _create_cluster(
            config, decode_responses=True, socket_connect_timeout=10, socket_timeout=5,
            max_connections=CLUSTER_CONNECTIONS_PER_NODE, health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), 3))
    options: dict[str, Any] = {
        "max_connections": REDIS_POOL_SIZE,
        "timeout": REDIS_POOL_WAIT_SECONDS,
        "decode_responses": True,
        "socket_connect_timeout": 10,
        "socket_timeout": 5,
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), 3),
        "health_check_interval": 30,
    }
    pool: BlockingConnectionPool
    if config.redis_sentinel:  # (REDIS_TLS is refused with Sentinel)
        pool = _sentinel_pool(_BlockingSentinelPool, config, connection_class=_DirectWriteSentinelConnection,
                              **options)
    else:  # a rediss:// URL (REDIS_TLS) brings redis-py's SSL connection class instead
        pool = BlockingConnectionPool.from_url(config.redis_url, connection_class=_DirectWrite, **options)
    return Redis(connection_pool=pool)


def create_subscriber_redis(config: AppConfig) -> AsyncRedis:
    """A client of its own for a subscription (a subscribed connection can do nothing else);
    closing it closes its pool. Replies are bytes. On a Cluster every node hears every PUBLISH,
    so the subscription goes to any node the client picks."""
    options: dict[str, Any] = {"socket_connect_timeout": 10, "health_check_interval": 30}
    if config.redis_cluster:
        return _create_cluster(config, **options)
    if config.redis_sentinel:
        return Redis.from_pool(_sentinel_pool(_SentinelPool, config, **options))
    return Redis.from_url(config.redis_url, **options)


def create_sync_redis(config: AppConfig) -> redis.Redis | SyncRedisCluster:
    """A blocking client for sync code (admin actions, management commands); `close()` it."""
    options: dict[str, Any] = {"socket_connect_timeout": 10, "socket_timeout": 5}
    if config.redis_cluster:
        nodes = [SyncClusterNode(host, port)  # type: ignore[no-untyped-call]
                 for host, port in config.REDIS_CLUSTER_NODES]
        return SyncRedisCluster(startup_nodes=nodes, **cluster_options(config), **options)
    if config.redis_sentinel:
        sentinel = SyncSentinel(  # type: ignore[no-untyped-call]
            list(config.REDIS_SENTINEL_NODES), sentinel_kwargs=sentinel_kwargs())
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            config.REDIS_SENTINEL_MASTER, **primary_kwargs(config), **options)
        return client
    return redis.Redis.from_url(config.redis_url, **options)
