"""One room's media on this node (contract 4.5, with the issue's fixes).

- Source router: every producer transport and producer, plus an active speaker
  observer (every 200 ms) whose `dominantspeaker` events drive top-N forwarding (4.6).
- Distribution slots for listeners: routers on OTHER workers than the source's
  (each producer piped in with its id kept, which mediasoup allows across
  workers), up to MAX_LISTENERS_PER_DISTRIBUTION_ROUTER consumer transports each.
  When no other worker can take a router (a one-worker node, or all full), the
  source router itself is the slot: listeners consume from it directly, so
  `audio:consume` always works.
- Every transport, producer and consumer belongs to the socket that made it;
  another socket's ids are answered as if they did not exist.
- Listener counts follow transports closing (DTLS closed, socket release, router close).
- A socket's release covers what it made up to its epoch (released_sockets.py): a create still
  running when the release came closes what it made instead of keeping it.
- A room across nodes (span_links.py, room_span.py): past MAX_LISTENERS_PER_NODE listener
  transports here, a listener's transport is made on another node fed through pipe transports;
  this cluster (the room's home) keeps those nodes in step (producers, pauses, the forwarding
  decision, releases) and, when one is lost, tells its listeners `room:closed` (worker_died).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

from apps.media import rpc_contract as rpc
from apps.media.gateway import MediaUnavailableError
from apps.media.media_objects import (
    ConsumerLike,
    ProducerLike,
    RouterLike,
    SpeakerObserverLike,
    WebRtcTransportLike,
)
from apps.media.media_settings import MediaSettings
from apps.media.mediasoup.errors import InvalidStateError, MediasoupError, UnsupportedError
from apps.media.released_sockets import ReleasedSockets
from apps.media.rpc_contract import RequestT, RpcMethod
from apps.media.schemas import NewProducerEvent, ProducerClosedEvent, SpeakerActiveEvent, wire
from apps.media.span_links import LISTENERS_LOST_REASON, RemoteTransport, SpanLink, SpanPeers
from apps.media.speaker_forwarding import ActiveSpeakerForwarding, ForwardingChange
from apps.media.worker_pool import NoWorkerAvailableError, PooledWorker, WorkerPool
from apps.realtime.emit import Room, Socket, Target
from apps.realtime.event_registry import ClientError

logger = logging.getLogger(__name__)

TRANSPORTS_PER_SOCKET = 2  # per room: leaving the room frees them
# Audio only: a send transport carries one microphone. mediasoup-client never produces twice on one
# transport (mute is pause), so a second produce is not a client we serve: `Invalid payload`.
MAX_PRODUCERS_PER_TRANSPORT = 1
# A listener consumes each seated speaker once (15 seats, contract 5.1), plus producers that
# closed and came back while their consumers close; 64 leaves room for that churn and stops a
# client from piling thousands of consumers on one transport (`Cannot consume` beyond it).
MAX_CONSUMERS_PER_TRANSPORT = 64
# Who speaks: the worker's ActiveSpeakerObserver, re-evaluated every 200 ms (contract 4.6). It hears
# speech relative to each producer's noise floor, so it needs real microphones (LIBRARY_REQUESTS.md 1).
SPEAKER_OBSERVER_INTERVAL_MS = 200
_FINGERPRINT_ALGORITHMS = {"sha-1", "sha-224", "sha-256", "sha-384", "sha-512"}
_FINGERPRINT_VALUE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$")


class RoomHooks(Protocol):
    """What a cluster tells the rest of the node."""

    async def emit(self, target: Target, event: str, payload: dict[str, Any]) -> None: ...

    async def producer_added(self, room_id: str, producer_id: str, user_id: int | float) -> None: ...

    async def producer_removed(self, room_id: str, producer_id: str) -> None: ...


@dataclass(eq=False)
class DistributionSlot:
    """A router listeners' transports live on: a distribution router, or the source router itself."""

    router: RouterLike
    worker: PooledWorker
    is_source: bool
    listeners: int = 0
    piped: dict[str, ProducerLike] = field(default_factory=dict)  # source producer id -> piped copy
    # Producer ids are unique per worker: a second slot on one worker gets piped copies with new ids.
    keep_ids: bool = True

    def holds(self, producer_id: str) -> bool:
        return self.is_source or producer_id in self.piped

    def local_id(self, producer_id: str) -> str:
        """The id of the source producer's copy on this slot's router."""
        return producer_id if self.is_source else self.piped[producer_id].id


class ClusterClosedError(RuntimeError):
    """The cluster was closed (its room released) while a request was using it."""


@dataclass(eq=False)
class TransportEntry:
    transport: WebRtcTransportLike
    sid: str
    epoch: int
    direction: str  # "producer" | "consumer"
    slot: DistributionSlot | None  # consumer transports only
    producers: int = 0  # made on it, open or not: the cap counts attempts that succeeded
    consumers: set[str] = field(default_factory=set)  # open consumers on it
    consuming: int = 0  # consumers being made on it


