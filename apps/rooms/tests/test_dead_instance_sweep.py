"""The dead web instance sweep against real Redis: a dead instance's sockets leave their rooms
the way a disconnect does (production disconnect hooks, RoomService with a recorded emit),
live instances are untouched, and racing sweepers clean up once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from apps.integrations.laravel_client import LaravelClient
from apps.realtime.dead_instance_sweep import DeadInstanceSweeper, redis_now_ms
from apps.realtime.emit import Room
from apps.realtime.event_registry import SocketSession
from apps.realtime.instance_keys import (
    INSTANCES_KEY,
    RECORDED_INSTANCES_KEY,
    instance_rooms_key,
    instance_sockets_key,
    instance_sweep_claim_key,
)
from apps.realtime.loop_services import RealtimeServices
from apps.realtime.socket_registry import SocketRegistry
from apps.realtime.web_instance import WebInstance
from apps.rooms.keys import members_key, state_key
from apps.rooms.repository import RoomRepository
from apps.rooms.service import RoomService, forget_room_service, use_room_service
from apps.rooms.tests.conftest import seat
from apps.rooms.tests.fakes import EmitRecorder, FakeSocket
from apps.rooms.tests.media_double import FIXED_RTP_CAPABILITIES
from apps.seats.keys import seats_key
from apps.users.keys import user_sockets_key
from flylive.config import get_config
from tests.support.fake_laravel import FakeLaravel

KEY = "internal-key-internal-key-internal-key-01"
DEAD, LIVE = "dead-host:1:aa", "live-host:2:bb"
DEAD_AFTER_MS = 30_000


@dataclass
class World:
    redis: Redis
    service: RoomService
    registry: SocketRegistry
    emits: EmitRecorder
    released: list[tuple[str, str]] = field(default_factory=list)  # (sid, room) the leave hook saw

    def sweeper(self) -> DeadInstanceSweeper:
        # hooks=None: the production DISCONNECT_HOOKS (rooms' socket_gone on the installed service).
        return DeadInstanceSweeper(self.redis, self.registry, dead_after_ms=DEAD_AFTER_MS, own_id=LIVE)

    async def connect(self, instance_id: str, sid: str, user_id: int,
                      room_id: str | None = None) -> FakeSocket:
        """What a web process records for one socket (connect, then room:join)."""
        socket = FakeSocket.of(sid, user_id)
        socket.session.instance_id = instance_id
        await self.registry.add(socket.session.user, sid, instance_id=instance_id)
        if room_id is not None:
            await self.registry.set_room(instance_id, sid, room_id)
            await self.service.join(socket, room_id, 15)
        return socket

    async def heartbeat(self, instance_id: str, age_ms: int) -> None:
        await self.redis.hset(INSTANCES_KEY, instance_id, await redis_now_ms(self.redis) - age_ms)

    async def count(self, room_id: str) -> int:
        raw = await self.redis.get(state_key(room_id))
        assert raw is not None
        return int(json.loads(raw)["participantCount"])


@pytest.fixture
async def world(redis: Redis) -> AsyncIterator[World]:
    async with FakeLaravel() as laravel:
        http = LaravelClient(laravel.url, KEY, timeout_ms=1000)
        emits = EmitRecorder()
        released: list[tuple[str, str]] = []

        async def ensure_media(room_id: str) -> dict[str, object]:
            return FIXED_RTP_CAPABILITIES

        async def group_send(room_id: str, message: dict[str, object]) -> None:
            return None

        async def release_media(session: SocketSession, room_id: str) -> None:
            released.append((session.sid, room_id))

        async def release_room_media(room_id: str, reason: str) -> None:
            return None

        service = RoomService(RoomRepository(redis), laravel=http, ensure_media=ensure_media, emit=emits,
                              group_send=group_send, release_media=release_room_media, activity_ttl_ms=30000,
                              leave_hooks=[release_media], join_hooks=[])
        use_room_service(service)
        yield World(redis, service, SocketRegistry(redis), emits, released)
        forget_room_service()
        await service.drain()
        await http.aclose()


async def populate(w: World) -> None:
    """Dead instance: users 1 and 2 in room r (2 seated), user 4 in no room. Live: user 3 in r."""
    await w.heartbeat(DEAD, DEAD_AFTER_MS + 5000)
    await w.heartbeat(LIVE, 1000)
    await w.connect(DEAD, "d1", 1, "r")
    await w.connect(DEAD, "d2", 2, "r")
    await seat(w.redis, "r", 2, 3)
    await w.connect(DEAD, "d4", 4)
    await w.connect(LIVE, "l3", 3, "r")
    w.emits.emitted.clear()
    assert await w.count("r") == 3


async def test_dead_instance_sockets_are_cleaned_up_like_a_disconnect(world: World) -> None:
    w = world
    await populate(w)
    assert await w.sweeper().sweep_once() == [DEAD]

    assert await w.count("r") == 1
    assert await w.redis.hkeys(members_key("r")) == [b"l3"]
    assert await w.redis.hgetall(seats_key("r")) == {}
    assert [e.payload for e in w.emits.to_room("r", "seat:cleared")] == [{"seatIndex": 3}]
    left = w.emits.to_room("r", "room:userLeft")
    assert sorted(e.payload["userId"] for e in left) == [1, 2]
    assert {e.target for e in left} == {Room("r", exclude_sid="d1"), Room("r", exclude_sid="d2")}
    assert sorted(w.released) == [("d1", "r"), ("d2", "r")]
    for uid in (1, 2, 4):
        assert await w.redis.exists(user_sockets_key(uid)) == 0
        assert await w.service.repo.get_user_room(uid) is None
    # Only the claim is left, expiring on its own so a late sweeper skips the instance.
    assert await w.redis.keys(f"*{DEAD}*") == [instance_sweep_claim_key(DEAD).encode()]
    assert 0 < await w.redis.pttl(instance_sweep_claim_key(DEAD)) <= DEAD_AFTER_MS
    assert await w.redis.hkeys(INSTANCES_KEY) == [LIVE.encode()]
    # The live instance's socket and records are as they were.
    assert await w.service.repo.get_user_room(3) == "r"
    assert await w.redis.smembers(user_sockets_key(3)) == {b"l3"}
    assert await w.redis.hkeys(instance_sockets_key(LIVE)) == [b"l3"]
    await w.service.drain()


async def test_live_instances_are_never_swept(world: World) -> None:
    w = world
    await populate(w)
    await w.heartbeat(DEAD, DEAD_AFTER_MS - 2000)  # late, but not past the threshold
    assert await w.sweeper().sweep_once() == []
    assert await w.count("r") == 3
    assert w.emits.emitted == []
    assert len(await w.redis.hkeys(instance_sockets_key(DEAD))) == 3


async def test_two_racing_sweepers_clean_up_once(world: World) -> None:
    w = world
    await populate(w)
    first, second = await asyncio.gather(w.sweeper().sweep_once(), w.sweeper().sweep_once())
    assert sorted(first + second) == [DEAD]
    assert len(w.emits.to_room("r", "room:userLeft")) == 2
    assert len(w.emits.to_room("r", "seat:cleared")) == 1
    assert await w.count("r") == 1
    assert await w.sweeper().sweep_once() == []  # nothing left to do


async def test_a_crashed_sweepers_claim_expires_and_another_finishes(world: World) -> None:
    w = world
    await populate(w)
    # A sweeper claimed the instance, cleaned d1, and died.
    await w.redis.set(instance_sweep_claim_key(DEAD), "crashed", px=300)
    await w.service.socket_gone(SocketSession(sid="d1", user={"id": 1}, room_id="r"))
    await w.registry.remove(1, "d1", instance_id=DEAD)
    w.emits.emitted.clear()

    assert await w.sweeper().sweep_once() == []  # still claimed
    await asyncio.sleep(0.4)
    assert await w.sweeper().sweep_once() == [DEAD]
    assert [e.payload for e in w.emits.to_room("r", "room:userLeft")] == [{"userId": 2}]
    assert await w.count("r") == 1


async def test_room_record_is_not_written_for_a_socket_already_gone(world: World) -> None:
    w = world
    await w.registry.add({"id": 7}, "s7", instance_id=LIVE)
    await w.registry.remove(7, "s7", instance_id=LIVE)
    await w.registry.set_room(LIVE, "s7", "r")  # a late join hook after the cleanup
    assert await w.redis.exists(instance_rooms_key(LIVE), instance_sockets_key(LIVE)) == 0


async def test_an_instance_swept_while_alive_takes_a_new_id_and_drops_its_sockets(redis: Redis) -> None:
    fast = {"WEB_INSTANCE_HEARTBEAT_MS": 50, "WEB_INSTANCE_DEAD_AFTER_MS": 100,
            "WEB_INSTANCE_SWEEP_INTERVAL_MS": 60_000}
    config = get_config().model_copy(update=fast)
    declared: list[str] = []
    instance = WebInstance(RealtimeServices.build(config, redis), on_declared_dead=declared.append)
    first_id = await instance.ensure_started()
    try:
        assert await redis.hexists(INSTANCES_KEY, first_id)
        await redis.hdel(INSTANCES_KEY, first_id)  # what a sweep does at its end
        for _ in range(50):
            if declared:
                break
            await asyncio.sleep(0.02)
        assert declared == [first_id]
        assert instance.id != first_id
        await asyncio.sleep(0.1)
        assert await redis.hkeys(INSTANCES_KEY) == [instance.id.encode()]
    finally:
        await instance.stop()


async def test_orphaned_records_of_an_instance_without_an_entry_are_swept(world: World) -> None:
    """Records written for an instance after its sweep removed its entry (a late connect) are
    found through `{web}:instances:recorded` and cleaned up like a dead instance's."""
    w = world
    orphan = "gone-host:3:cc"
    await w.heartbeat(LIVE, 1000)
    await w.connect(LIVE, "l3", 3, "r")
    await w.connect(orphan, "o5", 5, "r")
    assert await w.count("r") == 2
    assert await w.sweeper().sweep_once() == [orphan]
    assert await w.redis.hkeys(members_key("r")) == [b"l3"]
    assert [e.payload for e in w.emits.to_room("r", "room:userLeft")] == [{"userId": 5}]
    assert await w.redis.exists(instance_sockets_key(orphan), instance_rooms_key(orphan),
                                user_sockets_key(5)) == 0
    assert await w.service.repo.get_user_room(5) is None
    assert await w.redis.smembers(RECORDED_INSTANCES_KEY) == {LIVE.encode()}
    assert await w.sweeper().sweep_once() == []


async def test_a_gracefully_stopped_instances_entry_is_removed(world: World) -> None:
    """A stopped process ran its sockets' cleanup but leaves its heartbeat entry: once stale, it goes."""
    w = world
    stopped = "stopped-host:4:dd"
    await w.heartbeat(stopped, DEAD_AFTER_MS + 1)
    await w.heartbeat(LIVE, 0)
    assert await w.sweeper().sweep_once() == [stopped]
    assert await w.redis.hkeys(INSTANCES_KEY) == [LIVE.encode()]
    assert w.emits.emitted == []
