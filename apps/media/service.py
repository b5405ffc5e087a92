"""The media node (`manage.py runmedia`): worker pool, room clusters, RPC, registry heartbeat.

Requests from web processes arrive on this node's own channel (`media.rpc.<nodeId>`),
are answered by the room's cluster, and the node emits the media plane's server
events itself through `apps.realtime.emit`. The node writes:
- `media:nodes[nodeId]` every HEARTBEAT_INTERVAL_SECONDS (workers, load, channel);
- `room:{roomId}:producers` (producerId -> userId) for room:join's existingProducers;
- releases `room:{roomId}:media_node` when a room's media goes away.
A worker that dies takes its rooms with it: each is closed for everyone with
`room:closed {reason: "worker_died"}` (via the rooms app), never left half alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from apps.media.media_objects import CreateWorker
from apps.media.media_settings import MediaSettings
from apps.media.node_registry import (
    HEARTBEAT_INTERVAL_SECONDS,
    NodeInfo,
    NodeRegistry,
    WorkerCounts,
    node_channel,
    room_producers_key,
)
from apps.media.room_cluster import RoomMediaCluster
from apps.media.rpc_server import MediaRpcServer
from apps.media.schemas import RoomClosedEvent, wire
from apps.media.worker_pool import PooledWorker, WorkerPool
from apps.realtime.emit import Room, Target
from apps.realtime.event_registry import ClientError
from flylive.js_number import js_number

logger = logging.getLogger(__name__)

Emit = Callable[[Target, str, Any], Awaitable[None]]
CloseRoom = Callable[[str, str], Awaitable[None]]


async def _default_emit(target: Target, event: str, payload: Any) -> None:
    from apps.realtime.emit import emit

    await emit(target, event, payload)


async def _default_close_room(room_id: str, reason: str) -> None:
    from apps.rooms.service import close_room

    await close_room(room_id, reason)


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _param(params: dict[str, Any], name: str, kind: type | tuple[type, ...] = str) -> Any:
    value = params.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ClientError("Invalid payload")
    return value


class MediaService:
    def __init__(
        self,
        settings: MediaSettings,
        *,
        redis: Redis,
        channel_layer: Any,
        node_id: str | None = None,
        emit: Emit = _default_emit,
        close_room: CloseRoom = _default_close_room,
        create_worker: CreateWorker | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.registry = NodeRegistry(redis)
        self.node_id = node_id or new_node_id()
        self.channel = node_channel(self.node_id)
        self._emit = emit
        self._close_room = close_room
        self.pool = WorkerPool(settings, self._worker_died, create_worker)
        self.rpc = MediaRpcServer(channel_layer, self.channel, self.handle)
        self.clusters: dict[str, RoomMediaCluster] = {}
        self._creating: dict[str, asyncio.Future[RoomMediaCluster]] = {}
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._draining = False
        self._methods: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]] = {
            "room.ensure": self._room_ensure,
            "room.close": self._room_close,
            "transport.create": self._transport_create,
            "transport.connect": self._transport_connect,
            "producer.create": self._producer_create,
            "consumer.create": self._consumer_create,
            "consumer.resume": self._consumer_resume,
            "producer.setPaused": self._producer_set_paused,
            "socket.release": self._socket_release,
            "user.setProducersPaused": self._user_set_paused,
            "user.closeProducers": self._user_close_producers,
            "node.stats": self._node_stats,
            "room.stats": self._room_stats,
        }
        if settings.bench_rpc:
            self._methods["bench.addPlainListeners"] = self._bench_add_plain_listeners

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.pool.start()
        await self.rpc.start()
        await self._heartbeat()
        self._heartbeat_task = asyncio.create_task(self._heartbeat_loop(), name="media-heartbeat")
        logger.info(
            "media node %s serving on %s with %d workers", self.node_id, self.channel, self.pool.active
        )

    async def stop(self) -> None:
        """Graceful: stop taking rooms, stop serving, close every room's media and the workers, deregister."""
        self._draining = True
        with contextlib.suppress(Exception):
            await self._heartbeat()
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        await self.rpc.stop()
        for room_id in list(self.clusters):
            await self._drop_room(room_id)
        await self.pool.close()
        with contextlib.suppress(Exception):
            await self.registry.deregister(self.node_id)
        logger.info("media node %s stopped", self.node_id)

    def node_info(self) -> NodeInfo:
        return NodeInfo(
            workers=WorkerCounts(self.pool.active, self.pool.expected),
            updatedAt=int(time.time() * 1000),
            rooms=len(self.clusters),
            routers=self.pool.router_total,
            capacity=self.pool.capacity,
            channel=self.channel,
            pid=os.getpid(),
            draining=self._draining,
            extra={
                # Per-worker entries for /metrics and flylive_mediasoup_routers_per_worker.
                "workers": [
                    {"pid": w.pid, "routerCount": w.router_count} for w in self.pool.workers if w.alive
                ],
                "listeners": sum(c.listener_count for c in self.clusters.values()),
            },
        )

    async def _heartbeat(self) -> None:
        await self.registry.heartbeat(self.node_id, self.node_info())

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECONDS)
            try:
                await self._heartbeat()
            except Exception:
                logger.exception("media node heartbeat failed")

    # -- RPC ------------------------------------------------------------------------------

    async def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        handler = self._methods.get(method)
        if handler is None:
            raise ClientError("Invalid payload")
        return await handler(params)

    def _cluster(self, params: dict[str, Any], missing: str) -> RoomMediaCluster:
        cluster = self.clusters.get(_param(params, "roomId"))
        if cluster is None or cluster.closed:
            raise ClientError(missing)
        return cluster

    async def _room_ensure(self, params: dict[str, Any]) -> dict[str, Any]:
        room_id: str = _param(params, "roomId")
        cluster = await self.ensure_cluster(room_id)
        await self.registry.refresh_room(room_id)
        return {"rtpCapabilities": cluster.rtp_capabilities}

    async def ensure_cluster(self, room_id: str) -> RoomMediaCluster:
        """The room's cluster, created once however many joins race for it."""
        cluster = self.clusters.get(room_id)
        if cluster is not None and not cluster.closed:
            return cluster
        pending = self._creating.get(room_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RoomMediaCluster] = asyncio.get_running_loop().create_future()
        self._creating[room_id] = future
        try:
            cluster = await RoomMediaCluster.create(room_id, self.pool, self.settings, self)
            self.clusters[room_id] = cluster
            future.set_result(cluster)
            return cluster
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: racing joins re-raise it themselves
            raise
        finally:
            del self._creating[room_id]

    async def _room_close(self, params: dict[str, Any]) -> None:
        await self._drop_room(_param(params, "roomId"))

    async def _drop_room(self, room_id: str) -> None:
        cluster = self.clusters.pop(room_id, None)
        if cluster is not None:
            await cluster.close()
        with contextlib.suppress(Exception):
            await self.redis.delete(room_producers_key(room_id))
            await self.registry.release_room(room_id, self.node_id)

    async def _transport_create(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params, "Room not found")
        direction = _param(params, "type")
        if direction not in ("producer", "consumer"):
            raise ClientError("Invalid payload")
        return await cluster.create_transport(_param(params, "sid"), direction)

    async def _transport_connect(self, params: dict[str, Any]) -> None:
        cluster = self._cluster(params, "Transport not found")
        await cluster.connect_transport(
            _param(params, "sid"), _param(params, "transportId"), _param(params, "dtlsParameters", dict)
        )

    async def _producer_create(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params, "Transport not found")
        producer_id = await cluster.produce(
            _param(params, "sid"),
            _param(params, "userId", (int, float)),
            _param(params, "transportId"),
            _param(params, "kind"),
            _param(params, "rtpParameters", dict),
        )
        return {"id": producer_id}

    async def _consumer_create(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params, "Room not found")
        return await cluster.consume(
            _param(params, "sid"),
            _param(params, "transportId"),
            _param(params, "producerId"),
            _param(params, "rtpCapabilities", dict),
        )

    async def _consumer_resume(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params, "Room not found")
        deferred = await cluster.resume_consumer(_param(params, "sid"), _param(params, "consumerId"))
        return {"deferred": True} if deferred else {}

    async def _producer_set_paused(self, params: dict[str, Any]) -> None:
        cluster = self._cluster(params, "Producer not found")
        await cluster.set_producer_paused(
            _param(params, "sid"), _param(params, "producerId"), _param(params, "paused", bool)
        )

    async def _socket_release(self, params: dict[str, Any]) -> None:
        cluster = self.clusters.get(_param(params, "roomId"))
        if cluster is not None:
            await cluster.release_socket(_param(params, "sid"))

    async def _user_set_paused(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self.clusters.get(_param(params, "roomId"))
        if cluster is None:
            return {"count": 0}
        count = await cluster.set_user_paused(
            _param(params, "userId", (int, float)), _param(params, "paused", bool)
        )
        return {"count": count}

    async def _user_close_producers(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self.clusters.get(_param(params, "roomId"))
        if cluster is None:
            return {"count": 0}
        return {"count": await cluster.close_user_producers(_param(params, "userId", (int, float)))}

    async def _node_stats(self, params: dict[str, Any]) -> dict[str, Any]:
        info = self.node_info()
        return {
            "nodeId": self.node_id,
            "rooms": info.rooms,
            "routers": info.routers,
            "workers": {"active": info.workers.active, "expected": info.workers.expected},
            "workerRouters": info.extra["workers"],
            "listeners": info.extra["listeners"],
        }

    async def _room_stats(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._cluster(params, "Room not found").stats()

    async def _bench_add_plain_listeners(self, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._cluster(params, "Room not found")
        ports = [int(p) for p in _param(params, "ports", list)]
        made = await cluster.add_plain_listeners(_param(params, "count", int), _param(params, "ip"), ports)
        return {"consumers": made, "workerPids": [w.pid for w in self.pool.workers if w.alive]}

    # -- RoomHooks (what clusters tell the node) ------------------------------------------------

    async def emit(self, target: Target, event: str, payload: dict[str, Any]) -> None:
        try:
            await self._emit(target, event, payload)
        except Exception:
            logger.exception("could not emit %s", event)

    async def producer_added(self, room_id: str, producer_id: str, user_id: int | float) -> None:
        await self.redis.hset(room_producers_key(room_id), producer_id, js_number(user_id))

    async def producer_removed(self, room_id: str, producer_id: str) -> None:
        await self.redis.hdel(room_producers_key(room_id), producer_id)

    # -- worker death ---------------------------------------------------------------------

    async def _worker_died(self, dead: PooledWorker) -> None:
        """Every room with a router on the dead worker is closed for everyone (`room:closed`, worker_died)."""
        lost = {room_id: c for room_id, c in self.clusters.items() if dead.pid in c.worker_pids()}
        for room_id in lost:
            del self.clusters[room_id]  # requests for it answer `Room not found` from now on
        await asyncio.gather(
            *(self._close_lost_room(room_id, cluster) for room_id, cluster in lost.items()),
            return_exceptions=True,
        )
        with contextlib.suppress(Exception):
            await self._heartbeat()

    async def _close_lost_room(self, room_id: str, cluster: RoomMediaCluster) -> None:
        logger.warning("room %s lost a worker: closing it (worker_died)", room_id)
        try:
            await self._close_room(room_id, "worker_died")
        except Exception:
            logger.exception("rooms could not close %s; telling its sockets directly", room_id)
            await self.emit(
                Room(room_id),
                "room:closed",
                wire(
                    RoomClosedEvent(roomId=room_id, reason="worker_died", timestamp=int(time.time() * 1000))
                ),
            )
        await cluster.close()
        await self._drop_room(room_id)
