"""Second media node latency: how much later a listener served by a room's second media node hears.

Starts a real redis-server, a fake Laravel, two `manage.py runmedia` nodes on their own loopback
addresses (127.0.0.2 and 127.0.0.3, pipes between them, MAX_LISTENERS_PER_NODE=1) and the web
process (uvicorn), as apps/media/tests/test_room_across_nodes_e2e.py does. A speaker (pymediasoup +
aiortc) plays a tone; then --rounds rounds alternate between the nodes, each with a fresh listener:

  node 1 round: the room's home node holds none of its listeners, so the new listener stays there;
  node 2 round: a placeholder listener (a receive transport, no media) first takes the home's one
                place, so the new listener's transport is made on the other node (fed by the pipe).

Measured: the listener's `room:join` emit -> the first Opus frame it decodes from the speaker's
producer (the same client work on both nodes: connect the device, transport, consume, resume, DTLS).
Where each listener landed is what the server reports, from two sources that must agree: the address
of the ICE candidates in its `transport:create` answer (each node listens on its own address) and the
room's listener counts per node (`room.stats` on the home) before and after it. A warm-up pair (the
home's first listener, and the listener that opens the span on node 2) is printed, not counted.
Exits non-zero when a listener never hears the tone, or the two placement sources disagree.

    .venv/bin/python bench/second_node_latency.py --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import shlex
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flylive.settings.test")

import django  # noqa: E402

from apps.media.gateway import MediaRpcClient  # noqa: E402
from apps.media.rpc_contract import ROOM_STATS, RoomRequest  # noqa: E402
from apps.media.tests.live_stack import LiveStack, media_rpc  # noqa: E402
from apps.media.tests.media_node_process import MediaNodeProcess, media_env, run_media_node  # noqa: E402
from apps.media.tests.webrtc_peers import RoomPeer, ToneTrack, wait_until  # noqa: E402
from bench.bench_client import pct  # noqa: E402
from tests.support.fake_laravel import FakeLaravel  # noqa: E402
from tests.support.processes import RedisServer, run_redis_server  # noqa: E402
from tests.support.server import LiveServer, run_server, server_env  # noqa: E402

ROOM = "bench-second-node"
NODE_ADDRESSES = ("127.0.0.2", "127.0.0.3")
LISTENERS_PER_NODE = 1  # the home's cap: one placeholder is enough to send a listener to node 2
SPEAKER_ID = 1
PLACEHOLDER_IDS = 50_000  # placeholders' user ids start here; measured listeners' at 100
SETTLE_SECONDS = 10.0  # a closed listener's transport leaves the room's counts within this


class BenchError(Exception):
    """The bench cannot go on (placement not as reported, the room not settling)."""


class TimedPeer(RoomPeer):
    """A RoomPeer that notes when it emitted `room:join`, each ack's round trip and the address its
    listener transport was made on (the ICE candidates of the `transport:create` answer)."""

    def __init__(self, url: str, user_id: int) -> None:
        super().__init__(url, user_id, ROOM)
        self.join_sent_at: float | None = None
        self.ack_ms: dict[str, float] = {}
        self.listen_addresses: set[str] = set()

    async def call(self, event: str, payload: Any, wait: float = 15.0) -> dict[str, Any]:
        sent = time.monotonic()
        if event == "room:join" and self.join_sent_at is None:
            self.join_sent_at = sent
        ack = await super().call(event, payload, wait)
        self.ack_ms.setdefault(event, (time.monotonic() - sent) * 1000)
        if event == "transport:create" and payload.get("type") == "consumer" and ack.get("success"):
            self.listen_addresses = {str(c["ip"]) for c in ack["data"]["iceCandidates"]}
        return ack


@dataclass(frozen=True)
class Placement:
    """The room's listener transports per node, as its home node counts them (`room.stats`)."""

    home: int
    spans: dict[str, int]

    def listeners_on(self, node_id: str, home_id: str) -> int:
        return self.home if node_id == home_id else self.spans.get(node_id, 0)


@dataclass
class Sample:
    aimed_at: str  # the node the round meant the listener for
    node_id: str | None  # where the listener landed (None: not known, the round failed first)
    first_frame_ms: float | None = None  # None: never heard the speaker
    first_tone_ms: float | None = None
    ack_ms: dict[str, float] = field(default_factory=dict)
    error: str = ""


