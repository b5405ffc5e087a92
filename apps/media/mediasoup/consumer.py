"""Consumer: one producer's media sent out of a transport to an endpoint."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from FBS.Consumer.ConsumerLayers import ConsumerLayersT
from FBS.Consumer.EnableTraceEventRequest import EnableTraceEventRequestT
from FBS.Consumer.SetPreferredLayersRequest import SetPreferredLayersRequestT
from FBS.Consumer.SetPriorityRequest import SetPriorityRequestT
from FBS.Consumer.TraceEventType import TraceEventType
from FBS.Notification.Event import Event
from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method
from FBS.Transport.CloseConsumerRequest import CloseConsumerRequestT

from .channel import Channel
from .fbs_codec import MEDIA_KIND_NAMES, flatten_rtp_stream_stats, int_list, plain
from .remote_object import AppData, RemoteObject
from .rtp_parameters_fbs import rtp_parameters_from_fbs
from .rtp_types import MediaKind, RtpParameters

if TYPE_CHECKING:
    from .transport import Transport

ConsumerType = Literal["simple", "simulcast", "svc", "pipe"]
ConsumerTraceEventType = Literal["keyframe", "fir", "nack", "pli", "rtp"]
TRACE_EVENT_TYPES: dict[str, int] = {
    "keyframe": TraceEventType.KEYFRAME,
    "fir": TraceEventType.FIR,
    "nack": TraceEventType.NACK,
    "pli": TraceEventType.PLI,
    "rtp": TraceEventType.RTP,
}


class ConsumerScore(TypedDict):
    score: int
    producerScore: int
    producerScores: list[int]


class ConsumerLayers(TypedDict):
    spatialLayer: int
    temporalLayer: NotRequired[int]


def _score(data: Any) -> ConsumerScore:
    return ConsumerScore(
        score=int(data.get("score", 10)),
        producerScore=int(data.get("producerScore", 10)),
        producerScores=int_list(data.get("producerScores")),
    )


def _layers(data: Any) -> ConsumerLayers | None:
    if data is None:
        return None
    layers = ConsumerLayers(spatialLayer=int(data.spatialLayer))
    if data.temporalLayer is not None:
        layers["temporalLayer"] = int(data.temporalLayer)
    return layers


class Consumer(RemoteObject):
    """Events: `transportclose`, `producerclose`, `producerpause`, `producerresume`, `score`,
    `layerschange`, `trace`, `rtp`, `@close`.

    Observer: `close`, `pause`, `resume`, `score`, `layerschange`, `trace`.
    """

    def __init__(
        self,
        *,
        channel: Channel,
        consumer_id: str,
        transport: Transport,
        producer_id: str,
        kind: MediaKind,
        rtp_parameters: RtpParameters,
        consumer_type: ConsumerType,
        paused: bool,
        producer_paused: bool,
        score: dict[str, Any] | None,
        app_data: AppData | None,
    ) -> None:
        super().__init__(channel, consumer_id, app_data)
        self._transport = transport
        self._producer_id = producer_id
        self._kind: MediaKind = kind
        self._rtp_parameters = rtp_parameters
        self._type: ConsumerType = consumer_type
        self._paused = paused
        self._producer_paused = producer_paused
        self._priority = 1
        self._score = _score(score or {})
        self._preferred_layers: ConsumerLayers | None = None
        self._current_layers: ConsumerLayers | None = None
        channel.add_handler(consumer_id, self._on_notification)

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def producer_id(self) -> str:
        return self._producer_id

    @property
    def kind(self) -> MediaKind:
        return self._kind

    @property
    def rtp_parameters(self) -> RtpParameters:
        return copy.deepcopy(self._rtp_parameters)

    @property
    def type(self) -> ConsumerType:
        return self._type

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def producer_paused(self) -> bool:
        return self._producer_paused

    @property
    def priority(self) -> int:
        return self._priority

    @property
    def score(self) -> ConsumerScore:
        return copy.deepcopy(self._score)

    @property
    def preferred_layers(self) -> ConsumerLayers | None:
        return copy.deepcopy(self._preferred_layers)

    @property
    def current_layers(self) -> ConsumerLayers | None:
        return copy.deepcopy(self._current_layers)

    async def close(self) -> None:
        body = CloseConsumerRequestT(consumerId=self._id)
        await self._close_in_worker(
            Method.TRANSPORT_CLOSE_CONSUMER,
            RequestBody.Transport_CloseConsumerRequest,
            body,
            self._transport.id,
        )

    async def dump(self) -> dict[str, Any]:
        response = await self._request(Method.CONSUMER_DUMP)
        data: dict[str, Any] = plain(response.data)
        base = data.pop("base", None) or {}
        fbs_base = response.data.base
        base["kind"] = MEDIA_KIND_NAMES.get(fbs_base.kind, fbs_base.kind)
        base["type"] = self._type
        base["rtpParameters"] = rtp_parameters_from_fbs(fbs_base.rtpParameters)
        return {**base, **data}

    async def get_stats(self) -> list[dict[str, Any]]:
        response = await self._request(Method.CONSUMER_GET_STATS)
        return [flatten_rtp_stream_stats(stat) for stat in plain(response.stats) or []]

    async def pause(self) -> None:
        await self._request(Method.CONSUMER_PAUSE)
        was_paused, self._paused = self._paused, True
        if not was_paused and not self._producer_paused:
            self.observer.emit("pause")

    async def resume(self) -> None:
        await self._request(Method.CONSUMER_RESUME)
        was_paused, self._paused = self._paused, False
        if was_paused and not self._producer_paused:
            self.observer.emit("resume")

    async def set_preferred_layers(self, *, spatial_layer: int, temporal_layer: int | None = None) -> None:
        for name, value in (("spatial_layer", spatial_layer), ("temporal_layer", temporal_layer)):
            if value is not None and (not isinstance(value, int) or not 0 <= value <= 255):
                raise ValueError(f"{name} must be an integer in 0..255, got {value!r}")
        body = SetPreferredLayersRequestT(
            preferredLayers=ConsumerLayersT(spatialLayer=spatial_layer, temporalLayer=temporal_layer)
        )
        response = await self._request(
            Method.CONSUMER_SET_PREFERRED_LAYERS, RequestBody.Consumer_SetPreferredLayersRequest, body
        )
        self._preferred_layers = _layers(response.preferredLayers) if response is not None else None

    async def set_priority(self, priority: int) -> None:
        if not isinstance(priority, int) or not 1 <= priority <= 255:
            raise ValueError(f"priority must be an integer in 1..255, got {priority!r}")
        body = SetPriorityRequestT(priority=priority)
        response = await self._request(
            Method.CONSUMER_SET_PRIORITY, RequestBody.Consumer_SetPriorityRequest, body
        )
        self._priority = int(response.priority)

    async def request_key_frame(self) -> None:
        await self._request(Method.CONSUMER_REQUEST_KEY_FRAME)

    async def enable_trace_event(self, types: list[ConsumerTraceEventType]) -> None:
        unknown = [t for t in types if t not in TRACE_EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown consumer trace event types {unknown}")
        body = EnableTraceEventRequestT(events=[TRACE_EVENT_TYPES[t] for t in types])
        await self._request(
            Method.CONSUMER_ENABLE_TRACE_EVENT, RequestBody.Consumer_EnableTraceEventRequest, body
        )

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.CONSUMER_PRODUCER_CLOSE:
            self._teardown("producerclose")
        elif event == Event.CONSUMER_PRODUCER_PAUSE:
            if self._producer_paused:
                return
            self._producer_paused = True
            self.emit("producerpause")
            if not self._paused:
                self.observer.emit("pause")
        elif event == Event.CONSUMER_PRODUCER_RESUME:
            if not self._producer_paused:
                return
            self._producer_paused = False
            self.emit("producerresume")
            if not self._paused:
                self.observer.emit("resume")
        elif event == Event.CONSUMER_SCORE:
            self._score = _score(plain(body.score))
            self.emit("score", self.score)
            self.observer.emit("score", self.score)
        elif event == Event.CONSUMER_LAYERS_CHANGE:
            self._current_layers = _layers(body.layers) if body is not None else None
            self.emit("layerschange", self.current_layers)
            self.observer.emit("layerschange", self.current_layers)
        elif event == Event.CONSUMER_TRACE:
            trace = plain(body)
            self.emit("trace", trace)
            self.observer.emit("trace", trace)
        elif event == Event.CONSUMER_RTP:
            self.emit("rtp", bytes(int_list(body.data)))
