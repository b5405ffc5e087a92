"""Redis client CPU per script call: redis-py one call at a time against the auto-pipeline
(flylive/redis_batch.py), with 1, 5 and 25 concurrent callers in one event loop.

Starts its own redis-server on a free loopback port; each row is one run of --calls calls per
caller of a one-line INCR script, with the client connection class the server uses. Prints the
client process's CPU per call and the calls per second.

    .venv/bin/python bench/redis_batch.py
    .venv/bin/python bench/redis_batch.py --calls 5000 --concurrency 1,10,50
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis.asyncio import BlockingConnectionPool, Redis  # noqa: E402

from apps.realtime.redis_client import _DirectWrite  # noqa: E402
from flylive.redis_batch import AutoPipeline  # noqa: E402
from tests.support.processes import RedisServer, run_redis_server  # noqa: E402

SCRIPT = "return redis.call('INCR', KEYS[1])"


async def one_run(server: RedisServer, mode: str, callers: int, calls: int) -> tuple[float, float]:
    pool = BlockingConnectionPool(host=server.host, port=server.port, max_connections=64, timeout=5,
                                  socket_timeout=5, connection_class=_DirectWrite, decode_responses=True)
    redis = Redis(connection_pool=pool)
    script = redis.register_script(SCRIPT)
    batcher = AutoPipeline(redis)
    await script(keys=["warm"])

    async def caller(index: int) -> None:
        for _ in range(calls):
            if mode == "redis-py":
                await script(keys=[f"n{index}"])
            else:
                await batcher.script(script, [f"n{index}"])

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await redis.aclose()
    total = callers * calls
    return cpu / total * 1e6, total / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per caller and run")
    parser.add_argument("--concurrency", default="1,5,25", help="comma list of concurrent callers")
    parser.add_argument("--repeat", type=int, default=2)
    options = parser.parse_args()
    with run_redis_server() as server:
        print("| callers | client | CPU us per call | calls/s |")
        print("|---|---|---|---|")
        for callers in (int(c) for c in options.concurrency.split(",")):
            for _ in range(options.repeat):
                for mode in ("redis-py", "auto-pipeline"):
                    cpu_us, rate = asyncio.run(one_run(server, mode, callers, options.calls))
                    print(f"| {callers} | {mode} | {cpu_us:.1f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
