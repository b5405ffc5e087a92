"""Seat moderation reaches the media plane, heard by a real WebRTC listener: the owner mutes a
seated speaker (silence), unmutes them (the tone again), and removes them from the seat (their
producer closes: `audio:producerClosed`). The whole server runs: uvicorn, runmedia, Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from apps.media.tests.live_stack import LiveStack, live_stack
from apps.media.tests.webrtc_peers import RoomPeer, ToneTrack, wait_until
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer

pytestmark = pytest.mark.slow
ROOM, OWNER, SPEAKER, LISTENER = "seat-media", 1, 2, 3



@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, laravel_port: int) -> Iterator[LiveStack]:
    with live_stack(redis_server, MEDIASOUP_NUM_WORKERS="1",
                    LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}") as running:
        yield running


@pytest.fixture
async def peers(stack: LiveStack, laravel_port: int) -> AsyncIterator[list[RoomPeer]]:
    async with FakeLaravel(port=laravel_port) as laravel:
        laravel.respond(f"/api/v1/internal/rooms/{ROOM}", 200, {"owner_id": OWNER})
        made = [RoomPeer(stack.url, user, ROOM) for user in (OWNER, SPEAKER, LISTENER)]
        yield made
        await asyncio.gather(*(peer.close() for peer in made))


async def frames_in(listener: RoomPeer, producer_id: str, seconds: float) -> int:
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return listener.received[producer_id].frames_since(start)


async def test_mute_unmute_and_remove_reach_the_listener(stack: LiveStack, peers: list[RoomPeer]) -> None:
    owner, speaker, listener = peers
    speaker.track = ToneTrack(440.0)
    await owner.connect_and_join()
    await speaker.connect_and_join()
    assert await speaker.call("seat:take", {"roomId": ROOM, "seatIndex": 0}) == {"success": True}
    producer_id = await speaker.speak()
    await listener.connect_and_join()
    await listener.listen()
    await listener.consume(producer_id)
    assert await wait_until(lambda: listener.received[producer_id].loud_frames >= 25, 15), stack.logs()

    assert await owner.call("seat:mute", {"roomId": ROOM, "userId": SPEAKER}) == {"success": True}
    await asyncio.sleep(0.5)  # frames already in flight
    assert await frames_in(listener, producer_id, 1.0) == 0

    assert await owner.call("seat:unmute", {"roomId": ROOM, "userId": SPEAKER}) == {"success": True}
    await asyncio.sleep(0.5)
    assert await frames_in(listener, producer_id, 1.0) > 10

    assert await owner.call("seat:remove", {"roomId": ROOM, "userId": SPEAKER}) == {"success": True}
    assert await wait_until(lambda: listener.events_named("audio:producerClosed"), 5)
    assert listener.events_named("audio:producerClosed") == [{"producerId": producer_id, "userId": SPEAKER}]
