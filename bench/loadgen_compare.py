"""Our server against the Node server's figures, on the protocol load generator's own scenarios.

Starts the stack as bin/serve runs it (bench/loadgen_server.py: real redis-server, a Laravel
stand-in, the media node, the web tier through bin/web with every web pid counted), warms it
up, runs the issue-10 scenarios with `node` on a copy of the protocol load generator (the
folder given by --loadgen, which this repository does not hold), and prints each figure beside
the Node server's figure measured with that tool on the same machine type, and the ratio.

    .venv/bin/python bench/loadgen_compare.py --loadgen PATH                  # all scenarios
    .venv/bin/python bench/loadgen_compare.py --loadgen PATH --only connect-join seats --workers 2

Absolute figures move with whatever else runs on the machine: each row also shows the
loadgen's "other processes" CPU (% of one core) during that phase; re-run when it is high.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import stop_process  # noqa: E402

# (figure, Node value, direction: "higher" or "lower" is better): the Node server measured with the load
# generator on this machine type (its BASELINE.md).
NODE = {
    "joins/s (connect-join --n 2000)": (196.0, "higher"),
    "server CPU ms per connect+join": (4.9, "lower"),
    "RSS KiB per socket": (56.0, "lower"),
    "join ack p99 ms under that load": (197.0, "lower"),
    "broadcast join phase wall s": (16.6, "lower"),
    "broadcast join phase server CPU s": (14.3, "lower"),
    "chat delivery p99 ms (broadcast)": (50.0, "lower"),
    "chat lost (broadcast)": (0.0, "lower"),
    "churn join ack p50 ms": (7.8, "lower"),
    "churn join ack p99 ms": (31.0, "lower"),
    "churn server CPU s": (8.9, "lower"),
    "seats acked ops/s": (3562.0, "higher"),
    "seats ack p99 ms": (35.6, "lower"),
}

SCENARIOS = {
    "connect-join": ["connect-join", "--n", "2000"],
    "broadcast": ["broadcast", "--m", "1000", "--k", "50", "--rate", "5"],
    "churn": ["churn", "--t", "30"],
    "seats": ["seats", "--r", "5", "--s", "10", "--t", "20"],
}


def prepare_loadgen(source: Path, directory: Path) -> None:
    if not (directory / "node_modules").is_dir():
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(source, directory)
        for path in directory.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL)


def run_loadgen(directory: Path, env: dict[str, str], args: list[str]) -> dict[str, Any]:
    print(f"  node loadgen.js {' '.join(args)}", flush=True)
    done = subprocess.run(["node", "loadgen.js", *args], cwd=directory, env=env, capture_output=True,
                          text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"loadgen {args[0]} printed no result: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@contextlib.contextmanager
def our_server(workers: int, *, server: str = "uvicorn", ws: str = "websockets-sansio",
               deflate: bool = False) -> Iterator[dict[str, str]]:
    """Our stack as bench/loadgen_server.py starts it; yields the LG_* environment it prints."""
    cmd = [sys.executable, str(ROOT / "bench/loadgen_server.py"), "--seconds", "3600",
           "--server", server, "--workers", str(workers), "--ws", ws, *(["--deflate"] if deflate else [])]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("export "):
                yield dict(re.findall(r"(\w+)=(\S+)", line))
                return
        raise RuntimeError("the server did not start")
    finally:
        stop_process(proc, grace=60.0)


def figures(name: str, r: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """(figure, ours, other processes' CPU % of one core during it)."""
    if name == "connect-join":
        other = r["connect_phase"]["other_processes_cpu_pct_of_one_core"]
        return [("joins/s (connect-join --n 2000)", r["joins_per_s"], other),
                ("server CPU ms per connect+join", r["server_cpu_ms_per_join"], other),
                ("RSS KiB per socket", r["server_rss_delta_kb_per_socket"], other),
                ("join ack p99 ms under that load", r["join_ack_ms"]["p99"], other)]
    if name == "broadcast":
        other = r["join_phase"]["other_processes_cpu_pct_of_one_core"]
        send_other = r["send_phase"]["other_processes_cpu_pct_of_one_core"]
        return [("broadcast join phase wall s", r["join_phase_s"], other),
                ("broadcast join phase server CPU s", r["join_phase"]["server"]["cpu_s"], other),
                ("chat delivery p99 ms (broadcast)", r["delivery_ms"].get("p99"), send_other),
                ("chat lost (broadcast)", r["lost"], send_other)]
    if name == "churn":
        other = r["run_phase"]["other_processes_cpu_pct_of_one_core"]
        return [("churn join ack p50 ms", r["join_ack_ms"]["p50"], other),
                ("churn join ack p99 ms", r["join_ack_ms"]["p99"], other),
                ("churn server CPU s", r["run_phase"]["server"]["cpu_s"], other)]
    other = r["race_phase"]["other_processes_cpu_pct_of_one_core"]
    return [("seats acked ops/s", r["ops_per_s"], other), ("seats ack p99 ms", r["ack_ms"]["p99"], other)]


def checks(name: str, r: dict[str, Any]) -> str:
    if name == "connect-join":
        view = r["membership_view"]
        return (f"errors {r['error_count']}, membership pairs never seen {view['missing']}, "
                f"room:userJoined {view['userJoinedEvents']} of which redundant {view['redundant']}")
    if name == "broadcast":
        return (f"sent {r['sent']} (skipped {r['send_skipped']}), lost {r['lost']}, "
                f"duplicates {r['duplicates']}, errors {r.get('join_errors', {})}, "
                f"events while joining {r['events_during_join_and_settle']}")
    if name == "churn":
        return f"errors {r['errors']}, unexpected disconnects {r['unexpected_disconnects']}"
    return f"verification ok {r['verification']['ok']}, outcomes {r['outcomes']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--server", choices=["uvicorn", "granian", "daphne"], default="uvicorn")
    parser.add_argument("--ws", default="websockets-sansio")
    parser.add_argument("--deflate", action="store_true")
    parser.add_argument("--loadgen", type=Path, required=True,
                        help="the protocol load generator's folder (loadgen.js, package-lock.json)")
    parser.add_argument("--loadgen-dir", type=Path, default=Path("/tmp/flylive-loadgen"),
                        help="where a writable copy of it is made and npm-installed")
    parser.add_argument("--out", type=Path, default=None, help="append every loadgen result (JSON lines)")
    args = parser.parse_args()
    prepare_loadgen(args.loadgen, args.loadgen_dir)
    with our_server(args.workers, server=args.server, ws=args.ws, deflate=args.deflate) as exports:
        env = {**os.environ, **exports}
        print(f"server pids {exports['LG_SERVER_PIDS']}; warming up", flush=True)
        run_loadgen(args.loadgen_dir, env, ["connect-join", "--n", "300", "--idle", "1"])
        rows: list[tuple[str, float | None, float | None]] = []
        notes: list[str] = []
        for name in args.only:
            time.sleep(5)  # the previous run's disconnects settle
            result = run_loadgen(args.loadgen_dir, env, SCENARIOS[name])
            if args.out is not None:
                with args.out.open("a") as out:
                    out.write(json.dumps(result) + "\n")
            rows.extend(figures(name, result))
            notes.append(f"{name}: {checks(name, result)}")
        print(f"\n| figure | ours ({args.workers} web processes, {args.server} {args.ws}, deflate "
              f"{'on' if args.deflate else 'off'}) | Node | ours/Node | other processes, % of one core |")
        print("|---|---|---|---|---|")
        for figure, ours, other in rows:
            node, _ = NODE[figure]
            ratio = f"{ours / node:.2f}x" if ours is not None and node else "-"
            print(f"| {figure} | {ours} | {node:g} | {ratio} | {other} |")
        print()
        for note in notes:
            print(note)


if __name__ == "__main__":
    main()
