"""A real HTTP server standing in for Laravel's internal API in tests.

It records every request (method, path, headers, JSON body) and answers from a
per-path table (`fake.respond("/api/v1/internal/rooms/1", 200, {...})`); paths
without an entry get 200 `{}`. Use it as an async context manager:

    async with FakeLaravel() as laravel:
        config LARAVEL_API_URL = laravel.url
        ...
        assert laravel.requests_to("/api/v1/internal/rooms/42/status")[0].json == {...}
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.support.processes import free_port


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    json: Any  # None when the body was empty or not JSON
    body: bytes
    raw_path: str = ""  # as sent, percent-encoding and all (`path` is decoded)


@dataclass
class CannedResponse:
    status: int = 200
    body: Any = field(default_factory=dict)
    delay_seconds: float = 0.0


class FakeLaravel:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port()
        self.requests: list[RecordedRequest] = []
        self._responses: dict[tuple[str | None, str], CannedResponse] = {}
        self.default_body: Any = {}  # the 200 body of paths without an entry
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def respond(self, path: str, status: int = 200, body: Any = None, *, method: str | None = None,
                delay_seconds: float = 0.0) -> None:
        """Answer `path` (optionally only for `method`) with `status` and JSON `body`."""
        self._responses[(method, path)] = CannedResponse(status, {} if body is None else body, delay_seconds)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    async def wait_for(self, path: str, count: int = 1, *, within: float = 5.0) -> list[RecordedRequest]:
        """Wait (at most `within` seconds) until `count` requests reached `path`; return them."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests_to(path)) >= count)
        return self.requests_to(path)

    def clear(self) -> None:
        self.requests.clear()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        headers = dict(request.headers)
        self.requests.append(RecordedRequest(request.method, request.path, headers, parsed, body,
                                             request.raw_path))
        async with self._arrived:
            self._arrived.notify_all()
        canned = (self._responses.get((request.method, request.path))
                  or self._responses.get((None, request.path)) or CannedResponse(body=self.default_body))
        if canned.delay_seconds:
            await asyncio.sleep(canned.delay_seconds)
        return web.json_response(canned.body, status=canned.status)

    async def start(self) -> FakeLaravel:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLaravel:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
