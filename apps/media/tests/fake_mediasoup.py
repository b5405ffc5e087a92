"""An in-memory stand-in for the mediasoup library, for testing the service's own logic fast.

Clearly not mediasoup: no worker process, no media. It keeps the object tree
(worker > router > transport > producer/consumer), the close cascade with
`observer` "close" events, mediasoup's refusal to pipe with keep_id between
routers of one worker, and lets a test kill a worker or fire a dominant speaker.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.media.mediasoup.errors import InvalidStateError, UnsupportedError

_pids = itertools.count(50_000)


class Emitter:
    def __init__(self) -> None:
        self.listeners: dict[str, list[Callable[..., Any]]] = {}

    def on(self, event: str, listener: Callable[..., Any]) -> None:
        self.listeners.setdefault(event, []).append(listener)

    def emit(self, event: str, *args: Any) -> None:
        for listener in list(self.listeners.get(event, [])):
            listener(*args)


class Closeable(Emitter):
    def __init__(self) -> None:
        super().__init__()
        self.id = str(uuid.uuid4())
        self.observer = Emitter()
        self.closed = False
        self.children: list[Closeable] = []

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        if self.closed:
            return
        self.closed = True
        for child in list(self.children):
            child.close_now()
        self.observer.emit("close")


class FakeProducer(Closeable):
    def __init__(self, kind: str, app_data: dict[str, Any]) -> None:
        super().__init__()
        self.kind = kind
        self.app_data = app_data
        self.paused = False

    async def pause(self) -> None:
        self.paused = True

    async def resume(self) -> None:
        self.paused = False


class FakeConsumer(FakeProducer):
    def __init__(self, producer: FakeProducer, paused: bool) -> None:
        super().__init__(producer.kind, {})
        self.producer_id = producer.id
        self.paused = paused
        self.rtp_parameters = {"codecs": [{"mimeType": "audio/opus"}]}
        producer.children.append(self)

    async def pause(self) -> None:
        if self.closed:
            raise InvalidStateError("closed")
        self.paused = True

    async def resume(self) -> None:
        if self.closed:
            raise InvalidStateError("closed")
        self.paused = False


class FakeTransport(Closeable):
    def __init__(self, router: FakeRouter) -> None:
        super().__init__()
        self.router = router
        self.ice_parameters = {"usernameFragment": "u", "password": "p"}
        self.ice_candidates = [{"ip": "127.0.0.1"}]
        self.dtls_parameters = {"role": "auto", "fingerprints": []}
        self.connected_with: dict[str, Any] | None = None

    async def set_max_incoming_bitrate(self, bitrate: int) -> None:
        pass

    async def connect(self, **params: Any) -> None:
        self.connected_with = params

    async def produce(
        self, *, kind: str, rtp_parameters: dict[str, Any], app_data: dict[str, Any]
    ) -> FakeProducer:
        if rtp_parameters["codecs"][0]["mimeType"].lower() != "audio/opus":
            raise UnsupportedError("unsupported codec")
        producer = FakeProducer(kind, app_data)
        self.children.append(producer)
        self.router.producers[producer.id] = producer
        return producer

    async def consume(
        self, *, producer_id: str, rtp_capabilities: Any, paused: bool = False, app_data: Any = None
    ) -> FakeConsumer:
        consumer = FakeConsumer(self.router.producers[producer_id], paused)
        self.children.append(consumer)
        return consumer


@dataclass
class PipeResult:
    pipe_producer: FakeProducer | None


class FakeRouter(Closeable):
    def __init__(self, worker: FakeWorker) -> None:
        super().__init__()
        self.worker = worker
        self.rtp_capabilities = {"codecs": [{"kind": "audio", "mimeType": "audio/opus"}]}
        self.producers: dict[str, FakeProducer] = {}
        self.observers: list[FakeObserver] = []

    def can_consume(self, *, producer_id: str, rtp_capabilities: Any) -> bool:
        return producer_id in self.producers and bool(rtp_capabilities.get("codecs"))

    async def create_webrtc_transport(self, **options: Any) -> FakeTransport:
        transport = FakeTransport(self)
        self.children.append(transport)
        return transport

    async def create_plain_transport(self, **options: Any) -> FakeTransport:
        return await self.create_webrtc_transport()

    async def pipe_to_router(
        self, *, producer_id: str, router: FakeRouter, keep_id: bool = True
    ) -> PipeResult:
        if keep_id and router.worker is self.worker:
            raise UnsupportedError("cannot use keep_id between routers in the same worker")
        if keep_id and any(producer_id in r.producers for r in router.worker.routers):
            # Producer ids are unique per worker, as the real worker insists.
            raise UnsupportedError("Channel request handler with that id already exists")
        source = self.producers[producer_id]
        piped = FakeProducer(source.kind, {})
        piped.id = producer_id if keep_id else piped.id
        router.producers[piped.id] = piped
        source.children.append(piped)
        router.children.append(piped)
        return PipeResult(piped)

    async def create_active_speaker_observer(self, **options: Any) -> FakeObserver:
        observer = FakeObserver(self)
        self.observers.append(observer)
        self.children.append(observer)
        return observer


@dataclass(frozen=True)
class FakeDominantSpeaker:
    """The library's DominantSpeaker: the payload of `dominantspeaker`."""

    producer: FakeProducer


class FakeObserver(Closeable):
    def __init__(self, router: FakeRouter) -> None:
        super().__init__()
        self.router = router
        self.producer_ids: list[str] = []

    async def add_producer(self, *, producer_id: str) -> None:
        self.producer_ids.append(producer_id)

    def dominant(self, producer_id: str) -> None:
        """A `dominantspeaker` event naming `producer_id`."""
        self.emit("dominantspeaker", FakeDominantSpeaker(self.router.producers[producer_id]))


@dataclass(eq=False)
class FakeWorker(Emitter):
    pid: int = field(default_factory=lambda: next(_pids))
    routers: list[FakeRouter] = field(default_factory=list)
    closed: bool = False

    def __post_init__(self) -> None:
        Emitter.__init__(self)

    async def create_webrtc_server(self, **options: Any) -> object:
        return object()

    async def create_router(self, **options: Any) -> FakeRouter:
        router = FakeRouter(self)
        self.routers.append(router)
        return router

    async def close(self) -> None:
        self.closed = True
        for router in self.routers:
            router.close_now()

    def die(self) -> None:
        """The process went away: everything on it closes, then `died`."""
        self.closed = True
        for router in self.routers:
            router.close_now()
        self.emit("died", RuntimeError("killed"))


class FakeLibrary:
    def __init__(self) -> None:
        self.workers: list[FakeWorker] = []

    async def create_worker(self, **settings: Any) -> FakeWorker:
        worker = FakeWorker()
        self.workers.append(worker)
        return worker
