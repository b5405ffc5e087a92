"""The async Redis client types the server's code accepts: one Redis (direct or found through
Sentinel) or a Redis Cluster (REDIS_CLUSTER_NODES). Both speak the same commands; a Cluster
client routes each to the node of its key's slot, which is why every key the server writes
carries a hash tag (docs/redis-keys.md)."""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

AsyncRedis: TypeAlias = Redis | RedisCluster
AsyncPipeline: TypeAlias = Pipeline | ClusterPipeline
