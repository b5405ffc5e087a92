"""The media RPC's contract and its budget: a request whose caller gave up is not executed, and a
node runs a bounded number at once (real Redis channel layer, real client, real server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from apps.media import rpc_contract as rpc
from apps.media.gateway import MediaRpcClient, MediaUnavailableError
from apps.media.rpc_server import MediaRpcServer
from apps.media.service import MediaService
from apps.media.tests.fake_mediasoup import FakeLibrary
from apps.media.tests.service_fixtures import channel_layer, loopback_media_settings, media_redis  # noqa: F401
from apps.realtime.event_registry import ClientError

CHANNEL = "media.rpc.budget-test"


class SlowNode:
    """Answers every request after `gate` opens; records what it executed and how many ran at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.executed: list[tuple[str, dict[str, Any]]] = []
        self.running = 0
        self.most_at_once = 0
        self.arrived = asyncio.Event()

    async def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.executed.append((method, params))
        self.arrived.set()
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        return {}


@pytest.fixture
async def client(channel_layer: Any) -> AsyncIterator[MediaRpcClient]:  # noqa: F811
    rpc_client = MediaRpcClient(channel_layer, timeout=3.0)
    yield rpc_client
    await rpc_client.aclose()


def _connect(sid: str) -> rpc.TransportConnectRequest:
    return rpc.TransportConnectRequest(roomId="r", sid=sid, transportId="t", dtlsParameters={})


async def test_a_request_whose_caller_gave_up_is_not_executed(channel_layer: Any,  # noqa: F811
                                                              client: MediaRpcClient) -> None:
    node = SlowNode()
    server = MediaRpcServer(channel_layer, CHANNEL, node.handle, max_concurrent=1)
    await server.start()
    try:
        busy = asyncio.create_task(client.request(rpc.TRANSPORT_CONNECT, _connect("first"), channel=CHANNEL))
        await asyncio.wait_for(node.arrived.wait(), 3)
        # Waits behind the first one; its caller gives up after 0.3 s.
        with pytest.raises(MediaUnavailableError):
            await client.request(rpc.TRANSPORT_CONNECT, _connect("late"), channel=CHANNEL, wait_seconds=0.3)
        node.gate.set()
        await busy
        await asyncio.sleep(0.2)
    finally:
        await server.stop()
    assert [params["sid"] for _, params in node.executed] == ["first"]
    assert server.expired == 1


async def test_a_request_sent_with_no_budget_left_is_dropped(channel_layer: Any) -> None:  # noqa: F811
    node = SlowNode()
    node.gate.set()
    server = MediaRpcServer(channel_layer, CHANNEL, node.handle)
    await server.start()
    try:
        for budget in (0, 5000):
            await channel_layer.send(CHANNEL, rpc.RpcRequest(
                id=uuid.uuid4().hex, method=rpc.SOCKET_RELEASE.name,
                params={"roomId": "r", "sid": str(budget)}, budgetMs=budget).model_dump())
        for _ in range(100):
            if node.executed:
                break
            await asyncio.sleep(0.02)
    finally:
        await server.stop()
    assert [params["sid"] for _, params in node.executed] == ["5000"]


async def test_a_node_runs_a_bounded_number_of_requests_at_once(channel_layer: Any,  # noqa: F811
                                                                client: MediaRpcClient) -> None:
    node = SlowNode()
    server = MediaRpcServer(channel_layer, CHANNEL, node.handle, max_concurrent=3)
    await server.start()
    try:
        calls = [asyncio.create_task(client.request(rpc.TRANSPORT_CONNECT, _connect(f"s{i}"),
                                                    channel=CHANNEL)) for i in range(10)]
        await asyncio.sleep(0.5)
        assert len(node.executed) == 3  # the other seven wait their turn
        node.gate.set()
        await asyncio.gather(*calls)
    finally:
        await server.stop()
    assert node.most_at_once == 3
    assert len(node.executed) == 10


async def test_every_contract_method_is_served_and_bad_params_are_invalid_payload(
    media_redis: Redis, channel_layer: Any, client: MediaRpcClient  # noqa: F811
) -> None:
    service = MediaService(loopback_media_settings(1, bench_rpc=True), redis=media_redis,
                           channel_layer=channel_layer, node_id="contract",
                           create_worker=cast(Any, FakeLibrary().create_worker))
    assert service.handlers.names() == set(rpc.METHODS)
    await service.start()
    try:
        with pytest.raises(ClientError, match=r"^Invalid payload$"):
            await service.handlers("transport.create", {"roomId": "r", "sid": "s", "userId": True,
                                                        "type": "producer"})
        with pytest.raises(ClientError, match=r"^Invalid payload$"):
            await service.handlers("no.such.method", {})
        stats = await client.request(rpc.NODE_STATS, rpc.Empty(), channel=service.channel)
        assert stats.nodeId == "contract"
        assert stats.rooms == 0
    finally:
        await service.stop()
