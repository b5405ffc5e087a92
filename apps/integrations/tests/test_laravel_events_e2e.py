"""Laravel events through two real web processes (uvicorn and daphne, each subscribed at its
start-up) on one Redis: every target socket gets each event exactly once, whichever process it
is connected to; sockets that are not targets get nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer
from tests.support.server import LiveServer, run_server, server_env
from tests.support.sio_client import RecordingClient

DB = 3
CHANNEL = "flylive:msab:events"
ROOM = "77"
ALICE, BOB, CAROL, DAVE = 4201, 4202, 4203, 4204




@pytest.fixture(scope="module")
def servers(own_redis: RedisServer, laravel_port: int) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = server_env(own_redis, REDIS_DB=str(DB), LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                     LARAVEL_API_TIMEOUT_MS="1500", LOG_LEVEL="warn")
    with run_server(env, server="uvicorn") as first, run_server(env, server="daphne") as second:
        yield first, second


@pytest.fixture
async def publisher(own_redis: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(own_redis.url(DB))
    async with asyncio.timeout(20):  # both processes subscribed
        while True:
            if (await client.pubsub_numsub(CHANNEL))[0][1] >= 2:
                break
            await asyncio.sleep(0.05)
    yield client
    await client.aclose()


@pytest.fixture
async def sockets(servers: tuple[LiveServer, LiveServer], laravel_port: int
                  ) -> AsyncIterator[dict[str, RecordingClient]]:
    """alice on both processes (one socket of hers in the room on each), bob in the room on the
    first, carol in the room on the second, dave on the second in no room."""
    first, second = servers
    async with FakeLaravel(port=laravel_port):
        made: dict[str, RecordingClient] = {}
        for name, user, server, joins in (("alice@1", ALICE, first, True), ("alice@2", ALICE, second, True),
                                          ("alice@2-lobby", ALICE, second, False),
                                          ("bob@1", BOB, first, True), ("carol@2", CAROL, second, True),
                                          ("dave@2", DAVE, second, False)):
            client = await RecordingClient(user).connect(server)
            made[name] = client
            if joins:
                assert "rtpCapabilities" in await client.call("room:join", {"roomId": ROOM})
        await asyncio.sleep(0.2)
        for client in made.values():
            client.clear()
        yield made
        for client in made.values():
            await client.close()


async def publish(redis: Redis, **fields: Any) -> None:
    await redis.publish(CHANNEL, json.dumps({"timestamp": "2026-12-01T00:00:00Z", "correlation_id": "t",
                                             **fields}))


async def settle(sockets: dict[str, RecordingClient], event: str, expected: set[str]) -> dict[str, int]:
    for name in expected:
        await sockets[name].wait_for(event, within=10)
    await asyncio.sleep(0.5)  # time for any duplicate to arrive
    got = {name: len(client.received(event)) for name, client in sockets.items()}
    return {name: count for name, count in got.items() if count}


async def test_a_user_event_reaches_each_of_the_users_sockets_once(sockets: Any, publisher: Redis) -> None:
    await publish(publisher, event="balance.updated", user_id=ALICE, room_id=None, payload={"coins": 10})
    got = await settle(sockets, "balance.updated", {"alice@1", "alice@2", "alice@2-lobby"})
    assert got == {"alice@1": 1, "alice@2": 1, "alice@2-lobby": 1}
    assert sockets["alice@1"].received("balance.updated") == [{"coins": 10}]


async def test_a_room_event_reaches_each_member_once(sockets: Any, publisher: Redis) -> None:
    await publish(publisher, event="room.level_up", user_id=None, room_id=77, payload={"level": 2})
    got = await settle(sockets, "room.level_up", {"alice@1", "alice@2", "bob@1", "carol@2"})
    assert got == {"alice@1": 1, "alice@2": 1, "bob@1": 1, "carol@2": 1}


async def test_a_user_in_room_event_reaches_only_the_users_sockets_in_the_room(sockets: Any,
                                                                              publisher: Redis) -> None:
    await publish(publisher, event="room.member_role_changed", user_id=ALICE, room_id=77, payload={})
    got = await settle(sockets, "room.member_role_changed", {"alice@1", "alice@2"})
    assert got == {"alice@1": 1, "alice@2": 1}


async def test_a_broadcast_reaches_every_socket_once(sockets: Any, publisher: Redis) -> None:
    await publish(publisher, event="config:invalidate", user_id=None, room_id=None, payload={"key": "gifts"})
    got = await settle(sockets, "config:invalidate", set(sockets))
    assert got == dict.fromkeys(sockets, 1)


async def test_a_bad_message_reaches_nobody_and_the_next_one_does(sockets: Any, publisher: Redis) -> None:
    await publisher.publish(CHANNEL, '{"event": "badge.earned", "user_id": "4201", "room_id": null}')
    await publisher.publish(CHANNEL, "not json")
    await publish(publisher, event="badge.earned", user_id=DAVE, room_id=None, payload={"badge": 1})
    got = await settle(sockets, "badge.earned", {"dave@2"})
    assert got == {"dave@2": 1}
