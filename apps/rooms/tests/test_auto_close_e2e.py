"""Auto-close end to end: the real web server (uvicorn), python-socketio clients, real Redis, two real
Celery workers and Celery beat (bin/serve's commands) with short intervals through the environment,
and the fake Laravel over HTTP. What a client would see of a closed room is watched from the
room's channel-layer group (an empty room has no socket left to receive it)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis as sync_redis
from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio import Redis

from apps.realtime.emit import room_group
from apps.realtime.instance_keys import INSTANCES_KEY, RECORDED_INSTANCES_KEY, instance_sockets_key
from apps.rooms.keys import ACTIVE_ROOMS_KEY, activity_key, member_users_key, members_key, state_key
from apps.rooms.repository import RoomRepository
from apps.rooms.tests.test_rooms_e2e import Client, eventually
from apps.seats.keys import locked_seats_key, seat_count_key, seats_key
from apps.users.keys import user_sockets_key
from flylive.redis_values import as_text
from tests.support.celery_procs import CeleryProcess, run_celery_beat, run_celery_worker
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer
from tests.support.server import LiveServer, run_server, server_env

DB = 14
INACTIVITY_MS = 1500
POLL_MS = 300
# A close is due once the activity mark expired and the next pass ran; slack for 2 loaded cores.
CLOSE_WITHIN = (INACTIVITY_MS + POLL_MS) / 1000 + 6
# Web processes beat every 200 ms and are dead after 2 s; Celery sweeps every 300 ms.
FAST_LIVENESS = {"WEB_INSTANCE_HEARTBEAT_MS": "200", "WEB_INSTANCE_DEAD_AFTER_MS": "2000",
                 "WEB_INSTANCE_SWEEP_INTERVAL_MS": "300"}


class RoomGroupListener:
    """Subscribed to rooms' broadcast groups, as every member socket's consumer is."""

    def __init__(self, redis_url: str) -> None:
        self.layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix="flylive")
        self.events: list[tuple[str, Any]] = []
        self._channel: str | None = None
        self._reader: asyncio.Task[None] | None = None

    async def watch(self, *room_ids: str) -> None:
        if self._channel is None:
            self._channel = await self.layer.new_channel()
            self._reader = asyncio.create_task(self._read(self._channel))
        for room_id in room_ids:
            await self.layer.group_add(room_group(room_id), self._channel)

    async def _read(self, channel: str) -> None:
        while True:
            message = await self.layer.receive(channel)
            frame = str(message.get("frame", ""))
            if frame.startswith("42["):  # a Socket.IO EVENT packet, as the socket would get it
                event, payload = json.loads(frame[2:])[:2]
                self.events.append((event, payload))

    def closed(self, room_id: str) -> list[Any]:
        return [p for e, p in self.events if e == "room:closed" and p.get("roomId") == room_id]

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.layer.flush()



@pytest.fixture(scope="module")
async def laravel(laravel_port: int) -> AsyncIterator[FakeLaravel]:
    async with FakeLaravel(port=laravel_port) as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, laravel_port: int
          ) -> Iterator[tuple[LiveServer, CeleryProcess, CeleryProcess, CeleryProcess]]:
    sync_redis.Redis(host=redis_server.host, port=redis_server.port, db=DB).flushdb()
    celery_env = server_env(redis_server, REDIS_DB=str(DB), LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}",
                            LARAVEL_API_TIMEOUT_MS="2000", ROOM_INACTIVITY_TIMEOUT_MS=str(INACTIVITY_MS),
                            ROOM_AUTO_CLOSE_POLL_INTERVAL_MS=str(POLL_MS), **FAST_LIVENESS)
    with (run_server(web_env(celery_env), server="uvicorn") as web,
          run_celery_worker(celery_env, name="one") as one,
          run_celery_worker(celery_env, name="two", pool="prefork", concurrency=2) as two,  # bin/serve's
          run_celery_beat(celery_env) as beat):
        yield web, one, two, beat


def web_env(celery_env: dict[str, str]) -> dict[str, str]:
    """Web processes never sweep during this module: a dead one is left to Celery beat."""
    return {**celery_env, "WEB_INSTANCE_SWEEP_INTERVAL_MS": "600000"}


@pytest.fixture
def web(stack: tuple[LiveServer, CeleryProcess, CeleryProcess, CeleryProcess]) -> LiveServer:
    return stack[0]


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_server.url(db=DB))
    yield client
    await client.aclose()


@pytest.fixture
async def listener(redis_server: RedisServer) -> AsyncIterator[RoomGroupListener]:
    watching = RoomGroupListener(redis_server.url(db=DB))
    yield watching
    await watching.aclose()


def ended_reports(laravel: FakeLaravel, room_id: str) -> list[Any]:
    requests = laravel.requests_to(f"/api/v1/internal/rooms/{room_id}/status")
    return [r.json for r in requests if r.json and r.json.get("is_live") is False and "ended_at" in r.json]


async def join_and_leave(web: LiveServer, user_id: int, *room_ids: str) -> None:
    """One client joins each room in turn (each join leaves the previous room), then leaves."""
    client = await Client(user_id).connect(web)
    try:
        for room_id in room_ids:
            await client.call("room:join", {"roomId": room_id})
        await client.sio.emit("room:leave", {"roomId": room_ids[-1]})  # no ack (contract 2.2)
    finally:
        await client.close()


async def test_idle_empty_room_is_closed_and_laravel_gets_ended_at(
    web: LiveServer, laravel: FakeLaravel, redis: Redis, listener: RoomGroupListener
) -> None:
    await listener.watch("ac-idle")
    await join_and_leave(web, 901, "ac-idle")
    await eventually(lambda: _true(ended_reports(laravel, "ac-idle")), within=CLOSE_WITHIN)
    [ended] = ended_reports(laravel, "ac-idle")
    assert ended["participant_count"] == 0
    assert ended["ended_at"].endswith("Z")
    await eventually(lambda: _true(listener.closed("ac-idle")))
    [closed] = listener.closed("ac-idle")
    assert closed["reason"] == "inactivity"
    assert isinstance(closed["timestamp"], int)
    keys = [key("ac-idle") for key in (state_key, members_key, member_users_key, activity_key, seats_key,
                                       locked_seats_key, seat_count_key)]
    assert await redis.exists(*keys) == 0

    async def unindexed() -> bool:  # the close's last step, after its announcements
        return await redis.zscore(ACTIVE_ROOMS_KEY, "ac-idle") is None

    await eventually(unindexed)


async def test_occupied_room_is_not_closed(web: LiveServer, laravel: FakeLaravel, redis: Redis) -> None:
    client = await Client(902).connect(web)
    try:
        await client.call("room:join", {"roomId": "ac-busy"})
        await asyncio.sleep(INACTIVITY_MS / 1000 + 6 * POLL_MS / 1000)  # activity gone, passes ran
        assert client.received("room:closed") == []
        assert ended_reports(laravel, "ac-busy") == []
        raw = await redis.get(state_key("ac-busy"))
        assert raw is not None
        assert json.loads(raw)["participantCount"] == 1
        await client.sio.emit("room:leave", {"roomId": "ac-busy"})
    finally:
        await client.close()
    # Once empty (and its activity long expired) it goes on the next pass.
    await eventually(lambda: _true(ended_reports(laravel, "ac-busy")), within=POLL_MS / 1000 + 6)


async def test_empty_room_with_recent_activity_is_not_closed(
    web: LiveServer, laravel: FakeLaravel, redis: Redis
) -> None:
    await join_and_leave(web, 903, "ac-recent")
    await asyncio.sleep(INACTIVITY_MS / 1000 / 2)  # passes ran meanwhile; the join's mark is fresh
    assert ended_reports(laravel, "ac-recent") == []
    assert await redis.exists(state_key("ac-recent")) == 1
    await eventually(lambda: _true(ended_reports(laravel, "ac-recent")), within=CLOSE_WITHIN)


async def test_each_room_is_closed_exactly_once_with_two_workers(
    stack: tuple[LiveServer, CeleryProcess, CeleryProcess, CeleryProcess], laravel: FakeLaravel,
    listener: RoomGroupListener
) -> None:
    web, one, two, _ = stack
    rooms = [f"ac-many-{i}" for i in range(12)]
    await listener.watch(*rooms)
    await asyncio.gather(join_and_leave(web, 910, *rooms[:6]), join_and_leave(web, 911, *rooms[6:]))
    await eventually(lambda: _true(all(ended_reports(laravel, r) for r in rooms)), within=CLOSE_WITHIN)
    await asyncio.sleep(4 * POLL_MS / 1000)  # later passes, on either worker, must not close them again
    assert Counter({r: len(ended_reports(laravel, r)) for r in rooms}) == Counter(dict.fromkeys(rooms, 1))
    assert Counter({r: len(listener.closed(r)) for r in rooms}) == Counter(dict.fromkeys(rooms, 1))
    for worker in (one, two):  # both workers took auto-close runs during this module
        assert "rooms.auto_close_idle_rooms" in worker.log(), worker.log_tail()


async def test_a_killed_web_process_is_swept_by_celery(
    stack: tuple[LiveServer, CeleryProcess, CeleryProcess, CeleryProcess], laravel: FakeLaravel, redis: Redis
) -> None:
    """No web process sweeps here (web_env): the killed one's socket leaves its room through the
    Celery task, its records go, and the room it left empty is then auto-closed."""
    web = stack[0]
    before = {as_text(i) for i in await redis.hkeys(INSTANCES_KEY)}
    with run_server(web.env, server="uvicorn") as doomed:
        client = await Client(920).connect(doomed)
        await client.call("room:join", {"roomId": "ac-swept"})
        [instance] = {as_text(i) for i in await redis.hkeys(INSTANCES_KEY)} - before
        os.kill(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(timeout=10)
        await client.sio.eio.disconnect(abort=True)

    async def swept() -> bool:
        return (await redis.hlen(members_key("ac-swept")) == 0
                and not await redis.hexists(INSTANCES_KEY, instance)
                and not await redis.exists(user_sockets_key(920), instance_sockets_key(instance))
                and await RoomRepository(redis).get_user_room(920) is None)

    await eventually(swept, within=10)
    assert not await redis.sismember(RECORDED_INSTANCES_KEY, instance)
    await eventually(lambda: _true(ended_reports(laravel, "ac-swept")), within=CLOSE_WITHIN)


async def _true(value: Any) -> bool:
    return bool(value)
