"""A web instance tells "swept as dead" from "Redis lost its data": only the first closes its
sockets; after the second it registers again under the same id and re-records its sockets."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from apps.realtime.instance_keys import INSTANCES_KEY, instance_registered_key
from apps.realtime.loop_services import RealtimeServices
from apps.realtime.web_instance import WebInstance
from flylive.config import get_config

FAST = {"WEB_INSTANCE_HEARTBEAT_MS": 50, "WEB_INSTANCE_DEAD_AFTER_MS": 100,
        "WEB_INSTANCE_SWEEP_INTERVAL_MS": 60_000}


async def eventually(check, within: float = 2.0) -> None:
    for _ in range(int(within / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_an_emptied_redis_means_register_again_not_dead(redis: Redis) -> None:
    # Bounded, so that a hang shows where it waits (one full-suite run on a loaded machine hung
    # here until pytest-timeout's 300 s, with no trace of the awaited call).
    async with asyncio.timeout(60):
        await _emptied_redis_means_register_again(redis)


async def _emptied_redis_means_register_again(redis: Redis) -> None:
    declared: list[str] = []
    reregistered: list[str] = []

    async def rerecord(instance_id: str) -> None:
        reregistered.append(instance_id)

    config = get_config().model_copy(update=FAST)
    instance = WebInstance(RealtimeServices.build(config, redis), on_declared_dead=declared.append,
                           on_reregistered=rerecord)
    first_id = await instance.ensure_started()
    try:
        assert await redis.exists(instance_registered_key(first_id))
        await redis.flushdb()  # what a restart without persistence leaves
        await eventually(lambda: asyncio.sleep(0, bool(reregistered)))
        assert (reregistered, declared, instance.id) == ([first_id], [], first_id)
        assert await redis.hexists(INSTANCES_KEY, first_id)
        # And a sweep afterwards (entry gone, marker kept) is still a sweep.
        await redis.hdel(INSTANCES_KEY, first_id)
        await eventually(lambda: asyncio.sleep(0, bool(declared)))
        assert declared == [first_id]
        assert instance.id != first_id
    finally:
        await instance.stop()
