"""The web processes' way to the media service: an RPC client over the channel layer.

A room's media (its mediasoup router and everything on it) lives in the media
service (`manage.py runmedia`), never in a web process. Web code asks it for
things with `await ensure_room_media(room_id)` and friends; this module sends the
request and waits for the answer.

Wire format (the media service implements the other side):

request, sent with `channel_layer.send("media.rpc", ...)`:
    {"type": "media.request", "id": "<uuid hex>", "method": "room.ensure",
     "params": {"roomId": "42"}, "reply_channel": "<this process's reply channel>"}
reply, sent by the media service with `channel_layer.send(reply_channel, ...)`:
    {"type": "media.reply", "id": "<same id>", "result": {...}}
 or {"type": "media.reply", "id": "<same id>", "error": {"message": "..."}}
notification (no reply expected): a request whose "reply_channel" is None.

Methods used here:
- "room.ensure" {"roomId"} -> {"rtpCapabilities": {...}}: get or create the room's
  router (coalesced, on the least loaded node/worker) and return its capabilities.
- "room.close" {"roomId", "reason"} (notification): the room was closed; tear its media down.

Each event loop has one reply channel, read by one background task that hands
each reply to the request waiting for it. No answer within the timeout raises
MediaUnavailableError (room:join then answers `{"error": "Internal server error"}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from typing import Any

logger = logging.getLogger(__name__)

MEDIA_RPC_CHANNEL = "media.rpc"
DEFAULT_TIMEOUT_SECONDS = 5.0


class MediaUnavailableError(RuntimeError):
    """No media service answered in time (none running, overloaded, or unreachable)."""


class MediaRpcError(RuntimeError):
    """The media service answered the request with an error."""


class MediaRpcClient:
    """Requests to the media service over a channel layer, with one reply channel per loop."""

    def __init__(self, channel_layer: Any, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.channel_layer = channel_layer
        self.timeout = timeout
        self._reply_channel: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._start_lock = asyncio.Lock()

    async def call(self, method: str, params: dict[str, Any], *,
                   wait_seconds: float | None = None) -> dict[str, Any]:
        """Send one request and return its `result`; raise on error reply or timeout."""
        reply_channel = await self._ensure_reader()
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self.channel_layer.send(MEDIA_RPC_CHANNEL, {
                "type": "media.request", "id": request_id, "method": method, "params": params,
                "reply_channel": reply_channel,
            })
            reply = await asyncio.wait_for(future, wait_seconds if wait_seconds is not None else self.timeout)
        except TimeoutError:
            raise MediaUnavailableError(f"media service did not answer {method} in time") from None
        finally:
            self._pending.pop(request_id, None)
        error = reply.get("error")
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise MediaRpcError(f"{method}: {message}")
        result = reply.get("result")
        return result if isinstance(result, dict) else {}

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Send a request that expects no reply."""
        await self.channel_layer.send(MEDIA_RPC_CHANNEL, {
            "type": "media.request", "id": uuid.uuid4().hex, "method": method, "params": params,
            "reply_channel": None,
        })

    async def aclose(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._reader = None
        self._reply_channel = None
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    async def _ensure_reader(self) -> str:
        async with self._start_lock:
            if self._reply_channel is None or self._reader is None or self._reader.done():
                # new_channel subscribes before returning, so no reply can be missed.
                self._reply_channel = await self.channel_layer.new_channel()
                self._reader = asyncio.create_task(self._read_replies(self._reply_channel),
                                                   name="media-rpc-replies")
            return self._reply_channel

    async def _read_replies(self, channel: str) -> None:
        while True:
            try:
                message = await self.channel_layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("media RPC reply channel failed; restarting it on the next call")
                return
            future = self._pending.get(str(message.get("id")))
            if future is not None and not future.done():
                future.set_result(message)


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaRpcClient] = weakref.WeakKeyDictionary()


def media_rpc_client() -> MediaRpcClient:
    """The running loop's client, on the project's default channel layer."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        from channels.layers import get_channel_layer

        client = _clients[loop] = MediaRpcClient(get_channel_layer())
    return client


def use_media_rpc_client(client: MediaRpcClient) -> None:
    """Make `client` the running loop's client (tests, or a process with its own layer)."""
    _clients[asyncio.get_running_loop()] = client


async def ensure_room_media(room_id: str) -> dict[str, Any]:
    """Make sure the room has its media (router) and return the router's RTP capabilities.

    The dict is mediasoup's `router.rtpCapabilities` (`{"codecs": [...],
    "headerExtensions": [...]}`), as `room:join` acks it. Raises
    MediaUnavailableError when no media service answers in time, MediaRpcError when
    it answers with an error (e.g. every worker is at capacity).
    """
    result = await media_rpc_client().call("room.ensure", {"roomId": room_id})
    capabilities = result.get("rtpCapabilities")
    if not isinstance(capabilities, dict):
        raise MediaRpcError("room.ensure: reply has no rtpCapabilities")
    return capabilities


async def notify_room_closed(room_id: str, reason: str) -> None:
    """Tell the media service a room was closed so it can tear the room's media down."""
    await media_rpc_client().notify("room.close", {"roomId": room_id, "reason": reason})