@dataclass(eq=False)
class ProducerEntry:
    producer: ProducerLike
    sid: str
    user_id: int | float
    transport_id: str


@dataclass(eq=False)
class ConsumerEntry:
    consumer: ConsumerLike
    sid: str
    source_producer_id: str
    transport_id: str


def check_dtls_parameters(dtls: dict[str, Any]) -> None:
    """Refuse DTLS parameters the worker cannot use, before they reach it."""
    fingerprints = dtls.get("fingerprints")
    if not isinstance(fingerprints, list) or not fingerprints:
        raise ClientError("Invalid payload")
    for fp in fingerprints:
        if fp.get("algorithm") not in _FINGERPRINT_ALGORITHMS or not _FINGERPRINT_VALUE.match(
            str(fp.get("value", ""))
        ):
            raise ClientError("Invalid payload")


class RoomMediaCluster:
    def __init__(
        self,
        room_id: str,
        pool: WorkerPool,
        settings: MediaSettings,
        hooks: RoomHooks,
        source_worker: PooledWorker,
        source_router: RouterLike,
        observer: SpeakerObserverLike | None,
        released: ReleasedSockets | None = None,
        peers: SpanPeers | None = None,
    ) -> None:
        self.room_id = room_id
        self.released = released if released is not None else ReleasedSockets()
        self.pool = pool
        self.settings = settings
        self.hooks = hooks
        self.source_worker = source_worker
        self.source_router = source_router
        self.observer = observer
        self.forwarding = ActiveSpeakerForwarding(settings.max_active_speakers_forwarded)
        self.slots: list[DistributionSlot] = []
        self.transports: dict[str, TransportEntry] = {}
        self.producers: dict[str, ProducerEntry] = {}
        self.consumers: dict[str, ConsumerEntry] = {}
        self.closed = False
        self._reserved: dict[str, int] = {}  # sid -> transports being created
        # The rooms app asked to release this room while media was still in use (the last member's
        # socket release still on its way): it goes when a socket release leaves it unused.
        self.release_wanted = False
        self._topology = asyncio.Lock()  # slots and piping change together
        self._tasks: set[asyncio.Task[Any]] = set()
        # The room across nodes (None: every listener stays here).
        self.peers = peers
        self.spans: dict[str, SpanLink] = {}  # node id -> the span serving listeners there
        self.remote_transports: dict[str, RemoteTransport] = {}
        self._remote_creating: dict[str, set[str]] = {}  # sid -> nodes making a transport of it now
        self._local_reserved = 0  # listener transports being made here now
        self._forwarding_sent: list[str] | None = None  # the decision the spans were last told
        self._forwarding_seq = 0
        if observer is not None:
            observer.on("dominantspeaker", self._on_dominant_speaker_event)

    @classmethod
    async def create(
        cls, room_id: str, pool: WorkerPool, settings: MediaSettings, hooks: RoomHooks,
        released: ReleasedSockets | None = None, peers: SpanPeers | None = None,
    ) -> RoomMediaCluster:
        """The room's source router on the least loaded worker; NoWorkerAvailableError when all are full."""
        worker = pool.least_loaded()
        router = await pool.create_router(worker)
        try:
            observer = await router.create_active_speaker_observer(interval=SPEAKER_OBSERVER_INTERVAL_MS)
        except BaseException:
            await router.close()
            raise
        return cls(room_id, pool, settings, hooks, worker, router, observer, released, peers)

    @property
    def rtp_capabilities(self) -> dict[str, Any]:
        return dict(self.source_router.rtp_capabilities)

    def worker_pids(self) -> set[int]:
        return {self.source_worker.pid} | {slot.worker.pid for slot in self.slots}

    @property
    def listener_count(self) -> int:
        return sum(slot.listeners for slot in self.slots)

    @property
    def remote_listener_count(self) -> int:
        return len(self.remote_transports)

    def in_use(self) -> bool:
        """Some socket has a transport here (or on another node for this room), or is making one."""
        return bool(self.transports) or bool(self._reserved) or bool(self.remote_transports)

    def routers(self) -> list[RouterLike]:
        return [self.source_router] + [s.router for s in self.slots if not s.is_source]

    def _check_not_released(self, sid: str, epoch: int) -> None:
        if self.released.is_released(self.room_id, sid, epoch):
            raise ClientError("Room not found")  # the socket left the room

    def stats(self) -> dict[str, Any]:
        """Where the room's media lives (tests, benchmarks, operators)."""
        return {
            "sourceWorkerPid": self.source_worker.pid,
            "producers": len(self.producers),
            "consumers": len(self.consumers),
            "transports": len(self.transports),
            "forwarded": sorted(self.forwarding.forwarded),
            "slots": [
                {
                    "workerPid": s.worker.pid,
                    "routerId": s.router.id,
                    "listeners": s.listeners,
                    "isSource": s.is_source,
                }
                for s in self.slots
            ],
            "spans": [
                {
                    "nodeId": link.node_id,
                    "listeners": link.listeners,
                    "routerId": link.router_id,
                    "workerPid": link.worker_pid,
                    "producers": len(link.consumers),
                    "pipeLocal": link.local(),
                    "pipeRemote": link.remote,
                }
                for link in self.spans.values()
            ],
        }

    # -- transports -----------------------------------------------------------------------

    async def create_transport(
        self, sid: str, direction: str, epoch: int = 0, user_id: int | float = 0
    ) -> dict[str, Any]:
        """A WebRTC transport for the socket. ClusterClosedError: the room was released meanwhile
        (nothing was kept; the caller may try again on a fresh cluster). A listener's transport
        beyond MAX_LISTENERS_PER_NODE here is made on another node: its answer has `nodeId`."""
        if self.closed:
            raise ClusterClosedError(self.room_id)
        self._check_not_released(sid, epoch)
        open_count = (sum(1 for t in self.transports.values() if t.sid == sid) + self._reserved.get(sid, 0)
                      + sum(1 for t in self.remote_transports.values() if t.sid == sid))
        if open_count >= TRANSPORTS_PER_SOCKET:
            raise ClientError("Transport limit reached")
        self._reserved[sid] = self._reserved.get(sid, 0) + 1
        try:
            if direction == "consumer" and not self._keeps_listener_here():
                remote = await self._create_remote_listener(sid, epoch, user_id)
                if remote is not None:
                    return remote
            return await self._create_local_transport(sid, direction, epoch)
        finally:
            self._reserved[sid] -= 1
            if not self._reserved[sid]:
                del self._reserved[sid]

    async def _create_local_transport(self, sid: str, direction: str, epoch: int) -> dict[str, Any]:
        listener = direction == "consumer"
        self._local_reserved += listener
        try:
            slot = await self._slot_for_listener() if listener else None
            router = slot.router if slot else self.source_router
            worker = slot.worker if slot else self.source_worker
            transport = await self._new_webrtc_transport(router, worker, direction)
        except Exception:
            if self.closed:  # its router closed under it
                raise ClusterClosedError(self.room_id) from None
            raise
        finally:
            self._local_reserved -= listener
        if self.closed:
            with contextlib.suppress(MediasoupError):
                await transport.close()
            raise ClusterClosedError(self.room_id)
        if self.released.is_released(self.room_id, sid, epoch):
            # Released while the worker made it: nobody would ever close it.
            with contextlib.suppress(MediasoupError):
                await transport.close()
            raise ClientError("Room not found")
        entry = TransportEntry(transport, sid, epoch, direction, slot)
        self.transports[transport.id] = entry
        if slot is not None:
            slot.listeners += 1
        transport.on("dtlsstatechange", lambda state, *_: self._on_dtls_state(transport.id, state))
        transport.observer.on("close", lambda *_: self._spawn(self._forget_transport(transport.id)))
        return {
            "id": transport.id,
            "iceParameters": transport.ice_parameters,
            "iceCandidates": transport.ice_candidates,
            "dtlsParameters": transport.dtls_parameters,
        }

    async def _new_webrtc_transport(
        self, router: RouterLike, worker: PooledWorker, direction: str
    ) -> WebRtcTransportLike:
        s = self.settings
        options: dict[str, Any] = {
            "initial_available_outgoing_bitrate": s.initial_outgoing_bitrate,
            "app_data": {"isProducer": direction == "producer"},
        }
        if worker.webrtc_server is not None:
            options["webrtc_server"] = worker.webrtc_server
        else:
            info = {"ip": s.listen_ip, **({"announcedAddress": s.announced_ip} if s.announced_ip else {})}
            options["listen_infos"] = [{"protocol": "udp", **info}, {"protocol": "tcp", **info}]
        transport = await router.create_webrtc_transport(**options)
        await transport.set_max_incoming_bitrate(s.max_incoming_bitrate)
        return transport

    def _own_transport(self, sid: str, transport_id: str) -> TransportEntry:
        entry = self.transports.get(transport_id)
        if entry is None or entry.sid != sid:
            raise ClientError("Transport not found")
        return entry

    async def connect_transport(self, sid: str, transport_id: str, dtls_parameters: dict[str, Any]) -> None:
        entry = self._own_transport(sid, transport_id)
        check_dtls_parameters(dtls_parameters)
        await entry.transport.connect(dtls_parameters=dtls_parameters)

    def _on_dtls_state(self, transport_id: str, state: Any) -> None:
        if state == "closed" and transport_id in self.transports:
            self._spawn(self._close_transport(transport_id))

    async def _close_transport(self, transport_id: str) -> None:
        entry = self.transports.get(transport_id)
        if entry is None:
            return
        with contextlib.suppress(MediasoupError):
            await entry.transport.close()
        await self._forget_transport(transport_id)

    async def _forget_transport(self, transport_id: str) -> None:
        """Bookkeeping after a transport closed, whatever closed it (runs once)."""
        entry = self.transports.pop(transport_id, None)
        if entry is None:
            return
        if entry.slot is not None:
            entry.slot.listeners = max(0, entry.slot.listeners - 1)
        for consumer_id in [c for c, e in self.consumers.items() if e.transport_id == transport_id]:
            self._forget_consumer(consumer_id)
        for producer_id in [p for p, e in self.producers.items() if e.transport_id == transport_id]:
            await self._producer_gone(producer_id)

    # -- producers ------------------------------------------------------------------------

    async def produce(
        self, sid: str, user_id: int | float, transport_id: str, kind: str, rtp_parameters: dict[str, Any],
        epoch: int = 0,
    ) -> str:
        self._check_not_released(sid, epoch)
        entry = self._own_transport(sid, transport_id)
        if entry.direction != "producer":
            raise ClientError("Transport not found")
        if entry.producers >= MAX_PRODUCERS_PER_TRANSPORT:
            raise ClientError("Invalid payload")
        entry.producers += 1  # before the await: two racing produces cannot both pass the cap
        try:
            producer = await entry.transport.produce(
                kind=kind, rtp_parameters=rtp_parameters, app_data={"userId": user_id}
            )
        except (UnsupportedError, TypeError, ValueError) as exc:
            entry.producers -= 1
            logger.info("room %s: produce refused: %s", self.room_id, exc)
            raise ClientError("Invalid payload") from None
        except BaseException:
            entry.producers -= 1
            if entry.transport.closed or self.closed:  # released or room closed meanwhile
                raise ClientError("Transport not found") from None
            raise
        if entry.transport.closed or self.closed or self.released.is_released(self.room_id, sid, epoch):
            # The socket's release (or the room's) came while the worker made it: don't keep it.
            with contextlib.suppress(MediasoupError):
                await producer.close()
            raise ClientError("Transport not found")
        self.producers[producer.id] = ProducerEntry(producer, sid, user_id, transport_id)
        producer.observer.on("close", lambda *_: self._spawn(self._producer_gone(producer.id)))
        try:
            if self.observer is not None:
                await self.observer.add_producer(producer_id=producer.id)
        except MediasoupError:
            logger.exception("room %s: producer %s not observed", self.room_id, producer.id)
        async with self._topology:
            await asyncio.gather(
                *(self._pipe(producer.id, slot) for slot in self.slots if not slot.is_source),
                *(self._add_to_span(link, producer.id) for link in list(self.spans.values())),
            )
        await self.hooks.producer_added(self.room_id, producer.id, user_id)
        await self.hooks.emit(
            Room(self.room_id, exclude_sid=sid),
            "audio:newProducer",
            wire(NewProducerEvent(producerId=producer.id, userId=user_id)),
        )
        return producer.id

    async def _pipe(self, producer_id: str, slot: DistributionSlot) -> None:
        try:
            result = await self.source_router.pipe_to_router(
                producer_id=producer_id, router=slot.router, keep_id=slot.keep_ids
            )
        except Exception:
            # Contract 4.5: the producer then can't be consumed there (`Cannot consume`).
            logger.exception(
                "room %s: piping %s to router %s failed", self.room_id, producer_id, slot.router.id
            )
            return
        if result.pipe_producer is not None:
            slot.piped[producer_id] = result.pipe_producer

    def _own_producer(self, sid: str, producer_id: str) -> ProducerEntry:
        entry = self.producers.get(producer_id)
        if entry is None:
            raise ClientError("Producer not found")
        if entry.sid != sid:
            raise ClientError("Not your producer")
        return entry

    async def set_producer_paused(self, sid: str, producer_id: str, paused: bool) -> None:
        entry = self._own_producer(sid, producer_id)
        await (entry.producer.pause() if paused else entry.producer.resume())

    async def set_user_paused(self, user_id: int | float, paused: bool) -> int:
        entries = [e for e in self.producers.values() if e.user_id == user_id]
        for entry in entries:
            await (entry.producer.pause() if paused else entry.producer.resume())
        return len(entries)

    async def close_user_producers(self, user_id: int | float) -> int:
        ids = [pid for pid, e in self.producers.items() if e.user_id == user_id]
        for producer_id in ids:
            entry = self.producers.get(producer_id)
            if entry is not None:
                with contextlib.suppress(MediasoupError):
                    await entry.producer.close()
                await self._producer_gone(producer_id)
        return len(ids)

    async def _producer_gone(self, producer_id: str) -> None:
        """Bookkeeping after a source producer closed (runs once): unpipe, drop consumers, announce."""
        entry = self.producers.pop(producer_id, None)
        if entry is None:
            return
        for slot in self.slots:
            piped = slot.piped.pop(producer_id, None)
            if piped is not None:
                with contextlib.suppress(MediasoupError):
                    await piped.close()
        for link in list(self.spans.values()):
            pipe_consumer = link.consumers.pop(producer_id, None)
            if pipe_consumer is not None:
                with contextlib.suppress(MediasoupError):
                    await pipe_consumer.close()
                self._spawn(self._notify_span(link.node_id, rpc.SPAN_PRODUCER_CLOSED,
                                              rpc.SpanProducerClosedRequest(roomId=self.room_id,
                                                                            producerId=producer_id)))
        for consumer_id in [c for c, e in self.consumers.items() if e.source_producer_id == producer_id]:
            consumer = self.consumers[consumer_id].consumer
            self._forget_consumer(consumer_id)
            with contextlib.suppress(MediasoupError):
                await consumer.close()
        await self._apply(self.forwarding.remove_producer(producer_id, time.monotonic()))
        if self.closed:
            return
        await self.hooks.producer_removed(self.room_id, producer_id)
        await self.hooks.emit(
            Room(self.room_id),
            "audio:producerClosed",
            wire(ProducerClosedEvent(producerId=producer_id, userId=entry.user_id)),
        )

    # -- consumers ------------------------------------------------------------------------

    async def consume(
        self, sid: str, transport_id: str, producer_id: str, rtp_capabilities: dict[str, Any], epoch: int = 0
    ) -> dict[str, Any]:
        self._check_not_released(sid, epoch)
        if producer_id not in self.producers:
            raise ClientError("Cannot consume")
        entry = self._own_transport(sid, transport_id)
        slot = entry.slot
        if entry.direction != "consumer" or slot is None:
            raise ClientError("Transport not found")
        if len(entry.consumers) + entry.consuming >= MAX_CONSUMERS_PER_TRANSPORT:
            raise ClientError("Cannot consume")
        if not slot.holds(producer_id) or not self._can_consume(
            slot.router, slot.local_id(producer_id), rtp_capabilities
        ):
            raise ClientError("Cannot consume")
        entry.consuming += 1  # counted before the await, like produce's cap
        try:
            consumer = await entry.transport.consume(
                producer_id=slot.local_id(producer_id),
                rtp_capabilities=rtp_capabilities,
                paused=True,
                app_data={"sourceProducerId": producer_id},
            )
        except (UnsupportedError, TypeError, ValueError):
            raise ClientError("Cannot consume") from None
        finally:
            entry.consuming -= 1
        if entry.transport.closed or self.closed or self.released.is_released(self.room_id, sid, epoch):
            with contextlib.suppress(MediasoupError):
                await consumer.close()
            raise ClientError("Transport not found")
        entry.consumers.add(consumer.id)
        self.consumers[consumer.id] = ConsumerEntry(consumer, sid, producer_id, transport_id)
        self.forwarding.add_consumer(consumer.id, producer_id)
        consumer.observer.on("close", lambda *_: self._forget_consumer(consumer.id))
        return {
            "id": consumer.id,
            "producerId": producer_id,  # the id the client knows, whatever the copy's id
            "kind": consumer.kind,
            "rtpParameters": consumer.rtp_parameters,
        }

    @staticmethod
    def _can_consume(router: RouterLike, producer_id: str, rtp_capabilities: dict[str, Any]) -> bool:
        try:
            return bool(router.can_consume(producer_id=producer_id, rtp_capabilities=rtp_capabilities))
        except Exception:
            return False  # capabilities the library cannot even parse

    async def resume_consumer(self, sid: str, consumer_id: str) -> bool:
        """True when deferred until the consumer's speaker is forwarded."""
        entry = self.consumers.get(consumer_id)
        if entry is None or entry.sid != sid:
            raise ClientError("Consumer not found")
        if not self.forwarding.request_resume(consumer_id):
            return True
        await entry.consumer.resume()
        return False

    def _forget_consumer(self, consumer_id: str) -> None:
        entry = self.consumers.pop(consumer_id, None)
        if entry is not None:
            self.forwarding.remove_consumer(consumer_id)
            transport = self.transports.get(entry.transport_id)
            if transport is not None:
                transport.consumers.discard(consumer_id)

    # -- active speakers ------------------------------------------------------------------

    def _on_dominant_speaker_event(self, speaker: Any, *_: Any) -> None:
        """`dominantspeaker`: the observer's dominant producer changed (a DominantSpeaker, `.producer`)."""
        self._on_dominant_speaker(getattr(getattr(speaker, "producer", None), "id", None))

    def _on_dominant_speaker(self, producer_id: str | None) -> None:
        entry = self.producers.get(str(producer_id))
        if entry is None or self.closed:
            return
        change = self.forwarding.on_dominant_speaker(entry.producer.id, entry.user_id, time.monotonic())
        self._spawn(self._apply(change))

    async def _apply(self, change: ForwardingChange) -> None:
        async def set_paused(consumer_id: str, paused: bool) -> None:
            entry = self.consumers.get(consumer_id)
            if entry is None:
                return
            with contextlib.suppress(InvalidStateError, MediasoupError):  # closed meanwhile
                await (entry.consumer.pause() if paused else entry.consumer.resume())

        await asyncio.gather(
            *(set_paused(c, True) for c in change.pause), *(set_paused(c, False) for c in change.resume)
        )
        self._tell_spans_forwarding()
        if change.active is not None and not self.closed:
            dominant, active_users = change.active
            await self.hooks.emit(
                Room(self.room_id),
                "speaker:active",
                wire(
                    SpeakerActiveEvent(
                        userId=dominant, activeSpeakers=active_users, timestamp=int(time.time() * 1000)
                    )
                ),
            )

    # -- the room across nodes (home side) -------------------------------------------------

    def _keeps_listener_here(self) -> bool:
        cap = self.settings.max_listeners_per_node
        return self.peers is None or cap <= 0 or self.listener_count + self._local_reserved < cap

    async def _create_remote_listener(
        self, sid: str, epoch: int, user_id: int | float
    ) -> dict[str, Any] | None:
        """The listener's transport on a node serving this room's listeners (opening a span there if
        none has room); None when no other node can take it (it is then made here, over the cap)."""
        assert self.peers is not None
        request = rpc.TransportCreateRequest(roomId=self.room_id, sid=sid, epoch=epoch, userId=user_id,
                                             type="consumer")
        tried: set[str] = set()
        while True:
            link = await self._span_with_room(tried)
            if link is None:
                return None
            tried.add(link.node_id)
            link.reserved += 1
            creating = self._remote_creating.setdefault(sid, set())
            creating.add(link.node_id)
            try:
                created = await self.peers.call(link.node_id, rpc.SPAN_TRANSPORT_CREATE, request)
            except MediaUnavailableError:
                logger.warning("room %s: node %s did not answer; its listeners are lost", self.room_id,
                               link.node_id)
                await self.span_lost(link.node_id)
                continue
            finally:
                link.reserved -= 1
                creating.discard(link.node_id)
                if not creating:
                    self._remote_creating.pop(sid, None)
            if self.closed:
                raise ClusterClosedError(self.room_id)  # span.close takes it with the rest there
            released = self.released.is_released(self.room_id, sid, epoch)
            if released or self.spans.get(link.node_id) is not link:
                raise ClientError("Room not found")  # the release (or the loss) reached that node too
            self.remote_transports[created.id] = RemoteTransport(created.id, sid, epoch, link.node_id)
            link.listeners += 1
            return created.model_copy(update={"nodeId": link.node_id}).model_dump(mode="json")

    async def _span_with_room(self, tried: set[str]) -> SpanLink | None:
        assert self.peers is not None
        cap = self.settings.max_listeners_per_node
        async with self._topology:
            for link in self.spans.values():
                if link.node_id not in tried and link.listeners + link.reserved < cap:
                    return link
            for node_id in await self.peers.span_candidates(exclude=set(self.spans) | tried):
                try:
                    link = await self._open_span(node_id)
                except Exception as exc:
                    logger.warning("room %s: node %s cannot serve listeners: %r", self.room_id, node_id, exc)
                    tried.add(node_id)
                    continue
                if self.closed:
                    await self._notify_span(node_id, rpc.SPAN_CLOSE, rpc.RoomRequest(roomId=self.room_id))
                    raise ClusterClosedError(self.room_id)
                self.spans[node_id] = link
                logger.info("room %s: listeners beyond %d go to node %s (pipe %s <-> %s)", self.room_id,
                            cap, node_id, link.local(), link.remote)
                return link
            return None

    async def _open_span(self, node_id: str) -> SpanLink:
        """A pipe transport here, one router and pipe transport there, connected both ways, with every
        producer piped (called with the topology lock held: no producer comes or goes meanwhile)."""
        assert self.peers is not None
        pipe = await self.source_router.create_pipe_transport(listen_info=self.peers.pipe_listen_info())
        link = SpanLink(node_id, pipe)
        try:
            producers = [await self._pipe_to_span(link, producer_id) for producer_id in list(self.producers)]
            here = pipe.tuple
            opened = await self.peers.call(node_id, rpc.SPAN_OPEN, rpc.SpanOpenRequest(
                roomId=self.room_id, homeNodeId=self.peers.node_id, ip=here["localAddress"],
                port=here["localPort"], producers=[p for p in producers if p is not None],
                forwarded=self.forwarding.decision(), forwardingSeq=self._forwarding_seq))
            await pipe.connect(ip=opened.ip, port=opened.port)
        except BaseException:
            with contextlib.suppress(Exception):
                await pipe.close()
            # It may have opened its side before we gave up.
            self._spawn(self._notify_span(node_id, rpc.SPAN_CLOSE, rpc.RoomRequest(roomId=self.room_id)))
            raise
        link.router_id, link.worker_pid = opened.routerId, opened.workerPid
        link.remote = f"{opened.ip}:{opened.port}"
        return link

    async def _pipe_to_span(self, link: SpanLink, producer_id: str) -> rpc.PipedProducer | None:
        """The producer's pipe consumer on the link's transport; what the other node produces from it."""
        entry = self.producers.get(producer_id)
        if entry is None:
            return None
        consumer: Any = await link.pipe.consume(producer_id=producer_id)
        link.consumers[producer_id] = consumer

        def paused(value: bool) -> None:
            if self.spans.get(link.node_id) is link and not self.closed:
                request = rpc.SpanProducerPausedRequest(roomId=self.room_id, producerId=producer_id,
                                                        paused=value)
                self._spawn(self._notify_span(link.node_id, rpc.SPAN_PRODUCER_PAUSED, request))

        # The pipe consumer pauses with its producer (a self mute): the copy there follows.
        consumer.observer.on("pause", lambda *_: paused(True))
        consumer.observer.on("resume", lambda *_: paused(False))
        return rpc.PipedProducer(producerId=producer_id, kind=consumer.kind,
                                 rtpParameters=consumer.rtp_parameters,
                                 paused=bool(consumer.producer_paused), userId=entry.user_id)

    async def _add_to_span(self, link: SpanLink, producer_id: str) -> None:
        """A new producer, piped to a span before `audio:newProducer` (its listeners consume it at once)."""
        assert self.peers is not None
        try:
            piped = await self._pipe_to_span(link, producer_id)
            if piped is not None:
                await self.peers.call(link.node_id, rpc.SPAN_PRODUCER_ADD,
                                      rpc.SpanProducerRequest(roomId=self.room_id, producer=piped))
        except Exception:
            # Contract 4.5: the producer then can't be consumed there (`Cannot consume`).
            logger.exception("room %s: piping %s to node %s failed", self.room_id, producer_id, link.node_id)

    def _tell_spans_forwarding(self) -> None:
        """The forwarding decision changed: the spans' consumers follow it (numbered: the last wins)."""
        decision = self.forwarding.decision()
        if decision == self._forwarding_sent or self.peers is None:
            return
        self._forwarding_sent = decision
        self._forwarding_seq += 1
        request = rpc.SpanForwardingRequest(roomId=self.room_id, forwarded=decision, seq=self._forwarding_seq)
        for link in self.spans.values():
            self._spawn(self._notify_span(link.node_id, rpc.SPAN_FORWARDING, request))

    def _forget_remote_transport(self, transport_id: str) -> None:
        transport = self.remote_transports.pop(transport_id, None)
        if transport is not None:
            link = self.spans.get(transport.node_id)
            if link is not None:
                link.listeners = max(0, link.listeners - 1)

    def remote_transport_closed(self, node_id: str, transport_id: str) -> None:
        """A listener transport on another node closed there (DTLS closed)."""
        transport = self.remote_transports.get(transport_id)
        if transport is not None and transport.node_id == node_id:
            self._forget_remote_transport(transport_id)

    async def span_lost(self, node_id: str) -> None:
        """The node serving some of this room's listeners is gone (dead, its worker died, stopping).
        Its listeners get `room:closed` (worker_died) and lose their media in the room on every node
        (a `room:join` again places them on a live node); the room goes on for everyone else."""
        link = self.spans.pop(node_id, None)
        lost = [t for t in self.remote_transports.values() if t.node_id == node_id]
        if link is None and not lost:
            return
        if link is not None:
            with contextlib.suppress(Exception):
                await link.pipe.close()
        epochs: dict[str, int] = {}
        for transport in lost:
            self.remote_transports.pop(transport.transport_id, None)
            epochs[transport.sid] = max(epochs.get(transport.sid, 0), transport.epoch)
        logger.warning("room %s: node %s lost with %d listener(s) of the room; telling them", self.room_id,
                       node_id, len(epochs))
        for sid, epoch in epochs.items():
            self.released.release(self.room_id, sid, epoch)
            with contextlib.suppress(Exception):
                await self.release_socket(sid, epoch)
            payload = {"roomId": self.room_id, "reason": LISTENERS_LOST_REASON,
                       "timestamp": int(time.time() * 1000)}
            await self.hooks.emit(Socket(sid), "room:closed", payload)

    async def _call_span(self, node_id: str, method: RpcMethod[RequestT, Any], params: RequestT) -> None:
        """A request whose answer does not matter beyond its being done (a node that is gone is lost
        by other paths: the registry watch, a failed transport.create)."""
        assert self.peers is not None
        try:
            await self.peers.call(node_id, method, params)
        except Exception as exc:
            logger.warning("room %s: %s on node %s failed: %r", self.room_id, method.name, node_id, exc)

    async def _notify_span(self, node_id: str, method: RpcMethod[RequestT, Any], params: RequestT) -> None:
        if self.peers is None:
            return
        try:
            await self.peers.notify(node_id, method, params)
        except Exception:
            logger.exception("room %s: could not send %s to node %s", self.room_id, method.name, node_id)

    # -- benchmark listeners --------------------------------------------------------------

    async def add_plain_listeners(self, count: int, ip: str, ports: list[int]) -> int:
        """Bench only: `count` plain-RTP listeners consuming every producer, sending to `ports` in turn.

        They take distribution slots like WebRTC listeners, but skip forwarding. Returns consumers made.
        """
        made = 0
        capabilities = self.source_router.rtp_capabilities
        for i in range(count):
            slot = await self._slot_for_listener()
            transport = await slot.router.create_plain_transport(
                listen_info={"protocol": "udp", "ip": self.settings.listen_ip}, rtcp_mux=True, comedia=False
            )
            await transport.connect(ip=ip, port=ports[i % len(ports)])
            slot.listeners += 1
            for producer_id in list(self.producers):
                if slot.holds(producer_id):
                    await transport.consume(
                        producer_id=slot.local_id(producer_id), rtp_capabilities=capabilities, paused=False
                    )
                    made += 1
        return made

    # -- sockets and teardown -------------------------------------------------------------

    async def release_socket(self, sid: str, epoch: int = 0) -> None:
        """Close the socket's transports made up to `epoch`; anything still being made is closed
        when it is done (the node recorded the release in `released` first)."""
        for transport_id in [t for t, e in self.transports.items() if e.sid == sid and e.epoch <= epoch]:
            await self._close_transport(transport_id)
        remote = [t for t in self.remote_transports.values() if t.sid == sid and t.epoch <= epoch]
        nodes = {t.node_id for t in remote} | self._remote_creating.get(sid, set())
        for transport in remote:
            self._forget_remote_transport(transport.transport_id)
        if nodes and self.peers is not None:
            request = rpc.SocketRequest(roomId=self.room_id, sid=sid, epoch=epoch)
            await asyncio.gather(*(self._call_span(node, rpc.SOCKET_RELEASE, request) for node in nodes))

    async def _slot_for_listener(self) -> DistributionSlot:
        cap = self.settings.max_listeners_per_distribution_router
        async with self._topology:
            for slot in self.slots:
                if slot.is_source or slot.listeners < cap:
                    return slot
            slot = await self._new_distribution_slot()
            self.slots.append(slot)
            return slot

    async def _new_distribution_slot(self) -> DistributionSlot:
        """A router on another worker, preferring one this room does not use yet; else the source router."""
        source_pid = self.source_worker.pid
        worker: PooledWorker | None = None
        for exclude in ({source_pid} | {s.worker.pid for s in self.slots}, {source_pid}):
            with contextlib.suppress(NoWorkerAvailableError):
                worker = self.pool.least_loaded(exclude=exclude)
                break
        if worker is None:
            return DistributionSlot(self.source_router, self.source_worker, is_source=True)
        router = await self.pool.create_router(worker)
        shares_worker = any(s.worker is worker for s in self.slots)
        slot = DistributionSlot(router, worker, is_source=False, keep_ids=not shares_worker)
        for producer_id in list(self.producers):
            await self._pipe(producer_id, slot)
        logger.info("room %s: distribution router %s on worker %d", self.room_id, router.id, worker.slot)
        return slot

    async def close(self) -> None:
        """Close every router of the room (their transports, producers and consumers go with them)."""
        if self.closed:
            return
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        links = list(self.spans.values())
        self.spans.clear()
        self.remote_transports.clear()
        for router in [s.router for s in self.slots if not s.is_source] + [self.source_router]:
            with contextlib.suppress(Exception):
                await router.close()
        # The other nodes close what they hold of the room (their pipe ends went with our routers).
        request = rpc.RoomRequest(roomId=self.room_id)
        await asyncio.gather(*(self._notify_span(link.node_id, rpc.SPAN_CLOSE, request) for link in links))
        self.transports.clear()
        self.producers.clear()
        self.consumers.clear()

    def _spawn(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("room %s: background media task failed", self.room_id)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            # Cancelled before its first step (a room closing at once): `work` never started;
            # closing it says so instead of a "never awaited" warning.
            if task.cancelled() and inspect.iscoroutine(work):
                work.close()

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(done)
