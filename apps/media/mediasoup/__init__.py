"""FlyLive's mediasoup control library: drives mediasoup-worker over its FlatBuffers channel.

Shaped like mediasoup's Node library: `create_worker()` → `worker.create_router()` →
`router.create_webrtc_transport()` → `transport.produce()` / `transport.consume()`; each
object has an `observer`, emits events named for what happened, and closes as a cascade.
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
