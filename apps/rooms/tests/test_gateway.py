"""The media RPC client against a real channel layer on Redis and a responder double."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from apps.media import gateway
from apps.media.gateway import MediaRpcClient, MediaRpcError, MediaUnavailableError, use_media_rpc_client
from apps.rooms.tests.media_double import FIXED_RTP_CAPABILITIES, running_media_double
from tests.support.processes import RedisServer


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[MediaRpcClient]:
    layer = RedisPubSubChannelLayer(hosts=[redis_server.url(db=5)], prefix="flylive")
    rpc = MediaRpcClient(layer, timeout=2.0)
    use_media_rpc_client(rpc)
    yield rpc
    await rpc.aclose()
    await layer.flush()


async def test_ensure_room_media_returns_the_routers_capabilities(client, redis_server) -> None:
    async with running_media_double(redis_server.url(db=5)) as media:
        assert await gateway.ensure_room_media("42") == FIXED_RTP_CAPABILITIES
    request = media.requests[0]
    assert request["type"] == "media.request"
    assert request["method"] == "room.ensure"
    assert request["params"] == {"roomId": "42"}
    assert request["reply_channel"]


async def test_concurrent_requests_get_their_own_replies(client, redis_server) -> None:
    async with running_media_double(redis_server.url(db=5)) as media:
        results = await asyncio.gather(*(client.call("room.ensure", {"roomId": str(i)}) for i in range(20)))
    assert all(r == {"rtpCapabilities": FIXED_RTP_CAPABILITIES} for r in results)
    assert sorted(r["params"]["roomId"] for r in media.requests) == sorted(str(i) for i in range(20))


async def test_no_media_service_raises_after_the_timeout(client) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(MediaUnavailableError):
        await client.call("room.ensure", {"roomId": "1"}, wait_seconds=0.3)
    assert 0.25 < loop.time() - started < 2.0


async def test_a_silent_media_service_raises_unavailable(client, redis_server) -> None:
    async with running_media_double(redis_server.url(db=5)) as media:
        media.silent = True
        with pytest.raises(MediaUnavailableError):
            await client.call("room.ensure", {"roomId": "1"}, wait_seconds=0.3)


async def test_an_error_reply_raises_rpc_error(client, redis_server) -> None:
    async with running_media_double(redis_server.url(db=5)) as media:
        media.fail_with = "All workers at capacity"
        with pytest.raises(MediaRpcError, match="All workers at capacity"):
            await gateway.ensure_room_media("1")


async def test_close_notification_expects_no_reply(client, redis_server) -> None:
    async with running_media_double(redis_server.url(db=5)) as media:
        await gateway.notify_room_closed("9", "inactivity")
        for _ in range(100):
            if media.requests:
                break
            await asyncio.sleep(0.01)
    assert media.requests[0]["method"] == "room.close"
    assert media.requests[0]["params"] == {"roomId": "9", "reason": "inactivity"}
    assert media.requests[0]["reply_channel"] is None
