"""Soak: N minutes of churn through the whole server, then a check that nothing grew.

Starts a real redis-server, the media node (two workers), the web process and a
Celery worker + beat (auto-close and cleanup really run, with short intervals), then
runs --clients loops, each repeating over --rooms rooms:

    connect -> room:join -> transport:create x2 -> transport:connect x2
    -> audio:produce (every other iteration) -> audio:consume + consumer:resume of the
    room's producers -> room:leave (or not) -> disconnect

The signalling is the real one; no RTP flows (DTLS never completes), which is what
creates and tears down every server-side object without spending the cores on
media. It prints, after a warm-up and again after the churn and a settle period
(long enough for auto-close to reap the idle rooms):

    web and media RSS, asyncio task counts, Redis key count, routers per worker,
    open file descriptors

and the difference. Nothing may grow but noise.

    .venv/bin/python bench/soak.py                  # 10 minutes
    .venv/bin/python bench/soak.py --minutes 2 --clients 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.media.node_registry import MEDIA_NODES_KEY
from bench.bench_client import BenchSocket, BenchStack, make_token, run_stack
from tests.support.processes import run_redis_server

AUTO_CLOSE_MS = 3000  # both the poll interval and the inactivity timeout during the soak
FAKE_DTLS = {
    "role": "client",
    "fingerprints": [{"algorithm": "sha-256", "value": ":".join(["AB"] * 32)}],
}
OPUS_CAPABILITIES = {
    "codecs": [{"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2,
                "preferredPayloadType": 100, "parameters": {}, "rtcpFeedback": []}],
    "headerExtensions": [],
}


def opus_parameters(ssrc: int) -> dict[str, Any]:
    """What mediasoup-client sends for a microphone track (one Opus stream)."""
    return {
        "codecs": [{"mimeType": "audio/opus", "payloadType": 111, "clockRate": 48000, "channels": 2,
                    "parameters": {"minptime": 10, "useinbandfec": 1}, "rtcpFeedback": []}],
        "headerExtensions": [],
        "encodings": [{"ssrc": ssrc}],
        "rtcp": {"cname": f"soak{ssrc}", "reducedSize": True},
        "mid": "0",
    }


class Churn:
    def __init__(self, stack: BenchStack, rooms: int) -> None:
        self.stack = stack
        self.rooms = rooms
        self.steps: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._user = 0
        self._ssrc = 10_000

    def _next_user(self) -> int:
        self._user += 1
        return self._user

    async def _call(self, sock: BenchSocket, event: str, payload: dict[str, Any]) -> Any:
        ack = await sock.call(event, payload)
        ok = isinstance(ack, dict) and ack.get("success", "error" not in ack) is not False
        self.steps[event] += 1
        if not ok:
            self.errors[f"{event}: {ack.get('error') if isinstance(ack, dict) else ack}"] += 1
            return None
        return ack.get("data", ack) if isinstance(ack, dict) else ack

    async def once(self, iteration: int) -> None:
        sock = BenchSocket(self.stack.url, make_token(self._next_user()))
        room = f"soak-{random.randrange(self.rooms)}"
        try:
            await sock.connect()
            joined = await self._call(sock, "room:join", {"roomId": room})
            if joined is None:
                return
            transports = {}
            for kind in ("producer", "consumer"):
                created = await self._call(sock, "transport:create", {"roomId": room, "type": kind})
                if created is None:
                    return
                transports[kind] = created["id"]
                await self._call(sock, "transport:connect", {
                    "roomId": room, "transportId": created["id"], "dtlsParameters": FAKE_DTLS})
            if iteration % 2 == 0:
                self._ssrc += 1
                await self._call(sock, "audio:produce", {
                    "roomId": room, "transportId": transports["producer"], "kind": "audio",
                    "rtpParameters": opus_parameters(self._ssrc)})
            for producer in joined.get("existingProducers", [])[:3]:
                consumer = await self._call(sock, "audio:consume", {
                    "roomId": room, "transportId": transports["consumer"],
                    "producerId": producer["producerId"], "rtpCapabilities": OPUS_CAPABILITIES})
                if consumer is not None:
                    await self._call(sock, "consumer:resume", {"roomId": room, "consumerId": consumer["id"]})
            await asyncio.sleep(random.uniform(0.0, 0.5))
            if iteration % 3:
                await sock.send("room:leave", {"roomId": room})
                self.steps["room:leave"] += 1
        except Exception as exc:  # counted, and the loop goes on: a soak reports, it does not stop
            self.errors[f"exception: {type(exc).__name__}: {str(exc)[:80]}"] += 1
        finally:
            with contextlib.suppress(Exception):
                await sock.close()
            self.steps["disconnect"] += 1

    async def run(self, clients: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds

        async def loop() -> None:
            iteration = 0
            while time.monotonic() < deadline:
                await self.once(iteration)
                iteration += 1

        await asyncio.gather(*(loop() for _ in range(clients)))


def _worker_processes(media: psutil.Process) -> list[psutil.Process]:
    return [p for p in media.children(recursive=True) if "mediasoup-worker" in p.name()]


def _prometheus_value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


def snapshot(stack: BenchStack, redis_port: int) -> dict[str, Any]:
    web = psutil.Process(stack.web.pid)
    media = psutil.Process(stack.media.pid)
    workers = _worker_processes(media)
    client = redis.Redis(port=redis_port, db=3, decode_responses=True)
    nodes = [json.loads(v) for v in client.hgetall(MEDIA_NODES_KEY).values()]
    with urllib.request.urlopen(stack.http + "/metrics/prometheus", timeout=10) as reply:
        prometheus = reply.read().decode()
    return {
        "web RSS MiB": web.memory_info().rss / 2**20,
        "media RSS MiB": media.memory_info().rss / 2**20,
        "workers RSS MiB": sum(w.memory_info().rss for w in workers) / 2**20,
        "web asyncio tasks": _prometheus_value(prometheus, "flylive_event_loop_tasks"),
        "media asyncio tasks": sum(int(n.get("extra", {}).get("tasks", 0)) for n in nodes) if nodes else None,
        "redis keys": client.dbsize(),
        "routers per worker": sorted(int(w["routerCount"]) for n in nodes
                                     for w in n.get("extra", {}).get("workers", [])),
        "web open fds": web.num_fds(),
        "media open fds": media.num_fds() + sum(w.num_fds() for w in workers),
    }


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return "n/a" if value is None else str(value)


def report(start: dict[str, Any], end: dict[str, Any]) -> None:
    print(f"  {'':22} {'start':>14} {'end':>14} {'change':>10}")
    for key in start:
        a, b = start[key], end[key]
        change = ""
        if isinstance(a, int | float) and isinstance(b, int | float):
            change = f"{b - a:+.1f}" if isinstance(a, float) or isinstance(b, float) else f"{b - a:+d}"
        print(f"  {key:22} {_show(a):>14} {_show(b):>14} {change:>10}")


async def settle(redis_port: int, seconds: float) -> None:
    """Wait until the key count stops falling (auto-close reaped the idle rooms), bounded."""
    client = redis.Redis(port=redis_port, db=3)
    deadline = time.monotonic() + seconds
    last, stable_since = client.dbsize(), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        now = client.dbsize()
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 3 * AUTO_CLOSE_MS / 1000:
            return


async def run(args: argparse.Namespace) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = {"ROOM_AUTO_CLOSE_POLL_INTERVAL_MS": str(AUTO_CLOSE_MS),
           "ROOM_INACTIVITY_TIMEOUT_MS": str(AUTO_CLOSE_MS)}
    with run_redis_server() as redis_srv, run_stack(args.server, redis_srv.port, media_workers=2,
                                                     celery=True, extra_env=env) as stack:
        churn = Churn(stack, args.rooms)
        print(f"soak: {args.clients} clients over {args.rooms} rooms, warm-up {args.warmup} s")
        await churn.run(args.clients, args.warmup)
        await settle(redis_srv.port, args.settle)
        start = snapshot(stack, redis_srv.port)
        started = time.monotonic()
        print(f"churning for {args.minutes} min ...", flush=True)
        await churn.run(args.clients, args.minutes * 60)
        churned = time.monotonic() - started
        await settle(redis_srv.port, args.settle)
        end = snapshot(stack, redis_srv.port)
        total = sum(churn.steps.values())
        print(f"  {churn.steps['disconnect']} sessions, {total} client steps in {churned:.0f} s "
              f"({total / churned:.0f} steps/s)")
        for step, count in sorted(churn.steps.items()):
            print(f"    {step:20} {count}")
        print(f"  errors: {sum(churn.errors.values())}")
        for error, count in churn.errors.most_common(10):
            print(f"    {count:6}  {error}")
        report(start, end)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=20, help="concurrent churn loops")
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=30.0,
                        help="seconds of churn before the first snapshot")
    parser.add_argument("--settle", type=float, default=60.0, help="max seconds to wait for auto-close")
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
