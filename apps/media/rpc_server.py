"""The media node's side of the RPC over the channel layer (the client is `apps.media.gateway`).

request  {"type": "media.request", "id", "method", "params", "reply_channel"}  (reply_channel None: no reply)
reply    {"type": "media.reply", "id", "result": {...}}
      or {"type": "media.reply", "id", "error": {"message": text, "client": bool}}
`client: true` carries a contract error text (ClientError) back to the web process as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from apps.realtime.event_registry import ClientError

logger = logging.getLogger(__name__)

RpcHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
# A request older than this was already given up by its caller: don't act on it.
STALE_REQUEST_SECONDS = 30.0


class MediaRpcServer:
    def __init__(self, channel_layer: Any, channel: str, handler: RpcHandler) -> None:
        self.channel_layer = channel_layer
        self.channel = channel
        self.handler = handler
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None

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
            if not isinstance(message, dict) or message.get("type") != "media.request":
                continue
            task = asyncio.create_task(self._answer(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, message: dict[str, Any]) -> None:
        method = str(message.get("method"))
        params = message.get("params")
        reply_channel = message.get("reply_channel")
        reply: dict[str, Any] = {"type": "media.reply", "id": message.get("id")}
        sent_at = message.get("sentAt")
        if isinstance(sent_at, int | float) and time.time() - sent_at > STALE_REQUEST_SECONDS:
            return
        started = time.monotonic()
        try:
            if not isinstance(params, dict):
                raise ClientError("Invalid payload")
            result = await self.handler(method, params)
            reply["result"] = result or {}
        except ClientError as exc:
            reply["error"] = {"message": exc.message, "client": True}
        except Exception:
            logger.exception("media RPC %s failed", method)
            reply["error"] = {"message": "Internal server error", "client": False}
        logger.debug("media RPC %s took %.1f ms", method, (time.monotonic() - started) * 1000)
        if reply_channel:
            try:
                await self.channel_layer.send(reply_channel, reply)
            except Exception:
                logger.exception("could not send the reply to %s", method)
