"""An invite nobody answers expires: the Celery beat sweep (a real worker and beat) clears its
pending state and tells the room (`seat:invite:pending {seatIndex, isPending: false}`), once,
and the invited user can no longer accept it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as sync_redis

from tests.support.celery_procs import run_celery_beat, run_celery_worker
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer
from tests.support.server import LiveServer, run_server, server_env
from tests.support.sio_client import RecordingClient

DB = 14
ROOM, OWNER, GUEST = "s-expiry", 1, 2
INVITE_TTL_MS = 1500



@pytest.fixture(scope="module")
def live(redis_server: RedisServer, laravel_port: int) -> Iterator[LiveServer]:
    sync_redis.Redis(host=redis_server.host, port=redis_server.port, db=DB).flushdb()
    env = server_env(redis_server, REDIS_DB=str(DB), LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                     SEAT_INVITE_TTL_MS=str(INVITE_TTL_MS), SEAT_INVITE_SWEEP_INTERVAL_MS="200")
    with (run_server(env, server="uvicorn") as web, run_celery_worker(env, name="seats"),
          run_celery_beat(env)):
        yield web


@pytest.fixture
async def clients(live: LiveServer, laravel_port: int) -> AsyncIterator[list[RecordingClient]]:
    async with FakeLaravel(port=laravel_port) as laravel:
        laravel.respond(f"/api/v1/internal/rooms/{ROOM}", 200, {"owner_id": OWNER})
        made = [await RecordingClient(user).connect(live) for user in (OWNER, GUEST)]
        for client in made:
            await client.call("room:join", {"roomId": ROOM})
        yield made
        for client in made:
            await client.close()


async def test_an_unanswered_invite_expires_and_the_room_is_told(clients: list[RecordingClient]) -> None:
    owner, guest = clients
    invited_at = int(time.time() * 1000)
    invite = {"roomId": ROOM, "userId": GUEST, "seatIndex": 4}
    assert await owner.call("seat:invite", invite) == {"success": True}
    [received] = await guest.wait_for("seat:invite:received")
    pending = await owner.wait_for("seat:invite:pending", 2, within=INVITE_TTL_MS / 1000 + 5)
    assert pending == [{"seatIndex": 4, "isPending": True, "invitedUserId": GUEST},
                       {"seatIndex": 4, "isPending": False}]
    assert (await guest.wait_for("seat:invite:pending", 2))[-1] == {"seatIndex": 4, "isPending": False}
    assert invited_at + INVITE_TTL_MS <= received["expiresAt"] <= invited_at + INVITE_TTL_MS + 2000
    assert await guest.call("seat:invite:accept", {"roomId": ROOM}) == {
        "success": False, "error": "No pending invite found"}
    await asyncio.sleep(1.0)  # later sweeps announce nothing more
    assert len(owner.received("seat:invite:pending")) == 2
    # The seat can be offered again.
    assert await owner.call("seat:invite", invite) == {"success": True}
