"""Rooms never exhaust the media plane, through the whole server: real Socket.IO clients -> uvicorn ->
channel layer -> runmedia (one real worker, MAX_ROOMS_PER_WORKER=5) -> mediasoup."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import socketio

from apps.media import rpc_contract as rpc
from apps.media.tests.live_stack import LiveStack, live_stack, media_rpc
from apps.media.tests.webrtc_peers import RoomPeer, ToneTrack, wait_until
from tests.support.processes import RedisServer
from tests.support.server import make_token, user_claims

pytestmark = pytest.mark.slow
ROOMS_PER_WORKER = 5


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer) -> Iterator[LiveStack]:
    with live_stack(redis_server, MEDIASOUP_NUM_WORKERS="1", MAX_ROOMS_PER_WORKER=str(ROOMS_PER_WORKER),
                    ROOM_JOIN_RATE_LIMIT_PER_MINUTE="100000") as running:
        yield running


@pytest.fixture
async def sockets(stack: LiveStack) -> AsyncIterator[list[socketio.AsyncClient]]:
    made: list[socketio.AsyncClient] = []
    yield made
    await asyncio.gather(*(s.disconnect() for s in made if s.connected))


async def _connect(stack: LiveStack, sockets: list[socketio.AsyncClient],
                   user_id: int) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    token = make_token(user_claims(user_id))
    await client.connect(stack.url, transports=["websocket"], auth={"token": token})
    sockets.append(client)
    return client


async def _call(client: socketio.AsyncClient, event: str, payload: Any) -> Any:
    return await client.call(event, payload, timeout=15)


async def _node_stats(stack: LiveStack) -> rpc.NodeStats:
    async with media_rpc(stack) as client:
        assert client.registry is not None
        nodes = await client.registry.live_nodes(int(time.time() * 1000))
        return await client.request(rpc.NODE_STATS, rpc.Empty(), channel=nodes[stack.media.node_id].channel)


async def _until_no_routers(stack: LiveStack, within: float = 10.0) -> rpc.NodeStats:
    deadline = time.monotonic() + within
    stats = await _node_stats(stack)
    while (stats.rooms or stats.routers) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        stats = await _node_stats(stack)
    return stats


def _metric(stack: LiveStack, name: str) -> float:
    with urllib.request.urlopen(f"{stack.url}/metrics/prometheus", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


async def test_300_rooms_joined_and_left_then_a_new_room_plays_audio(
    stack: LiveStack, sockets: list[socketio.AsyncClient]
) -> None:
    speaker, listener = await _connect(stack, sockets, 501), await _connect(stack, sockets, 502)
    started = time.monotonic()
    for i in range(300):
        room = f"churn-{i}"
        join = await _call(speaker, "room:join", {"roomId": room})
        assert "rtpCapabilities" in join, join
        created = await _call(speaker, "transport:create", {"type": "producer", "roomId": room})
        assert created["success"], (i, created, stack.logs())
        if i % 3 == 0:  # some rooms have a listener too, who leaves last
            await _call(listener, "room:join", {"roomId": room})
            listening = await _call(listener, "transport:create", {"type": "consumer", "roomId": room})
            assert listening["success"], listening
            await speaker.emit("room:leave", {"roomId": room})
            await listener.emit("room:leave", {"roomId": room})
        else:
            await speaker.emit("room:leave", {"roomId": room})
    print(f"300 rooms joined and left in {time.monotonic() - started:.1f} s")
    stats = await _until_no_routers(stack)
    assert (stats.rooms, stats.routers) == (0, 0), stack.logs()

    peers: list[RoomPeer] = []
    try:
        talker = RoomPeer(stack.url, 601, "after-churn")
        talker.track = ToneTrack(440.0)
        peers.append(talker)
        await talker.connect_and_join()
        producer_id = await talker.speak()
        hearer = RoomPeer(stack.url, 602, "after-churn")
        peers.append(hearer)
        await hearer.connect_and_join()
        await hearer.listen()
        await hearer.consume(producer_id)
        heard = await wait_until(lambda: hearer.received[producer_id].loud_frames >= 50, 15)
        assert heard, (hearer.received[producer_id], stack.logs())
    finally:
        await asyncio.gather(*(peer.close() for peer in peers))
    # Its members gone (disconnect), its routers go too.
    stats = await _until_no_routers(stack)
    assert (stats.rooms, stats.routers) == (0, 0)


async def test_at_capacity_transport_create_answers_internal_server_error_with_a_metric(
    stack: LiveStack, sockets: list[socketio.AsyncClient]
) -> None:
    before = _metric(stack, "flylive_media_capacity_refusals_total")
    holders = [await _connect(stack, sockets, 700 + i) for i in range(ROOMS_PER_WORKER)]
    for i, holder in enumerate(holders):
        await _call(holder, "room:join", {"roomId": f"full-{i}"})
        held = await _call(holder, "transport:create", {"type": "producer", "roomId": f"full-{i}"})
        assert held["success"], held
    late = await _connect(stack, sockets, 799)
    join = await _call(late, "room:join", {"roomId": "one-too-many"})
    assert "rtpCapabilities" in join  # joining costs no media
    refused = await _call(late, "transport:create", {"type": "producer", "roomId": "one-too-many"})
    assert refused == {"success": False, "error": "Internal server error"}
    assert _metric(stack, "flylive_media_capacity_refusals_total") == before + 1
    assert "capacity" in stack.logs()
    # One room empties (its member disconnects): its router goes at once, the late room fits.
    await holders[0].disconnect()
    for _ in range(50):
        created = await _call(late, "transport:create", {"type": "producer", "roomId": "one-too-many"})
        if created["success"]:
            break
        await asyncio.sleep(0.2)
    assert created["success"], (created, stack.logs())


async def test_transport_create_racing_leave_or_disconnect_leaves_nothing_behind(
    stack: LiveStack, sockets: list[socketio.AsyncClient]
) -> None:
    room = "race-e2e"
    keeper = await _connect(stack, sockets, 801)
    await _call(keeper, "room:join", {"roomId": room})
    assert (await _call(keeper, "transport:create", {"type": "consumer", "roomId": room}))["success"]
    racer = await _connect(stack, sockets, 802)
    for _ in range(10):
        await _call(racer, "room:join", {"roomId": room})
        await racer.emit("transport:create", {"type": "producer", "roomId": room})
        await racer.emit("transport:create", {"type": "consumer", "roomId": room})
        await racer.emit("room:leave", {"roomId": room})
    for i in range(5):
        quitter = await _connect(stack, sockets, 810 + i)
        await _call(quitter, "room:join", {"roomId": room})
        await quitter.emit("transport:create", {"type": "producer", "roomId": room})
        await quitter.disconnect()
    await _call(racer, "room:join", {"roomId": "elsewhere"})  # the racer's last leave is done
    await asyncio.sleep(1.0)
    async with media_rpc(stack) as client:
        stats = await client.request_room(rpc.ROOM_STATS, rpc.RoomRequest(roomId=room))
    assert stats is not None
    assert stats.transports == 1, stack.logs()  # the keeper's
