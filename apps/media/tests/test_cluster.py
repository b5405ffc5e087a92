"""A room's media spread over several workers, and what clients see when a worker dies.

Whole server on loopback (runmedia with three workers, a low listener cap per
distribution router), real WebRTC peers.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis as sync_redis

from apps.media import rpc_contract as rpc
from apps.media.node_registry import MEDIA_NODES_KEY
from apps.media.tests.live_stack import MEDIA_E2E_DB, LiveStack, live_stack, media_rpc
from apps.media.tests.webrtc_peers import RoomPeer, ToneTrack, wait_until
from tests.support.processes import RedisServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer) -> Iterator[LiveStack]:
    # Celery: the rooms app closes the rooms a dead worker took (the node only reports them).
    with live_stack(
        redis_server, celery=True, MEDIASOUP_NUM_WORKERS="3", MAX_LISTENERS_PER_DISTRIBUTION_ROUTER="2"
    ) as running:
        yield running


@pytest.fixture
async def peers(stack: LiveStack) -> AsyncIterator[list[RoomPeer]]:
    made: list[RoomPeer] = []
    yield made
    await asyncio.gather(*(peer.close() for peer in made))


async def _room_with_speaker(stack: LiveStack, peers: list[RoomPeer], room: str, uid: int) -> str:
    speaker = RoomPeer(stack.url, uid, room)
    peers.append(speaker)
    speaker.track = ToneTrack(440.0)
    await speaker.connect_and_join()
    return await speaker.speak()


async def _listener(
    stack: LiveStack, peers: list[RoomPeer], room: str, uid: int, producer_id: str
) -> RoomPeer:
    listener = RoomPeer(stack.url, uid, room)
    peers.append(listener)
    await listener.connect_and_join()
    await listener.listen()
    await listener.consume(producer_id)
    return listener


async def _room_stats(stack: LiveStack, room: str) -> dict[str, Any]:
    async with media_rpc(stack) as client:
        stats = await client.request_room(rpc.ROOM_STATS, rpc.RoomRequest(roomId=room))
    assert stats is not None
    return stats.model_dump()


async def test_listeners_over_the_cap_spread_to_a_second_worker_and_all_hear(
    stack: LiveStack, peers: list[RoomPeer]
) -> None:
    room = "cluster-spread"
    producer_id = await _room_with_speaker(stack, peers, room, 100)
    listeners = [await _listener(stack, peers, room, 101 + i, producer_id) for i in range(4)]

    stats = await _room_stats(stack, room)
    slots = stats["slots"]
    assert isinstance(slots, list)
    assert [s["listeners"] for s in slots] == [2, 2]
    worker_pids = {s["workerPid"] for s in slots}
    assert len(worker_pids) == 2
    assert stats["sourceWorkerPid"] not in worker_pids
    heard = await wait_until(lambda: all(p.received[producer_id].loud_frames >= 50 for p in listeners), 15)
    assert heard, [p.received[producer_id] for p in listeners]

    # Listener counts follow transports closing.
    await listeners[0].close()
    await wait_until(lambda: False, 1.0)
    stats = await _room_stats(stack, room)
    assert sorted(s["listeners"] for s in stats["slots"]) == [1, 2]


async def test_a_dead_worker_closes_its_rooms_and_the_node_keeps_serving(
    stack: LiveStack, peers: list[RoomPeer]
) -> None:
    room = "cluster-doomed"
    producer_id = await _room_with_speaker(stack, peers, room, 200)
    listener = await _listener(stack, peers, room, 201, producer_id)
    assert await wait_until(lambda: listener.received[producer_id].loud_frames > 10, 10)
    source_pid = (await _room_stats(stack, room))["sourceWorkerPid"]
    assert isinstance(source_pid, int)

    killed_at = time.monotonic()
    os.kill(source_pid, signal.SIGKILL)
    everyone = [peers[0], listener]
    closed = await wait_until(lambda: all(p.events_named("room:closed") for p in everyone), 5)
    assert closed, stack.logs()
    for peer in everyone:
        event = peer.events_named("room:closed")[0]
        assert event["roomId"] == room
        assert event["reason"] == "worker_died"
        assert isinstance(event["timestamp"], int)
    print(f"worker killed -> room:closed at every client: {time.monotonic() - killed_at:.2f} s")

    # New rooms work right away, on the workers left.
    fresh_producer = await _room_with_speaker(stack, peers, "cluster-after", 210)
    fresh = await _listener(stack, peers, "cluster-after", 211, fresh_producer)
    assert await wait_until(lambda: fresh.received[fresh_producer].loud_frames >= 25, 15)

    # The dead worker's slot is refilled and the registry says so.
    client = sync_redis.Redis(host=stack.redis.host, port=stack.redis.port, db=MEDIA_E2E_DB)

    def workers_active() -> int:
        raw = client.hget(MEDIA_NODES_KEY, stack.media.node_id)
        return int(json.loads(raw)["workers"]["active"]) if raw else 0

    assert await wait_until(lambda: workers_active() == 3, 15)
    client.close()
