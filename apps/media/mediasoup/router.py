"""Router: a media room inside a worker; owns transports, producers and RTP observers."""

from __future__ import annotations

import asyncio
import copy
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from FBS.ActiveSpeakerObserver.ActiveSpeakerObserverOptions import ActiveSpeakerObserverOptionsT
from FBS.AudioLevelObserver.AudioLevelObserverOptions import AudioLevelObserverOptionsT
from FBS.PipeTransport.PipeTransportOptions import PipeTransportOptionsT
from FBS.PlainTransport.PlainTransportOptions import PlainTransportOptionsT
from FBS.Request.Body import Body as RequestBody
from FBS.Request.Method import Method
from FBS.Router.CreateActiveSpeakerObserverRequest import CreateActiveSpeakerObserverRequestT
from FBS.Router.CreateAudioLevelObserverRequest import CreateAudioLevelObserverRequestT
from FBS.Router.CreatePipeTransportRequest import CreatePipeTransportRequestT
from FBS.Router.CreatePlainTransportRequest import CreatePlainTransportRequestT
from FBS.Router.CreateWebRtcTransportRequest import CreateWebRtcTransportRequestT
from FBS.Transport.Options import OptionsT
from FBS.WebRtcTransport.Listen import Listen
from FBS.WebRtcTransport.ListenIndividual import ListenIndividualT
from FBS.WebRtcTransport.ListenServer import ListenServerT
from FBS.WebRtcTransport.WebRtcTransportOptions import WebRtcTransportOptionsT
from FBS.Worker.CloseRouterRequest import CloseRouterRequestT

from . import ortc
from .active_speaker_observer import ActiveSpeakerObserver
from .audio_level_observer import AudioLevelObserver
from .channel import Channel
from .consumer import Consumer
from .errors import InvalidStateError, NotFoundError, UnsupportedError
from .fbs_codec import string_list_map, string_map, text, text_list
from .listen_info import ListenInfo, listen_info_to_fbs
from .pipe_transport import PipeTransport
from .plain_transport import PlainTransport
from .producer import Producer
from .remote_object import AppData, RemoteObject
from .rtp_observer import RtpObserver
from .rtp_types import RtpCapabilities
from .transport import SrtpCryptoSuite, Transport, srtp_crypto_suite_to_fbs
from .webrtc_server import WebRtcServer
from .webrtc_transport import WebRtcTransport

if TYPE_CHECKING:
    from .worker import Worker

logger = logging.getLogger(__name__)

# mediasoup's defaults for the (unused here) SCTP side of every transport.
_MAX_MESSAGE_SIZE = 262_144
_SCTP_SEND_BUFFER_SIZE = 2_000_000
_SCTP_PER_STREAM_SEND_QUEUE_LIMIT = 2_000_000
_SCTP_MAX_RECEIVER_WINDOW_BUFFER_SIZE = 5_242_880
_SCTP_BUFFERED_AMOUNT_LOW_THRESHOLD = 1024
DEFAULT_PIPE_LISTEN_INFO: ListenInfo = {"protocol": "udp", "ip": "127.0.0.1"}


class RouterDump(TypedDict):
    id: str
    transportIds: list[str]
    rtpObserverIds: list[str]
    mapProducerIdConsumerIds: dict[str, list[str]]
    mapConsumerIdProducerId: dict[str, str]
    mapProducerIdObserverIds: dict[str, list[str]]
    mapDataProducerIdDataConsumerIds: dict[str, list[str]]
    mapDataConsumerIdDataProducerId: dict[str, str]


@dataclass(frozen=True)
class PipeToRouterResult:
    """The consumer in the source router and the producer it feeds in the destination router."""

    pipe_consumer: Consumer
    pipe_producer: Producer


def _transport_options(*, initial_available_outgoing_bitrate: int | None, is_data_channel: bool) -> OptionsT:
    return OptionsT(
        direct=False,
        initialAvailableOutgoingBitrate=initial_available_outgoing_bitrate,
        enableSctp=False,
        maxSendMessageSize=_MAX_MESSAGE_SIZE,
        maxReceiveMessageSize=_MAX_MESSAGE_SIZE,
        sctpSendBufferSize=_SCTP_SEND_BUFFER_SIZE,
        sctpPerStreamSendQueueLimit=_SCTP_PER_STREAM_SEND_QUEUE_LIMIT,
        sctpMaxReceiverWindowBufferSize=_SCTP_MAX_RECEIVER_WINDOW_BUFFER_SIZE,
        sctpDefaultStreamBufferedAmountLowThreshold=_SCTP_BUFFERED_AMOUNT_LOW_THRESHOLD,
        isDataChannel=is_data_channel,
    )


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    return value


