"""Gifts end to end: `gift:send` from many sockets at a steady rate -> the Redis buffer -> the
Celery flush (every GIFT_BUFFER_FLUSH_INTERVAL_MS) -> Laravel's batch endpoint (a real HTTP
stand-in that accepts everything). Prints gifts accepted by Laravel per second, send-to-accept
latency, and the buffer size (`{gifts}:pending`) over time: flat means the flush keeps up.

    .venv/bin/python bench/gifts.py --rate 200 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.asyncio import Redis

from apps.gifts.keys import PENDING_KEY
from apps.gifts.tests.gift_laravel import GiftLaravel
from bench.bench_client import BenchSocket, make_token, pct, run_stack
from tests.support.processes import run_redis_server

GIFTS_PER_USER = 30  # the gift rate limit per user per 60 s
ROOM_SIZE = 10


async def bench(args: argparse.Namespace) -> None:
    total = int(args.rate * args.seconds)
    users = math.ceil(total / GIFTS_PER_USER)
    async with GiftLaravel() as laravel:
        env = {"LARAVEL_API_URL": laravel.url, "LARAVEL_API_TIMEOUT_MS": "5000",
               "GIFT_BUFFER_FLUSH_INTERVAL_MS": str(args.flush_ms)}
        with run_redis_server() as redis_srv, run_stack("uvicorn", redis_srv.port, celery=True,
                                                         extra_env=env) as stack:
            redis: Redis = Redis(port=redis_srv.port, db=3)
            print(f"connecting and joining {users} sockets (rooms of {ROOM_SIZE}) ...", flush=True)
            sockets = []
            errors: collections.Counter[str] = collections.Counter()

            def on_event(name: str, payload: object, at: float) -> None:
                if name in ("error", "gift:error"):
                    errors[f"{name} {payload}"] += 1

            for n in range(users):
                sock = BenchSocket(stack.url, make_token(100_000 + n), on_event=on_event)
                await sock.connect()
                ack = await sock.call("room:join", {"roomId": f"gift-bench-{n // ROOM_SIZE}"})
                assert "rtpCapabilities" in ack, ack
                sockets.append(sock)
            await asyncio.sleep(3)  # Celery up, first flushes done
            sent_at: list[float] = []
            samples: list[tuple[float, int, int]] = []
            start = time.time()

            async def sample() -> None:
                while True:
                    samples.append((time.time() - start, int(await redis.llen(PENDING_KEY)),
                                    len(laravel.accepted)))
                    await asyncio.sleep(1.0)

            sampler = asyncio.create_task(sample())
            interval = 1.0 / args.rate
            for i in range(total):
                target = start + i * interval
                delay = target - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                sock = sockets[i % users]
                sent_at.append(time.time())
                await sock.send("gift:send", {"roomId": f"gift-bench-{(i % users) // ROOM_SIZE}",
                                              "giftId": 1, "recipientId": 7, "quantity": 1})
            send_done = time.time()
            with contextlib.suppress(TimeoutError):
                await laravel.wait_until(lambda: len(laravel.accepted) >= total, within=30)
            end = time.time()
            sampler.cancel()
            samples.append((end - start, int(await redis.llen(PENDING_KEY)), len(laravel.accepted)))
            await redis.aclose()
            for sock in sockets:
                await sock.close()

    accepted = len(laravel.accepted)
    latencies = []
    txs = {tx["transaction_id"]: tx for batch in laravel.batches for tx in batch}
    for tx_id, at in laravel.accepted_at.items():
        latencies.append((at - txs[tx_id]["timestamp"] / 1000) * 1000)
    duplicates = sum(1 for count in laravel.accepted.values() if count > 1)
    print(f"\nsent {total} gift:send at {args.rate}/s over {send_done - start:.1f} s from {users} sockets; "
          f"flush every {args.flush_ms} ms, batches of up to 100")
    print(f"accepted by Laravel: {accepted} of {total} (duplicates: {duplicates}) in {end - start:.1f} s "
          f"-> {accepted / (end - start):.0f} gifts/s end to end; "
          f"{len(laravel.batches)} batches, mean {accepted / max(1, len(laravel.batches)):.1f} per batch")
    print(f"queue-to-accept latency: p50 {pct(latencies, 0.5):.0f} ms, p99 {pct(latencies, 0.99):.0f} ms, "
          f"max {max(latencies, default=float('nan')):.0f} ms")
    print(f"refusals seen by senders: {dict(errors) or 'none'}")
    print(f"buffer size ({PENDING_KEY}) and accepted over time:")
    for at, pending, acc in samples:
        print(f"  t={at:5.1f}s pending={pending:5d} accepted={acc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="gift:send per second (all sockets)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--flush-ms", type=int, default=500, help="GIFT_BUFFER_FLUSH_INTERVAL_MS")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
