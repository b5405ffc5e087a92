"""Redis down during the revocation check: the handshake fails closed (contract 1.5)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from redis.asyncio import Redis

from apps.realtime.consumer import SocketIOConsumer
from apps.realtime.loop_services import RealtimeServices, install_services, uninstall_services
from apps.realtime.tests.conftest import SioClient, metric_value, scrape
from flylive.config import get_config
from flylive.metrics import REGISTRY as METRICS
from tests.support.processes import run_redis_server
from tests.support.server import TEST_ORIGIN, LiveServer, make_token, run_server, server_env


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def services_without_redis() -> AsyncIterator[RealtimeServices]:
    dead = Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=1, decode_responses=True)
    services = RealtimeServices.build(get_config(), dead)
    previous = uninstall_services()
    install_services(services)
    try:
        yield services
    finally:
        uninstall_services()
        if previous is not None:
            install_services(previous)
        await dead.aclose()


async def test_in_process_redis_failure_refuses_and_counts_redis_error(
    services_without_redis: RealtimeServices,
) -> None:
    before = METRICS.get_sample_value("flylive_auth_attempts_total", {"result": "redis_error"}) or 0.0
    token = make_token(secret=get_config().JWT_SECRET)
    communicator = WebsocketCommunicator(
        SocketIOConsumer.as_asgi(),
        "/socket.io/?EIO=4&transport=websocket",
        headers=[(b"origin", TEST_ORIGIN.encode())],
    )
    connected, _ = await communicator.connect()
    assert connected
    opening = await communicator.receive_from()
    assert opening.startswith('0{"sid":')
    await communicator.send_to(text_data=f'40{{"token":"{token}"}}')
    assert await communicator.receive_from(timeout=10) == '44{"message":"Invalid credentials"}'
    after = METRICS.get_sample_value("flylive_auth_attempts_total", {"result": "redis_error"}) or 0.0
    assert after == before + 1
    await communicator.disconnect()


@pytest.fixture(scope="module")
def server_with_its_own_redis() -> Iterator[tuple[LiveServer, Any]]:
    with run_redis_server() as redis, run_server(server_env(redis)) as server:
        yield server, redis


async def test_live_server_refuses_when_redis_is_down(
    server_with_its_own_redis: tuple[LiveServer, Any], sio_client: Callable[[], SioClient]
) -> None:
    server, redis = server_with_its_own_redis
    client = sio_client()
    await client.connect(server)  # works while Redis is up
    await client.close()
    redis.proc.terminate()
    redis.proc.wait(timeout=5)
    message = await sio_client().connect_error(server)
    assert message == "Invalid credentials"
    assert metric_value(await scrape(server), "flylive_auth_attempts_total", {"result": "redis_error"}) == 1
