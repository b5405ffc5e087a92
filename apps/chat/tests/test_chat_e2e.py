"""`chat:message` end to end: the real server process, python-socketio clients, real Redis.

What members see, what the sender is told on each refusal (rate limit, invalid payload, not a
member), and that chat keeps the room alive and counts in its session history."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from apps.rooms.keys import activity_key
from apps.rooms.session_history import session_key
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer
from tests.support.server import LiveServer, run_server, server_env
from tests.support.sio_client import RecordingClient

DB = 3
CHAT_LIMIT = 5
_fresh_users = itertools.count(1000)  # each its own rate-limit window
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")




# Chat is acks, error events and broadcasts: run it on every server and websocket
# implementation bin/web offers for several processes (WEB_SERVER, WEB_WS).
@pytest.fixture(scope="module", params=["uvicorn", "uvicorn-wsproto", "granian"])
def live(request: pytest.FixtureRequest, own_redis: RedisServer, laravel_port: int) -> Iterator[LiveServer]:
    env = server_env(own_redis, REDIS_DB=str(DB), LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                     LARAVEL_API_TIMEOUT_MS="1500", RATE_LIMIT_MESSAGES_PER_MINUTE=str(CHAT_LIMIT),
                     ROOM_INACTIVITY_TIMEOUT_MS="1500", LOG_LEVEL="warn")
    # Each server starts on an empty database: rooms, rate-limit windows and session counts of
    # the tests on the other server would otherwise carry over.
    with SyncRedis.from_url(own_redis.url(DB)) as admin:
        admin.flushdb()
    with run_server(env, server=request.param) as server:
        yield server


@pytest.fixture
async def redis(own_redis: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(own_redis.url(DB), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def clients(live: LiveServer, laravel_port: int) -> AsyncIterator[Callable[..., Any]]:
    made: list[RecordingClient] = []
    async with FakeLaravel(port=laravel_port) as laravel:
        laravel.default_body = {"owner_id": 1}

        async def connect(*users: int, room: str | None = None) -> list[RecordingClient]:
            joined = []
            for user in users:
                client = await RecordingClient(user).connect(live)
                made.append(client)
                if room is not None:
                    assert "rtpCapabilities" in await client.call("room:join", {"roomId": room})
                joined.append(client)
            for client in joined:
                client.clear()
            return joined

        yield connect
        for client in made:
            await client.close()


async def test_a_message_reaches_every_member_with_a_server_made_id_and_time(clients: Any) -> None:
    alice, bob, carol = await clients(101, 102, 103, room="c-all")
    [outsider] = await clients(104)
    before = int(time.time() * 1000)
    await alice.sio.emit("chat:message", {"roomId": "c-all", "content": "hello 😀", "extra": 1})
    [message] = await bob.wait_for("chat:message")
    assert set(message) == {"id", "userId", "userName", "avatar", "content", "type", "timestamp"}
    assert UUID4.match(message["id"])
    assert message["userId"] == 101
    assert message["userName"] == "User 101"
    assert message["avatar"] == "https://cdn.example.com/a.png"
    assert message["content"] == "hello 😀"
    assert message["type"] == "text"
    assert before <= message["timestamp"] <= int(time.time() * 1000)
    assert await carol.wait_for("chat:message") == [message]
    assert await alice.wait_for("chat:message") == [message]  # ROOM*: the sender too
    await asyncio.sleep(0.2)
    assert outsider.events == []
    assert alice.received("error") == []


async def test_type_is_kept_and_an_empty_type_is_text(clients: Any) -> None:
    alice, bob = await clients(111, 112, room="c-type")
    await alice.sio.emit("chat:message", {"roomId": "c-type", "content": "a", "type": "emoji"})
    await alice.sio.emit("chat:message", {"roomId": "c-type", "content": "b", "type": ""})
    first, second = await bob.wait_for("chat:message", 2)
    assert (first["content"], first["type"]) == ("a", "emoji")
    assert (second["content"], second["type"]) == ("b", "text")
    assert first["id"] != second["id"]


async def test_a_socket_outside_the_room_is_told_room_not_found(clients: Any) -> None:
    [member] = await clients(121, room="c-member")
    [stranger] = await clients(122)
    await stranger.sio.emit("chat:message", {"roomId": "c-member", "content": "let me in"})
    assert await stranger.wait_for("error") == [{"message": "Room not found"}]
    await asyncio.sleep(0.2)
    assert member.received("chat:message") == []


@pytest.mark.parametrize(("payload", "errors"), [
    ({"roomId": "c-bad", "content": ""},
     {"_errors": [], "content": {"_errors": ["String must contain at least 1 character(s)"]}}),
    ({"roomId": "c-bad", "content": "x" * 501},
     {"_errors": [], "content": {"_errors": ["String must contain at most 500 character(s)"]}}),
    ({"roomId": "c-bad", "content": "😀" * 251},  # 502 UTF-16 units
     {"_errors": [], "content": {"_errors": ["String must contain at most 500 character(s)"]}}),
    ({"roomId": "c-bad"}, {"_errors": [], "content": {"_errors": ["Required"]}}),
    ({"roomId": "c-bad", "content": "a", "type": None},
     {"_errors": [], "type": {"_errors": ["Expected string, received null"]}}),
    ({"roomId": 5, "content": "a"},
     {"_errors": [], "roomId": {"_errors": ["Expected string, received number"]}}),
])
async def test_invalid_messages_are_answered_with_the_zod_tree(clients: Any, payload: dict[str, Any],
                                                              errors: dict[str, Any]) -> None:
    sender, other = await clients(next(_fresh_users), 139, room="c-bad")
    await sender.sio.emit("chat:message", payload)
    assert await sender.wait_for("error") == [{"message": "Invalid payload", "errors": errors}]
    await asyncio.sleep(0.1)
    assert other.received("chat:message") == []


async def test_500_utf16_units_are_accepted(clients: Any) -> None:
    alice, bob = await clients(141, 142, room="c-long")
    await alice.sio.emit("chat:message", {"roomId": "c-long", "content": "😀" * 250})
    [message] = await bob.wait_for("chat:message")
    assert message["content"] == "😀" * 250


async def test_the_rate_limit_counts_invalid_messages_and_refuses_beyond_it(clients: Any) -> None:
    alice, bob = await clients(151, 152, room="c-rate")
    await alice.sio.emit("chat:message", {"roomId": "c-rate", "content": ""})  # invalid: counts too
    for n in range(CHAT_LIMIT - 1):
        await alice.sio.emit("chat:message", {"roomId": "c-rate", "content": f"m{n}"})
    await bob.wait_for("chat:message", CHAT_LIMIT - 1)
    await alice.sio.emit("chat:message", {"roomId": "c-rate", "content": "one too many"})
    errors = await alice.wait_for("error", 2)
    assert errors[1] == {"message": "Too many messages"}
    await asyncio.sleep(0.2)
    assert [m["content"] for m in bob.received("chat:message")] == [f"m{n}" for n in range(CHAT_LIMIT - 1)]
    # Per user, all rooms together: another socket of the same user is refused too.
    [again] = await clients(151, room="c-rate-2")
    await again.sio.emit("chat:message", {"roomId": "c-rate-2", "content": "elsewhere"})
    assert await again.wait_for("error") == [{"message": "Too many messages"}]


async def test_chat_keeps_the_room_alive_and_counts_in_its_session(clients: Any, redis: Redis) -> None:
    alice, bob = await clients(161, 162, room="c-alive")
    assert await redis.exists(activity_key("c-alive"))
    await asyncio.sleep(1.7)  # ROOM_INACTIVITY_TIMEOUT_MS=1500: the join's mark is gone
    assert not await redis.exists(activity_key("c-alive"))
    await alice.sio.emit("chat:message", {"roomId": "c-alive", "content": "still here"})
    await bob.wait_for("chat:message")
    await asyncio.sleep(0.1)
    assert await redis.exists(activity_key("c-alive"))
    assert await redis.hget(session_key("c-alive"), "chats") == "1"
    assert await redis.hget(session_key("c-alive"), "peak") == "2"


async def test_one_senders_messages_reach_the_room_in_the_order_sent(clients: Any) -> None:
    alice, bob = await clients(171, 172, room="c-order")
    for n in range(CHAT_LIMIT):
        await alice.sio.emit("chat:message", {"roomId": "c-order", "content": str(n)})
    received = await bob.wait_for("chat:message", CHAT_LIMIT)
    assert [m["content"] for m in received] == [str(n) for n in range(CHAT_LIMIT)]