@dataclass
class Bench:
    web: LiveServer
    rpc: MediaRpcClient
    home_id: str
    node_of_address: dict[str, str]
    producer_id: str
    timeout: float

    @property
    def second_id(self) -> str:
        return next(n for n in self.node_of_address.values() if n != self.home_id)

    async def placement(self) -> Placement:
        stats = await self.rpc.request_room(ROOM_STATS, RoomRequest(roomId=ROOM))
        if stats is None:
            raise BenchError(f"room {ROOM} has no media node")
        return Placement(sum(s.listeners for s in stats.slots), {s.nodeId: s.listeners for s in stats.spans})

    def node_from_candidates(self, peer: TimedPeer) -> str:
        nodes = {self.node_of_address.get(address) for address in peer.listen_addresses}
        if len(nodes) != 1 or None in nodes:
            raise BenchError(f"user {peer.user_id}: ICE candidates {sorted(peer.listen_addresses)} "
                             f"name no single media node of {self.node_of_address}")
        [node] = nodes
        assert node is not None
        return node

    def node_from_counts(self, before: Placement, after: Placement) -> str:
        nodes = list(self.node_of_address.values())
        gained = [n for n in nodes
                  if after.listeners_on(n, self.home_id) - before.listeners_on(n, self.home_id) == 1]
        unchanged = [n for n in nodes
                     if after.listeners_on(n, self.home_id) == before.listeners_on(n, self.home_id)]
        if len(gained) != 1 or len(unchanged) != len(nodes) - 1:
            raise BenchError(f"room.stats does not show one more listener on one node: {before} -> {after}")
        return gained[0]

    async def settle(self) -> None:
        """Wait until the room counts no listener on any node (the last round's sockets are gone)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            now = await self.placement()
            if now.home == 0 and not any(now.spans.values()):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"listeners still counted {SETTLE_SECONDS:.0f} s after they left: {now}")
            await asyncio.sleep(0.05)

    async def round(self, user_id: int, to_second: bool) -> Sample:
        peers: list[TimedPeer] = []
        sample = Sample(aimed_at=self.second_id if to_second else self.home_id, node_id=None)
        try:
            if to_second:
                placeholder = TimedPeer(self.web.url, PLACEHOLDER_IDS + user_id)
                peers.append(placeholder)
                await placeholder.connect_and_join()
                await placeholder.listen()
                if self.node_from_candidates(placeholder) != self.home_id:
                    raise BenchError(f"the placeholder landed on {self.node_from_candidates(placeholder)}, "
                                     f"not on the home {self.home_id}")
            before = await self.placement()
            listener = TimedPeer(self.web.url, user_id)
            peers.append(listener)
            try:
                await listener.connect_and_join()
                await listener.listen()
                await listener.consume(self.producer_id)
                received = listener.received[self.producer_id]
                await wait_until(lambda: received.first_loud_at is not None, self.timeout, 0.005)
            except Exception as exc:  # recorded (the listener did not hear), the rounds go on
                sample.error = f"{type(exc).__name__}: {exc}"[:160]
            sample.node_id = self.node_from_candidates(listener) if listener.listen_addresses else None
            if sample.node_id is not None:
                by_counts = self.node_from_counts(before, await self.placement())
                if by_counts != sample.node_id:
                    raise BenchError(f"user {user_id}: ICE candidates say {sample.node_id}, "
                                     f"room.stats says {by_counts}")
            started = listener.join_sent_at
            heard = listener.received.get(self.producer_id)
            if started is not None and heard is not None and heard.first_loud_at is not None:
                assert heard.first_frame_at is not None
                sample.first_frame_ms = (heard.first_frame_at - started) * 1000
                sample.first_tone_ms = (heard.first_loud_at - started) * 1000
            elif not sample.error:
                sample.error = f"no tone decoded within {self.timeout:g} s"
            sample.ack_ms = dict(listener.ack_ms)
            return sample
        finally:
            await asyncio.gather(*(peer.close() for peer in peers))
            await self.settle()


def _ms(value: float) -> str:
    return f"{value:7.1f}"


def report(bench: Bench, samples: list[Sample], warmup: list[Sample]) -> bool:
    """Print the table; False when some listener never heard the tone or a node got no listener."""
    nodes = [bench.home_id, *(n for n in bench.node_of_address.values() if n != bench.home_id)]
    label = {node: f"node {i + 1}{' (home)' if i == 0 else ''}" for i, node in enumerate(nodes)}
    for sample in warmup:
        where = label.get(sample.node_id or "", "no node")
        heard = f"{sample.first_frame_ms:.1f} ms" if sample.first_frame_ms is not None else sample.error
        opened = " (opened the span)" if sample.node_id not in (None, bench.home_id) else ""
        print(f"warm-up, not counted: {where}{opened}: {heard}")
    print("room:join emitted -> first audio frame decoded (ms):")
    print(f"  {'':14} {'count':>5} {'p50':>7} {'p95':>7} {'max':>7}   first tone frame p50")
    medians: dict[str, float] = {}
    for node in nodes:
        times = [s.first_frame_ms for s in samples if s.node_id == node and s.first_frame_ms is not None]
        tones = [s.first_tone_ms for s in samples if s.node_id == node and s.first_tone_ms is not None]
        if not times:
            print(f"  {label[node]:14} {0:5d}")
            continue
        medians[node] = statistics.median(times)
        print(f"  {label[node]:14} {len(times):5d} {_ms(medians[node])} {_ms(pct(times, 0.95))} "
              f"{_ms(max(times))}   {_ms(statistics.median(tones))}")
    if len(medians) == len(nodes):
        print(f"  median difference (node 2 - node 1): {medians[nodes[1]] - medians[nodes[0]]:+.1f} ms")
    else:
        print("  median difference: not computed (a node had no listener that heard the tone)")
    events = ("room:join", "transport:create", "audio:consume", "transport:connect", "consumer:resume")
    print("  acks, p50 ms:   " + "  ".join(f"{e.split(':')[1]:>8}" for e in events))
    for node in nodes:
        acks = [s.ack_ms for s in samples if s.node_id == node]
        cells = []
        for event in events:
            values = [a[event] for a in acks if event in a]
            cells.append(f"{statistics.median(values):8.1f}" if values else f"{'-':>8}")
        print(f"  {label[node]:14}  " + "  ".join(cells))
    placed = [s for s in samples + warmup if s.node_id is not None]
    elsewhere = sum(1 for s in placed if s.node_id != s.aimed_at)
    print(f"  placement of {len(placed)} listeners (warm-up included) read from their ICE candidates and "
          f"room.stats, which agreed; {elsewhere} landed on another node than the round aimed at")
    failed = [s for s in samples + warmup if s.first_frame_ms is None]
    for sample in failed:
        print(f"  NOT HEARD on {label.get(sample.node_id or '', 'an unknown node')}: {sample.error}")
    return not failed and len(medians) == len(nodes)


TwoNodes = tuple[LiveServer, list[MediaNodeProcess], dict[str, str]]  # web, nodes, their environment


@contextlib.contextmanager
def two_node_stack(redis: RedisServer, laravel: FakeLaravel) -> Iterator[TwoNodes]:
    """The web process and two media nodes on their own loopback addresses (the e2e test's stack)."""
    env = server_env(redis, LOG_LEVEL="warn", LARAVEL_API_URL=laravel.url,
                     MAX_LISTENERS_PER_NODE=str(LISTENERS_PER_NODE), MEDIA_NODE_PIPE_ANNOUNCED_IP="127.0.0.1")
    suffix = f"{random.randrange(1 << 30):x}"
    with contextlib.ExitStack() as processes:
        nodes = [
            processes.enter_context(run_media_node(
                media_env(env, MEDIASOUP_LISTEN_IP=ip, MEDIA_NODE_PIPE_ANNOUNCED_IP=ip),
                node_id=f"bench-node{i + 1}-{suffix}"))
            for i, ip in enumerate(NODE_ADDRESSES)
        ]
        web = processes.enter_context(run_server(env, server="uvicorn"))
        yield web, nodes, env


async def run(args: argparse.Namespace, command: str) -> int:
    django.setup()  # the RPC client's node registry reads the config the test settings complete
    logging.getLogger("aioice").setLevel(logging.WARNING)  # the settings' INFO: a line per ICE check
    async with FakeLaravel() as laravel:
        with run_redis_server() as redis, two_node_stack(redis, laravel) as (web, nodes, env):
            node_of_address = {ip: node.node_id for ip, node in zip(NODE_ADDRESSES, nodes, strict=True)}
            stack = LiveStack(web, nodes[0], env, redis)  # media_rpc reads only its Redis
            async with media_rpc(stack) as rpc:
                speaker = RoomPeer(web.url, SPEAKER_ID, ROOM)
                speaker.track = ToneTrack(440.0)
                try:
                    await speaker.connect_and_join()
                    producer_id = await speaker.speak()
                    assert rpc.registry is not None
                    home_id, _ = await rpc.registry.room_node_and_live_nodes(ROOM, int(time.time() * 1000))
                    if home_id is None or home_id not in node_of_address.values():
                        raise BenchError(f"the room's media node is {home_id}, not one of {nodes}")
                    bench = Bench(web, rpc, home_id, node_of_address, producer_id, args.timeout)
                    print(f"second node latency: {args.rounds} rounds alternating over 2 media nodes "
                          f"({LISTENERS_PER_NODE} listener per node before the next), 1 worker each, "
                          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
                    for i, node in enumerate((home_id, bench.second_id)):
                        address = next(a for a, n in node_of_address.items() if n == node)
                        print(f"  node {i + 1}: {node} on {address}{' (the room home)' if i == 0 else ''}")
                    warmup = [await bench.round(100, False), await bench.round(101, True)]
                    samples = []
                    for i in range(args.rounds):
                        sample = await bench.round(102 + i, i % 2 == 1)
                        samples.append(sample)
                        if sample.first_frame_ms is None:
                            print(f"  round {i + 1}: not heard ({sample.error})", flush=True)
                    ok = report(bench, samples, warmup)
                finally:
                    await speaker.close()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"command: {command}")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20,
                        help="measured listeners, alternating nodes 1 and 2")
    parser.add_argument("--timeout", type=float, default=15.0,
                        help="seconds a listener has to hear the tone")
    args = parser.parse_args()
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    try:
        sys.exit(asyncio.run(run(args, command)))
    except BenchError as exc:
        print(f"second node latency: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
