"""The gift flush tests of test_gifts_e2e.py, unchanged, with the server's state (the gift
buffer, rooms, rate limits) on a real 3-primary Redis Cluster (REDIS_CLUSTER_NODES): the same
web process, Celery worker and beat (whose broker stays on the plain Redis), Laravel stand-in
and checks; only the two fixtures below differ."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster

from apps.gifts.tests.test_gifts_e2e import (  # noqa: F401  (collected here, on the Cluster)
    beat,
    clients,
    database,
    laravel,
    live,
    migrated_gift_env,
    test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice,
    test_every_gift_is_accepted_once_or_its_sender_told,
    test_gift_events_reach_the_room_and_the_flush_reaches_laravel,
    test_gifts_laravel_never_takes_are_dead_lettered_and_replayed,
    test_the_workers_flush_figures_reach_the_web_processes_metrics,
    worker,
    workers,
)
from tests.support.processes import RedisServer
from tests.support.redis_cluster import ClusterUnderTest


@pytest.fixture(scope="module")
def env(own_redis: RedisServer, redis_cluster: ClusterUnderTest, laravel_port: int,
        database: Path) -> dict[str, str]:  # noqa: F811  (the imported fixture)
    return migrated_gift_env(own_redis, laravel_port, database, **redis_cluster.env())


@pytest.fixture
async def redis(redis_cluster: ClusterUnderTest) -> AsyncIterator[RedisCluster]:
    async with redis_cluster.client(flush=False) as client:  # the module's processes' state stays
        yield client
