"""Transport: what every transport type shares (produce, consume, bitrates, stats, close cascade)."""

from __future__ import annotations

import copy
import logging
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NotRequired, TypedDict

from FBS.Notification.Event import Event
from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method
from FBS.Router.CloseTransportRequest import CloseTransportRequestT
from FBS.RtpParameters.MediaKind import MediaKind as FbsMediaKind
from FBS.RtpParameters.Type import Type as FbsRtpType
from FBS.SrtpParameters.SrtpCryptoSuite import SrtpCryptoSuite as FbsSrtpCryptoSuite
from FBS.SrtpParameters.SrtpParameters import SrtpParametersT
from FBS.Transport.ConsumeRequest import ConsumeRequestT
from FBS.Transport.EnableTraceEventRequest import EnableTraceEventRequestT
from FBS.Transport.ProduceRequest import ProduceRequestT
from FBS.Transport.SetMaxIncomingBitrateRequest import SetMaxIncomingBitrateRequestT
from FBS.Transport.SetMaxOutgoingBitrateRequest import SetMaxOutgoingBitrateRequestT
from FBS.Transport.SetMinOutgoingBitrateRequest import SetMinOutgoingBitrateRequestT
from FBS.Transport.TraceEventType import TraceEventType

from . import ortc
from .channel import Channel
from .consumer import Consumer, ConsumerType
from .errors import InvalidStateError, NotFoundError
from .fbs_codec import optional_text, plain, text
from .listen_info import PROTOCOL_FROM_FBS, TransportProtocol
from .producer import Producer, ProducerType, producer_type_from_fbs
from .remote_object import AppData, RemoteObject
from .rtp_parameters_fbs import encodings_to_fbs, rtp_mapping_to_fbs, rtp_parameters_to_fbs
from .rtp_types import MediaKind, RtpCapabilities, RtpParameters

if TYPE_CHECKING:
    from .router import Router

logger = logging.getLogger(__name__)

TransportType = Literal["webrtc", "plain", "pipe"]
SrtpCryptoSuite = Literal[
    "AEAD_AES_256_GCM", "AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"
]
SRTP_CRYPTO_SUITE_FROM_FBS: dict[int, SrtpCryptoSuite] = {
    FbsSrtpCryptoSuite.AEAD_AES_256_GCM: "AEAD_AES_256_GCM",
    FbsSrtpCryptoSuite.AEAD_AES_128_GCM: "AEAD_AES_128_GCM",
    FbsSrtpCryptoSuite.AES_CM_128_HMAC_SHA1_80: "AES_CM_128_HMAC_SHA1_80",
    FbsSrtpCryptoSuite.AES_CM_128_HMAC_SHA1_32: "AES_CM_128_HMAC_SHA1_32",
}
SRTP_CRYPTO_SUITE_TO_FBS: dict[str, int] = {name: value for value, name in SRTP_CRYPTO_SUITE_FROM_FBS.items()}
TRACE_EVENT_TYPES: dict[str, int] = {"probation": TraceEventType.PROBATION, "bwe": TraceEventType.BWE}
_MAX_MID = 100_000_000  # mids use at most 8 characters
_UINT64_MAX = 0xFFFF_FFFF_FFFF_FFFF


class TransportTuple(TypedDict):
    localAddress: str
    localPort: int
    protocol: TransportProtocol
    remoteIp: NotRequired[str]
    remotePort: NotRequired[int]


class SrtpParameters(TypedDict):
    cryptoSuite: SrtpCryptoSuite
    keyBase64: str


def tuple_from_fbs(data: Any) -> TransportTuple:
    result = TransportTuple(
        localAddress=text(data.localAddress),
        localPort=int(data.localPort),
        protocol=PROTOCOL_FROM_FBS.get(data.protocol, "udp"),
    )
    remote_ip = optional_text(data.remoteIp)
    if remote_ip:
        result["remoteIp"] = remote_ip
        result["remotePort"] = int(data.remotePort)
    return result


def srtp_parameters_from_fbs(data: Any) -> SrtpParameters | None:
    if data is None:
        return None
    return SrtpParameters(
        cryptoSuite=SRTP_CRYPTO_SUITE_FROM_FBS[data.cryptoSuite], keyBase64=text(data.keyBase64)
    )


