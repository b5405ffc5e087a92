"""A room across two media node processes, end to end: real WebRTC peers (pymediasoup + aiortc) ->
uvicorn -> channel layer -> two `runmedia` processes on their own loopback addresses (127.0.0.2 and
127.0.0.3, media and pipes), a room whose per-node listener cap is 2."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis as sync_redis

from apps.media.tests.live_stack import MEDIA_E2E_DB
from apps.media.tests.media_node_process import MediaNodeProcess, media_env, run_media_node
from apps.media.tests.webrtc_peers import RoomPeer, ToneTrack, wait_until
from tests.support.processes import RedisServer
from tests.support.server import LiveServer, run_server, server_env

pytestmark = pytest.mark.slow
ROOM = "span-e2e"
NODE_DEAD_AFTER_MS = 5000


@dataclass
class TwoNodeStack:
    web: LiveServer
    home: MediaNodeProcess  # 127.0.0.2: takes the room (the first id at equal load)
    other: MediaNodeProcess  # 127.0.0.3

    def logs(self) -> str:
        return (f"--- home ---\n{self.home.log_tail()}\n--- other ---\n{self.other.log_tail()}\n"
                f"--- web ---\n{self.web.log_tail()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.web.url}/metrics/prometheus", timeout=5) as response:
            return str(response.read().decode())


@pytest.fixture
def stack(redis_server: RedisServer) -> Iterator[TwoNodeStack]:
    sync_redis.Redis(host=redis_server.host, port=redis_server.port, db=MEDIA_E2E_DB).flushdb()
    env = server_env(redis_server, REDIS_DB=str(MEDIA_E2E_DB), LOG_LEVEL="warn",
                     MAX_LISTENERS_PER_NODE="2", MEDIA_NODE_PIPE_ANNOUNCED_IP="127.0.0.1",
                     MEDIA_NODE_DEAD_AFTER_MS=str(NODE_DEAD_AFTER_MS))
    suffix = f"{random.randrange(1 << 30):x}"
    with contextlib.ExitStack() as processes:
        nodes = [
            processes.enter_context(run_media_node(
                media_env(env, MEDIASOUP_LISTEN_IP=ip, MEDIA_NODE_PIPE_ANNOUNCED_IP=ip),
                node_id=f"{name}-{suffix}"))
            for name, ip in (("span-a", "127.0.0.2"), ("span-b", "127.0.0.3"))
        ]
        web = processes.enter_context(run_server(env, server="uvicorn"))
        yield TwoNodeStack(web, nodes[0], nodes[1])


def _gauge(metrics: str, name: str, node_id: str) -> float | None:
    found = re.search(rf'^{name}{{node="{re.escape(node_id)}"}} (\S+)$', metrics, re.MULTILINE)
    return None if found is None else float(found.group(1))


async def _listen(stack: TwoNodeStack, peers: list[RoomPeer], user_id: int, producer_id: str) -> RoomPeer:
    peer = RoomPeer(stack.web.url, user_id, ROOM)
    peers.append(peer)
    await peer.connect_and_join()
    await peer.listen()
    await peer.consume(producer_id)
    return peer


async def test_listeners_beyond_the_cap_hear_from_the_second_node_which_dies_alone(
    stack: TwoNodeStack,
) -> None:
    peers: list[RoomPeer] = []
    try:
        speaker = RoomPeer(stack.web.url, 1, ROOM)
        peers.append(speaker)
        speaker.track = ToneTrack(440.0)
        await speaker.connect_and_join()
        producer_id = await speaker.speak()
        listeners = [await _listen(stack, peers, uid, producer_id) for uid in (2, 3, 4, 5)]

        # Two listeners on each node; everyone decodes the tone.
        heard = await wait_until(
            lambda: all(p.received[producer_id].loud_frames >= 50 for p in listeners), 20)
        assert heard, ([p.received[producer_id] for p in listeners], stack.logs())
        home, other = stack.home.node_id, stack.other.node_id

        def placed() -> bool:
            figures = stack.metrics()
            return (_gauge(figures, "flylive_media_node_listeners", home) == 2
                    and _gauge(figures, "flylive_media_node_listeners", other) == 2
                    and _gauge(figures, "flylive_media_node_pipes", home) == 1
                    and _gauge(figures, "flylive_media_node_spans", other) == 1
                    and _gauge(figures, "flylive_media_node_remote_listeners", home) == 2)

        assert await wait_until(placed, 10), stack.metrics()

        # The second node dies: only its two listeners are told, the others keep hearing.
        stack.other.proc.kill()
        killed_at = time.monotonic()
        on_other, on_home = listeners[2:], listeners[:2]
        told = await wait_until(lambda: all(p.events_named("room:closed") for p in on_other),
                                NODE_DEAD_AFTER_MS / 1000 + 10)
        assert told, stack.logs()
        for peer in on_other:
            [closed] = peer.events_named("room:closed")
            assert closed == {"roomId": ROOM, "reason": "worker_died", "timestamp": closed["timestamp"]}
        print(f"listeners of the dead node told after {time.monotonic() - killed_at:.1f} s")
        assert not any(p.events_named("room:closed") for p in [speaker, *on_home])
        window = time.monotonic()
        await asyncio.sleep(2.0)
        assert all(p.received[producer_id].frames_since(window) > 40 for p in on_home), stack.logs()

        # A new listener lands on the live node and hears; so does a told listener that joins again
        # (room:join on the same socket, then a new receive transport, as after any room:closed).
        newcomer = await _listen(stack, peers, 6, producer_id)
        again = on_other[0]
        rejoin = await again.call("room:join", {"roomId": ROOM})
        assert rejoin["existingProducers"] == [{"producerId": producer_id, "userId": 1}]
        await again.listen()
        await again.consume(producer_id)
        resumed = time.monotonic()
        assert await wait_until(
            lambda: all(p.received[producer_id].frames_since(resumed) >= 50 for p in (newcomer, again)), 20
        ), stack.logs()
        assert await wait_until(
            lambda: _gauge(stack.metrics(), "flylive_media_node_listeners", home) == 4, 10), stack.metrics()
        figures = stack.metrics()
        assert _gauge(figures, "flylive_media_node_pipes", home) == 0
        assert _gauge(figures, "flylive_media_node_listeners", other) is None  # no longer a live node
    finally:
        await asyncio.gather(*(peer.close() for peer in peers))
