"""Laravel's gift endpoint (`POST /api/v1/internal/gifts/batch`, contract 8.2) as a real HTTP
server that a test scripts: accept, reject some transactions, answer an error status, answer
too late (a timeout for the client), or be down (`stop()`).

    async with GiftLaravel() as laravel:
        laravel.reject = lambda tx: (4001, "Insufficient balance") if tx["quantity"] == 7 else None
        laravel.delay_seconds = 3.0        # every answer waits (the client may give up first)
        laravel.status = 503               # answers 503 until set back to 200
        ...
        laravel.accepted                   # tx id -> times it was accepted in an answer that was delivered

A transaction counts as accepted only when the answer that accepts it reached a client still
waiting for it (one that gave up or died meanwhile never learnt of it): what "sent twice in
batches Laravel accepted" is checked against.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.support.processes import free_port

BATCH_PATH = "/api/v1/internal/gifts/batch"
Reject = Callable[[dict[str, Any]], tuple[int, str] | None]


class GiftLaravel:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.status = 200
        self.delay_seconds = 0.0
        self.body_without_failed = False
        self.reject: Reject = lambda tx: None
        self.batches: list[list[dict[str, Any]]] = []  # every batch received, in order
        self.headers: list[dict[str, str]] = []
        self.accepted: collections.Counter[str] = collections.Counter()
        self.rejected: dict[str, tuple[int, str]] = {}
        self.accepted_at: dict[str, float] = {}  # tx id -> time.time() of its first delivered acceptance
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent_ids(self) -> list[str]:
        return [tx["transaction_id"] for batch in self.batches for tx in batch]

    async def wait_for_batches(self, count: int, within: float = 10.0) -> None:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.batches) >= count)

    async def wait_until(self, check: Callable[[], bool], within: float = 20.0) -> None:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(check)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        batch = body["transactions"]
        self.batches.append(batch)
        self.headers.append(dict(request.headers))
        async with self._arrived:
            self._arrived.notify_all()
        status, delay, without_failed = self.status, self.delay_seconds, self.body_without_failed
        if delay:
            await asyncio.sleep(delay)
        if status != 200:
            return web.json_response({"message": "unavailable"}, status=status)
        if without_failed:
            return web.json_response({"processed_count": len(batch)})
        failed = []
        for tx in batch:
            verdict = self.reject(tx)
            if verdict is not None:
                failed.append({"transaction_id": tx["transaction_id"], "code": verdict[0],
                               "reason": verdict[1]})
        transport = request.transport
        if transport is not None and not transport.is_closing():
            failed_ids = {f["transaction_id"] for f in failed}
            for tx in batch:
                if tx["transaction_id"] in failed_ids:
                    self.rejected[tx["transaction_id"]] = self.reject(tx) or (0, "")
                else:
                    self.accepted[tx["transaction_id"]] += 1
                    self.accepted_at.setdefault(tx["transaction_id"], time.time())
        async with self._arrived:
            self._arrived.notify_all()
        return web.json_response({"processed_count": len(batch) - len(failed), "failed": failed})

    async def _other(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"owner_id": 1})  # room owner lookups and status calls

    async def start(self) -> GiftLaravel:
        app = web.Application()
        app.router.add_post(BATCH_PATH, self._handle)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GiftLaravel:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
