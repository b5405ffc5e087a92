"""The seat races of test_seat_races.py, unchanged, with the server's state on a real 3-primary
Redis Cluster (REDIS_CLUSTER_NODES) and its channel layer sharded over two plain Redis servers
(CHANNEL_LAYER_REDIS_NODES): the same two web processes, clients and checks; only the fixtures
below differ."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio.cluster import RedisCluster

from apps.seats.tests.test_seat_races import (  # noqa: F401  (collected here, on the Cluster)
    OWNER,
    ROOMS,
    test_acks_alone_predict_the_final_seats,
    test_mixed_seat_operations_keep_the_invariants,
)
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer, run_redis_server
from tests.support.redis_cluster import ClusterUnderTest
from tests.support.server import LiveServer, run_server, server_env


@pytest.fixture(scope="module")
def servers(redis_server: RedisServer, redis_cluster: ClusterUnderTest,
            laravel_port: int) -> Iterator[list[LiveServer]]:
    with run_redis_server() as shard_a, run_redis_server() as shard_b:
        shards = f"127.0.0.1:{shard_a.port},127.0.0.1:{shard_b.port}"
        env = server_env(redis_server, **redis_cluster.env(), CHANNEL_LAYER_REDIS_NODES=shards,
                         LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}", LOG_LEVEL="warn")
        with run_server(env, server="uvicorn") as first, run_server(env, server="uvicorn") as second:
            yield [first, second]


@pytest.fixture
async def redis(redis_cluster: ClusterUnderTest, laravel_port: int) -> AsyncIterator[RedisCluster]:
    async with redis_cluster.client() as client, FakeLaravel(port=laravel_port) as laravel:
        for room in range(ROOMS):
            laravel.respond(f"/api/v1/internal/rooms/race-{room}", 200, {"owner_id": OWNER})
            laravel.respond(f"/api/v1/internal/rooms/race-{room}/members/{OWNER}/role", 200,
                            {"role": "admin"})
        yield client
