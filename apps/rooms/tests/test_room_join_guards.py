"""room:join's guards end to end (real server, real Redis, fake Laravel over HTTP): a room id
that is not a plain token never reaches Laravel, and one user cannot flood room creation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from apps.rooms.tests.media_double import running_media_double
from apps.rooms.tests.test_rooms_e2e import Client
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer, clean_redis_db
from tests.support.server import LiveServer, run_server, server_env

DB = 10
JOINS_PER_MINUTE = 3
HOSTILE_ROOM_IDS = ["1/../../../admin/users/7/ban?", "..", "42?x=1", "42#frag", "a b", "", "x" * 65, "😀"]



@pytest.fixture(scope="module")
def live(redis_server: RedisServer, laravel_port: int) -> Iterator[LiveServer]:
    env = server_env(redis_server, REDIS_DB=str(DB), LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                     LARAVEL_API_TIMEOUT_MS="2000", ROOM_JOIN_RATE_LIMIT_PER_MINUTE=str(JOINS_PER_MINUTE))
    with run_server(env, server="uvicorn") as server:
        yield server


@pytest.fixture
async def laravel(redis_server: RedisServer, laravel_port: int) -> AsyncIterator[FakeLaravel]:
    async with (clean_redis_db(redis_server, DB), FakeLaravel(port=laravel_port) as fake,
                running_media_double(redis_server.url(db=DB), node_id="guards-double")):
        yield fake


async def test_a_room_id_with_slashes_dots_or_query_never_reaches_laravel(live: LiveServer,
                                                                        laravel: FakeLaravel) -> None:
    client = await Client(7001).connect(live)
    try:
        for room_id in HOSTILE_ROOM_IDS:
            assert await client.call("room:join", {"roomId": room_id}) == {"error": "Invalid payload"}
            await client.sio.emit("room:leave", {"roomId": room_id})  # silently ignored
        # The same socket still joins a real room, and that one does reach Laravel.
        joined = await client.call("room:join", {"roomId": "7001"})
        assert "rtpCapabilities" in joined
        await laravel.wait_for("/api/v1/internal/rooms/7001/status")
        assert {request.raw_path for request in laravel.requests} == {"/api/v1/internal/rooms/7001/status"}
    finally:
        await client.close()


async def test_room_join_is_rate_limited_per_user(live: LiveServer, laravel: FakeLaravel) -> None:
    flooder, other_socket_same_user, someone_else = (
        await Client(7002).connect(live), await Client(7002).connect(live), await Client(7003).connect(live))
    try:
        for n in range(JOINS_PER_MINUTE):
            assert "rtpCapabilities" in await flooder.call("room:join", {"roomId": f"flood-{n}"})
        assert await flooder.call("room:join", {"roomId": "flood-x"}) == {"error": "Too many requests"}
        # Per user, whichever socket: the user's other socket is limited too; another user is not.
        assert await other_socket_same_user.call("room:join", {"roomId": "flood-y"}) == {
            "error": "Too many requests"}
        assert "rtpCapabilities" in await someone_else.call("room:join", {"roomId": "flood-z"})
        # An invalid payload is still answered as invalid, not as a rate-limit hit.
        assert await flooder.call("room:join", {"roomId": "a/b"}) == {"error": "Invalid payload"}
    finally:
        for client in (flooder, other_socket_same_user, someone_else):
            await client.close()
