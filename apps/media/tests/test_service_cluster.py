"""The media service's own logic (placement, ownership, limits, forwarding, worker death) over RPC,
with an in-memory stand-in for the mediasoup library and a real Redis and channel layer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from apps.media import gateway
from apps.media.gateway import MediaRpcClient, use_media_rpc_client
from apps.media.media_settings import MediaSettings
from apps.media.node_registry import NodeRegistry, node_rooms_key, room_node_key, room_producers_key
from apps.media.reports import RoomsLost, take_lost_rooms
from apps.media.service import MediaService
from apps.media.tests.fake_mediasoup import FakeLibrary
from apps.media.tests.service_fixtures import (  # noqa: F401
    channel_layer,
    loopback_media_settings,
    media_redis,
)
from apps.realtime.emit import Room, Target
from apps.realtime.event_registry import ClientError

OPUS = {
    "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2}],
    "encodings": [{"ssrc": 1234}],
}
CAPS = {"codecs": [{"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}]}
DTLS = {"role": "client", "fingerprints": [{"algorithm": "sha-256", "value": "AB:CD:EF"}]}


@dataclass
class Node:
    service: MediaService
    library: FakeLibrary
    sent: list[tuple[Target, str, Any]] = field(default_factory=list)

    def events(self, name: str) -> list[tuple[Target, Any]]:
        return [(target, payload) for target, event, payload in self.sent if event == name]


def _settings(workers: int) -> MediaSettings:
    # Low limits so two listeners fill a distribution router and two speakers fill the top N.
    return loopback_media_settings(workers, max_listeners_per_distribution_router=2,
                                   max_active_speakers_forwarded=2, respawn_initial_delay=0.05)


@pytest.fixture
def workers() -> int:
    return 3


@pytest.fixture
async def node(workers: int, media_redis: Redis, channel_layer: Any) -> AsyncIterator[Node]:  # noqa: F811
    library = FakeLibrary()
    holder: dict[str, Node] = {}

    async def emit(target: Target, event: str, payload: Any) -> None:
        holder["node"].sent.append((target, event, payload))

    service = MediaService(
        _settings(workers),
        redis=media_redis,
        channel_layer=channel_layer,
        node_id="n1",
        emit=emit,
        create_worker=cast(Any, library.create_worker),
    )
    holder["node"] = Node(service, library)
    await service.start()
    client = MediaRpcClient(channel_layer, timeout=3.0, registry=NodeRegistry(media_redis))
    use_media_rpc_client(client)
    yield holder["node"]
    await client.aclose()
    await service.stop()


async def _speaker(room: str, sid: str, uid: int) -> str:
    transport = await gateway.create_transport(room, sid, uid, "producer")
    await gateway.connect_transport(room, sid, transport["id"], DTLS)
    return await gateway.produce(room, sid, uid, transport["id"], OPUS)


async def _listener(room: str, sid: str) -> str:
    transport = await gateway.create_transport(room, sid, 99, "consumer")
    await gateway.connect_transport(room, sid, transport["id"], DTLS)
    return str(transport["id"])


async def test_room_is_registered_and_producers_are_listed_in_redis(node: Node, media_redis: Redis) -> None:  # noqa: F811
    assert await media_redis.get(room_node_key("r1")) is None
    producer_id = await _speaker("r1", "s1", 7)  # the room's first transport places it
    assert await media_redis.get(room_node_key("r1")) == b"n1"
    assert await media_redis.smembers(node_rooms_key("n1")) == {b"r1"}
    assert await media_redis.hgetall(room_producers_key("r1")) == {producer_id.encode(): b"7"}
    [(target, payload)] = node.events("audio:newProducer")
    assert target == Room("r1", exclude_sid="s1")
    assert payload == {"producerId": producer_id, "userId": 7, "kind": "audio"}

    await gateway.release_socket_media("r1", "s1")
    assert await media_redis.hgetall(room_producers_key("r1")) == {}
    assert node.events("audio:producerClosed") == [(Room("r1"), {"producerId": producer_id, "userId": 7})]
    await gateway.notify_room_closed("r1", "inactivity")
    for _ in range(100):
        if await media_redis.get(room_node_key("r1")) is None:
            break
        await asyncio.sleep(0.01)
    assert await media_redis.get(room_node_key("r1")) is None
    assert await media_redis.smembers(node_rooms_key("n1")) == set()
    assert "r1" not in node.service.clusters


async def test_the_heartbeat_lists_each_live_worker_with_its_router_count(node: Node) -> None:
    await _listener("r9", "l1")  # a distribution router on another worker
    info = node.service.node_info()
    per_worker = info.extra["workers"]
    assert sorted(w["pid"] for w in per_worker) == sorted(w.pid for w in node.library.workers)
    assert sum(w["routerCount"] for w in per_worker) == info.routers == 2
    assert sorted(w["routerCount"] for w in per_worker) == [0, 1, 1]


async def test_only_the_owner_touches_its_transports_producers_and_consumers(node: Node) -> None:
    producer_id = await _speaker("r2", "alice", 1)
    alice_transport = next(iter(node.service.clusters["r2"].transports))
    with pytest.raises(ClientError, match=r"^Transport not found$"):
        await gateway.connect_transport("r2", "bob", alice_transport, DTLS)
    with pytest.raises(ClientError, match=r"^Transport not found$"):
        await gateway.produce("r2", "bob", 2, alice_transport, OPUS)
    with pytest.raises(ClientError, match=r"^Not your producer$"):
        await gateway.set_producer_paused("r2", "bob", producer_id, True)
    with pytest.raises(ClientError, match=r"^Producer not found$"):
        await gateway.set_producer_paused("r2", "bob", "00000000-0000-4000-8000-000000000000", True)
    with pytest.raises(ClientError, match=r"^Transport not found$"):  # consume before a transport exists
        await gateway.consume("r2", "bob", alice_transport, producer_id, CAPS)
    bob_transport = await _listener("r2", "bob")
    consumer = await gateway.consume("r2", "bob", bob_transport, producer_id, CAPS)
    assert consumer["producerId"] == producer_id
    with pytest.raises(ClientError, match=r"^Consumer not found$"):
        await gateway.resume_consumer("r2", "carol", consumer["id"])
    assert await gateway.resume_consumer("r2", "bob", consumer["id"]) is False
    with pytest.raises(ClientError, match=r"^Cannot consume$"):
        await gateway.consume("r2", "bob", bob_transport, "00000000-0000-4000-8000-000000000000", CAPS)
    with pytest.raises(ClientError, match=r"^Cannot consume$"):
        await gateway.consume("r2", "bob", bob_transport, producer_id, {"codecs": []})


async def test_bad_media_input_is_refused_before_the_worker(node: Node) -> None:
    transport = await gateway.create_transport("r3", "s", 1, "producer")
    bad_dtls: list[dict[str, Any]] = [
        {"fingerprints": []},
        {"fingerprints": [{"algorithm": "md5", "value": "AB:CD"}]},
        {"fingerprints": [{"algorithm": "sha-256", "value": "not hex"}]},
    ]
    for dtls in bad_dtls:
        with pytest.raises(ClientError, match=r"^Invalid payload$"):
            await gateway.connect_transport("r3", "s", transport["id"], dtls)
    pcma = {"codecs": [{"mimeType": "audio/PCMA", "payloadType": 8, "clockRate": 8000}]}
    with pytest.raises(ClientError, match=r"^Invalid payload$"):
        await gateway.produce("r3", "s", 1, transport["id"], pcma)


async def test_two_transports_per_socket_per_room_and_leaving_frees_them(node: Node) -> None:
    await asyncio.gather(*(gateway.create_transport("r4", "s", 1, "consumer", epoch=1) for _ in range(2)))
    with pytest.raises(ClientError, match=r"^Transport limit reached$"):
        await gateway.create_transport("r4", "s", 1, "producer", epoch=1)
    await gateway.release_socket_media("r4", "s", epoch=1)
    # The released membership makes nothing more; the socket's next join (epoch 2) does.
    with pytest.raises(ClientError, match=r"^Room not found$"):
        await gateway.create_transport("r4", "s", 1, "producer", epoch=1)
    await gateway.create_transport("r4", "s", 1, "producer", epoch=2)


async def test_listeners_spread_over_distribution_routers_on_other_workers(node: Node) -> None:
    producer_id = await _speaker("r5", "speaker", 1)
    for i in range(5):
        transport = await _listener("r5", f"l{i}")
        await gateway.consume("r5", f"l{i}", transport, producer_id, CAPS)
    cluster = node.service.clusters["r5"]
    stats = cluster.stats()
    assert [s["listeners"] for s in stats["slots"]] == [2, 2, 1]
    assert all(not s["isSource"] for s in stats["slots"])
    assert all(s["workerPid"] != stats["sourceWorkerPid"] for s in stats["slots"])
    assert len({s["workerPid"] for s in stats["slots"][:2]}) == 2
    # A producer arriving later is piped to every distribution router before it is announced.
    later = await _speaker("r5", "speaker2", 2)
    assert all(later in slot.piped for slot in cluster.slots)
    await gateway.release_socket_media("r5", "l0")
    assert [s["listeners"] for s in cluster.stats()["slots"]] == [1, 2, 1]


@pytest.mark.parametrize("workers", [2])
async def test_a_second_router_on_the_same_worker_gets_mapped_producer_ids(node: Node) -> None:
    producer_id = await _speaker("r10", "speaker", 1)
    for i in range(5):
        transport = await _listener("r10", f"l{i}")
        consumer = await gateway.consume("r10", f"l{i}", transport, producer_id, CAPS)
        assert consumer["producerId"] == producer_id
    slots = node.service.clusters["r10"].slots
    assert [s.listeners for s in slots] == [2, 2, 1]
    assert len({s.worker.pid for s in slots}) == 1
    assert [s.keep_ids for s in slots] == [True, False, False]
    assert slots[1].local_id(producer_id) != producer_id


@pytest.mark.parametrize("workers", [1])
async def test_one_worker_listeners_consume_from_the_source_router(node: Node) -> None:
    producer_id = await _speaker("r6", "speaker", 1)
    for i in range(3):
        transport = await _listener("r6", f"l{i}")
        consumer = await gateway.consume("r6", f"l{i}", transport, producer_id, CAPS)
        assert consumer["producerId"] == producer_id
    assert [(s["isSource"], s["listeners"]) for s in node.service.clusters["r6"].stats()["slots"]] == [
        (True, 3)
    ]


async def test_forwarding_pauses_speakers_outside_the_top_n_and_resumes_them_when_they_enter(
    node: Node,
) -> None:
    producers = [await _speaker("r7", f"s{i}", 10 + i) for i in range(3)]
    transport = await _listener("r7", "l")
    consumers = [await gateway.consume("r7", "l", transport, p, CAPS) for p in producers]
    assert [await gateway.resume_consumer("r7", "l", c["id"]) for c in consumers] == [False] * 3
    cluster = node.service.clusters["r7"]
    paused = lambda: [cast(Any, cluster.consumers[c["id"]].consumer).paused for c in consumers]  # noqa: E731
    assert paused() == [False, False, False]
    observer: Any = cluster.observer
    observer.dominant(producers[0])
    observer.dominant(producers[1])
    await asyncio.sleep(0.05)
    assert paused() == [False, False, True]
    (_, event), *_ = reversed(node.events("speaker:active"))
    assert event["userId"] == 11
    assert sorted(event["activeSpeakers"]) == [10, 11]
    observer.dominant(producers[2])
    await asyncio.sleep(0.05)
    assert paused() == [True, False, False]
    late = await _listener("r7", "late")
    late_consumer = await gateway.consume("r7", "late", late, producers[0], CAPS)
    assert await gateway.resume_consumer("r7", "late", late_consumer["id"]) is True  # deferred


async def test_a_dead_worker_reports_its_rooms_and_a_fresh_worker_takes_its_slot(
    node: Node, media_redis: Redis  # noqa: F811
) -> None:
    await _speaker("r8", "s", 1)
    await _speaker("r11", "s", 1)
    source_pid = node.service.clusters["r8"].source_worker.pid
    survivor = "r11" if node.service.clusters["r11"].source_worker.pid != source_pid else None
    dead = next(w for w in node.library.workers if w.pid == source_pid)
    dead.die()
    reports: list[RoomsLost] = []
    for _ in range(100):
        reports += await take_lost_rooms(media_redis, now_ms=int(time.time() * 1000))
        if reports and node.service.pool.active == 3:
            break
        await asyncio.sleep(0.02)
    assert reports == [RoomsLost(node_id="n1", room_ids=("r8",), reason="worker_died")]
    assert await take_lost_rooms(media_redis, now_ms=int(time.time() * 1000)) == []  # taken once
    # Closed here at once, its placement and producer list gone; the node never closed the room itself.
    assert "r8" not in node.service.clusters
    assert await media_redis.get(room_node_key("r8")) is None
    assert await media_redis.exists(room_producers_key("r8")) == 0
    assert node.events("room:closed") == []
    if survivor:
        assert survivor in node.service.clusters
    assert node.service.pool.active == 3
    assert source_pid not in [w.pid for w in node.service.pool.workers]
    await gateway.create_transport("r9", "s", 1, "producer")  # still serving