class Router(RemoteObject):
    """Events: `workerclose`, `@close`. Observer: `close`, `newtransport`, `newrtpobserver`."""

    def __init__(
        self,
        *,
        channel: Channel,
        router_id: str,
        rtp_capabilities: RtpCapabilities,
        worker: Worker,
        app_data: AppData | None,
    ) -> None:
        super().__init__(channel, router_id, app_data)
        self._rtp_capabilities = rtp_capabilities
        self._worker = worker
        self._transports: dict[str, Transport] = {}
        # Every producer of every transport of this router: consume, pipe and observers look here.
        self._producers: dict[str, Producer] = {}
        self._rtp_observers: dict[str, RtpObserver] = {}
        # Pipe transport pairs to other routers, by the other router's id: (ours, theirs).
        self._pipe_pairs: dict[str, asyncio.Future[tuple[PipeTransport, PipeTransport]]] = {}

    @property
    def worker(self) -> Worker:
        return self._worker

    @property
    def rtp_capabilities(self) -> RtpCapabilities:
        return copy.deepcopy(self._rtp_capabilities)

    @property
    def transports(self) -> list[Transport]:
        return list(self._transports.values())

    @property
    def producers(self) -> list[Producer]:
        return list(self._producers.values())

    @property
    def rtp_observers(self) -> list[RtpObserver]:
        return list(self._rtp_observers.values())

    def get_producer(self, producer_id: str) -> Producer | None:
        return self._producers.get(producer_id)

    # ---------------------------------------------------------------- close

    async def close(self) -> None:
        """Close the router and everything in it (transports emit `routerclose`)."""
        body = CloseRouterRequestT(routerId=self._id)
        await self._close_in_worker(
            Method.WORKER_CLOSE_ROUTER, RequestBody.Worker_CloseRouterRequest, body, ""
        )

    def _children(self) -> list[RemoteObject]:
        return [*self._transports.values(), *self._rtp_observers.values()]

    def _close_children(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            transport._teardown("routerclose")
        self._producers.clear()
        observers, self._rtp_observers = list(self._rtp_observers.values()), {}
        for rtp_observer in observers:
            rtp_observer._teardown("routerclose")
        self._pipe_pairs.clear()

    # ---------------------------------------------------------------- inspection

    async def dump(self) -> RouterDump:
        r = await self._request(Method.ROUTER_DUMP)
        return RouterDump(
            id=text(r.id),
            transportIds=text_list(r.transportIds),
            rtpObserverIds=text_list(r.rtpObserverIds),
            mapProducerIdConsumerIds=string_list_map(r.mapProducerIdConsumerIds),
            mapConsumerIdProducerId=string_map(r.mapConsumerIdProducerId),
            mapProducerIdObserverIds=string_list_map(r.mapProducerIdObserverIds),
            mapDataProducerIdDataConsumerIds=string_list_map(r.mapDataProducerIdDataConsumerIds),
            mapDataConsumerIdDataProducerId=string_map(r.mapDataConsumerIdDataProducerId),
        )

    def can_consume(self, *, producer_id: str, rtp_capabilities: RtpCapabilities) -> bool:
        """Whether an endpoint with `rtp_capabilities` can receive `producer_id` (False on bad caps)."""
        producer = self._producers.get(producer_id)
        if producer is None:
            logger.debug("can_consume: producer %s not found", producer_id)
            return False
        try:
            return ortc.can_consume(producer.consumable_rtp_parameters, rtp_capabilities)
        except (TypeError, UnsupportedError) as error:
            logger.debug("can_consume: %s", error)
            return False

    # ---------------------------------------------------------------- transports

    def _adopt_transport(self, transport: Transport) -> None:
        self._transports[transport.id] = transport
        transport._teardown_callbacks.append(lambda: self._transports.pop(transport.id, None))
        self.observer.emit("newtransport", transport)

    async def create_webrtc_transport(
        self,
        *,
        webrtc_server: WebRtcServer | None = None,
        listen_infos: Sequence[ListenInfo] | None = None,
        enable_udp: bool | None = None,
        enable_tcp: bool | None = None,
        prefer_udp: bool = False,
        prefer_tcp: bool = False,
        initial_available_outgoing_bitrate: int = 600_000,
        ice_consent_timeout: int = 30,
        app_data: AppData | None = None,
    ) -> WebRtcTransport:
        """A WebRtcTransport listening on `webrtc_server`'s ports or on its own `listen_infos`."""
        if (webrtc_server is None) == (listen_infos is None):
            raise TypeError("give exactly one of webrtc_server and listen_infos")
        if webrtc_server is not None:
            if webrtc_server.closed:
                raise InvalidStateError(f"{webrtc_server!r} is closed")
            if webrtc_server not in self._worker.webrtc_servers:
                raise ValueError("webrtc_server belongs to another worker")
            listen: Any = ListenServerT(webRtcServerId=webrtc_server.id)
            listen_type = Listen.ListenServer
        else:
            assert listen_infos is not None
            if not listen_infos:
                raise ValueError("listen_infos must not be empty")
            listen = ListenIndividualT(listenInfos=[listen_info_to_fbs(info) for info in listen_infos])
            listen_type = Listen.ListenIndividual
        transport_id = str(uuid.uuid4())
        options = WebRtcTransportOptionsT(
            base=_transport_options(
                initial_available_outgoing_bitrate=_check_int(
                    "initial_available_outgoing_bitrate", initial_available_outgoing_bitrate, 0, 2**63
                ),
                is_data_channel=True,
            ),
            listenType=listen_type,
            listen=listen,
            enableUdp=True if enable_udp is None else bool(enable_udp),
            enableTcp=(webrtc_server is not None) if enable_tcp is None else bool(enable_tcp),
            preferUdp=bool(prefer_udp),
            preferTcp=bool(prefer_tcp),
            iceConsentTimeout=_check_int("ice_consent_timeout", ice_consent_timeout, 0, 255),
        )
        method = (
            Method.ROUTER_CREATE_WEBRTCTRANSPORT_WITH_SERVER
            if webrtc_server is not None
            else Method.ROUTER_CREATE_WEBRTCTRANSPORT
        )
        body = CreateWebRtcTransportRequestT(transportId=transport_id, options=options)
        dump = await self._request(method, RequestBody.Router_CreateWebRtcTransportRequest, body)
        transport = WebRtcTransport(
            channel=self._channel, transport_id=transport_id, router=self, app_data=app_data, dump=dump
        )
        self._adopt_transport(transport)
        if webrtc_server is not None:
            webrtc_server._handle_transport(transport)
        return transport

    async def create_plain_transport(
        self,
        *,
        listen_info: ListenInfo,
        rtcp_listen_info: ListenInfo | None = None,
        rtcp_mux: bool = True,
        comedia: bool = False,
        enable_srtp: bool = False,
        srtp_crypto_suite: SrtpCryptoSuite = "AES_CM_128_HMAC_SHA1_80",
        app_data: AppData | None = None,
    ) -> PlainTransport:
        if rtcp_mux and rtcp_listen_info is not None:
            logger.warning("create_plain_transport: rtcp_listen_info given, so rtcp_mux is off")
            rtcp_mux = False
        transport_id = str(uuid.uuid4())
        options = PlainTransportOptionsT(
            base=_transport_options(initial_available_outgoing_bitrate=None, is_data_channel=False),
            listenInfo=listen_info_to_fbs(listen_info),
            rtcpListenInfo=listen_info_to_fbs(rtcp_listen_info) if rtcp_listen_info is not None else None,
            rtcpMux=bool(rtcp_mux),
            comedia=bool(comedia),
            enableSrtp=bool(enable_srtp),
            srtpCryptoSuite=srtp_crypto_suite_to_fbs(srtp_crypto_suite),
        )
        body = CreatePlainTransportRequestT(transportId=transport_id, options=options)
        dump = await self._request(
            Method.ROUTER_CREATE_PLAINTRANSPORT, RequestBody.Router_CreatePlainTransportRequest, body
        )
        transport = PlainTransport(
            channel=self._channel, transport_id=transport_id, router=self, app_data=app_data, dump=dump
        )
        self._adopt_transport(transport)
        return transport

    async def create_pipe_transport(
        self,
        *,
        listen_info: ListenInfo,
        enable_rtx: bool = False,
        enable_srtp: bool = False,
        app_data: AppData | None = None,
    ) -> PipeTransport:
        transport_id = str(uuid.uuid4())
        options = PipeTransportOptionsT(
            base=_transport_options(initial_available_outgoing_bitrate=None, is_data_channel=False),
            listenInfo=listen_info_to_fbs(listen_info),
            enableRtx=bool(enable_rtx),
            enableSrtp=bool(enable_srtp),
        )
        body = CreatePipeTransportRequestT(transportId=transport_id, options=options)
        dump = await self._request(
            Method.ROUTER_CREATE_PIPETRANSPORT, RequestBody.Router_CreatePipeTransportRequest, body
        )
        transport = PipeTransport(
            channel=self._channel, transport_id=transport_id, router=self, app_data=app_data, dump=dump
        )
        self._adopt_transport(transport)
        return transport

    # ---------------------------------------------------------------- piping

    async def pipe_to_router(
        self,
        *,
        producer_id: str,
        router: Router,
        keep_id: bool = True,
        listen_info: ListenInfo | None = None,
        enable_rtx: bool = False,
        enable_srtp: bool = False,
    ) -> PipeToRouterResult:
        """Make `producer_id` available in `router` (another router, of this or another worker).

        With keep_id the piped producer has the same id; a worker holds each producer id once, so
        between routers of the same worker use keep_id=False and read `result.pipe_producer.id`.
        """
        if router is self:
            raise ValueError("cannot pipe a router to itself")
        if router.closed:
            raise InvalidStateError(f"{router!r} is closed")
        if keep_id and router._worker is self._worker:
            raise UnsupportedError("keep_id=True needs routers on different workers (ids are per worker)")
        producer = self._producers.get(producer_id)
        if producer is None:
            raise NotFoundError(f"Producer with id {producer_id!r} not found")
        local, remote = await self._pipe_pair(
            router, listen_info or DEFAULT_PIPE_LISTEN_INFO, enable_rtx, enable_srtp
        )
        pipe_consumer: Consumer | None = None
        pipe_producer: Producer | None = None
        try:
            pipe_consumer = await local.consume(producer_id=producer_id)
            pipe_producer = await remote.produce(
                producer_id=producer.id if keep_id else None,
                kind=pipe_consumer.kind,
                rtp_parameters=pipe_consumer.rtp_parameters,
                paused=pipe_consumer.producer_paused,
                app_data=producer.app_data,
            )
            if producer.closed:
                raise NotFoundError("the original Producer closed while piping")
            if pipe_producer.paused != producer.paused:
                await (pipe_producer.pause() if producer.paused else pipe_producer.resume())
        except BaseException:
            for item in (pipe_consumer, pipe_producer):
                if item is not None:
                    await item.close()
            raise
        _link_pipe_ends(pipe_consumer, pipe_producer)
        return PipeToRouterResult(pipe_consumer=pipe_consumer, pipe_producer=pipe_producer)

    async def _pipe_pair(
        self, router: Router, listen_info: ListenInfo, enable_rtx: bool, enable_srtp: bool
    ) -> tuple[PipeTransport, PipeTransport]:
        pending = self._pipe_pairs.get(router.id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._pipe_pairs[router.id] = pending
            theirs: asyncio.Future[tuple[PipeTransport, PipeTransport]] = (
                asyncio.get_running_loop().create_future()
            )
            router._pipe_pairs[self.id] = theirs
            try:
                pair = await self._connect_pipe_pair(router, listen_info, enable_rtx, enable_srtp)
            except BaseException as error:
                self._pipe_pairs.pop(router.id, None)
                router._pipe_pairs.pop(self.id, None)
                for future in (pending, theirs):
                    if isinstance(error, Exception):
                        future.set_exception(error)
                        future.exception()  # mark retrieved: other waiters re-raise it themselves
                    else:  # cancelled (or exiting): waiters are cancelled too
                        future.cancel()
                raise
            pending.set_result(pair)
            theirs.set_result((pair[1], pair[0]))
        return await asyncio.shield(pending)

    async def _connect_pipe_pair(
        self, router: Router, listen_info: ListenInfo, enable_rtx: bool, enable_srtp: bool
    ) -> tuple[PipeTransport, PipeTransport]:
        local: PipeTransport | None = None
        remote: PipeTransport | None = None
        try:
            local = await self.create_pipe_transport(
                listen_info=listen_info, enable_rtx=enable_rtx, enable_srtp=enable_srtp
            )
            remote = await router.create_pipe_transport(
                listen_info=listen_info, enable_rtx=enable_rtx, enable_srtp=enable_srtp
            )
            await local.connect(
                ip=remote.tuple["localAddress"],
                port=remote.tuple["localPort"],
                srtp_parameters=remote.srtp_parameters,
            )
            await remote.connect(
                ip=local.tuple["localAddress"],
                port=local.tuple["localPort"],
                srtp_parameters=local.srtp_parameters,
            )
        except BaseException:
            for transport in (local, remote):
                if transport is not None:
                    await transport.close()
            raise
        self._link_pipe_pair(router, local, remote)
        return local, remote

    def _link_pipe_pair(self, router: Router, local: PipeTransport, remote: PipeTransport) -> None:
        """Closing either end (or either router/worker) closes the other and forgets the pair."""

        def forget() -> None:
            self._pipe_pairs.pop(router.id, None)
            router._pipe_pairs.pop(self.id, None)

        local._teardown_callbacks.append(forget)
        remote._teardown_callbacks.append(forget)
        local.observer.on("close", lambda: _close_if_open(remote))
        remote.observer.on("close", lambda: _close_if_open(local))

    # ---------------------------------------------------------------- observers

    def _adopt_rtp_observer(self, rtp_observer: RtpObserver) -> None:
        self._rtp_observers[rtp_observer.id] = rtp_observer
        rtp_observer._teardown_callbacks.append(lambda: self._rtp_observers.pop(rtp_observer.id, None))
        self.observer.emit("newrtpobserver", rtp_observer)

    async def create_active_speaker_observer(
        self, *, interval: int = 300, app_data: AppData | None = None
    ) -> ActiveSpeakerObserver:
        """An observer emitting `dominantspeaker`; `interval` (ms) is how often it re-evaluates."""
        observer_id = str(uuid.uuid4())
        body = CreateActiveSpeakerObserverRequestT(
            rtpObserverId=observer_id,
            options=ActiveSpeakerObserverOptionsT(interval=_check_int("interval", interval, 0, 65535)),
        )
        await self._request(
            Method.ROUTER_CREATE_ACTIVESPEAKEROBSERVER,
            RequestBody.Router_CreateActiveSpeakerObserverRequest,
            body,
        )
        rtp_observer = ActiveSpeakerObserver(
            channel=self._channel, observer_id=observer_id, router=self, app_data=app_data
        )
        self._adopt_rtp_observer(rtp_observer)
        return rtp_observer

    async def create_audio_level_observer(
        self,
        *,
        max_entries: int = 1,
        threshold: int = -80,
        interval: int = 1000,
        app_data: AppData | None = None,
    ) -> AudioLevelObserver:
        """An observer emitting `volumes` for the `max_entries` loudest producers above `threshold` dBov."""
        observer_id = str(uuid.uuid4())
        body = CreateAudioLevelObserverRequestT(
            rtpObserverId=observer_id,
            options=AudioLevelObserverOptionsT(
                maxEntries=_check_int("max_entries", max_entries, 1, 65535),
                threshold=_check_int("threshold", threshold, -127, 0),
                interval=_check_int("interval", interval, 0, 65535),
            ),
        )
        await self._request(
            Method.ROUTER_CREATE_AUDIOLEVELOBSERVER, RequestBody.Router_CreateAudioLevelObserverRequest, body
        )
        rtp_observer = AudioLevelObserver(
            channel=self._channel, observer_id=observer_id, router=self, app_data=app_data
        )
        self._adopt_rtp_observer(rtp_observer)
        return rtp_observer


async def _close_if_open(item: Transport | Consumer | Producer) -> None:
    """Close the other end of a pipe, unless it is already going with its transport or router:
    then the worker closes it itself, and a request of ours would race that close (the worker
    answers it with NotFound and logs an error)."""
    transport = item if isinstance(item, Transport) else item.transport
    if not (item.closed or transport.closed or transport.router.closed):
        await item.close()


def _link_pipe_ends(pipe_consumer: Consumer, pipe_producer: Producer) -> None:
    """The piped producer follows its source: close, pause and resume travel across the pipe."""
    pipe_consumer.observer.on("close", lambda: _close_if_open(pipe_producer))
    pipe_consumer.observer.on("pause", lambda: None if pipe_producer.closed else pipe_producer.pause())
    pipe_consumer.observer.on("resume", lambda: None if pipe_producer.closed else pipe_producer.resume())
    pipe_producer.observer.on("close", lambda: _close_if_open(pipe_consumer))
