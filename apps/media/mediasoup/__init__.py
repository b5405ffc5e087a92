"""FlyLive's mediasoup control library: drives mediasoup-worker over its FlatBuffers channel.

Shaped like mediasoup's Node library: one module per object, each with an `observer`,
events named for what happened, and a close that cascades once down the tree::

    worker = await create_worker(log_level="warn", rtc_min_port=40000, rtc_max_port=49999)
    worker.on("died", lambda error: ...)                  # WorkerDiedError (exit code / signal)
    listen = {"protocol": "udp", "ip": "0.0.0.0", "announcedAddress": "203.0.113.7", "port": 40000}
    server = await worker.create_webrtc_server(listen_infos=[listen])
    router = await worker.create_router(media_codecs=[OPUS])
    transport = await router.create_webrtc_transport(webrtc_server=server)
    await transport.connect(dtls_parameters=client_dtls)  # from the client's `connect`
    producer = await transport.produce(kind="audio", rtp_parameters=client_rtp_parameters)
    consumer = await other.consume(producer_id=producer.id, rtp_capabilities=client_caps, paused=True)
    await consumer.resume()
    await worker.close()                                  # routers, transports, ... follow, each once

Parameters are plain dicts with mediasoup's camelCase keys (TypedDicts in `rtp_types`,
`listen_info`, `transport`, `webrtc_transport`); bad ones raise TypeError/ValueError/
UnsupportedError before anything reaches the worker; what the worker refuses raises
WorkerRequestError with its reason; using a closed object raises InvalidStateError.
"""

from .active_speaker_observer import ActiveSpeakerObserver, DominantSpeaker
from .audio_level_observer import AudioLevelObserver, AudioLevelObserverVolume
from .consumer import Consumer, ConsumerLayers, ConsumerScore, ConsumerType
from .errors import (
    InvalidStateError,
    MediasoupError,
    NotFoundError,
    RequestTimeoutError,
    UnsupportedError,
    WorkerDiedError,
    WorkerRequestError,
    WorkerSpawnError,
)
from .events import EventEmitter
from .listen_info import ListenInfo, PortRange, SocketFlags, TransportProtocol
from .pipe_transport import PipeTransport
from .plain_transport import PlainTransport
from .producer import Producer, ProducerScore, ProducerType
from .router import PipeToRouterResult, Router, RouterDump
from .rtp_observer import RtpObserver
from .rtp_types import (
    MediaKind,
    RtpCapabilities,
    RtpCodecCapability,
    RtpCodecParameters,
    RtpEncodingParameters,
    RtpHeaderExtensionParameters,
    RtpParameters,
)
from .transport import SrtpCryptoSuite, SrtpParameters, Transport, TransportTuple, TransportType
from .webrtc_server import WebRtcServer
from .webrtc_transport import (
    DtlsFingerprint,
    DtlsParameters,
    DtlsRole,
    DtlsState,
    IceCandidate,
    IceParameters,
    IceState,
    WebRtcTransport,
)
from .worker import Worker, WorkerDump, WorkerLogLevel, WorkerLogTag, WorkerResourceUsage, create_worker
from .worker_binary import WorkerBinaryNotFoundError, resolve_worker_binary

__all__ = [
    "ActiveSpeakerObserver",
    "AudioLevelObserver",
    "AudioLevelObserverVolume",
    "Consumer",
    "ConsumerLayers",
    "ConsumerScore",
    "ConsumerType",
    "DominantSpeaker",
    "DtlsFingerprint",
    "DtlsParameters",
    "DtlsRole",
    "DtlsState",
    "EventEmitter",
    "IceCandidate",
    "IceParameters",
    "IceState",
    "InvalidStateError",
    "ListenInfo",
    "MediaKind",
    "MediasoupError",
    "NotFoundError",
    "PipeToRouterResult",
    "PipeTransport",
    "PlainTransport",
    "PortRange",
    "Producer",
    "ProducerScore",
    "ProducerType",
    "RequestTimeoutError",
    "Router",
    "RouterDump",
    "RtpCapabilities",
    "RtpCodecCapability",
    "RtpCodecParameters",
    "RtpEncodingParameters",
    "RtpHeaderExtensionParameters",
    "RtpObserver",
    "RtpParameters",
    "SocketFlags",
    "SrtpCryptoSuite",
    "SrtpParameters",
    "Transport",
    "TransportProtocol",
    "TransportTuple",
    "TransportType",
    "UnsupportedError",
    "WebRtcServer",
    "WebRtcTransport",
    "Worker",
    "WorkerBinaryNotFoundError",
    "WorkerDiedError",
    "WorkerDump",
    "WorkerLogLevel",
    "WorkerLogTag",
    "WorkerRequestError",
    "WorkerResourceUsage",
    "WorkerSpawnError",
    "create_worker",
    "resolve_worker_binary",
]
