"""Suite-wide fixtures for the expensive real things: Redis, the mediasoup worker binary
and the real server process."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from tests.support.processes import RedisServer, free_port, run_redis_server
from tests.support.redis_cluster import ClusterUnderTest, run_redis_cluster
from tests.support.server import LiveServer, ServerKind, run_server, server_env


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free port, for the whole session."""
    with run_redis_server() as server:
        yield server


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test module's own (modules that restart or flood Redis)."""
    with run_redis_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ClusterUnderTest]:
    """A real 3-primary Redis Cluster, for the whole session (started by the first test that asks)."""
    with run_redis_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def laravel_port() -> int:
    """The port a module's fake Laravel (tests.support.fake_laravel) listens on: the module's
    server processes are started pointing at it before each test opens it."""
    return free_port()


@pytest.fixture(scope="session")
def mediasoup_worker_bin() -> str:
    """The real mediasoup-worker binary (MEDIASOUP_WORKER_BIN, else the one bin/setup built)."""
    from apps.media.mediasoup.worker_binary import resolve_worker_binary

    return str(resolve_worker_binary())


@pytest.fixture(scope="session")
def flylive_server_factory(redis_server: RedisServer) -> Iterator[Callable[..., LiveServer]]:
    """Start real server processes (`daphne` or `uvicorn`) on the session's redis, stopped at the end.

        server = flylive_server_factory("uvicorn", FLYLIVE_TEST_EVENTS="1", SOCKET_PING_INTERVAL_MS="300")

    Keyword arguments are environment overrides (see tests.support.server.server_env)."""
    with contextlib.ExitStack() as stack:

        def start(server: ServerKind = "daphne", **env: str) -> LiveServer:
            return stack.enter_context(run_server(server_env(redis_server, **env), server=server))

        yield start


@pytest.fixture(scope="session")
def flylive_server(flylive_server_factory: Callable[..., LiveServer]) -> LiveServer:
    """The real server (daphne) with the `debug:*` probe events, shared by the session.

    (Not `live_server`: pytest-django owns that name.)"""
    return flylive_server_factory("daphne", FLYLIVE_TEST_EVENTS="1")
