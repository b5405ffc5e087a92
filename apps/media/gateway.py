"""The web processes' way to the media service: an RPC client over the channel layer.

A room's media (its routers and everything on them) lives on one media node
(`manage.py runmedia`), never in a web process, so any web process can serve any
room. Web code calls the functions at the bottom of this module; they find the
room's node in Redis (`room:{roomId}:media_node`, placed by load on the first
`ensure_room_media`), send the request to that node's own channel and wait for
the answer.

Wire format (the node's side is `apps.media.rpc_server`):

request, sent with `channel_layer.send("media.rpc.<nodeId>", ...)`:
    {"type": "media.request", "id": "<uuid hex>", "method": "room.ensure",
     "params": {"roomId": "42"}, "reply_channel": "<this process's reply channel>", "sentAt": <s>}
reply:
    {"type": "media.reply", "id": "<same id>", "result": {...}}
 or {"type": "media.reply", "id": "<same id>", "error": {"message": "...", "client": true|false}}
A `client` error carries a contract text ("Transport not found") and is raised
as ClientError; any other error as MediaRpcError. A request whose
`reply_channel` is None is a notification.

Each node has its own channel because the channel layer is pub/sub: every
subscriber of a name gets every message. A client built without a registry (a
single-node test double) sends to the shared name "media.rpc".

Each event loop has one reply channel, read by one background task that hands
each reply to the request waiting for it. No answer within the timeout raises
MediaUnavailableError (the handler then answers `Internal server error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from typing import Any

from apps.media.node_registry import NodeRegistry, least_loaded, node_channel
from apps.realtime.event_registry import ClientError

logger = logging.getLogger(__name__)

MEDIA_RPC_CHANNEL = "media.rpc"
DEFAULT_TIMEOUT_SECONDS = 5.0


class MediaUnavailableError(RuntimeError):
    """No media service answered in time (none running, overloaded, or unreachable)."""


class MediaRpcError(RuntimeError):
    """The media service answered the request with an error."""


class MediaRpcClient:
    """Requests to media nodes over a channel layer, with one reply channel per loop."""

    def __init__(self, channel_layer: Any, *, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 registry: NodeRegistry | None = None) -> None:
        self.channel_layer = channel_layer
        self.timeout = timeout
        self.registry = registry
        self._reply_channel: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._start_lock = asyncio.Lock()

    async def call(self, method: str, params: dict[str, Any], *, channel: str = MEDIA_RPC_CHANNEL,
                   wait_seconds: float | None = None) -> dict[str, Any]:
        """Send one request and return its `result`; raise on error reply or timeout."""
        reply_channel = await self._ensure_reader()
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self.channel_layer.send(channel, {
                "type": "media.request", "id": request_id, "method": method, "params": params,
                "reply_channel": reply_channel, "sentAt": time.time(),
            })
            reply = await asyncio.wait_for(future, wait_seconds if wait_seconds is not None else self.timeout)
        except TimeoutError:
            raise MediaUnavailableError(f"media service did not answer {method} in time") from None
        finally:
            self._pending.pop(request_id, None)
        error = reply.get("error")
        if error is not None:
            message = str(error.get("message")) if isinstance(error, dict) else str(error)
            if isinstance(error, dict) and error.get("client"):
                raise ClientError(message)
            raise MediaRpcError(f"{method}: {message}")
        result = reply.get("result")
        return result if isinstance(result, dict) else {}

    async def notify(self, method: str, params: dict[str, Any], *, channel: str = MEDIA_RPC_CHANNEL) -> None:
        """Send a request that expects no reply."""
        await self.channel_layer.send(channel, {
            "type": "media.request", "id": uuid.uuid4().hex, "method": method, "params": params,
            "reply_channel": None, "sentAt": time.time(),
        })

    async def room_channel(self, room_id: str, *, place: bool = False) -> str | None:
        """The channel of the node hosting the room (placing it by load when `place`); None: no live node."""
        if self.registry is None:
            return MEDIA_RPC_CHANNEL
        node_id, nodes = await self.registry.room_node_and_live_nodes(room_id, int(time.time() * 1000))
        if node_id is not None and node_id in nodes:
            return nodes[node_id].channel or node_channel(node_id)
        if not place:
            return None
        candidate = least_loaded(nodes)
        if candidate is None:
            raise MediaUnavailableError("no live media node takes new rooms")
        holder = await self.registry.place_room(room_id, candidate, replacing_dead=node_id)
        if holder not in nodes:
            raise MediaUnavailableError(f"room {room_id} is placed on a dead media node")
        return nodes[holder].channel or node_channel(holder)

    async def call_room(self, room_id: str, method: str, params: dict[str, Any], *,
                        missing: str | None, place: bool = False) -> dict[str, Any] | None:
        """Call `method` on the room's node.

        No live node hosts the room: raise ClientError(missing), or return None when `missing` is None.
        """
        channel = await self.room_channel(room_id, place=place)
        if channel is None:
            if missing is None:
                return None
            raise ClientError(missing)
        return await self.call(method, {"roomId": room_id, **params}, channel=channel)

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
    """The running loop's client, on the project's default channel layer and Redis."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        from channels.layers import get_channel_layer

        from apps.realtime.loop_services import get_redis

        registry = NodeRegistry(get_redis())
        client = _clients[loop] = MediaRpcClient(get_channel_layer(), registry=registry)
    return client


