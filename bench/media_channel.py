"""Media library benchmark: the worker channel, transport creation and RTP fan-out CPU.

Spawns one real mediasoup-worker and measures, all on loopback:
  - channel round trip of a cheap request (router dump): p50/p99 one at a time, and
    requests/s with --in-flight requests pipelined;
  - time to create a WebRtcTransport (own UDP port each), p50/p99;
  - the worker's CPU (from /proc/<pid>/stat) while it forwards one plain-RTP Opus producer
    (50 packets/s, Opus-sized) to N plain consumers, for N in --consumers, --seconds each.
    Consumers all send to one UDP sink socket that is never read (the kernel drops what
    overflows), so the Python side costs nothing while the worker works.

Bounded: fixed counts, traffic only to 127.0.0.1, and everything is closed at the end.

    .venv/bin/python bench/media_channel.py
    .venv/bin/python bench/media_channel.py --consumers 100,500,1000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.media.mediasoup import PlainTransport, Router, Worker, create_worker  # noqa: E402
from apps.media.tests.rtp_tools import (  # noqa: E402
    OPUS_CODEC,
    loopback_udp,
    open_udp_endpoint,
    opus_producer_parameters,
    send_opus_stream,
)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SSRC = 12345678


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def bench_round_trip(router: Router, count: int, in_flight: int) -> None:
    for _ in range(100):  # warm-up
        await router.dump()
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        await router.dump()
        latencies.append((time.perf_counter() - start) * 1000)
    print(
        f"router.dump() round trip, one at a time ({count}): "
        f"p50 {percentile(latencies, 0.5):.3f} ms  p99 {percentile(latencies, 0.99):.3f} ms"
    )

    semaphore = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with semaphore:
            await router.dump()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    elapsed = time.perf_counter() - start
    print(f"router.dump() pipelined ({count}, {in_flight} in flight): {count / elapsed:,.0f} requests/s")


async def bench_transport_creation(router: Router, count: int) -> None:
    latencies = []
    transports = []
    for _ in range(count):
        start = time.perf_counter()
        transports.append(await router.create_webrtc_transport(listen_infos=[loopback_udp()]))
        latencies.append((time.perf_counter() - start) * 1000)
    print(
        f"create_webrtc_transport ({count}, own UDP port each): "
        f"p50 {percentile(latencies, 0.5):.3f} ms  p99 {percentile(latencies, 0.99):.3f} ms"
    )
    for transport in transports:
        await transport.close()


async def bench_fan_out(worker: Worker, consumers: int, seconds: float) -> None:
    router = await worker.create_router(media_codecs=[OPUS_CODEC])
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink_port = sink.getsockname()[1]
    sender = await open_udp_endpoint()
    try:
        send = await router.create_plain_transport(listen_info=loopback_udp(), comedia=True)
        producer = await send.produce(kind="audio", rtp_parameters=opus_producer_parameters(ssrc=SSRC))
        setup_start = time.perf_counter()
        receivers: list[PlainTransport] = []
        consumer_list = []
        for _ in range(consumers):
            transport = await router.create_plain_transport(listen_info=loopback_udp())
            await transport.connect(ip="127.0.0.1", port=sink_port)
            consumer_list.append(
                await transport.consume(producer_id=producer.id, rtp_capabilities=router.rtp_capabilities)
            )
            receivers.append(transport)
        setup = time.perf_counter() - setup_start
        destination = (send.tuple["localAddress"], send.tuple["localPort"])

        idle_cpu = cpu_seconds(worker.pid)
        await asyncio.sleep(1.0)
        idle = cpu_seconds(worker.pid) - idle_cpu

        packets = int(seconds * 50)
        cpu_start, wall_start = cpu_seconds(worker.pid), time.perf_counter()
        await send_opus_stream(sender, destination, ssrc=SSRC, packets=packets, interval=0.02)
        cpu = cpu_seconds(worker.pid) - cpu_start
        wall = time.perf_counter() - wall_start

        sample = consumer_list[:: max(1, consumers // 10)]
        sent = [
            stat["packetCount"]
            for consumer in sample
            for stat in await consumer.get_stats()
            if stat.get("type") == "outbound-rtp"
        ]
        print(
            f"fan-out to {consumers} plain consumers ({packets} packets in {wall:.1f} s, "
            f"{packets * consumers / wall:,.0f} packets/s out): "
            f"worker CPU {100 * cpu / wall:.1f}% of one core (idle {100 * idle:.1f}%); "
            f"consumers sampled sent {min(sent)}..{max(sent)} packets; "
            f"setup {setup:.1f} s ({1000 * setup / consumers:.2f} ms per transport+consume)"
        )
    finally:
        sender.close()
        sink.close()
        await router.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--transports", type=int, default=300)
    parser.add_argument("--consumers", default="100,500")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    worker = await create_worker(log_level="error")
    try:
        print(f"mediasoup-worker pid {worker.pid}; {os.cpu_count()} CPUs (shared)")
        router = await worker.create_router(media_codecs=[OPUS_CODEC])
        await bench_round_trip(router, args.requests, args.in_flight)
        await bench_transport_creation(router, args.transports)
        await router.close()
        for consumers in (int(n) for n in args.consumers.split(",")):
            await bench_fan_out(worker, consumers, args.seconds)
    finally:
        await worker.close()


if __name__ == "__main__":
    asyncio.run(main())
