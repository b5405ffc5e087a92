"""The media node's side of the RPC over the channel layer (the client is `apps.media.gateway`;
the methods and envelopes are `apps.media.rpc_contract`).

- A request is validated against its method's request model (`Invalid payload` otherwise) and
  answered with its response model; a ClientError carries its contract text back as is, a
  MediaCapacityError says `Internal server error` with reason "capacity", anything else is a
  bug: logged, answered `Internal server error`.
- The caller's budget (`budgetMs`, relative: clocks differ across hosts) becomes a local
  deadline on receipt; a request still waiting for its turn when that passes is dropped, not
  executed: its caller has given up and would never learn what it did.
- At most `max_concurrent` requests run at once; the rest wait their turn (and may expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from apps.media import rpc_contract as rpc
from apps.media.rpc_contract import RequestT, ResponseT, RpcMethod
from apps.realtime.event_registry import ClientError

logger = logging.getLogger(__name__)

RpcHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
# Each request costs a few worker-channel round trips; running a burst of thousands at once only
# makes every one of them late (so expired) and grows memory. Measured load stays far below this.
DEFAULT_MAX_CONCURRENT_REQUESTS = 64


class MediaCapacityError(RuntimeError):
    """The node cannot take the room: every worker is at MAX_ROOMS_PER_WORKER routers."""


class HandlerTable:
    """The node's implementation of each contract method, looked up by the request's name."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[RpcMethod[Any, Any], Callable[[Any], Awaitable[Any]]]] = {}

    def add(self, method: RpcMethod[RequestT, ResponseT],
            handler: Callable[[RequestT], Awaitable[ResponseT]]) -> None:
        self._handlers[method.name] = (method, handler)

    def names(self) -> set[str]:
        return set(self._handlers)

    async def __call__(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        entry = self._handlers.get(name)
        if entry is None:
            raise ClientError("Invalid payload")
        method, handler = entry
        try:
            request = method.request.model_validate(params)
        except ValidationError:
            raise ClientError("Invalid payload") from None
        response = await handler(request)
        result: dict[str, Any] = response.model_dump(mode="json", exclude_none=True)
        return result


class MediaRpcServer:
    def __init__(self, channel_layer: Any, channel: str, handler: RpcHandler, *,
                 max_concurrent: int = DEFAULT_MAX_CONCURRENT_REQUESTS) -> None:
        self.channel_layer = channel_layer
        self.channel = channel
        self.handler = handler
        self._turns = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self.expired = 0  # requests dropped because their caller had given up (tests, logs)

    async def start(self) -> None:
        """Subscribe (before returning, so no request sent after this is missed) and serve."""
        # The pub/sub layer subscribes lazily on receive(); subscribe now so the heartbeat never
        # advertises a channel nobody listens on yet.
        subscribe = getattr(self.channel_layer, "_subscribe_to_channel", None)
        if subscribe is not None:
            await subscribe(self.channel)
        self._reader = asyncio.create_task(self._serve(), name=f"rpc:{self.channel}")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self) -> None:
        while True:
            try:
                message = await self.channel_layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("media RPC channel %s failed; retrying", self.channel)
                await asyncio.sleep(0.5)
                continue
            try:
                request = rpc.RpcRequest.model_validate(message)
            except ValidationError:
                logger.warning("malformed media request dropped: %.200r", message)
                continue
            # The deadline starts now, on this host's clock: the caller's budget minus nothing else.
            deadline = time.monotonic() + request.budgetMs / 1000
            task = asyncio.create_task(self._answer(request, deadline))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: rpc.RpcRequest, deadline: float) -> None:
        async with self._turns:
            if time.monotonic() >= deadline:
                self.expired += 1
                logger.info("media RPC %s dropped: its caller gave up before its turn", request.method)
                return
            reply = await self._execute(request)
        if request.reply_channel:
            try:
                await self.channel_layer.send(request.reply_channel, reply.model_dump(exclude_none=True))
            except Exception:
                logger.exception("could not send the reply to %s", request.method)

    async def _execute(self, request: rpc.RpcRequest) -> rpc.RpcReply:
        started = time.monotonic()
        try:
            result = await self.handler(request.method, request.params)
            reply = rpc.RpcReply(id=request.id, result=result or {})
        except ClientError as exc:
            reply = rpc.RpcReply(id=request.id, error=rpc.RpcError(message=exc.message, client=True))
        except MediaCapacityError as exc:
            logger.warning("media RPC %s refused at capacity: %s", request.method, exc)
            reply = rpc.RpcReply(id=request.id, error=rpc.RpcError(
                message="Internal server error", reason=rpc.CAPACITY_REASON))
        except Exception:
            logger.exception("media RPC %s failed", request.method)
            reply = rpc.RpcReply(id=request.id, error=rpc.RpcError(message="Internal server error"))
        logger.debug("media RPC %s took %.1f ms", request.method, (time.monotonic() - started) * 1000)
        return reply
