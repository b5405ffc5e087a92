"""Fixtures of the realtime tests: in-process services on the test redis, socket.io clients
against the live server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import socketio
from redis.asyncio import Redis

from apps.realtime.loop_services import RealtimeServices
from flylive.config import get_config
from tests.support.processes import RedisServer, clean_redis_db
from tests.support.server import TEST_ORIGIN, LiveServer, make_token, user_claims

UNIT_REDIS_DB = 7


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    async with clean_redis_db(redis_server, UNIT_REDIS_DB, decode_responses=True) as client:
        yield client


@pytest.fixture
def services(redis: Redis) -> RealtimeServices:
    return RealtimeServices.build(get_config(), redis)


@pytest.fixture
async def live_redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """The live server's Redis DB (3), as the server sees it."""
    client: Redis = Redis.from_url(redis_server.url(db=3), decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


class SioClient:
    """python-socketio's AsyncClient, recording every event and connect_error it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, list[Any]]] = []
        self.connect_errors: list[Any] = []
        self._changed = asyncio.Event()
        self.sio.on("*", self._on_event)
        self.sio.on("connect_error", self._on_connect_error)

    async def _on_event(self, event: str, *args: Any) -> None:
        self.events.append((event, list(args)))
        self._changed.set()

    async def _on_connect_error(self, data: Any) -> None:
        self.connect_errors.append(data)

    @property
    def sid(self) -> str:
        sid = self.sio.get_sid("/")
        assert isinstance(sid, str)
        return sid

    async def connect(
        self,
        server: LiveServer,
        *,
        auth: Any = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        origin: str | None = TEST_ORIGIN,
    ) -> None:
        all_headers = dict(headers or {})
        if origin is not None:
            all_headers["Origin"] = origin
        if auth is None:
            auth = {"token": token if token is not None else make_token(user_claims())}
        await self.sio.connect(
            server.url, transports=["websocket"], auth=auth, headers=all_headers, wait_timeout=10
        )

    async def connect_error(self, server: LiveServer, **kwargs: Any) -> str:
        """Connect expecting a refusal; the connect_error message."""
        with pytest.raises(socketio.exceptions.ConnectionError):
            await self.connect(server, **kwargs)
        assert len(self.connect_errors) == 1, self.connect_errors
        message: str = self.connect_errors[0]["message"]
        return message

    async def call(self, event: str, *args: Any, within: float = 10) -> Any:
        return await self.sio.call(event, args[0] if len(args) == 1 else args, timeout=within)

    async def next_event(self, name: str, within: float = 5.0, *, after: int = 0) -> list[Any]:
        """The first `name` event received (skipping the first `after` of them)."""

        async def seen() -> list[Any]:
            while True:
                matching = [args for event, args in self.events if event == name]
                if len(matching) > after:
                    return matching[after]
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(seen(), within)

    def received(self, name: str) -> list[list[Any]]:
        return [args for event, args in self.events if event == name]

    async def close(self) -> None:
        await self.sio.disconnect()


@pytest.fixture
async def sio_client() -> AsyncIterator[Callable[[], SioClient]]:
    """Make socket.io clients; all are disconnected at the end of the test."""
    made: list[SioClient] = []

    def make() -> SioClient:
        client = SioClient()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """One sample's value in a Prometheus text exposition (0.0 if absent)."""
    wanted = name if not labels else name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


def ack_frames(frames: list[str]) -> dict[int, Any]:
    """ack id -> the single ack argument, from a list of frames like '4312[{...}]'."""
    acks: dict[int, Any] = {}
    for frame in frames:
        if frame.startswith("43"):
            digits = frame[2 : frame.index("[")]
            acks[int(digits)] = json.loads(frame[2 + len(digits) :])[0]
    return acks


def event_frames(frames: list[str], name: str | None = None) -> list[list[Any]]:
    events = [json.loads(frame[2:]) for frame in frames if frame.startswith("42")]
    return [e for e in events if name is None or e[0] == name]


@pytest.fixture(scope="session")
def flylive_uvicorn(flylive_server_factory: Callable[..., LiveServer]) -> LiveServer:
    """The real server on uvicorn (a second web process on the same Redis as `flylive_server`)."""
    return flylive_server_factory("uvicorn", FLYLIVE_TEST_EVENTS="1")


@pytest.fixture(scope="session")
def flylive_wsproto(flylive_server_factory: Callable[..., LiveServer]) -> LiveServer:
    """The real server on uvicorn with wsproto (WEB_WS=wsproto), on the same Redis."""
    return flylive_server_factory("uvicorn-wsproto", FLYLIVE_TEST_EVENTS="1")


@pytest.fixture(scope="session")
def flylive_granian(flylive_server_factory: Callable[..., LiveServer]) -> LiveServer:
    """The real server on granian (WEB_SERVER=granian), on the same Redis."""
    return flylive_server_factory("granian", FLYLIVE_TEST_EVENTS="1")


@pytest.fixture(params=["daphne", "uvicorn", "uvicorn-wsproto", "granian"])
def any_server(request: pytest.FixtureRequest) -> LiveServer:
    """Each test using this runs against every server and websocket implementation bin/web runs."""
    name = {"daphne": "flylive_server", "uvicorn": "flylive_uvicorn", "uvicorn-wsproto": "flylive_wsproto",
            "granian": "flylive_granian"}[request.param]
    server: LiveServer = request.getfixturevalue(name)
    return server


async def http_get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text(), dict(response.headers)


async def scrape(server: LiveServer) -> str:
    status, body, _ = await http_get(server.url + "/metrics/prometheus")
    assert status == 200, body
    return body


async def eventually(check: Callable[[], Any], within: float = 5.0) -> None:
    """Wait until `await check()` is truthy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.05)
