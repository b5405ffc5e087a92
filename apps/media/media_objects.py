"""The shapes of the mediasoup library objects the service uses (see LIBRARY_REQUESTS.md).

Structural types, so the service depends on what it calls and not on the
library's module layout; `load_create_worker` returns the library's entry point.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class EventSource(Protocol):
    def on(self, event: str, listener: Callable[..., Any]) -> Any: ...


class ProducerLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def observer(self) -> EventSource: ...

    async def pause(self) -> None: ...

    async def resume(self) -> None: ...

    async def close(self) -> None: ...


class ConsumerLike(ProducerLike, Protocol):
    @property
    def producer_id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def rtp_parameters(self) -> Any: ...


class TransportLike(EventSource, Protocol):
    @property
    def id(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    @property
    def observer(self) -> EventSource: ...

    async def connect(self, **params: Any) -> None: ...

    async def produce(self, **options: Any) -> ProducerLike: ...

    async def consume(self, **options: Any) -> ConsumerLike: ...

    async def close(self) -> None: ...


class WebRtcTransportLike(TransportLike, Protocol):
    @property
    def ice_parameters(self) -> Any: ...

    @property
    def ice_candidates(self) -> Any: ...

    @property
    def dtls_parameters(self) -> Any: ...

    async def set_max_incoming_bitrate(self, bitrate: int) -> None: ...


class PipeTransportLike(TransportLike, Protocol):
    """A pipe transport (RTP between routers; here, between media nodes)."""

    @property
    def tuple(self) -> Any: ...  # {localAddress, localPort, protocol, remoteIp?, remotePort?}


class PipeResultLike(Protocol):
    @property
    def pipe_producer(self) -> ProducerLike | None: ...


class SpeakerObserverLike(EventSource, Protocol):
    async def add_producer(self, *, producer_id: str) -> None: ...


class RouterLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def rtp_capabilities(self) -> Any: ...

    @property
    def observer(self) -> EventSource: ...

    def can_consume(self, *, producer_id: str, rtp_capabilities: Any) -> bool: ...

    async def create_webrtc_transport(self, **options: Any) -> WebRtcTransportLike: ...

    async def create_plain_transport(self, **options: Any) -> TransportLike: ...

    async def create_pipe_transport(self, **options: Any) -> PipeTransportLike: ...

    async def pipe_to_router(
        self, *, producer_id: str, router: Any, keep_id: bool = ...
    ) -> PipeResultLike: ...

    async def create_active_speaker_observer(self, *, interval: int) -> SpeakerObserverLike: ...

    async def close(self) -> None: ...


class WorkerLike(EventSource, Protocol):
    @property
    def pid(self) -> int: ...

    async def create_webrtc_server(self, **options: Any) -> Any: ...

    async def create_router(self, **options: Any) -> RouterLike: ...

    async def close(self) -> None: ...


CreateWorker = Callable[..., Awaitable[WorkerLike]]


def load_create_worker() -> CreateWorker:
    """The library's `create_worker` (imported late: the pool's logic tests run without a worker)."""
    from apps.media.mediasoup import create_worker

    return create_worker  # type: ignore[return-value]
