"""The auto-pipeline (flylive/redis_batch.py) against a real redis-server: calls made in one loop
turn share one pipeline, and each still gets its own reply or error, survives NOSCRIPT, and is
not failed by another caller's cancellation or left waiting when Redis is gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from flylive.redis_batch import AutoPipeline, BatchedScript, auto_pipeline
from tests.support.processes import RedisServer, clean_redis_db, free_port
from tests.support.redis_cluster import ClusterUnderTest

DB = 0
COUNT = "return redis.call('INCR', KEYS[1])"


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    async with clean_redis_db(redis_server, DB, decode_responses=True) as client:
        yield client


class CountingPipelines:
    """Counts the pipelines the auto-pipeline opens (it must open one per loop turn)."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.opened = 0
        self._pipeline = client.pipeline

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.opened += 1
        return self._pipeline(*args, **kwargs)


async def test_calls_of_one_turn_share_one_pipeline_and_get_their_own_replies(
        client: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    pipelines = CountingPipelines(client)
    monkeypatch.setattr(client, "pipeline", pipelines)
    script = BatchedScript(client, client.register_script(COUNT))
    replies = await asyncio.gather(*(script(keys=["n"]) for _ in range(50)))
    assert sorted(replies) == list(range(1, 51))
    assert pipelines.opened == 1
    assert await auto_pipeline(client).command("GET", "n") == "50"


async def test_a_caller_alone_sends_its_call_as_before(client: Redis,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pipelines = CountingPipelines(client)
    monkeypatch.setattr(client, "pipeline", pipelines)
    script = BatchedScript(client, client.register_script(COUNT))
    assert [await script(keys=["alone"]) for _ in range(3)] == [1, 2, 3]
    assert pipelines.opened == 0


async def test_an_error_reaches_only_its_caller(client: Redis) -> None:
    await client.set("text", "not a number")
    script = BatchedScript(client, client.register_script(COUNT))
    results = await asyncio.gather(script(keys=["a"]), script(keys=["text"]), script(keys=["b"]),
                                   return_exceptions=True)
    assert results[0] == 1
    assert results[2] == 1
    assert isinstance(results[1], redis.ResponseError)


async def test_calls_survive_a_script_flush(client: Redis) -> None:
    script = BatchedScript(client, client.register_script(COUNT))
    assert await script(keys=["f"]) == 1
    await client.script_flush()
    assert sorted(await asyncio.gather(*(script(keys=["f"]) for _ in range(5)))) == [2, 3, 4, 5, 6]
    await client.script_flush()
    assert await script(keys=["f"]) == 7  # alone, through redis-py's own loader


async def test_a_cancelled_leader_does_not_fail_the_others(client: Redis) -> None:
    script = BatchedScript(client, client.register_script(COUNT))
    leader = asyncio.ensure_future(script(keys=["c"]))
    await asyncio.sleep(0)  # the leader waits for its turn's other calls
    others = [asyncio.ensure_future(script(keys=["c"])) for _ in range(4)]
    leader.cancel()
    assert sorted(await asyncio.gather(*others)) == [1, 2, 3, 4]  # the leader's own call was not sent
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_a_redis_that_is_gone_fails_every_caller_and_leaves_no_task() -> None:
    client = Redis(port=free_port(), socket_connect_timeout=1, decode_responses=True)
    batcher = AutoPipeline(client)
    script = client.register_script(COUNT)
    results = await asyncio.gather(*(batcher.script(script, ["x"]) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, redis.ConnectionError) for result in results), results
    await asyncio.sleep(0)
    assert not batcher._tasks
    await client.aclose()


async def test_on_a_cluster_one_turns_calls_go_to_each_keys_node(redis_cluster: ClusterUnderTest) -> None:
    async with redis_cluster.client() as cluster:
        script = BatchedScript(cluster, cluster.register_script(COUNT))
        keys = [f"room:{{r{i}}}:n" for i in range(30)]  # spread over the three primaries
        assert await asyncio.gather(*(script(keys=[key]) for key in keys)) == [1] * 30
        await cluster.script_flush()
        assert await asyncio.gather(*(script(keys=[key]) for key in keys)) == [2] * 30
