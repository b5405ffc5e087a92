"""Redis Sentinel: the whole server (web, Celery worker and beat) on a primary, a replica and
three Sentinels (real redis-server processes), configured only by REDIS_SENTINEL_NODES and
REDIS_SENTINEL_MASTER (REDIS_HOST/REDIS_PORT point at a closed port). The primary is SIGKILLed
mid-room:

- sockets connected before stay connected; their events fail meanwhile with the contract's errors;
- within seconds of the failover a new client connects and joins, and sees the members and the
  seat taken before (replicated to the promoted replica);
- sockets connected before get room broadcasts again (the channel layer found the new primary)
  and their own events work again;
- a Celery beat task runs again: an invite made after the failover expires through beat, the
  worker and the channel layer, and the room is told;
- the media node (runmedia) keeps its registry entry fresh and answers media requests again."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from apps.media.node_registry import MEDIA_NODES_KEY
from apps.media.tests.media_node_process import MediaNodeProcess, media_env, run_media_node
from apps.realtime.tests.test_redis_restart import within
from tests.support.celery_procs import CeleryProcess, run_celery_beat, run_celery_worker
from tests.support.fake_laravel import FakeLaravel
from tests.support.sentinel import SentinelGroup, run_sentinel_group
from tests.support.server import LiveServer, run_server, server_env
from tests.support.sio_client import RecordingClient

ROOM = "sentinel-1"
OWNER, MEMBER, NEWCOMER = 9201, 9202, 9203
RECOVERY_SECONDS = 5.0
INVITE_TTL_MS = 1000
OK = {"success": True}
FAILED_JOIN = {"error": "Internal server error"}
FAILED_SEAT = {"success": False, "error": "Internal server error"}


Stack = tuple[SentinelGroup, LiveServer, CeleryProcess, MediaNodeProcess]


@pytest.fixture(scope="module")
def stack(laravel_port: int, mediasoup_worker_bin: str) -> Iterator[Stack]:
    with run_sentinel_group(down_after_ms=1500) as group:
        env = server_env(group.primary, **group.env(), FLYLIVE_TEST_EVENTS="1",
                         LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}", LARAVEL_API_TIMEOUT_MS="1000",
                         WEB_INSTANCE_HEARTBEAT_MS="1000", WEB_INSTANCE_DEAD_AFTER_MS="10000",
                         SEAT_INVITE_TTL_MS=str(INVITE_TTL_MS), SEAT_INVITE_SWEEP_INTERVAL_MS="200",
                         MEDIASOUP_WORKER_BIN=mediasoup_worker_bin)
        # run_media_node's own start-up probe reads REDIS_HOST/REDIS_PORT: the first primary's, which
        # the media node itself ignores (Sentinel configured) and which dies with the failover.
        media = media_env({**env, "REDIS_PORT": str(group.primary.port)})
        with (run_server(env, server="uvicorn") as web, run_celery_worker(env, name="sentinel") as worker,
              run_celery_beat(env), run_media_node(media) as node):
            yield group, web, worker, node


@pytest.fixture
async def laravel(laravel_port: int) -> AsyncIterator[FakeLaravel]:
    async with FakeLaravel(port=laravel_port) as fake:
        fake.respond(f"/api/v1/internal/rooms/{ROOM}", 200, {"owner_id": OWNER})
        yield fake


def media_node_beat_ms(group: SentinelGroup, node: MediaNodeProcess) -> int:
    """When the media node last wrote its registry entry (MEDIA_NODES_KEY), read through Sentinel."""
    client = group.client()
    try:
        entry = client.hget(MEDIA_NODES_KEY, node.node_id)
    finally:
        client.close()
    return int(json.loads(str(entry))["updatedAt"]) if entry else 0


async def test_sockets_and_jobs_follow_a_sentinel_failover(stack: Stack, laravel: FakeLaravel) -> None:
    group, web, worker, node = stack
    owner, member = RecordingClient(OWNER), RecordingClient(MEMBER)
    newcomer = RecordingClient(NEWCOMER)
    try:
        for client in (owner, member):
            await client.connect(web)
            assert "rtpCapabilities" in await client.call("room:join", {"roomId": ROOM})
        assert await owner.call("seat:take", {"roomId": ROOM, "seatIndex": 0}) == OK
        assert (await owner.call("transport:create", {"roomId": ROOM, "type": "producer"}))["success"] is True
        worker.wait_for_log("seats.expire_invites")  # beat -> broker -> worker, before the failover
        group.wait_for_replication()

        old_primary = group.kill_primary()
        killed_at_ms = int(time.time() * 1000)
        # Connected still; events get the contract's errors until the Sentinels promote the replica.
        assert await member.call("room:join", {"roomId": "during-failover"}) == FAILED_JOIN
        assert await owner.call("seat:take", {"roomId": ROOM, "seatIndex": 1}) == FAILED_SEAT
        assert (await member.call("debug:echo", {"text": "up"}))["data"]["text"] == "up"
        assert owner.sio.connected
        assert member.sio.connected

        new_primary = group.wait_for_failover(old_primary)
        assert new_primary != old_primary
        back = time.monotonic()
        log_at_failover = len(worker.log())

        async def newcomer_joins() -> dict[str, object] | None:
            if not newcomer.sio.connected:
                await newcomer.connect(web)
            answer: dict[str, object] = await newcomer.call("room:join", {"roomId": ROOM})
            return answer if "rtpCapabilities" in answer else None

        joined, _ = await within(RECOVERY_SECONDS, newcomer_joins)
        assert time.monotonic() - back < RECOVERY_SECONDS
        # The room as it was before the failover: its members and the owner's seat.
        assert sorted(p["id"] for p in joined["participants"]) == [OWNER, MEMBER]
        assert {"seatIndex": 0, "userId": OWNER, "isMuted": False} in joined["seats"]

        # Sockets connected before get room broadcasts again, and their own events work again.
        assert [j["userId"] for j in await member.wait_for("room:userJoined", within=5)] == [NEWCOMER]
        await newcomer.call("debug:emit", {"target": "room", "roomId": ROOM, "event": "after:failover",
                                           "payload": {"n": 1}})
        assert await member.wait_for("after:failover", within=5) == [{"n": 1}]
        assert await member.call("user:getRoom", {"userId": MEMBER}) == {"roomId": ROOM}
        assert await owner.call("seat:take", {"roomId": ROOM, "seatIndex": 1}) == OK
        assert owner.sio.connected
        # The media node beats again and serves the room's media (its RPC channel re-subscribed).
        await within(RECOVERY_SECONDS, lambda: asyncio.to_thread(
            lambda: media_node_beat_ms(group, node) > killed_at_ms))
        created = await newcomer.call("transport:create", {"roomId": ROOM, "type": "consumer"})
        assert created["success"] is True, created
        assert member.sio.connected

        # Celery after the failover: beat's invite sweep expires a new invite and the room hears it.
        invite = {"roomId": ROOM, "userId": NEWCOMER, "seatIndex": 4}
        assert await owner.call("seat:invite", invite) == OK
        pending = await owner.wait_for("seat:invite:pending", 2, within=INVITE_TTL_MS / 1000 + 10)
        assert pending[-1] == {"seatIndex": 4, "isPending": False}
        assert "seats.expire_invites" in worker.log()[log_at_failover:]
    finally:
        for client in (owner, member, newcomer):
            await client.close()
