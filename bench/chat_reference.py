"""Chat delivery on this machine, now: our server against a bare Socket.IO server, run by turns.

The chat figure of `broadcast --m 1000 --k 50 --rate 5` moves with the machine far more than
with our code (the same commit has given a p99 from 34 to 101 ms), so a single run against
the Node server's figure says little. This script measures a yardstick in the same minutes:
`bench/socketio_reference/server.js`, a bare socket.io 4.8.1 room server in one Node process
(no token check, no Redis, no rate limit, the same `chat:message` frame as ours). It starts
our stack as bench/loadgen_compare.py does and the reference beside it, then runs the
broadcast scenario against each in turn and prints both sets of figures and their medians.

    .venv/bin/python bench/chat_reference.py --loadgen PATH [--pairs 6] [--workers 2]

The reference does less work than any real server (and than the Node server we replace), so
it bounds from below what a Socket.IO server can reach here; the load generator is the same.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen_compare import SCENARIOS, our_server, prepare_loadgen, run_loadgen
from bench.loadgen_server import LOADGEN_ORIGIN, LOADGEN_SECRET
from tests.support.processes import free_port, stop_process

REFERENCE = Path(__file__).resolve().parent / "socketio_reference"


@contextlib.contextmanager
def reference_server() -> Iterator[dict[str, str]]:
    """The bare Socket.IO server on a free port; yields its LG_* environment."""
    if not (REFERENCE / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=REFERENCE, check=True,
                       stdout=subprocess.DEVNULL)
    port = free_port()
    proc = subprocess.Popen(["node", "server.js", str(port)], cwd=REFERENCE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        if "listening" not in proc.stdout.readline():
            raise RuntimeError("the reference server did not start")
        yield {"LG_URL": f"http://127.0.0.1:{port}", "LG_SERVER_PIDS": str(proc.pid), "LG_SERVER_TREE": "",
               "LG_AUX_PIDS": "", "LG_JWT_SECRET": LOADGEN_SECRET, "LG_ORIGIN": LOADGEN_ORIGIN}
    finally:
        stop_process(proc, grace=30.0)


def _row(r: dict[str, Any]) -> dict[str, float]:
    send = r["send_phase"]
    return {"p50 ms": r["delivery_ms"]["p50"], "p99 ms": r["delivery_ms"]["p99"],
            "last delivery p50 ms": r["last_delivery_per_message_ms"]["p50"],
            "server CPU s": send["server"]["cpu_s"], "loadgen CPU s": send["loadgen"]["cpu_s"],
            "lost": r["lost"], "others %": send["other_processes_cpu_pct_of_one_core"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loadgen", type=Path, required=True,
                        help="the protocol load generator's folder (loadgen.js, package-lock.json)")
    parser.add_argument("--loadgen-dir", type=Path, default=Path("/tmp/flylive-loadgen"))
    parser.add_argument("--pairs", type=int, default=6, help="broadcast runs against each server")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="our web processes")
    args = parser.parse_args()
    prepare_loadgen(args.loadgen, args.loadgen_dir)
    runs: dict[str, list[dict[str, float]]] = {"reference": [], "ours": []}
    with reference_server() as reference, our_server(args.workers) as ours:
        envs = {"reference": {**os.environ, **reference}, "ours": {**os.environ, **ours}}
        for env in envs.values():
            run_loadgen(args.loadgen_dir, env, ["connect-join", "--n", "300", "--idle", "1"])
        for _ in range(args.pairs):
            for name, env in envs.items():
                time.sleep(5)  # the previous run's disconnects settle
                row = _row(run_loadgen(args.loadgen_dir, env, SCENARIOS["broadcast"]))
                runs[name].append(row)
                print(f"    {name}: " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    columns = list(runs["ours"][0])
    print(f"\n| server ({args.workers} web processes for ours) | run | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for name, rows in runs.items():
        for index, row in enumerate(rows, 1):
            print(f"| {name} | {index} | " + " | ".join(str(row[c]) for c in columns) + " |")
        medians = [round(statistics.median(row[c] for row in rows), 2) for c in columns]
        print(f"| {name} | median | " + " | ".join(str(m) for m in medians) + " |")


if __name__ == "__main__":
    main()
