"""A room's media from its first transport to its release, and the races around it: the media node
on the in-memory library stand-in (gates make the races deterministic), a real Redis and channel
layer, the real gateway."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from apps.media import gateway, room_cluster
from apps.media.gateway import MediaRpcClient, use_media_rpc_client
from apps.media.media_settings import MediaSettings
from apps.media.node_registry import (
    MEDIA_NODES_KEY,
    NodeInfo,
    NodeRegistry,
    WorkerCounts,
    node_channel,
    node_rooms_key,
    room_node_key,
    room_producers_key,
)
from apps.media.reports import RoomsLost, publish_rooms_lost, take_lost_rooms
from apps.media.service import MediaService
from apps.media.tests.fake_mediasoup import FakeLibrary, FakeRouter, FakeTransport
from apps.media.tests.service_fixtures import channel_layer, loopback_media_settings, media_redis  # noqa: F401
from apps.realtime.emit import Target
from apps.realtime.event_registry import ClientError
from flylive.metrics import REGISTRY

OPUS = {
    "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
    "encodings": [{"ssrc": 1234}],
}
CAPS = {"codecs": [{"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}]}


@dataclass
class Node:
    service: MediaService
    library: FakeLibrary


@pytest.fixture
def settings() -> MediaSettings:
    return loopback_media_settings(2)


@pytest.fixture
async def node(settings: MediaSettings, media_redis: Redis, channel_layer: Any) -> AsyncIterator[Node]:  # noqa: F811
    library = FakeLibrary()

    async def emit(target: Target, event: str, payload: Any) -> None:
        pass

    service = MediaService(settings, redis=media_redis, channel_layer=channel_layer, node_id="n1", emit=emit,
                           create_worker=cast(Any, library.create_worker))
    await service.start()
    client = MediaRpcClient(channel_layer, timeout=3.0, registry=NodeRegistry(media_redis))
    use_media_rpc_client(client)
    yield Node(service, library)
    await client.aclose()
    await service.stop()


async def eventually(predicate: Callable[[], bool], within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


class Gate:
    """Holds the wrapped coroutine function's calls until opened; `entered` once one is waiting."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered = asyncio.Event()

    def wrap(self, original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def gated(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            await self.open.wait()
            return await original(*args, **kwargs)

        return gated


def _live_routers(node: Node) -> int:
    return sum(1 for w in node.library.workers for r in w.routers if not r.closed)


def _gate_transport_creation(monkeypatch: pytest.MonkeyPatch, gate: Gate) -> None:
    monkeypatch.setattr(FakeRouter, "create_webrtc_transport", gate.wrap(FakeRouter.create_webrtc_transport))


def _transports(routers: list[Any]) -> list[FakeTransport]:
    """Every transport ever made on these (fake) routers, open or closed."""
    return [t for router in cast(list[FakeRouter], routers) for t in router.children
            if isinstance(t, FakeTransport)]


def _refusals() -> float:
    return sum(REGISTRY.get_sample_value("flylive_media_capacity_refusals_total", {"reason": reason}) or 0.0
               for reason in ("workers_full", "no_node"))


# --- release on the last leave ------------------------------------------------------------------

async def test_the_last_leave_closes_the_rooms_routers_at_once(node: Node, media_redis: Redis) -> None:  # noqa: F811
    speaker = await gateway.create_transport("r1", "s1", 1, "producer", epoch=1)
    await gateway.produce("r1", "s1", 1, speaker["id"], OPUS, epoch=1)
    await gateway.create_transport("r1", "s2", 2, "consumer", epoch=1)
    assert _live_routers(node) == 2
    assert node.service.pool.router_total == 2
    for sid in ("s1", "s2"):
        await gateway.release_socket_media("r1", sid, 1)
    await gateway.release_room_media("r1")
    assert await eventually(lambda: "r1" not in node.service.clusters)
    assert await eventually(lambda: _live_routers(node) == 0)
    assert node.service.pool.router_total == 0
    assert await media_redis.get(room_node_key("r1")) is None
    assert await media_redis.smembers(node_rooms_key("n1")) == set()
    assert await media_redis.exists(room_producers_key("r1")) == 0
    # The room lives on: its next transport makes fresh media.
    await gateway.create_transport("r1", "s3", 3, "consumer", epoch=1)
    assert node.service.clusters["r1"].transports


async def test_a_release_keeps_a_room_someone_made_media_in_again(node: Node) -> None:
    await gateway.create_transport("r2", "s1", 1, "consumer", epoch=1)
    await gateway.release_room_media("r2")  # raced by s1's join: s1's transport is there
    await asyncio.sleep(0.2)
    assert node.service.clusters["r2"].transports
    assert _live_routers(node) == 2  # source + distribution router, both kept


async def test_a_release_ahead_of_the_last_members_socket_release_still_closes_the_room(node: Node) -> None:
    """The rooms app's release and the last socket's own release travel apart: when the room's
    release arrives first (media still in use), the socket release that empties it closes it."""
    await gateway.create_transport("r5", "s1", 1, "consumer", epoch=1)
    await gateway.release_room_media("r5")
    await asyncio.sleep(0.2)
    assert "r5" in node.service.clusters  # still in use: kept for now
    await gateway.release_socket_media("r5", "s1", 1)
    assert await eventually(lambda: "r5" not in node.service.clusters)
    assert await eventually(lambda: _live_routers(node) == 0)


async def test_a_first_transport_racing_the_release_gets_a_fresh_cluster(
    node: Node, media_redis: Redis, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    await gateway.create_transport("r3", "old", 1, "consumer", epoch=1)
    await gateway.release_socket_media("r3", "old", 1)
    old = node.service.clusters["r3"]
    closing = Gate()
    monkeypatch.setattr(FakeRouter, "close", closing.wrap(FakeRouter.close))
    await gateway.release_room_media("r3")
    await asyncio.wait_for(closing.entered.wait(), 3)  # the old cluster is closing...
    created = await gateway.create_transport("r3", "new", 2, "consumer", epoch=1)  # ...a new member comes
    fresh = node.service.clusters["r3"]
    assert fresh is not old
    assert not fresh.closed
    assert old.closed
    assert created["id"] in fresh.transports
    closing.open.set()
    await asyncio.sleep(0.2)
    # The old close finished and did not give the room up under the fresh cluster.
    assert node.service.clusters["r3"] is fresh
    assert await media_redis.get(room_node_key("r3")) == b"n1"
    assert await media_redis.smembers(node_rooms_key("n1")) == {b"r3"}


async def test_a_transport_being_made_when_the_room_closes_lands_on_a_fresh_cluster(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    await gateway.create_transport("r4", "a", 1, "consumer", epoch=1)
    old = node.service.clusters["r4"]
    making = Gate()
    _gate_transport_creation(monkeypatch, making)
    pending = asyncio.create_task(gateway.create_transport("r4", "b", 2, "producer", epoch=1))
    await asyncio.wait_for(making.entered.wait(), 3)
    await gateway.notify_room_closed("r4", "inactivity")
    assert await eventually(lambda: old.closed)
    making.open.set()
    created = await pending
    fresh = node.service.clusters["r4"]
    assert fresh is not old
    assert not fresh.closed
    assert created["id"] in fresh.transports
    assert all(t.closed for t in _transports(old.routers()))


# --- a socket's release racing its own requests ---------------------------------------------------

async def test_a_transport_made_while_its_socket_was_released_is_closed(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    await gateway.create_transport("r5", "stay", 1, "consumer", epoch=1)
    making = Gate()
    _gate_transport_creation(monkeypatch, making)
    client = gateway.media_rpc_client()
    pending = asyncio.create_task(gateway.create_transport("r5", "gone", 2, "producer", epoch=1))
    await asyncio.wait_for(making.entered.wait(), 3)
    # What the socket's release looks like on the node when the web side could not wait (its
    # caller was cancelled): straight to the node while the create is still being made.
    from apps.media import rpc_contract as rpc

    await client.request_room(rpc.SOCKET_RELEASE, rpc.SocketRequest(roomId="r5", sid="gone", epoch=1))
    making.open.set()
    with pytest.raises(ClientError, match=r"^Room not found$"):
        await pending
    cluster = node.service.clusters["r5"]
    assert [e.sid for e in cluster.transports.values()] == ["stay"]
    made = _transports(cluster.routers())
    assert len(made) == 2
    assert {t.id for t in made if not t.closed} == set(cluster.transports)


async def test_the_web_side_sends_a_socket_release_after_its_requests_in_flight(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    making = Gate()
    _gate_transport_creation(monkeypatch, making)
    pending = asyncio.create_task(gateway.create_transport("r6", "s", 1, "producer", epoch=1))
    await asyncio.wait_for(making.entered.wait(), 3)
    release = asyncio.create_task(gateway.release_socket_media("r6", "s", 1))
    await asyncio.sleep(0.2)
    assert not release.done()  # waits for the create
    making.open.set()
    await pending  # answered before the release was sent: the client got its transport...
    await release
    assert node.service.clusters["r6"].transports == {}  # ...and the release closed it


async def test_a_producer_made_while_its_socket_was_released_is_closed(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = await gateway.create_transport("r7", "s", 1, "producer", epoch=1)
    producing = Gate()
    monkeypatch.setattr(FakeTransport, "produce", producing.wrap(FakeTransport.produce))
    pending = asyncio.create_task(gateway.produce("r7", "s", 1, transport["id"], OPUS, epoch=1))
    await asyncio.wait_for(producing.entered.wait(), 3)
    from apps.media import rpc_contract as rpc

    await gateway.media_rpc_client().request_room(
        rpc.SOCKET_RELEASE, rpc.SocketRequest(roomId="r7", sid="s", epoch=1))
    producing.open.set()
    with pytest.raises(ClientError, match=r"^Transport not found$"):
        await pending
    cluster = node.service.clusters["r7"]
    assert cluster.transports == {}
    assert cluster.producers == {}
    assert all(t.closed and all(p.closed for p in t.children) for t in _transports(cluster.routers()))


# --- caps -------------------------------------------------------------------------------------------

async def test_a_send_transport_carries_one_producer(node: Node) -> None:
    transport = await gateway.create_transport("r8", "s", 1, "producer")
    await gateway.produce("r8", "s", 1, transport["id"], OPUS)
    with pytest.raises(ClientError, match=r"^Invalid payload$"):
        await gateway.produce("r8", "s", 1, transport["id"], OPUS)
    assert len(node.service.clusters["r8"].producers) == 1


async def test_a_receive_transport_has_a_consumer_cap(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(room_cluster, "MAX_CONSUMERS_PER_TRANSPORT", 2)
    producers = []
    for i in range(3):
        send = await gateway.create_transport("r9", f"speaker{i}", i, "producer")
        producers.append(await gateway.produce("r9", f"speaker{i}", i, send["id"], OPUS))
    recv = await gateway.create_transport("r9", "l", 9, "consumer")
    for producer_id in producers[:2]:
        await gateway.consume("r9", "l", recv["id"], producer_id, CAPS)
    with pytest.raises(ClientError, match=r"^Cannot consume$"):
        await gateway.consume("r9", "l", recv["id"], producers[2], CAPS)
    await node.service.clusters["r9"].close_user_producers(0)  # its consumer closes: room for another
    await asyncio.sleep(0.05)
    await gateway.consume("r9", "l", recv["id"], producers[2], CAPS)


# --- capacity -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [loopback_media_settings(1, max_rooms_per_worker=1)])
async def test_at_capacity_a_new_room_gets_the_contract_error_a_metric_and_a_log_line(
    node: Node, media_redis: Redis, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    await gateway.create_transport("full", "s", 1, "consumer")
    before = _refusals()
    with caplog.at_level(logging.WARNING), pytest.raises(ClientError, match=r"^Internal server error$"):
        await gateway.create_transport("refused", "s", 1, "consumer")
    assert _refusals() == before + 1
    assert any("capacity" in r.getMessage() and "refused" in r.getMessage() for r in caplog.records)
    assert "refused" not in node.service.clusters
    assert await media_redis.get(room_node_key("refused")) is None  # free to go elsewhere later
    # The full room released: the refused room fits.
    await gateway.release_socket_media("full", "s")
    await gateway.release_room_media("full")
    assert await eventually(lambda: node.service.pool.router_total == 0)
    await node.service._heartbeat()
    await gateway.create_transport("refused", "s", 1, "consumer")


# --- reports --------------------------------------------------------------------------------------------

async def test_a_stopped_node_is_claimed_once_and_its_rooms_go_free(media_redis: Redis) -> None:  # noqa: F811
    registry = NodeRegistry(media_redis, dead_after_ms=10_000)
    now = int(time.time() * 1000)
    for node_id, age in (("dead", 60_000), ("alive", 0)):
        info = NodeInfo(workers=WorkerCounts(1, 1), updatedAt=now - age, capacity=10,
                        channel=node_channel(node_id))
        await registry.heartbeat(node_id, info)
    for room_id, node_id in (("a", "dead"), ("b", "dead"), ("c", "alive")):
        assert await registry.place_room(room_id, node_id, replacing_dead=None) == node_id
    await media_redis.hset(room_producers_key("a"), "p", "1")
    results = await asyncio.gather(*(take_lost_rooms(media_redis, now_ms=now) for _ in range(5)))
    assert sorted((r for result in results for r in result), key=lambda r: r.node_id) == [
        RoomsLost(node_id="dead", room_ids=("a", "b"), reason="worker_died")
    ]
    assert await media_redis.hkeys(MEDIA_NODES_KEY) == [b"alive"]
    assert await media_redis.get(room_node_key("a")) is None
    assert await media_redis.get(room_node_key("c")) == b"alive"
    assert await media_redis.exists(room_producers_key("a"), node_rooms_key("dead")) == 0
    # The lost room's next transport goes to a live node.
    assert await registry.place_room("a", "alive", replacing_dead=None) == "alive"


async def test_each_worker_report_is_taken_exactly_once(media_redis: Redis) -> None:  # noqa: F811
    for i in range(30):
        await publish_rooms_lost(media_redis, "n", [f"room{i}"])
    results = await asyncio.gather(*(take_lost_rooms(media_redis, now_ms=int(time.time() * 1000))
                                     for _ in range(6)))
    taken = [room for result in results for report in result for room in report.room_ids]
    assert sorted(taken) == sorted(f"room{i}" for i in range(30))


async def test_a_node_found_dead_drops_what_it_still_holds_when_it_comes_back(
    node: Node, media_redis: Redis  # noqa: F811
) -> None:
    await gateway.create_transport("r10", "s", 1, "consumer")
    await media_redis.hdel(MEDIA_NODES_KEY, "n1")  # what a claim by take_lost_rooms does
    await node.service._heartbeat()
    assert node.service.clusters == {}
    assert _live_routers(node) == 0
    assert await media_redis.hexists(MEDIA_NODES_KEY, "n1")
