"""Hold many sockets for minutes: no disconnects, flat memory.

Starts the stack as bin/serve runs it (the web tier through bin/web, one process per CPU),
connects --sockets clients (each answers Engine.IO pings, as socket.io-client does), joins
them to rooms of --room-size, then holds them for --minutes while sampling, every
--every seconds, the web processes' RSS and CPU and the clients still connected. It prints
the samples and the verdict: disconnects (must be 0) and RSS growth over the hold (noise).

    .venv/bin/python bench/hold_sockets.py                         # 10,000 sockets, 5 minutes
    .venv/bin/python bench/hold_sockets.py --sockets 2000 --minutes 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_client import BenchSocket, make_token, run_stack
from tests.support.processes import run_redis_server


def web_figures(pids: list[int]) -> tuple[float, float]:
    """(RSS MiB, CPU seconds) summed over the web processes."""
    rss = cpu = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            rss += proc.memory_info().rss / 2**20
            times = proc.cpu_times()
            cpu += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return rss, cpu


async def hold(args: argparse.Namespace, url: str, pids: list[int]) -> bool:
    sockets: list[BenchSocket] = []
    failed = 0
    gate = asyncio.Semaphore(args.inflight)
    rss_before, _ = web_figures(pids)

    async def open_one(i: int) -> None:
        nonlocal failed
        async with gate:
            sock = BenchSocket(url, make_token(500_000 + i))
            try:
                await sock.connect()
                ack = await sock.call("room:join", {"roomId": str(900_000 + i // args.room_size)})
                if "error" in ack:
                    raise RuntimeError(ack["error"])
                sockets.append(sock)
            except Exception as exc:
                failed += 1
                if failed <= 5:
                    print(f"  socket {i} failed: {exc!r}")
                await sock.close()

    started = time.monotonic()
    await asyncio.gather(*(open_one(i) for i in range(args.sockets)))
    rss_connected, cpu_start = web_figures(pids)
    print(f"connected and joined {len(sockets)} of {args.sockets} in {time.monotonic() - started:.1f} s "
          f"({failed} failed); web RSS {rss_before:.1f} -> {rss_connected:.1f} MiB "
          f"({(rss_connected - rss_before) * 1024 / max(1, len(sockets)):.1f} KiB per socket)")
    print(f"{'t (s)':>6} {'connected':>10} {'web RSS MiB':>12} {'web CPU % of one core':>22}")
    samples: list[float] = []
    hold_start = time.monotonic()
    last_cpu, last_t = cpu_start, hold_start
    while True:
        await asyncio.sleep(args.every)
        now = time.monotonic()
        rss, cpu = web_figures(pids)
        alive = sum(1 for s in sockets if s.reader is not None and not s.reader.done())
        samples.append(rss)
        cpu_pct = 100 * (cpu - last_cpu) / (now - last_t)
        print(f"{now - hold_start:6.0f} {alive:10d} {rss:12.1f} {cpu_pct:22.1f}", flush=True)
        last_cpu, last_t = cpu, now
        if now - hold_start >= args.minutes * 60:
            break
    disconnected = sum(1 for s in sockets if s.reader is None or s.reader.done())
    growth = samples[-1] - samples[0]
    print(f"\nheld {len(sockets)} sockets {args.minutes} min: disconnects {disconnected}; "
          f"web RSS first sample {samples[0]:.1f} MiB, last {samples[-1]:.1f} MiB (growth {growth:+.1f} MiB, "
          f"max {max(samples):.1f} MiB)")
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    return disconnected == 0 and failed == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--room-size", type=int, default=100)
    parser.add_argument("--inflight", type=int, default=100)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.sockets * 2 + 1000)), hard))
    env = {"ROOM_JOIN_RATE_LIMIT_PER_MINUTE": "100000", "MAX_ROOMS_PER_WORKER": "1000"}
    with run_redis_server() as redis_srv, run_stack("uvicorn", redis_srv.port, media_workers=1,
                                                     extra_env=env, web_workers=args.workers) as stack:
        ok = asyncio.run(hold(args, stack.url, stack.web_pids()))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
