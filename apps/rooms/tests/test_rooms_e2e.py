"""Rooms end to end: the real server process, python-socketio clients, real Redis, a fake
Laravel over HTTP and a test double of the media service (answers `room.ensure`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from channels.layers import get_channel_layer
from django.test import override_settings
from redis.asyncio import Redis, from_url

from apps.integrations.laravel_client import LaravelClient
from apps.media.gateway import router_rtp_capabilities
from apps.media.node_registry import MEDIA_NODES_KEY, room_node_key
from apps.realtime.emit import emit, room_group
from apps.rooms.keys import members_key, state_key
from apps.rooms.repository import RoomRepository
from apps.rooms.service import RoomService
from apps.rooms.tests.media_double import MediaDouble, running_media_double
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer
from tests.support.server import (
    TEST_INTERNAL_KEY,
    LiveServer,
    run_server,
    server_env,
)
from tests.support.sio_client import RecordingClient

E2E_DB = 6
CLAIM_KEYS = ("id", "name", "signature", "email", "avatar", "frame", "gender", "date_of_birth", "phone",
              "country", "coins", "diamonds", "wealth_xp", "charm_xp", "is_blocked", "isSpeaker")


Client = RecordingClient  # the suite's e2e client (tests/support/sio_client.py)



@pytest.fixture(scope="module")
def live(redis_server: RedisServer, laravel_port: int) -> Iterator[LiveServer]:
    env = server_env(redis_server, REDIS_DB=str(E2E_DB), LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                     LARAVEL_API_TIMEOUT_MS="2000")
    with run_server(env) as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = from_url(redis_server.url(db=E2E_DB))
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
async def laravel(laravel_port: int) -> AsyncIterator[FakeLaravel]:
    async with FakeLaravel(port=laravel_port) as fake:
        yield fake


@pytest.fixture
async def media(redis_server: RedisServer, redis: Redis) -> AsyncIterator[MediaDouble]:
    await redis.delete(MEDIA_NODES_KEY)
    async with running_media_double(redis_server.url(db=E2E_DB), node_id="e2e-double") as double:
        yield double


@pytest.fixture
async def clients(live: LiveServer, laravel: FakeLaravel, media: MediaDouble
                  ) -> AsyncIterator[Callable[[int], Any]]:
    made: list[Client] = []

    async def connect(user_id: int) -> Client:
        client = await Client(user_id).connect(live)
        made.append(client)
        return client

    yield connect
    for client in made:
        await client.close()


async def participant_count(redis: Redis, room_id: str) -> int:
    raw = await redis.get(state_key(room_id))
    assert raw is not None
    return int(json.loads(raw)["participantCount"])


async def eventually(check: Callable[[], Any], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if await check():
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_two_users_join_see_each_other_and_leave(clients: Any, redis: Redis,
                                                       laravel: FakeLaravel) -> None:
    alice, bob = await clients(101), await clients(102)
    first = await alice.call("room:join", {"roomId": "e2e-1"})
    assert set(first) == {"rtpCapabilities", "participants", "seats", "lockedSeats", "existingProducers"}
    assert first["rtpCapabilities"] == router_rtp_capabilities()  # from the codecs: no media node asked
    assert first["participants"] == []

    second = await bob.call("room:join", {"roomId": "e2e-1", "seatCount": 15})
    assert [p["id"] for p in second["participants"]] == [101]
    assert set(second["participants"][0]) == {
        "id", "name", "signature", "avatar", "frame", "gender", "country", "phone", "email", "date_of_birth",
        "wealth_xp", "charm_xp", "isSpeaker"}
    [joined] = await alice.wait_for("room:userJoined")
    assert joined["userId"] == 102
    assert tuple(joined["user"]) == CLAIM_KEYS
    assert bob.received("room:userJoined") == []
    assert await participant_count(redis, "e2e-1") == 2

    assert await alice.call("user:getRoom", {"userId": 102}) == {"roomId": "e2e-1"}

    await bob.sio.emit("room:leave", {"roomId": "e2e-1"})
    assert await alice.wait_for("room:userLeft") == [{"userId": 102}]
    assert await participant_count(redis, "e2e-1") == 1
    assert await bob.call("user:getRoom", {"userId": 102}) == {"roomId": None}

    statuses = await laravel.wait_for("/api/v1/internal/rooms/e2e-1/status", 4)
    assert statuses[0].json == {"is_live": True, "participant_count": 0}
    assert sorted(r.json["participant_count"] for r in statuses[1:4]) == [1, 1, 2]
    assert all(r.headers["X-Internal-Key"] == TEST_INTERNAL_KEY for r in statuses)


async def test_disconnect_cleans_up_once(clients: Any, redis: Redis) -> None:
    alice, bob = await clients(201), await clients(202)
    await alice.call("room:join", {"roomId": "e2e-2"})
    await bob.call("room:join", {"roomId": "e2e-2"})
    await bob.sio.emit("room:leave", {"roomId": "e2e-2"})
    await alice.wait_for("room:userLeft")
    await bob.call("room:join", {"roomId": "e2e-2"})
    assert await bob.call("seat:take", {"roomId": "e2e-2", "seatIndex": 3}) == {"success": True}
    await bob.close()
    assert await alice.wait_for("seat:cleared") == [{"seatIndex": 3}]
    assert await alice.wait_for("room:userLeft", 2) == [{"userId": 202}, {"userId": 202}]
    assert await participant_count(redis, "e2e-2") == 1
    assert await RoomRepository(redis).get_user_room(202) is None
    assert await alice.call("user:getRoom", {"userId": 202}) == {"roomId": None}


async def test_joining_another_room_moves_the_socket(clients: Any, redis: Redis) -> None:
    alice, bob = await clients(301), await clients(302)
    await alice.call("room:join", {"roomId": "e2e-3a"})
    await bob.call("room:join", {"roomId": "e2e-3a"})
    await bob.call("room:join", {"roomId": "e2e-3b"})
    assert await alice.wait_for("room:userLeft") == [{"userId": 302}]
    assert (await participant_count(redis, "e2e-3a"), await participant_count(redis, "e2e-3b")) == (1, 1)
    await alice.call("room:join", {"roomId": "e2e-3b"})
    assert [p["userId"] for p in await bob.wait_for("room:userJoined")] == [301]


async def test_invalid_payloads_get_the_contract_answers(clients: Any) -> None:
    alice = await clients(401)
    assert await alice.call("room:join", {"roomId": 42}) == {"error": "Invalid payload"}
    assert await alice.call("user:getRoom", {"userId": "42"}) == {"roomId": None, "error": "Invalid payload"}
    # Unlike the baseline, an empty room id is not a room id (docs/protocol.md, "Room ids").
    assert await alice.call("room:join", {"roomId": ""}) == {"error": "Invalid payload"}


async def test_join_needs_no_media_node(live: LiveServer, laravel: FakeLaravel, redis: Redis) -> None:
    """Joins allocate no media (issue 7): the first transport:create places the room."""
    await redis.delete(MEDIA_NODES_KEY)
    alice = await Client(501).connect(live)
    try:
        ack = await alice.call("room:join", {"roomId": "e2e-5"})
        assert ack["rtpCapabilities"] == router_rtp_capabilities()
        assert await redis.exists(state_key("e2e-5"), room_node_key("e2e-5")) == 1
    finally:
        await alice.close()


async def test_close_room_tells_members_and_forgets_them(clients: Any, redis: Redis, laravel: FakeLaravel,
                                                         redis_server: RedisServer) -> None:
    alice, bob = await clients(601), await clients(602)
    await alice.call("room:join", {"roomId": "e2e-6"})
    await bob.call("room:join", {"roomId": "e2e-6"})
    layers = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                          "CONFIG": {"hosts": [redis_server.url(db=E2E_DB)], "prefix": "flylive"}}}
    with override_settings(CHANNEL_LAYERS=layers):
        layer = get_channel_layer()

        async def group_send(room_id: str, message: dict[str, Any]) -> None:
            await layer.group_send(room_group(room_id), message)

        async def no_media(room_id: str) -> dict[str, Any]:
            raise AssertionError("not used")

        http = LaravelClient(laravel.url, TEST_INTERNAL_KEY, timeout_ms=2000)
        async def media_released(room_id: str, reason: str) -> None:
            return None

        closer = RoomService(RoomRepository(redis), laravel=http, ensure_media=no_media, emit=emit,
                             group_send=group_send, release_media=media_released, activity_ttl_ms=30000,
                             leave_hooks=[])
        await closer.close_room("e2e-6", "inactivity")
        await closer.drain()
        await http.aclose()
        await layer.flush()
    for client in (alice, bob):
        [closed] = await client.wait_for("room:closed")
        assert (closed["roomId"], closed["reason"]) == ("e2e-6", "inactivity")
        assert isinstance(closed["timestamp"], int)
    assert await redis.exists(state_key("e2e-6"), members_key("e2e-6")) == 0
    assert await RoomRepository(redis).get_user_room(601) is None
    statuses = laravel.requests_to("/api/v1/internal/rooms/e2e-6/status")
    [ended] = [r.json for r in statuses if not r.json["is_live"]]
    assert ended["participant_count"] == 0
    assert ended["ended_at"].endswith("Z")

    await asyncio.sleep(0.3)  # room.force_leave travels right behind room:closed
    carol = await clients(603)
    await carol.call("room:join", {"roomId": "e2e-6"})  # a new room with the same id
    await alice.sio.emit("room:leave", {"roomId": "e2e-6"})  # alice is no longer in it: ignored
    await asyncio.sleep(0.3)
    assert [e["userId"] for e in alice.received("room:userJoined")] == [602]  # not carol's
    assert carol.received("room:userLeft") == []
    assert await participant_count(redis, "e2e-6") == 1


async def test_health_and_metrics_through_the_server(live: LiveServer, media: MediaDouble,
                                                     redis: Redis) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
        health = await http.get("/health")
        assert (health.status_code, health.json()["status"]) == (200, "ok")
        assert health.json()["workers"] == {"active": 1, "expected": 1}
        await redis.set(state_key("e2e-metrics"), "{}", ex=60)
        body = (await http.get("/metrics")).json()
        assert body["application"]["rooms"] >= 1
        assert body["application"]["activeWorkers"] == 1
        prometheus = await http.get("/metrics/prometheus")
        assert prometheus.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "flylive_mediasoup_workers_active 1.0" in prometheus.text
