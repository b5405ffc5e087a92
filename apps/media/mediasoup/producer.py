"""Producer: media an endpoint sends into a transport."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from FBS.Notification.Event import Event
from FBS.Producer.EnableTraceEventRequest import EnableTraceEventRequestT
from FBS.Producer.TraceEventType import TraceEventType
from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method
from FBS.RtpParameters.Type import Type as FbsRtpType
from FBS.Transport.CloseProducerRequest import CloseProducerRequestT

from .channel import Channel
from .fbs_codec import MEDIA_KIND_NAMES, flatten_rtp_stream_stats, plain, text
from .remote_object import AppData, RemoteObject
from .rtp_parameters_fbs import rtp_parameters_from_fbs
from .rtp_types import MediaKind, RtpParameters

if TYPE_CHECKING:
    from .transport import Transport

ProducerType = Literal["simple", "simulcast", "svc"]
ProducerTraceEventType = Literal["keyframe", "fir", "nack", "pli", "rtp", "sr"]
_TYPE_FROM_FBS: dict[int, ProducerType] = {
    FbsRtpType.SIMPLE: "simple",
    FbsRtpType.SIMULCAST: "simulcast",
    FbsRtpType.SVC: "svc",
}
TRACE_EVENT_TYPES: dict[str, int] = {
    "keyframe": TraceEventType.KEYFRAME,
    "fir": TraceEventType.FIR,
    "nack": TraceEventType.NACK,
    "pli": TraceEventType.PLI,
    "rtp": TraceEventType.RTP,
    "sr": TraceEventType.SR,
}


class ProducerScore(TypedDict):
    encodingIdx: int
    ssrc: int
    rid: str
    score: int


def producer_type_from_fbs(value: int) -> ProducerType:
    return _TYPE_FROM_FBS.get(value, "simple")


class Producer(RemoteObject):
    """Events: `transportclose`, `score` (list[ProducerScore]), `videoorientationchange`, `trace`, `@close`.

    Observer: `close`, `pause`, `resume`, `score`, `videoorientationchange`, `trace`.
    """

    def __init__(
        self,
        *,
        channel: Channel,
        producer_id: str,
        transport: Transport,
        kind: MediaKind,
        rtp_parameters: RtpParameters,
        producer_type: ProducerType,
        consumable_rtp_parameters: RtpParameters,
        paused: bool,
        app_data: AppData | None,
    ) -> None:
        super().__init__(channel, producer_id, app_data)
        self._transport = transport
        self._kind: MediaKind = kind
        self._rtp_parameters = rtp_parameters
        self._type: ProducerType = producer_type
        self._consumable_rtp_parameters = consumable_rtp_parameters
        self._paused = paused
        self._score: list[ProducerScore] = []
        channel.add_handler(producer_id, self._on_notification)

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def kind(self) -> MediaKind:
        return self._kind

    @property
    def rtp_parameters(self) -> RtpParameters:
        return copy.deepcopy(self._rtp_parameters)

    @property
    def type(self) -> ProducerType:
        return self._type

    @property
    def consumable_rtp_parameters(self) -> RtpParameters:
        return copy.deepcopy(self._consumable_rtp_parameters)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def score(self) -> list[ProducerScore]:
        return copy.deepcopy(self._score)

    async def close(self) -> None:
        """Close the producer; the worker closes its consumers (they emit `producerclose`)."""
        body = CloseProducerRequestT(producerId=self._id)
        await self._close_in_worker(
            Method.TRANSPORT_CLOSE_PRODUCER,
            RequestBody.Transport_CloseProducerRequest,
            body,
            self._transport.id,
        )

    async def dump(self) -> dict[str, Any]:
        response = await self._request(Method.PRODUCER_DUMP)
        result: dict[str, Any] = plain(response)
        result["kind"] = MEDIA_KIND_NAMES.get(response.kind, response.kind)
        result["type"] = producer_type_from_fbs(response.type)
        result["rtpParameters"] = rtp_parameters_from_fbs(response.rtpParameters)
        return result

    async def get_stats(self) -> list[dict[str, Any]]:
        response = await self._request(Method.PRODUCER_GET_STATS)
        return [flatten_rtp_stream_stats(stat) for stat in plain(response.stats) or []]

    async def pause(self) -> None:
        await self._request(Method.PRODUCER_PAUSE)
        was_paused, self._paused = self._paused, True
        if not was_paused:
            self.observer.emit("pause")

    async def resume(self) -> None:
        await self._request(Method.PRODUCER_RESUME)
        was_paused, self._paused = self._paused, False
        if was_paused:
            self.observer.emit("resume")

    async def enable_trace_event(self, types: list[ProducerTraceEventType]) -> None:
        unknown = [t for t in types if t not in TRACE_EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown producer trace event types {unknown}")
        body = EnableTraceEventRequestT(events=[TRACE_EVENT_TYPES[t] for t in types])
        await self._request(
            Method.PRODUCER_ENABLE_TRACE_EVENT, RequestBody.Producer_EnableTraceEventRequest, body
        )

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.PRODUCER_SCORE:
            self._score = [
                ProducerScore(encodingIdx=s.encodingIdx, ssrc=s.ssrc, rid=text(s.rid), score=s.score)
                for s in body.scores or []
            ]
            self.emit("score", self.score)
            self.observer.emit("score", self.score)
        elif event == Event.PRODUCER_VIDEO_ORIENTATION_CHANGE:
            orientation = plain(body)
            self.emit("videoorientationchange", orientation)
            self.observer.emit("videoorientationchange", orientation)
        elif event == Event.PRODUCER_TRACE:
            trace = plain(body)
            self.emit("trace", trace)
            self.observer.emit("trace", trace)
