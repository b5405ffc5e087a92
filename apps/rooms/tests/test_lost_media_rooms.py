"""Rooms the media plane lost are closed (`worker_died`), once, from the media reports in real Redis."""

from __future__ import annotations

import time

from apps.media.node_registry import MEDIA_NODES_KEY, NodeInfo, NodeRegistry, WorkerCounts, room_node_key
from apps.media.reports import publish_rooms_lost
from apps.rooms.keys import members_key, state_key
from apps.rooms.lost_media_rooms import close_lost_media_rooms
from apps.rooms.tests.conftest import Harness
from apps.rooms.tests.fakes import FakeSocket


async def test_rooms_a_live_node_reports_lost_are_closed_once(h: Harness) -> None:
    alice = FakeSocket.of("a", 1)
    await h.service.join(alice, "lost", 15)
    await h.service.join(FakeSocket.of("b", 2), "kept", 15)
    await publish_rooms_lost(h.redis, "node-1", ["lost"])
    assert await close_lost_media_rooms(h.service) == ["lost"]
    [closed] = h.emits.events("room:closed")
    assert (closed.payload["roomId"], closed.payload["reason"]) == ("lost", "worker_died")
    assert await h.redis.exists(state_key("lost"), members_key("lost")) == 0
    assert await h.service.repo.get_user_room(1) is None
    assert await h.redis.exists(state_key("kept")) == 1
    ended = (await h.statuses("lost"))[-1]
    assert (ended["is_live"], ended["participant_count"]) == (False, 0)
    assert "ended_at" in ended
    assert await close_lost_media_rooms(h.service) == []  # taken once
    assert len(h.emits.events("room:closed")) == 1


async def test_the_rooms_of_a_node_whose_heartbeat_stopped_are_closed(h: Harness) -> None:
    registry = NodeRegistry(h.redis)
    silent_since = int(time.time() * 1000) - 60_000
    await registry.heartbeat("dead-node", NodeInfo(WorkerCounts(1, 1), updatedAt=silent_since, capacity=10))
    for room_id in ("r1", "r2"):
        await h.service.join(FakeSocket.of(f"s-{room_id}", 7), room_id, 15)
        await registry.place_room(room_id, "dead-node", replacing_dead=None)
    assert sorted(await close_lost_media_rooms(h.service)) == ["r1", "r2"]
    assert sorted(e.payload["roomId"] for e in h.emits.events("room:closed")) == ["r1", "r2"]
    assert await h.redis.exists(state_key("r1"), state_key("r2"), room_node_key("r1")) == 0
    assert await h.redis.hexists(MEDIA_NODES_KEY, "dead-node") == 0
    assert await close_lost_media_rooms(h.service) == []
