"""The web processes' way to the media plane: an RPC client over the channel layer.

A room's media (its routers and everything on them) lives on one media node
(`manage.py runmedia`), never in a web process, so any web process can serve any
room. Web code calls the functions at the bottom of this module; they find the
room's node in Redis (`room:{roomId}:media_node`, placed by load on the room's
first `transport:create`), send the request to that node's own channel and wait
for the answer. The methods and their shapes are `apps.media.rpc_contract`.

`room:join` never reaches a node: its `rtpCapabilities` follow from the configured
codecs (`router_rtp_capabilities`), so joins cannot fill the media plane.

Each node has its own channel because the channel layer is pub/sub: every
subscriber of a name gets every message. A client built without a registry (a
single-node test double) sends to the shared name "media.rpc".

A room across nodes (span_links.py): a listener's transport may live on another node than the
room's. Its `transport.create` answer names that node (`nodeId`, never shown to the client); the
requests about that transport and its consumers (`transport.connect`, `consumer.create`,
`consumer.resume`) then go straight there. The client remembers these routes per socket (a socket's
events all reach the process and loop that serve it) until the socket's release in the room, which
goes to the room's node: that node releases the socket on the others too.

Each event loop has one reply channel, read by one background task that hands
each reply to the request waiting for it. No answer within the timeout raises
MediaUnavailableError (the handler then answers `Internal server error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import time
import uuid
import weakref
from collections.abc import Iterator
from typing import Any, Literal, cast

import orjson
from pydantic import ValidationError

from apps.media import rpc_contract as rpc
from apps.media.mediasoup import ortc
from apps.media.node_registry import NodeRegistry, least_loaded, node_channel
from apps.media.rpc_contract import RequestT, ResponseT, RoomRequestT, RpcMethod
from apps.media.worker_pool import MEDIA_CODECS
from apps.realtime.event_registry import ClientError
from flylive.metrics import (
    MEDIA_CAPACITY_REFUSALS,
    MEDIASOUP_CONSUMERS_CREATED,
    MEDIASOUP_PRODUCERS_CREATED,
    MEDIASOUP_TRANSPORTS_CREATED,
)

logger = logging.getLogger(__name__)

MEDIA_RPC_CHANNEL = "media.rpc"
DEFAULT_TIMEOUT_SECONDS = 5.0
# Notifications have nobody waiting; this only bounds how late a node may still act on one.
NOTIFY_BUDGET_SECONDS = 30.0
# What a client sees when the media plane cannot take the room (contract 2.1 / 2.3).
CAPACITY_ERROR = "Internal server error"


class MediaUnavailableError(RuntimeError):
    """No media service answered in time (none running, overloaded, or unreachable)."""


class MediaRpcError(RuntimeError):
    """The media service answered the request with an error."""


@functools.cache
def _router_rtp_capabilities() -> dict[str, Any]:
    # The same function a router runs on creation (worker.create_router), on the same codecs.
    return dict(ortc.generate_router_rtp_capabilities(copy.deepcopy(MEDIA_CODECS)))  # type: ignore[arg-type]


@functools.cache
def _router_rtp_capabilities_json() -> bytes:
    return orjson.dumps(_router_rtp_capabilities())


def router_rtp_capabilities() -> dict[str, Any]:
    """What every router of this server answers as `rtpCapabilities` (the `room:join` ack's), computed
    once from MEDIA_CODECS without a media node. A fresh copy: callers may keep or change it (made
    by parsing the cached JSON: a `deepcopy` per join was 2% of the web CPU while rooms filled)."""
    return cast(dict[str, Any], orjson.loads(_router_rtp_capabilities_json()))


async def rtp_capabilities_for_join(room_id: str) -> dict[str, Any]:
    """RoomService's `ensure_media`: the join ack's capabilities; no router, no media node."""
    return router_rtp_capabilities()


def _refuse_for_capacity(reason: str, detail: str, room_id: str) -> ClientError:
    MEDIA_CAPACITY_REFUSALS.labels(reason=reason).inc()
    logger.warning("media capacity: room %s refused (%s): %s", room_id, reason, detail)
    return ClientError(CAPACITY_ERROR, code="media_capacity")


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
        # sid -> futures of that socket's requests still waiting for their answer.
        self._socket_calls: dict[str, set[asyncio.Future[None]]] = {}
        # (room id, sid) -> {transport or consumer id -> node id}: the socket's media on a node other
        # than the room's (a room across nodes).
        self._routes: dict[tuple[str, str], dict[str, str]] = {}

    async def request(self, method: RpcMethod[RequestT, ResponseT], params: RequestT, *,
                      channel: str = MEDIA_RPC_CHANNEL, wait_seconds: float | None = None) -> ResponseT:
        """Send one request and return its validated response; raise on an error reply or timeout."""
        timeout = wait_seconds if wait_seconds is not None else self.timeout
        reply_channel = await self._ensure_reader()
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self.channel_layer.send(channel, self._envelope(request_id, method, params, reply_channel,
                                                                  timeout))
            raw = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise MediaUnavailableError(f"media service did not answer {method.name} in time") from None
        finally:
            self._pending.pop(request_id, None)
        try:
            reply = rpc.RpcReply.model_validate(raw)
        except ValidationError:
            raise MediaRpcError(f"{method.name}: malformed reply") from None
        if reply.error is not None:
            if reply.error.client:
                raise ClientError(reply.error.message)
            if reply.error.reason == rpc.CAPACITY_REASON:
                raise _refuse_for_capacity("workers_full", reply.error.message,
                                           str(getattr(params, "roomId", "")))
            raise MediaRpcError(f"{method.name}: {reply.error.message}")
        try:
            return method.response.model_validate(reply.result or {})
        except ValidationError as exc:
            raise MediaRpcError(f"{method.name}: reply does not match the contract: {exc}") from None

    async def notify(self, method: RpcMethod[RequestT, Any], params: RequestT, *,
                     channel: str = MEDIA_RPC_CHANNEL) -> None:
        """Send a request that expects no reply."""
        await self.channel_layer.send(
            channel, self._envelope(uuid.uuid4().hex, method, params, None, NOTIFY_BUDGET_SECONDS))

    @staticmethod
    def _envelope(request_id: str, method: RpcMethod[RequestT, Any], params: RequestT,
                  reply_channel: str | None, budget_seconds: float) -> dict[str, Any]:
        return rpc.RpcRequest(id=request_id, method=method.name, params=params.model_dump(mode="json"),
                              reply_channel=reply_channel, budgetMs=int(budget_seconds * 1000)).model_dump()

    async def room_channel(self, room_id: str, *, place: bool = False) -> str | None:
        """The channel of the node hosting the room (placing it by load when `place`); None: no live node.

        Every lookup also renews the room's node mapping, so a room older than its TTL keeps it."""
        if self.registry is None:
            return MEDIA_RPC_CHANNEL
        node_id, nodes = await self.registry.room_node_and_live_nodes(room_id, int(time.time() * 1000))
        if node_id is not None and node_id in nodes:
            return nodes[node_id].channel or node_channel(node_id)
        if not place:
            return None
        candidate = least_loaded(nodes)
        if candidate is None:
            raise _refuse_for_capacity("no_node", f"{len(nodes)} live node(s), none takes new rooms", room_id)
        holder = await self.registry.place_room(room_id, candidate, replacing_dead=node_id)
        if holder not in nodes:
            raise MediaUnavailableError(f"room {room_id} is placed on a dead media node")
        return nodes[holder].channel or node_channel(holder)

    async def request_room(self, method: RpcMethod[RoomRequestT, ResponseT],
                           params: RoomRequestT) -> ResponseT | None:
        """`method` on the room's node (`params.roomId`).

        No live node hosts the room: raise ClientError(method.missing), or return None when it has none.
        """
        # A socket's requests are tracked so that its release waits for them (release_socket).
        tracked = isinstance(params, rpc.SocketRequest) and method is not rpc.SOCKET_RELEASE
        sid = params.sid if isinstance(params, rpc.SocketRequest) and tracked else None
        with self._socket_call(sid):
            channel = await self.room_channel(params.roomId, place=method.places_room)
            if channel is None:
                if method.missing is None:
                    return None
                raise ClientError(method.missing)
            return await self.request(method, params, channel=channel)

    def route(self, room_id: str, sid: str, object_id: str, node_id: str) -> None:
        """Requests of the socket about `object_id` (a transport or consumer) go to `node_id`."""
        self._routes.setdefault((room_id, sid), {})[object_id] = node_id

    def routed_node(self, room_id: str, sid: str, object_id: str) -> str | None:
        return self._routes.get((room_id, sid), {}).get(object_id)

    async def request_routed(
        self, method: RpcMethod[rpc.SocketRequestT, ResponseT], params: rpc.SocketRequestT, object_id: str
    ) -> tuple[ResponseT | None, str | None]:
        """`method` on the node holding the socket's `object_id` when that is not the room's node (with
        that node's id), else on the room's node. A routed node no longer live: ClientError(missing)."""
        node_id = self.routed_node(params.roomId, params.sid, object_id)
        if node_id is None or self.registry is None:
            return await self.request_room(method, params), None
        with self._socket_call(params.sid):
            nodes = await self.registry.live_nodes(int(time.time() * 1000))
            info = nodes.get(node_id)
            if info is None:
                raise ClientError(method.missing or "Room not found")
            return await self.request(method, params, channel=info.channel or node_channel(node_id)), node_id

    @contextlib.contextmanager
    def _socket_call(self, sid: str | None) -> Iterator[None]:
        if sid is None:
            yield
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        calls = self._socket_calls.setdefault(sid, set())
        calls.add(done)
        try:
            yield
        finally:
            done.set_result(None)
            calls.discard(done)
            if not calls:
                self._socket_calls.pop(sid, None)

    async def release_socket(self, room_id: str, sid: str, epoch: int) -> None:
        """Close what the socket made in the room, after its requests still in flight were answered
        (or timed out): a release that overtook a transport:create would leave that transport behind."""
        in_flight = list(self._socket_calls.get(sid, ()))
        if in_flight:
            await asyncio.wait(in_flight, timeout=self.timeout)
        self._routes.pop((room_id, sid), None)
        await self.request_room(rpc.SOCKET_RELEASE, rpc.SocketRequest(roomId=room_id, sid=sid, epoch=epoch))

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
            if not isinstance(message, dict):
                continue
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

async def notify_room_closed(room_id: str, reason: str) -> None:
    """The room was closed (rooms app): tear everything of its media down. Fire and forget."""
    client = media_rpc_client()
    channel = await client.room_channel(room_id)
    if channel is not None:
        await client.notify(rpc.ROOM_CLOSE, rpc.RoomCloseRequest(roomId=room_id, reason=reason),
                            channel=channel)


async def keep_room_media(room_ids: list[str]) -> None:
    """The rooms are alive (the auto-close pass found them so): their media stays where it is."""
    registry = media_rpc_client().registry
    if registry is not None:
        await registry.keep_rooms_placed(room_ids)


async def release_room_media(room_id: str) -> None:
    """The room's last member left: close its routers now (its Redis state waits for auto-close).

    The node keeps them if media was made in the room again meanwhile (a new member's transport)."""
    client = media_rpc_client()
    channel = await client.room_channel(room_id)
    if channel is not None:
        await client.notify(rpc.ROOM_RELEASE, rpc.RoomRequest(roomId=room_id), channel=channel)


async def release_socket_media(room_id: str, sid: str, epoch: int = 0) -> None:
    """Close every transport (so producers and consumers) the socket made in the room up to `epoch`.

    For room:leave, joining another room, and disconnect (media's own hooks, events.py)."""
    await media_rpc_client().release_socket(room_id, sid, epoch)


async def create_transport(room_id: str, sid: str, user_id: int | float,
                           direction: Literal["producer", "consumer"], *,
                           epoch: int = 0) -> dict[str, Any]:
    """transport:create: `{id, iceParameters, iceCandidates, dtlsParameters}` (places the room if new).
    A listener's transport made on another node than the room's is remembered with its node."""
    client = media_rpc_client()
    created = await client.request_room(rpc.TRANSPORT_CREATE, rpc.TransportCreateRequest(
        roomId=room_id, sid=sid, epoch=epoch, userId=user_id, type=direction))
    assert created is not None  # `missing` is set: no node raised ClientError
    if created.nodeId is not None:
        client.route(room_id, sid, created.id, created.nodeId)
    MEDIASOUP_TRANSPORTS_CREATED.labels(direction=direction).inc()
    return created.model_dump(mode="json", exclude={"nodeId"})


async def connect_transport(room_id: str, sid: str, transport_id: str, dtls_parameters: dict[str, Any], *,
                            epoch: int = 0) -> None:
    await media_rpc_client().request_routed(rpc.TRANSPORT_CONNECT, rpc.TransportConnectRequest(
        roomId=room_id, sid=sid, epoch=epoch, transportId=transport_id, dtlsParameters=dtls_parameters),
        transport_id)


async def produce(room_id: str, sid: str, user_id: int | float, transport_id: str,
                  rtp_parameters: dict[str, Any], *, epoch: int = 0) -> str:
    """audio:produce: the new producer's id (announced to the room by the media node)."""
    created = await media_rpc_client().request_room(rpc.PRODUCER_CREATE, rpc.ProducerCreateRequest(
        roomId=room_id, sid=sid, epoch=epoch, userId=user_id, transportId=transport_id, kind="audio",
        rtpParameters=rtp_parameters))
    assert created is not None
    MEDIASOUP_PRODUCERS_CREATED.inc()
    return created.id


async def consume(room_id: str, sid: str, transport_id: str, producer_id: str,
                  rtp_capabilities: dict[str, Any], *, epoch: int = 0) -> dict[str, Any]:
    """audio:consume: `{id, producerId, kind, rtpParameters}` of a paused consumer."""
    client = media_rpc_client()
    created, node_id = await client.request_routed(rpc.CONSUMER_CREATE, rpc.ConsumerCreateRequest(
        roomId=room_id, sid=sid, epoch=epoch, transportId=transport_id, producerId=producer_id,
        rtpCapabilities=rtp_capabilities), transport_id)
    assert created is not None
    if node_id is not None:
        client.route(room_id, sid, created.id, node_id)
    MEDIASOUP_CONSUMERS_CREATED.inc()
    return created.model_dump(mode="json")


async def resume_consumer(room_id: str, sid: str, consumer_id: str, *, epoch: int = 0) -> bool:
    """consumer:resume: True when deferred until its speaker is among the forwarded ones."""
    resumed, _ = await media_rpc_client().request_routed(rpc.CONSUMER_RESUME, rpc.ConsumerResumeRequest(
        roomId=room_id, sid=sid, epoch=epoch, consumerId=consumer_id), consumer_id)
    return resumed is not None and resumed.deferred


async def set_producer_paused(room_id: str, sid: str, producer_id: str, paused: bool, *,
                              epoch: int = 0) -> None:
    """audio:selfMute / audio:selfUnmute of the socket's own producer."""
    await media_rpc_client().request_room(rpc.PRODUCER_SET_PAUSED, rpc.ProducerSetPausedRequest(
        roomId=room_id, sid=sid, epoch=epoch, producerId=producer_id, paused=paused))


async def set_user_producers_paused(room_id: str, user_id: int | float, paused: bool) -> int:
    """seat:mute / seat:unmute by an owner or admin: pause or resume the user's producers; how many."""
    request = rpc.UserProducersPausedRequest(roomId=room_id, userId=user_id, paused=paused)
    result = await media_rpc_client().request_room(rpc.USER_SET_PRODUCERS_PAUSED, request)
    return 0 if result is None else result.count


async def close_user_producers(room_id: str, user_id: int | float) -> int:
    """seat:lock on an occupied seat: close the kicked user's producers (each announced with
    audio:producerClosed); how many."""
    result = await media_rpc_client().request_room(rpc.USER_CLOSE_PRODUCERS,
                                                   rpc.UserRequest(roomId=room_id, userId=user_id))
    return 0 if result is None else result.count


async def room_media(room_id: str) -> tuple[str | None, rpc.RoomStats | None]:
    """For staff pages: the media node hosting the room and its figures there (`room.stats`:
    source worker, producers, consumers, transports, routers); (None, None) when it has no media."""
    client = media_rpc_client()
    node_id: str | None = None
    if client.registry is not None:
        node_id, nodes = await client.registry.room_node_and_live_nodes(room_id, int(time.time() * 1000))
        if node_id not in nodes:
            return None, None
    try:
        stats = await client.request_room(rpc.ROOM_STATS, rpc.RoomRequest(roomId=room_id))
    except ClientError:  # the node holds no routers for it (yet, or any more)
        return node_id, None
    return node_id, stats