def srtp_parameters_to_fbs(parameters: SrtpParameters) -> SrtpParametersT:
    suite = parameters.get("cryptoSuite")
    key = parameters.get("keyBase64")
    if suite not in SRTP_CRYPTO_SUITE_TO_FBS:
        raise ValueError(f"unknown SRTP crypto suite {suite!r}")
    if not isinstance(key, str) or not key:
        raise ValueError("srtp_parameters.keyBase64 must be a non-empty string")
    return SrtpParametersT(cryptoSuite=SRTP_CRYPTO_SUITE_TO_FBS[suite], keyBase64=key)


def srtp_crypto_suite_to_fbs(suite: str) -> int:
    if suite not in SRTP_CRYPTO_SUITE_TO_FBS:
        raise ValueError(f"unknown SRTP crypto suite {suite!r}")
    return SRTP_CRYPTO_SUITE_TO_FBS[suite]


def check_bitrate(bitrate: int) -> int:
    if not isinstance(bitrate, int) or isinstance(bitrate, bool) or not 0 <= bitrate <= _UINT64_MAX:
        raise ValueError(f"bitrate must be a non-negative integer, got {bitrate!r}")
    return bitrate


class Transport(RemoteObject):
    """Events: `routerclose`, `listenserverclose`, `@close`, `trace`.

    Observer: `close`, `newproducer`, `newconsumer`, `trace`.
    """

    type: ClassVar[TransportType]

    def __init__(
        self, *, channel: Channel, transport_id: str, router: Router, app_data: AppData | None
    ) -> None:
        super().__init__(channel, transport_id, app_data)
        self._router = router
        self._producers: dict[str, Producer] = {}
        self._consumers: dict[str, Consumer] = {}
        self._cname_for_producers: str | None = None
        self._next_mid = 0
        channel.add_handler(transport_id, self._on_notification)

    @property
    def router(self) -> Router:
        return self._router

    @property
    def producers(self) -> list[Producer]:
        return list(self._producers.values())

    @property
    def consumers(self) -> list[Consumer]:
        return list(self._consumers.values())

    # ---------------------------------------------------------------- close

    async def close(self) -> None:
        """Close the transport and, with it, its producers and consumers (`transportclose`)."""
        body = CloseTransportRequestT(transportId=self._id)
        await self._close_in_worker(
            Method.ROUTER_CLOSE_TRANSPORT, RequestBody.Router_CloseTransportRequest, body, self._router.id
        )

    def _children(self) -> list[RemoteObject]:
        return [*self._producers.values(), *self._consumers.values()]

    def _close_children(self) -> None:
        producers, self._producers = list(self._producers.values()), {}
        for producer in producers:
            producer._teardown("transportclose")
        consumers, self._consumers = list(self._consumers.values()), {}
        for consumer in consumers:
            consumer._teardown("transportclose")

    # ---------------------------------------------------------------- requests

    async def dump(self) -> dict[str, Any]:
        response = await self._request(Method.TRANSPORT_DUMP)
        result: dict[str, Any] = plain(response)
        base = result.pop("base", None) or {}
        return {**base, **result}

    async def get_stats(self) -> list[dict[str, Any]]:
        response = await self._request(Method.TRANSPORT_GET_STATS)
        stats: dict[str, Any] = plain(response)
        base = stats.pop("base", None) or {}
        return [{"type": self._stats_type(), **base, **self._stats_extra(response, stats)}]

    def _stats_type(self) -> str:
        return f"{self.type}-transport"

    def _stats_extra(self, response: Any, stats: dict[str, Any]) -> dict[str, Any]:
        return stats

    async def set_max_incoming_bitrate(self, bitrate: int) -> None:
        body = SetMaxIncomingBitrateRequestT(maxIncomingBitrate=check_bitrate(bitrate))
        await self._request(
            Method.TRANSPORT_SET_MAX_INCOMING_BITRATE,
            RequestBody.Transport_SetMaxIncomingBitrateRequest,
            body,
        )

    async def set_max_outgoing_bitrate(self, bitrate: int) -> None:
        body = SetMaxOutgoingBitrateRequestT(maxOutgoingBitrate=check_bitrate(bitrate))
        await self._request(
            Method.TRANSPORT_SET_MAX_OUTGOING_BITRATE,
            RequestBody.Transport_SetMaxOutgoingBitrateRequest,
            body,
        )

    async def set_min_outgoing_bitrate(self, bitrate: int) -> None:
        body = SetMinOutgoingBitrateRequestT(minOutgoingBitrate=check_bitrate(bitrate))
        await self._request(
            Method.TRANSPORT_SET_MIN_OUTGOING_BITRATE,
            RequestBody.Transport_SetMinOutgoingBitrateRequest,
            body,
        )

    async def enable_trace_event(self, types: list[Literal["probation", "bwe"]]) -> None:
        unknown = [t for t in types if t not in TRACE_EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown transport trace event types {unknown}")
        body = EnableTraceEventRequestT(events=[TRACE_EVENT_TYPES[t] for t in types])
        await self._request(
            Method.TRANSPORT_ENABLE_TRACE_EVENT, RequestBody.Transport_EnableTraceEventRequest, body
        )

    # ---------------------------------------------------------------- produce / consume

    async def produce(
        self,
        *,
        kind: MediaKind,
        rtp_parameters: RtpParameters,
        paused: bool = False,
        key_frame_request_delay: int = 0,
        producer_id: str | None = None,
        app_data: AppData | None = None,
    ) -> Producer:
        """Start receiving media described by `rtp_parameters` (validated; the input is not modified)."""
        if self.closed:
            raise InvalidStateError(f"{self!r} is closed")
        if kind not in ("audio", "video"):
            raise TypeError(f"invalid kind {kind!r}")
        if producer_id is not None and producer_id in self._router._producers:
            raise ValueError(f"a Producer with id {producer_id!r} already exists in this Router")
        params: RtpParameters = copy.deepcopy(rtp_parameters)
        ortc.validate_rtp_parameters(params)
        if not params.get("encodings"):
            params["encodings"] = [{}]
            ortc.validate_rtp_parameters(params)
        self._set_producer_cname(params)
        router_caps = self._router._rtp_capabilities
        rtp_mapping = ortc.get_producer_rtp_parameters_mapping(params, router_caps)
        consumable = ortc.get_consumable_rtp_parameters(kind, params, router_caps, rtp_mapping)
        new_id = producer_id or str(uuid.uuid4())
        body = ProduceRequestT(
            producerId=new_id,
            kind=FbsMediaKind.AUDIO if kind == "audio" else FbsMediaKind.VIDEO,
            rtpParameters=rtp_parameters_to_fbs(params),
            rtpMapping=rtp_mapping_to_fbs(rtp_mapping),
            paused=bool(paused),
            keyFrameRequestDelay=int(key_frame_request_delay),
            enableMediasoupPacketIdHeaderExtension=False,
        )
        response = await self._request(Method.TRANSPORT_PRODUCE, RequestBody.Transport_ProduceRequest, body)
        producer = Producer(
            channel=self._channel,
            producer_id=new_id,
            transport=self,
            kind=kind,
            rtp_parameters=params,
            producer_type=producer_type_from_fbs(response.type),
            consumable_rtp_parameters=consumable,
            paused=bool(paused),
            app_data=app_data,
        )
        self._adopt_producer(producer)
        self.observer.emit("newproducer", producer)
        return producer

    def _set_producer_cname(self, params: RtpParameters) -> None:
        rtcp = params.setdefault("rtcp", {})
        # One CNAME per transport: producers of one endpoint share its clock (not so through a pipe).
        if self._cname_for_producers is None:
            self._cname_for_producers = rtcp.get("cname") or uuid.uuid4().hex[:8]
        rtcp["cname"] = self._cname_for_producers

    def _adopt_producer(self, producer: Producer) -> None:
        self._producers[producer.id] = producer
        self._router._producers[producer.id] = producer

        def forget() -> None:
            self._producers.pop(producer.id, None)
            self._router._producers.pop(producer.id, None)

        producer._teardown_callbacks.append(forget)

    async def consume(
        self,
        *,
        producer_id: str,
        rtp_capabilities: RtpCapabilities,
        paused: bool = False,
        mid: str | None = None,
        ignore_dtx: bool = False,
        enable_rtx: bool | None = None,
        pipe: bool = False,
        app_data: AppData | None = None,
    ) -> Consumer:
        """Send `producer_id`'s media to this transport's endpoint, as its `rtp_capabilities` accept."""
        if not isinstance(producer_id, str) or not producer_id:
            raise TypeError("missing producer_id")
        if mid is not None and (not isinstance(mid, str) or not mid):
            raise TypeError("if given, mid must be a non-empty string")
        caps = copy.deepcopy(rtp_capabilities)
        ortc.validate_rtp_capabilities(caps)
        producer = self._router._producers.get(producer_id)
        if producer is None:
            raise NotFoundError(f"Producer with id {producer_id!r} not found")
        rtp_parameters = ortc.get_consumer_rtp_parameters(
            consumable_rtp_parameters=producer.consumable_rtp_parameters,
            remote_rtp_capabilities=caps,
            pipe=pipe,
            enable_rtx=producer.kind == "video" if enable_rtx is None else enable_rtx,
        )
        if not pipe:
            rtp_parameters["mid"] = mid if mid is not None else self._take_mid()
        consumer_type: ConsumerType = "pipe" if pipe else producer.type
        return await self._consume(producer, rtp_parameters, consumer_type, paused, ignore_dtx, app_data)

    def _take_mid(self) -> str:
        mid = str(self._next_mid)
        self._next_mid = (self._next_mid + 1) % _MAX_MID
        return mid

    async def _consume(
        self,
        producer: Producer,
        rtp_parameters: RtpParameters,
        consumer_type: ConsumerType,
        paused: bool,
        ignore_dtx: bool,
        app_data: AppData | None,
    ) -> Consumer:
        consumer_id = str(uuid.uuid4())
        body = ConsumeRequestT(
            consumerId=consumer_id,
            producerId=producer.id,
            kind=FbsMediaKind.AUDIO if producer.kind == "audio" else FbsMediaKind.VIDEO,
            rtpParameters=rtp_parameters_to_fbs(rtp_parameters),
            type=_CONSUMER_TYPE_TO_FBS[consumer_type],
            consumableRtpEncodings=encodings_to_fbs(producer.consumable_rtp_parameters.get("encodings", [])),
            paused=bool(paused),
            preferredLayers=None,
            ignoreDtx=bool(ignore_dtx),
        )
        response = await self._request(Method.TRANSPORT_CONSUME, RequestBody.Transport_ConsumeRequest, body)
        consumer = Consumer(
            channel=self._channel,
            consumer_id=consumer_id,
            transport=self,
            producer_id=producer.id,
            kind=producer.kind,
            rtp_parameters=rtp_parameters,
            consumer_type=consumer_type,
            paused=bool(response.paused),
            producer_paused=bool(response.producerPaused),
            score=plain(response.score) if response.score is not None else None,
            app_data=app_data,
        )
        self._consumers[consumer_id] = consumer
        consumer._teardown_callbacks.append(lambda: self._consumers.pop(consumer_id, None))
        self.observer.emit("newconsumer", consumer)
        return consumer

    # ---------------------------------------------------------------- notifications

    def _on_notification(self, event: int, body: Any) -> None:
        if event == Event.TRANSPORT_TRACE:
            trace = plain(body)
            self.emit("trace", trace)
            self.observer.emit("trace", trace)
        elif event in (Event.TRANSPORT_SCTP_STATE_CHANGE, Event.TRANSPORT_SCTP_NEGOTIATED_CAPABILITIES):
            logger.debug("%r: SCTP notification ignored (no data channels in this library)", self)
        else:
            logger.warning("%r: unexpected notification %s", self, event)


_CONSUMER_TYPE_TO_FBS: dict[str, int] = {
    "simple": FbsRtpType.SIMPLE,
    "simulcast": FbsRtpType.SIMULCAST,
    "svc": FbsRtpType.SVC,
    "pipe": FbsRtpType.PIPE,
}

__all__ = [
    "ProducerType",
    "SrtpCryptoSuite",
    "SrtpParameters",
    "Transport",
    "TransportTuple",
    "TransportType",
]
