"""The auto-close pass and its lock against a real redis-server and a real (fake) Laravel."""

from __future__ import annotations

import asyncio

from apps.media.node_registry import NodeRegistry, room_node_key
from apps.rooms.auto_close import auto_close_pass
from apps.rooms.keys import AUTO_CLOSE_LOCK_KEY, activity_key, member_users_key, members_key, state_key
from apps.rooms.tests.conftest import Harness
from apps.rooms.tests.fakes import FakeSocket
from apps.users.keys import user_room_key
from flylive.redis_lock import RedisLock


async def open_room(h: Harness, room_id: str, *, members: int = 0, activity: bool = False) -> None:
    """A room as clients leave it: joined by `members` + 1 sockets, then left by one."""
    sockets = [FakeSocket.of(f"{room_id}-{i}", 100 + i) for i in range(members + 1)]
    for socket in sockets:
        await h.service.join(socket, room_id, 15)
    await h.service.leave(sockets[-1], room_id)
    if not activity:
        await h.redis.delete(activity_key(room_id))  # as after ROOM_INACTIVITY_TIMEOUT_MS


async def test_idle_empty_room_is_closed_and_the_rest_are_kept(h: Harness) -> None:
    await open_room(h, "idle")
    await open_room(h, "occupied", members=1)
    await open_room(h, "recent", activity=True)
    report = await auto_close_pass(h.service)
    assert report.ran
    assert report.closed == ("idle",)
    assert report.rooms_seen == 3
    [closed] = h.emits.events("room:closed")
    assert closed.payload["roomId"] == "idle"
    assert closed.payload["reason"] == "inactivity"
    assert h.media_released == [("idle", "inactivity")]
    ended = (await h.statuses("idle"))[-1]
    assert (ended["is_live"], ended["participant_count"]) == (False, 0)
    assert ended["ended_at"].endswith("Z")
    assert await h.redis.exists(state_key("idle"), members_key("idle"), member_users_key("idle")) == 0
    assert await h.redis.exists(state_key("occupied"), state_key("recent")) == 2
    assert sorted(await h.service.repo.active_room_ids()) == ["occupied", "recent"]
    assert not await h.redis.exists(AUTO_CLOSE_LOCK_KEY)  # released


async def test_overlapping_passes_are_prevented_by_the_lock(h: Harness) -> None:
    await open_room(h, "idle")
    await h.service.drain()
    h.laravel.clear()
    h.laravel.respond("/api/v1/internal/rooms/idle/status", delay_seconds=0.5)  # a slow pass
    first = asyncio.create_task(auto_close_pass(h.service))
    await h.laravel.wait_for("/api/v1/internal/rooms/idle/status")  # inside its close, holding the lock
    second = await auto_close_pass(h.service)
    assert not second.ran
    assert (await first).closed == ("idle",)
    assert not await h.redis.exists(AUTO_CLOSE_LOCK_KEY)
    assert (await auto_close_pass(h.service)).ran  # free again


async def test_a_pass_keeps_a_long_lived_rooms_records(h: Harness) -> None:
    await open_room(h, "old", members=1)
    records = (state_key("old"), members_key("old"), member_users_key("old"), user_room_key(100))
    for key in records:
        await h.redis.expire(key, 60)  # as a day after the last join
    report = await auto_close_pass(h.service)
    assert report.kept_alive == 1
    for key in records:
        assert await h.redis.ttl(key) > 86000, key


async def test_a_lock_is_released_and_extended_only_by_its_holder(h: Harness) -> None:
    mine = RedisLock(h.redis, "job:lock", ttl_ms=5000)
    theirs = RedisLock(h.redis, "job:lock", ttl_ms=5000)
    assert await mine.acquire()
    assert not await theirs.acquire()
    assert not await theirs.release()
    assert not await theirs.extend()
    assert await mine.extend()
    assert await mine.release()
    assert await theirs.acquire()


async def test_a_dead_holders_lock_frees_itself(h: Harness) -> None:
    assert await RedisLock(h.redis, "job:lock", ttl_ms=100).acquire()
    await asyncio.sleep(0.2)
    assert await RedisLock(h.redis, "job:lock", ttl_ms=100).acquire()


async def test_a_pass_keeps_a_long_lived_rooms_media_node(h: Harness) -> None:
    await open_room(h, "old", members=1)
    await open_room(h, "idle")
    await h.redis.set(room_node_key("old"), "node-a", ex=60)  # a day after its last media request
    registry = NodeRegistry(h.redis)
    report = await auto_close_pass(h.service, refresh_media=registry.keep_rooms_placed)
    assert report.closed == ("idle",)
    assert await h.redis.ttl(room_node_key("old")) > 86000
    assert await h.redis.get(room_node_key("old")) == b"node-a"
