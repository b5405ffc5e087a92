"""Socket layer benchmark: N concurrent Socket.IO sockets against the real server.

Starts a real redis-server, the media service (`manage.py runmedia`, one worker)
and the web process (uvicorn or daphne) on loopback, then measures:
  - connect + room:join ack latency p50/p99 and joins per second (N sockets,
    rooms of --room-size members, --concurrency connects in flight);
  - server memory per idle socket (RSS growth of the web process / N);
  - a room broadcast to a --broadcast-members room: a socket joins, every member
    receives `room:userJoined`; delivery latency p50/p99 over all members and rounds.

The client is a minimal Engine.IO 4 / Socket.IO 5 client over `websockets` so that
thousands of sockets fit in one process (python-socketio's client costs far more
per socket). Bounded: every phase has a fixed count and a deadline.

    .venv/bin/python bench/socket_load.py --server uvicorn --sockets 5000
    .venv/bin/python bench/socket_load.py --server daphne --sockets 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_client import ROOT, BenchSocket, make_token, pct, run_stack  # noqa: E402
from tests.support.processes import run_redis_server  # noqa: E402


async def connect_and_join(url: str, n: int, room_size: int, concurrency: int,
                           first_user: int, room_prefix: str) -> tuple[list[BenchSocket], list[float], float]:
    sockets: list[BenchSocket] = []
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            sock = BenchSocket(url, make_token(first_user + i))
            start = time.perf_counter()
            await sock.connect()
            ack = await sock.call("room:join", {"roomId": f"{room_prefix}{i // room_size}"})
            if "rtpCapabilities" not in ack:
                raise RuntimeError(f"room:join failed: {ack}")
            latencies.append(time.perf_counter() - start)
            sockets.append(sock)

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), timeout=max(120, n / 10))
    return sockets, latencies, time.perf_counter() - started


async def broadcast_rounds(url: str, members: int, rounds: int, concurrency: int) -> list[float]:
    """Deliveries of room:userJoined to every member of a `members`-socket room."""
    delivered: list[float] = []
    sent_at: dict[int, float] = {}
    round_done = asyncio.Event()
    round_target = 0

    def on_event(name: str, payload: Any, now: float) -> None:
        if name == "room:userJoined" and payload["userId"] in sent_at:
            delivered.append(now - sent_at[payload["userId"]])
            if len(delivered) >= round_target:
                round_done.set()

    gate = asyncio.Semaphore(concurrency)
    room_members: list[BenchSocket] = []

    async def join(i: int) -> None:
        async with gate:
            sock = BenchSocket(url, make_token(500_000 + i))
            await sock.connect()
            await sock.call("room:join", {"roomId": "bench-broadcast"})
            room_members.append(sock)

    await asyncio.wait_for(asyncio.gather(*(join(i) for i in range(members))), timeout=300)
    for sock in room_members:
        sock.on_event = on_event
    try:
        for r in range(rounds):
            user = 900_000 + r
            sender = BenchSocket(url, make_token(user))
            await sender.connect()
            round_target = len(delivered) + members
            round_done.clear()
            sent_at[user] = time.perf_counter()
            await sender.call("room:join", {"roomId": "bench-broadcast"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(round_done.wait(), 30)
            await sender.send("room:leave", {"roomId": "bench-broadcast"})
            await sender.close()
    finally:
        await asyncio.gather(*(s.close() for s in room_members), return_exceptions=True)
    expected = members * rounds
    if len(delivered) < expected:
        print(f"  WARNING: {expected - len(delivered)} of {expected} broadcast deliveries missing")
    return delivered


async def run(args: argparse.Namespace) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with run_redis_server() as redis_srv, run_stack(args.server, redis_srv.port) as stack:
        url, web, media = stack.url, stack.web, stack.media
        proc = psutil.Process(web.pid)
        media_proc = psutil.Process(media.pid)
        redis_proc = psutil.Process(redis_srv.proc.pid)
        # Warm up: first join creates the room's router; imports get loaded.
        warm, _, _ = await connect_and_join(url, 20, 20, 20, 1_000_000, "bench-warm-")
        await asyncio.gather(*(s.close() for s in warm))
        await asyncio.sleep(1)
        rss_before = proc.memory_info().rss
        cpu_before = [sum(p.cpu_times()[:2]) for p in (proc, media_proc, redis_proc)]
        sockets, lat, elapsed = await connect_and_join(
            url, args.sockets, args.room_size, args.concurrency, 1, "bench-room-")
        cpu_ms = [(sum(p.cpu_times()[:2]) - before) * 1000 / args.sockets
                  for p, before in zip((proc, media_proc, redis_proc), cpu_before, strict=True)]
        await asyncio.sleep(2)
        rss_after = proc.memory_info().rss
        print(f"server={args.server} sockets={args.sockets} room_size={args.room_size} "
              f"concurrency={args.concurrency}")
        print(f"  connect+room:join ack latency: p50={pct(lat, 0.5) * 1000:.1f} ms "
              f"p99={pct(lat, 0.99) * 1000:.1f} ms (mean {statistics.mean(lat) * 1000:.1f} ms)")
        print(f"  joins per second: {args.sockets / elapsed:.0f} ({elapsed:.1f} s for {args.sockets}; "
              f"bench client, server and Redis share this machine's cores)")
        print(f"  server CPU per connect+join: web {cpu_ms[0]:.2f} ms, media {cpu_ms[1]:.2f} ms, "
              f"redis {cpu_ms[2]:.2f} ms (includes fanning room:userJoined out to the room)")
        per_socket_kib = (rss_after - rss_before) / args.sockets / 1024
        print(f"  web process memory per idle socket: {per_socket_kib:.1f} KiB "
              f"(RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB)")
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
        await asyncio.sleep(2)
        deliveries = await broadcast_rounds(url, args.broadcast_members, args.rounds, args.concurrency)
        print(f"  broadcast to a {args.broadcast_members}-member room ({args.rounds} rounds, "
              f"{len(deliveries)} deliveries): p50={pct(deliveries, 0.5) * 1000:.1f} ms "
              f"p99={pct(deliveries, 0.99) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--room-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--broadcast-members", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
