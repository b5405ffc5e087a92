"""transport:create / audio:produce racing the socket's release, on real mediasoup workers: whatever
the order the node sees them in, the worker is left with nothing of the released socket (router dumps).

The node runs in this process (real library, real Redis, real channel layer) and the release is sent
straight to it, as when the web side could not wait for the request (its caller was cancelled by a
disconnect); the web side's own ordering is tested in test_room_media_lifecycle.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from apps.media import gateway
from apps.media import rpc_contract as rpc
from apps.media.gateway import MediaRpcClient, use_media_rpc_client
from apps.media.node_registry import NodeRegistry
from apps.media.service import MediaService
from apps.media.tests.rtp_tools import opus_producer_parameters
from apps.media.tests.service_fixtures import channel_layer, loopback_media_settings, media_redis  # noqa: F401
from apps.realtime.event_registry import ClientError

pytestmark = pytest.mark.slow
ROOM = "race"


@pytest.fixture
async def node(media_redis: Redis, channel_layer: Any, mediasoup_worker_bin: str  # noqa: F811
               ) -> AsyncIterator[MediaService]:
    settings = loopback_media_settings(1, worker_bin=mediasoup_worker_bin, rtc_min_port=41000,
                                       rtc_max_port=41500)

    async def emit(*_: Any) -> None:
        pass

    service = MediaService(settings, redis=media_redis, channel_layer=channel_layer, node_id="race-node",
                           emit=emit)
    await service.start()
    client = MediaRpcClient(channel_layer, timeout=5.0, registry=NodeRegistry(media_redis))
    use_media_rpc_client(client)
    yield service
    await client.aclose()
    await service.stop()


async def _release_now(sid: str, epoch: int) -> None:
    await gateway.media_rpc_client().request_room(rpc.SOCKET_RELEASE,
                                                  rpc.SocketRequest(roomId=ROOM, sid=sid, epoch=epoch))


async def _worker_transport_ids(node: MediaService) -> set[str]:
    """Every transport on the room's routers, as the worker itself lists them."""
    ids: set[str] = set()
    for router in node.clusters[ROOM].routers():
        dump = await cast(Any, router).dump()
        ids.update(dump["transportIds"])
    return ids


async def test_transports_being_made_when_their_socket_is_released_do_not_stay_on_the_worker(
    node: MediaService,
) -> None:
    keeper = await gateway.create_transport(ROOM, "keeper", 1, "consumer", epoch=1)
    for i in range(15):
        sid = f"leaver{i}"
        create = asyncio.create_task(gateway.create_transport(ROOM, sid, 2, "producer", epoch=1))
        await asyncio.sleep(0.002 * (i % 5))  # release before, during or after the worker makes it
        await _release_now(sid, 1)
        with contextlib.suppress(ClientError):
            await create
    await asyncio.sleep(0.1)
    assert await _worker_transport_ids(node) == {keeper["id"]}
    assert list(node.clusters[ROOM].transports) == [keeper["id"]]


async def test_producers_being_made_when_their_socket_is_released_do_not_stay_on_the_worker(
    node: MediaService,
) -> None:
    keeper = await gateway.create_transport(ROOM, "keeper", 1, "consumer", epoch=1)
    for i in range(10):
        sid = f"speaker{i}"
        transport = await gateway.create_transport(ROOM, sid, 2, "producer", epoch=1)
        produce = asyncio.create_task(gateway.produce(
            ROOM, sid, 2, transport["id"], cast(dict[str, Any], opus_producer_parameters(ssrc=1000 + i)),
            epoch=1))
        await asyncio.sleep(0.002 * (i % 5))
        await _release_now(sid, 1)
        with contextlib.suppress(ClientError):
            await produce
    await asyncio.sleep(0.1)
    assert await _worker_transport_ids(node) == {keeper["id"]}
    cluster = node.clusters[ROOM]
    assert cluster.producers == {}
    dump = await cast(Any, cluster.source_router).dump()
    assert dump["mapProducerIdConsumerIds"] == {}
