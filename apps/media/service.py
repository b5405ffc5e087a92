"""The media node (`manage.py runmedia`): worker pool, room clusters, RPC, registry heartbeat.

Requests from web processes arrive on this node's own channel (`media.rpc.<nodeId>`), are
checked against `rpc_contract` and answered by the room's cluster; the node emits the media
plane's server events itself through `apps.realtime.emit`. The node writes:
- `media:nodes[nodeId]` every HEARTBEAT_INTERVAL_SECONDS (workers, load, channel);
- `room:{roomId}:producers` (producerId -> userId) for room:join's existingProducers;
- `room:{roomId}:media_node` and `media:node:{nodeId}:rooms` when it takes a room (its first
  transport) or gives it up (released, closed, lost);
- `media:reports` when a worker dies (reports.py): the rooms app closes those rooms for
  everyone (`room:closed {reason: "worker_died"}`); the node never calls the rooms app itself.

A room's routers live from its first transport:create until its last member leaves
(`room.release`, kept if someone made media again meanwhile) or the rooms app closes it
(`room.close`).

Rooms across nodes (span_links.py): a node with MEDIA_NODE_PIPE_ANNOUNCED_IP announces it in its
heartbeat (`extra.pipeAddress`) and serves other nodes' listeners (`span.*` requests, room_span.py);
with MAX_LISTENERS_PER_NODE too, the rooms it homes spread their listeners beyond that many to
such nodes. Each heartbeat also reads the live nodes: a room's span on a node that stopped beating
is lost (its listeners are told), and a span whose home stopped is closed here.
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

from apps.media import rpc_contract as rpc
from apps.media.gateway import MediaRpcClient
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
from apps.media.released_sockets import ReleasedSockets
from apps.media.reports import WORKER_DIED, publish_rooms_lost
from apps.media.room_cluster import ClusterClosedError, RoomMediaCluster
from apps.media.room_span import RoomSpan, pipe_listen_info
from apps.media.rpc_contract import RequestT, ResponseT, RpcMethod
from apps.media.rpc_server import HandlerTable, MediaCapacityError, MediaRpcServer
from apps.media.worker_cpu import WorkerCpu
from apps.media.worker_pool import NoWorkerAvailableError, PooledWorker, WorkerPool
from apps.realtime.emit import Target
from apps.realtime.event_registry import ClientError
from flylive.cancellation import reraise_if_cancelled
from flylive.js_number import js_number
from flylive.redis_types import AsyncRedis

logger = logging.getLogger(__name__)

Emit = Callable[[Target, str, Any], Awaitable[None]]
# A transport:create whose cluster was released under it tries again on a fresh one, this often.
_CREATE_ATTEMPTS = 3


async def _default_emit(target: Target, event: str, payload: Any) -> None:
    from apps.realtime.emit import emit

    await emit(target, event, payload)


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class MediaService:
    def __init__(
        self,
        settings: MediaSettings,
        *,
        redis: AsyncRedis,
        channel_layer: Any,
        node_id: str | None = None,
        emit: Emit = _default_emit,
        create_worker: CreateWorker | None = None,
        registry: NodeRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.registry = registry or NodeRegistry(redis)
        self.node_id = node_id or new_node_id()
        self.channel = node_channel(self.node_id)
        self._emit = emit
        self.pool = WorkerPool(settings, self._worker_died, create_worker)
        self._worker_cpu = WorkerCpu()
        self.released = ReleasedSockets()
        self.handlers = self._handler_table()
        self.rpc = MediaRpcServer(channel_layer, self.channel, self.handlers,
                                  max_concurrent=settings.max_concurrent_requests)
        self.clusters: dict[str, RoomMediaCluster] = {}
        # Rooms homed on other nodes whose listeners this node serves in part (room id -> span).
        self.spans: dict[str, RoomSpan] = {}
        # Requests to other nodes (spans), answered within span_rpc_timeout.
        self.peer_client = MediaRpcClient(channel_layer, timeout=settings.span_rpc_timeout)
        self._creating: dict[str, asyncio.Future[RoomMediaCluster]] = {}
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._registered = False
        self._draining = False

    def _handler_table(self) -> HandlerTable:
        table = HandlerTable()
        table.add(rpc.ROOM_CLOSE, self._room_close)
        table.add(rpc.ROOM_RELEASE, self._room_release)
        table.add(rpc.TRANSPORT_CREATE, self._transport_create)
        table.add(rpc.TRANSPORT_CONNECT, self._transport_connect)
        table.add(rpc.PRODUCER_CREATE, self._producer_create)
        table.add(rpc.CONSUMER_CREATE, self._consumer_create)
        table.add(rpc.CONSUMER_RESUME, self._consumer_resume)
        table.add(rpc.PRODUCER_SET_PAUSED, self._producer_set_paused)
        table.add(rpc.SOCKET_RELEASE, self._socket_release)
        table.add(rpc.USER_SET_PRODUCERS_PAUSED, self._user_set_paused)
        table.add(rpc.USER_CLOSE_PRODUCERS, self._user_close_producers)
        table.add(rpc.NODE_STATS, self._node_stats)
        table.add(rpc.ROOM_STATS, self._room_stats)
        table.add(rpc.SPAN_OPEN, self._span_open)
        table.add(rpc.SPAN_TRANSPORT_CREATE, self._span_transport_create)
        table.add(rpc.SPAN_PRODUCER_ADD, self._span_producer_add)
        table.add(rpc.SPAN_PRODUCER_CLOSED, self._span_producer_closed)
        table.add(rpc.SPAN_PRODUCER_PAUSED, self._span_producer_paused)
        table.add(rpc.SPAN_FORWARDING, self._span_forwarding)
        table.add(rpc.SPAN_CLOSE, self._span_close)
        table.add(rpc.SPAN_TRANSPORT_CLOSED, self._span_transport_closed)
        table.add(rpc.SPAN_LOST, self._span_lost)
        if self.settings.bench_rpc:
            table.add(rpc.BENCH_ADD_PLAIN_LISTENERS, self._bench_add_plain_listeners)
        return table

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
            with contextlib.suppress(Exception):
                await self._drop_room(room_id)
        await self._lose_spans(list(self.spans))
        await self.pool.close()
        await self.peer_client.aclose()
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
                    {"pid": w.pid, "routerCount": w.router_count, "cpu": self._worker_cpu.ratio(w.pid)}
                    for w in self.pool.workers if w.alive
                ],
                "workerDeaths": self.pool.deaths,
                "listeners": sum(c.listener_count for c in self.clusters.values())
                + sum(s.listener_count for s in self.spans.values()),
                # Rooms across nodes: where other nodes reach this one's pipes (None: takes no part),
                # rooms homed elsewhere whose listeners it serves in part and how many, pipe pairs from
                # rooms homed here to other nodes and the listeners those serve.
                "pipeAddress": self.settings.pipe_announced_ip if self.settings.spans_enabled else None,
                "spans": len(self.spans),
                "spanListeners": sum(s.listener_count for s in self.spans.values()),
                "pipes": sum(len(c.spans) for c in self.clusters.values()),
                "remoteListeners": sum(c.remote_listener_count for c in self.clusters.values()),
                # Tasks alive on the node's loop: a count that keeps growing is a leak (bench/soak.py).
                "tasks": len(asyncio.all_tasks()),
            },
        )

    async def _heartbeat(self) -> None:
        fresh_entry = await self.registry.heartbeat(self.node_id, self.node_info())
        if fresh_entry and self._registered and self.clusters:
            # Our entry was gone: another process found this node dead (a long stall) and its rooms
            # were reported lost and are being closed. What we still hold is nobody's any more.
            logger.error("media node %s was declared dead; dropping its %d room(s)", self.node_id,
                         len(self.clusters))
            for room_id in list(self.clusters):
                await self._drop_room(room_id)
            await self._lose_spans(list(self.spans))
        self._registered = True
        if self.spans or any(c.spans or c.remote_transports for c in self.clusters.values()):
            await self._watch_span_nodes()

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_SECONDS)
            try:
                await self._heartbeat()
            except Exception as exc:
                reraise_if_cancelled(exc)
                logger.exception("media node heartbeat failed")

    # -- rooms ----------------------------------------------------------------------------

    def _cluster(self, room_id: str, missing: str) -> RoomMediaCluster:
        cluster = self.clusters.get(room_id)
        if cluster is None or cluster.closed:
            raise ClientError(missing)
        return cluster

    async def ensure_cluster(self, room_id: str) -> RoomMediaCluster:
        """The room's cluster, created once however many first transports race for it.

        MediaCapacityError when every worker is full."""
        cluster = self.clusters.get(room_id)
        if cluster is not None and not cluster.closed:
            return cluster
        pending = self._creating.get(room_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RoomMediaCluster] = asyncio.get_running_loop().create_future()
        self._creating[room_id] = future
        try:
            cluster = await self._create_cluster(room_id)
            self.clusters[room_id] = cluster
            future.set_result(cluster)
            return cluster
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: racing requests re-raise it themselves
            raise
        finally:
            del self._creating[room_id]

    async def _create_cluster(self, room_id: str) -> RoomMediaCluster:
        stale = self.spans.pop(room_id, None)
        if stale is not None:  # its home is gone and the room came back here
            await stale.close()
        spreads = self.settings.spans_enabled and self.settings.max_listeners_per_node > 0
        try:
            cluster = await RoomMediaCluster.create(room_id, self.pool, self.settings, self, self.released,
                                                    peers=self if spreads else None)
        except NoWorkerAvailableError as exc:
            # Give the placement up so that the room's next try may land on a node with room.
            with contextlib.suppress(Exception):
                await self.registry.release_room(room_id, self.node_id)
            raise MediaCapacityError(f"room {room_id}: {exc}") from None
        try:
            # Claims the mapping (a racing release may have dropped it) and lists the room under this node.
            holder = await self.registry.place_room(room_id, self.node_id, replacing_dead=None)
        except BaseException:
            await cluster.close()
            raise
        if holder != self.node_id:
            await cluster.close()
            raise RuntimeError(f"room {room_id} is hosted by node {holder} now")
        return cluster

    async def _drop_room(self, room_id: str, *, only_if_idle: bool = False) -> None:
        """Close the room's media here and give the room up (unless a fresh cluster took its place)."""
        pending = self._creating.get(room_id)
        if pending is not None:
            if only_if_idle:
                return  # a first transport is being made: the room is in use again
            await asyncio.wait([pending])
        cluster = self.clusters.get(room_id)
        if cluster is not None:
            if only_if_idle and cluster.in_use():
                # The last member's own socket release may still be on its way: the room goes
                # when that release leaves it without media (see _socket_release).
                cluster.release_wanted = True
                logger.debug("room %s: release deferred, media still in use", room_id)
                return
            del self.clusters[room_id]  # requests from now on get a fresh cluster or `not found`
            await cluster.close()
        if room_id in self.clusters or room_id in self._creating:
            return  # a new first transport came while this one closed: the fresh cluster owns the room
        await self.redis.delete(room_producers_key(room_id))
        await self.registry.release_room(room_id, self.node_id)

    async def _room_close(self, req: rpc.RoomCloseRequest) -> rpc.Empty:
        logger.info("room %s closed (%s): closing its media", req.roomId, req.reason)
        await self._drop_room(req.roomId)
        return rpc.Empty()

    async def _room_release(self, req: rpc.RoomRequest) -> rpc.Empty:
        await self._drop_room(req.roomId, only_if_idle=True)
        return rpc.Empty()

    # -- sockets' media -------------------------------------------------------------------

    async def _transport_create(self, req: rpc.TransportCreateRequest) -> rpc.TransportCreated:
        if self.released.is_released(req.roomId, req.sid, req.epoch):
            raise ClientError("Room not found")  # the socket left before its request came
        for _ in range(_CREATE_ATTEMPTS):
            cluster = await self.ensure_cluster(req.roomId)
            try:
                created = await cluster.create_transport(req.sid, req.type, req.epoch, req.userId)
            except ClusterClosedError:
                continue  # the room was released under it: a fresh cluster, never the closing one
            return rpc.TransportCreated.model_validate(created)
        raise RuntimeError(f"room {req.roomId} kept closing under transport.create")

    def _listeners_of(self, room_id: str, missing: str) -> RoomMediaCluster:
        """The room's cluster here, or its span (the room is homed elsewhere)."""
        cluster: RoomMediaCluster | None = self.clusters.get(room_id)
        if cluster is None or cluster.closed:
            cluster = self.spans.get(room_id)
        if cluster is None or cluster.closed:
            raise ClientError(missing)
        return cluster

    async def _transport_connect(self, req: rpc.TransportConnectRequest) -> rpc.Empty:
        cluster = self._listeners_of(req.roomId, "Transport not found")
        await cluster.connect_transport(req.sid, req.transportId, req.dtlsParameters)
        return rpc.Empty()

    async def _producer_create(self, req: rpc.ProducerCreateRequest) -> rpc.ProducerCreated:
        cluster = self._cluster(req.roomId, "Transport not found")
        producer_id = await cluster.produce(req.sid, req.userId, req.transportId, req.kind, req.rtpParameters,
                                            req.epoch)
        return rpc.ProducerCreated(id=producer_id)

    async def _consumer_create(self, req: rpc.ConsumerCreateRequest) -> rpc.ConsumerCreated:
        cluster = self._listeners_of(req.roomId, "Room not found")
        created = await cluster.consume(req.sid, req.transportId, req.producerId, req.rtpCapabilities,
                                        req.epoch)
        return rpc.ConsumerCreated.model_validate(created)

    async def _consumer_resume(self, req: rpc.ConsumerResumeRequest) -> rpc.ConsumerResumed:
        cluster = self._listeners_of(req.roomId, "Room not found")
        return rpc.ConsumerResumed(deferred=await cluster.resume_consumer(req.sid, req.consumerId))

    async def _producer_set_paused(self, req: rpc.ProducerSetPausedRequest) -> rpc.Empty:
        cluster = self._cluster(req.roomId, "Producer not found")
        await cluster.set_producer_paused(req.sid, req.producerId, req.paused)
        return rpc.Empty()

    async def _socket_release(self, req: rpc.SocketRequest) -> rpc.Empty:
        # Recorded first: a create of this socket still running closes what it makes when done.
        self.released.release(req.roomId, req.sid, req.epoch)
        for cluster in (self.clusters.get(req.roomId), self.spans.get(req.roomId)):
            if cluster is not None:
                await cluster.release_socket(req.sid, req.epoch)
        home = self.clusters.get(req.roomId)
        if home is not None and home.release_wanted and not home.in_use():
            await self._drop_room(req.roomId, only_if_idle=True)
        return rpc.Empty()

    async def _user_set_paused(self, req: rpc.UserProducersPausedRequest) -> rpc.Count:
        cluster = self.clusters.get(req.roomId)
        if cluster is None:
            return rpc.Count(count=0)
        return rpc.Count(count=await cluster.set_user_paused(req.userId, req.paused))

    async def _user_close_producers(self, req: rpc.UserRequest) -> rpc.Count:
        cluster = self.clusters.get(req.roomId)
        if cluster is None:
            return rpc.Count(count=0)
        return rpc.Count(count=await cluster.close_user_producers(req.userId))

    # -- looking inside -------------------------------------------------------------------

    async def _node_stats(self, req: rpc.Empty) -> rpc.NodeStats:
        info = self.node_info()
        return rpc.NodeStats.model_validate({
            "nodeId": self.node_id,
            "rooms": info.rooms,
            "routers": info.routers,
            "workers": {"active": info.workers.active, "expected": info.workers.expected},
            "workerRouters": info.extra["workers"],
            "listeners": info.extra["listeners"],
        })

    async def _room_stats(self, req: rpc.RoomRequest) -> rpc.RoomStats:
        return rpc.RoomStats.model_validate(self._cluster(req.roomId, "Room not found").stats())

    async def _bench_add_plain_listeners(self, req: rpc.PlainListenersRequest) -> rpc.PlainListenersAdded:
        cluster = self._cluster(req.roomId, "Room not found")
        made = await cluster.add_plain_listeners(req.count, req.ip, list(req.ports))
        pids = [w.pid for w in self.pool.workers if w.alive]
        return rpc.PlainListenersAdded(consumers=made, workerPids=pids)

    # -- rooms across nodes: this node as a room's home (SpanPeers) ---------------------------

    def pipe_listen_info(self) -> dict[str, Any]:
        return pipe_listen_info(self.settings)

    async def span_candidates(self, exclude: set[str]) -> list[str]:
        """Live nodes with a pipe address that take load, the fewest listeners first."""
        nodes = await self.registry.live_nodes(int(time.time() * 1000))
        eligible = [
            (int(info.extra.get("listeners", 0) or 0), info.load, node_id)
            for node_id, info in nodes.items()
            if node_id != self.node_id and node_id not in exclude and info.extra.get("pipeAddress")
            and not info.draining and info.workers.active > 0 and info.routers < info.capacity
        ]
        return [node_id for *_, node_id in sorted(eligible)]

    async def call(self, node_id: str, method: RpcMethod[RequestT, ResponseT], params: RequestT) -> ResponseT:
        return await self.peer_client.request(method, params, channel=node_channel(node_id))

    async def notify(self, node_id: str, method: RpcMethod[RequestT, Any], params: RequestT) -> None:
        await self.peer_client.notify(method, params, channel=node_channel(node_id))

    async def _span_transport_closed(self, req: rpc.SpanTransportClosedRequest) -> rpc.Empty:
        cluster = self.clusters.get(req.roomId)
        if cluster is not None:
            cluster.remote_transport_closed(req.nodeId, req.transportId)
        return rpc.Empty()

    async def _span_lost(self, req: rpc.SpanNodeRequest) -> rpc.Empty:
        cluster = self.clusters.get(req.roomId)
        if cluster is not None:
            await cluster.span_lost(req.nodeId)
        return rpc.Empty()

    async def _watch_span_nodes(self) -> None:
        """With each heartbeat: spans of our rooms on nodes that stopped are lost; our spans of rooms
        whose home stopped are closed (the rooms app closes those rooms)."""
        live = await self.registry.live_nodes(int(time.time() * 1000))
        for cluster in list(self.clusters.values()):
            gone = (set(cluster.spans) | {t.node_id for t in cluster.remote_transports.values()}) - set(live)
            for node_id in gone:
                await cluster.span_lost(node_id)
        for room_id, span in list(self.spans.items()):
            if span.home_node_id not in live and self.spans.get(room_id) is span:
                logger.warning("room %s: its home node %s stopped; closing its listeners here", room_id,
                               span.home_node_id)
                del self.spans[room_id]
                await span.close()

    # -- rooms across nodes: this node serving listeners of rooms homed elsewhere ---------------

    def _span(self, room_id: str, missing: str = "Room not found") -> RoomSpan:
        span = self.spans.get(room_id)
        if span is None or span.closed:
            raise ClientError(missing)
        return span

    async def _span_open(self, req: rpc.SpanOpenRequest) -> rpc.SpanOpened:
        if not self.settings.spans_enabled or self._draining:
            raise MediaCapacityError(f"room {req.roomId}: this node serves no other node's listeners")
        if req.roomId in self.clusters:
            raise RuntimeError(f"room {req.roomId} is homed here, not on {req.homeNodeId}")
        stale = self.spans.pop(req.roomId, None)
        if stale is not None:
            await stale.close()
        try:
            span = await RoomSpan.open(req, self.pool, self.settings, self.released,
                                       self._listener_closed_here)
        except NoWorkerAvailableError as exc:
            raise MediaCapacityError(f"room {req.roomId}: {exc}") from None
        self.spans[req.roomId] = span
        ip, port = span.pipe_address
        logger.info("room %s (home %s): serving listeners here, pipe %s:%d <-> %s:%d", req.roomId,
                    req.homeNodeId, ip, port, req.ip, req.port)
        return rpc.SpanOpened(ip=ip, port=port, routerId=span.source_router.id,
                              workerPid=span.source_worker.pid)

    async def _span_transport_create(self, req: rpc.TransportCreateRequest) -> rpc.TransportCreated:
        if self.released.is_released(req.roomId, req.sid, req.epoch):
            raise ClientError("Room not found")
        try:
            span = self._span(req.roomId)
            created = await span.create_transport(req.sid, "consumer", req.epoch, req.userId)
        except ClusterClosedError:
            raise ClientError("Room not found") from None
        return rpc.TransportCreated.model_validate(created)

    async def _span_producer_add(self, req: rpc.SpanProducerRequest) -> rpc.Empty:
        await self._span(req.roomId).add_producer(req.producer)
        return rpc.Empty()

    async def _span_producer_closed(self, req: rpc.SpanProducerClosedRequest) -> rpc.Empty:
        span = self.spans.get(req.roomId)
        if span is not None:
            await span.close_producer(req.producerId)
        return rpc.Empty()

    async def _span_producer_paused(self, req: rpc.SpanProducerPausedRequest) -> rpc.Empty:
        span = self.spans.get(req.roomId)
        if span is not None:
            await span.set_piped_paused(req.producerId, req.paused)
        return rpc.Empty()

    async def _span_forwarding(self, req: rpc.SpanForwardingRequest) -> rpc.Empty:
        span = self.spans.get(req.roomId)
        if span is not None:
            await span.follow(req.forwarded, req.seq)
        return rpc.Empty()

    async def _span_close(self, req: rpc.RoomRequest) -> rpc.Empty:
        span = self.spans.pop(req.roomId, None)
        if span is not None:
            await span.close()
        return rpc.Empty()

    async def _listener_closed_here(self, span: RoomSpan, transport_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.notify(span.home_node_id, rpc.SPAN_TRANSPORT_CLOSED, rpc.SpanTransportClosedRequest(
                roomId=span.room_id, nodeId=self.node_id, transportId=transport_id))

    async def _lose_spans(self, room_ids: list[str]) -> None:
        """Close these spans and tell their homes that this node's listeners of those rooms are lost."""
        for room_id in room_ids:
            span = self.spans.pop(room_id, None)
            if span is None:
                continue
            with contextlib.suppress(Exception):
                await span.close()
            with contextlib.suppress(Exception):
                await self.notify(span.home_node_id, rpc.SPAN_LOST,
                                  rpc.SpanNodeRequest(roomId=room_id, nodeId=self.node_id))

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
        """Every room with a router on the dead worker loses its media here at once, and is reported
        (reports.py) for the rooms app to close for everyone (`room:closed`, worker_died). Spans on it
        (rooms homed elsewhere) are reported to their homes, which tell those listeners."""
        await self._lose_spans([r for r, span in self.spans.items() if dead.pid in span.worker_pids()])
        lost = [room_id for room_id, c in self.clusters.items() if dead.pid in c.worker_pids()]
        clusters = [self.clusters.pop(room_id) for room_id in lost]  # `not found` from now on
        logger.warning("worker %d (pid %d) died with %d room(s): %s", dead.slot, dead.pid, len(lost),
                       ", ".join(lost[:20]))
        await asyncio.gather(*(cluster.close() for cluster in clusters), return_exceptions=True)
        for room_id in lost:
            if room_id not in self.clusters and room_id not in self._creating:
                try:
                    await self.redis.delete(room_producers_key(room_id))
                    await self.registry.release_room(room_id, self.node_id)
                except Exception:
                    logger.exception("could not give room %s up", room_id)
        try:
            await publish_rooms_lost(self.redis, self.node_id, lost, WORKER_DIED)
        except Exception:
            logger.exception("could not report the rooms lost with worker %d: %s", dead.slot, lost)
        with contextlib.suppress(Exception):
            await self._heartbeat()
