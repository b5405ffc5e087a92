"""Media room benchmark: the whole server on loopback, one room, real speakers.

Starts a real redis-server, `manage.py runmedia --bench` and uvicorn, then measures:
  1. time from room:join to the first decoded audio frame, for a WebRTC listener
     (pymediasoup + aiortc) joining a room where a speaker plays a tone;
  2. with 3 WebRTC speakers, plain-RTP listeners (cheap: no DTLS/SRTP, added by a
     bench-only RPC) in growing steps, each step measured for --window seconds:
     RTP loss from sequence numbers (received by a separate process), and CPU of
     the media service's Python process vs its mediasoup workers;
  3. the largest listener count whose loss stayed under 1 %.
Bounded: --max-listeners, a fixed step list and a per-step window; loopback only.

    .venv/bin/python bench/media_room.py --workers 2 --max-listeners 1600
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import select
import socket
import statistics
import struct
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flylive.settings.test")

from apps.media.gateway import MediaUnavailableError  # noqa: E402
from apps.media.rpc_contract import BENCH_ADD_PLAIN_LISTENERS, PlainListenersRequest  # noqa: E402
from apps.media.tests.live_stack import LiveStack, media_rpc  # noqa: E402
from apps.media.tests.media_node_process import media_env, run_media_node  # noqa: E402
from apps.media.tests.webrtc_peers import RoomPeer, ToneTrack, wait_until  # noqa: E402
from tests.support.processes import run_redis_server  # noqa: E402
from tests.support.server import run_server, server_env  # noqa: E402

RECEIVER_PORTS = 8
# Listeners added per RPC: 400 at once (the 800 step) took 1.7-3.7 s, near the gateway's 5 s timeout.
LISTENERS_PER_CALL = 100
ROOM = "bench-room"


# -- RTP receiver (own process, so counting never competes with the speakers for the GIL) ----------


def _receiver(ports: list[int], control: Connection) -> None:
    socks = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    control.send("ready")
    # ssrc -> [received, first extended seq, last extended seq]
    streams: dict[int, list[int]] = {}
    buf = bytearray(2048)
    while True:
        if control.poll():
            command = control.recv()
            if command == "stop":
                return
            control.send({ssrc: tuple(v) for ssrc, v in streams.items()})
            streams = {}
        ready, _, _ = select.select(socks, [], [], 0.05)
        for s in ready:
            for _ in range(256):
                try:
                    n = s.recv_into(buf)
                except BlockingIOError:
                    break
                if n < 12 or ((buf[1] & 0x7F) >= 72 and (buf[1] & 0x7F) <= 79):
                    continue  # too short, or RTCP
                seq, _ts, ssrc = struct.unpack_from("!HII", buf, 2)
                entry = streams.get(ssrc)
                if entry is None:
                    streams[ssrc] = [1, seq, seq]
                    continue
                last = entry[2]
                ext = last + ((seq - last) & 0xFFFF) if ((seq - last) & 0xFFFF) < 0x8000 else last
                entry[0] += 1
                entry[2] = max(last, ext)


def _loss(streams: dict[int, tuple[int, int, int]], consumers: int, window: float) -> tuple[float, int]:
    """Loss from sequence gaps; a consumer whose stream never arrived counts as a window of loss."""
    received = sum(v[0] for v in streams.values())
    expected = sum(v[2] - v[1] + 1 for v in streams.values())
    expected += max(0, consumers - len(streams)) * int(50 * window)  # Opus at 20 ms: 50 packets/s
    return (1 - received / expected if expected else 1.0), received


# -- the phases -----------------------------------------------------------------------------------


async def join_to_first_audio(stack: LiveStack, rounds: int) -> list[float]:
    speaker = RoomPeer(stack.url, 1, "bench-latency")
    speaker.track = ToneTrack(440.0)
    await speaker.connect_and_join()
    producer_id = await speaker.speak()
    times: list[float] = []
    try:
        for i in range(rounds):
            listener = RoomPeer(stack.url, 100 + i, "bench-latency")
            started = time.monotonic()
            await listener.connect_and_join()
            await listener.listen()
            await listener.consume(producer_id)
            if await wait_until(
                lambda lst=listener: lst.received[producer_id].first_frame_at is not None, 15, 0.005
            ):
                first = listener.received[producer_id].first_frame_at
                assert first is not None
                times.append(first - started)
            await listener.close()
    finally:
        await speaker.close()
    return times


def _cpu(proc: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        return float(proc.cpu_percent(None))
    return 0.0


async def listener_steps(stack: LiveStack, steps: list[int], window: float) -> list[dict[str, Any]]:
    speakers = []
    for i in range(3):
        peer = RoomPeer(stack.url, 10 + i, ROOM)
        peer.track = ToneTrack(300.0 + 150 * i)
        await peer.connect_and_join()
        await peer.speak()
        speakers.append(peer)
    await asyncio.sleep(2)
    ports = list(range(stack_port_base(stack), stack_port_base(stack) + RECEIVER_PORTS))
    receivers = []
    for half in (ports[::2], ports[1::2]):  # two processes: one per core
        parent, child = mp.Pipe()
        process = mp.Process(target=_receiver, args=(half, child), daemon=True)
        process.start()
        assert parent.recv() == "ready"
        receivers.append((process, parent))

    def stats() -> dict[int, tuple[int, int, int]]:
        merged: dict[int, tuple[int, int, int]] = {}
        for _, pipe in receivers:
            pipe.send("stats")
        for _, pipe in receivers:
            merged.update(pipe.recv())
        return merged

    media = psutil.Process(stack.media.proc.pid)
    results: list[dict[str, Any]] = []
    try:
        async with media_rpc(stack) as rpc:
            have = 0
            consumers = 0
            for target in steps:
                try:
                    while have < target:
                        count = min(LISTENERS_PER_CALL, target - have)
                        reply = await rpc.request_room(
                            BENCH_ADD_PLAIN_LISTENERS,
                            PlainListenersRequest(roomId=ROOM, count=count, ip="127.0.0.1", ports=ports),
                        )
                        have += count
                        assert reply is not None
                        consumers += reply.consumers
                        workers = [psutil.Process(pid) for pid in reply.workerPids]
                except MediaUnavailableError:
                    # The cores are saturated (workers and the bench's receivers share them).
                    print(f"  {target:5d} listeners: could not add them within the RPC timeout "
                          f"(machine saturated at {have} listeners); stopping", flush=True)
                    break
                await asyncio.sleep(1.0)  # let the new streams settle
                stats()  # discard the settling period
                for proc in [media, *workers]:
                    _cpu(proc)
                await asyncio.sleep(window)
                loss, received = _loss(stats(), consumers, window)
                # Below the nominal rate the receiver is behind (reading a backlog): not a valid step.
                delivered = received / (consumers * 50 * window) if consumers else 0.0
                row = {
                    "listeners": target,
                    "loss": loss,
                    "delivered": delivered,
                    "packets": received,
                    "python_cpu": _cpu(media),
                    "workers_cpu": sum(_cpu(w) for w in workers),
                }
                results.append(row)
                print(
                    f"  {target:5d} listeners: loss {loss * 100:6.3f} %  "
                    f"packets/s {received / window:9.0f} ({delivered * 100:5.1f} % of nominal)  "
                    f"media python {row['python_cpu']:5.1f} %  workers {row['workers_cpu']:5.1f} %",
                    flush=True,
                )
                if loss >= 0.01 or delivered < 0.97:
                    break
    finally:
        for process, pipe in receivers:
            pipe.send("stop")
            process.join(5)
        for peer in speakers:
            await peer.close()
    return results


def stack_port_base(stack: LiveStack) -> int:
    return int(stack.env["MEDIASOUP_RTC_MAX_PORT"]) + 100


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-listeners", type=int, default=1600)
    parser.add_argument("--window", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    steps = [n for n in (25, 50, 100, 200, 400, 800, 1200, 1600, 2400, 3200) if n <= args.max_listeners]

    with run_redis_server() as redis:
        env = media_env(
            server_env(redis, LOG_LEVEL="warn"),
            MEDIASOUP_NUM_WORKERS=str(args.workers),
            MAX_LISTENERS_PER_DISTRIBUTION_ROUTER="700",
        )
        with run_media_node(env, extra_args=("--bench",)) as media, run_server(env, server="uvicorn") as web:
            stack = LiveStack(web, media, env, redis)
            print(f"media room bench: {args.workers} workers, {os.cpu_count()} cores, loopback")
            times = await join_to_first_audio(stack, args.rounds)
            if times:
                print(
                    "room:join -> first decoded audio frame: "
                    f"median {statistics.median(times) * 1000:.0f} ms, "
                    f"max {max(times) * 1000:.0f} ms over {len(times)} listeners"
                )
            print("3 speakers forwarded to plain-RTP listeners:")
            rows = await listener_steps(stack, steps, args.window)
            ok = [r["listeners"] for r in rows if r["loss"] < 0.01 and r["delivered"] >= 0.97]
            limit = ""
            if rows and rows[-1]["delivered"] < 0.97 and rows[-1]["loss"] < 0.01:
                limit = " (then the bench's own RTP receiver fell behind: the server's limit is higher)"
            elif ok and max(ok) == steps[-1]:
                limit = " (bench limit reached)"
            print(f"largest listener count with < 1 % loss: {max(ok) if ok else 0}{limit}")


if __name__ == "__main__":
    asyncio.run(main())
