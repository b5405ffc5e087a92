"""Media RPC over a real Redis channel layer: node registry, placement and per-node routing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from apps.media import gateway
from apps.media.gateway import MediaRpcClient, use_media_rpc_client
from apps.media.node_registry import (
    MEDIA_NODES_KEY,
    NodeInfo,
    NodeRegistry,
    WorkerCounts,
    least_loaded,
    node_channel,
    node_rooms_key,
    room_node_key,
)
from apps.media.rpc_server import MediaRpcServer
from apps.media.tests.service_fixtures import channel_layer, media_redis  # noqa: F401
from apps.realtime.event_registry import ClientError
from flylive.metrics import REGISTRY


def _info(node_id: str, *, routers: int = 0, capacity: int = 100, age_ms: int = 0) -> NodeInfo:
    return NodeInfo(workers=WorkerCounts(2, 2), updatedAt=int(time.time() * 1000) - age_ms,
                    routers=routers, capacity=capacity, channel=node_channel(node_id))


class FakeNode:
    """A node that answers with its own id, so a test sees which node got a request."""

    def __init__(self, node_id: str, layer: Any) -> None:
        self.node_id = node_id
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.server = MediaRpcServer(layer, node_channel(node_id), self.handle)

    async def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((method, params))
        if method == "transport.connect":
            raise ClientError("Transport not found")
        if method == "consumer.resume":
            raise RuntimeError("bug")
        # The node's id as the transport id: the test sees which node answered.
        return {"id": self.node_id, "iceParameters": {}, "iceCandidates": [], "dtlsParameters": {}}


@pytest.fixture
async def nodes(media_redis: Redis, channel_layer: Any) -> AsyncIterator[dict[str, FakeNode]]:  # noqa: F811
    registry = NodeRegistry(media_redis)
    fakes = {name: FakeNode(name, channel_layer) for name in ("n1", "n2")}
    for fake in fakes.values():
        await fake.server.start()
    await registry.heartbeat("n1", _info("n1", routers=10))
    await registry.heartbeat("n2", _info("n2", routers=3))
    client = MediaRpcClient(channel_layer, timeout=2.0, registry=registry)
    use_media_rpc_client(client)
    yield fakes
    await client.aclose()
    for fake in fakes.values():
        await fake.server.stop()


def test_least_loaded_skips_dead_full_and_draining_nodes() -> None:
    nodes = {"a": _info("a", routers=50), "b": _info("b", routers=100), "c": _info("c", routers=60)}
    assert least_loaded(nodes) == "a"
    assert least_loaded({"b": nodes["b"]}) is None


async def test_dead_nodes_are_not_listed(media_redis: Redis) -> None:  # noqa: F811
    registry = NodeRegistry(media_redis)
    await registry.heartbeat("old", _info("old", age_ms=11_000))
    await registry.heartbeat("new", _info("new"))
    await media_redis.hset(MEDIA_NODES_KEY, "junk", "not json")
    assert list(await registry.live_nodes(int(time.time() * 1000))) == ["new"]


async def _create(room_id: str) -> str:
    return str((await gateway.create_transport(room_id, "sid", 1, "consumer"))["id"])


async def test_room_is_placed_on_the_least_loaded_node_and_stays_there(nodes, media_redis) -> None:  # noqa: F811
    assert await _create("r1") == "n2"
    assert [m for m, _ in nodes["n2"].requests] == ["transport.create"]
    assert await media_redis.get(room_node_key("r1")) == b"n2"
    assert await media_redis.smembers(node_rooms_key("n2")) == {b"r1"}
    # n2 gets busier: the room stays put, a new room goes to n1.
    await NodeRegistry(media_redis).heartbeat("n2", _info("n2", routers=50))
    assert [await _create("r1"), await _create("r2")] == ["n2", "n1"]
    assert [p["roomId"] for m, p in nodes["n2"].requests] == ["r1", "r1"]
    assert [p["roomId"] for m, p in nodes["n1"].requests] == ["r2"]


async def test_every_request_renews_the_rooms_node_mapping(nodes, media_redis) -> None:  # noqa: F811
    await _create("r6")
    await media_redis.expire(room_node_key("r6"), 5)
    with pytest.raises(ClientError, match="Transport not found"):
        await gateway.connect_transport("r6", "sid", "t", {})
    assert await media_redis.ttl(room_node_key("r6")) > 86000


async def test_concurrent_first_joins_agree_on_one_node(nodes, media_redis) -> None:  # noqa: F811
    registry = NodeRegistry(media_redis)
    holders = await asyncio.gather(*(registry.place_room("r9", f"n{i % 2 + 1}", replacing_dead=None)
                                     for i in range(10)))
    assert len(set(holders)) == 1
    [holder] = set(holders)
    loser = "n1" if holder == "n2" else "n2"
    assert await media_redis.smembers(node_rooms_key(holder)) == {b"r9"}
    assert await media_redis.smembers(node_rooms_key(loser)) == set()  # its index lost the room again


async def test_room_on_a_dead_node_moves_on_its_next_transport_and_is_missing_otherwise(
    nodes, media_redis  # noqa: F811
) -> None:
    await media_redis.set(room_node_key("r3"), "gone")
    with pytest.raises(ClientError, match="Transport not found"):
        await gateway.connect_transport("r3", "sid", "t", {})
    await gateway.release_socket_media("r3", "sid")  # no node: nothing to release, no error
    assert await _create("r3") == "n2"
    assert await media_redis.get(room_node_key("r3")) == b"n2"


async def test_client_errors_come_back_with_their_text(nodes) -> None:
    await _create("r4")
    with pytest.raises(ClientError, match="Transport not found"):
        await gateway.connect_transport("r4", "sid", "t", {})
    with pytest.raises(gateway.MediaRpcError, match="Internal server error"):
        await gateway.resume_consumer("r4", "sid", "c")


async def test_no_live_node_refuses_the_room_with_the_contract_error_and_a_metric(
    media_redis, channel_layer  # noqa: F811
) -> None:
    client = MediaRpcClient(channel_layer, timeout=0.5, registry=NodeRegistry(media_redis))
    use_media_rpc_client(client)
    before = _refusals("no_node")
    try:
        with pytest.raises(ClientError, match=r"^Internal server error$"):
            await _create("r5")
    finally:
        await client.aclose()
    assert _refusals("no_node") == before + 1


def _refusals(reason: str) -> float:
    return REGISTRY.get_sample_value("flylive_media_capacity_refusals_total", {"reason": reason}) or 0.0
