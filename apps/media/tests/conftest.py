"""Fixtures for the mediasoup library's tests: real workers, routers with FlyLive's Opus codec."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from apps.media.mediasoup import Router, Worker, create_worker
from apps.media.tests.rtp_tools import OPUS_CODEC


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def worker(mediasoup_worker_bin: str) -> AsyncIterator[Worker]:
    """A real mediasoup-worker for one test, closed afterwards (if the test did not kill it)."""
    created = await create_worker(log_level="warn", worker_bin=mediasoup_worker_bin)
    yield created
    await created.close()


@pytest.fixture
async def second_worker(mediasoup_worker_bin: str) -> AsyncIterator[Worker]:
    created = await create_worker(log_level="warn", worker_bin=mediasoup_worker_bin)
    yield created
    await created.close()


@pytest.fixture
async def router(worker: Worker) -> Router:
    return await worker.create_router(media_codecs=[OPUS_CODEC])
