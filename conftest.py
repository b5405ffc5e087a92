"""Suite-wide fixtures for the expensive real things: Redis and the mediasoup worker binary."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import RedisServer, run_redis_server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free port, for the whole session."""
    with run_redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def mediasoup_worker_bin() -> str:
    """The real mediasoup-worker binary (MEDIASOUP_WORKER_BIN, else the one bin/setup built)."""
    from apps.media.mediasoup.worker_binary import resolve_worker_binary

    return str(resolve_worker_binary())
