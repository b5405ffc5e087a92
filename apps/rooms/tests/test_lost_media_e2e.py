"""A media node killed with SIGKILL, end to end: two real media nodes (runmedia, real mediasoup
workers), uvicorn, a real Celery worker and beat, real WebRTC peers (pymediasoup + aiortc) and the
fake Laravel. The killed node's rooms are closed for their clients (`room:closed`, worker_died)
within seconds by the rooms app's lost-rooms task, and a new room plays audio on the other node."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from apps.media.node_registry import room_node_key
from apps.media.tests.media_node_process import MediaNodeProcess, media_env, run_media_node
from apps.media.tests.webrtc_peers import RoomPeer, ToneTrack, wait_until
from apps.rooms.keys import members_key, state_key
from tests.support.celery_procs import run_celery_beat, run_celery_worker
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import RedisServer
from tests.support.server import LiveServer, run_server, server_env

pytestmark = pytest.mark.slow

DB = 15
# Media heartbeats every 2 s: dead after 5 s of silence, looked for every 300 ms.
FAST_LOSS = {"MEDIA_NODE_DEAD_AFTER_MS": "5000", "MEDIA_LOST_ROOMS_POLL_INTERVAL_MS": "300"}


@dataclass
class TwoNodeStack:
    web: LiveServer
    nodes: dict[str, MediaNodeProcess]

    def logs(self) -> str:
        parts = [f"--- media {n} ---\n{p.log_tail()}" for n, p in self.nodes.items()]
        return "\n".join([*parts, f"--- web ---\n{self.web.log_tail()}"])



@pytest.fixture(scope="module")
async def laravel(laravel_port: int) -> AsyncIterator[FakeLaravel]:
    async with FakeLaravel(port=laravel_port) as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, laravel_port: int) -> Iterator[TwoNodeStack]:
    sync_redis.Redis(host=redis_server.host, port=redis_server.port, db=DB).flushdb()
    env = server_env(redis_server, REDIS_DB=str(DB), LOG_LEVEL="warn", LARAVEL_API_TIMEOUT_MS="2000",
                     LARAVEL_API_URL=f"http://127.0.0.1:{laravel_port}", **FAST_LOSS)
    with contextlib.ExitStack() as processes:
        # Each node its own port block (media_env picks one per call).
        nodes = {name: processes.enter_context(run_media_node(media_env(env), node_id=name))
                 for name in ("node-a", "node-b")}
        web = processes.enter_context(run_server(media_env(env), server="uvicorn"))
        processes.enter_context(run_celery_worker(env, name="lost-media"))
        processes.enter_context(run_celery_beat(env))
        yield TwoNodeStack(web, nodes)


@pytest.fixture
async def peers() -> AsyncIterator[list[RoomPeer]]:
    made: list[RoomPeer] = []
    yield made
    await asyncio.gather(*(peer.close() for peer in made), return_exceptions=True)


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_server.url(db=DB), decode_responses=True)
    yield client
    await client.aclose()


async def speaker_and_listener(stack: TwoNodeStack, peers: list[RoomPeer], room_id: str,
                               first_user: int) -> tuple[RoomPeer, RoomPeer, str]:
    speaker = RoomPeer(stack.web.url, first_user, room_id)
    listener = RoomPeer(stack.web.url, first_user + 1, room_id)
    peers.extend((speaker, listener))
    speaker.track = ToneTrack(440.0)
    await speaker.connect_and_join()
    producer_id = await speaker.speak()
    await listener.connect_and_join()
    await listener.listen()
    await listener.consume(producer_id)
    return speaker, listener, producer_id


def ended(laravel: FakeLaravel, room_id: str) -> list[Any]:
    requests = laravel.requests_to(f"/api/v1/internal/rooms/{room_id}/status")
    return [r.json for r in requests if r.json and r.json.get("is_live") is False and "ended_at" in r.json]


async def test_a_killed_media_nodes_rooms_close_and_new_rooms_play_on_the_other(
    stack: TwoNodeStack, peers: list[RoomPeer], redis: Redis, laravel: FakeLaravel
) -> None:
    speaker, listener, producer_id = await speaker_and_listener(stack, peers, "lost-node-room", 501)
    assert await wait_until(lambda: listener.received[producer_id].loud_frames >= 25, 15), stack.logs()
    doomed = await redis.get(room_node_key("lost-node-room"))
    assert doomed in stack.nodes, doomed
    survivor = next(name for name in stack.nodes if name != doomed)

    proc = stack.nodes[doomed].proc
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    # Dead after 5 s without a heartbeat (sent every 2 s), found by the next 300 ms pass.
    closed = await wait_until(lambda: all(p.events_named("room:closed") for p in (speaker, listener)), 15)
    assert closed, stack.logs()
    for peer in (speaker, listener):
        [event] = peer.events_named("room:closed")
        assert (event["roomId"], event["reason"]) == ("lost-node-room", "worker_died")
        assert isinstance(event["timestamp"], int)
    assert await wait_until(lambda: bool(ended(laravel, "lost-node-room")), 5)
    assert await redis.exists(state_key("lost-node-room"), members_key("lost-node-room"),
                              room_node_key("lost-node-room")) == 0

    # A new room is placed on the node that is left, and its listener hears the speaker.
    _, fresh_listener, fresh_producer = await speaker_and_listener(stack, peers, "after-loss-room", 601)
    assert await redis.get(room_node_key("after-loss-room")) == survivor
    heard = await wait_until(lambda: fresh_listener.received[fresh_producer].loud_frames >= 50, 15)
    assert heard, (fresh_listener.received[fresh_producer], stack.logs())
