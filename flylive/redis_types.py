"""The async Redis client types the server's code accepts: one Redis (direct or found through
Sentinel) or a Redis Cluster (REDIS_CLUSTER_NODES). Both speak the same commands; a Cluster
client routes each to the node of its key's slot, which is why every key the server writes
carries a hash tag (docs/redis-keys.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeAlias, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

AsyncRedis: TypeAlias = Redis | RedisCluster
AsyncPipeline: TypeAlias = Pipeline | ClusterPipeline

T = TypeVar("T")
# Commands one module queues on a pipeline another module runs (one round trip for both):
# the queuing function returns this reader, which takes exactly its own commands' replies,
# in order, from the pipeline's replies.
ReplyReader: TypeAlias = Callable[[Iterator[Any]], T]
QueueReads: TypeAlias = Callable[[AsyncPipeline], ReplyReader[Any]]