def use_media_rpc_client(client: MediaRpcClient) -> None:
    """Make `client` the running loop's client (tests, or a process with its own layer)."""
    _clients[asyncio.get_running_loop()] = client


# --- the service functions web code calls --------------------------------------------------------

async def ensure_room_media(room_id: str) -> dict[str, Any]:
    """Make sure the room has its media (placed on the least loaded node); return its RTP capabilities.

    The dict is mediasoup's `router.rtpCapabilities`, as `room:join` acks it.
    Raises MediaUnavailableError when no media node answers in time, MediaRpcError
    when it answers with an error (e.g. every worker is at capacity).
    """
    result = await media_rpc_client().call_room(room_id, "room.ensure", {}, missing=None, place=True)
    capabilities = (result or {}).get("rtpCapabilities")
    if not isinstance(capabilities, dict):
        raise MediaRpcError("room.ensure: reply has no rtpCapabilities")
    return capabilities


async def notify_room_closed(room_id: str, reason: str) -> None:
    """The room was closed (rooms app): tear its media down. Fire and forget."""
    client = media_rpc_client()
    channel = await client.room_channel(room_id)
    if channel is not None:
        await client.notify("room.close", {"roomId": room_id, "reason": reason}, channel=channel)


async def release_socket_media(room_id: str, sid: str) -> None:
    """Close every transport (so producers and consumers) the socket made in the room.

    For room:leave (the rooms app calls it) and disconnect (media's own hook).
    """
    await media_rpc_client().call_room(room_id, "socket.release", {"sid": sid}, missing=None)


async def create_transport(room_id: str, sid: str, user_id: int | float, direction: str) -> dict[str, Any]:
    """transport:create: `{id, iceParameters, iceCandidates, dtlsParameters}`."""
    result = await media_rpc_client().call_room(
        room_id, "transport.create", {"sid": sid, "userId": user_id, "type": direction},
        missing="Room not found")
    return result or {}


async def connect_transport(room_id: str, sid: str, transport_id: str,
                            dtls_parameters: dict[str, Any]) -> None:
    await media_rpc_client().call_room(
        room_id, "transport.connect",
        {"sid": sid, "transportId": transport_id, "dtlsParameters": dtls_parameters},
        missing="Transport not found")


async def produce(room_id: str, sid: str, user_id: int | float, transport_id: str,
                  rtp_parameters: dict[str, Any]) -> str:
    """audio:produce: the new producer's id (announced to the room by the media node)."""
    result = await media_rpc_client().call_room(
        room_id, "producer.create",
        {"sid": sid, "userId": user_id, "transportId": transport_id, "kind": "audio",
         "rtpParameters": rtp_parameters},
        missing="Transport not found")
    return str((result or {})["id"])


async def consume(room_id: str, sid: str, transport_id: str, producer_id: str,
                  rtp_capabilities: dict[str, Any]) -> dict[str, Any]:
    """audio:consume: `{id, producerId, kind, rtpParameters}` of a paused consumer."""
    result = await media_rpc_client().call_room(
        room_id, "consumer.create",
        {"sid": sid, "transportId": transport_id, "producerId": producer_id,
         "rtpCapabilities": rtp_capabilities},
        missing="Room not found")
    return result or {}


async def resume_consumer(room_id: str, sid: str, consumer_id: str) -> bool:
    """consumer:resume: True when deferred until its speaker is among the forwarded ones."""
    result = await media_rpc_client().call_room(
        room_id, "consumer.resume", {"sid": sid, "consumerId": consumer_id}, missing="Room not found")
    return bool((result or {}).get("deferred"))


async def set_producer_paused(room_id: str, sid: str, producer_id: str, paused: bool) -> None:
    """audio:selfMute / audio:selfUnmute of the socket's own producer."""
    await media_rpc_client().call_room(
        room_id, "producer.setPaused", {"sid": sid, "producerId": producer_id, "paused": paused},
        missing="Producer not found")


async def set_user_producers_paused(room_id: str, user_id: int | float, paused: bool) -> int:
    """seat:mute / seat:unmute by an owner or admin: pause or resume the user's producers; how many."""
    result = await media_rpc_client().call_room(
        room_id, "user.setProducersPaused", {"userId": user_id, "paused": paused}, missing=None)
    return int((result or {}).get("count", 0))


async def close_user_producers(room_id: str, user_id: int | float) -> int:
    """seat:lock on an occupied seat: close the kicked user's producers (each announced with
    audio:producerClosed); how many."""
    result = await media_rpc_client().call_room(room_id, "user.closeProducers", {"userId": user_id},
                                                missing=None)
    return int((result or {}).get("count", 0))
