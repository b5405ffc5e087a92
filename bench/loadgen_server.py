"""The server set up the way the protocol load generator expects, until Ctrl-C (or --seconds).

Starts a real redis-server, a Laravel stand-in (answers every room as owned by user 1, every
status call 200), the media node (two workers) and the web tier as bin/serve runs it
(bin/web: one process per CPU by default, every one listed in LG_SERVER_PIDS), with the load
generator's JWT secret and Origin, and prints the environment to export before running it:

    .venv/bin/python bench/loadgen_server.py &
    export LG_URL=... LG_SERVER_PIDS=... LG_SERVER_TREE=1 LG_AUX_PIDS=...   # as printed
    node loadgen.js seats --r 5 --s 10 --t 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_client import run_stack
from tests.support.fake_laravel import FakeLaravel
from tests.support.processes import run_redis_server

LOADGEN_SECRET = "baseline-secret-0123456789abcdef0123456789abcdef"  # loadgen's LG_JWT_SECRET default
LOADGEN_ORIGIN = "http://localhost:8080"


async def serve(args: argparse.Namespace) -> None:
    async with FakeLaravel() as laravel:
        laravel.default_body = {"owner_id": 1}
        env = {"JWT_SECRET": LOADGEN_SECRET, "CORS_ORIGINS": LOADGEN_ORIGIN,
               "LARAVEL_API_URL": laravel.url,
               "LARAVEL_API_TIMEOUT_MS": "2000", "MAX_ROOMS_PER_WORKER": "100",
               "ROOM_JOIN_RATE_LIMIT_PER_MINUTE": "100000"}
        with run_redis_server() as redis_srv, run_stack(args.server, redis_srv.port, media_workers=2,
                                                         extra_env=env, web_workers=args.workers,
                                                         ws=args.ws, deflate=args.deflate) as stack:
            server_pids = ",".join(str(pid) for pid in [*stack.web_pids(), stack.media.pid])
            print(f"export LG_URL={stack.http} LG_SERVER_PIDS={server_pids} "
                  f"LG_SERVER_TREE=1 LG_AUX_PIDS={redis_srv.proc.pid},{os.getpid()} "
                  f"LG_JWT_SECRET={LOADGEN_SECRET} LG_ORIGIN={LOADGEN_ORIGIN}", flush=True)
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(sig, stop.set)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["uvicorn", "granian", "daphne"], default="uvicorn")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="web worker processes (bin/web's WEB_WORKERS; default: CPU count)")
    parser.add_argument("--ws", default="websockets-sansio", help="uvicorn's websocket implementation")
    parser.add_argument("--deflate", action="store_true", help="accept permessage-deflate")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
