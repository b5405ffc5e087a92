"""The channel's own behaviour (timeouts, worker logs, notification order) and the event emitter."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from apps.media.mediasoup import EventEmitter, RequestTimeoutError, Router, Worker
from apps.media.mediasoup.channel import Channel
from apps.media.tests.rtp_tools import loopback_udp, wait_for


async def test_a_request_the_worker_does_not_answer_times_out(worker: Worker) -> None:
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        with pytest.raises(RequestTimeoutError, match="WORKER_DUMP"):
            await worker.channel.request(0, timeout_seconds=0.2)  # FBS.Request.Method.WORKER_DUMP
        assert worker.channel.pending_count == 0
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    # The late answer is dropped and the channel keeps working.
    assert (await worker.dump())["pid"] == worker.pid


async def test_worker_log_lines_reach_python_logging(
    worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="apps.media.mediasoup.worker_log"):
        # The worker prints its new configuration at debug level when its settings change.
        await worker.update_settings(log_level="debug", log_tags=["info"])
        assert await wait_for(
            lambda: any(
                f"[pid:{worker.pid}]" in r.getMessage() and "logLevel: debug" in r.getMessage()
                for r in caplog.records
            ),
            2,
        )
    await worker.update_settings(log_level="warn")


async def test_notifications_reach_objects_created_by_the_same_read(router: Router) -> None:
    # A plain transport with comedia reports its tuple right after the first packet: the
    # notification is routed by the transport's id to the transport object.
    transport = await router.create_plain_transport(listen_info=loopback_udp(), comedia=True)
    tuples: list[object] = []
    transport.on("tuple", tuples.append)
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        udp.sendto(b"\x80\x64" + bytes(30), ("127.0.0.1", transport.tuple["localPort"]))
        assert await wait_for(lambda: bool(tuples), 2)
    finally:
        udp.close()


async def test_channel_refuses_oversized_frames_without_crashing(worker: Worker) -> None:
    channel: Channel = worker.channel
    channel._data_received((5_000_000).to_bytes(4, "little") + b"junk")
    assert (await worker.dump())["pid"] == worker.pid


async def test_emitter_calls_sync_and_async_listeners_and_logs_their_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    calls: list[str] = []
    done = asyncio.Event()

    def failing(value: int) -> None:
        raise RuntimeError("listener bug")

    async def later(value: int) -> None:
        await asyncio.sleep(0)
        calls.append(f"async {value}")
        done.set()

    async def failing_later(value: int) -> None:
        raise RuntimeError("async listener bug")

    emitter.on("x", failing)
    emitter.on("x", lambda value: calls.append(f"sync {value}"))
    emitter.on("x", later)
    emitter.on("x", failing_later)
    emitter.once("x", lambda value: calls.append(f"once {value}"))
    with caplog.at_level(logging.ERROR, logger="apps.media.mediasoup.events"):
        assert emitter.emit("x", 1) is True
        assert emitter.emit("x", 2) is True
        await asyncio.wait_for(done.wait(), 1)
        await asyncio.sleep(0.01)
    assert calls[:3] == ["sync 1", "once 1", "sync 2"]
    assert sorted(c for c in calls if c.startswith("async")) == ["async 1", "async 2"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("listener of 'x'" in m for m in messages) == 4  # two sync and two async failures

    emitter.off("x", failing)
    assert emitter.listener_count("x") == 3
    emitter.off("x")
    assert emitter.emit("x", 3) is False
