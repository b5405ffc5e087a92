"""Some of a room's listeners on a node that is not the room's home (span_links.py says how a room
spreads): one router, fed from the home's source router through a pipe transport, holding the
listener transports the home sent here.

A span is a RoomMediaCluster without a source of its own: its producers are the piped copies
(same ids as the sources, so `audio:consume` takes the id the client knows), and its listeners'
transports, consumers, ownership checks and `consumer:resume` are the cluster's. It emits nothing
to clients (the home announces producers and active speakers to the whole room) and decides
nothing about forwarding: it applies the home's decision (`span.forwarding`) to its consumers.
A listener transport that closes here is reported to the home, which counts the room's listeners.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apps.media import rpc_contract as rpc
from apps.media.media_objects import PipeTransportLike, RouterLike
from apps.media.media_settings import MediaSettings
from apps.media.mediasoup.errors import MediasoupError
from apps.media.released_sockets import ReleasedSockets
from apps.media.room_cluster import DistributionSlot, ProducerEntry, RoomMediaCluster
from apps.media.worker_pool import PooledWorker, WorkerPool
from apps.realtime.emit import Target

logger = logging.getLogger(__name__)

TransportClosed = Callable[["RoomSpan", str], Awaitable[None]]


class _Silent:
    """A span's hooks: the home node emits the room's events and keeps `room:{id}:producers`."""

    async def emit(self, target: Target, event: str, payload: dict[str, Any]) -> None:
        return None

    async def producer_added(self, room_id: str, producer_id: str, user_id: int | float) -> None:
        return None

    async def producer_removed(self, room_id: str, producer_id: str) -> None:
        return None


def pipe_listen_info(settings: MediaSettings) -> dict[str, Any]:
    """Where this node's pipe transports listen, and the address other nodes reach them at."""
    info: dict[str, Any] = {"protocol": "udp", "ip": settings.pipe_listen_ip or settings.listen_ip}
    if settings.pipe_announced_ip:
        info["announcedAddress"] = settings.pipe_announced_ip
    return info


class RoomSpan(RoomMediaCluster):
    def __init__(self, room_id: str, pool: WorkerPool, settings: MediaSettings, worker: PooledWorker,
                 router: RouterLike, pipe: PipeTransportLike, home_node_id: str, released: ReleasedSockets,
                 on_transport_closed: TransportClosed) -> None:
        super().__init__(room_id, pool, settings, _Silent(), worker, router, None, released)
        self.pipe = pipe
        self.home_node_id = home_node_id
        self.forwarding_seq = -1
        self._on_transport_closed = on_transport_closed
        # Listeners consume from the span's router itself (`is_source`: no further piping here).
        self.slots.append(DistributionSlot(router, worker, is_source=True))

    @classmethod
    async def open(cls, req: rpc.SpanOpenRequest, pool: WorkerPool, settings: MediaSettings,
                   released: ReleasedSockets, on_transport_closed: TransportClosed) -> RoomSpan:
        """The router on this node's least loaded worker, its pipe transport connected to the home's,
        the home's producers and forwarding decision applied. NoWorkerAvailableError when all are full."""
        worker = pool.least_loaded()
        router = await pool.create_router(worker)
        try:
            pipe = await router.create_pipe_transport(listen_info=pipe_listen_info(settings))
            await pipe.connect(ip=req.ip, port=req.port)
            span = cls(req.roomId, pool, settings, worker, router, pipe, req.homeNodeId, released,
                       on_transport_closed)
            for piped in req.producers:
                await span.add_producer(piped)
            await span.follow(req.forwarded, req.forwardingSeq)
        except BaseException:
            with contextlib.suppress(Exception):
                await router.close()
            raise
        return span

    @property
    def pipe_address(self) -> tuple[str, int]:
        here = self.pipe.tuple
        return str(here["localAddress"]), int(here["localPort"])

    async def add_producer(self, piped: rpc.PipedProducer) -> None:
        """The copy of a source producer, fed by the home's pipe consumer (same id)."""
        if piped.producerId in self.producers:
            return
        producer = await self.pipe.produce(
            producer_id=piped.producerId, kind=piped.kind, rtp_parameters=piped.rtpParameters,
            paused=piped.paused, app_data={"userId": piped.userId},
        )
        self.producers[producer.id] = ProducerEntry(producer, "", piped.userId, self.pipe.id)
        producer.observer.on("close", lambda *_: self._spawn(self._producer_gone(producer.id)))

    async def close_producer(self, producer_id: str) -> None:
        entry = self.producers.get(producer_id)
        if entry is None:
            return
        with contextlib.suppress(MediasoupError):
            await entry.producer.close()
        await self._producer_gone(producer_id)

    async def set_piped_paused(self, producer_id: str, paused: bool) -> None:
        entry = self.producers.get(producer_id)
        if entry is not None:
            with contextlib.suppress(MediasoupError):
                await (entry.producer.pause() if paused else entry.producer.resume())

    async def follow(self, forwarded: list[str] | None, seq: int) -> None:
        """The home's forwarding decision number `seq`; an older one arriving late is ignored."""
        if seq <= self.forwarding_seq:
            return
        self.forwarding_seq = seq
        await self._apply(self.forwarding.follow(forwarded))

    async def _producer_gone(self, producer_id: str) -> None:
        """The copy closed: its consumers go (the home announces `audio:producerClosed`)."""
        if self.producers.pop(producer_id, None) is None:
            return
        for consumer_id in [c for c, e in self.consumers.items() if e.source_producer_id == producer_id]:
            consumer = self.consumers[consumer_id].consumer
            self._forget_consumer(consumer_id)
            with contextlib.suppress(MediasoupError):
                await consumer.close()

    async def _forget_transport(self, transport_id: str) -> None:
        known = transport_id in self.transports
        await super()._forget_transport(transport_id)
        if known and not self.closed:
            await self._on_transport_closed(self, transport_id)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "spans": []}
